// `nebula reporter` against the real broker: reports produced to Kafka end up in the store,
// visible through a real manager sharing the data dir; a report produced twice is stored
// once; a malformed message is skipped (and its content never logged) without holding up
// its partition; SIGTERM commits what was stored and exits 0.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManagerProcess } from '../../helpers/process.ts';
import { assertUnique, reportsOf } from '../../helpers/reports.ts';
import {
  committedOffsets,
  createTopic,
  endOffsets,
  groupState,
  kafkaSettings,
  legacyReport,
  produceRaw,
  produceReports,
  requireBroker,
  spawnReporter,
  startManagerOn,
  stopProcess,
  tempDir,
  testReport,
  testReports,
  uniqueName,
  waitFor,
  waitForLog,
} from '../../helpers/kafka.ts';

before(async () => {
  await requireBroker();
});

async function startManager(t: { after: (fn: () => Promise<unknown>) => void }, dir: string): Promise<ManagerProcess> {
  const manager = await startManagerOn(dir);
  t.after(() => stopProcess(manager));
  return manager;
}

/** Every stored report of these devices, through the manager's API. */
async function storedOf(url: string, hostnames: Iterable<string>): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const h of new Set(hostnames)) out.push(...(await reportsOf(url, h)));
  return out;
}

test('reports produced to Kafka reach the store and GET /api/v2/reports; a report produced twice is stored once', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-ingest'));
  const group = uniqueName('reporters');
  const manager = await startManager(t, dir);
  const reporter = spawnReporter(settings, group, dir);
  t.after(() => stopProcess(reporter));

  // The reporter creates the topic with its default partition count.
  const [created] = await waitForLog(reporter, 'created the reports topic');
  assert.equal(created!.partitions, 6);

  const reports = testReports(uniqueName('till'), 60, 6);
  await produceReports(settings, reports);
  const legacyHost = uniqueName('legacy-2x');
  await produceRaw(settings, [{ value: JSON.stringify(legacyReport(legacyHost)) }]);
  const hosts = [...reports.map((r) => r.hostname), legacyHost];

  const stored = await waitFor('61 stored reports', async () => {
    const all = await storedOf(manager.url, hosts);
    return all.length >= 61 ? all : undefined;
  });
  assert.equal(stored.length, 61);
  const withIds = stored.filter((r) => r.report_id !== undefined) as { report_id: string; hostname: string; report_creation_time: number }[];
  assert.deepEqual(assertUnique(withIds), new Set(reports.map((r) => r.report_id)));
  // Stored as sent (the original's fields included), plus the store's own fields.
  const first = stored.find((r) => r.report_id === reports[0]!.report_id)!;
  assert.deepEqual(first.memory_usage, reports[0]!.memory_usage);
  assert.equal(first.report_creation_time, reports[0]!.report_creation_time);
  assert.ok(stored.some((r) => r.hostname === legacyHost && r.report_id === undefined), 'a 2.x report without report_id is stored too');

  // The first ten again (a worker resending after a lost acknowledgement), then a marker.
  const marker = testReport(reports[0]!.hostname);
  await produceReports(settings, [...reports.slice(0, 10), marker]);
  await waitFor('the marker report', async () => (await reportsOf(manager.url, marker.hostname)).some((r) => r.report_id === marker.report_id));
  const after = await storedOf(manager.url, hosts);
  assert.equal(after.length, 62, 'only the marker was added');
  assertUnique(after.filter((r) => r.report_id !== undefined) as { report_id: string; hostname: string; report_creation_time: number }[]);
  const duplicates = reporter.logged('stored a batch').reduce((n, l) => n + Number(l.duplicates ?? 0), 0);
  assert.equal(duplicates, 10, 'the store skipped the ten reports it had');
});

test('a malformed message is skipped, committed and never logged with its content; later reports still arrive', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-malformed'));
  const group = uniqueName('reporters');
  await createTopic(settings, 3);
  const manager = await startManager(t, dir);
  const reporter = spawnReporter(settings, group, dir);
  t.after(() => stopProcess(reporter));

  // Same key: all in one partition, the bad ones ahead of the good one.
  const device = uniqueName('kiosk');
  const secret = 'S3CRET-app-env-value';
  await produceRaw(settings, [
    { key: device, value: `{"hostname": "${device}", "env_vars": {"PASSWORD": "${secret}"` },
    { key: device, value: JSON.stringify({ device_group: 'pos', report_creation_time: 1, env_vars: { PASSWORD: secret } }) },
    { key: device, value: JSON.stringify([secret]) },
    { key: device, value: '' },
  ]);
  const good = testReport(device);
  await produceReports(settings, [good]);

  await waitFor('the good report', async () => (await reportsOf(manager.url, device)).some((r) => r.report_id === good.report_id));
  const skipped = await waitForLog(reporter, 'skipped a malformed report message', 10_000, 4);
  assert.deepEqual(
    skipped.map((l) => l.reason),
    ['not valid JSON', 'hostname: must be a string of 1-255 characters', 'report: must be a JSON object', 'empty message'],
  );
  assert.equal(new Set(skipped.map((l) => l.partition)).size, 1);
  assert.ok(!reporter.output().includes(secret), 'no message content in the log');
  assert.equal((await reportsOf(manager.url, device)).length, 1);

  // The malformed messages were committed with their batch: the group is at the end of the log.
  const ends = await endOffsets(settings);
  await waitFor('offsets committed to the end', async () => {
    const committed = await committedOffsets(settings, group);
    return [...ends].every(([p, end]) => end === 0n || committed.get(p) === end);
  });
});

test('SIGTERM: the batch in hand is stored and committed, the reporter leaves the group and exits 0; a restart reads nothing again', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-sigterm'));
  const group = uniqueName('reporters');
  await createTopic(settings, 4);
  const manager = await startManager(t, dir);
  const reports = testReports(uniqueName('pos'), 40, 4);
  await produceReports(settings, reports);
  const ends = await endOffsets(settings);
  assert.equal([...ends.values()].reduce((a, b) => a + b, 0n), 40n);

  // A batch that is never due by itself: SIGTERM arrives while the 40 reports are in hand.
  const first = spawnReporter(settings, group, dir, { NEBULA_REPORTER_BATCH_WAIT_MS: '60000', NEBULA_LOG_LEVEL: 'trace' });
  t.after(() => stopProcess(first));
  await waitFor('40 messages in hand', () => first.logged('messages in hand').some((l) => l.in_hand === 40));
  assert.equal((await storedOf(manager.url, reports.map((r) => r.hostname))).length, 0, 'nothing stored before the batch is due');

  const started = Date.now();
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0, first.output());
  const stopMs = Date.now() - started;
  assert.ok(stopMs < 10_000, `stopped in ${stopMs} ms`);
  const [stopped] = first.logged('stopped');
  assert.equal(stopped!.inserted, 40);
  assert.equal(stopped!.committed, 1);

  const stored = await storedOf(manager.url, reports.map((r) => r.hostname));
  assert.equal(stored.length, 40);
  assertUnique(stored as { report_id: string; hostname: string; report_creation_time: number }[]);
  const committed = await committedOffsets(settings, group);
  for (const [p, end] of ends) if (end > 0n) assert.equal(committed.get(p), end, `partition ${p} committed to its end`);
  // It left the group rather than waiting to be timed out of it.
  assert.deepEqual(await groupState(settings, group), { state: 'Empty', members: 0 });

  // The next reporter in the group starts where the first stopped: only the new report is read.
  const second = spawnReporter(settings, group, dir);
  t.after(() => stopProcess(second));
  const marker = testReport(reports[0]!.hostname);
  await produceReports(settings, [marker]);
  await waitFor('the marker report', async () => (await reportsOf(manager.url, marker.hostname)).some((r) => r.report_id === marker.report_id));
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  const [stats] = second.logged('stopped');
  assert.equal(stats!.messages, 1, 'nothing the first reporter committed was read again');
  assert.equal(stats!.duplicates, 0);
});
