// The manager as a process: restarts keep data, SIGTERM is graceful, a broken store or a
// bad setting ends it non-zero (fail hard: systemd restarts it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { basic } from '../../helpers/manager.ts';
import { logLines, spawnManager, startManagerProcess } from '../../helpers/process.ts';

const ENV = { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'pw', NEBULA_LOG_LEVEL: 'info' };
const AUTH = { authorization: basic('admin', 'pw'), 'content-type': 'application/json' };

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-proc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('data survives a restart, and SIGTERM answers a held long-poll with 304 and exits 0', async (t) => {
  const dir = tempDir(t);
  const first = await startManagerProcess(dir, ENV);
  const created = await fetch(`${first.url}/api/v2/apps/web`, { method: 'POST', headers: AUTH, body: JSON.stringify({ docker_image: 'nginx' }) });
  assert.equal(created.status, 200);
  await fetch(`${first.url}/api/v2/apps/web/stop`, { method: 'POST', headers: AUTH });
  await fetch(`${first.url}/api/v2/device_groups/pos`, { method: 'POST', headers: AUTH, body: JSON.stringify({ apps: ['web'] }) });
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);

  const second = await startManagerProcess(dir, ENV);
  t.after(() => second.child.kill('SIGKILL'));
  const app = (await (await fetch(`${second.url}/api/v2/apps/web`, { headers: AUTH })).json()) as { app_id: number; running: boolean };
  assert.equal(app.app_id, 2);
  assert.equal(app.running, false);

  const info = await fetch(`${second.url}/api/v2/device_groups/pos/info`, { headers: AUTH });
  const etag = info.headers.get('etag');
  assert.ok(etag);
  const held = fetch(`${second.url}/api/v2/device_groups/pos/info?wait=30`, { headers: { ...AUTH, 'if-none-match': etag } });
  // Give the request time to be held, then stop the process.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  second.child.kill('SIGTERM');
  const reply = await held;
  assert.equal(reply.status, 304);
  assert.ok(Date.now() - started < 5000, 'the long-poll is answered at shutdown, not at the end of its wait');
  assert.equal(await second.exited, 0);
  assert.match(second.output(), /"msg":"stopped"/);
});

test('a database from a newer Nebula (failed migration) ends the process non-zero', async (t) => {
  const dir = tempDir(t);
  const db = new Database(join(dir, 'nebula.db'));
  db.pragma('user_version = 99');
  db.close();
  const proc = spawnManager(['--port', '0', '--host', '127.0.0.1', '--data-dir', dir], ENV);
  const code = await proc.exited;
  assert.notEqual(code, 0);
  assert.match(proc.output(), /cannot open the store/);
});

test('a data dir that cannot be created ends the process non-zero', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), 'x');
  const proc = spawnManager(['--port', '0', '--host', '127.0.0.1', '--data-dir', join(dir, 'file', 'sub')], ENV);
  assert.notEqual(await proc.exited, 0);
  assert.match(proc.output(), /cannot open the store/);
});

test('a full disk under a running manager: 503 to the caller, then exit non-zero', async (t) => {
  // A real fault: the data dir is a 2 MiB tmpfs that we fill up (needs root, as CI has).
  const mountPoint = mkdtempSync(join(tmpdir(), 'nebula-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
  let proc: Awaited<ReturnType<typeof startManagerProcess>> | undefined;
  t.after(async () => {
    proc?.child.kill('SIGKILL');
    if (proc) await proc.exited;
    execFileSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  proc = await startManagerProcess(mountPoint, ENV);
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(mountPoint, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    // dd ends with ENOSPC: the disk is full, as intended.
  }
  const big = { docker_image: 'x', env_vars: { PAD: 'y'.repeat(200_000) } };
  let sawUnavailable = false;
  for (let i = 0; i < 20 && !sawUnavailable; i++) {
    const response: Response | null = await fetch(`${proc!.url}/api/v2/apps/a${i}`, { method: 'POST', headers: AUTH, body: JSON.stringify(big) }).catch(() => null);
    if (response === null) break; // the process is already gone
    assert.notEqual(response.status, 500);
    if (response.status === 503) {
      assert.equal(((await response.json()) as { code: string }).code, "STORE_UNAVAILABLE");
      sawUnavailable = true;
    }
  }
  assert.ok(sawUnavailable, 'a write on a full disk is answered 503');
  const code = await proc.exited;
  assert.notEqual(code, 0);
  assert.match(proc.output(), /"level":60/);
});

test('settings from the original environment names are honoured', async (t) => {
  const dir = tempDir(t);
  const proc = await startManagerProcess(dir, { ...ENV, AUTH_ENABLED: 'False', SCHEMA_NAME: 'fleet' });
  t.after(() => proc.child.kill('SIGKILL'));
  const reply = await fetch(`${proc.url}/api/v2/status`);
  assert.equal(reply.status, 200, 'AUTH_ENABLED=False turns auth off');
  proc.child.kill('SIGTERM');
  assert.equal(await proc.exited, 0);
  const db = new Database(join(dir, 'fleet.db'), { readonly: true });
  db.close();
});

/** Pids listening on 127.0.0.1:<port> (ss from iproute2). */
function listeners(port: number): number[] {
  const out = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])).sort();
}

/** The direct children of a process. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number).sort();
  } catch {
    return []; // pgrep: none
  }
}

async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('--workers 2: two serving processes share the port and the store; SIGTERM stops all, exit 0', async (t) => {
  const dir = tempDir(t);
  const manager = await startManagerProcess(dir, ENV, ['--workers', '2']);
  t.after(() => manager.child.kill('SIGKILL'));
  const port = Number(new URL(manager.url).port);
  const pid = manager.child.pid!;
  await eventually(() => listeners(port).length === 2, 20_000, 'both serving processes listening');
  const serving = childrenOf(pid);
  assert.equal(serving.length, 2);
  assert.deepEqual(listeners(port), serving, 'the supervisor itself does not listen; each child does');

  const created = await fetch(`${manager.url}/api/v2/apps/web`, { method: 'POST', headers: AUTH, body: JSON.stringify({ docker_image: 'nginx' }) });
  assert.equal(created.status, 200);
  // New connections land on either process: every one sees the write (one store).
  for (let i = 0; i < 20; i++) {
    const got = await fetch(`${manager.url}/api/v2/apps/web`, { headers: { ...AUTH, connection: 'close' } });
    assert.equal(got.status, 200);
    assert.equal(((await got.json()) as { docker_image: string }).docker_image, 'nginx');
  }
  const lines = logLines(manager.output());
  assert.deepEqual(lines.filter((l) => l.msg === 'nebula manager listening').map((l) => l.serving).sort(), [0, 1]);

  manager.child.kill('SIGTERM');
  assert.equal(await manager.exited, 0);
  for (const child of serving) assert.throws(() => process.kill(child, 0), 'a serving process outlived the supervisor');
  assert.deepEqual(listeners(port), []);
});

test('--workers 2: one serving process killed ends the manager non-zero (systemd restarts it whole)', async (t) => {
  const dir = tempDir(t);
  const manager = await startManagerProcess(dir, ENV, ['--workers', '2']);
  t.after(() => manager.child.kill('SIGKILL'));
  const port = Number(new URL(manager.url).port);
  await eventually(() => childrenOf(manager.child.pid!).length === 2 && listeners(port).length === 2, 20_000, 'both serving processes listening');
  const [victim, survivor] = childrenOf(manager.child.pid!) as [number, number];
  process.kill(victim, 'SIGKILL');
  assert.equal(await manager.exited, 1);
  assert.throws(() => process.kill(survivor, 0), 'the other serving process was left running');
  assert.match(manager.output(), /a serving process ended/);
});

test('--workers above 1 with port 0 is refused, naming the setting', async () => {
  const proc = spawnManager(['--workers', '2', '--port', '0'], ENV);
  assert.equal(await proc.exited, 2);
  assert.match(proc.output(), /workers/);
});
