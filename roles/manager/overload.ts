// Load shedding: the manager answers 503 SERVER_OVERLOADED with Retry-After before it falls
// over, and 429 TOO_MANY_AUTH_FAILURES to an address that keeps failing to authenticate
// (each failure can cost a slow hash: guessing must not take the CPU from the fleet).
//
// What "overloaded" means, checked in this order on every request before authentication:
// - the event loop lags (mean delay over the last second above max_event_loop_delay) or the
//   heap is nearly full (@fastify/under-pressure samples both);
// - more requests are being worked on at once than max_in_flight (a slow store makes them
//   pile up: each holds memory and a pool slot). Long-polls held waiting for a change do not
//   count: they cost a little memory and nothing else, and max_long_polls bounds them apart.
// Workers honour Retry-After with jitter (src/clock.ts retryPauseMs); the value sent is itself
// spread over a few seconds, so a fleet shed at one moment does not come back at one moment.

import { getHeapStatistics } from 'node:v8';
import { LRUCache } from 'lru-cache';
import { NebulaError } from '../../src/errors.ts';

import type { OverloadConfig } from '../../src/config/manager.ts';

export type { OverloadConfig };

/** The shortest Retry-After sent; the value is spread over [base, 2 × base]. */
const RETRY_AFTER_BASE_S = 5;

/** A Retry-After value in seconds, spread so that a shed fleet returns over a few seconds. */
export function retryAfterSeconds(random: () => number = Math.random): number {
  return RETRY_AFTER_BASE_S + Math.floor(random() * (RETRY_AFTER_BASE_S + 1));
}

/** The heap use (fraction of V8's limit) above which requests are shed. */
export const HEAP_SHED_FRACTION = 0.9;

export function heapShedBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit * HEAP_SHED_FRACTION);
}

export class LoadShedder {
  private readonly config: OverloadConfig;
  private inFlight = 0;
  private longPolls = 0;
  /** Set once @fastify/under-pressure is loaded: is the event loop lagging or the heap nearly full? */
  pressure: () => boolean = () => false;
  /** Requests shed since start, by reason (for the logs and tests). */
  readonly shed = { pressure: 0, in_flight: 0, long_polls: 0 };

  constructor(config: OverloadConfig) {
    this.config = config;
  }

  /** Why a new request must be shed now, or null to admit it. */
  refuse(): 'pressure' | 'in_flight' | null {
    if (this.pressure()) return 'pressure';
    if (this.config.maxInFlight > 0 && this.inFlight >= this.config.maxInFlight) return 'in_flight';
    return null;
  }

  /** A request admitted: call the returned function once when it is answered or abandoned. */
  begin(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
    };
  }

  /**
   * A long-poll about to be held: false when too many are (shed it); otherwise it stops counting
   * as in flight until the returned function is called (once).
   */
  hold(): (() => void) | false {
    if (this.config.maxLongPolls > 0 && this.longPolls >= this.config.maxLongPolls) {
      this.shed.long_polls++;
      return false;
    }
    this.longPolls++;
    this.inFlight--;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.longPolls--;
      this.inFlight++;
    };
  }

  counted(reason: 'pressure' | 'in_flight'): void {
    this.shed[reason]++;
  }

  get load(): { in_flight: number; long_polls: number } {
    return { in_flight: this.inFlight, long_polls: this.longPolls };
  }
}

/** 429: this address failed to authenticate too often; it may try again in `retryAfterSeconds`. */
export class AuthThrottledError extends NebulaError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('TOO_MANY_AUTH_FAILURES');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Failed authentications per client address, in one-minute windows. An address over the limit
 * gets 429 for any credentials not already known good (those never reach a slow hash), so a
 * device that authenticated before keeps working behind a NAT shared with a guesser.
 */
export class AuthThrottle {
  private readonly limit: number;
  private readonly windows = new LRUCache<string, { failures: number; resetAt: number }>({ max: 100_000, ttl: 60_000 });

  constructor(failuresPerMinute: number) {
    this.limit = failuresPerMinute;
  }

  /** Seconds until `address` may try unknown credentials again; undefined: it may now. */
  blockedFor(address: string | undefined, now = Date.now()): number | undefined {
    if (this.limit <= 0 || address === undefined) return undefined;
    const window = this.windows.get(address);
    if (window === undefined || window.failures < this.limit || now >= window.resetAt) return undefined;
    return Math.max(1, Math.ceil((window.resetAt - now) / 1000));
  }

  failed(address: string | undefined, now = Date.now()): void {
    if (this.limit <= 0 || address === undefined) return;
    const window = this.windows.get(address);
    if (window === undefined || now >= window.resetAt) this.windows.set(address, { failures: 1, resetAt: now + 60_000 });
    else window.failures++;
  }
}
