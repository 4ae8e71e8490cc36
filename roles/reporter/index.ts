// The reporter's composition: config -> logger -> store -> retention, the reports topic,
// the batch consumer -> ingestion loop; and its lifecycle (graceful SIGTERM, fail hard on a
// broken store, never on a broker outage).
//
// The loop: read a batch -> parse and check each message -> store the reports in one write
// -> only then commit the batch's offsets. Killed anywhere in between, the batch is read
// again after the restart and the store skips the reports it already has (report_id), so
// every report is stored once. A malformed message is logged, counted and committed with
// its batch: it must not hold up its partition.

import { hostname } from 'node:os';
import { writeSync } from 'node:fs';
import { backoffMs, systemClock, type Clock } from '../../src/clock.ts';
import type { ReporterConfig } from '../../src/config/reporter.ts';
import { ConfigError, StoreFatalError, StoreUnavailableError } from '../../src/errors.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { describeKafkaError, ensureTopic, kafkaConnectionOptions, type ReporterConsumerTuning } from '../../src/reports/kafka.ts';
import { startRetention } from '../../src/reports/retention.ts';
import { describeStore, openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { decodeBatch } from './batch.ts';
import { BatchConsumer, type KafkaMessage } from './consumer.ts';
import { ReporterMetrics } from './metrics.ts';
import { instrumentStore } from '../../src/store/instrumented.ts';
import { serveMetricsLogged } from '../../src/metrics/server.ts';

export interface ReporterStats {
  batches: number;
  messages: number;
  inserted: number;
  duplicates: number;
  malformed: number;
  /** Batches whose offsets were committed. */
  committed: number;
}

export interface Reporter {
  stats(): ReporterStats;
  /** Partitions this reporter holds now. */
  partitions(): number[];
  /** Resolves when the loop has ended: after stop(), or after a fatal store failure. */
  readonly done: Promise<void>;
  /** Stops fetching, stores and commits the batch in hand, leaves the group, stops retention. */
  stop(): Promise<void>;
}

export interface ReporterDeps {
  config: ReporterConfig;
  log: Logger;
  store: Store;
  /** The store failed: the process must end non-zero (the batch's offsets are not committed). */
  onFatal: (err: unknown) => void;
  clock?: Clock;
  clientId?: string;
  tuning?: Partial<ReporterConsumerTuning>;
  /** Called after batch number n (from 1) is stored and before its offsets are committed (fault tests). */
  afterStore?: (n: number) => void | Promise<void>;
  /** Counts batches, messages, commits and store latency, and reads the lag (--metrics-port). */
  metrics?: ReporterMetrics;
}

/** How often the reporter logs what it ingested (when it ingested anything). */
const SUMMARY_EVERY_MS = 60_000;

export function createReporter(deps: ReporterDeps): Reporter {
  const { config, log, onFatal, metrics } = deps;
  const store = metrics ? instrumentStore(deps.store, metrics.storeObserved) : deps.store;
  const clock = deps.clock ?? systemClock;
  // Unreadable TLS files are a ConfigError now, not a retry loop later.
  kafkaConnectionOptions(config.kafka);
  const stats: ReporterStats = { batches: 0, messages: 0, inserted: 0, duplicates: 0, malformed: 0, committed: 0 };
  const consumer = new BatchConsumer({
    settings: config.kafka,
    groupId: config.groupId,
    clientId: deps.clientId ?? `nebula-reporter-${hostname()}-${process.pid}`.replace(/\s+/g, '-'),
    autoOffsetReset: config.autoOffsetReset,
    batchSize: config.batchSize,
    batchWaitMs: config.batchWaitMs,
    log,
    clock,
    ...(deps.tuning ? { tuning: deps.tuning } : {}),
  });
  metrics?.watch({ topic: config.kafka.topic, lag: () => consumer.lag(), partitions: () => consumer.assignments(), log });
  const stopping = new AbortController();
  const retention = startRetention({ store, ttlSeconds: config.reportTtlSeconds, log, clock, onFatal });

  /** Until the topic exists (or we are told not to create it), retrying while Kafka is unreachable. */
  const topicReady = async (): Promise<void> => {
    if (config.topicPartitions === 0) return;
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      try {
        const state = await ensureTopic(config.kafka, config.topicPartitions);
        log.info({ topic: config.kafka.topic, partitions: state.partitions, created: state.created }, state.created ? 'created the reports topic' : 'the reports topic is there');
        return;
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        const pause = backoffMs(attempt, 1000, 30_000, clock.random);
        log.warn({ topic: config.kafka.topic, err: describeKafkaError(err), retry_ms: pause }, 'cannot check or create the reports topic: retrying');
        await clock.sleep(pause, stopping.signal);
      }
    }
  };

  /**
   * One store write, retried while the store is unreachable (MongoDB down: the batch is held,
   * uncommitted, and Kafka keeps the rest). Null when stopped while waiting.
   */
  const insert = async (reports: ReturnType<typeof decodeBatch>['reports']): Promise<{ inserted: number; duplicates: number } | null> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await store.insertReports(reports, new Date(clock.now()));
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) throw err;
        if (stopping.signal.aborted) return null;
        const pause = backoffMs(attempt, 500, 15_000, clock.random);
        log.warn({ err: err.message, reports: reports.length, retry_ms: pause }, 'the store is unreachable: holding the batch (uncommitted) and retrying');
        await clock.sleep(pause, stopping.signal);
        if (stopping.signal.aborted) return null;
      }
    }
  };

  /** Stores a batch's reports; false after a store failure (already reported as fatal) or a stop while the store was down. */
  const ingest = async (batch: KafkaMessage[]): Promise<boolean> => {
    const { reports, malformed } = decodeBatch(batch);
    for (const m of malformed) {
      log.warn({ topic: config.kafka.topic, partition: m.partition, offset: String(m.offset), reason: m.reason }, 'skipped a malformed report message');
    }
    let result = { inserted: 0, duplicates: 0 };
    if (reports.length > 0) {
      try {
        const stored = await insert(reports);
        if (stored === null) return false;
        result = stored;
      } catch (err) {
        onFatal(err instanceof StoreFatalError ? err : new StoreFatalError(`storing reports failed: ${(err as Error).message}`, err));
        return false;
      }
    }
    stats.batches++;
    stats.messages += batch.length;
    stats.inserted += result.inserted;
    stats.duplicates += result.duplicates;
    stats.malformed += malformed.length;
    metrics?.stored(batch.length, { ...result, malformed: malformed.length });
    const line = { messages: batch.length, inserted: result.inserted, duplicates: result.duplicates, malformed: malformed.length };
    if (result.duplicates > 0) log.info(line, 'stored a batch of reports (reports read again were already stored)');
    else log.debug(line, 'stored a batch of reports');
    return true;
  };

  let lastSummary = { at: clock.now(), inserted: 0, malformed: 0 };
  const summarize = (): void => {
    const now = clock.now();
    if (now - lastSummary.at < SUMMARY_EVERY_MS) return;
    if (stats.inserted > lastSummary.inserted || stats.malformed > lastSummary.malformed) {
      log.info({ inserted: stats.inserted - lastSummary.inserted, malformed: stats.malformed - lastSummary.malformed, since_ms: now - lastSummary.at, partitions: consumer.assignments() }, 'reports ingested');
    }
    lastSummary = { at: now, inserted: stats.inserted, malformed: stats.malformed };
  };

  const loop = async (): Promise<void> => {
    await topicReady();
    for (;;) {
      const batch = await consumer.next();
      if (batch === null) return;
      if (!(await ingest(batch))) return;
      await deps.afterStore?.(stats.batches);
      const committed = await consumer.commit(batch);
      if (committed) stats.committed++;
      metrics?.committed(committed);
      summarize();
    }
  };

  const done = loop()
    .catch((err: unknown) => onFatal(err))
    .finally(async () => {
      await consumer.close();
      await retention.stop();
    });

  return {
    stats: () => ({ ...stats }),
    partitions: () => consumer.assignments(),
    done,
    async stop() {
      stopping.abort();
      consumer.stop();
      await done;
    },
  };
}

/** The test-only fault NEBULA_FAULT_EXIT_AFTER_STORE=n: SIGKILL itself once batch n is stored, before its commit. */
function faultAfterStore(log: Logger): ((n: number) => Promise<void>) | undefined {
  const raw = process.env.NEBULA_FAULT_EXIT_AFTER_STORE;
  if (raw === undefined || raw === '') return undefined;
  const at = Number(raw);
  if (!Number.isInteger(at) || at < 1) throw new ConfigError('NEBULA_FAULT_EXIT_AFTER_STORE', 'must be a batch number from 1 (a test fault)');
  log.warn({ batch: at }, 'NEBULA_FAULT_EXIT_AFTER_STORE is set: this reporter kills itself after storing that batch (a test fault)');
  return async (n) => {
    if (n < at) return;
    // Written synchronously (pino's own lines are asynchronous and may be lost, as in any SIGKILL).
    const line = { level: 40, time: Date.now(), pid: process.pid, name: 'nebula-reporter', batch: n, msg: 'NEBULA_FAULT_EXIT_AFTER_STORE: batch stored, offsets not committed: SIGKILL' };
    writeSync(2, `${JSON.stringify(line)}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}

/** `nebula reporter`: runs until SIGTERM/SIGINT. */
export async function runReporter(config: ReporterConfig): Promise<void> {
  const log = createLogger(config.logLevel, 'nebula-reporter');
  const fatal = (err: unknown) => {
    log.fatal({ err }, 'fatal: ending the process so that it restarts clean (uncommitted reports are read again)');
    process.exit(70);
  };
  let afterStore: ((n: number) => Promise<void>) | undefined;
  try {
    afterStore = faultAfterStore(log);
  } catch (err) {
    process.stderr.write(`nebula: ${(err as Error).message}\n`);
    process.exit(2);
  }
  let store: Store;
  try {
    store = await openStore(config, { role: 'reporter' });
  } catch (err) {
    log.fatal({ err, ...describeStore(config) }, 'cannot open the store');
    process.stderr.write(`nebula reporter: cannot open the store: ${(err as Error).message}\n`);
    process.exit(70);
  }
  const metrics = config.metrics ? new ReporterMetrics() : undefined;
  let reporter: Reporter;
  try {
    reporter = createReporter({ config, log, store, onFatal: fatal, ...(afterStore ? { afterStore } : {}), ...(metrics ? { metrics } : {}) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`nebula: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  log.info(
    { brokers: config.kafka.brokers, topic: config.kafka.topic, group: config.groupId, batch_size: config.batchSize, batch_wait_ms: config.batchWaitMs, ...describeStore(config) },
    'nebula reporter started',
  );
  const metricsServer = metrics && config.metrics ? await serveMetricsLogged(metrics.registry, config.metrics, log) : null;
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down: finishing the batch in hand');
    await metricsServer?.close();
    const force = setTimeout(() => {
      log.error('shutdown took over 15 s (Kafka unreachable?): exiting; uncommitted reports are read again at the next start');
      process.exit(1);
    }, 15_000);
    force.unref();
    await reporter.stop();
    await store.close();
    log.info({ ...reporter.stats() }, 'stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
