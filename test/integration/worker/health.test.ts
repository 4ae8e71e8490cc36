// Health: the worker restarts app containers that Docker reports unhealthy, spaced by a
// growing cool-off, records each restart with its reason, and leaves healthy containers
// (and those without a HEALTHCHECK) alone. web:unhealthy's HEALTHCHECK (every 1 s) fails
// until /tmp/healthy exists in the container.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { call, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { assertStatus, uniq } from '../../helpers/fixtures.ts';
import { WEB_1, WEB_UNHEALTHY, containersOf, engine, httpText, startWorker, waitFor } from '../../helpers/worker.ts';
import { workerSuite } from '../../helpers/worker-fixtures.ts';
import { quietFor, snapshot } from '../../helpers/worker-process.ts';

let m: TestManager;
const { made } = workerSuite((manager) => (m = manager));

async function deploy(image: string, port: number): Promise<{ app: string; group: string }> {
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  assertStatus(await call(m.url, 'POST', `/api/v2/apps/${app}`, { body: { docker_image: image, starting_ports: [{ [port]: '80' }] } }), 200);
  assertStatus(await call(m.url, 'POST', `/api/v2/device_groups/${group}`, { body: { apps: [app] } }), 200);
  return { app, group };
}

test('an unhealthy container is restarted, with a growing cool-off, until it is healthy', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(WEB_UNHEALTHY, port);
  const w = await startWorker(m.url, group); // health checks every 1 s, cool-off base 10 s
  t.after(() => w.stop());
  const name = `${app}-1`;
  const restarts = () => w.worker.state.events('health-restart').filter((e) => e.subject === name);
  const [container] = await waitFor('the container', async () => {
    const list = await containersOf(app);
    return list.length === 1 ? list : undefined;
  });
  assert.ok(container);
  const firstStart = (await (await engine()).health(container.id)).startedAt;

  const [first] = await waitFor('a health restart', async () => (restarts().length >= 1 ? restarts() : undefined), 8000);
  assert.ok(first);
  assert.match(first.detail, /unhealthy/);
  const e = await engine();
  await waitFor('the container to run again', async () => (await e.health(container.id)).running);
  assert.notEqual((await e.health(container.id)).startedAt, firstStart, 'restarted (a new StartedAt)');
  assert.deepEqual((await containersOf(app)).map((c) => c.id), [container.id], 'restarted in place, not re-created');

  // Unhealthy again at once, but the next restart must wait out the cool-off (10 s).
  await waitFor('unhealthy again', async () => (await e.health(container.id)).health === 'unhealthy', 5000);
  await quietFor(Math.max(0, first.at + 4000 - Date.now()));
  assert.equal(restarts().length, 1, `no second restart within the cool-off: ${JSON.stringify(restarts())}`);

  execFileSync('docker', ['exec', container.id, 'touch', '/tmp/healthy']);
  await waitFor('healthy', async () => (await e.health(container.id)).health === 'healthy', 5000);
  const healthySince = (await e.health(container.id)).startedAt;
  // Past the moment the cool-off would have allowed a second restart.
  await quietFor(Math.max(2000, first.at + 11_500 - Date.now()));
  assert.equal(restarts().length, 1, `a healthy container is not restarted: ${JSON.stringify(restarts())}`);
  assert.equal((await e.health(container.id)).startedAt, healthySince);
  assert.equal(await httpText(port), '1');
  assert.deepEqual(w.fatal, []);
});

test('a container without a HEALTHCHECK is never restarted by the monitor', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(WEB_1, port);
  const w = await startWorker(m.url, group);
  t.after(() => w.stop());
  await waitFor('web:1 to serve', async () => (await httpText(port)) === '1');
  const before = await snapshot(app);
  assert.equal((await (await engine()).health(before[0]!.id)).health, 'none');
  assert.deepEqual(await w.worker.health.checkOnce(), []);
  await quietFor(3000);
  assert.deepEqual(await snapshot(app), before);
  assert.deepEqual(
    w.worker.state.events('health-restart').filter((e) => e.subject.startsWith(`${app}-`)),
    [],
  );
  assert.deepEqual(w.fatal, []);
});
