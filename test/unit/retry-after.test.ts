// Retry-After, as the worker reads and honours it: a delay in seconds or an HTTP date; the pause
// is never shorter than what the manager asked, jittered up to half again, and capped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, retryPauseMs } from '../../src/clock.ts';
import { retryAfterSeconds } from '../../roles/manager/overload.ts';

test('parseRetryAfter: seconds, an HTTP date, or nothing usable', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  assert.equal(parseRetryAfter('7', now), 7000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter(['12', '3'], now), 12_000);
  assert.equal(parseRetryAfter('Thu, 03 Dec 2026 12:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Thu, 03 Dec 2026 11:00:00 GMT', now), 0, 'a date in the past: now');
  for (const bad of [undefined, '', 'soon', '-5', '1.5e3', 'NaN']) assert.equal(parseRetryAfter(bad, now), undefined, String(bad));
});

test('retryPauseMs: at least the Retry-After (up to 1.5 times it), never below the backoff, capped at 10 minutes', () => {
  assert.equal(retryPauseMs(1500, undefined, () => 0.9), 1500, 'no Retry-After: the backoff');
  assert.equal(retryPauseMs(1500, 5000, () => 0), 5000);
  assert.equal(retryPauseMs(1500, 5000, () => 0.999), Math.round(5000 + 0.999 * 2500));
  assert.equal(retryPauseMs(20_000, 5000, () => 0.5), 20_000, 'a longer backoff wins');
  assert.equal(retryPauseMs(1000, 365 * 86_400_000, () => 0), MAX_RETRY_AFTER_MS, 'a hostile Retry-After is capped');
  // Spread: a fleet told the same Retry-After does not come back in step.
  const pauses = new Set(Array.from({ length: 50 }, (_, i) => retryPauseMs(1000, 5000, () => i / 50)));
  assert.equal(pauses.size, 50);
});

test('the manager spreads its own Retry-After over 5–10 s', () => {
  assert.equal(retryAfterSeconds(() => 0), 5);
  assert.equal(retryAfterSeconds(() => 0.999), 10);
  for (let i = 0; i < 100; i++) {
    const s = retryAfterSeconds();
    assert.ok(Number.isInteger(s) && s >= 5 && s <= 10, String(s));
  }
});
