// The soak's verdict on memory (test/soak/analysis.ts): the least-squares line, the warm-up left
// out, the limit (5 % of the baseline, or 10 MB per hour measured, whichever is larger), and the
// line through the floor that keeps a garbage collector's sawtooth from reading as growth.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeMemory, leastSquares, median, warmupSeconds } from '../soak/analysis.ts';

const series = (seconds: number, every: number, mb: (t: number) => number) => Array.from({ length: Math.floor(seconds / every) }, (_, i) => ({ t: (i + 1) * every, mb: mb((i + 1) * every) }));

test('least squares: an exact line is found, with no error', () => {
  const fit = leastSquares([0, 1, 2, 3], [5, 7, 9, 11]);
  assert.equal(fit.slope, 2);
  assert.equal(fit.intercept, 5);
  assert.equal(fit.slopeError, 0);
  assert.equal(fit.r2, 1);
  assert.throws(() => leastSquares([1], [1]));
  assert.throws(() => leastSquares([1, 1], [1, 2]));
});

test('warm-up: 10 % of the run, at least 2 min unless that is more than 30 % of it', () => {
  assert.equal(warmupSeconds(3600), 360);
  assert.equal(warmupSeconds(600), 120);
  assert.equal(warmupSeconds(180), 54);
});

test('a steady process with noise is flat; the warm-up climb is left out', () => {
  // Climbs 40 MB in the first 6 min, then wobbles ±3 MB around 100 MB for 54 min.
  const points = series(3600, 10, (t) => (t < 360 ? 60 + (40 * t) / 360 : 100 + 3 * Math.sin(t / 37)));
  const v = judgeMemory(points, 360);
  assert.equal(v.verdict, 'flat');
  assert.ok(Math.abs(v.slopeMBPerHour) < 1, String(v.slopeMBPerHour));
  assert.ok(Math.abs(v.baselineMB - 100) < 1);
  assert.equal(judgeMemory(points, 0).verdict, 'growing', 'the warm-up itself would read as growth');
});

test('a leak of 12 MB/h over an hour grows; 8 MB/h on 100 MB does not (limit 9 MB over 54 min)', () => {
  const v12 = judgeMemory(series(3600, 10, (t) => 100 + (12 * t) / 3600), 360);
  assert.equal(v12.verdict, 'growing');
  assert.ok(Math.abs(v12.slopeMBPerHour - 12) < 1e-6);
  assert.ok(Math.abs(v12.limitMB - 9) < 0.1, String(v12.limitMB));
  assert.equal(judgeMemory(series(3600, 10, (t) => 100 + (8 * t) / 3600), 360).verdict, 'flat');
});

test("a GC sawtooth (170 MB, collections 1-10 min apart, any phase) is flat; a 40 MB/h leak under it is not", () => {
  for (const period of [60, 150, 290, 600]) {
    for (const phase of [0, 0.3, 0.7, 0.95]) {
      const saw = (t: number) => 230 + 170 * ((t / period + phase) % 1);
      assert.equal(judgeMemory(series(3600, 10, saw), 360).verdict, 'flat', `period ${period} s, phase ${phase}`);
      assert.equal(judgeMemory(series(3600, 10, (t) => saw(t) + (40 * t) / 3600), 360).verdict, 'growing', `leak, period ${period} s, phase ${phase}`);
    }
  }
});

test('a short run is judged on 5 % of its baseline; fewer than 3 samples is no verdict', () => {
  // 3 min, 2 min measured: 200 MB baseline, limit 10 MB.
  assert.equal(judgeMemory(series(180, 10, (t) => 200 + (8 * t) / 180), 60).verdict, 'flat');
  assert.equal(judgeMemory(series(180, 10, (t) => 200 + (20 * t) / 180), 60).verdict, 'growing');
  assert.equal(judgeMemory(series(30, 10, () => 100), 20).verdict, 'too short');
});

test('median', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
});
