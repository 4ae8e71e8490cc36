// Check-in load for capacity: D devices at an interval I, modelled as timers over a shared pool
// of keep-alive connections (D can exceed the sockets one process may open).
//
// Per device and interval, what a long-polling worker costs the manager once its long-poll has
// settled: one conditional GET /info (If-None-Match, its current ETag) answered 304 — a long-poll
// that times out ends with the same 304, then is sent again — and one report (POST
// /api/v2/reports, the worker's report for its three apps). Both streams arrive at D / I per
// second each, spread evenly over the interval (device k's turn comes every I, at its own phase),
// so the rate is what D devices make, with no bursts. Every request's latency is counted from the
// moment it was due, so when the manager (or the pool) falls behind, the waiting counts.

import { requestHead, type HttpResponse } from './http.ts';
import { Pool } from './pool.ts';
import { reportTemplate, type ReportTemplate } from './report.ts';
import { Samples, Tally, type LatencySummary } from './stats.ts';

export interface CheckinOptions {
  url: string;
  group: string;
  authorization: string | null;
  /** The group's current ETag and /info body (the devices are up to date). */
  etag: string;
  info: Record<string, unknown>;
  connections?: number;
  hostnamePrefix?: string;
  requestTimeoutMs?: number;
}

export interface StepResult {
  devices: number;
  intervalS: number;
  seconds: number;
  /** Requests per second offered (both kinds). */
  offered: number;
  /** Answered per second, over the measured part. */
  answered: number;
  info: { latency: LatencySummary; byStatus: Record<string, number>; byError: Record<string, number> };
  reports: { latency: LatencySummary; byStatus: Record<string, number>; byError: Record<string, number> };
  all: LatencySummary;
  /** Still queued or in flight when the step ended (dropped). */
  unfinished: number;
  loopUtilization: number;
}

const TICK_MS = 5;

export class CheckinLoad {
  private readonly options: Required<CheckinOptions>;
  private readonly pool: Pool;
  private readonly host: string;
  private readonly infoRequest: Buffer;
  private readonly template: ReportTemplate;
  private nextDevice = 0;

  constructor(options: CheckinOptions) {
    this.options = { connections: 256, hostnamePrefix: 'cap-', requestTimeoutMs: 60_000, ...options };
    const url = new URL(options.url);
    this.host = `${url.hostname}:${url.port || 80}`;
    this.pool = new Pool(url.hostname, Number(url.port || 80), this.options.connections, this.options.requestTimeoutMs);
    const path = `/api/v2/device_groups/${encodeURIComponent(options.group)}/info`;
    this.infoRequest = Buffer.from(requestHead('GET', path, this.host, options.authorization, `if-none-match: ${options.etag}\r\n\r\n`), 'latin1');
    this.template = reportTemplate(options.group, options.info, false);
  }

  get reportBytes(): number {
    return this.template.bytes;
  }

  /**
   * Runs D devices at interval I for `seconds`; latencies count only after `warmupSeconds`.
   * Returns when every request has been answered or `drainMs` after the end.
   */
  async step(devices: number, intervalS: number, seconds: number, warmupSeconds: number, drainMs = 3000): Promise<StepResult> {
    const ratePerMs = devices / (intervalS * 1000); // per stream
    const info = { latency: new Samples(), tally: new Tally() };
    const reports = { latency: new Samples(), tally: new Tally() };
    const all = new Samples();
    let measuring = false;
    let answered = 0;
    let pending = 0;
    const start = performance.now();
    const warmEnd = start + warmupSeconds * 1000;
    const end = start + seconds * 1000;
    let measuredFrom = warmEnd;
    let due = start;
    const elu0 = performance.eventLoopUtilization();
    const record = (kind: typeof info, dueAt: number) => (response: HttpResponse | null, code: string | null) => {
      pending -= 1;
      const t = performance.now();
      if (!measuring || dueAt < measuredFrom) return;
      answered += 1;
      if (response) kind.tally.status(response.status);
      else kind.tally.error(code ?? 'ERROR');
      kind.latency.add(t - dueAt);
      all.add(t - dueAt);
    };
    const send = (dueAt: number) => {
      const device = this.nextDevice++ % devices;
      pending += 2;
      this.pool.submit({ request: this.infoRequest, queuedAt: dueAt, done: record(info, dueAt) });
      const request = () => {
        const body = `[${this.template.render(`${this.options.hostnamePrefix}${device}`, Date.now())}]`;
        return requestHead('POST', '/api/v2/reports', this.host, this.options.authorization, `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`) + body;
      };
      this.pool.submit({ request, queuedAt: dueAt, done: record(reports, dueAt) });
    };
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        if (!measuring && now >= warmEnd) {
          measuring = true;
          measuredFrom = warmEnd;
        }
        // One info and one report per device turn; turns every 1 / rate ms, at exact due times.
        const until = Math.min(now, end);
        const gap = 1 / ratePerMs;
        while (due + gap <= until) {
          due += gap;
          send(due);
        }
        if (now >= end) {
          clearInterval(timer);
          resolve();
        }
      }, TICK_MS);
    });
    const drainUntil = performance.now() + drainMs;
    while (pending > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
    const unfinished = pending;
    this.pool.dropQueued();
    const loopUtilization = performance.eventLoopUtilization(elu0).utilization;
    const measuredS = (end - measuredFrom) / 1000;
    return {
      devices,
      intervalS,
      seconds,
      offered: (2 * devices) / intervalS,
      answered: answered / measuredS,
      info: { latency: info.latency.summary(), ...info.tally.snapshot() },
      reports: { latency: reports.latency.summary(), ...reports.tally.snapshot() },
      all: all.summary(),
      unfinished,
      loopUtilization,
    };
  }

  close(): void {
    this.pool.close();
  }
}
