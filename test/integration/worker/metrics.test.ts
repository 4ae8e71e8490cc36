// The worker's metrics listener (roles/worker/metrics.ts, src/metrics/server.ts), a real worker
// against a real manager and the real engine: it converges and /metrics shows applied == desired
// and a fresh sync; each kind of restart is counted under its reason (an API restart, a new
// image, a crash the engine restarted, a container stopped behind the worker's back); the spool
// is empty once the reports are stored; the text is valid exposition and names no secret.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, type TestManager } from '../../helpers/manager.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { LABELS } from '../../../src/diff/containers.ts';
import { scrapeUrl, value, type Exposition } from '../../helpers/prometheus.ts';
import { reporting, reportsOf } from '../../helpers/reports.ts';
import { WEB_1, WEB_2, WEB_UNHEALTHY, containersOf, httpText, startWorker, waitFor } from '../../helpers/worker.ts';
import { api, defer, docker, freePorts, killContainers, workerSuite } from '../../helpers/worker-fixtures.ts';

let m: TestManager;
const { made } = workerSuite((manager) => (m = manager));

/** The samples of `name` as "kind/name" -> value. */
function ids(e: Exposition, name: string): Map<string, number> {
  return new Map(e.samples.filter((s) => s.name === name).map((s) => [`${s.labels.kind}/${s.labels.name ?? ''}`, s.value]));
}

test('/metrics: converged ids, a fresh sync, restarts by reason, an empty spool, valid text without secrets', async (t) => {
  const app = uniq('web');
  const group = uniq('dg');
  const device = uniq('till');
  const secret = `env-secret-${uniq('v')}`;
  made.push(app);
  defer(t, () => killContainers([app]));
  const port = await freePorts(1);
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [port]: '80' }], env_vars: { API_KEY: secret } });
  await api.createGroup(m.url, group, [app]);
  const w = await startWorker(m.url, group, { overrides: { ...reporting(device), metrics: { host: '127.0.0.1', port: 0 } } });
  defer(t, () => w.stop());
  const server = await w.worker.metricsServer;
  assert.ok(server, 'the metrics listener listens');
  assert.equal(server.address.host, '127.0.0.1');
  const url = `http://127.0.0.1:${server.address.port}/metrics`;
  const scrape = () => scrapeUrl(url);
  const restarts = (e: Exposition, reason: string) => value(e, 'nebula_worker_container_restarts_total', { app, reason });

  // Converged: every id applied is the one given, nothing behind, the sync fresh.
  const converged = await waitFor('the worker to converge', async () => {
    const e = await scrape();
    return value(e, 'nebula_worker_applied_id', { kind: 'app', name: app }) === 1 && value(e, 'nebula_worker_objects_behind') === 0 ? e : undefined;
  });
  assert.deepEqual(ids(converged, 'nebula_worker_applied_id'), ids(converged, 'nebula_worker_desired_id'));
  assert.equal(ids(converged, 'nebula_worker_desired_id').get('device_group/'), 1);
  assert.ok(ids(converged, 'nebula_worker_desired_id').has('prune/'));
  // Long-polls are held up to 5 s in the tests (workerConfig).
  const age = value(converged, 'nebula_worker_sync_age_seconds');
  assert.ok(age >= 0 && age < 7, `sync age ${age}`);
  assert.equal(value(converged, 'nebula_worker_apps_failed'), 0);
  assert.equal(await httpText(port), '1');
  // Node's process metrics, under the prefix.
  assert.ok(converged.samples.some((s) => s.name === 'nebula_process_cpu_user_seconds_total'));
  assert.ok(converged.types.has('nebula_nodejs_eventloop_lag_seconds'));

  // A restart through the API: a new app_id, the same config.
  await api.appAction(m.url, app, 'restart');
  let e = await waitFor('the requested restart counted', async () => {
    const s = await scrape();
    return restarts(s, 'requested') === 1 && value(s, 'nebula_worker_objects_behind') === 0 ? s : undefined;
  });
  assert.equal(value(e, 'nebula_worker_applied_id', { kind: 'app', name: app }), 2);
  assert.equal(value(e, 'nebula_worker_desired_id', { kind: 'app', name: app }), 2);

  // A new image.
  await api.updateApp(m.url, app, { docker_image: WEB_2 });
  e = await waitFor('the image change counted', async () => {
    const s = await scrape();
    return restarts(s, 'image_changed') === 1 ? s : undefined;
  });
  await waitFor('web:2 to serve', async () => (await httpText(port)) === '2');

  // Another setting (its env).
  await api.updateApp(m.url, app, { env_vars: { API_KEY: secret, MODE: 'b' } });
  e = await waitFor('the config change counted', async () => {
    const s = await scrape();
    return restarts(s, 'config_changed') === 1 ? s : undefined;
  });
  const appId = value(e, 'nebula_worker_desired_id', { kind: 'app', name: app });
  const container = await waitFor('the new container to run', async () => {
    const list = await containersOf(app);
    return list.length === 1 && list[0]!.state === 'running' && list[0]!.labels[LABELS.appId] === String(appId) ? list[0] : undefined;
  });
  await waitFor('web:2 to serve after the config change', async () => (await httpText(port)) === '2');

  // The container's process ends: the engine restarts it (restart policy), the worker notices.
  // (the exec may end with the container, an error: the count below is what matters)
  await docker('exec', container.id, 'kill', '1').catch(() => undefined);
  e = await waitFor('the crash counted', async () => {
    const s = await scrape();
    return restarts(s, 'crashed') >= 1 ? s : undefined;
  });

  // Stopped behind the worker's back: started again at the next check-in.
  await docker('stop', '-t', '1', container.id);
  e = await waitFor('the stopped container counted', async () => {
    const s = await scrape();
    return restarts(s, 'stopped') === 1 ? s : undefined;
  });
  await waitFor('web:2 to serve again', async () => (await httpText(port)) === '2');
  for (const reason of ['outdated', 'unhealthy']) assert.equal(restarts(e, reason), 0, reason);
  for (const reason of ['requested', 'image_changed', 'config_changed']) assert.equal(restarts(e, reason), 1, reason);

  // Reports delivered: the spool is empty.
  e = await waitFor('the spool to drain', async () => {
    const s = await scrape();
    return value(s, 'nebula_worker_report_spool_depth') === 0 && (await reportsOf(m.url, device)).length > 0 ? s : undefined;
  });
  assert.equal(value(e, 'nebula_worker_report_spool_dropped_total'), 0);

  // Only names of the group's objects and fixed words as labels: no env value, no credential.
  assert.ok(!e.text.includes(secret), 'an app env value in the metrics');
  assert.ok(!e.text.includes(ADMIN_TOKEN), 'the manager token in the metrics');
  const labelNames = new Set(e.samples.flatMap((s) => Object.keys(s.labels)));
  for (const name of labelNames) assert.ok(['kind', 'name', 'app', 'reason', 'le', 'version', 'major', 'minor', 'patch', 'space', 'type'].includes(name), `label ${name}`);

  // Anything but GET /metrics: the catalogued 404, as JSON.
  for (const [method, path] of [['GET', '/'], ['GET', '/metrics/x'], ['POST', '/metrics'], ['GET', `/${secret}`]] as const) {
    const r = await fetch(`http://127.0.0.1:${server.address.port}${path}`, { method });
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await r.json()) as { code: string }).code, 'ROUTE_NOT_FOUND');
  }
  const query = await fetch(`${url}?name[]=x`);
  assert.equal(query.status, 200, 'a query string is ignored');
  await query.text();
  assert.deepEqual(w.fatal, []);
});

test('a container Docker reports unhealthy, restarted by the health monitor, is counted under unhealthy', async (t) => {
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  defer(t, () => killContainers([app]));
  await api.createApp(m.url, app, { docker_image: WEB_UNHEALTHY, starting_ports: [{ [await freePorts(1)]: '80' }] });
  await api.createGroup(m.url, group, [app]);
  const w = await startWorker(m.url, group, { overrides: { metrics: { host: '127.0.0.1', port: 0 } } });
  defer(t, () => w.stop());
  const server = await w.worker.metricsServer;
  assert.ok(server);
  const e = await waitFor('the health restart counted', async () => {
    const s = await scrapeUrl(`http://127.0.0.1:${server.address.port}/metrics`);
    return value(s, 'nebula_worker_container_restarts_total', { app, reason: 'unhealthy' }) >= 1 ? s : undefined;
  });
  assert.equal(value(e, 'nebula_worker_container_restarts_total', { app, reason: 'crashed' }), 0, 'a restart by the worker is not a crash');
  assert.deepEqual(w.fatal, []);
});

test('without a metrics port there is no listener and no registry', async (t) => {
  const group = uniq('dg');
  await api.createGroup(m.url, group, []);
  const w = await startWorker(m.url, group);
  defer(t, () => w.stop());
  assert.equal(w.worker.metrics, null);
  assert.equal(await w.worker.metricsServer, null);
});
