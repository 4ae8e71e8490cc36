// Reporter ingest (issue 7, f): reports/s from Kafka into each store, against a bare batched
// insert of the same documents into the same kind of store — the practical limit.
//
// For each store, M reports in the exact form a worker sends them (KafkaReportTransport:
// key = hostname, value = ASCII JSON, gzip, acks=all) are produced to a fresh topic BEFORE
// the reporter starts, so what is timed is ingestion, not the producer. Then `nebula
// reporter` (from source, pinned to CPU 0) drains the topic into a fresh store, and the bare
// insert (this file run as a script, pinned to CPU 0) writes the same message values into a
// fresh store of the same kind with the same tables and indexes, in batches of the
// reporter's batch size.
//
// Timing, the same way for both sides of a row, from the first stored batch to the last:
// - SQLite: this process (pinned to CPU 1 meanwhile) polls `SELECT count(*) FROM reports` of
//   the store file every POLL_MS; rate = (M - first count seen) / (time all M seen - time
//   first count seen).
// - MongoDB wire (FerretDB): FerretDB counts by scanning the collection (measured here:
//   countDocuments ~4.4 s and collStats ~0.25 s at 20,000 reports), so polling a count
//   would load the very server being measured. Instead each writer's line after every
//   acknowledged batch write is timed (the reporter's `stored a batch of reports` debug line,
//   the bare insert's own line); the rate is computed the same way. A countDocuments at the
//   end checks that all M are there.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execFileSync } from 'node:child_process';
import { Admin } from '@platformatic/kafka';
import Database from 'better-sqlite3';
import { MongoClient, ObjectId } from 'mongodb';
import type { KafkaSettings } from '../../src/config/kafka.ts';
import { REPORTER_OPTIONS } from '../../src/config/reporter.ts';
import { newApp } from '../../src/model/app.ts';
import type { Report } from '../../src/model/report.ts';
import { asciiJson, ensureTopic, KafkaReportTransport } from '../../src/reports/kafka.ts';
import { ensureSchema } from '../../src/store/mongo/schema.ts';
import { toStored } from '../../src/store/mongo/keys.ts';
import { migrate } from '../../src/store/sqlite/migrations.ts';
import { ROOT, sleep, verdict, type Bench, type Row } from './lib.ts';

const BROKER = process.env.BENCH_KAFKA ?? '127.0.0.1:9092';
const MONGO_URL = process.env.NEBULA_TEST_MONGO_URL ?? 'mongodb://127.0.0.1:27017/';
/** Reports per SQLite run (BENCH_REPORTS). */
const M_SQLITE = Number(process.env.BENCH_REPORTS ?? 50_000);
/**
 * Reports per MongoDB run (BENCH_MONGO_REPORTS). On FerretDB 1.24 (SQLite backend) each update
 * of a device's entry costs ~20–100 ms (measured here; it grows with the collection and keeps
 * FerretDB's CPU busy), so a batch from 500 devices takes 10–60 s. 2,000 reports (4 batches)
 * keep the run to a few minutes.
 */
const M_MONGO = Number(process.env.BENCH_MONGO_REPORTS ?? 2000);
/** The reporter's default batch size (--batch-size), which the bare insert uses too. */
const BATCH = Number(REPORTER_OPTIONS.find((o) => o.key === 'batch_size')?.default ?? 500);
/** Devices the reports come from (each report moves its device's index entry). */
const DEVICES = 1000;
const PARTITIONS = 6;
const POLL_MS = 10;
/** Longest one measured run may take before the bench gives up (it cannot measure). */
const RUN_TIMEOUT_MS = 300_000;

// ---- the documents -----------------------------------------------------------------------

/** A one-shot Docker stats object as the engine returns it (captured from Docker 2x, cgroup v1 fields). */
function dockerStats(name: string, id: string, n: number): Record<string, unknown> {
  return {
    read: new Date(1_700_000_000_000 + n * 1000).toISOString(),
    preread: '0001-01-01T00:00:00Z',
    pids_stats: { current: 2 + (n % 5) },
    blkio_stats: { io_service_bytes_recursive: [], io_serviced_recursive: [], io_queue_recursive: [], io_service_time_recursive: [], io_wait_time_recursive: [], io_merged_recursive: [], io_time_recursive: [], sectors_recursive: [] },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: { cpu_usage: { total_usage: 38_512_933 + n, percpu_usage: [30_928_431 + n, 7_584_502], usage_in_kernelmode: 0, usage_in_usermode: 30_000_000 }, system_cpu_usage: 72_810_500_000_000 + n * 1_000_000, online_cpus: 2, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
    precpu_stats: { cpu_usage: { total_usage: 38_000_000 + n, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
    memory_stats: {
      usage: 1_134_592 + n,
      max_usage: 3_563_520,
      stats: { active_anon: 8192, active_file: 389_120, cache: 389_120, dirty: 0, hierarchical_memory_limit: 9_223_372_036_854_771_712, hierarchical_memsw_limit: 9_223_372_036_854_771_712, inactive_anon: 106_496, inactive_file: 0, mapped_file: 286_720, pgfault: 1102 + n, pgmajfault: 4, pgpgin: 869, pgpgout: 746, rss: 114_688, rss_huge: 0, total_active_anon: 8192, total_active_file: 389_120, total_cache: 389_120, total_dirty: 0, total_inactive_anon: 106_496, total_inactive_file: 0, total_mapped_file: 286_720, total_pgfault: 1102 + n, total_pgmajfault: 4, total_pgpgin: 869, total_pgpgout: 746, total_rss: 114_688, total_rss_huge: 0, total_unevictable: 0, total_writeback: 0, unevictable: 0, writeback: 0 },
      limit: 25_276_510_208,
    },
    name: `/${name}`,
    id,
    networks: { eth0: { rx_bytes: 646 + n, rx_packets: 7, rx_errors: 0, rx_dropped: 0, tx_bytes: 0, tx_packets: 0, tx_errors: 0, tx_dropped: 0 } },
  };
}

const APPS = ['web', 'metrics', 'agent'];
const INFO = {
  apps: APPS.map((name, i) => ({
    ...newApp(name, {
      docker_image: `registry.example.com/${name}:1.${i}`,
      starting_ports: [{ [8080 + i]: '80' }],
      containers_per: { server: 1 },
      env_vars: { REGION: 'eu', LOG_LEVEL: 'info' },
      running: true,
      networks: ['nebula', 'bridge'],
      volumes: [`/data/${name}:/data`],
      devices: [],
      privileged: false,
      rolling_restart: false,
    }),
    app_id: 3 + i,
  })),
  apps_list: APPS,
  prune_id: 2,
  cron_jobs: [],
  cron_jobs_list: [],
  device_group_id: 7,
};

/** Report number i, as roles/worker/report.ts collects it: a device of a group of three apps. */
function benchReport(i: number): Report {
  const device = i % DEVICES;
  const hostname = `pos-eu-${String(device).padStart(5, '0')}`;
  return {
    memory_usage: { total: 3906, used: 1200 + (i % 300), free: 2000, available: 2600 },
    root_disk_usage: { total: 29_000, used: 8000 + (i % 50), free: 21_000 },
    cpu_usage: { cores: 4, used_percent: (i % 1000) / 10 },
    apps_containers: APPS.map((app, k) => dockerStats(`${app}-1`, `${device.toString(16).padStart(8, '0')}${k}`.padEnd(64, 'a'), i)),
    cron_jobs_containers: [],
    current_device_group_config: { status_code: 200, reply: INFO },
    device_group: 'pos-eu',
    // A device's reports in order, one check-in apart.
    report_creation_time: 1_700_000_000 + Math.floor(i / DEVICES) * 30,
    hostname,
    updated: i < DEVICES,
    report_id: randomUUID(),
    worker_version: '0.1.0',
    applied: { device_group_id: 7, prune_id: 2, apps: { web: 3, metrics: 4, agent: 5 }, cron_jobs: {} },
    desired: { device_group_id: 7, prune_id: 2, apps: { web: 3, metrics: 4, agent: 5 }, cron_jobs: {} },
    apps_state: Object.fromEntries(APPS.map((app, k) => [app, { state: 'running', app_id: 3 + k, running: 1, desired: 1 }])),
    last_error: null,
    spool_dropped: 0,
  } as Report;
}

// ---- Kafka -------------------------------------------------------------------------------

const settingsOf = (topic: string): KafkaSettings => ({ brokers: [BROKER], topic, securityProtocol: 'PLAINTEXT', sasl: null, tls: null });

/**
 * M reports to a fresh topic through the worker's own transport (a few devices' spools
 * draining side by side); the message values are also written to `valuesFile`, one a line,
 * for the bare insert. Returns the mean value size.
 */
async function produce(topic: string, m: number, valuesFile: string): Promise<number> {
  const settings = settingsOf(topic);
  await ensureTopic(settings, PARTITIONS, 'nebula-bench-admin');
  const reports = Array.from({ length: m }, (_, i) => benchReport(i));
  const values = reports.map((r) => asciiJson(r));
  writeFileSync(valuesFile, values.join('\n') + '\n');
  const lanes = 4;
  const chunk = 250;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const transport = new KafkaReportTransport(settings, { clientId: `nebula-bench-worker-${lane}`, sendTimeoutMs: 60_000 });
      try {
        for (let start = lane * chunk; start < m; start += lanes * chunk) await transport.send(reports.slice(start, start + chunk));
      } finally {
        await transport.close();
      }
    }),
  );
  return values.reduce((sum, v) => sum + v.length, 0) / m;
}

async function deleteTopics(topics: string[]): Promise<void> {
  const admin = new Admin({ clientId: 'nebula-bench-admin', bootstrapBrokers: [BROKER], retries: 2, retryDelay: 500 });
  try {
    await admin.deleteTopics({ topics });
  } catch {
    // best effort: a topic left behind only takes disk
  } finally {
    await admin.close().catch(() => undefined);
  }
}

// ---- processes -----------------------------------------------------------------------------

interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Calls `fn` with each JSON line the process prints on stdout (and the time it arrived). */
  onLine(fn: (line: Record<string, unknown>) => void): void;
  stop(): Promise<void>;
}

function pinned(cpu: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn('taskset', ['-c', cpu, process.execPath, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners: ((line: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    out = (out + text + '\n').slice(-20_000);
    if (!text.startsWith('{')) return;
    try {
      const line = JSON.parse(text) as Record<string, unknown>;
      for (const fn of listeners) fn(line);
    } catch {
      // not a JSON line
    }
  });
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  return {
    child,
    output: () => out,
    onLine: (fn) => listeners.push(fn),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await once(child, 'exit');
      clearTimeout(timer);
    },
  };
}

const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

/** `nebula reporter` from source, pinned to CPU 0, on a fresh group (it reads the topic from the start). */
function startReporter(topic: string, store: Record<string, string>): Proc {
  return pinned('0', ['src/main.ts', 'reporter'], {
    KAFKA_BOOTSTRAP_SERVERS: BROKER,
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: `bench-${topic}`,
    KAFKA_AUTO_OFFSET_RESET: 'earliest',
    // debug: one `stored a batch of reports` line per batch (what the MongoDB row is timed by).
    NEBULA_LOG_LEVEL: 'debug',
    ...store,
  });
}

/** The bare insert: this file as a script, pinned to CPU 0. */
function startBare(kind: 'sqlite' | 'mongo', valuesFile: string, target: string): Proc {
  return pinned('0', ['test/bench/reporter.bench.ts', kind, valuesFile, target, String(BATCH)], {});
}

// ---- timing --------------------------------------------------------------------------------

interface Span {
  /** Reports stored at the first observation, and when. */
  firstCount: number;
  firstAt: number;
  /** When all M were seen stored. */
  doneAt: number;
}

const rateOf = (m: number, s: Span) => (m - s.firstCount) / ((s.doneAt - s.firstAt) / 1000);

/** Polls count(*) of the SQLite file until it holds m reports. */
async function pollSqlite(file: string, m: number, proc: Proc): Promise<Span> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  let db: Database.Database | null = null;
  let first: { count: number; at: number } | null = null;
  try {
    while (Date.now() < deadline) {
      if (!alive(proc)) throw new Error(`the writer exited (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.output().slice(-4000)}`);
      if (db === null && existsSync(file)) {
        try {
          db = new Database(file, { readonly: true, fileMustExist: true });
          db.pragma('busy_timeout = 1000');
        } catch {
          db = null;
        }
      }
      let count = 0;
      if (db !== null) {
        try {
          count = (db.prepare('SELECT count(*) FROM reports').pluck().get() as number) ?? 0;
        } catch {
          // no table yet (the store is still migrating)
        }
      }
      const at = performance.now();
      if (count > 0 && first === null) first = { count, at };
      if (count >= m && first !== null) return { firstCount: first.count, firstAt: first.at, doneAt: at };
      await sleep(POLL_MS);
    }
  } finally {
    db?.close();
  }
  throw new Error(`the SQLite store did not reach ${m} reports within ${RUN_TIMEOUT_MS / 1000} s:\n${proc.output().slice(-4000)}`);
}

/**
 * Times the writer's per-batch lines (`inserted` reports, `time` in ms since the epoch) until
 * their sum reaches m.
 */
async function watchBatches(proc: Proc, m: number, isBatch: (line: Record<string, unknown>) => boolean): Promise<Span> {
  let stored = 0;
  let first: { count: number; at: number } | null = null;
  let resolveDone: (s: Span) => void;
  const done = new Promise<Span>((resolve) => (resolveDone = resolve));
  proc.onLine((line) => {
    if (!isBatch(line)) return;
    stored += Number(line.inserted ?? 0);
    const at = Number(line.time);
    if (first === null) first = { count: stored, at };
    if (stored >= m) resolveDone({ firstCount: first.count, firstAt: first.at, doneAt: at });
  });
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const span = await Promise.race([done, sleep(200).then(() => null)]);
    if (span !== null) return span;
    if (!alive(proc)) throw new Error(`the writer exited (${proc.child.exitCode ?? proc.child.signalCode}) after ${stored} reports:\n${proc.output().slice(-4000)}`);
  }
  throw new Error(`${stored} of ${m} reports stored within ${RUN_TIMEOUT_MS / 1000} s:\n${proc.output().slice(-4000)}`);
}

/** This process on CPU 1 while it measures (the writers have CPU 0); restores the mask after. */
async function onCpu1<T>(fn: () => Promise<T>): Promise<T> {
  if (cpus().length < 2) return fn();
  const mask = /:\s*(\S+)\s*$/.exec(execFileSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8' }))?.[1] ?? `0-${cpus().length - 1}`;
  execFileSync('taskset', ['-a', '-pc', '1', String(process.pid)], { stdio: 'ignore' });
  try {
    return await fn();
  } finally {
    execFileSync('taskset', ['-a', '-pc', mask, String(process.pid)], { stdio: 'ignore' });
  }
}

async function mongoCount(db: string, collection: string): Promise<number> {
  const client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 5000 });
  try {
    return await client.db(db).collection(collection).countDocuments({});
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function dropMongo(db: string): Promise<void> {
  const client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.db(db).dropDatabase();
  } catch {
    // best effort
  } finally {
    await client.close().catch(() => undefined);
  }
}

const isReporterBatch = (l: Record<string, unknown>) => l.msg === 'stored a batch of reports' || String(l.msg ?? '').startsWith('stored a batch of reports ');
const isBareBatch = (l: Record<string, unknown>) => l.msg === 'bare batch';

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB reports`;
const fmt = (rate: number) => `${Math.round(rate).toLocaleString('en-US')} reports/s`;

interface Measured {
  nebula: number;
  bare: number;
  m: number;
  extra: string;
}

async function measureSqlite(topic: string, m: number, valuesFile: string): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-bench-reporter-'));
  const bareDir = mkdtempSync(join(tmpdir(), 'nebula-bench-bare-'));
  try {
    const reporter = startReporter(topic, { NEBULA_DATA_DIR: dir });
    let nebula: Span;
    try {
      nebula = await onCpu1(() => pollSqlite(join(dir, 'nebula.db'), m, reporter));
    } finally {
      await reporter.stop();
    }
    const bareFile = join(bareDir, 'bare.db');
    const bare = startBare('sqlite', valuesFile, bareFile);
    let reference: Span;
    try {
      reference = await onCpu1(() => pollSqlite(bareFile, m, bare));
      await once(bare.child, 'exit');
    } finally {
      await bare.stop();
    }
    const db = new Database(join(dir, 'nebula.db'), { readonly: true });
    const [stored, devices] = [db.prepare('SELECT count(*) FROM reports').pluck().get() as number, db.prepare('SELECT count(*) FROM devices').pluck().get() as number];
    db.close();
    if (stored !== m) throw new Error(`the reporter stored ${stored} reports, not ${m}`);
    return { nebula: rateOf(m, nebula), bare: rateOf(m, reference), m, extra: `${devices} devices indexed` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(bareDir, { recursive: true, force: true });
  }
}

async function measureMongo(topic: string, m: number, valuesFile: string): Promise<Measured> {
  const tag = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const nebulaDb = `bench_reporter_${tag}`;
  const bareDb = `bench_bare_${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'nebula-bench-reporter-'));
  try {
    const reporter = startReporter(topic, { NEBULA_DATA_DIR: dir, MONGO_URL, SCHEMA_NAME: nebulaDb });
    let nebula: Span;
    try {
      nebula = await onCpu1(() => watchBatches(reporter, m, isReporterBatch));
    } finally {
      await reporter.stop();
    }
    const bare = startBare('mongo', valuesFile, `${MONGO_URL.replace(/\/?$/, '/')}${bareDb}`);
    let reference: Span;
    try {
      reference = await onCpu1(() => watchBatches(bare, m, isBareBatch));
      await once(bare.child, 'exit');
    } finally {
      await bare.stop();
    }
    const stored = await mongoCount(nebulaDb, 'nebula_reports');
    if (stored !== m) throw new Error(`the reporter stored ${stored} reports, not ${m}`);
    return { nebula: rateOf(m, nebula), bare: rateOf(m, reference), m, extra: `${await mongoCount(nebulaDb, 'nebula_devices')} devices indexed` };
  } finally {
    await dropMongo(nebulaDb);
    await dropMongo(bareDb);
    rmSync(dir, { recursive: true, force: true });
  }
}

function row(figure: string, r: Measured): Row {
  const ratio = r.nebula / r.bare;
  return {
    figure,
    nebula: `${fmt(r.nebula)} (${r.m.toLocaleString('en-US')} reports, ${r.extra})`,
    reference: `bare batched insert ${fmt(r.bare)}`,
    ratio: ratio.toFixed(2),
    target: '>= 0.7',
    verdict: verdict(ratio, 0.7),
  };
}

export const bench: Bench = {
  name: 'reporter',
  order: 6,
  method:
    `M reports as a worker sends them (KafkaReportTransport: key hostname, ASCII JSON, gzip; ${DEVICES} devices of a three-app group, each report ~7 KB with three Docker stats objects) are produced to a fresh ${PARTITIONS}-partition topic before the reporter starts (M = ${M_SQLITE} for SQLite, BENCH_REPORTS; ${M_MONGO} for MongoDB, BENCH_MONGO_REPORTS). ` +
    `\`nebula reporter\` from source (batch size ${BATCH}, a fresh group and store) is pinned to CPU 0; the reference, a bare batched insert of the same message values into a fresh store of the same kind with the same tables and indexes ` +
    `(SQLite: better-sqlite3, the store's migrations and pragmas, a prepared INSERT in transactions of ${BATCH}; MongoDB: the driver's insertMany of ${BATCH} into a fresh database with the store's indexes), is a process pinned to CPU 0 too. ` +
    `The reporter also gunzips, parses and checks each message, dedups on report_id, moves each device's index entry and commits offsets; the bare insert does none of that. ` +
    `Rate = reports stored between the first stored batch and the last / that time. SQLite: this process (on CPU 1) polls count(*) every ${POLL_MS} ms. MongoDB: FerretDB counts by scanning, so each writer's line after each acknowledged batch is timed instead, and a count checks all M are stored. ` +
    `FerretDB (the shared MongoDB-wire server, SQLite backend) is not pinned and takes CPU on either core; Kafka's broker likewise.`,
  async run(): Promise<Row[]> {
    const tag = `${Date.now().toString(36)}-${process.pid}`;
    const topics = [`bench-reporter-sqlite-${tag}`, `bench-reporter-mongo-${tag}`];
    const dir = mkdtempSync(join(tmpdir(), 'nebula-bench-values-'));
    try {
      const sqliteValues = join(dir, 'sqlite.jsonl');
      const mongoValues = join(dir, 'mongo.jsonl');
      // A count of 0 leaves that store out (to look at one store alone).
      const rows: Row[] = [];
      if (M_SQLITE > 0) {
        const size = await produce(topics[0]!, M_SQLITE, sqliteValues);
        rows.push(row(`f. reporter ingest, SQLite (${kib(size)})`, await measureSqlite(topics[0]!, M_SQLITE, sqliteValues)));
      }
      if (M_MONGO > 0) {
        const size = await produce(topics[1]!, M_MONGO, mongoValues);
        rows.push(row(`f. reporter ingest, MongoDB (FerretDB) (${kib(size)})`, await measureMongo(topics[1]!, M_MONGO, mongoValues)));
      }
      return rows;
    } finally {
      await deleteTopics(topics);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

// ---- the bare insert, when this file runs as a script --------------------------------------
// node test/bench/reporter.bench.ts sqlite|mongo <values.jsonl> <db file | mongodb url/db> <batch>
// Reads and prepares every document first (untimed), then inserts them in batches, printing
// one JSON line per acknowledged batch: {"msg":"bare batch","inserted":n,"time":ms}.

async function readValues(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const line of createInterface({ input: createReadStream(file) })) if (line.length > 0) out.push(line);
  return out;
}

const say = (inserted: number) => process.stdout.write(`${JSON.stringify({ msg: 'bare batch', inserted, time: Date.now() })}\n`);

async function bareSqlite(values: string[], file: string, batch: number): Promise<void> {
  const db = new Database(file);
  // As the store opens its database (src/store/sqlite/index.ts), with its migrations.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db);
  const insert = db.prepare('INSERT INTO reports (inserted_at, device_group, hostname, report_creation_time, updated, report_id, doc) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const rows = values.map((doc) => {
    const r = JSON.parse(doc) as Report;
    return [r.device_group, r.hostname, r.report_creation_time, Number(r.updated), r.report_id, doc] as const;
  });
  const write = db.transaction((chunk: (typeof rows)[number][], at: number) => {
    for (const [group, host, time, updated, id, doc] of chunk) insert.run(at, group, host, time, updated, id, doc);
  });
  for (let i = 0; i < rows.length; i += batch) {
    const chunk = rows.slice(i, i + batch);
    write.immediate(chunk, Date.now());
    say(chunk.length);
  }
  db.close();
}

async function bareMongo(values: string[], url: string, batch: number): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
  try {
    const db = client.db();
    await ensureSchema(db, db, 7 * 24 * 3600);
    const collection = db.collection('nebula_reports');
    const now = new Date();
    const docs = values.map((v) => ({ _id: new ObjectId(), ...toStored(JSON.parse(v) as Record<string, unknown>), report_insert_date: now }));
    for (let i = 0; i < docs.length; i += batch) {
      const chunk = docs.slice(i, i + batch);
      await collection.insertMany(chunk, { ordered: true });
      say(chunk.length);
    }
  } finally {
    await client.close();
  }
}

if (import.meta.main) {
  const [kind, valuesFile, target, batch] = process.argv.slice(2);
  const values = await readValues(valuesFile!);
  if (kind === 'sqlite') await bareSqlite(values, target!, Number(batch));
  else if (kind === 'mongo') await bareMongo(values, target!, Number(batch));
  else throw new Error(`usage: reporter.bench.ts sqlite|mongo <values.jsonl> <target> <batch>`);
}
