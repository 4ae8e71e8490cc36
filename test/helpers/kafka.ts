// Helpers for the tests that need Kafka: the shared test broker (test/services/kafka.sh,
// 127.0.0.1:9092), unique topics and groups per test file, reports produced through the
// real KafkaReportTransport, `nebula reporter` as a real process, and a private broker a
// test may stop and start without disturbing the other suites.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Admin, Consumer, Producer, type Message } from '@platformatic/kafka';
import type { KafkaSettings } from '../../src/config/kafka.ts';
import type { Report } from '../../src/model/report.ts';
import { ensureTopic, KafkaReportTransport } from '../../src/reports/kafka.ts';
import { freePort, isRunning, logLines, ROOT, spawnManager, spawnNebula, type ManagerProcess } from './process.ts';

export { isRunning, logLines, stopProcess } from './process.ts';
import { ADMIN_PASSWORD, ADMIN_USER } from './manager.ts';

export const BROKER = '127.0.0.1:9092';

/** A topic or group name no other test file (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function kafkaSettings(topic: string, brokers: string[] = [BROKER]): KafkaSettings {
  return { brokers, topic, securityProtocol: 'PLAINTEXT', sasl: null, tls: null };
}

/**
 * Fails (never skips) when no broker answers: the Kafka suites need the real one, which
 * `npm run services` (test/services/kafka.sh) starts.
 */
export async function requireBroker(brokers: string[] = [BROKER]): Promise<void> {
  const admin = new Admin({ clientId: 'nebula-test-probe', bootstrapBrokers: brokers, connectTimeout: 2000, requestTimeout: 5000, retries: 2, retryDelay: 500 });
  try {
    await admin.listTopics();
  } catch (err) {
    throw new Error(`no Kafka broker answers on ${brokers.join(',')}: start it with \`npm run services\` (test/services/kafka.sh): ${(err as Error).message}`);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** Creates the topic (the reporter's own ensureTopic) and returns its partition count. */
export async function createTopic(settings: KafkaSettings, partitions: number): Promise<number> {
  return (await ensureTopic(settings, partitions, 'nebula-test-admin')).partitions;
}

let reportCounter = 0;

/** A report as a worker sends it (the fields storing and indexing need, plus the original's). */
export function testReport(hostname: string, extra: Record<string, unknown> = {}): Report {
  reportCounter += 1;
  return {
    memory_usage: { total: 1024, used: 512, free: 512, available: 512 },
    root_disk_usage: { total: 10_000, used: 1000, free: 9000 },
    cpu_usage: { cores: 2, used_percent: 5 },
    apps_containers: [],
    cron_jobs_containers: [],
    current_device_group_config: null,
    device_group: 'pos',
    report_creation_time: 1_700_000_000 + reportCounter,
    hostname,
    updated: false,
    report_id: `${hostname}-${process.pid}-${reportCounter}-${randomBytes(4).toString('hex')}`,
    worker_version: 'test',
    applied: { device_group_id: 1, prune_id: 1, apps: {}, cron_jobs: {} },
    desired: null,
    apps_state: {},
    last_error: null,
    spool_dropped: 0,
    ...extra,
  } as Report;
}

/** A report as an original Nebula 2.x worker sends it: the original's fields only, no report_id. */
export function legacyReport(hostname: string): Record<string, unknown> {
  reportCounter += 1;
  return {
    memory_usage: { total: 1024, used: 512, free: 512, available: 512 },
    root_disk_usage: { total: 10_000, used: 1000, free: 9000 },
    cpu_usage: { cores: 2, used_percent: 5 },
    apps_containers: [],
    cron_jobs_containers: [],
    current_device_group_config: { status_code: 200, reply: { apps: [], apps_list: [], prune_id: 1, cron_jobs: [], cron_jobs_list: [], device_group_id: 3 } },
    device_group: 'pos',
    report_creation_time: 1_700_000_000 + reportCounter,
    hostname,
    updated: false,
  };
}

/** `count` reports spread over `devices` hostnames (prefix-0, prefix-1, ...). */
export function testReports(prefix: string, count: number, devices = 8): Report[] {
  return Array.from({ length: count }, (_, i) => testReport(`${prefix}-${i % devices}`));
}

/** Produces the reports through the real transport, in batches of `batch` (as a worker's spool drains). */
export async function produceReports(settings: KafkaSettings, reports: readonly Report[], batch = 50): Promise<void> {
  const transport = new KafkaReportTransport(settings, { clientId: 'nebula-test-worker' });
  try {
    for (let i = 0; i < reports.length; i += batch) await transport.send(reports.slice(i, i + batch));
  } finally {
    await transport.close();
  }
}

/** Produces raw message values (malformed reports, original 2.x reports) with a plain producer. */
export async function produceRaw(settings: KafkaSettings, messages: { key?: string; value: string }[]): Promise<void> {
  const producer = new Producer({ clientId: 'nebula-test-raw', bootstrapBrokers: settings.brokers, idempotent: true });
  try {
    await producer.send({
      messages: messages.map((m) => ({ topic: settings.topic, value: Buffer.from(m.value), ...(m.key !== undefined ? { key: Buffer.from(m.key) } : {}) })),
    });
  } finally {
    await producer.close();
  }
}

/** Every message of the topic, read from the start without a group commit (bounded). */
export async function readTopic(settings: KafkaSettings, expected: number, timeoutMs = 20_000): Promise<Message<Buffer, Buffer, Buffer, Buffer>[]> {
  const consumer = new Consumer({ clientId: 'nebula-test-reader', groupId: uniqueName('reader'), bootstrapBrokers: settings.brokers, autocommit: false, maxWaitTime: 200 });
  const out: Message<Buffer, Buffer, Buffer, Buffer>[] = [];
  try {
    const stream = await consumer.consume({ topics: [settings.topic], mode: 'earliest', autocommit: false });
    const deadline = Date.now() + timeoutMs;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${expected} messages within ${timeoutMs} ms`)), Math.max(deadline - Date.now(), 0));
      stream.on('data', (m: Message<Buffer, Buffer, Buffer, Buffer>) => {
        out.push(m);
        if (out.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on('error', reject);
    });
    await stream.close();
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
  return out;
}

/** The group's committed offset per partition (partitions without a commit are absent). */
export async function committedOffsets(settings: KafkaSettings, groupId: string): Promise<Map<number, bigint>> {
  const admin = new Admin({ clientId: 'nebula-test-admin', bootstrapBrokers: settings.brokers });
  try {
    const groups = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const out = new Map<number, bigint>();
    for (const topic of groups[0]?.topics ?? []) {
      if (topic.name !== settings.topic) continue;
      for (const p of topic.partitions) if (p.committedOffset >= 0n) out.set(p.partitionIndex, p.committedOffset);
    }
    return out;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** The group's state ('Empty' once every member left, 'Stable' while members consume) and its members' count. */
export async function groupState(settings: KafkaSettings, groupId: string): Promise<{ state: string; members: number }> {
  const admin = new Admin({ clientId: 'nebula-test-admin', bootstrapBrokers: settings.brokers });
  try {
    const group = (await admin.describeGroups({ groups: [groupId] })).get(groupId);
    return { state: String(group?.state ?? 'UNKNOWN'), members: group?.members.size ?? 0 };
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** The end offset (next offset to be written) of each partition. */
export async function endOffsets(settings: KafkaSettings): Promise<Map<number, bigint>> {
  const consumer = new Consumer({ clientId: 'nebula-test-offsets', groupId: uniqueName('offsets'), bootstrapBrokers: settings.brokers });
  try {
    const offsets = await consumer.listOffsets({ topics: [settings.topic] });
    return new Map((offsets.get(settings.topic) ?? []).map((o, i) => [i, o]));
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}

// --- `nebula manager` and `nebula reporter` as processes -------------------------------------

/**
 * `nebula manager` on this data dir (the reporters' store), admin = the helpers' ADMIN_USER.
 * It listens on port 0 and the test reads the address from its log: no free-port race with
 * the other suites running meanwhile.
 */
export async function startManagerOn(dataDir: string, env: Record<string, string> = {}): Promise<ManagerProcess> {
  const proc = spawnManager(['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], {
    BASIC_AUTH_USER: ADMIN_USER,
    BASIC_AUTH_PASSWORD: ADMIN_PASSWORD,
    NEBULA_LOG_LEVEL: 'info',
    ...env,
  });
  const address = await waitFor('the manager to listen', () => {
    const line = logLines(proc.output()).find((l) => l.msg === 'nebula manager listening');
    if (line) return String(line.address);
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw Object.assign(new Error(`the manager exited:\n${proc.output()}`), { fatal: true });
    return undefined;
  }, 15_000, 50);
  return { ...proc, url: address };
}

export interface ReporterProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
  /** The JSON log lines so far. */
  lines(): Record<string, unknown>[];
  /** Log lines whose msg contains `text`. */
  logged(text: string): Record<string, unknown>[];
}

/** `nebula reporter` with a clean environment: the topic and group of `settings`, the store in `dataDir`. */
export function spawnReporter(settings: KafkaSettings, groupId: string, dataDir: string, env: Record<string, string> = {}): ReporterProcess {
  const proc = spawnNebula('reporter', [], {
    KAFKA_BOOTSTRAP_SERVERS: settings.brokers.join(','),
    KAFKA_TOPIC: settings.topic,
    KAFKA_GROUP_ID: groupId,
    NEBULA_DATA_DIR: dataDir,
    NEBULA_LOG_LEVEL: 'debug',
    ...env,
  });
  const lines = () => logLines(proc.output());
  return { ...proc, lines, logged: (text) => lines().filter((l) => String(l.msg ?? '').includes(text)) };
}

/**
 * Polls `check` until it returns a value other than undefined/false, or fails after
 * `timeoutMs`. A thrown error is retried, unless it is marked `fatal` (then it ends the wait).
 */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) throw err;
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Waits for a log line whose msg contains `text`; fails at once if the process exits first. */
export async function waitForLog(proc: ReporterProcess, text: string, timeoutMs = 30_000, count = 1): Promise<Record<string, unknown>[]> {
  return waitFor(`"${text}" in the reporter's log`, () => {
    const found = proc.logged(text);
    if (found.length >= count) return found;
    if (!isRunning(proc)) throw Object.assign(new Error(`the reporter exited:\n${proc.output().slice(-4000)}`), { fatal: true });
    return undefined;
  }, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}\n--- reporter output (tail) ---\n${proc.output().slice(-4000)}`);
  });
}

// --- brokers a test can stop and start ------------------------------------------------------

const LIBS = join(ROOT, '.cache', 'kafka-libs');
const run = promisify(execFile);

export interface TestBroker {
  /** host:port for clients. */
  readonly bootstrap: string;
  start(): Promise<void>;
  /** SIGTERM (clean shutdown) or SIGKILL (a crash); resolves once the JVM is gone. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

async function waitReady(bootstrap: string, isAlive: () => boolean, timeoutMs: number): Promise<void> {
  await waitFor(`a Kafka broker on ${bootstrap}`, async () => {
    if (!isAlive()) throw new Error('the broker process exited');
    await requireBroker([bootstrap]);
    return true;
  }, timeoutMs, 250);
}

async function killAndWait(pid: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, signal);
  await waitFor(`broker pid ${pid} to exit`, () => !alive(), 30_000, 100).catch(async () => {
    process.kill(pid, 'SIGKILL');
    await waitFor(`broker pid ${pid} to exit after SIGKILL`, () => !alive(), 10_000, 100);
  });
}

/**
 * A single-node KRaft broker of its own (free ports, data in a temp dir), from the jars
 * test/services/kafka.sh fetched: stopping it disturbs no other suite. About 5 s to start.
 */
export async function startPrivateBroker(): Promise<TestBroker & { close(): Promise<void> }> {
  if (!existsSync(join(LIBS, 'kafka_2.13-3.9.1.jar'))) throw new Error(`no Kafka jars in ${LIBS}: run \`npm run services\` (test/services/kafka.sh)`);
  // Its ports are picked free, then bound seconds later by the JVM: if another process took
  // one meanwhile, try again with new ones.
  for (let attempt = 1; ; attempt++) {
    try {
      return await tryPrivateBroker();
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function tryPrivateBroker(): Promise<TestBroker & { close(): Promise<void> }> {
  const port = await freePort();
  const controllerPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nebula-kafka-private-'));
  const props = join(dir, 'server.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      // A broker restarted after a crash waits for its previous registration to expire (9 s by default).
      'broker.session.timeout.ms=3000',
      'broker.heartbeat.interval.ms=500',
      '',
    ].join('\n'),
  );
  const log4j = join(ROOT, 'test', 'services', 'kafka', 'log4j.properties');
  const java = ['-Xmx512m', '-Xms128m', `-Dlog4j.configuration=file:${log4j}`, '-cp', `${LIBS}/*`];
  // A Kafka cluster id: 16 random bytes, base64url. One in 32 starts with '-', which the tool's argument
  // parser takes for an option ("--cluster-id: expected one argument"; failed a CI run): pass it as --cluster-id=….
  const clusterId = randomBytes(16).toString('base64url');
  await run('java', [...java, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', props, '--ignore-formatted']);
  const bootstrap = `127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';
  const broker = {
    bootstrap,
    async start() {
      output = '';
      const c = spawn('java', [...java, 'kafka.Kafka', props], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      try {
        await waitReady(bootstrap, () => c.exitCode === null && c.signalCode === null, 60_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${output.slice(-3000)}`);
      }
    },
    async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
      const c = child;
      child = null;
      if (c?.pid !== undefined) await killAndWait(c.pid, signal);
    },
    async close() {
      await broker.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await broker.start();
  } catch (err) {
    await broker.close();
    throw err;
  }
  return broker;
}

/**
 * The shared broker of test/services/kafka.sh (pid in /tmp/nebula-kafka.pid). Stopping it
 * fails every suite using Kafka meanwhile: only suites that run alone may (the worker suites).
 */
export const sharedBroker: TestBroker = {
  bootstrap: BROKER,
  async start() {
    await run('bash', [join(ROOT, 'test', 'services', 'kafka.sh')]);
    await requireBroker([BROKER]);
  },
  async stop(signal = 'SIGTERM') {
    const pid = Number(readFileSync('/tmp/nebula-kafka.pid', 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error('no broker pid in /tmp/nebula-kafka.pid');
    await killAndWait(pid, signal);
  },
};

/** A temp directory removed at the end of the test. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'nebula-reporter-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(dir, { recursive: true });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
