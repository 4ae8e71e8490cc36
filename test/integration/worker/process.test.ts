// `nebula worker` as a real process, as systemd runs it: a SIGKILL and a restart with an
// unchanged config restart no container; SIGTERM exits 0 and leaves the containers running;
// an engine socket that is not there or a state dir that cannot be written ends it non-zero at
// once; a missing setting exits 2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, call, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { assertStatus, uniq } from '../../helpers/fixtures.ts';
import { WEB_1, WEB_2, engine, httpText, tempDir, waitFor } from '../../helpers/worker.ts';
import { workerSuite } from '../../helpers/worker-fixtures.ts';
import { exitWithin, isRunning, logLines, quietFor, snapshot, spawnWorkerProcess, stopProcess, type Proc } from '../../helpers/worker-process.ts';

const ENV = { NEBULA_MANAGER_AUTH_TOKEN: ADMIN_TOKEN };
let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager));

async function deploy(port: number): Promise<{ app: string; group: string }> {
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  assertStatus(await call(m.url, 'POST', `/api/v2/apps/${app}`, { body: { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] } }), 200);
  assertStatus(await call(m.url, 'POST', `/api/v2/device_groups/${group}`, { body: { apps: [app] } }), 200);
  return { app, group };
}

function stateDir(): string {
  const dir = tempDir('nebula-worker-proc-');
  cleanups.push(dir.remove);
  return dir.dir;
}

function workerArgs(group: string, state: string, extra: string[] = []): string[] {
  return ['--device-group', group, '--manager-url', m.url, '--state-dir', state, '--check-in-time', '1', '--log-level', 'info', ...extra];
}

function worker(t: { after: (fn: () => unknown) => void }, args: string[]): Proc {
  const proc = spawnWorkerProcess(args, ENV);
  t.after(() => stopProcess(proc));
  return proc;
}

const serves = (port: number, version: string) => async () => (await httpText(port)) === version;

test('SIGKILL, then a restart with the same state and an unchanged config: no container restarts, later changes followed', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(port);
  const args = workerArgs(group, stateDir());
  const first = worker(t, args);
  await waitFor('web:1 to serve', serves(port, '1'));
  const before = await snapshot(app);
  assert.equal(before.length, 1);
  assert.equal(await stopProcess(first, 'SIGKILL'), 'SIGKILL');

  const second = worker(t, args);
  await waitFor('the restarted worker to start', async () => second.output().includes('nebula worker started'), 10_000);
  await quietFor(3000);
  assert.deepEqual(await snapshot(app), before, `no container restarted:\n${second.output()}`);
  assert.ok(isRunning(second), second.output());

  assertStatus(await call(m.url, 'PUT', `/api/v2/apps/${app}/update`, { body: { docker_image: WEB_2 } }), 202);
  await waitFor('web:2 to serve', serves(port, '2'), 15_000);
  assert.ok(isRunning(second), second.output());
});

test('SIGTERM: exits 0 and leaves the containers running', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(port);
  const proc = worker(t, workerArgs(group, stateDir()));
  await waitFor('web:1 to serve', serves(port, '1'));
  const before = await snapshot(app);
  proc.child.kill('SIGTERM');
  assert.equal(await exitWithin(proc, 20_000), 0, proc.output());
  assert.ok(logLines(proc.output()).some((l) => String(l.msg).includes('stopping')), proc.output());
  assert.deepEqual(await snapshot(app), before);
  assert.equal(before[0]?.running, true);
  assert.equal(await httpText(port), '1');
});

test('an engine socket that does not exist: exits non-zero promptly with a fatal log line', async (t) => {
  const started = Date.now();
  const proc = worker(t, workerArgs(uniq('dg'), stateDir(), ['--docker-socket', `/tmp/nope-${process.pid}.sock`]));
  const code = await exitWithin(proc, 15_000);
  assert.equal(typeof code, 'number', `an exit code, not a signal: ${code}`);
  assert.notEqual(code, 0, proc.output());
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  const fatal = logLines(proc.output()).filter((l) => l.level === 60);
  assert.ok(fatal.length >= 1, `a fatal log line:\n${proc.output()}`);
  assert.match(String(fatal[0]!.msg), /Docker engine/);
});

test('a state dir that cannot be written: exits non-zero with a fatal log line', async (t) => {
  const blocker = join(stateDir(), 'file');
  writeFileSync(blocker, 'not a directory');
  const proc = worker(t, workerArgs(uniq('dg'), join(blocker, 'state')));
  const code = await exitWithin(proc, 15_000);
  assert.equal(typeof code, 'number', `an exit code, not a signal: ${code}`);
  assert.notEqual(code, 0, proc.output());
  assert.ok(logLines(proc.output()).some((l) => l.level === 60), `a fatal log line:\n${proc.output()}`);
});

test('a missing --device-group: exit 2 naming the setting', async (t) => {
  const proc = worker(t, ['--manager-url', m.url, '--state-dir', stateDir(), '--log-level', 'info']);
  assert.equal(await exitWithin(proc, 15_000), 2, proc.output());
  assert.match(proc.output(), /device_group|device-group/);
});
