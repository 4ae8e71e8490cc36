// Several reporters in one consumer group divide the topic's partitions between them and,
// writing into the same SQLite store, together store every report exactly once.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertUnique, reportsOf, type StoredReportDoc } from '../../helpers/reports.ts';
import {
  createTopic,
  groupState,
  kafkaSettings,
  produceReports,
  requireBroker,
  spawnReporter,
  startManagerOn,
  stopProcess,
  tempDir,
  testReports,
  uniqueName,
  waitFor,
  type ReporterProcess,
} from '../../helpers/kafka.ts';

before(async () => {
  await requireBroker();
});

/** The partitions a reporter was given at its latest join, with that generation. */
function latestJoin(proc: ReporterProcess): { generation: number; partitions: number[] } | undefined {
  const joins = proc.logged('joined the reporters group');
  const last = joins[joins.length - 1];
  return last ? { generation: Number(last.generation), partitions: last.partitions as number[] } : undefined;
}

test('two reporters in one group share the partitions and together store every report exactly once', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-group'));
  const group = uniqueName('reporters');
  assert.equal(await createTopic(settings, 6), 6);
  const manager = await startManagerOn(dir);
  t.after(() => stopProcess(manager));

  const a = spawnReporter(settings, group, dir, { NEBULA_REPORTER_BATCH_SIZE: '20', NEBULA_REPORTER_BATCH_WAIT_MS: '100' });
  t.after(() => stopProcess(a));
  const b = spawnReporter(settings, group, dir, { NEBULA_REPORTER_BATCH_SIZE: '20', NEBULA_REPORTER_BATCH_WAIT_MS: '100' });
  t.after(() => stopProcess(b));

  // Both in the same generation, with disjoint halves that cover the topic.
  const [joinA, joinB] = await waitFor('both reporters assigned in one generation', () => {
    const ja = latestJoin(a);
    const jb = latestJoin(b);
    return ja && jb && ja.generation === jb.generation && ja.partitions.length > 0 && jb.partitions.length > 0 ? [ja, jb] : undefined;
  }, 40_000);
  assert.deepEqual([...joinA!.partitions, ...joinB!.partitions].sort(), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(await groupState(settings, group), { state: 'Stable', members: 2 });

  // 40 devices: their keys spread over all six partitions.
  const reports = testReports(uniqueName('cdn'), 400, 40);
  await produceReports(settings, reports);
  const storedOf = async (): Promise<StoredReportDoc[]> => {
    const out: StoredReportDoc[] = [];
    for (const h of new Set(reports.map((r) => r.hostname))) out.push(...(await reportsOf(manager.url, h)));
    return out;
  };
  const stored = await waitFor('all 400 reports stored', async () => {
    const all = await storedOf();
    return all.length >= reports.length ? all : undefined;
  }, 60_000, 250);
  assert.equal(stored.length, reports.length);
  assert.deepEqual(assertUnique(stored), new Set(reports.map((r) => r.report_id)));

  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  assert.equal(await a.exited, 0, a.output());
  assert.equal(await b.exited, 0, b.output());
  const [statsA] = a.logged('stopped');
  const [statsB] = b.logged('stopped');
  assert.ok(Number(statsA!.inserted) > 0 && Number(statsB!.inserted) > 0, `both did work: ${statsA!.inserted} + ${statsB!.inserted}`);
  assert.equal(Number(statsA!.inserted) + Number(statsB!.inserted), reports.length);
});
