// More helpers for the worker's integration tests: a lock on the engine, the docker CLI
// (async, so the in-process worker keeps running while it works), `docker inspect`, runs of
// free consecutive ports, and one-line app / device-group calls against the manager.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { call, startManager, type TestManager } from './manager.ts';
import type { TlsKeyPair } from '../../roles/manager/server.ts';
import type { ManagerConfig } from '../../src/config/manager.ts';
import { containersOf, engine, httpText, removeContainers } from './worker.ts';

const API = '/api/v2';

const LOCK = join(tmpdir(), 'nebula-worker-engine.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the engine for this test file, across processes. A worker owns every
 * orchestrator=nebula container on its engine (it removes the ones its group does not
 * run, and exited cron containers it did not schedule), so two test files whose workers
 * overlap in time remove each other's containers. Resolves with the release function;
 * a lock left by a dead process is taken over.
 */
export async function lockEngine(timeoutMs = 10 * 60_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(LOCK, { recursive: true, force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
    } catch {
      // being written, or half-made by a process that died: judged by its age below
    }
    const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if ((holder > 0 && !alive(holder)) || (holder === 0 && age > 5000)) {
      rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`the engine stayed locked by pid ${holder} (${LOCK}) for ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs the docker CLI; resolves with its trimmed stdout, rejects with its stderr. */
export function docker(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout).trim());
    });
  });
}

/** The subset of `docker inspect <container>` the tests look at. */
export interface Inspected {
  Id: string;
  Name: string;
  Config: { Env: string[] | null; Labels: Record<string, string> | null; Image: string };
  State: { Running: boolean; Status: string; StartedAt: string };
  HostConfig: {
    Binds: string[] | null;
    Devices: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
    Privileged: boolean;
    NetworkMode: string;
    RestartPolicy: { Name: string };
    PortBindings: Record<string, { HostIp: string; HostPort: string }[]> | null;
  };
  NetworkSettings: { Networks: Record<string, unknown> };
}

export async function inspect(idOrName: string): Promise<Inspected> {
  const [doc] = JSON.parse(await docker('inspect', '--type', 'container', idOrName)) as Inspected[];
  assert.ok(doc, `docker inspect ${idOrName} returned nothing`);
  return doc;
}

export async function imageExists(ref: string): Promise<boolean> {
  return docker('image', 'inspect', ref).then(
    () => true,
    () => false,
  );
}

/** `docker rm -f` (SIGKILL: no stop grace) every container of these apps; never throws. */
export async function killContainers(apps: string[]): Promise<void> {
  for (const app of apps) {
    for (const c of await containersOf(app)) await docker('rm', '-f', c.id).catch(() => undefined);
  }
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.once('listening', () => resolve(true));
    server.listen(port, '0.0.0.0');
  });
  if (!listening) return false;
  await new Promise((resolve) => server.close(resolve));
  return true;
}

/** A port p such that p .. p + count − 1 are all free now (container n is published on p + n − 1). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no run of ${count} free ports found`);
}

/** Answers of GET /version on each port (undefined where nothing answers). */
export function versions(ports: number[]): Promise<(string | undefined)[]> {
  return Promise.all(ports.map((p) => httpText(p)));
}

/** True when every port answers `expected`. */
export async function allServe(ports: number[], expected: string): Promise<boolean> {
  return (await versions(ports)).every((v) => v === expected);
}

export function range(base: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => base + i);
}

async function expectStatus(url: string, method: string, path: string, status: number, body?: unknown): Promise<any> {
  const reply = await call(url, method, path, body === undefined ? {} : { body });
  assert.equal(reply.status, status, `${method} ${path}: expected ${status}, got ${reply.status} ${reply.text}`);
  return reply.body;
}

export const api = {
  createApp: (url: string, name: string, body: Record<string, unknown>) => expectStatus(url, 'POST', `${API}/apps/${name}`, 200, body),
  updateApp: (url: string, name: string, body: Record<string, unknown>) => expectStatus(url, 'PUT', `${API}/apps/${name}/update`, 202, body),
  appAction: (url: string, name: string, action: 'start' | 'stop' | 'restart') => expectStatus(url, 'POST', `${API}/apps/${name}/${action}`, 202),
  deleteApp: (url: string, name: string) => expectStatus(url, 'DELETE', `${API}/apps/${name}`, 200),
  createGroup: (url: string, name: string, apps: string[]) => expectStatus(url, 'POST', `${API}/device_groups/${name}`, 200, { apps }),
  updateGroup: (url: string, name: string, apps: string[]) => expectStatus(url, 'PUT', `${API}/device_groups/${name}/update`, 202, { apps }),
  pruneGroup: (url: string, name: string) => expectStatus(url, 'POST', `${API}/device_groups/${name}/prune`, 202),
};

/** Runs `fn` with process.env.DOCKER_CONFIG set to `dir`, restoring the previous value after. */
export async function withDockerConfig<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const previous = process.env.DOCKER_CONFIG;
  process.env.DOCKER_CONFIG = dir;
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = previous;
  }
}

/**
 * Closes a test manager without waiting ~70 s: a worker that stops aborts its held long-poll,
 * the client keeps that socket, and the server counts it as active (not idle), so a plain
 * close waits for Node's headers timeout. Every worker is stopped when this runs.
 */
export async function closeManager(m: { manager: { app: { server: { closeAllConnections(): void } } }; close(): Promise<void> }): Promise<void> {
  m.manager.app.server.closeAllConnections();
  const closing = m.close();
  m.manager.app.server.closeAllConnections();
  await closing;
}

const deferred = new WeakMap<object, (() => unknown)[]>();

/**
 * Registers a cleanup for test `t`; cleanups run last-registered first (t.after runs in
 * registration order), so a worker registered after its apps is stopped before their
 * containers are removed, and cannot re-create them meanwhile.
 */
export function defer(t: { after(fn: () => unknown): void }, fn: () => unknown): void {
  let stack = deferred.get(t);
  if (!stack) {
    const fresh: (() => unknown)[] = [];
    deferred.set(t, fresh);
    t.after(async () => {
      for (const cleanup of fresh.reverse()) await cleanup();
    });
    stack = fresh;
  }
  stack.push(fn);
}

export interface WorkerSuite {
  /** App and cron job names whose containers are removed when the file ends. */
  made: string[];
  /** Anything else to undo when the file ends (temp dirs, foreign containers), after the containers go. */
  cleanups: (() => unknown)[];
}

/**
 * The set-up every worker test file shares: the engine checked (a file fails, never skips,
 * without Docker) and locked for this file, one real manager, and at the end everything the
 * tests made removed. `ready` receives the manager once it listens.
 */
/** options.tls: the manager serves HTTPS with this key pair; options.config: its settings that differ from the tests'. */
export function workerSuite(ready: (manager: TestManager) => void, options: { tls?: TlsKeyPair; config?: Partial<ManagerConfig> } = {}): WorkerSuite {
  const suite: WorkerSuite = { made: [], cleanups: [] };
  let manager: TestManager | undefined;
  let release = () => {};
  before(async () => {
    await engine();
    release = await lockEngine();
    manager = await startManager(options.config ?? {}, options.tls ? { tls: options.tls } : {});
    ready(manager);
  });
  after(async () => {
    try {
      await removeContainers(suite.made);
      for (const cleanup of suite.cleanups) await cleanup();
    } finally {
      if (manager) await manager.close();
      release();
    }
  });
  return suite;
}
