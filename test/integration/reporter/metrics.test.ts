// `nebula reporter --metrics-port` against the real broker (roles/reporter/metrics.ts): reports
// produced show as consumer lag per partition while the batch waits, the lag returns to 0 once
// it is stored and committed, the batch histogram and the message counters count them (the
// malformed as rejected), the store write is timed; valid exposition, no device name in it.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { scrapeUrl, value, type Exposition } from '../../helpers/prometheus.ts';
import {
  committedOffsets,
  createTopic,
  kafkaSettings,
  produceRaw,
  produceReports,
  requireBroker,
  spawnReporter,
  stopProcess,
  tempDir,
  testReports,
  uniqueName,
  waitFor,
  waitForLog,
} from '../../helpers/kafka.ts';

const PARTITIONS = 3;
/** Long enough to scrape the lag of a batch in hand, short enough for the test. */
const BATCH_WAIT_MS = 4000;

before(async () => {
  await requireBroker();
});

/** The lag samples of the topic: partition -> messages behind. */
function lagOf(e: Exposition, topic: string): Map<string, number> {
  return new Map(e.samples.filter((s) => s.name === 'nebula_reporter_consumer_lag' && s.labels.topic === topic).map((s) => [s.labels.partition!, s.value]));
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

test('lag per partition while a batch waits and 0 once it is committed; batches, messages and store writes counted', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-metrics'));
  const group = uniqueName('reporters');
  assert.equal(await createTopic(settings, PARTITIONS), PARTITIONS);
  const reporter = spawnReporter(settings, group, dir, { NEBULA_METRICS_PORT: '0', NEBULA_REPORTER_BATCH_WAIT_MS: String(BATCH_WAIT_MS) });
  t.after(() => stopProcess(reporter));
  const [serving] = await waitForLog(reporter, 'serving metrics at GET /metrics');
  assert.equal(serving!.host, '127.0.0.1');
  const url = `http://127.0.0.1:${String(serving!.port)}/metrics`;
  await waitForLog(reporter, 'joined the reporters group');

  // Every partition held, none behind.
  await waitFor('the lag of every partition, 0', async () => {
    const e = await scrapeUrl(url);
    const lag = lagOf(e, settings.topic);
    return value(e, 'nebula_reporter_partitions_assigned') === PARTITIONS && lag.size === PARTITIONS && sum(lag.values()) === 0;
  });

  const prefix = uniqueName('till');
  const reports = testReports(prefix, 40, 8);
  await produceReports(settings, reports);
  await produceRaw(settings, [{ key: 'x', value: 'not json' }, { key: 'y', value: '{"hostname": 1}' }]);
  const produced = reports.length + 2;

  // The batch waits BATCH_WAIT_MS in hand: nothing is committed yet, all of it is lag.
  const behind = await waitFor('the produced messages as lag', async () => {
    const e = await scrapeUrl(url);
    return sum(lagOf(e, settings.topic).values()) === produced ? e : undefined;
  }, BATCH_WAIT_MS - 1000, 50);
  assert.equal(value(behind, 'nebula_reporter_messages_total', { result: 'stored' }), 0);

  // Stored and committed: the lag is back to 0 and agrees with the group's committed offsets.
  const e = await waitFor('the batch stored and the lag back to 0', async () => {
    const s = await scrapeUrl(url);
    const lag = lagOf(s, settings.topic);
    return value(s, 'nebula_reporter_messages_total', { result: 'stored' }) === reports.length && lag.size === PARTITIONS && sum(lag.values()) === 0 ? s : undefined;
  }, 20_000);
  assert.equal(sum([...(await committedOffsets(settings, group)).values()].map(Number)), produced);
  assert.equal(value(e, 'nebula_reporter_messages_total', { result: 'rejected' }), 2);
  assert.equal(value(e, 'nebula_reporter_messages_total', { result: 'duplicate' }), 0);
  const batches = value(e, 'nebula_reporter_batch_size_count');
  assert.ok(batches >= 1, `batches ${batches}`);
  assert.equal(value(e, 'nebula_reporter_batch_size_sum'), produced);
  assert.equal(value(e, 'nebula_reporter_batch_size_bucket', { le: '+Inf' }), batches);
  assert.ok(value(e, 'nebula_reporter_batch_commits_total', { result: 'committed' }) >= 1);
  assert.equal(value(e, 'nebula_reporter_batch_commits_total', { result: 'failed' }), 0);
  // The store write, timed by the wrapper the manager uses too.
  assert.equal(value(e, 'nebula_store_operation_duration_seconds_count', { operation: 'insertReports' }), batches);
  assert.ok(value(e, 'nebula_store_operation_duration_seconds_sum', { operation: 'insertReports' }) > 0);
  assert.equal(value(e, 'nebula_store_operation_errors_total', { operation: 'insertReports' }), 0);
  assert.ok(e.samples.some((s) => s.name === 'nebula_process_resident_memory_bytes'));

  // No device's name, no message content.
  assert.ok(!e.text.includes(prefix), 'a device name in the metrics');
  assert.ok(!e.text.includes('not json'));
  const other = await fetch(url.replace('/metrics', '/'));
  assert.equal(other.status, 404);
  assert.equal(((await other.json()) as { code: string }).code, 'ROUTE_NOT_FOUND');
});
