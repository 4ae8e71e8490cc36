// Helpers for the tests that need a MongoDB-wire server: the shared FerretDB of
// test/services/ferretdb.sh (127.0.0.1:27017), unique database names per test, and a private
// server of its own (the same wrapper binary) that a test may kill and restart to simulate
// store outages without disturbing the other suites.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { ROOT, freePort } from './ports.ts';

// No import of ./process.ts: it (through ./store.ts) imports this module.

export const MONGO_URL = process.env.NEBULA_TEST_MONGO_URL ?? 'mongodb://127.0.0.1:27017/';

/** The wrapper binary test/services/ferretdb.sh builds (FerretDB v1.24.2, SQLite handler). */
export const FERRETDB_BIN = join(ROOT, '.cache', 'ferretdb', 'nebula-ferretdb');

async function ping(url: string, timeoutMs: number): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * Fails (never skips) when no server answers a ping: the suites need the real one, which
 * `npm run services` (test/services/ferretdb.sh) starts.
 */
export async function requireMongo(url: string = MONGO_URL, timeoutMs = 3000): Promise<void> {
  try {
    await ping(url, timeoutMs);
  } catch (err) {
    throw new Error(`no MongoDB-wire server at ${url}: run \`npm run services\` (test/services/ferretdb.sh): ${(err as Error).message}`);
  }
}

const MAX_DB_NAME = 38;
let dbCounter = 0;

/**
 * A database name no other test (or earlier run) uses: letters, digits and `_` only, at most
 * 38 characters (FerretDB's SQLite handler keeps one file per database).
 */
export function uniqueDbName(prefix = 't'): string {
  dbCounter += 1;
  const suffix = `_${Date.now().toString(36)}${process.pid.toString(36)}${dbCounter.toString(36)}${randomBytes(3).toString('hex')}`;
  const clean = prefix.replace(/[^A-Za-z0-9_]/g, '_').slice(0, Math.max(MAX_DB_NAME - suffix.length, 1)) || 't';
  return (clean + suffix).slice(0, MAX_DB_NAME);
}

/** Drops the database (a no-op when it does not exist). */
export async function dropDb(url: string, name: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.db(name).dropDatabase();
  } finally {
    await client.close().catch(() => undefined);
  }
}

export interface PrivateMongo {
  /** mongodb://127.0.0.1:<port>/ */
  readonly url: string;
  readonly port: number;
  /** Its SQLite files; kept across stop/kill/restart, removed by close(). */
  readonly dataDir: string;
  /** SIGTERM (clean shutdown); resolves once the process is gone. A no-op when it is not running. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); resolves once the process is gone. A no-op when it is not running. */
  kill(): Promise<void>;
  /** Starts it again (killing it first if it runs) on the same port and data dir; resolves once it answers a ping. */
  restart(): Promise<void>;
  /** kill() and remove the data dir. */
  close(): Promise<void>;
  /** The output of its last (re)start (only errors: it runs with --log-level error). */
  output(): string;
}

const STARTUP_TIMEOUT_MS = 20_000;


interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Spawns the wrapper and waits until it answers a ping; rejects (with its output) if it exits first. */
async function launch(port: number, dataDir: string): Promise<Running> {
  const child = spawn(FERRETDB_BIN, ['--listen-addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'error'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test process that ends without stopping its servers must not leave them behind.
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  const exited = once(child, 'exit').then(() => {
    live.delete(child);
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `mongodb://127.0.0.1:${port}/`;
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last: unknown;
  for (;;) {
    if (gone) throw new Error(`nebula-ferretdb on 127.0.0.1:${port} exited during startup:\n${out.slice(-3000)}`);
    // The wrapper binds its port before printing this line: only then is a ping worth trying.
    if (out.includes('nebula-ferretdb: listening on')) {
      try {
        await ping(url, 1000);
        return { child, exited, output: () => out };
      } catch (err) {
        last = err;
      }
    }
    if (Date.now() >= deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`nebula-ferretdb on 127.0.0.1:${port} did not answer a ping within ${STARTUP_TIMEOUT_MS} ms${last ? ` (${(last as Error).message})` : ''}:\n${out.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function signalAndWait(running: Running | null, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (!running) return;
  const { child, exited } = running;
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A FerretDB of its own (the wrapper binary of test/services/ferretdb.sh) on a free loopback
 * port with its data in a temp dir: killing it disturbs no other suite. Starts in well under a
 * second. Call close() when done (e.g. in `after`).
 */
export async function startPrivateMongo(): Promise<PrivateMongo> {
  if (!existsSync(FERRETDB_BIN)) throw new Error(`${FERRETDB_BIN} is not built: run \`npm run services\` (test/services/ferretdb.sh)`);
  const dataDir = mkdtempSync(join(tmpdir(), 'nebula-ferretdb-private-'));
  // The port is picked free, then bound by another process: if someone took it meanwhile, try
  // again with a new one.
  let running: Running | null = null;
  let output = () => '';
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      running = await launch(port, dataDir);
      output = running.output;
      break;
    } catch (err) {
      if (attempt >= 5 || !/address already in use/i.test((err as Error).message)) {
        rmSync(dataDir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const server: PrivateMongo = {
    url: `mongodb://127.0.0.1:${port}/`,
    port,
    dataDir,
    async stop() {
      const r = running;
      running = null;
      await signalAndWait(r, 'SIGTERM');
    },
    async kill() {
      const r = running;
      running = null;
      await signalAndWait(r, 'SIGKILL');
    },
    async restart() {
      await server.kill();
      running = await launch(port, dataDir);
      output = running.output;
    },
    async close() {
      await server.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
    output() {
      return output();
    },
  };
  return server;
}
