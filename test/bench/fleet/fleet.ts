// A fleet of simulated workers in one process: each device long-polls its group's /info over
// its own keep-alive socket and reports like the real worker, without Docker.
//
// Each device follows roles/worker/sync.ts and src/client/manager.ts:
// - the first request carries no ETag and no wait (the worker does not know yet whether the
//   manager long-polls); a 200 with an ETag (or a 304) switches it to long-polling:
//   `GET …/info?wait=<long_poll_wait>` with `If-None-Match: <etag>`, sent again at once after
//   every 200 or 304;
// - a 200 is a new config: the device "applies" it (a pause of about `applyMs`, where the
//   real worker pulls and starts containers) before it polls again and reports the change;
// - a 403 saying the group does not exist, or any other 401/403: wait a check-in, ask again;
// - anything else (connection refused or reset, a timeout, 5xx, 429, any other status) is a
//   failure: jittered exponential backoff, backoffMs(failures, 1 s, max(check-in, 60 s)), as the
//   worker's, and after a 429/503 never sooner than its Retry-After (plus up to half again), as the
//   worker's (src/clock.ts retryPauseMs; honourRetryAfter: false models workers older than that);
// - a request is given up after request_timeout + wait (60 s + 30 s by default).
// Reports: every check-in (first one at a random phase, as a fleet's devices started at
// different times) and after each applied change (no sooner than 5 s after the previous one),
// into a spool of at most 1,000, sent 50 at most per POST /api/v2/reports, retried with the
// worker's backoff (1 s .. 60 s). They go through a shared pool of keep-alive connections
// (pool.ts says why).

import type { EventLoopUtilization } from 'node:perf_hooks';
import { Connection, requestHead, type ConnectionOwner, type HttpResponse, type SocketCounters } from './http.ts';
import { Pool } from './pool.ts';
import { reportTemplate, type ReportTemplate } from './report.ts';
import { Samples, Tally, Timeline, backoffMs, outcomeOfError, outcomeOfStatus, type LatencySummary, type Second } from './stats.ts';
import { parseRetryAfter, retryPauseMs } from '../../../src/clock.ts';

export interface FleetOptions {
  /** The manager, e.g. http://127.0.0.1:8080. */
  url: string;
  group: string;
  /** The Authorization header's value (Basic … or Bearer …), or null. */
  authorization: string | null;
  devices: number;
  /** Hostnames are <prefix><n>. */
  hostnamePrefix?: string;
  /** The worker's long_poll_wait (s). */
  waitSeconds?: number;
  /** The worker's check-in (ms): report interval, and the pause after a refusal. */
  checkInMs?: number;
  /** The worker's request_timeout (ms); a long-poll gets its wait on top. */
  requestTimeoutMs?: number;
  /** Devices start at a random moment within this window (ms). */
  rampMs?: number;
  /** Send reports (periodic and after each change). */
  reports?: boolean;
  /** Connections of the shared report pool. */
  reportConnections?: number;
  /** A new config takes about this long to apply (ms, ±50 %): then the device reports and polls again. */
  applyMs?: number;
  honourRetryAfter?: boolean;
  /**
   * The config every device already has (its persisted ETag and /info body), as a fleet that was
   * running before: the first request is then conditional (no wait) and answered 304, and no
   * device reports a change at start. Absent: devices start empty, fetch, apply and report.
   */
  known?: { etag: string; body: string } | null;
}

interface Config {
  etag: string | null;
  info: Record<string, unknown> | null;
  changed: ReportTemplate | null;
  periodic: ReportTemplate | null;
}

const SPOOL_MAX = 1000;
const REPORT_BATCH = 50;
const REPORT_MIN_INTERVAL_MS = 5000;

class Device implements ConnectionOwner {
  readonly fleet: Fleet;
  readonly id: number;
  readonly hostname: string;
  readonly conn: Connection;
  etag: string | null = null;
  config: Config | null = null;
  longPoll = false;
  failures = 0;
  polling = false;
  wait = 0;
  sentAt = 0;
  deadline = 0;
  timer: NodeJS.Timeout | undefined;
  /** Connected since the timeline's epoch (storm), in ms since the fleet's clock start; 0: not yet. */
  backAt = 0;
  /** When this device got the marked change (0: not yet). */
  gotAt = 0;
  // reports
  lastReportAt = Number.NEGATIVE_INFINITY;
  spooled = 0;
  spooledUpdated = false;
  sending = false;
  reportFailures = 0;
  reportTimer: NodeJS.Timeout | undefined;
  deferred: NodeJS.Timeout | undefined;
  retrying = false;

  constructor(fleet: Fleet, id: number, hostname: string, host: string, port: number, counters: SocketCounters) {
    this.fleet = fleet;
    this.id = id;
    this.hostname = hostname;
    this.conn = new Connection(host, port, this, counters);
  }

  onConnect(): void {
    this.fleet.connected(this);
  }

  onResponse(response: HttpResponse): void {
    this.fleet.answered(this, response);
  }

  onError(code: string): void {
    this.fleet.failed(this, code);
  }
}

export interface FleetStats {
  devices: number;
  started: number;
  /** Long-polls in flight (sent with an ETag and a wait, not answered). */
  parked: number;
  polling: number;
  inBackoff: number;
  info: { byStatus: Record<string, number>; byError: Record<string, number>; latency: LatencySummary };
  reports: { byStatus: Record<string, number>; byError: Record<string, number>; latency: LatencySummary; stored: number; spooled: number; bytes: number };
  sockets: { deviceConnects: number; deviceOpen: number; poolConnects: number; poolOpen: number };
  /** The simulator's own event loop: share of time busy since the last reset (0..1). */
  loopUtilization: number;
}

export interface ChangeStats {
  /** Devices that got the marked config. */
  received: number;
  devices: number;
  /** From `t0` (just before the write was sent) to each device's complete 200 carrying it. */
  latency: LatencySummary;
  /** The simulator's own event loop from t0 to the last device's 200 (0..1): near 1, it was the bottleneck. */
  loopUtilization: number;
}

export class Fleet {
  readonly options: Required<FleetOptions>;
  readonly devices: Device[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly deviceCounters: SocketCounters = { connects: 0, open: 0 };
  private readonly pool: Pool;
  private readonly configs = new Map<string, Config>();
  private readonly requests = new Map<string, Buffer>();
  private readonly infoPath: string;
  private readonly infoTally = new Tally();
  private readonly infoLatency = new Samples();
  private readonly reportTally = new Tally();
  private readonly reportLatency = new Samples();
  private reportsStored = 0;
  private reportBytes = 0;
  readonly timeline = new Timeline();
  private parked = 0;
  private polling = 0;
  private started = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private stopped = false;
  private elu = performance.eventLoopUtilization();
  // the marked change
  private mark: { t0: number; needle: Buffer; elu: EventLoopUtilization; busy: number } | null = null;
  private readonly changeLatency = new Samples();
  private epoch = 0;

  constructor(options: FleetOptions) {
    this.options = {
      hostnamePrefix: 'sim-',
      waitSeconds: 30,
      checkInMs: 30_000,
      requestTimeoutMs: 60_000,
      rampMs: 5000,
      reports: true,
      reportConnections: 64,
      applyMs: 2000,
      honourRetryAfter: true,
      known: null,
      ...options,
    };
    const url = new URL(this.options.url);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.infoPath = `/api/v2/device_groups/${encodeURIComponent(this.options.group)}/info`;
    this.pool = new Pool(this.host, this.port, this.options.reportConnections, this.options.requestTimeoutMs);
    for (let i = 0; i < this.options.devices; i++) {
      this.devices.push(new Device(this, i, `${this.options.hostnamePrefix}${i}`, this.host, this.port, this.deviceCounters));
    }
  }

  start(): void {
    const { rampMs, reports, checkInMs, known } = this.options;
    const config = known ? this.configOf(known.etag, Buffer.from(known.body)) : null;
    for (const device of this.devices) {
      if (config) {
        device.etag = config.etag;
        device.config = config;
      }
      device.timer = setTimeout(() => {
        this.started += 1;
        this.poll(device);
      }, Math.random() * rampMs);
      if (reports) {
        // Periodic reports at a random phase: the worker's setInterval(check-in) from its own start.
        device.reportTimer = setTimeout(() => this.periodic(device), checkInMs * Math.random());
      }
    }
    this.sweeper = setInterval(() => this.sweep(), 250);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    for (const device of this.devices) {
      clearTimeout(device.timer);
      clearTimeout(device.reportTimer);
      clearTimeout(device.deferred);
      device.conn.destroy('CLOSED');
    }
    this.pool.close();
  }

  // ---- the sync loop -------------------------------------------------------------------

  private request(etag: string | null, wait: number): Buffer {
    const key = `${etag}|${wait}`;
    let buf = this.requests.get(key);
    if (!buf) {
      const path = wait > 0 ? `${this.infoPath}?wait=${wait}` : this.infoPath;
      buf = Buffer.from(requestHead('GET', path, `${this.host}:${this.port}`, this.options.authorization, (etag ? `if-none-match: ${etag}\r\n` : '') + '\r\n'), 'latin1');
      if (this.requests.size > 64) this.requests.clear();
      this.requests.set(key, buf);
    }
    return buf;
  }

  private poll(device: Device): void {
    if (this.stopped) return;
    const wait = device.longPoll && device.etag ? this.options.waitSeconds : 0;
    device.wait = wait;
    device.polling = true;
    this.polling += 1;
    if (wait > 0) this.parked += 1;
    const now = performance.now();
    device.sentAt = now;
    device.deadline = now + this.options.requestTimeoutMs + wait * 1000;
    this.timeline.count(now, 'sent');
    device.conn.send(this.request(device.etag, wait));
  }

  private endPoll(device: Device): void {
    device.polling = false;
    this.polling -= 1;
    if (device.wait > 0) this.parked -= 1;
  }

  connected(device: Device): void {
    const now = performance.now();
    this.timeline.count(now, 'connects');
    if (this.epoch > 0 && device.backAt === 0 && device.polling && device.wait > 0) device.backAt = now;
  }

  answered(device: Device, response: HttpResponse): void {
    const now = performance.now();
    this.endPoll(device);
    this.infoTally.status(response.status);
    this.timeline.count(now, outcomeOfStatus(response.status));
    if (device.wait === 0) this.infoLatency.add(now - device.sentAt);
    const status = response.status;
    if (status === 200) {
      device.failures = 0;
      if (this.mark && device.gotAt === 0 && response.body.includes(this.mark.needle)) {
        device.gotAt = now;
        this.changeLatency.add(now - this.mark.t0);
        if (this.changeLatency.count === this.devices.length) this.mark.busy = performance.eventLoopUtilization(this.mark.elu).utilization;
      }
      device.etag = response.etag ?? null;
      device.config = this.configOf(device.etag, response.body);
      device.longPoll = device.etag !== null && this.options.waitSeconds > 0;
      // Apply (the worker reconciles before it polls again), then report the change.
      const apply = this.options.applyMs * (0.5 + Math.random());
      this.later(device, apply, () => {
        this.nudge(device);
        this.poll(device);
      });
      return;
    }
    if (status === 304) {
      device.failures = 0;
      device.longPoll = this.options.waitSeconds > 0;
      if (device.longPoll) this.poll(device);
      else this.later(device, this.options.checkInMs, () => this.poll(device));
      return;
    }
    if (status === 401 || status === 403) {
      // Missing group or refused credentials: the worker logs it and asks again a check-in later.
      device.failures = 0;
      this.later(device, this.options.checkInMs, () => this.poll(device));
      return;
    }
    this.backoff(device, response.retryAfter);
  }

  failed(device: Device, code: string): void {
    if (this.stopped) return;
    const now = performance.now();
    this.endPoll(device);
    this.infoTally.error(code);
    this.timeline.count(now, outcomeOfError(code));
    this.backoff(device, undefined);
  }

  private backoff(device: Device, retryAfter: string | undefined): void {
    device.failures += 1;
    // Not back after all: the connection it got was cut or refused its request.
    device.backAt = 0;
    const pause = backoffMs(device.failures, 1000, Math.max(this.options.checkInMs, 60_000), Math.random);
    this.later(device, this.pauseAfter(pause, retryAfter), () => this.poll(device));
  }

  /** The worker's rule: the backoff, but after a 429/503 no sooner than its Retry-After. */
  private pauseAfter(backoff: number, retryAfter: string | undefined): number {
    if (!this.options.honourRetryAfter) return backoff;
    return retryPauseMs(backoff, parseRetryAfter(retryAfter, Date.now()), Math.random);
  }

  private later(device: Device, ms: number, fn: () => void): void {
    clearTimeout(device.timer);
    device.timer = setTimeout(fn, ms);
  }

  private configOf(etag: string | null, body: Buffer): Config {
    const key = etag ?? '';
    let config = this.configs.get(key);
    if (!config) {
      let info: Record<string, unknown> | null = null;
      try {
        info = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        // not JSON: the worker would treat it as no answer; here we only lose the report content
      }
      config = { etag, info, changed: null, periodic: null };
      if (this.options.reports) {
        config.changed = reportTemplate(this.options.group, info, true);
        config.periodic = reportTemplate(this.options.group, info, false);
      }
      this.configs.set(key, config);
    }
    return config;
  }

  private sweep(): void {
    const now = performance.now();
    for (const device of this.devices) {
      if (device.polling && device.deadline < now) device.conn.destroy('TIMEOUT');
    }
    this.pool.sweep(now);
    this.timeline.gauge(now, this.parked);
  }

  // ---- reports ---------------------------------------------------------------------------

  private periodic(device: Device): void {
    if (this.stopped) return;
    device.reportTimer = setTimeout(() => this.periodic(device), this.options.checkInMs);
    if (performance.now() - device.lastReportAt < REPORT_MIN_INTERVAL_MS) return;
    this.spool(device, false);
  }

  /** After applying a change: report it, no sooner than the minimum interval. */
  private nudge(device: Device): void {
    if (!this.options.reports || this.stopped) return;
    const wait = device.lastReportAt + REPORT_MIN_INTERVAL_MS - performance.now();
    if (wait > 0) {
      if (device.deferred === undefined) {
        device.deferred = setTimeout(() => {
          device.deferred = undefined;
          this.spool(device, true);
        }, wait);
      }
      return;
    }
    this.spool(device, true);
  }

  private spool(device: Device, updated: boolean): void {
    device.lastReportAt = performance.now();
    device.spooled = Math.min(SPOOL_MAX, device.spooled + 1);
    device.spooledUpdated ||= updated;
    this.drain(device);
  }

  private drain(device: Device): void {
    if (device.sending || device.retrying || device.spooled === 0 || this.stopped) return;
    const template = (device.spooledUpdated ? device.config?.changed : device.config?.periodic) ?? this.noConfig();
    const n = Math.min(device.spooled, REPORT_BATCH);
    device.sending = true;
    const queuedAt = performance.now();
    this.pool.submit({
      request: () => {
        const now = Date.now();
        const reports: string[] = [];
        for (let i = 0; i < n; i++) reports.push(template.render(device.hostname, now));
        const body = `[${reports.join(',')}]`;
        const bytes = Buffer.byteLength(body);
        this.reportBytes += bytes;
        return requestHead('POST', '/api/v2/reports', `${this.host}:${this.port}`, this.options.authorization, `content-type: application/json\r\ncontent-length: ${bytes}\r\n\r\n`) + body;
      },
      queuedAt,
      done: (response, code) => {
        device.sending = false;
        const t = performance.now();
        if (response) {
          this.reportTally.status(response.status);
          if (response.status === 200) {
            this.reportLatency.add(t - queuedAt);
            device.spooled -= n;
            device.spooledUpdated = false;
            device.reportFailures = 0;
            this.reportsStored += n;
            this.drain(device);
            return;
          }
          if (response.status === 400 || response.status === 413) {
            // Refused as malformed: the worker drops them (after trying one by one).
            device.spooled -= n;
            this.drain(device);
            return;
          }
        } else {
          this.reportTally.error(code ?? 'ERROR');
          if (code === 'DROPPED' || code === 'CLOSED') return;
        }
        device.reportFailures += 1;
        device.retrying = true;
        setTimeout(() => {
          device.retrying = false;
          this.drain(device);
        }, this.pauseAfter(backoffMs(device.reportFailures, 1000, 60_000, Math.random), response && (response.status === 429 || response.status === 503) ? response.retryAfter : undefined));
      },
    });
  }

  /** A device that has no config yet reports `current_device_group_config: null`, as the worker. */
  private noConfig(): ReportTemplate {
    return (this.noConfigTemplate ??= reportTemplate(this.options.group, null, false));
  }

  private noConfigTemplate: ReportTemplate | undefined;

  // ---- what the benches ask ---------------------------------------------------------------

  /** From now on, a device's first 200 whose body contains `needle` is timed from `t0` (performance.now()). */
  markChange(needle: string, t0: number): void {
    this.mark = { t0, needle: Buffer.from(needle), elu: performance.eventLoopUtilization(), busy: 0 };
    this.changeLatency.reset();
    for (const device of this.devices) device.gotAt = 0;
  }

  changeStats(): ChangeStats {
    const busy = this.mark === null ? 0 : this.mark.busy || performance.eventLoopUtilization(this.mark.elu).utilization;
    return { received: this.changeLatency.count, devices: this.devices.length, latency: this.changeLatency.summary(), loopUtilization: busy };
  }

  /** Starts the per-second timeline and the "back" clock (storm): devices re-connected after now count as back. */
  beginEpoch(): void {
    const now = performance.now();
    this.epoch = now;
    this.timeline.begin(now);
    for (const device of this.devices) device.backAt = 0;
  }

  /**
   * Devices long-polling again since the epoch — connected, request sent, no failure since — and
   * when they connected (ms after the epoch).
   */
  backStats(): { back: number; latency: LatencySummary } {
    const s = new Samples();
    for (const device of this.devices) if (device.backAt > 0 && device.polling) s.add(device.backAt - this.epoch);
    return { back: s.count, latency: s.summary() };
  }

  timelineSeconds(): Second[] {
    return this.timeline.get();
  }

  resetStats(): void {
    this.infoTally.reset();
    this.infoLatency.reset();
    this.reportTally.reset();
    this.reportLatency.reset();
    this.elu = performance.eventLoopUtilization();
  }

  stats(): FleetStats {
    let inBackoff = 0;
    let spooled = 0;
    for (const device of this.devices) {
      if (device.failures > 0 && !device.polling) inBackoff += 1;
      spooled += device.spooled;
    }
    return {
      devices: this.devices.length,
      started: this.started,
      parked: this.parked,
      polling: this.polling,
      inBackoff,
      info: { ...this.infoTally.snapshot(), latency: this.infoLatency.summary() },
      reports: { ...this.reportTally.snapshot(), latency: this.reportLatency.summary(), stored: this.reportsStored, spooled, bytes: this.reportBytes },
      sockets: { deviceConnects: this.deviceCounters.connects, deviceOpen: this.deviceCounters.open, poolConnects: this.pool.counters.connects, poolOpen: this.pool.counters.open },
      loopUtilization: performance.eventLoopUtilization(this.elu).utilization,
    };
  }
}
