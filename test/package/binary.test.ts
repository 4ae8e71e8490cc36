// The built x64 executable (npm run build:binaries), run as systemd would: a clean environment,
// a HOME nobody can write (a path under a regular file, so not even root can create it) and
// PKG_NATIVE_CACHE_PATH, where pkg extracts better-sqlite3's addon, in a temp dir.
// This file builds nothing: run `npm run test:package`, which builds first.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/ports.ts';

const BINARY = join(ROOT, 'dist', 'nebula-linux-x64');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const AUTH = { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'binary-test' };
const authHeader = `Basic ${Buffer.from(`${AUTH.BASIC_AUTH_USER}:${AUTH.BASIC_AUTH_PASSWORD}`).toString('base64')}`;

let tmp: string;
let env: Record<string, string>;

before(() => {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build:binaries\` first (or \`npm run test:package\`)`);
  tmp = mkdtempSync(join(tmpdir(), 'nebula-binary-'));
  writeFileSync(join(tmp, 'not-a-dir'), '');
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(tmp, 'not-a-dir', 'home'),
    PKG_NATIVE_CACHE_PATH: join(tmp, 'native-cache'),
  };
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<unknown>;
}

/** `nebula manager` on port 0; its URL comes from the "listening" log line. */
async function startManager(dataDir: string): Promise<Running> {
  const child = spawn(BINARY, ['manager', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
    env: { ...env, ...AUTH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const match = /"address":"(http:\/\/127\.0\.0\.1:\d+)".*"msg":"nebula manager listening"/.exec(out);
    if (match) return { child, url: match[1]!, output: () => out, exited };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  await exited;
  throw new Error(`the binary's manager did not start listening:\n${out}`);
}

async function stop(proc: Running): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  await proc.exited;
}

test('--version prints package.json version', async () => {
  const { stdout } = await promisify(execFile)(BINARY, ['--version'], { env });
  assert.equal(stdout.trim(), VERSION);
});

test('the manager serves health, and an app survives a restart (SQLite opened from the binary)', async () => {
  const dataDir = join(tmp, 'data');
  const first = await startManager(dataDir);
  try {
    assert.equal((await fetch(`${first.url}/healthz`)).status, 200, first.output());
    assert.equal((await fetch(`${first.url}/readyz`)).status, 200, first.output());
    const created = await fetch(`${first.url}/api/v2/apps/web`, {
      method: 'POST',
      headers: { authorization: authHeader, 'content-type': 'application/json' },
      body: JSON.stringify({ docker_image: 'img/web:1' }),
    });
    assert.equal(created.status, 200, `${await created.text()}\n${first.output()}`);
  } finally {
    await stop(first);
  }
  // The addon went to PKG_NATIVE_CACHE_PATH (HOME cannot be written).
  assert.ok(readdirSync(join(env.PKG_NATIVE_CACHE_PATH!, 'pkg')).length > 0);

  const second = await startManager(dataDir);
  try {
    assert.equal((await fetch(`${second.url}/readyz`)).status, 200, second.output());
    const app = await fetch(`${second.url}/api/v2/apps/web`, { headers: { authorization: authHeader } });
    assert.equal(app.status, 200, second.output());
    assert.equal(((await app.json()) as { docker_image: string }).docker_image, 'img/web:1');
  } finally {
    await stop(second);
  }
});
