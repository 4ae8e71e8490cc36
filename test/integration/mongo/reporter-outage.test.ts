// MongoDB goes away under a running reporter (a private MongoDB-wire server, SIGKILLed, then
// restarted on the same port and data): the reporter keeps running, holds its batch
// uncommitted and retries; when the database is back it stores every report exactly once,
// in the same process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../src/store/open.ts';
import { storeConfigFor } from '../../helpers/store.ts';
import { startPrivateMongo } from '../../helpers/mongo.ts';
import { assertUnique } from '../../helpers/reports.ts';
import {
  committedOffsets,
  createTopic,
  isRunning,
  kafkaSettings,
  produceReports,
  requireBroker,
  spawnReporter,
  stopProcess,
  testReports,
  uniqueName,
  waitFor,
  waitForLog,
} from '../../helpers/kafka.ts';

test('MongoDB down under the reporter: the batch is held uncommitted and retried, then stored exactly once', async (t) => {
  await requireBroker();
  const mongo = await startPrivateMongo();
  t.after(() => mongo.close());
  const dir = mkdtempSync(join(tmpdir(), 'nebula-reporter-mongo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = { ...storeConfigFor(dir, 3600, 'mongo'), mongo: { url: mongo.url, maxPoolSize: 2 } };
  const store = await openStore(config, { role: 'test' });
  t.after(() => store.close());

  const settings = kafkaSettings(uniqueName('nebula-mongo-outage'));
  const group = uniqueName('reporters');
  await createTopic(settings, 1);
  const reporter = spawnReporter(settings, group, dir, { MONGO_URL: mongo.url, SCHEMA_NAME: config.schemaName });
  t.after(() => stopProcess(reporter));
  await waitForLog(reporter, 'joined the reporters group');

  const before = testReports(uniqueName('till'), 20, 4);
  await produceReports(settings, before);
  await waitFor('the first reports stored', async () => (await store.queryReports({ pageSize: 100 })).length === 20 || undefined, 30_000, 200);
  await waitFor('their offsets committed', async () => (await committedOffsets(settings, group)).get(0) === 20n || undefined);

  await mongo.kill();
  const during = testReports(uniqueName('till'), 30, 4);
  await produceReports(settings, during);
  await waitForLog(reporter, 'the store is unreachable: holding the batch', 60_000);
  assert.ok(isRunning(reporter), 'the reporter keeps running');
  assert.equal((await committedOffsets(settings, group)).get(0), 20n, 'nothing is committed while the store is down');

  await mongo.restart();
  const all = await waitFor('every report stored', async () => {
    const stored = await store.queryReports({ pageSize: 1000 });
    return stored.length >= 50 ? stored : undefined;
  }, 60_000, 250);
  assert.equal(all.length, 50);
  assert.deepEqual(assertUnique(all.map((r) => r.report as never)), new Set([...before, ...during].map((r) => r.report_id)));
  await waitFor('the held batches committed', async () => (await committedOffsets(settings, group)).get(0) === 50n || undefined, 30_000);
  assert.ok(isRunning(reporter), 'no restart was needed');
  reporter.child.kill('SIGTERM');
  assert.equal(await reporter.exited, 0);
});
