// Runs `nebula manager` as a real process, as systemd would, for lifecycle tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { ROOT, freePort } from './ports.ts';
import { TEST_STORE, storeEnvFor } from './store.ts';

export { ROOT, freePort };

export interface ManagerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/**
 * The test store's settings for a manager or reporter given a data dir (--data-dir or
 * NEBULA_DATA_DIR): under NEBULA_TEST_STORE=mongo, that directory's MongoDB database.
 * A test that sets MONGO_URL itself keeps it (MONGO_URL '' is unset: SQLite on either pass).
 */
function testStoreEnv(role: string, args: string[], env: Record<string, string>): Record<string, string> {
  if (TEST_STORE !== 'mongo' || (role !== 'manager' && role !== 'reporter') || env.MONGO_URL !== undefined) return {};
  const flag = args.indexOf('--data-dir');
  const dir = flag >= 0 ? args[flag + 1] : env.NEBULA_DATA_DIR;
  return dir === undefined ? {} : storeEnvFor(dir);
}

/**
 * The single executable the process tests run, when NEBULA_BINARY names one (npm run test:package
 * runs these suites again on dist/nebula-linux-x64); else `node src/main.ts`.
 */
export function nebulaBinary(): string | undefined {
  return process.env.NEBULA_BINARY ? resolve(ROOT, process.env.NEBULA_BINARY) : undefined;
}

/**
 * `nebula <role> <args>` as systemd would run it: a clean environment plus `env`, output
 * captured. `stdin: true`: the child's stdin is a pipe the caller writes to (else it reads nothing).
 */
export function spawnNebula(role: string, args: string[], env: Record<string, string> = {}, options: { stdin?: boolean } = {}): Omit<ManagerProcess, 'url'> {
  const binary = nebulaBinary();
  const [command, prefix] = binary === undefined ? [process.execPath, ['src/main.ts']] : [binary, []];
  const child = spawn(command, [...prefix, role, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...testStoreEnv(role, args, env), ...env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  return { child, output: () => out, exited };
}

export function spawnManager(args: string[], env: Record<string, string> = {}): Omit<ManagerProcess, 'url'> {
  return spawnNebula('manager', args, env);
}

/** Starts a manager on a free port and waits (bounded) until /readyz answers 200. */
export async function startManagerProcess(dataDir: string, env: Record<string, string> = {}, extraArgs: string[] = []): Promise<ManagerProcess> {
  const port = await freePort();
  const proc = spawnManager(['--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, ...extraArgs], env);
  const url = `http://127.0.0.1:${port}`;
  let exitedEarly = false;
  void proc.exited.then(() => (exitedEarly = true));
  for (let attempt = 0; attempt < 150 && !exitedEarly; attempt++) {
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) return { ...proc, url };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  proc.child.kill('SIGKILL');
  throw new Error(`the manager did not become ready:\n${proc.output()}`);
}

/** Ends a process we started (SIGKILL unless told otherwise) and waits for it; a no-op when it has exited. */
export async function stopProcess(proc: { child: ChildProcess; exited: Promise<number | string> }, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | string> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
  return proc.exited;
}

export function isRunning(proc: { child: ChildProcess }): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}

/** The JSON log lines of a process's output (other lines are skipped). */
export function logLines(output: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    try {
      const parsed = JSON.parse(line) as unknown;
      if (parsed !== null && typeof parsed === 'object') lines.push(parsed as Record<string, unknown>);
    } catch {
      // not a log line
    }
  }
  return lines;
}
