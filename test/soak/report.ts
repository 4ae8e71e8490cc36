// What the soak prints and writes: a row per sample as it comes, then the memory verdicts as a
// table and everything as JSON (stdout and <run dir>/result.json), with the reasons it failed.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmtCount } from '../bench/fleet/stats.ts';
import { FLAT_MB_PER_HOUR, FLAT_SHARE, judgeMemory, median, table, type MemoryVerdict } from './analysis.ts';
import { summarize, type LogTap, type Tallies } from './counts.ts';

export interface Sample {
  /** Seconds since the traffic started. */
  t: number;
  manager: { rssMB: number; anonMB: number };
  /** heap*, external: from the worker's own /metrics (V8's committed and used heap, memory held outside it by buffers and addons). */
  worker: { rssMB: number; anonMB: number; heapTotalMB?: number; heapUsedMB?: number; externalMB?: number };
  /** Requests the manager answered in the window, and per second. */
  answered: number;
  ratePerS: number;
  fiveXX: number;
  errors: number;
  /** The worst p99 among the fleet groups' reports in the window (queued → answered). */
  reportsP99Ms: number | null;
  /** The worst p99 of the fleet changes read in the window (admin write sent → device's 200). */
  wakeP99Ms: number | null;
  longPolls: number;
  /** The longest time the worker took to match a change of its group, among those it matched in the window (s). */
  workerLagS: number | null;
  converged: boolean;
  detail?: string;
}

export interface Settings {
  minutes: number;
  warmupS: number;
  devices: number;
  fleetGroups: number;
  changeEveryS: number;
  sampleEveryS: number;
  reportTtlS: number;
  workerCheckInS: number;
  convergeTimeoutS: number;
  binary: string | null;
}

/** A fleet change, read when the next change of its group comes (or at the end). */
export interface ChangeRecord {
  group: string;
  received: number;
  devices: number;
  p99: number;
}

export interface Run {
  id: string;
  dir: string;
  commit: string | null;
  settings: Settings;
  samples: Sample[];
  totals: Tallies;
  fleetChanges: ChangeRecord[];
  workerChanges: number;
  /** Seconds from each change of the worker's group to the worker matching it. */
  workerLags: number[];
  /** Changes of the worker's group it had not matched when the next came. */
  workerLagging: number;
  worker: { checkIns: number; reports: number };
  logs: { manager: LogTap; worker: LogTap };
}

const COLUMNS = ['t (s)', 'mgr RSS', 'mgr priv', 'wrk RSS', 'wrk priv', 'req/s', '5xx', 'errors', 'reports p99', 'wake p99', 'long-polls', 'wrk lag', 'worker'];
const WIDTHS = [6, 8, 9, 8, 9, 7, 4, 7, 12, 9, 11, 8, 7];
const f1 = (n: number) => n.toFixed(1);
const ms = (n: number | null) => (n === null ? '-' : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(0)} ms`);

export function printHeader(): void {
  process.stdout.write(`${COLUMNS.map((c, i) => c.padStart(WIDTHS[i]!)).join(' ')}\n`);
}

export function printRow(s: Sample, warmupS: number): void {
  const cells = [
    String(s.t),
    f1(s.manager.rssMB),
    f1(s.manager.anonMB),
    f1(s.worker.rssMB),
    f1(s.worker.anonMB),
    s.ratePerS.toFixed(0),
    String(s.fiveXX),
    String(s.errors),
    ms(s.reportsP99Ms),
    ms(s.wakeP99Ms),
    fmtCount(s.longPolls),
    s.workerLagS === null ? '-' : `${s.workerLagS.toFixed(1)} s`,
    s.converged ? 'ok' : 'behind',
  ];
  process.stdout.write(`${cells.map((c, i) => c.padStart(WIDTHS[i]!)).join(' ')}${s.t < warmupS ? '  (warm-up)' : ''}\n`);
}

/** Judges the run, prints the table and the JSON, writes result.json; returns the exit code. */
export function conclude(run: Run): number {
  const { settings, samples } = run;
  const final = samples.at(-1);
  const series = (pick: (s: Sample) => number) => samples.map((s) => ({ t: s.t, mb: pick(s) }));
  const memory: Record<string, MemoryVerdict> = {
    manager: judgeMemory(series((s) => s.manager.rssMB), settings.warmupS),
    worker: judgeMemory(series((s) => s.worker.rssMB), settings.warmupS),
    'manager (private)': judgeMemory(series((s) => s.manager.anonMB), settings.warmupS),
    'worker (private)': judgeMemory(series((s) => s.worker.anonMB), settings.warmupS),
    // Where the worker's private memory is: V8's heap (committed, used) or outside it (external).
    'worker (V8 heap)': judgeMemory(series((s) => s.worker.heapTotalMB ?? 0), settings.warmupS),
    'worker (V8 heap used)': judgeMemory(series((s) => s.worker.heapUsedMB ?? 0), settings.warmupS),
    'worker (external)': judgeMemory(series((s) => s.worker.externalMB ?? 0), settings.warmupS),
  };
  const totals = summarize(run.totals);
  const measured = samples.filter((s) => s.t >= settings.warmupS);

  const failures: string[] = [];
  for (const p of ['manager', 'worker']) {
    const v = memory[p]!;
    if (v.verdict === 'too short') failures.push(`${p}: fewer than 3 samples after the warm-up, no verdict (a longer run, or a shorter --sample-every)`);
    else if (v.verdict !== 'flat') failures.push(`${p}: RSS grew ${f1(v.growthMB)} MB (its floor ${f1(v.floorGrowthMB)} MB) in ${(v.windowS / 60).toFixed(1)} min (${f1(v.slopeMBPerHour)} MB/h), limit ${f1(v.limitMB)} MB`);
  }
  if (totals.fiveXX > 0) failures.push(`the manager answered ${totals.fiveXX} request(s) with a 5xx`);
  if (!final?.converged) failures.push(`the worker did not match the last config within ${settings.convergeTimeoutS} s: ${final?.detail ?? 'no sample'}`);

  const rows = Object.entries(memory).map(([name, v]) => [
    name,
    f1(v.baselineMB),
    `${f1(v.minMB)}–${f1(v.maxMB)}`,
    `${f1(v.slopeMBPerHour)} ± ${f1(v.slopeErrorMBPerHour)}`,
    f1(v.growthMB),
    f1(v.floorGrowthMB),
    f1(v.limitMB),
    v.r2.toFixed(2),
    name.includes('(') ? `(${v.verdict})` : v.verdict,
  ]);
  const out = process.stdout;
  out.write(
    `\nmemory after the ${settings.warmupS} s warm-up, least squares over ${samples.filter((s) => s.t >= settings.warmupS).length} samples (MB = 10^6 bytes; growth = the line's rise over the window, floor = the same through the lowest sample of each fifth;\n` +
      `flat unless both exceed the limit, max(${FLAT_SHARE * 100} % of the baseline, ${FLAT_MB_PER_HOUR} MB/h × window); private = RssAnon; V8 heap, V8 heap used and external from the worker's /metrics: for information)\n`,
  );
  out.write(`${table(['process', 'baseline', 'range', 'slope MB/h', 'growth', 'floor', 'limit', 'R²', 'verdict'], rows)}\n`);
  if (settings.minutes < 30) out.write(`(a ${settings.minutes} min run is judged against the ${FLAT_SHARE * 100} % noise floor and its slope is no hourly rate to rely on: the verdict that counts is a full hour's)\n`);

  const result = {
    run: run.id,
    runDir: run.dir,
    commit: run.commit,
    node: process.version,
    settings,
    samples: samples.length,
    memory,
    requests: {
      answered: totals.answered,
      ratePerS: { median: median(measured.map((s) => s.ratePerS)), max: Math.max(0, ...measured.map((s) => s.ratePerS)) },
      fiveXX: totals.fiveXX,
      errors: totals.errors,
      byStatus: run.totals.byStatus,
      byError: run.totals.byError,
    },
    // After the warm-up: the medians and the worst of the samples' p99s.
    latency: {
      reportsP99Ms: { median: median(measured.flatMap((s) => (s.reportsP99Ms === null ? [] : [s.reportsP99Ms]))), max: Math.max(0, ...measured.map((s) => s.reportsP99Ms ?? 0)) },
      wakeP99Ms: { median: median(measured.flatMap((s) => (s.wakeP99Ms === null ? [] : [s.wakeP99Ms]))), max: Math.max(0, ...measured.map((s) => s.wakeP99Ms ?? 0)) },
      fleetChanges: run.fleetChanges.length,
      devicesNotWokenBeforeNextChange: run.fleetChanges.reduce((n, c) => n + c.devices - c.received, 0),
    },
    worker: {
      changes: run.workerChanges,
      matchedInS: { median: median(run.workerLags), max: Math.max(0, ...run.workerLags) },
      notMatchedBeforeNextChange: run.workerLagging,
      convergedSamples: `${samples.filter((s) => s.converged).length}/${samples.length}`,
      convergedAtEnd: final?.converged ?? false,
      ...run.worker,
    },
    logs: { manager: run.logs.manager.levels, worker: run.logs.worker.levels, managerErrors: run.logs.manager.lastErrors, workerErrors: run.logs.worker.lastErrors },
    verdict: failures.length === 0 ? 'pass' : 'fail',
    failures,
  };
  const json = JSON.stringify(result, null, 2);
  writeFileSync(join(run.dir, 'result.json'), `${json}\n`);
  out.write(`\n${json}\n\n${failures.length === 0 ? 'PASS: memory flat, no 5xx, the worker converged' : `FAIL: ${failures.join('; ')}`} (${join(run.dir, 'result.json')})\n`);
  return failures.length === 0 ? 0 : 1;
}
