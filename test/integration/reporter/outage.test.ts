// A broker outage pauses the reporter, it never ends it: the reporter keeps retrying (and
// says so), and once the broker is back the reports produced meanwhile-and-after are stored.
// The broker here is a private one (its own ports and data), so stopping it disturbs no
// other suite running in parallel.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertUnique, reportsOf, type StoredReportDoc } from '../../helpers/reports.ts';
import { ReportTransportError } from '../../../src/reports/transport.ts';
import { KafkaReportTransport } from '../../../src/reports/kafka.ts';
import {
  createTopic,
  isRunning,
  kafkaSettings,
  produceReports,
  spawnReporter,
  startManagerOn,
  startPrivateBroker,
  stopProcess,
  tempDir,
  testReports,
  uniqueName,
  waitFor,
  waitForLog,
  type TestBroker,
} from '../../helpers/kafka.ts';
import type { Report } from '../../../src/model/report.ts';

let broker: TestBroker & { close(): Promise<void> };
before(async () => {
  broker = await startPrivateBroker();
});
after(async () => {
  await broker?.close();
});

test('the broker goes away for a while: the reporter keeps running and retrying, then stores what was produced', async (t) => {
  const dir = tempDir(t);
  const settings = kafkaSettings(uniqueName('nebula-outage'), [broker.bootstrap]);
  const group = uniqueName('reporters');
  await createTopic(settings, 2);
  const manager = await startManagerOn(dir);
  t.after(() => stopProcess(manager));
  const reporter = spawnReporter(settings, group, dir);
  t.after(() => stopProcess(reporter));
  const storedOf = async (reports: readonly Report[]): Promise<StoredReportDoc[]> => {
    const out: StoredReportDoc[] = [];
    for (const h of new Set(reports.map((r) => r.hostname))) out.push(...(await reportsOf(manager.url, h)));
    return out;
  };

  const before = testReports(uniqueName('pos'), 20, 4);
  await produceReports(settings, before);
  await waitFor('the first 20 reports', async () => (await storedOf(before)).length === 20 || undefined);

  // The broker crashes. The reporter keeps retrying, and warns once the outage lasts.
  const downAt = Date.now();
  await broker.stop('SIGKILL');
  await waitForLog(reporter, 'Kafka requests keep failing', 30_000);
  const warnedAfter = Date.now() - downAt;
  // Meanwhile a worker's send fails fast, and as retryable (its spool keeps the reports).
  const transport = new KafkaReportTransport(settings, { sendTimeoutMs: 5000 });
  t.after(() => transport.close());
  const sendStarted = Date.now();
  const err = await transport.send(before.slice(0, 1)).then(() => undefined, (e: unknown) => e);
  const sendFailMs = Date.now() - sendStarted;
  assert.ok(err instanceof ReportTransportError && err.retryable, String(err));
  assert.ok(isRunning(reporter), 'the reporter is still running during the outage');

  const upAt = Date.now();
  await broker.start();
  const restartMs = Date.now() - upAt;
  const later = testReports(uniqueName('pos'), 20, 4);
  // The same transport delivers again once the broker is back.
  await waitFor('a send to succeed after the broker restart', () => transport.send(later).then(() => true), 60_000, 500);
  const storedLater = await waitFor('the 20 reports produced after the restart', async () => {
    const all = await storedOf(later);
    return all.length >= 20 ? all : undefined;
  }, 60_000, 250);
  const recoveredMs = Date.now() - upAt;
  assert.equal(storedLater.length, 20);
  assertUnique([...(await storedOf(before)), ...storedLater]);
  assert.equal((await storedOf(before)).length, 20, 'nothing stored twice');
  assert.equal(reporter.logged('Kafka answers again').length, 1);
  // The retries (several a second) are logged once, then every 30 s while the outage lasts.
  const warnings = reporter.logged('Kafka requests keep failing').length;
  assert.ok(warnings >= 1 && warnings <= 1 + Math.floor((Date.now() - downAt) / 30_000), `${warnings} warnings`);
  assert.ok(isRunning(reporter));
  t.diagnostic(`warned ${warnedAfter} ms into the outage; a send failed after ${sendFailMs} ms; broker restart ${restartMs} ms; reports flowing ${recoveredMs} ms after the restart began`);

  reporter.child.kill('SIGTERM');
  assert.equal(await reporter.exited, 0, reporter.output().slice(-3000));
});
