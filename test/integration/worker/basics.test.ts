// The worker against a real manager and the real Docker engine: an app created in a group
// runs with the right ports, env, labels and network; an update replaces it; a restart of
// the worker with an unchanged config restarts nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { WEB_1, WEB_2, containersOf, engine, httpText, startWorker, waitFor } from '../../helpers/worker.ts';
import { workerSuite } from '../../helpers/worker-fixtures.ts';

let m: TestManager;
const { made } = workerSuite((manager) => (m = manager));

test('an app in a group runs, follows an update, and survives a worker restart untouched', async (t) => {
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  const port = await freePort();
  assert.equal((await call(m.url, 'POST', `/api/v2/apps/${app}`, { body: { docker_image: WEB_1, starting_ports: [{ [port]: '80' }], env_vars: { MODE: 'pos' } } })).status, 200);
  assert.equal((await call(m.url, 'POST', `/api/v2/device_groups/${group}`, { body: { apps: [app] } })).status, 200);

  const first = await startWorker(m.url, group);
  t.after(() => first.stop());
  assert.equal(await waitFor('web:1 to serve', async () => (await httpText(port)) === '1'), true);
  const [container] = await containersOf(app);
  assert.ok(container);
  assert.equal(container.name, `${app}-1`);
  assert.equal(container.labels.orchestrator, 'nebula');
  assert.equal(container.labels.container_type, 'app');
  assert.equal(container.labels.app_name, app);
  const e = await engine();
  const inspected = await e.health(container.id);
  assert.equal(inspected.running, true);

  // An update (new image) replaces the container.
  assert.equal((await call(m.url, 'PUT', `/api/v2/apps/${app}/update`, { body: { docker_image: WEB_2 } })).status, 202);
  await waitFor('web:2 to serve', async () => (await httpText(port)) === '2');
  const [updated] = await containersOf(app);
  assert.ok(updated);
  assert.notEqual(updated.id, container.id);
  assert.equal(updated.labels['nebula.app_id'], '2');

  // A worker restarted with the same config restarts no container.
  await first.stop();
  const before = await e.health(updated.id);
  const second = await startWorker(m.url, group, { stateDir: first.stateDir });
  t.after(() => second.stop());
  await waitFor('the second worker to reconcile', async () => second.worker.sync.reconcile().then(() => true));
  const after = await containersOf(app);
  assert.deepEqual(after.map((c) => c.id), [updated.id]);
  assert.equal((await e.health(updated.id)).startedAt, before.startedAt);
  assert.deepEqual(second.fatal, []);
});
