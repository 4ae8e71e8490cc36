// Helpers for the worker's resilience, cron, health and process tests: a manager process on a
// fixed port (so it can be restarted where the worker expects it), `nebula worker` as a real
// process, an in-process worker whose log lines the test can read, and container snapshots.

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { WorkerConfig } from '../../src/config/worker.ts';
import { REDACT } from '../../src/log.ts';
import { createWorker } from '../../roles/worker/index.ts';
import { WorkerState } from '../../roles/worker/state.ts';
import { logLines, spawnManager, spawnNebula, type ManagerProcess } from './process.ts';
import { containersOf, engine, workerConfig, type TestWorker } from './worker.ts';

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** Starts `nebula manager` on this port and data dir; waits (bounded) until /readyz answers 200. */
export async function startManagerOn(port: number, dataDir: string, env: Record<string, string> = {}): Promise<ManagerProcess> {
  const proc = spawnManager(['--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], env);
  const url = `http://127.0.0.1:${port}`;
  let exitedEarly = false;
  void proc.exited.then(() => (exitedEarly = true));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !exitedEarly) {
    try {
      if ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200) return { ...proc, url };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  proc.child.kill('SIGKILL');
  throw new Error(`the manager did not become ready on port ${port}:\n${proc.output()}`);
}

/** `nebula worker <args>` as systemd would run it (a clean environment plus `env`). */
export function spawnWorkerProcess(args: string[], env: Record<string, string> = {}): Proc {
  return spawnNebula('worker', args, env);
}

export { isRunning, logLines, stopProcess } from './process.ts';

export interface LoggedWorker extends TestWorker {
  /** The worker's log lines so far (pino JSON, level info and up). */
  lines(): Record<string, unknown>[];
  /** Lines whose msg contains `text`. */
  logged(text: string): Record<string, unknown>[];
}

/** As startWorker (test/helpers/worker.ts), with the worker's log kept in memory for assertions. */
export async function startLoggedWorker(
  managerUrl: string,
  deviceGroup: string,
  options: { overrides?: Partial<WorkerConfig>; stateDir?: string } = {},
): Promise<LoggedWorker> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'nebula-worker-'));
  const config = workerConfig(managerUrl, deviceGroup, stateDir, options.overrides);
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = pino({ level: 'info', name: 'test-worker', redact: { paths: REDACT, censor: '[redacted]' } }, sink);
  const fatal: unknown[] = [];
  const state = WorkerState.open(stateDir);
  const worker = createWorker({ config, log, engine: await engine(), state, onFatal: (err) => fatal.push(err) });
  let stopped = false;
  const lines = () => logLines(text);
  return {
    worker,
    stateDir,
    fatal,
    lines,
    logged: (needle) => lines().filter((l) => String(l.msg ?? '').includes(needle)),
    async stop() {
      if (stopped) return;
      stopped = true;
      await worker.stop();
      state.close();
    },
  };
}

export interface Snapshot {
  id: string;
  name: string;
  startedAt: string;
  running: boolean;
}

/** The app's containers with their start times: equal snapshots mean nothing was restarted. */
export async function snapshot(app: string): Promise<Snapshot[]> {
  const e = await engine();
  const out: Snapshot[] = [];
  for (const c of await containersOf(app)) {
    const h = await e.health(c.id);
    out.push({ id: c.id, name: c.name, startedAt: h.startedAt, running: h.running });
  }
  return out;
}

/** Resolves after `ms`: only for the short windows in which a test checks that nothing happens. */
export function quietFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The process's exit code (or signal name) within `ms`, or a failure naming what it printed. */
export async function exitWithin(proc: Proc, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the process did not exit within ${ms} ms:\n${proc.output()}`)), ms);
  });
  try {
    return await Promise.race([proc.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
