// A reporter killed mid-batch loses nothing and duplicates nothing: offsets are committed
// only after the batch is stored, so the restarted reporter reads the batch again and the
// store skips what it already has. Two ways to die: the test fault NEBULA_FAULT_EXIT_AFTER_STORE
// (SIGKILL exactly between store and commit), and a plain SIGKILL while reports flow. A
// store that fails ends the reporter non-zero, with the batch's offsets not committed.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { assertUnique, reportsOf, type StoredReportDoc } from '../../helpers/reports.ts';
import {
  committedOffsets,
  createTopic,
  isRunning,
  kafkaSettings,
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
import type { Report } from '../../../src/model/report.ts';

before(async () => {
  await requireBroker();
});

async function storedOf(url: string, reports: readonly Report[]): Promise<StoredReportDoc[]> {
  const out: StoredReportDoc[] = [];
  for (const h of new Set(reports.map((r) => r.hostname))) out.push(...(await reportsOf(url, h)));
  return out;
}

test('killed between storing a batch and committing it (NEBULA_FAULT_EXIT_AFTER_STORE): the restart stores every report exactly once', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-crash-fault'));
  const group = uniqueName('reporters');
  await createTopic(settings, 3);
  const manager = await startManagerOn(dir);
  t.after(() => stopProcess(manager));
  const reports = testReports(uniqueName('till'), 60, 6);
  await produceReports(settings, reports);

  const first = spawnReporter(settings, group, dir, { NEBULA_FAULT_EXIT_AFTER_STORE: '1', NEBULA_REPORTER_BATCH_SIZE: '25' });
  t.after(() => stopProcess(first));
  assert.equal(await first.exited, 'SIGKILL', first.output());
  const [died] = first.logged('NEBULA_FAULT_EXIT_AFTER_STORE: batch stored');
  assert.equal(died?.batch, 1, first.output());
  const storedByFirst = (await storedOf(manager.url, reports)).length;
  assert.ok(storedByFirst > 0 && storedByFirst <= 25, `the first batch stored ${storedByFirst} reports`);
  assert.equal((await committedOffsets(settings, group)).size, 0, 'nothing was committed');

  const second = spawnReporter(settings, group, dir);
  t.after(() => stopProcess(second));
  const stored = await waitFor('all 60 reports stored', async () => {
    const all = await storedOf(manager.url, reports);
    return all.length >= 60 ? all : undefined;
  }, 60_000);
  assert.deepEqual(assertUnique(stored), new Set(reports.map((r) => r.report_id)));
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  const [stats] = second.logged('stopped');
  assert.equal(stats!.messages, 60, 'the restart read the uncommitted batch again');
  assert.equal(stats!.duplicates, storedByFirst, 'and the store skipped what the first reporter had stored');
  assert.equal(stats!.inserted, 60 - storedByFirst);
});

test('a plain SIGKILL while reports flow, then a restart: every report stored exactly once', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-crash-kill'));
  const group = uniqueName('reporters');
  await createTopic(settings, 4);
  const manager = await startManagerOn(dir);
  t.after(() => stopProcess(manager));
  const reports = testReports(uniqueName('pos'), 400, 10);

  const first = spawnReporter(settings, group, dir, { NEBULA_REPORTER_BATCH_SIZE: '10', NEBULA_REPORTER_BATCH_WAIT_MS: '50' });
  t.after(() => stopProcess(first));
  await waitForLog(first, 'joined the reporters group');

  // Reports trickle in, as from a fleet: 5 at a time.
  let produced = 0;
  let killedAt: { produced: number; batches: number } | null = null;
  const producing = (async () => {
    for (let i = 0; i < reports.length; i += 5) {
      await produceReports(settings, reports.slice(i, i + 5));
      produced = i + 5;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  // Once the reporter has stored a few batches, kill it without warning.
  const batches = await waitForLog(first, 'stored a batch of reports', 60_000, 3);
  first.child.kill('SIGKILL');
  killedAt = { produced, batches: batches.length };
  assert.equal(await first.exited, 'SIGKILL');
  assert.ok(killedAt.produced < reports.length, `killed while reports were still being produced (${killedAt.produced} of ${reports.length})`);

  const second = spawnReporter(settings, group, dir, { NEBULA_REPORTER_BATCH_SIZE: '10', NEBULA_REPORTER_BATCH_WAIT_MS: '50' });
  t.after(() => stopProcess(second));
  await producing;
  const stored = await waitFor('all 400 reports stored', async () => {
    const all = await storedOf(manager.url, reports);
    return all.length >= reports.length ? all : undefined;
  }, 90_000, 250);
  assert.equal(stored.length, reports.length);
  assert.deepEqual(assertUnique(stored), new Set(reports.map((r) => r.report_id)));
  assert.ok(isRunning(second));
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0);
});

test('a SQLite store that fails under the reporter ends it non-zero, and the batch it was writing is not committed', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-crash-store'));
  const group = uniqueName('reporters');
  await createTopic(settings, 1);
  // SQLite on either pass: a MongoDB that fails is retried, not fatal (test/integration/mongo/).
  const sqlite = { MONGO_URL: '' };
  const manager = await startManagerOn(dir, sqlite);
  t.after(() => stopProcess(manager));
  const reporter = spawnReporter(settings, group, dir, sqlite);
  t.after(() => stopProcess(reporter));

  const first = testReports(uniqueName('till'), 10, 2);
  await produceReports(settings, first);
  await waitFor('the first 10 reports', async () => (await storedOf(manager.url, first)).length === 10 || undefined);
  await waitFor('their offsets committed', async () => (await committedOffsets(settings, group)).get(0) === 10n || undefined);

  // The real fault: another process damages the schema under the running reporter.
  const vandal = new Database(join(dir, 'nebula.db'));
  vandal.exec('DROP TABLE reports');
  vandal.close();
  await produceReports(settings, [testReport('till-after')]);

  assert.equal(await reporter.exited, 70, reporter.output().slice(-3000));
  assert.equal(reporter.logged('fatal').length, 1);
  assert.equal((await committedOffsets(settings, group)).get(0), 10n, 'the failed batch stays uncommitted: it is read again after the restart');
});
