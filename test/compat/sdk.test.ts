// Wire compatibility with the official Python SDK (NebulaPythonSDK 2.8.0).
//
// Starts a real manager on a free port with a fresh data dir, then runs
// test/compat/sdk_flow.py (stdlib unittest) with the SDK installed by
// `npm run services` in .cache/sdk-venv. The Python suite holds the assertions; this
// wrapper owns the manager's lifecycle and checks it shuts down cleanly on SIGTERM.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { dropTestStore, storeEnvFor } from '../helpers/store.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VENV_PYTHON = path.join(ROOT, '.cache', 'sdk-venv', 'bin', 'python');
const HOST = '127.0.0.1';
const ADMIN_USER = 'nebula';
const ADMIN_PASSWORD = 'nebula';
const READY_ATTEMPTS = 150; // x 100 ms: the manager gets about 15 s to come up
const READY_INTERVAL_MS = 100;
const PYTHON_TIMEOUT_MS = 5 * 60_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;

let manager: ChildProcess | undefined;
let managerStderr = '';
let managerExit: Promise<[number | null, NodeJS.Signals | null]> | undefined;
let dataDir: string | undefined;
let port = 0;
let ready = false;

// The kernel picks a free port; we release it and hand it to the manager. A tiny race
// window remains, acceptable for tests on one machine.
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  const { port: picked } = address;
  server.close();
  await once(server, 'close');
  return picked;
}

async function waitUntilReady(): Promise<void> {
  let lastError = '';
  for (let attempt = 0; attempt < READY_ATTEMPTS; attempt++) {
    const child = manager;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      assert.fail(`manager exited during startup (code ${child?.exitCode}, signal ${child?.signalCode})\n` +
        `stderr:\n${managerStderr}`);
    }
    try {
      const response = await fetch(`http://${HOST}:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      lastError = `HTTP ${response.status}`;
    } catch (error) {
      lastError = String(error);
    }
    await sleep(READY_INTERVAL_MS);
  }
  assert.fail(`manager not ready on /readyz after ${READY_ATTEMPTS} attempts (last: ${lastError})\n` +
    `stderr:\n${managerStderr}`);
}

function runPython(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(VENV_PYTHON, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const timer = setTimeout(() => {
      output += `\n[sdk.test.ts] python did not finish within ${PYTHON_TIMEOUT_MS} ms, killed\n`;
      child.kill('SIGKILL');
    }, PYTHON_TIMEOUT_MS);
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

before(async () => {
  port = await freePort();
  dataDir = await mkdtemp(path.join(tmpdir(), 'nebula-sdk-compat-'));
  const child = spawn(process.execPath, [
    'src/main.ts', 'manager',
    '--host', HOST, '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn',
  ], {
    cwd: ROOT,
    // The test store (SQLite, or MongoDB under NEBULA_TEST_STORE=mongo) of this data dir.
    env: { ...process.env, ...storeEnvFor(dataDir), BASIC_AUTH_USER: ADMIN_USER, BASIC_AUTH_PASSWORD: ADMIN_PASSWORD },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  manager = child;
  managerExit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { managerStderr += chunk; });
  await waitUntilReady();
  ready = true;
});

after(async () => {
  try {
    if (manager !== undefined && managerExit !== undefined) {
      const stillRunning = manager.exitCode === null && manager.signalCode === null;
      if (!stillRunning && !ready) return; // a startup failure, already reported by before()
      assert.ok(stillRunning, `manager died during the run (code ${manager.exitCode}, ` +
        `signal ${manager.signalCode})\nstderr:\n${managerStderr}`);
      manager.kill('SIGTERM');
      const timeout = sleep(SHUTDOWN_TIMEOUT_MS).then(() => 'timeout' as const);
      const outcome = await Promise.race([managerExit, timeout]);
      if (outcome === 'timeout') {
        manager.kill('SIGKILL');
        assert.fail(`manager did not exit within ${SHUTDOWN_TIMEOUT_MS} ms of SIGTERM\nstderr:\n${managerStderr}`);
      }
      const [code, signal] = outcome;
      assert.equal(signal, null, `manager died from signal ${signal}\nstderr:\n${managerStderr}`);
      assert.equal(code, 0, `manager exited with code ${code} after SIGTERM\nstderr:\n${managerStderr}`);
    }
  } finally {
    if (dataDir !== undefined) {
      await dropTestStore(dataDir);
      await rm(dataDir, { recursive: true, force: true });
    }
  }
});

test('official Python SDK 2.8.0 drives the manager (test/compat/sdk_flow.py)', async () => {
  // Missing tooling must fail loudly: a skipped compat suite looks like a passing one.
  assert.ok(existsSync(VENV_PYTHON),
    `${path.relative(ROOT, VENV_PYTHON)} not found: run \`npm run services\` to install the Python SDK`);

  const { code, output } = await runPython(
    // `discover` imports sdk_flow as a top-level module: a dotted test.compat.sdk_flow
    // could resolve to the stdlib's own `test` package instead of ours.
    ['-m', 'unittest', 'discover', '-v', '-s', 'test/compat', '-t', 'test/compat', '-p', 'sdk_flow.py'],
    {
      ...process.env,
      NEBULA_HOST: HOST,
      NEBULA_PORT: String(port),
      NEBULA_USER: ADMIN_USER,
      NEBULA_PASSWORD: ADMIN_PASSWORD,
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1',
      // requests honours proxy variables; the manager is local.
      NO_PROXY: HOST,
      no_proxy: HOST,
    },
  );
  assert.equal(code, 0, `sdk_flow.py failed (exit code ${code}):\n${output}`);
});
