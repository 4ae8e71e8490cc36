// The reporter's batching, as pure functions: when a batch is due, what its messages hold,
// and which offsets committing it moves. No I/O: the consumer loop (consumer.ts) drives it.

import { NebulaError } from '../../src/errors.ts';
import { validateReport, type IncomingReport } from '../../src/model/report.ts';

/** What the batching needs of a consumed message. */
export interface BatchMessage {
  partition: number;
  offset: bigint;
  value: Buffer | undefined;
}

/**
 * Collects messages until `maxSize` are in hand or the first one has waited `maxWaitMs`.
 * The clock is an argument, so the rule is tested without time passing.
 */
export class BatchCollector<M> {
  private readonly maxSize: number;
  private readonly maxWaitMs: number;
  private items: M[] = [];
  private firstAt: number | null = null;

  constructor(maxSize: number, maxWaitMs: number) {
    if (!Number.isInteger(maxSize) || maxSize < 1) throw new RangeError('maxSize must be a positive integer');
    this.maxSize = maxSize;
    this.maxWaitMs = maxWaitMs;
  }

  get size(): number {
    return this.items.length;
  }

  add(item: M, now: number): void {
    if (this.items.length === 0) this.firstAt = now;
    this.items.push(item);
  }

  full(): boolean {
    return this.items.length >= this.maxSize;
  }

  /** When the batch is due for its wait (null while empty). */
  dueAt(): number | null {
    return this.firstAt === null ? null : this.firstAt + this.maxWaitMs;
  }

  /** Full, or non-empty and waited long enough. */
  ready(now: number): boolean {
    const due = this.dueAt();
    return this.full() || (due !== null && now >= due);
  }

  take(): M[] {
    const out = this.items;
    this.items = [];
    this.firstAt = null;
    return out;
  }
}

export interface Malformed {
  partition: number;
  offset: bigint;
  /** Why, without the message's content (reports may carry app env values). */
  reason: string;
}

export interface DecodedBatch {
  reports: IncomingReport[];
  malformed: Malformed[];
}

/** Parses and checks each message's value as a report (a report_id is optional: 2.x workers send none). */
export function decodeBatch(messages: readonly BatchMessage[]): DecodedBatch {
  const out: DecodedBatch = { reports: [], malformed: [] };
  for (const m of messages) {
    if (m.value === undefined || m.value.length === 0) {
      out.malformed.push({ partition: m.partition, offset: m.offset, reason: 'empty message' });
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(m.value.toString('utf8'));
    } catch {
      // JSON.parse's message quotes the input: it is not logged.
      out.malformed.push({ partition: m.partition, offset: m.offset, reason: 'not valid JSON' });
      continue;
    }
    try {
      out.reports.push(validateReport(body, { requireId: false }));
    } catch (err) {
      if (!(err instanceof NebulaError)) throw err;
      out.malformed.push({ partition: m.partition, offset: m.offset, reason: err.message });
    }
  }
  return out;
}

/** The last message of each partition in the batch: committing it commits the partition up to it. */
export function lastPerPartition<M extends BatchMessage>(messages: readonly M[]): M[] {
  const last = new Map<number, M>();
  for (const m of messages) {
    const seen = last.get(m.partition);
    if (seen === undefined || m.offset > seen.offset) last.set(m.partition, m);
  }
  return [...last.values()].sort((a, b) => a.partition - b.partition);
}
