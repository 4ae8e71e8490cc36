// Prometheus metrics of one manager (GET /metrics, routes/metrics.ts): a registry of its own
// (several managers may share a process: the tests, --workers' processes each have theirs).
//
// Labels are bounded: a route is fastify's pattern (/api/v2/apps/:app_name), never a URL, and
// no label ever holds a name of a group, app, user or anything a client sent. Held long-polls
// get their own route label (<info route>?wait), so the /info latency stays the work's, not
// the wait's. What the hot path counts (the /info fast path, the info cache) are plain
// numbers incremented in place, read when scraped: no allocation, no timer per request.

import { Counter, Gauge, Histogram } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { newRegistry, scrape, storeMetrics } from '../../src/metrics/registry.ts';
import type { InfoCache } from './info-cache.ts';
import type { LoadShedder } from './overload.ts';
import { V2 } from './routes/common.ts';

/** The route label of a request no route matched (404 ROUTE_NOT_FOUND). */
export const UNMATCHED_ROUTE = 'unmatched';
export const INFO_ROUTE = `${V2}/device_groups/:device_group/info`;
/** The route label of an /info long-poll (?wait=N, N > 0): held until a change or the wait ends. */
export const INFO_WAIT_ROUTE = `${INFO_ROUTE}?wait`;

/** Request latency, 1 ms to 60 s (long-polls are held up to long_poll_max_wait). */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsSources {
  cache: InfoCache;
  load: LoadShedder;
  isStoreDown: () => boolean;
}

/** Index into ManagerMetrics.fastPath: (long-poll ? 2 : 0) + (304 ? 1 : 0). */
export function fastPathSlot(longPoll: boolean, notModified: boolean): number {
  return (longPoll ? 2 : 0) + (notModified ? 1 : 0);
}

/** Did this request ask to wait (?wait=N, N > 0)? */
function asksToWait(request: FastifyRequest): boolean {
  const wait = (request.query as Record<string, unknown> | undefined)?.wait;
  return typeof wait === 'string' && Number(wait) > 0;
}

export class ManagerMetrics {
  readonly registry = newRegistry();
  /**
   * Answers of the /info fast path (info-fast-path.ts), by fastPathSlot: plain numbers it
   * increments, added to the counters when scraped.
   */
  readonly fastPath = [0, 0, 0, 0];
  private sources: MetricsSources | undefined;
  private readonly requests: Counter<'route' | 'method' | 'status_code'>;
  private readonly duration: Histogram<'route' | 'method'>;
  private readonly authThrottled: Counter;
  /** For instrumentStore (src/store/instrumented.ts). */
  readonly storeObserved = storeMetrics(this.registry, 'manager');

  constructor() {
    const registers = [this.registry];
    // What the fast path answered and was not yet added to nebula_http_requests_total.
    const fastPathAdded = [0, 0, 0, 0];
    const fastPath = this.fastPath;
    this.requests = new Counter({
      name: 'nebula_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status code (the /info fast path included)',
      labelNames: ['route', 'method', 'status_code'],
      registers,
      collect() {
        for (let slot = 0; slot < 4; slot++) {
          const delta = fastPath[slot]! - fastPathAdded[slot]!;
          if (delta === 0) continue;
          fastPathAdded[slot] = fastPath[slot]!;
          this.inc({ route: slot >= 2 ? INFO_WAIT_ROUTE : INFO_ROUTE, method: 'GET', status_code: slot % 2 === 1 ? '304' : '200' }, delta);
        }
      },
    });
    this.duration = new Histogram({
      name: 'nebula_http_request_duration_seconds',
      help: `Time to answer an HTTP request through the router, by route pattern and method (a held /info long-poll is route "${INFO_WAIT_ROUTE}"; the /info fast path, answered before the router, is not timed)`,
      labelNames: ['route', 'method'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    new Counter({
      name: 'nebula_info_fast_path_responses_total',
      help: 'GET /info answered by the fast path before the router (a part of nebula_http_requests_total), by status code',
      labelNames: ['status_code'],
      registers,
      collect() {
        this.reset();
        this.inc({ status_code: '200' }, fastPath[0]! + fastPath[2]!);
        this.inc({ status_code: '304' }, fastPath[1]! + fastPath[3]!);
      },
    });
    const sources = () => this.sources;
    new Counter({
      name: 'nebula_info_cache_lookups_total',
      help: 'Info cache lookups, by result (hit: the device group was cached; miss: its info was read from the store)',
      labelNames: ['result'],
      registers,
      collect() {
        const s = sources();
        if (s === undefined) return;
        this.reset();
        this.inc({ result: 'hit' }, s.cache.hits);
        this.inc({ result: 'miss' }, s.cache.misses);
      },
    });
    new Gauge({
      name: 'nebula_info_cache_entries',
      help: 'Device groups in the info cache',
      registers,
      collect() {
        const s = sources();
        if (s !== undefined) this.set(s.cache.size);
      },
    });
    new Gauge({
      name: 'nebula_http_requests_in_flight',
      help: 'Requests being worked on (held long-polls excluded; compared with max_in_flight)',
      registers,
      collect() {
        const s = sources();
        if (s !== undefined) this.set(s.load.load.in_flight);
      },
    });
    new Gauge({
      name: 'nebula_long_polls_held',
      help: '/info long-polls held waiting for a change (compared with max_long_polls)',
      registers,
      collect() {
        const s = sources();
        if (s !== undefined) this.set(s.load.load.long_polls);
      },
    });
    new Counter({
      name: 'nebula_requests_shed_total',
      help: 'Requests refused with 503 SERVER_OVERLOADED, by reason (pressure: event loop lag or heap; in_flight; long_polls)',
      labelNames: ['reason'],
      registers,
      collect() {
        const s = sources();
        if (s === undefined) return;
        this.reset();
        for (const [reason, count] of Object.entries(s.load.shed)) this.inc({ reason }, count);
      },
    });
    this.authThrottled = new Counter({
      name: 'nebula_auth_throttled_total',
      help: 'Requests refused with 429 TOO_MANY_AUTH_FAILURES (an address that failed to authenticate too often)',
      registers,
    });
    new Gauge({
      name: 'nebula_store_up',
      help: 'Whether the store is reachable (1) or not (0), as the change watcher last found it',
      registers,
      collect() {
        const s = sources();
        if (s !== undefined) this.set(s.isStoreDown() ? 0 : 1);
      },
    });
  }

  /** What the gauges read, once the manager has built them. */
  watch(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** A request answered through fastify (onResponse). */
  responded(request: FastifyRequest, reply: FastifyReply): void {
    let route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    if (route === INFO_ROUTE && asksToWait(request)) route = INFO_WAIT_ROUTE;
    const method = request.method;
    this.requests.inc({ route, method, status_code: String(reply.statusCode) });
    this.duration.observe({ route, method }, reply.elapsedTime / 1000);
  }

  authThrottledOnce(): void {
    this.authThrottled.inc();
  }

  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; body: string }> {
    return scrape(this.registry);
  }
}
