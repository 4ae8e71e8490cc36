// Reports over HTTP (the default transport), end to end against a real manager and engine:
// what a report says, nothing lost or stored twice while the manager is down, a restart
// with a full spool, and /devices telling an operator which device is behind and why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basic, call, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { assertStatus, uniq } from '../../helpers/fixtures.ts';
import { assertUnique, deviceOf, drainAndStop, reporting, reportsOf, spoolOf } from '../../helpers/reports.ts';
import { WEB_1, startWorker, tempDir, waitFor } from '../../helpers/worker.ts';
import { api, freePorts, workerSuite } from '../../helpers/worker-fixtures.ts';
import { quietFor, startManagerOn, stopProcess } from '../../helpers/worker-process.ts';

const USER = 'admin';
const PASSWORD = 'pw';
const PROC_ENV = { BASIC_AUTH_USER: USER, BASIC_AUTH_PASSWORD: PASSWORD, NEBULA_LOG_LEVEL: 'warn' };
const PROC_AUTH = basic(USER, PASSWORD);

let m: TestManager;
const { made } = workerSuite((manager) => (m = manager));

/** An app on web:1 published on `port`, in a new group. */
async function deploy(url: string, auth: string | undefined, port: number, image = WEB_1): Promise<{ app: string; group: string }> {
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  const opts = auth ? { auth } : {};
  assertStatus(await call(url, 'POST', `/api/v2/apps/${app}`, { ...opts, body: { docker_image: image, starting_ports: [{ [port]: '80' }] } }), 200);
  assertStatus(await call(url, 'POST', `/api/v2/device_groups/${group}`, { ...opts, body: { apps: [app] } }), 200);
  return { app, group };
}

test('a report carries the original fields, the ids applied against desired, and each app state; /devices shows the device up to date', async (t) => {
  const port = await freePorts(1);
  const { app, group } = await deploy(m.url, undefined, port);
  const device = uniq('till');
  const w = await startWorker(m.url, group, { overrides: reporting(device) });
  t.after(() => w.stop());

  const report = await waitFor('a report showing the app running', async () => {
    const all = await reportsOf(m.url, device);
    return all.findLast((r) => (r.apps_state as any)?.[app]?.state === 'running');
  });
  for (const field of ['memory_usage', 'root_disk_usage', 'cpu_usage', 'apps_containers', 'cron_jobs_containers', 'current_device_group_config', 'device_group', 'report_creation_time', 'hostname', 'updated']) {
    assert.ok(field in report, `the report lacks ${field}`);
  }
  assert.equal(report.hostname, device);
  assert.equal(report.device_group, group);
  assert.equal(typeof report.report_id, 'string');
  assert.match(String(report.worker_version), /^\d+\.\d+\.\d+/);
  const memory = report.memory_usage as { total: number; used: number; available: number };
  assert.ok(memory.total > 0 && memory.available > 0 && memory.total >= memory.used);
  assert.ok((report.root_disk_usage as { total: number }).total > 0);
  assert.ok((report.cpu_usage as { cores: number }).cores >= 1);
  const stats = report.apps_containers as Record<string, unknown>[];
  assert.equal(stats.length, 1);
  assert.equal(stats[0]?.name, `/${app}-1`);
  assert.ok('memory_stats' in (stats[0] ?? {}) && 'cpu_stats' in (stats[0] ?? {}));
  const config = report.current_device_group_config as { status_code: number; reply: { device_group_id: number; apps_list: string[] } };
  assert.equal(config.status_code, 200);
  assert.deepEqual(config.reply.apps_list, [app]);
  assert.deepEqual((report.applied as any).apps, { [app]: 1 });
  assert.deepEqual(report.applied, report.desired);
  assert.deepEqual((report.apps_state as any)[app], { state: 'running', app_id: 1, running: 1, desired: 1 });

  const view = await deviceOf(m.url, device);
  assert.equal(view.device_group, group);
  assert.equal(view.behind, false, JSON.stringify(view.behind_reasons));
  assert.deepEqual(view.failing_apps, []);
});

test('the manager down then up: every report the worker made is stored exactly once', async (t) => {
  const data = tempDir('nebula-mgr-');
  t.after(data.remove);
  const managerPort = await freePort();
  let manager = await startManagerOn(managerPort, data.dir, PROC_ENV);
  t.after(() => stopProcess(manager));
  const { group } = await deploy(manager.url, PROC_AUTH, await freePorts(1));
  const device = uniq('till');
  const w = await startWorker(manager.url, group, { overrides: reporting(device, {}, { user: USER, password: PASSWORD }) });
  t.after(() => w.stop());
  await waitFor('reports to arrive', async () => (await reportsOf(manager.url, device, PROC_AUTH)).length >= 2);

  await stopProcess(manager);
  await waitFor('reports to wait in the spool', async () => w.worker.state.spoolSize() >= 4, 30_000);
  manager = await startManagerOn(managerPort, data.dir, PROC_ENV);
  const { made: madeCount, left } = await drainAndStop(w);

  const stored = await reportsOf(manager.url, device, PROC_AUTH);
  const ids = assertUnique(stored);
  for (const id of left) assert.ok(!ids.has(id));
  assert.equal(stored.length + left.length, madeCount, `the worker made ${madeCount} reports (${left.length} still spooled), the manager stored ${stored.length}`);
});

test('a worker restarted with a full spool loses nothing it kept; the drops are counted and reported', async (t) => {
  const data = tempDir('nebula-mgr-');
  t.after(data.remove);
  const managerPort = await freePort();
  let manager = await startManagerOn(managerPort, data.dir, PROC_ENV);
  t.after(() => stopProcess(manager));
  const { group } = await deploy(manager.url, PROC_AUTH, await freePorts(1));
  await stopProcess(manager);

  const device = uniq('till');
  const settings = reporting(device, { spoolMax: 5 }, { user: USER, password: PASSWORD });
  const first = await startWorker(manager.url, group, { overrides: settings });
  t.after(() => first.stop());
  await waitFor('the spool to overflow', async () => first.worker.state.spoolDropped() >= 3, 30_000);
  await first.stop();
  const { ids: kept, dropped } = spoolOf(first);
  assert.equal(kept.length, 5);

  manager = await startManagerOn(managerPort, data.dir, PROC_ENV);
  const second = await startWorker(manager.url, group, { overrides: settings, stateDir: first.stateDir });
  t.after(() => second.stop());
  const { made: madeAfter, left } = await drainAndStop(second);

  const stored = await reportsOf(manager.url, device, PROC_AUTH);
  const ids = assertUnique(stored);
  for (const id of kept) assert.ok(ids.has(id), `spooled report ${id} was lost`);
  assert.equal(stored.length, kept.length + madeAfter - left.length);
  const latest = stored.at(-1) as unknown as { spool_dropped: number };
  assert.ok(latest.spool_dropped >= dropped, `spool_dropped ${latest.spool_dropped} < ${dropped}`);
});

test('/devices shows a device as behind while its app fails, and why; up to date once it is fixed', async (t) => {
  const port = await freePorts(1);
  const { app, group } = await deploy(m.url, undefined, port, '127.0.0.1:5000/no-such-image:1');
  const device = uniq('till');
  const w = await startWorker(m.url, group, { overrides: reporting(device) });
  t.after(() => w.stop());

  const behind = await waitFor('the device to show as behind', async () => {
    const view = await deviceOf(m.url, device);
    return view?.failing_apps?.some((f: { state: string }) => f.state === 'failed') ? view : undefined;
  });
  assert.equal(behind.behind, true);
  const failing = behind.failing_apps.find((f: { app: string }) => f.app === app);
  assert.equal(failing?.state, 'failed');
  assert.match(String(failing?.reason), /no-such-image/);
  assert.ok(behind.behind_reasons.some((r: string) => r.includes(app)), JSON.stringify(behind.behind_reasons));
  const listed = await call(m.url, 'GET', `/api/v2/devices?device_group=${group}&behind=true`);
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.body.data.map((d: { hostname: string }) => d.hostname), [device]);

  await api.updateApp(m.url, app, { docker_image: WEB_1 });
  const fixed = await waitFor('the device to be up to date', async () => {
    const view = await deviceOf(m.url, device);
    return view?.behind === false ? view : undefined;
  }, 30_000);
  assert.deepEqual(fixed.failing_apps, []);
  assert.equal(fixed.applied.apps[app], 2);
});

test('report_on_update_only: no report while nothing changes, one marked updated after a change', async (t) => {
  const { app, group } = await deploy(m.url, undefined, await freePorts(1));
  const device = uniq('till');
  const w = await startWorker(m.url, group, { overrides: reporting(device, { onUpdateOnly: true }) });
  t.after(() => w.stop());
  const appliedOf = (r: Record<string, unknown> | undefined) => (r?.applied as { apps: Record<string, number> } | undefined)?.apps[app];
  // Reports so far: the start (nothing applied yet), then the config arriving.
  const start = await waitFor('a report of the applied config', async () => {
    const all = await reportsOf(m.url, device);
    return appliedOf(all.at(-1)) === 1 ? all : undefined;
  });
  assert.equal(start.at(-1)?.updated, true);
  await quietFor(3500); // three check-ins with nothing new
  const quiet = await reportsOf(m.url, device);
  assert.equal(quiet.length, start.length, `reports while nothing changed: ${quiet.length - start.length}`);

  await api.updateApp(m.url, app, { env_vars: { COLOUR: 'blue' } });
  const after = await waitFor('a report after the change', async () => {
    const all = await reportsOf(m.url, device);
    return all.length > quiet.length ? all : undefined;
  });
  assert.equal(after.length, quiet.length + 1);
  assert.equal(after.at(-1)?.updated, true);
  assert.equal(appliedOf(after.at(-1)), 2);
});

test('the minimum interval spaces reports even when the check-in is shorter', async (t) => {
  const { group } = await deploy(m.url, undefined, await freePorts(1));
  const device = uniq('till');
  const w = await startWorker(m.url, group, { overrides: reporting(device, { minIntervalSeconds: 2 }) });
  t.after(() => w.stop());
  const all = await waitFor('four reports', async () => {
    const stored = await reportsOf(m.url, device);
    return stored.length >= 4 ? stored : undefined;
  }, 30_000, 250);
  // Unthrottled, a 1 s check-in makes four reports within about 3 s; 2 s apart they span at
  // least 6 s (5 s with the whole seconds of report_creation_time).
  const times = all.map((r) => r.report_creation_time);
  assert.ok(times[3]! - times[0]! >= 5, `four reports within ${times[3]! - times[0]!} s`);
});
