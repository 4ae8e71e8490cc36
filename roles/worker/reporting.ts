// Reporting: every check-in (or, with report_on_update_only, only after a change) the worker
// writes a report to the spool in its SQLite state, then a drain loop hands the spool to the
// transport, oldest first, and deletes what was delivered. The spool survives restarts and
// is bounded (the oldest are dropped first, counted in every later report's spool_dropped).
// Sending never blocks syncing: a dead manager or broker only makes the spool grow.

import { backoffMs, retryPauseMs, type Clock } from '../../src/clock.ts';
import type { Logger } from '../../src/log.ts';
import type { Report } from '../../src/model/report.ts';
import { ReportTransportError, type ReportTransport } from '../../src/reports/transport.ts';
import type { SpooledReport, WorkerState } from './state.ts';

export interface ReportingDeps {
  state: WorkerState;
  transport: ReportTransport;
  /** Builds a report of the device as it is now. */
  collect: (updated: boolean) => Promise<Report>;
  /** A cheap summary of what a report would say: the applied ids, and the apps' failures. */
  fingerprint: () => { ids: string; rest: string };
  log: Logger;
  clock: Clock;
  /** Report every this often (the check-in). */
  intervalMs: number;
  minIntervalMs: number;
  onUpdateOnly: boolean;
  spoolMax: number;
  onFatal: (err: unknown) => void;
  batchSize?: number;
}

const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 60_000;

export class Reporting {
  private readonly deps: ReportingDeps;
  private readonly abort = new AbortController();
  private lastReportAt = Number.NEGATIVE_INFINITY;
  private lastIds: string;
  private lastRest: string | null = null;
  private chain: Promise<void> = Promise.resolve();
  private deferred: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private drainLoop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private failures = 0;
  private madeCount = 0;

  constructor(deps: ReportingDeps) {
    this.deps = deps;
    // A restart with nothing new applied is not an update.
    this.lastIds = deps.fingerprint().ids;
  }

  start(): void {
    this.timer = setInterval(() => this.tick('check-in'), this.deps.intervalMs);
    this.timer.unref();
    this.drainLoop = this.drain().catch((err: unknown) => this.deps.onFatal(err));
  }

  /** Reports written to the spool since this worker started. */
  get made(): number {
    return this.madeCount;
  }

  /** After a reconcile: report now if anything changed (subject to the minimum interval). */
  nudge(): void {
    this.tick('change');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.deferred);
    this.abort.abort();
    this.wake?.();
    await this.chain;
    // An in-flight send is not waited for long: what it carried is still in the spool.
    await Promise.race([this.drainLoop, this.deps.clock.sleep(5000)]);
    await this.deps.transport.close().catch(() => undefined);
  }

  private tick(why: 'check-in' | 'change' | 'deferred'): void {
    if (this.abort.signal.aborted) return;
    this.chain = this.chain.then(() => this.maybeReport(why)).catch((err: unknown) => this.deps.onFatal(err));
  }

  private async maybeReport(why: 'check-in' | 'change' | 'deferred'): Promise<void> {
    const { clock, onUpdateOnly, minIntervalMs } = this.deps;
    if (this.abort.signal.aborted) return;
    const { ids, rest } = this.deps.fingerprint();
    const changed = ids !== this.lastIds || rest !== this.lastRest;
    if (!changed && (onUpdateOnly || why === 'change')) return;
    const wait = this.lastReportAt + minIntervalMs - clock.now();
    if (wait > 0) {
      // Too soon: a change is reported once the interval has passed; a check-in just waits for the next.
      if (changed && this.deferred === undefined) {
        this.deferred = setTimeout(() => {
          this.deferred = undefined;
          this.tick('deferred');
        }, wait);
        this.deferred.unref();
      }
      return;
    }
    const report = await this.deps.collect(ids !== this.lastIds);
    const dropped = this.deps.state.spoolAdd(JSON.stringify(report), this.deps.spoolMax);
    this.madeCount += 1;
    if (dropped > 0) this.deps.log.warn({ dropped, spool_max: this.deps.spoolMax }, 'report spool full: dropped the oldest reports');
    this.lastReportAt = clock.now();
    this.lastIds = ids;
    this.lastRest = rest;
    this.wake?.();
  }

  private async drain(): Promise<void> {
    const { state, transport, log, clock } = this.deps;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const batch = state.spoolPeek(this.deps.batchSize ?? 50);
      if (batch.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = null;
        continue;
      }
      try {
        await transport.send(batch.map((r) => JSON.parse(r.report) as Report));
        state.spoolDelete(batch.map((r) => r.id));
        if (this.failures > 0) log.info({ transport: transport.name, after_failures: this.failures }, 'reports are delivered again');
        this.failures = 0;
      } catch (err) {
        if (!(err instanceof ReportTransportError)) throw err;
        if (!err.retryable) {
          await this.sendOneByOne(batch);
          continue;
        }
        this.failures += 1;
        const pause = retryPauseMs(backoffMs(this.failures, RETRY_BASE_MS, RETRY_CAP_MS, clock.random), err.retryAfterMs, clock.random);
        const spooled = state.spoolSize();
        if (this.failures === 1 || this.failures % 10 === 0) {
          log.warn({ transport: transport.name, err: err.message, spooled, retry_ms: pause }, 'cannot deliver reports: they wait in the spool');
        }
        await clock.sleep(pause, signal);
      }
    }
  }

  /** A batch the receiver refused: deliver what it accepts, drop (and count) what it never will. */
  private async sendOneByOne(batch: SpooledReport[]): Promise<void> {
    const { state, transport, log } = this.deps;
    for (const item of batch) {
      try {
        await transport.send([JSON.parse(item.report) as Report]);
        state.spoolDelete([item.id]);
      } catch (err) {
        if (!(err instanceof ReportTransportError)) throw err;
        if (err.retryable) return; // the transport went away meanwhile: the drain loop retries
        state.spoolDiscard(item.id);
        log.error({ transport: transport.name, err: err.message }, 'a report was refused as malformed: dropped');
      }
    }
  }
}
