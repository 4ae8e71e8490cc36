// The reporter's side of Kafka: one consumer in the reporters' group, read in batches, and
// a batch's offsets committed only when the caller says it is stored. A broken stream or
// consumer is replaced (after a backoff) rather than ending the process: what was read but
// not committed is simply read again, and ingestion is idempotent.

import { Consumer, type Message, type MessagesStream } from '@platformatic/kafka';
import { backoffMs, type Clock } from '../../src/clock.ts';
import type { KafkaSettings } from '../../src/config/kafka.ts';
import type { Logger } from '../../src/log.ts';
import { describeKafkaError, reporterConsumerOptions, type ReporterConsumerTuning } from '../../src/reports/kafka.ts';
import { BatchCollector, lastPerPartition } from './batch.ts';

export type KafkaMessage = Message<Buffer, Buffer, Buffer, Buffer>;

export interface BatchConsumerDeps {
  settings: KafkaSettings;
  groupId: string;
  clientId: string;
  autoOffsetReset: 'earliest' | 'latest';
  batchSize: number;
  batchWaitMs: number;
  log: Logger;
  clock: Clock;
  tuning?: Partial<ReporterConsumerTuning>;
}

/** Failures shorter than this are routine (leader elections, rebalances): logged at debug. */
const OUTAGE_WARN_AFTER_MS = 5000;
/** How often a continuing outage is logged again. */
const OUTAGE_LOG_EVERY_MS = 30_000;

export class BatchConsumer {
  private readonly deps: BatchConsumerDeps;
  private readonly stopping = new AbortController();
  private consumer: Consumer<Buffer, Buffer, Buffer, Buffer> | null = null;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null = null;
  /** Why the current stream or consumer cannot be used any more (null while healthy). */
  private broken: string | null = null;
  private wake: (() => void) | null = null;
  private woken = false;
  private failures = 0;
  private outageSince: number | null = null;
  private outageLoggedAt = 0;
  private lastFailureAt = 0;

  constructor(deps: BatchConsumerDeps) {
    this.deps = deps;
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Partitions this reporter holds now. */
  assignments(): number[] {
    return this.consumer?.assignments?.find((a) => a.topic === this.deps.settings.topic)?.partitions ?? [];
  }

  /**
   * Messages behind in each partition this reporter holds: the partition's high watermark
   * minus the offset committed for it (what a restart would read from). Empty while no
   * consumer or stream is up; rejects when Kafka does not answer.
   */
  async lag(): Promise<{ partition: number; lag: number }[]> {
    const consumer = this.consumer;
    const assigned = new Set(this.assignments());
    if (consumer === null || this.stream === null || assigned.size === 0) return [];
    const topic = this.deps.settings.topic;
    const lags = (await consumer.getLag({ topics: [topic] })).get(topic) ?? [];
    // A negative lag: a partition whose committed offset this stream does not know (yet).
    return lags.flatMap((lag, partition) => (assigned.has(partition) && lag >= 0n ? [{ partition, lag: Number(lag) }] : []));
  }

  /** next() stops waiting for more: it returns what is in hand, then null. */
  stop(): void {
    this.stopping.abort();
    this.notify();
  }

  /**
   * The next non-empty batch: up to batchSize messages, or fewer once the first has waited
   * batchWaitMs. Null once stopped. Reconnects without end while Kafka is unreachable.
   */
  async next(): Promise<KafkaMessage[] | null> {
    while (!this.stopped) {
      if (this.stream === null || this.broken !== null) {
        if (this.broken !== null) await this.reset(this.broken);
        if (this.stopped) break;
        try {
          await this.open();
          this.failures = 0;
        } catch (err) {
          if (this.stopped) break;
          await this.reset(`cannot join the consumer group: ${describeKafkaError(err)}`);
          continue;
        }
        if (this.stopped) break;
      }
      const batch = await this.collect();
      if (batch.length > 0) {
        this.reachable();
        return batch;
      }
    }
    return null;
  }

  /**
   * Commits the batch: each partition up to its last message. False when the stream went
   * away before the commit was confirmed (those messages will be read and stored again).
   */
  async commit(batch: readonly KafkaMessage[]): Promise<boolean> {
    const stream = this.stream;
    if (stream === null || this.broken !== null) return false;
    let onGone: (() => void) | undefined;
    const gone = new Promise<false>((resolve) => {
      onGone = () => resolve(false);
      stream.once('close', onGone);
    });
    try {
      const committed = Promise.all(lastPerPartition(batch).map((m) => m.commit())).then(() => true as const);
      return await Promise.race([committed, gone]);
    } catch (err) {
      this.deps.log.warn({ err: describeKafkaError(err) }, 'committing offsets failed: the batch will be read again (it is stored once)');
      this.markBroken(`commit failed: ${describeKafkaError(err)}`);
      return false;
    } finally {
      stream.removeListener('close', onGone!);
    }
  }

  /** Closes the stream and leaves the group (the partitions move to the other reporters at once). */
  async close(): Promise<void> {
    this.stop();
    await this.closeClients();
  }

  private async open(): Promise<void> {
    const { settings, groupId, clientId, log } = this.deps;
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>(
      reporterConsumerOptions(settings, {
        groupId,
        clientId,
        onRetry: (operation, attempt, err) => this.unreachable(operation, attempt, err),
        ...(this.deps.tuning ? { tuning: this.deps.tuning } : {}),
      }),
    );
    this.consumer = consumer;
    this.broken = null;
    // Events of a consumer or stream already replaced are ignored.
    consumer.on('error', (err: Error) => {
      if (this.consumer === consumer) this.markBroken(`consumer error: ${describeKafkaError(err)}`);
    });
    consumer.on('consumer:group:join', (payload) => {
      const partitions = payload.assignments?.find((a) => a.topic === settings.topic)?.partitions ?? [];
      this.reachable();
      log.info({ group: groupId, partitions, generation: payload.generationId }, 'joined the reporters group');
    });
    const stream = await consumer.consume({
      topics: [settings.topic],
      mode: 'committed',
      fallbackMode: this.deps.autoOffsetReset,
      autocommit: false,
      // Buffer about one batch ahead, no more (reports can be tens of KiB each).
      highWaterMark: Math.max(this.deps.batchSize, 16),
    });
    if (this.consumer !== consumer) {
      await stream.close().catch(() => undefined);
      return;
    }
    this.stream = stream;
    const broke = (reason: string) => {
      if (this.stream === stream) this.markBroken(reason);
    };
    stream.on('readable', () => this.notify());
    stream.on('error', (err: Error) => broke(`stream error: ${describeKafkaError(err)}`));
    stream.on('close', () => broke('the stream closed'));
    stream.on('end', () => broke('the stream ended'));
  }

  private async collect(): Promise<KafkaMessage[]> {
    const { clock, batchSize, batchWaitMs } = this.deps;
    const stream = this.stream!;
    const batch = new BatchCollector<KafkaMessage>(batchSize, batchWaitMs);
    for (;;) {
      if (this.broken !== null) {
        // Read but not stored: dropped, and read again from the committed offsets.
        return [];
      }
      const before = batch.size;
      let message: KafkaMessage | null;
      while (!batch.full() && (message = stream.read() as KafkaMessage | null) !== null) batch.add(message, clock.now());
      if (batch.size > before) this.deps.log.trace({ in_hand: batch.size }, 'messages in hand');
      const now = clock.now();
      if (batch.ready(now) || this.stopped) return batch.take();
      const due = batch.dueAt();
      await this.waitForData(due === null ? 60_000 : due - now);
    }
  }

  private notify(): void {
    this.woken = true;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Until the stream has data, breaks, the reporter stops, or `ms` pass. */
  private async waitForData(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const wait = new AbortController();
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    await Promise.race([woken, this.deps.clock.sleep(Math.max(ms, 0), wait.signal)]);
    wait.abort();
    this.wake = null;
    this.woken = false;
  }

  private markBroken(reason: string): void {
    if (this.broken === null && !this.stopped) this.broken = reason;
    this.notify();
  }

  /** Drops the clients and waits a backoff before the next attempt. */
  private async reset(reason: string): Promise<void> {
    const { log, clock } = this.deps;
    const pause = backoffMs(this.failures, 1000, 30_000, clock.random);
    this.failures++;
    log.warn({ reason, retry_ms: pause }, 'the Kafka consumer stopped: reconnecting');
    await this.closeClients();
    this.broken = null;
    await clock.sleep(pause, this.stopping.signal);
  }

  private async closeClients(): Promise<void> {
    const stream = this.stream;
    const consumer = this.consumer;
    this.stream = null;
    this.consumer = null;
    if (stream) await stream.close().catch(() => undefined);
    // close() leaves the group; when the broker is gone it gives up after its retries.
    if (consumer) await consumer.close(true).catch((err: unknown) => this.deps.log.debug({ err: describeKafkaError(err) }, 'closing the consumer failed'));
  }

  /**
   * A Kafka request failed and the library retries it. Brief failures (a new topic's leader
   * being elected, a rebalance) are debug; one lasting OUTAGE_WARN_AFTER_MS is a warning,
   * repeated every OUTAGE_LOG_EVERY_MS while it lasts.
   */
  private unreachable(operation: string, attempt: number, err: Error): void {
    const { log, clock } = this.deps;
    const now = clock.now();
    // Retries come at least every 5 s while requests fail: a longer silence ended the last outage.
    if (this.outageSince === null || now - this.lastFailureAt > 15_000) {
      this.outageSince = now;
      this.outageLoggedAt = 0;
    }
    this.lastFailureAt = now;
    const failingMs = now - this.outageSince;
    const line = { operation, attempt, err: describeKafkaError(err), failing_ms: failingMs };
    if (failingMs < OUTAGE_WARN_AFTER_MS || now - this.outageLoggedAt < OUTAGE_LOG_EVERY_MS) {
      log.debug(line, 'a Kafka request failed: retrying');
      return;
    }
    this.outageLoggedAt = now;
    log.warn(line, 'Kafka requests keep failing: retrying (reports wait in Kafka meanwhile)');
  }

  /** Kafka answered (a batch arrived, the group was joined): an outage, if any, is over. */
  private reachable(): void {
    if (this.outageSince === null) return;
    if (this.outageLoggedAt !== 0) this.deps.log.info({ failing_ms: this.deps.clock.now() - this.outageSince }, 'Kafka answers again');
    this.outageSince = null;
    this.outageLoggedAt = 0;
  }
}
