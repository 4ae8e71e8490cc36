// Prometheus metrics of one reporter (served by src/metrics/server.ts with --metrics-port):
// how far behind the reports topic it is, the batches it stores and what their messages were,
// its store's latency (nebula_store_operation_*, shared with the manager), Node's process
// metrics. Labels are bounded: the topic (one, configured), partitions, fixed words; never a
// message's content or a device's name.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../src/log.ts';
import { newRegistry, PREFIX, storeMetrics } from '../../src/metrics/registry.ts';

/** Messages per batch: 1 to the largest batch_size allowed (100,000). */
const BATCH_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000];
/** How long a scrape waits for Kafka's answer on the lag before it shows none. */
const LAG_TIMEOUT_MS = 3000;

export interface ReporterMetricsSources {
  topic: string;
  /** Messages behind in each partition this reporter holds (BatchConsumer.lag). */
  lag: () => Promise<{ partition: number; lag: number }[]>;
  /** Partitions this reporter holds now. */
  partitions: () => number[];
  log: Logger;
}

export class ReporterMetrics {
  readonly registry: Registry = newRegistry();
  /** For instrumentStore (src/store/instrumented.ts). */
  readonly storeObserved = storeMetrics(this.registry, 'reporter');
  private sources: ReporterMetricsSources | undefined;
  private readonly batchSize: Histogram;
  private readonly messages: Counter<'result'>;
  private readonly commits: Counter<'result'>;

  constructor() {
    const registers = [this.registry];
    const sources = () => this.sources;
    new Gauge({
      name: `${PREFIX}reporter_consumer_lag`,
      help: 'Messages of the reports topic not yet stored and committed, per partition this reporter holds: the high watermark minus the committed offset (none shown while Kafka does not answer)',
      labelNames: ['topic', 'partition'],
      registers,
      async collect() {
        this.reset();
        const s = sources();
        if (s === undefined) return;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${LAG_TIMEOUT_MS} ms`)), LAG_TIMEOUT_MS);
        });
        try {
          for (const { partition, lag } of await Promise.race([s.lag(), timeout])) this.set({ topic: s.topic, partition: String(partition) }, lag);
        } catch (err) {
          s.log.debug({ err: (err as Error).message }, 'cannot read the consumer lag for the metrics');
        } finally {
          clearTimeout(timer);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}reporter_partitions_assigned`,
      help: 'Partitions of the reports topic this reporter holds',
      registers,
      collect() {
        const s = sources();
        this.set(s === undefined ? 0 : s.partitions().length);
      },
    });
    this.batchSize = new Histogram({
      name: `${PREFIX}reporter_batch_size`,
      help: 'Messages per batch stored (one store write each)',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.messages = new Counter({
      name: `${PREFIX}reporter_messages_total`,
      help: 'Messages read from the reports topic and ingested, by result (stored: a new report; duplicate: a report already stored, read again; rejected: not a valid report, skipped)',
      labelNames: ['result'],
      registers,
    });
    this.commits = new Counter({
      name: `${PREFIX}reporter_batch_commits_total`,
      help: "Stored batches whose offsets were committed (committed) or not (failed: the stream went away; the batch is read again and stored once)",
      labelNames: ['result'],
      registers,
    });
    // Every result shown from the start, at 0.
    for (const result of ['stored', 'duplicate', 'rejected']) this.messages.inc({ result }, 0);
    for (const result of ['committed', 'failed']) this.commits.inc({ result }, 0);
  }

  /** What the gauges read, once the reporter has built its consumer. */
  watch(sources: ReporterMetricsSources): void {
    this.sources = sources;
  }

  /** A batch stored: its size and what its messages were. */
  stored(messages: number, result: { inserted: number; duplicates: number; malformed: number }): void {
    this.batchSize.observe(messages);
    this.messages.inc({ result: 'stored' }, result.inserted);
    this.messages.inc({ result: 'duplicate' }, result.duplicates);
    this.messages.inc({ result: 'rejected' }, result.malformed);
  }

  committed(ok: boolean): void {
    this.commits.inc({ result: ok ? 'committed' : 'failed' });
  }
}
