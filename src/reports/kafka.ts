// Reports over Kafka: the client options our KAFKA_* settings make, the producer a worker
// sends its reports with, and the helpers the reporter needs (its consumer's options, the
// topic it shares with other reporters).
//
// The client is @platformatic/kafka (pure JS). What we rely on, measured against Kafka 3.9:
// a send fails within a few seconds while the broker is down and works again after; with
// `retries: true` a consumer keeps retrying through an outage instead of ending its stream;
// the broker refuses a record batch above max.message.bytes (1 MiB by default), so a send
// is cut into requests well under that.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  Admin,
  Producer,
  ProduceAcks,
  type BaseOptions,
  type ClusterTopicMetadata,
  type ConsumerOptions,
  type RetryDelayGetter,
} from '@platformatic/kafka';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { backoffMs } from '../clock.ts';
import { ConfigError } from '../errors.ts';
import type { KafkaSettings } from '../config/kafka.ts';
import type { Logger } from '../log.ts';
import type { Report } from '../model/report.ts';
import { ReportTransportError, type ReportTransport } from './transport.ts';

/** Partitions of the reports topic when a reporter creates it: up to this many reporters share the work. */
export const DEFAULT_TOPIC_PARTITIONS = 6;

/** What every client we make connects with. */
export type KafkaConnectionOptions = Pick<BaseOptions, 'bootstrapBrokers' | 'connectTimeout' | 'requestTimeout' | 'sasl' | 'tls'>;

/** Reads a PEM file named by a setting; a missing or unreadable file names that setting. */
function readPem(setting: string, path: string, read: (path: string) => Buffer): Buffer {
  try {
    return read(path);
  } catch (err) {
    throw new ConfigError(setting, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The connection part of a client's options. TLS files are read now (each client made
 * re-reads them, so a rotated certificate is picked up by the next client).
 */
export function kafkaConnectionOptions(settings: KafkaSettings, read: (path: string) => Buffer = (p) => readFileSync(p)): KafkaConnectionOptions {
  const options: KafkaConnectionOptions = {
    bootstrapBrokers: [...settings.brokers],
    connectTimeout: 5000,
    requestTimeout: 15_000,
  };
  if (settings.sasl) {
    options.sasl = { mechanism: settings.sasl.mechanism, username: settings.sasl.username, password: settings.sasl.password };
  }
  if (settings.tls) {
    const tls: TlsOptions = {};
    const t = settings.tls;
    if (t.caFile !== undefined) tls.ca = readPem('kafka_ssl_cafile', t.caFile, read);
    if (t.certFile !== undefined) tls.cert = readPem('kafka_ssl_certfile', t.certFile, read);
    if (t.keyFile !== undefined) tls.key = readPem('kafka_ssl_keyfile', t.keyFile, read);
    if (t.keyPassword !== undefined) tls.passphrase = t.keyPassword;
    if (t.crlFile !== undefined) tls.crl = readPem('kafka_ssl_crlfile', t.crlFile, read);
    options.tls = tls;
  }
  return options;
}

/**
 * JSON with every non-ASCII character escaped: the original workers sent ASCII JSON, and an
 * original reporter still reading the topic decodes it as such.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Every message of a library error chain (MultipleErrors nest their causes). */
function errorChain(err: unknown, out: Error[] = [], depth = 0): Error[] {
  if (!(err instanceof Error) || depth > 5) return out;
  out.push(err);
  for (const inner of (err as { errors?: unknown[] }).errors ?? []) errorChain(inner, out, depth + 1);
  if (err.cause) errorChain(err.cause, out, depth + 1);
  return out;
}

/** Broker answers that sending the same messages again can never change. */
const NEVER_ACCEPTED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

/** A short, content-free description of a library error (its innermost messages). */
export function describeKafkaError(err: unknown): string {
  const chain = errorChain(err);
  const leaves = chain.filter((e) => !((e as { errors?: unknown[] }).errors?.length));
  const parts = (leaves.length ? leaves : chain).map((e) => {
    const apiId = (e as { apiId?: string }).apiId;
    return apiId ? `${apiId}: ${e.message}` : e.message;
  });
  return [...new Set(parts)].slice(0, 3).join('; ') || String(err);
}

export interface KafkaTransportOptions {
  /** Default `nebula-worker-<host name>`. */
  clientId?: string;
  /** The longest one send() may take, all its requests included (default 15 s). */
  sendTimeoutMs?: number;
  /** Most JSON bytes in one produce request (default 512 KiB; the broker's default limit is 1 MiB). */
  maxRequestBytes?: number;
  /** Default gzip: reports are repetitive JSON, and devices sit behind bad networks. */
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  log?: Logger;
}

/**
 * A worker's reports to Kafka. Each report is one message: key = the device's hostname (a
 * device's reports stay in one partition, in order), value = the report as ASCII JSON.
 * send() resolves once the brokers acknowledged every message (acks=all, idempotent
 * producer), and fails with ReportTransportError within sendTimeoutMs otherwise.
 */
export class KafkaReportTransport implements ReportTransport {
  readonly name = 'kafka';
  private readonly settings: KafkaSettings;
  private readonly clientId: string;
  private readonly sendTimeoutMs: number;
  private readonly maxRequestBytes: number;
  private readonly compression: NonNullable<KafkaTransportOptions['compression']>;
  private readonly log: Logger | undefined;
  private producer: Producer | null = null;
  private closed = false;

  constructor(settings: KafkaSettings, options: KafkaTransportOptions = {}) {
    this.settings = settings;
    this.clientId = options.clientId ?? `nebula-worker-${hostname()}`.replace(/\s+/g, '-');
    this.sendTimeoutMs = options.sendTimeoutMs ?? 15_000;
    this.maxRequestBytes = options.maxRequestBytes ?? 512 * 1024;
    this.compression = options.compression ?? 'gzip';
    this.log = options.log;
    // Reads the TLS files now, so a bad path is a ConfigError at start, not a send failure.
    kafkaConnectionOptions(settings);
  }

  private producerNow(): Producer {
    if (this.producer === null) {
      this.producer = new Producer({
        ...kafkaConnectionOptions(this.settings),
        clientId: this.clientId,
        idempotent: true,
        acks: ProduceAcks.ALL,
        compression: this.compression,
        // A few quick retries inside one send; the worker's spool retries the rest.
        retries: 3,
        retryDelay: 500,
        timeout: 5000,
      });
    }
    return this.producer;
  }

  /** Drops the producer (its sends fail); the next send makes a fresh one. */
  private discardProducer(): void {
    const producer = this.producer;
    this.producer = null;
    producer?.close(true).catch(() => undefined);
  }

  /** The reports as messages, cut into requests of at most maxRequestBytes (one report may exceed it alone). */
  private requests(reports: readonly Report[]): { key: Buffer; value: Buffer }[][] {
    const out: { key: Buffer; value: Buffer }[][] = [];
    let current: { key: Buffer; value: Buffer }[] = [];
    let bytes = 0;
    for (const report of reports) {
      const value = asciiJson(report);
      if (current.length > 0 && bytes + value.length > this.maxRequestBytes) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push({ key: Buffer.from(String(report.hostname)), value: Buffer.from(value) });
      bytes += value.length;
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  async send(reports: readonly Report[]): Promise<void> {
    if (this.closed) throw new ReportTransportError('the Kafka transport is closed');
    if (reports.length === 0) return;
    const deadline = Date.now() + this.sendTimeoutMs;
    const topic = this.settings.topic;
    for (const messages of this.requests(reports)) {
      const producer = this.producerNow();
      const left = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(left, 0));
      });
      try {
        const outcome = await Promise.race([producer.send({ messages: messages.map((m) => ({ topic, ...m })) }), timedOut]);
        if (outcome === 'timeout') {
          // The library may still be retrying: this producer is dropped so that no late
          // retry interleaves with the next send's sequence numbers.
          this.discardProducer();
          throw new ReportTransportError(`Kafka did not acknowledge the reports within ${this.sendTimeoutMs} ms`);
        }
      } catch (err) {
        if (err instanceof ReportTransportError) throw err;
        const chain = errorChain(err);
        const refused = chain.some((e) => NEVER_ACCEPTED.has((e as { apiId?: string }).apiId ?? ''));
        if (!refused) this.discardProducer();
        throw new ReportTransportError(`Kafka did not take the reports: ${describeKafkaError(err)}`, { retryable: !refused, cause: err });
      } finally {
        clearTimeout(timer);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const producer = this.producer;
    this.producer = null;
    if (producer) await producer.close(true).catch((err: unknown) => this.log?.debug({ err: describeKafkaError(err) }, 'closing the Kafka producer failed'));
  }
}

export interface TopicState {
  created: boolean;
  partitions: number;
}

/**
 * Makes sure the reports topic exists, creating it with `partitions` partitions (and the
 * brokers' default replication factor) if it does not: the partitions are what several
 * reporters in one group divide among themselves. An existing topic is left as it is.
 */
export async function ensureTopic(settings: KafkaSettings, partitions: number = DEFAULT_TOPIC_PARTITIONS, clientId = 'nebula-reporter-admin'): Promise<TopicState> {
  const admin = new Admin({ ...kafkaConnectionOptions(settings), clientId, retries: 2, retryDelay: 500 });
  try {
    let created = false;
    const topics = await admin.listTopics();
    if (!topics.includes(settings.topic)) {
      try {
        await admin.createTopics({ topics: [settings.topic], partitions, replicas: -1 });
        created = true;
      } catch (err) {
        // Another reporter created it meanwhile: that is fine.
        if (!errorChain(err).some((e) => (e as { apiId?: string }).apiId === 'TOPIC_ALREADY_EXISTS')) throw err;
      }
    }
    // A new topic's partitions get their leaders a moment after CreateTopics answers: wait
    // (bounded) until every partition has one, so that the first sends and fetches find them.
    const deadline = Date.now() + 10_000;
    for (;;) {
      let topic: ClusterTopicMetadata | undefined;
      try {
        topic = (await admin.metadata({ topics: [settings.topic], forceUpdate: true })).topics.get(settings.topic);
      } catch (err) {
        if (Date.now() >= deadline) throw err;
      }
      const led = topic !== undefined && topic.partitions.length === topic.partitionsCount && topic.partitions.every((p) => p.leader >= 0);
      if (led || (topic !== undefined && Date.now() >= deadline)) return { created, partitions: topic!.partitionsCount };
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.close().catch(() => undefined);
  }
}

export interface ReporterConsumerTuning {
  /** The broker drops a member it has not heard from for this long (its partitions move). */
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Longest a fetch waits at the broker for new messages. */
  maxWaitMs: number;
}

export const REPORTER_CONSUMER_TUNING: ReporterConsumerTuning = {
  // Short, so that a reporter killed without leaving the group (SIGKILL, power loss) holds
  // its partitions for seconds, not the library's default minute.
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 15_000,
  heartbeatIntervalMs: 1000,
  maxWaitMs: 500,
};

/**
 * The reporter's consumer: manual commits only (a batch's offsets are committed once it is
 * stored), and retries without end, so a broker outage pauses it instead of ending it.
 * `onRetry` hears about each failed attempt (to log it); the delay backs off to 5 s.
 */
export function reporterConsumerOptions(
  settings: KafkaSettings,
  options: { groupId: string; clientId: string; onRetry?: (operation: string, attempt: number, err: Error) => void; tuning?: Partial<ReporterConsumerTuning> },
): ConsumerOptions<Buffer, Buffer, Buffer, Buffer> {
  const tuning = { ...REPORTER_CONSUMER_TUNING, ...options.tuning };
  const retryDelay: RetryDelayGetter = (_client, operation, attempt, _retries, err) => {
    options.onRetry?.(operation, attempt, err);
    return backoffMs(Math.max(attempt - 1, 0), 250, 5000, Math.random);
  };
  return {
    ...kafkaConnectionOptions(settings),
    clientId: options.clientId,
    groupId: options.groupId,
    autocommit: false,
    retries: true,
    retryDelay,
    sessionTimeout: tuning.sessionTimeoutMs,
    rebalanceTimeout: tuning.rebalanceTimeoutMs,
    heartbeatInterval: tuning.heartbeatIntervalMs,
    maxWaitTime: tuning.maxWaitMs,
  };
}
