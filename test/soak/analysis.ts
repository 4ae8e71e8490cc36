// What the soak concludes from its samples (pure: no I/O, tested in test/unit/soak-analysis.test.ts).
//
// Memory is judged on a least-squares line through the samples taken after the warm-up (the
// start-up, the first deployment and the JIT are not a leak). The line's rise over the measured
// window is the growth; the process is "flat" when that growth is below the larger of
//   - 5 % of the baseline (the line's value at the start of the window): a busy Node process's
//     RSS swings by a few per cent as V8 grows and shrinks its heaps, so a short run cannot
//     resolve less than that, and less than that is no risk to a manager;
//   - 10 MB per hour measured: an hour cannot tell a smaller slope from the heaps and caches
//     settling, while 10 MB/h (240 MB a day) is a leak any device or manager would die of.
// So a short run is judged on its noise floor, an hour's run on the 10 MB/h slope.
//
// A busy manager's RSS is a sawtooth: its heap climbs by 100 MB and more between two full
// collections (seen: 230 → 396 → 230 MB within 3 min under 2,000 devices). A line through a
// sawtooth tilts with the phases at the two ends, so a second line is fitted through its floor
// (the lowest sample of each fifth of the window, 11 min of an hour's run, longer than the
// time between two collections: what is left after one), and the process is "growing" only
// when both lines rise past the limit. A leak lifts the floor with the rest; a collection that
// happens to come early or late tilts only the first line. (Checked on synthetic sawtooths of
// 170 MB, periods 1–10 min, every phase: no false "growing"; a 20 MB/h leak on top is caught
// about half the time, 30 MB/h 97 % of the time — the 5 % floor of a 300 MB manager is 15 MB.)

export const FLAT_SHARE = 0.05;
export const FLAT_MB_PER_HOUR = 10;

export interface Fit {
  /** MB per second. */
  slope: number;
  /** The line's value at t = 0. */
  intercept: number;
  /** Standard error of the slope (MB per second); NaN with fewer than 3 points. */
  slopeError: number;
  /** Share of the variance the line explains (0..1; 1 when every point is equal). */
  r2: number;
}

/** Ordinary least squares of y over t. */
export function leastSquares(t: number[], y: number[]): Fit {
  const n = t.length;
  if (n !== y.length || n < 2) throw new Error(`least squares needs two points or more (got ${n})`);
  const mt = t.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let stt = 0;
  let sty = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    stt += (t[i]! - mt) ** 2;
    sty += (t[i]! - mt) * (y[i]! - my);
    syy += (y[i]! - my) ** 2;
  }
  if (stt === 0) throw new Error('least squares needs two distinct times');
  const slope = sty / stt;
  const intercept = my - slope * mt;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (y[i]! - (intercept + slope * t[i]!)) ** 2;
  const slopeError = n > 2 ? Math.sqrt(sse / (n - 2) / stt) : NaN;
  return { slope, intercept, slopeError, r2: syy === 0 ? 1 : 1 - sse / syy };
}

/** Seconds of warm-up left out of the fit: 10 % of the run, and at least 2 min (but no more than 30 % of a short run). */
export function warmupSeconds(durationS: number): number {
  return Math.round(Math.max(0.1 * durationS, Math.min(120, 0.3 * durationS)));
}

export interface MemoryVerdict {
  /** Samples in the fit (after the warm-up). */
  samples: number;
  /** Length of the measured window (s). */
  windowS: number;
  /** The line's value at the start of the window (MB). */
  baselineMB: number;
  slopeMBPerHour: number;
  /** ± one standard error of the slope. */
  slopeErrorMBPerHour: number;
  r2: number;
  /** The line's rise over the window (MB; negative: it shrank). */
  growthMB: number;
  /** The rise of the line through the floor (the lowest sample of each fifth of the window). */
  floorGrowthMB: number;
  /** What the growth must stay under (MB). */
  limitMB: number;
  /** "flat", "growing", or "too short" (fewer than 3 samples after the warm-up: no verdict, which fails). */
  verdict: 'flat' | 'growing' | 'too short';
  /** Smallest and largest sample in the window (MB). */
  minMB: number;
  maxMB: number;
}

/** Judges one series of (seconds since the start, MB) samples; those before `warmupS` are left out. */
export function judgeMemory(points: { t: number; mb: number }[], warmupS: number): MemoryVerdict {
  const kept = points.filter((p) => p.t >= warmupS && Number.isFinite(p.mb));
  const empty = { samples: kept.length, windowS: 0, baselineMB: NaN, slopeMBPerHour: NaN, slopeErrorMBPerHour: NaN, r2: NaN, growthMB: NaN, floorGrowthMB: NaN, limitMB: NaN, minMB: NaN, maxMB: NaN };
  if (kept.length < 3) return { ...empty, verdict: 'too short' };
  const t0 = kept[0]!.t;
  const t1 = kept.at(-1)!.t;
  const fit = leastSquares(
    kept.map((p) => p.t),
    kept.map((p) => p.mb),
  );
  const windowS = t1 - t0;
  const baselineMB = fit.intercept + fit.slope * t0;
  const growthMB = fit.slope * windowS;
  const limitMB = Math.max(FLAT_SHARE * baselineMB, (FLAT_MB_PER_HOUR * windowS) / 3600);
  const floor = floorOf(kept);
  const floorGrowthMB = leastSquares(
    floor.map((p) => p.t),
    floor.map((p) => p.mb),
  ).slope * windowS;
  return {
    samples: kept.length,
    windowS,
    baselineMB,
    slopeMBPerHour: fit.slope * 3600,
    slopeErrorMBPerHour: fit.slopeError * 3600,
    r2: fit.r2,
    growthMB,
    floorGrowthMB,
    limitMB,
    verdict: growthMB >= limitMB && floorGrowthMB >= limitMB ? 'growing' : 'flat',
    minMB: Math.min(...kept.map((p) => p.mb)),
    maxMB: Math.max(...kept.map((p) => p.mb)),
  };
}

/** The lowest sample of each of up to five equal runs of samples (at least two samples each, three runs at least). */
export function floorOf(points: { t: number; mb: number }[]): { t: number; mb: number }[] {
  const runs = Math.max(3, Math.min(5, Math.floor(points.length / 2)));
  const out: { t: number; mb: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const run = points.slice(Math.floor((i * points.length) / runs), Math.floor(((i + 1) * points.length) / runs));
    if (run.length === 0) continue;
    out.push(run.reduce((low, p) => (p.mb < low.mb ? p : low)));
  }
  return out;
}

/** The median of some numbers (NaN when there are none). */
export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Right-aligned columns under a header, for the terminal. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
