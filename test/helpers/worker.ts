// Runs a real worker for a test: in-process, against the real Docker engine and a real
// manager, with its SQLite state in a temp dir. Cleans up the containers it made.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReportTransport } from '../../src/reports/transport.ts';
import type { WorkerConfig } from '../../src/config/worker.ts';
import { LABELS } from '../../src/diff/containers.ts';
import { createLogger } from '../../src/log.ts';
import { Engine, type EngineContainer } from '../../roles/worker/engine.ts';
import { createWorker, type Worker } from '../../roles/worker/index.ts';
import { WorkerState } from '../../roles/worker/state.ts';
import { ADMIN_TOKEN } from './manager.ts';

export const SOCKET = '/var/run/docker.sock';
export const REGISTRY = '127.0.0.1:5000';
export const WEB_1 = `${REGISTRY}/web:1`;
export const WEB_2 = `${REGISTRY}/web:2`;
export const WEB_UNHEALTHY = `${REGISTRY}/web:unhealthy`;
export const JOB_1 = `${REGISTRY}/job:1`;

let shared: Engine | undefined;

// State dirs made here are removed when the test process ends (tests reuse them across restarts).
const madeDirs: string[] = [];
process.once('exit', () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

/** The real engine; fails (never skips) when it is not running: `npm run services` starts it. */
export async function engine(): Promise<Engine> {
  if (!shared) {
    try {
      shared = (await Engine.connect(SOCKET)).engine;
    } catch (err) {
      throw new Error(`no Docker engine on ${SOCKET}: run \`npm run services\` first (${(err as Error).message})`);
    }
  }
  return shared;
}

export interface TestWorker {
  worker: Worker;
  stateDir: string;
  fatal: unknown[];
  /** Stops the loops only: containers keep running, like a killed worker. */
  stop(): Promise<void>;
}

export function workerConfig(managerUrl: string, deviceGroup: string, stateDir: string, overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    deviceGroup,
    managerUrl,
    auth: { token: ADMIN_TOKEN },
    requestTimeoutSeconds: 5,
    checkInSeconds: 1,
    longPollWaitSeconds: 5,
    registry: null,
    maxRestartWaitSeconds: 0,
    rollingSettleSeconds: 1,
    healthIntervalSeconds: 1,
    stateDir,
    dockerSocket: SOCKET,
    logLevel: 'silent',
    deviceName: 'test-device',
    reporting: { transport: 'none', onUpdateOnly: false, minIntervalSeconds: 0, spoolMax: 1000, failHard: true, kafka: null },
    ...overrides,
  };
}

export async function startWorker(
  managerUrl: string,
  deviceGroup: string,
  options: {
    overrides?: Partial<WorkerConfig>;
    stateDir?: string;
    engineGraceMs?: number;
    host?: { cpuCores: number; memoryMb: number };
    reportTransport?: ReportTransport;
  } = {},
): Promise<TestWorker> {
  let stateDir = options.stateDir;
  if (stateDir === undefined) {
    stateDir = mkdtempSync(join(tmpdir(), 'nebula-worker-'));
    madeDirs.push(stateDir);
  }
  const config = workerConfig(managerUrl, deviceGroup, stateDir, options.overrides);
  const fatal: unknown[] = [];
  const state = WorkerState.open(stateDir);
  const worker = createWorker({
    config,
    log: createLogger(process.env.NEBULA_TEST_LOG ?? 'silent', 'test-worker'),
    engine: await engine(),
    state,
    onFatal: (err) => fatal.push(err),
    ...(options.engineGraceMs !== undefined ? { engineGraceMs: options.engineGraceMs } : {}),
    ...(options.host ? { host: options.host } : {}),
    ...(options.reportTransport ? { reportTransport: options.reportTransport } : {}),
  });
  let stopped = false;
  return {
    worker,
    stateDir,
    fatal,
    async stop() {
      if (stopped) return;
      stopped = true;
      await worker.stop();
      state.close();
    },
  };
}

/** Polls `probe` until it returns a value other than undefined/false, within `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The app's containers on the engine, sorted by name. */
export async function containersOf(app: string): Promise<EngineContainer[]> {
  const all = await (await engine()).listNebula('app');
  return all.filter((c) => c.labels[LABELS.appName] === app).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

export async function cronContainersOf(job: string): Promise<EngineContainer[]> {
  const all = await (await engine()).listNebula('cron_job');
  return all.filter((c) => c.labels[LABELS.cronJobName] === job);
}

/** Removes every container of these apps and cron jobs (test cleanup). */
export async function removeContainers(names: string[]): Promise<void> {
  const e = await engine();
  for (const type of ['app', 'cron_job'] as const) {
    for (const c of await e.listNebula(type)) {
      const name = c.labels[LABELS.appName] ?? c.labels[LABELS.cronJobName] ?? '';
      if (names.includes(name)) await e.remove(c.id);
    }
  }
}

/** GET http://127.0.0.1:<port><path> as text, or undefined when nothing answers. */
export async function httpText(port: number, path = '/version'): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? (await response.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
