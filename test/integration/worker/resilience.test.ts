// The worker when the world around it misbehaves: a killed manager, a reboot with a wiped
// engine and no network, a stale answer, a manager without ETag/long-poll, a deleted group.
// Nothing is torn down while the manager cannot be trusted; changes arrive fast when it can.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Info } from '../../../src/model/info.ts';
import { ADMIN_AUTH, basic, call, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { assertStatus, uniq } from '../../helpers/fixtures.ts';
import { WEB_1, WEB_2, containersOf, engine, httpText, startWorker, tempDir, waitFor } from '../../helpers/worker.ts';
import { workerSuite } from '../../helpers/worker-fixtures.ts';
import { isRunning, quietFor, snapshot, startLoggedWorker, startManagerOn, stopProcess } from '../../helpers/worker-process.ts';

const USER = 'admin';
const PASSWORD = 'pw';
const PROC_ENV = { BASIC_AUTH_USER: USER, BASIC_AUTH_PASSWORD: PASSWORD, NEBULA_LOG_LEVEL: 'warn' };
const PROC_AUTH = basic(USER, PASSWORD);
const WORKER_AUTH = { auth: { user: USER, password: PASSWORD } };

let m: TestManager;
const { made } = workerSuite((manager) => (m = manager));

/** Creates an app on web:1 published on `port` and a group holding it. */
async function deploy(url: string, auth: string, port: number): Promise<{ app: string; group: string }> {
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  assertStatus(await call(url, 'POST', `/api/v2/apps/${app}`, { auth, body: { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] } }), 200);
  assertStatus(await call(url, 'POST', `/api/v2/device_groups/${group}`, { auth, body: { apps: [app] } }), 200);
  return { app, group };
}

const serves = (port: number, version: string) => async () => (await httpText(port)) === version;

interface Seen {
  at: number;
  url: string;
  ifNoneMatch: string | undefined;
}

/** An HTTP server on 127.0.0.1:0 standing in for a manager; records the requests it gets. */
class FakeServer {
  readonly seen: Seen[] = [];
  url = '';
  private readonly server: Server;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(handle: (req: IncomingMessage, res: ServerResponse, fake: FakeServer) => void) {
    this.server = createServer((req, res) => {
      this.seen.push({ at: Date.now(), url: req.url ?? '', ifNoneMatch: req.headers['if-none-match'] });
      handle(req, res, this);
    });
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** FakeStaleManager: a lagging manager cache that keeps serving an older config of the group. */
function fakeStaleManager(group: string, info: Info): Promise<FakeServer> {
  const etag = '"stale-config"';
  return new FakeServer((req, res, fake) => {
    if (!(req.url ?? '').startsWith(`/api/v2/device_groups/${group}/info`)) return void res.writeHead(404).end('{}');
    if (req.headers['if-none-match'] === etag) {
      // A long-poll that nothing wakes: hold it a little, then "unchanged".
      return fake.later(1000, () => void res.writeHead(304, { etag }).end());
    }
    res.writeHead(200, { 'content-type': 'application/json', etag }).end(JSON.stringify(info));
  }).listen();
}

/**
 * A recording pass-through to the real manager's /info. With `original`, it is the
 * FakeOriginalManager: Nebula 2.7's /info, with no ETag, ignoring If-None-Match and ?wait=.
 */
function infoProxy(realUrl: string, options: { original: boolean }): Promise<FakeServer> {
  return new FakeServer((req, res) => {
    const [path = '', query] = (req.url ?? '').split('?');
    if (req.method !== 'GET' || !/^\/api\/v2\/device_groups\/[^/]+\/info$/.test(path)) return void res.writeHead(404).end('{}');
    const headers: Record<string, string> = {};
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    const ifNoneMatch = req.headers['if-none-match'];
    if (!options.original && ifNoneMatch) headers['if-none-match'] = ifNoneMatch;
    const target = `${realUrl}${path}${!options.original && query ? `?${query}` : ''}`;
    fetch(target, { headers }).then(
      async (reply) => {
        const etag = options.original ? null : reply.headers.get('etag');
        res.writeHead(reply.status, { 'content-type': 'application/json', ...(etag ? { etag } : {}) }).end(await reply.text());
      },
      () => res.writeHead(502).end(),
    );
  }).listen();
}

test('a killed manager: the container keeps running untouched, the worker retries, then follows a change once the manager is back', async (t) => {
  const data = tempDir('nebula-mgr-');
  t.after(data.remove);
  const managerPort = await freePort();
  let manager = await startManagerOn(managerPort, data.dir, PROC_ENV);
  t.after(() => stopProcess(manager));
  const port = await freePort();
  const { app, group } = await deploy(manager.url, PROC_AUTH, port);
  const w = await startLoggedWorker(manager.url, group, { overrides: WORKER_AUTH });
  t.after(() => w.stop());
  await waitFor('web:1 to serve', serves(port, '1'));
  const before = await snapshot(app);

  await stopProcess(manager, 'SIGKILL');
  await waitFor('the worker to retry twice', async () => w.logged('manager unreachable').length >= 2, 8000);
  // Jittered exponential backoff: the second wait is drawn from a higher range than the first.
  const [wait1, wait2] = w.logged('manager unreachable').map((l) => Number(l.retry_ms));
  assert.ok(wait1! > 0 && wait2! >= wait1!, `retry waits ${wait1} then ${wait2} ms`);
  assert.equal(await httpText(port), '1');
  assert.deepEqual(await snapshot(app), before, 'same container, never restarted');
  assert.deepEqual(w.fatal, []);

  manager = await startManagerOn(managerPort, data.dir, PROC_ENV);
  assertStatus(await call(manager.url, 'PUT', `/api/v2/apps/${app}/update`, { auth: PROC_AUTH, body: { docker_image: WEB_2 } }), 202);
  await waitFor('web:2 to serve once the manager is back', serves(port, '2'), 25_000);
  assert.deepEqual(w.fatal, []);
});

test('a reboot with a wiped engine and no manager: containers and cron schedules come back from the SQLite state alone', async (t) => {
  const data = tempDir('nebula-mgr-');
  t.after(data.remove);
  const manager = await startManagerOn(await freePort(), data.dir, PROC_ENV);
  t.after(() => stopProcess(manager));
  const port = await freePort();
  const { app, group } = await deploy(manager.url, PROC_AUTH, port);
  const job = uniq('job');
  made.push(job);
  assertStatus(await call(manager.url, 'POST', `/api/v2/cron_jobs/${job}`, { auth: PROC_AUTH, body: { docker_image: WEB_1, schedule: '0 0 1 1 *' } }), 200);
  assertStatus(await call(manager.url, 'PUT', `/api/v2/device_groups/${group}/update`, { auth: PROC_AUTH, body: { cron_jobs: [job] } }), 202);
  const first = await startWorker(manager.url, group, { overrides: WORKER_AUTH });
  t.after(() => first.stop());
  await waitFor('web:1 to serve', serves(port, '1'));
  await waitFor('the cron job to be scheduled', async () => first.worker.scheduler.scheduled()[job] !== undefined);
  await first.stop();

  // The device goes down: the manager is gone and the engine comes back empty.
  await stopProcess(manager, 'SIGKILL');
  const old = await containersOf(app);
  assert.equal(old.length, 1);
  execFileSync('docker', ['rm', '-f', ...old.map((c) => c.id)], { stdio: 'ignore' });
  assert.deepEqual(await containersOf(app), []);

  const second = await startWorker(manager.url, group, { stateDir: first.stateDir, overrides: WORKER_AUTH });
  t.after(() => second.stop());
  await waitFor('web:1 to serve again, offline', serves(port, '1'), 20_000);
  const [restored] = await containersOf(app);
  assert.ok(restored);
  assert.notEqual(restored.id, old[0]?.id);
  assert.equal(restored.labels['nebula.app_id'], '1');
  assert.deepEqual(second.worker.scheduler.scheduled(), { [job]: 1 });
  assert.equal(isRunning(manager), false, 'the manager stayed down throughout');
  assert.deepEqual(second.fatal, []);
});

test('a stale answer with lower ids (FakeStaleManager) changes nothing', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(m.url, ADMIN_AUTH, port);
  // Raise the ids: app_id 2 (web:2) and device_group_id 2.
  assertStatus(await call(m.url, 'PUT', `/api/v2/apps/${app}/update`, { body: { docker_image: WEB_2 } }), 202);
  assertStatus(await call(m.url, 'PUT', `/api/v2/device_groups/${group}/update`, { body: { apps: [app] } }), 202);
  const first = await startWorker(m.url, group);
  t.after(() => first.stop());
  await waitFor('web:2 to serve', serves(port, '2'));
  await first.stop();
  const before = await snapshot(app);
  const real = (await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`)).body as Info;
  assert.equal(real.device_group_id, 2);
  assert.equal(real.apps[0]?.app_id, 2);

  const stale: Info = {
    ...real,
    device_group_id: real.device_group_id - 1,
    apps: real.apps.map((a) => ({ ...a, app_id: a.app_id - 1, docker_image: WEB_1 })),
    cron_jobs: real.cron_jobs.map((c) => ({ ...c, cron_job_id: c.cron_job_id - 1 })),
  };
  const fake = await fakeStaleManager(group, stale);
  t.after(() => fake.close());
  const second = await startWorker(fake.url, group, { stateDir: first.stateDir });
  t.after(() => second.stop());
  // The second request is only sent once the stale answer has been saved and reconciled.
  await waitFor('the worker to take the stale answer', async () => fake.seen.length >= 2, 10_000);
  assert.equal(second.worker.state.desired().info?.device_group_id, 1, 'the stale answer did arrive');
  await quietFor(3000);
  assert.deepEqual(await snapshot(app), before, 'same containers, not restarted');
  assert.equal(await httpText(port), '2');
  const applied = second.worker.state.applied();
  assert.equal(applied.device_group_id, 2);
  assert.equal(applied.apps[app]?.app_id, 2);
  assert.equal(applied.apps[app]?.docker_image, WEB_2);
  assert.deepEqual(second.fatal, []);
});

test('long-poll: a change reaches the container within about a second', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(m.url, ADMIN_AUTH, port);
  // A check-in every 30 s: only the long-poll can explain a fast change.
  const first = await startWorker(m.url, group, { overrides: { checkInSeconds: 30 } });
  t.after(() => first.stop());
  await waitFor('web:1 to serve', serves(port, '1'));
  const started = Date.now();
  assertStatus(await call(m.url, 'PUT', `/api/v2/apps/${app}/update`, { body: { docker_image: WEB_2 } }), 202);
  await waitFor('web:2 to serve', serves(port, '2'), 10_000, 50);
  const firstLatency = Date.now() - started;
  assert.ok(firstLatency < 5000, `the change took ${firstLatency} ms`);
  assert.deepEqual(first.fatal, []);
});

test('long-poll after a worker restart with an unchanged config: a change still arrives within about a second', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(m.url, ADMIN_AUTH, port);
  const first = await startWorker(m.url, group, { overrides: { checkInSeconds: 30 } });
  t.after(() => first.stop());
  await waitFor('web:1 to serve', serves(port, '1'));
  await first.stop();

  // Restarted with the stored ETag still current, through a recording pass-through, so
  // that the change is made only after the restarted worker has asked once.
  const proxy = await infoProxy(m.url, { original: false });
  t.after(() => proxy.close());
  const second = await startWorker(proxy.url, group, { stateDir: first.stateDir, overrides: { checkInSeconds: 30 } });
  t.after(() => second.stop());
  await waitFor('the restarted worker to ask the manager', async () => proxy.seen.length >= 1, 5000);
  const started = Date.now();
  assertStatus(await call(m.url, 'PUT', `/api/v2/apps/${app}/update`, { body: { docker_image: WEB_2 } }), 202);
  const converged = await waitFor('web:2 to serve', serves(port, '2'), 8000, 50).then(() => true, () => false);
  const latency = Date.now() - started;
  assert.ok(
    converged && latency < 5000,
    `after a restart with an unchanged config the change ${converged ? `took ${latency} ms` : 'had not arrived after 8 s'}; ` +
      `requests: ${JSON.stringify(proxy.seen.map((s) => `${s.url}${s.ifNoneMatch ? ' If-None-Match' : ''}`))}`,
  );
});

test('a manager without ETag or long-poll (FakeOriginalManager): plain polling every check_in_time still converges', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(m.url, ADMIN_AUTH, port);
  const original = await infoProxy(m.url, { original: true });
  t.after(() => original.close());
  const w = await startWorker(original.url, group, { overrides: { checkInSeconds: 1 } });
  t.after(() => w.stop());
  await waitFor('web:1 to serve', serves(port, '1'));
  const started = Date.now();
  assertStatus(await call(m.url, 'PUT', `/api/v2/apps/${app}/update`, { body: { docker_image: WEB_2 } }), 202);
  await waitFor('web:2 to serve', serves(port, '2'), 15_000);
  assert.ok(Date.now() - started < 5000, `the change took ${Date.now() - started} ms with a 1 s check-in`);

  const from = original.seen.length;
  await quietFor(3000);
  const window = original.seen.slice(from);
  assert.ok(window.length >= 2 && window.length <= 4, `about one request a second, got ${window.length} in 3 s`);
  for (let i = 1; i < window.length; i++) {
    const gap = window[i]!.at - window[i - 1]!.at;
    assert.ok(gap >= 800, `requests ${gap} ms apart: polling faster than check_in_time`);
  }
  for (const seen of original.seen) {
    assert.doesNotMatch(seen.url, /wait=/, 'no long-poll asked of a manager that never sent an ETag');
    assert.equal(seen.ifNoneMatch, undefined);
  }
  assert.deepEqual(w.fatal, []);
});

test('a deleted device group: the worker logs it and keeps the containers running', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(m.url, ADMIN_AUTH, port);
  const w = await startLoggedWorker(m.url, group);
  t.after(() => w.stop());
  await waitFor('web:1 to serve', serves(port, '1'));
  const before = await snapshot(app);
  assertStatus(await call(m.url, 'DELETE', `/api/v2/device_groups/${group}`), 200);
  await waitFor('the worker to log the missing group', async () => w.logged('device group does not exist').length >= 1, 10_000);
  await quietFor(2500);
  assert.deepEqual(await snapshot(app), before, 'nothing torn down');
  assert.equal(await httpText(port), '1');
  assert.deepEqual(w.fatal, []);
});
