// Reports over Kafka, end to end: worker -> Kafka -> `nebula reporter` -> store -> a manager's
// GET /api/v2/reports, with real processes and a broker of the test's own (so stopping it
// disturbs no other suite). The broker dies while the worker keeps reporting, then comes
// back: every report the worker made arrives in the store exactly once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaReportTransport } from '../../../src/reports/kafka.ts';
import { basic, call } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { assertStatus, uniq } from '../../helpers/fixtures.ts';
import { createTopic, kafkaSettings, spawnReporter, startPrivateBroker, uniqueName } from '../../helpers/kafka.ts';
import { assertUnique, deviceOf, drainAndStop, reporting, reportsOf } from '../../helpers/reports.ts';
import { WEB_1, startWorker, tempDir, waitFor } from '../../helpers/worker.ts';
import { freePorts, workerSuite } from '../../helpers/worker-fixtures.ts';
import { quietFor, startManagerOn, stopProcess } from '../../helpers/worker-process.ts';

const USER = 'admin';
const PASSWORD = 'pw';
const PROC_ENV = { BASIC_AUTH_USER: USER, BASIC_AUTH_PASSWORD: PASSWORD, NEBULA_LOG_LEVEL: 'warn' };
const AUTH = basic(USER, PASSWORD);

const { made } = workerSuite(() => undefined);

test('worker -> Kafka -> reporter -> store: a broker outage loses nothing and stores nothing twice', async (t) => {
  const broker = await startPrivateBroker();
  t.after(() => broker.close());
  const settings = kafkaSettings(uniqueName('reports'), [broker.bootstrap]);
  await createTopic(settings, 3);

  const data = tempDir('nebula-mgr-');
  t.after(data.remove);
  const manager = await startManagerOn(await freePort(), data.dir, PROC_ENV);
  t.after(() => stopProcess(manager));
  const reporter = spawnReporter(settings, uniqueName('group'), data.dir);
  t.after(() => stopProcess(reporter));

  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  assertStatus(await call(manager.url, 'POST', `/api/v2/apps/${app}`, { auth: AUTH, body: { docker_image: WEB_1, starting_ports: [{ [await freePorts(1)]: '80' }] } }), 200);
  assertStatus(await call(manager.url, 'POST', `/api/v2/device_groups/${group}`, { auth: AUTH, body: { apps: [app] } }), 200);

  const device = uniq('till');
  const transport = new KafkaReportTransport(settings, { sendTimeoutMs: 5000 });
  const w = await startWorker(manager.url, group, {
    overrides: reporting(device, { transport: 'kafka', kafka: settings }, { user: USER, password: PASSWORD }),
    reportTransport: transport,
  });
  t.after(() => w.stop());

  const first = await waitFor('reports through Kafka', async () => {
    const stored = await reportsOf(manager.url, device, AUTH);
    return stored.find((r) => (r.apps_state as Record<string, { state: string }> | undefined)?.[app]?.state === 'running');
  }, 60_000);
  assert.equal(first.device_group, group);
  assert.equal((await deviceOf(manager.url, device, AUTH))?.behind, false);

  await broker.stop('SIGKILL');
  await waitFor('reports to wait in the spool', async () => w.worker.state.spoolSize() >= 4, 60_000);
  await broker.start();
  const { made: madeCount, left } = await drainAndStop(w);
  const expected = madeCount - left.length;

  const stored = await waitFor(`all ${expected} delivered reports in the store`, async () => {
    const all = await reportsOf(manager.url, device, AUTH);
    return all.length >= expected ? all : undefined;
  }, 90_000, 500);
  await quietFor(2000);
  const final = await reportsOf(manager.url, device, AUTH);
  const ids = assertUnique(final);
  assert.equal(final.length, expected, `the worker delivered ${expected} reports; the store has ${final.length} (had ${stored.length})`);
  for (const id of left) assert.ok(!ids.has(id));
});
