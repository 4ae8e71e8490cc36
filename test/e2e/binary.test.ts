// End to end on the built x64 executable (dist/nebula-linux-x64), as an operator runs it: the
// manager on its embedded SQLite store and a worker on the real Docker engine, both the binary,
// each with a home nobody can write and no PKG_NATIVE_CACHE_PATH. An app created through the API
// ends up running on the device, an update rolls it, a prune removes the image it left, a stop
// stops it, the device reports itself up to date, and SIGTERM ends both cleanly with the
// containers left running. It also serves the dashboard it carries (web/, built in by build/bundle.ts)
// and the API reference (swagger-ui's files, built in by build/docs.ts).
// This file builds nothing: `npm run test:package` builds first.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basic, call } from '../helpers/manager.ts';
import { assertStatus, uniq } from '../helpers/fixtures.ts';
import { freePort, nebulaBinary, startManagerProcess, stopProcess, type ManagerProcess } from '../helpers/process.ts';
import { deviceOf, reportsOf } from '../helpers/reports.ts';
import { WEB_1, WEB_2, containersOf, httpText, removeContainers, waitFor } from '../helpers/worker.ts';
import { imageExists, lockEngine } from '../helpers/worker-fixtures.ts';
import { spawnWorkerProcess, type Proc } from '../helpers/worker-process.ts';

const AUTH = basic('admin', 'e2e-secret');
let tmp: string;
let env: Record<string, string>;
let manager: ManagerProcess;
let release: () => void;
const apps: string[] = [];

before(async () => {
  process.env.NEBULA_BINARY ||= 'dist/nebula-linux-x64';
  const binary = nebulaBinary()!;
  assert.ok(existsSync(binary), `${binary} is missing: run \`npm run test:package\` (it builds the binaries)`);
  release = await lockEngine();
  tmp = mkdtempSync(join(tmpdir(), 'nebula-e2e-'));
  writeFileSync(join(tmp, 'not-a-dir'), '');
  // HOME under a regular file: nothing can be created there, not even by root.
  env = { HOME: join(tmp, 'not-a-dir', 'home'), NEBULA_LOG_LEVEL: 'info' };
  manager = await startManagerProcess(join(tmp, 'manager'), { ...env, BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'e2e-secret' });
});

after(async () => {
  if (manager) await stopProcess(manager);
  await removeContainers(apps.map((app) => `${app}-1`)).catch(() => undefined);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  release?.();
});

const serves = (port: number, version: string) => async () => (await httpText(port)) === version;

test('the binary serves the dashboard it carries: /ui/ and its app.js, public, with a strict CSP', async () => {
  const page = await fetch(`${manager.url}/ui/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await page.text();
  const script = /src="(app\.js\?v=[^"]+)"/.exec(html)?.[1];
  assert.ok(script, html);
  const js = await fetch(`${manager.url}/ui/${script}`);
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('x-content-type-options'), 'nosniff');
  assert.match(await js.text(), /Sign in/);
});

test('the binary serves the API reference: /api/v2/openapi.json and the swagger-ui page with the files it carries, public', async () => {
  const document = await fetch(`${manager.url}/api/v2/openapi.json`);
  assert.equal(document.status, 200);
  const spec = (await document.json()) as { openapi: string; paths: Record<string, unknown> };
  assert.equal(spec.openapi, '3.1.0');
  assert.ok(spec.paths['/api/v2/apps/{app_name}']);
  const page = await fetch(`${manager.url}/api/v2/docs`);
  assert.equal(page.status, 200);
  const html = await page.text();
  for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'initializer.js']) {
    assert.ok(html.includes(`docs/static/${file}`), html);
    const asset = await fetch(`${manager.url}/api/v2/docs/static/${file}`);
    assert.equal(asset.status, 200, file);
    assert.ok((await asset.arrayBuffer()).byteLength > 0, file);
  }
  assert.match(await (await fetch(`${manager.url}/api/v2/docs/static/swagger-ui-bundle.js`)).text(), /SwaggerUIBundle/);
});

test('an app created through the API ends up running on the device, follows an update, a prune and a stop; SIGTERM leaves it to the engine', async (t) => {
  const port = await freePort();
  const app = uniq('e2e');
  const group = uniq('dg');
  const device = uniq('device');
  apps.push(app);
  assertStatus(await call(manager.url, 'POST', `/api/v2/apps/${app}`, { auth: AUTH, body: { docker_image: WEB_1, starting_ports: [{ [port]: '80' }], env_vars: { GREETING: 'a=b:c' } } }), 200);
  assertStatus(await call(manager.url, 'POST', `/api/v2/device_groups/${group}`, { auth: AUTH, body: { apps: [app] } }), 200);

  const stateDir = join(tmp, 'worker');
  const worker: Proc = spawnWorkerProcess(
    ['--device-group', group, '--manager-url', manager.url, '--state-dir', stateDir, '--check-in-time', '1', '--device-name', device, '--report-min-interval', '0'],
    { ...env, NEBULA_MANAGER_AUTH_USER: 'admin', NEBULA_MANAGER_AUTH_PASSWORD: 'e2e-secret' },
  );
  t.after(() => stopProcess(worker));

  await waitFor('the app to serve web:1 on the device', serves(port, '1'), 30_000);
  const [container] = await containersOf(app);
  assert.ok(container, worker.output());

  // Both processes copied the SQLite addon next to their own database, not under HOME.
  for (const dir of [join(tmp, 'manager'), stateDir]) {
    assert.deepEqual(readdirSync(join(dir, '.native')).filter((f) => f.endsWith('.node')).length, 1, `one addon in ${dir}/.native`);
  }

  const reported = await waitFor('a report from the device, up to date', async () => {
    const doc = await deviceOf(manager.url, device, AUTH);
    return doc?.behind === false ? doc : undefined;
  });
  assert.equal(reported.device_group, group, JSON.stringify(reported));
  assert.ok((await reportsOf(manager.url, device, AUTH)).length >= 1);

  assertStatus(await call(manager.url, 'PUT', `/api/v2/apps/${app}/update`, { auth: AUTH, body: { docker_image: WEB_2 } }), 202);
  await waitFor('the app to serve web:2 after the update', serves(port, '2'), 30_000);

  assert.equal(await imageExists(WEB_1), true);
  assertStatus(await call(manager.url, 'POST', `/api/v2/device_groups/${group}/prune`, { auth: AUTH }), 202);
  await waitFor(`${WEB_1}, no longer used, to be pruned from the device`, async () => !(await imageExists(WEB_1)), 30_000);
  assert.equal(await imageExists(WEB_2), true, 'the image in use survives the prune');
  assert.equal(await httpText(port), '2');

  assertStatus(await call(manager.url, 'POST', `/api/v2/apps/${app}/stop`, { auth: AUTH }), 202);
  await waitFor('the app to stop on the device', async () => (await containersOf(app)).every((c) => c.state !== 'running'), 30_000);

  assertStatus(await call(manager.url, 'POST', `/api/v2/apps/${app}/start`, { auth: AUTH }), 202);
  await waitFor('the app to serve again after a start', serves(port, '2'), 30_000);

  assert.equal(await stopProcess(worker, 'SIGTERM'), 0, worker.output());
  assert.equal(await httpText(port), '2', 'the container keeps running without its worker');
  assert.equal(await stopProcess(manager, 'SIGTERM'), 0, manager.output());
});
