// What the simulator counts: latency samples (exact percentiles: every sample is kept, 8 bytes
// each), answers by status, failures by kind, and a per-second timeline for the storm.

export class Samples {
  private data = new Float64Array(1024);
  private n = 0;

  add(ms: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  reset(): void {
    this.n = 0;
  }

  summary(): LatencySummary {
    if (this.n === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0 };
    const sorted = this.data.slice(0, this.n).sort();
    const at = (q: number) => sorted[Math.min(this.n - 1, Math.ceil(q * this.n) - 1)]!;
    return { count: this.n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[this.n - 1]! };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** One second of the timeline (counts of events that happened in it). */
export interface Second {
  /** Seconds since the timeline's start. */
  t: number;
  sent: number;
  ok: number;
  notModified: number;
  /** 4xx other than 429. */
  client: number;
  /** 5xx and 429: what the manager must not answer once it is ready. */
  overload: number;
  refused: number;
  /** Other connection failures (reset, closed before the answer, timeouts). */
  broken: number;
  connects: number;
  /** Long-polls held at the end of the second (a gauge). */
  parked: number;
}

export type Outcome = 'ok' | 'notModified' | 'client' | 'overload' | 'refused' | 'broken';

export function outcomeOfStatus(status: number): Outcome {
  if (status === 304) return 'notModified';
  if (status === 429 || status >= 500) return 'overload';
  if (status >= 400) return 'client';
  return 'ok';
}

export function outcomeOfError(code: string): Outcome {
  return code === 'ECONNREFUSED' ? 'refused' : 'broken';
}

export class Timeline {
  private start = 0;
  private seconds: Second[] = [];
  private enabled = false;

  begin(now: number): void {
    this.start = now;
    this.seconds = [];
    this.enabled = true;
  }

  private at(now: number): Second | null {
    if (!this.enabled) return null;
    const t = Math.floor((now - this.start) / 1000);
    if (t < 0 || t > 3600) return null;
    while (this.seconds.length <= t) {
      this.seconds.push({ t: this.seconds.length, sent: 0, ok: 0, notModified: 0, client: 0, overload: 0, refused: 0, broken: 0, connects: 0, parked: 0 });
    }
    return this.seconds[t]!;
  }

  count(now: number, what: Outcome | 'sent' | 'connects'): void {
    const s = this.at(now);
    if (s) s[what] += 1;
  }

  gauge(now: number, parked: number): void {
    const s = this.at(now);
    if (s) s.parked = parked;
  }

  get(): Second[] {
    return this.seconds.map((s) => ({ ...s }));
  }
}

/** Answers by status code and failures by error code, with totals. */
export class Tally {
  readonly byStatus: Record<string, number> = {};
  readonly byError: Record<string, number> = {};

  status(code: number): void {
    this.byStatus[code] = (this.byStatus[code] ?? 0) + 1;
  }

  error(code: string): void {
    this.byError[code] = (this.byError[code] ?? 0) + 1;
  }

  reset(): void {
    for (const k of Object.keys(this.byStatus)) delete this.byStatus[k];
    for (const k of Object.keys(this.byError)) delete this.byError[k];
  }

  snapshot(): { byStatus: Record<string, number>; byError: Record<string, number> } {
    return { byStatus: { ...this.byStatus }, byError: { ...this.byError } };
  }
}

/** Full jitter as the real worker's (src/clock.ts backoffMs), re-exported for one import site. */
export { backoffMs } from '../../../src/clock.ts';

export const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);
export const fmtCount = (n: number) => n.toLocaleString('en-US');

/** A command-line option read as a number in [min, max]; anything else ends the script with exit 2, naming it. */
export function numberOption(values: Record<string, unknown>, name: string, min: number, max: number): number {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`--${name}: a number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return n;
}
