// The built executables (npm run build:binaries), run as systemd would: a clean environment and
// a HOME nobody can write (a path under a regular file, so not even root can create it).
//   - x64: --version, health, an app that survives a restart; the SQLite addon lands next to the
//     database (not under HOME), once; PKG_NATIVE_CACHE_PATH still wins where it is set.
//   - arm64, under qemu-user-static (Debian's, with the cross libc of g++-aarch64-linux-gnu):
//     --version, its SQLite store opened, /healthz served. Each qemu start takes seconds: few calls.
// This file builds nothing: run `npm run test:package`, which builds first; `npm run services`
// installs qemu. A missing binary or qemu fails the test.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/ports.ts';

const BINARIES = { x64: join(ROOT, 'dist', 'nebula-linux-x64'), arm64: join(ROOT, 'dist', 'nebula-linux-arm64') };
const QEMU = '/usr/bin/qemu-aarch64-static';
const CROSS_LIBC = '/usr/aarch64-linux-gnu';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const AUTH = { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'binary-test' };
const authHeader = `Basic ${Buffer.from(`${AUTH.BASIC_AUTH_USER}:${AUTH.BASIC_AUTH_PASSWORD}`).toString('base64')}`;

type Arch = keyof typeof BINARIES;

let tmp: string;
let env: Record<string, string>;

before(() => {
  for (const binary of Object.values(BINARIES)) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`npm run build:binaries\` first (or \`npm run test:package\`)`);
  }
  tmp = mkdtempSync(join(tmpdir(), 'nebula-binary-'));
  writeFileSync(join(tmp, 'not-a-dir'), '');
  env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(tmp, 'not-a-dir', 'home') };
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The command line that runs the binary of `arch` here: arm64 through qemu, called explicitly (no binfmt). */
function command(arch: Arch, args: string[]): [string, string[]] {
  if (arch === 'x64') return [BINARIES.x64, args];
  assert.ok(existsSync(QEMU), `${QEMU} is missing: run \`npm run services\` (it installs qemu-user-static)`);
  assert.ok(existsSync(join(CROSS_LIBC, 'lib', 'ld-linux-aarch64.so.1')), `${CROSS_LIBC} has no arm64 libc: run \`npm run services\` (g++-aarch64-linux-gnu)`);
  return [QEMU, ['-L', CROSS_LIBC, BINARIES.arm64, ...args]];
}

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<unknown>;
}

/** `nebula manager` on port 0; its URL comes from the "listening" log line. */
async function startManager(arch: Arch, dataDir: string, extraEnv: Record<string, string> = {}): Promise<Running> {
  const [cmd, args] = command(arch, ['manager', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir]);
  const child = spawn(cmd, args, { env: { ...env, ...AUTH, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  const deadline = Date.now() + (arch === 'x64' ? 15_000 : 60_000);
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const match = /"address":"(http:\/\/127\.0\.0\.1:\d+)".*"msg":"nebula manager listening"/.exec(out);
    if (match) return { child, url: match[1]!, output: () => out, exited };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  await exited;
  throw new Error(`the ${arch} binary's manager did not start listening:\n${out}`);
}

async function stop(proc: Running): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  await proc.exited;
}

async function createApp(url: string, name: string, image: string): Promise<void> {
  const created = await fetch(`${url}/api/v2/apps/${name}`, {
    method: 'POST',
    headers: { authorization: authHeader, 'content-type': 'application/json' },
    body: JSON.stringify({ docker_image: image }),
  });
  assert.equal(created.status, 200, await created.text());
}

async function imageOf(url: string, name: string): Promise<string> {
  const app = await fetch(`${url}/api/v2/apps/${name}`, { headers: { authorization: authHeader } });
  assert.equal(app.status, 200);
  return ((await app.json()) as { docker_image: string }).docker_image;
}

const addons = (dir: string) => readdirSync(join(dir, '.native')).filter((f) => f.endsWith('.node'));

for (const arch of ['x64', 'arm64'] as const) {
  test(`${arch}: --version prints package.json's version`, async () => {
    const [cmd, args] = command(arch, ['--version']);
    const { stdout } = await promisify(execFile)(cmd, args, { env });
    assert.equal(stdout.trim(), VERSION);
  });
}

test('x64: the manager serves health, an app survives a restart, the addon is copied next to the database once', async () => {
  const dataDir = join(tmp, 'data');
  const first = await startManager('x64', dataDir);
  try {
    assert.equal((await fetch(`${first.url}/healthz`)).status, 200, first.output());
    assert.equal((await fetch(`${first.url}/readyz`)).status, 200, first.output());
    await createApp(first.url, 'web', 'img/web:1');
  } finally {
    await stop(first);
  }
  const [addon] = addons(dataDir);
  assert.match(addon ?? '', /^better_sqlite3-[0-9a-f]{16}\.node$/);

  const second = await startManager('x64', dataDir);
  try {
    assert.equal((await fetch(`${second.url}/readyz`)).status, 200, second.output());
    assert.equal(await imageOf(second.url, 'web'), 'img/web:1');
  } finally {
    await stop(second);
  }
  assert.deepEqual(addons(dataDir), [addon], 'the restart reused the same copy');
});

test('x64: PKG_NATIVE_CACHE_PATH, where set, is where the addon goes', async () => {
  const dataDir = join(tmp, 'data-cache-path');
  const cache = join(tmp, 'native-cache');
  const proc = await startManager('x64', dataDir, { PKG_NATIVE_CACHE_PATH: cache });
  try {
    assert.equal((await fetch(`${proc.url}/readyz`)).status, 200, proc.output());
  } finally {
    await stop(proc);
  }
  assert.ok(readdirSync(join(cache, 'pkg')).length > 0, 'pkg extracted the addon under PKG_NATIVE_CACHE_PATH');
  assert.equal(existsSync(join(dataDir, '.native')), false);
});

test('arm64 under qemu: opens its SQLite store and serves /healthz; the store holds what was written', async () => {
  const dataDir = join(tmp, 'data-arm64');
  const proc = await startManager('arm64', dataDir);
  try {
    const health = await fetch(`${proc.url}/healthz`);
    assert.equal(health.status, 200, proc.output());
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.equal((await fetch(`${proc.url}/readyz`)).status, 200, proc.output());
    await createApp(proc.url, 'arm', 'img/arm:1');
    assert.equal(await imageOf(proc.url, 'arm'), 'img/arm:1');
  } finally {
    await stop(proc);
  }
  assert.match(readFileSync(join(dataDir, 'nebula.db')).subarray(0, 16).toString('latin1'), /^SQLite format 3/);
  // The copied addon is the arm64 build (ELF machine 183, EM_AARCH64).
  const [addon] = addons(dataDir);
  assert.ok(addon, 'the arm64 addon was copied next to the database');
  assert.equal(readFileSync(join(dataDir, '.native', addon)).readUInt16LE(18), 183);
});
