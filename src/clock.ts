// Time as a dependency, so loops can be stopped at once and tests stay deterministic.

import { setTimeout as delay } from 'node:timers/promises';

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  async sleep(ms, signal) {
    try {
      await delay(ms, undefined, signal ? { signal } : {});
    } catch {
      // aborted: the caller checks why
    }
  },
  random: () => Math.random(),
};

/** Longest Retry-After a client honours: a hostile or broken server cannot park a fleet for days. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * The pause before the next attempt: the jittered backoff, but never less than the server's
 * Retry-After (plus up to half of it again, so a fleet told "5 s" at once does not return in step).
 */
export function retryPauseMs(backoff: number, retryAfterMs: number | undefined, random: () => number): number {
  if (retryAfterMs === undefined) return backoff;
  const wait = Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  return Math.max(backoff, Math.round(wait + (random() * wait) / 2));
}

/** A Retry-After header (delay in seconds, or an HTTP date) in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  // An HTTP date ("Thu, 03 Dec 2026 12:00:30 GMT"), not whatever Date.parse accepts ("-5" is a year).
  if (!/^\s*[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT\s*$/.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with full jitter: a fleet that lost its manager does not return in step. */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
