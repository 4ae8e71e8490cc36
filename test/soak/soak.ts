// `npm run soak [-- --minutes N]`: an hour (by default) of simulated fleet traffic against a real
// manager and a real worker, on loopback only, to show whether their memory stays flat.
// docs/soak.md says how to run it and how to read it.
//
// - The manager: `node src/main.ts manager` (or $NEBULA_BINARY), SQLite in a temp dir, Basic
//   auth, 127.0.0.1 on a free port (test/bench/lib.ts's startManager, not pinned to a CPU).
// - The fleet: the fleet simulator of test/bench/fleet (Fleet, in this process): --devices
//   devices over --groups device groups, each long-polling its group's /info over its own socket
//   and reporting like the worker (every 30 s, and after each change).
// - The changes (changes.ts): every --change-every seconds one group changes, in turn: a fleet
//   group's app gets a new environment (its devices wake, fetch, "apply", report), or the real
//   worker's group changes (worker-group.ts).
// - The worker: `node src/main.ts worker` (test/helpers/worker-process.ts) against the real
//   engine and the test registry, check-in 5 s, through a counting proxy (worker.bench.ts); the
//   engine is locked as the worker tests lock it, since a worker owns every Nebula container.
// - Every --sample-every seconds: VmRSS and RssAnon of both processes, the requests answered and
//   their statuses, the p99 of the fleet's reports and of its wake-ups (admin write → device's 200),
//   and whether the worker's containers match the latest config.
// At the end: changes stop, the worker gets 90 s to converge, memory is judged (analysis.ts), a
// table and a JSON summary are printed and written to <run dir>/result.json (report.ts); the exit
// code is 1 when memory grew, any 5xx was answered, or the worker did not converge (130 when
// interrupted). Whatever it started is stopped and removed on every way out, Ctrl-C included.

import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AUTH, AUTH_HEADER, ROOT, seedGroup, startManager, type BenchManager } from '../bench/lib.ts';
import { Fleet } from '../bench/fleet/fleet.ts';
import { currentInfo } from '../bench/fleet/manager.ts';
import { fmtCount, numberOption } from '../bench/fleet/stats.ts';
import { countingProxy, memoryOf, type CountingProxy } from '../bench/worker.bench.ts';
import { lockEngine } from '../helpers/worker-fixtures.ts';
import { spawnWorkerProcess, type Proc } from '../helpers/worker-process.ts';
import { warmupSeconds } from './analysis.ts';
import { freePort } from '../helpers/ports.ts';
import { heapGrowth, summarizeSnapshot, takeSnapshot, type HeapSummary } from './heap.ts';
import { Changes, type FleetGroup } from './changes.ts';
import { Counts, LogTap, summarize } from './counts.ts';
import { conclude, printHeader, printRow, type Sample, type Settings } from './report.ts';
import { WorkerGroup, type Admin, type Convergence } from './worker-group.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    devices: { type: 'string', default: '2000' },
    groups: { type: 'string', default: '3' },
    'change-every': { type: 'string', default: '5' },
    'sample-every': { type: 'string', default: '10' },
    'warmup-minutes': { type: 'string' },
    'heap-snapshots': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: npm run soak -- [--minutes 60] [--devices 2000] [--groups 3] [--change-every 5] [--sample-every 10] [--warmup-minutes M] [--heap-snapshots]\n');
  process.exit(0);
}
const num = (name: keyof typeof values, min: number, max: number): number => numberOption(values, name, min, max);
const DURATION_S = Math.round(num('minutes', 0.5, 24 * 60) * 60);
const DEVICES = num('devices', 1, 15_000);
const GROUPS = num('groups', 1, 50);
const CHANGE_EVERY_S = num('change-every', 1, 3600);
const SAMPLE_EVERY_S = num('sample-every', 1, 600);
const WARMUP_S = values['warmup-minutes'] === undefined ? warmupSeconds(DURATION_S) : Math.round(num('warmup-minutes', 0, 24 * 60) * 60);
/** Reports outlive their TTL by one purge at most: kept ≤ the warm-up, the store is at its steady size when measuring starts. */
const REPORT_TTL_S = Math.min(300, Math.max(60, WARMUP_S));
const WORKER_CHECK_IN_S = 5;
const HEAP_SNAPSHOTS = values['heap-snapshots'] === true;
/** The worker serves its metrics here (loopback): V8's heap and the external memory, each sample. */
const WORKER_METRICS_PORT = await freePort();
if (HEAP_SNAPSHOTS && process.env.NEBULA_BINARY) {
  process.stderr.write('soak: --heap-snapshots needs the worker run by node (unset NEBULA_BINARY)\n');
  process.exit(2);
}
const CONVERGE_TIMEOUT_S = 90;

const RUN = `soak-${randomBytes(3).toString('hex')}`;
const RUN_DIR = mkdtempSync(join(tmpdir(), 'nebula-soak-'));
const MB = (kib: number) => (kib * 1024) / 1e6;
const log = (line: string) => process.stderr.write(`soak: ${line}\n`);

// ---- lifecycle: everything started is undone, on any exit ----------------------------------

const abort = new AbortController();
const cleanups: { name: string; fn: () => unknown }[] = [];
/** Synchronous last resort (process 'exit'): SIGKILL what is still running, remove the run's containers. */
const lastResort: (() => void)[] = [];
let cleaned = false;
let signals = 0;

function onSignal(signal: NodeJS.Signals): void {
  signals += 1;
  if (signals === 1) {
    log(`${signal}: stopping and cleaning up (again to leave at once)`);
    abort.abort(new Error(signal));
  } else process.exit(130);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', () => {
  if (cleaned) return;
  for (const fn of lastResort.reverse()) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
});

async function cleanup(): Promise<void> {
  for (const { name, fn } of cleanups.reverse()) {
    try {
      await Promise.race([fn(), delay(30_000).then(() => Promise.reject(new Error('timed out after 30 s')))]);
    } catch (err) {
      log(`cleanup, ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  cleaned = true;
}

/** Waits for `p`, or rejects when the soak is interrupted. */
function abortable<T>(p: Promise<T>): Promise<T> {
  if (abort.signal.aborted) return Promise.reject(abort.signal.reason as Error);
  let listener = () => {};
  const aborted = new Promise<never>((_, reject) => {
    listener = () => reject(abort.signal.reason as Error);
    abort.signal.addEventListener('abort', listener, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => abort.signal.removeEventListener('abort', listener));
}

const sleep = (ms: number) => delay(Math.max(0, ms), undefined, { signal: abort.signal });

const running = (p: { child: { exitCode: number | null; signalCode: string | null } }) => p.child.exitCode === null && p.child.signalCode === null;

// ---- the soak ------------------------------------------------------------------------------

const SETTINGS: Settings = {
  minutes: DURATION_S / 60,
  warmupS: WARMUP_S,
  devices: DEVICES,
  fleetGroups: GROUPS,
  changeEveryS: CHANGE_EVERY_S,
  sampleEveryS: SAMPLE_EVERY_S,
  reportTtlS: REPORT_TTL_S,
  workerCheckInS: WORKER_CHECK_IN_S,
  convergeTimeoutS: CONVERGE_TIMEOUT_S,
  binary: process.env.NEBULA_BINARY ?? null,
};

async function main(): Promise<number> {
  log(`run ${RUN}: ${DURATION_S / 60} min (warm-up ${WARMUP_S} s), ${fmtCount(DEVICES)} devices in ${GROUPS} groups + the worker's, a change every ${CHANGE_EVERY_S} s, a sample every ${SAMPLE_EVERY_S} s; files in ${RUN_DIR}`);
  const counts = new Counts();

  // A worker removes every Nebula container it does not run: the engine is taken as the worker tests take it.
  log('taking the engine lock (the worker tests hold it while they run)…');
  const release = await abortable(lockEngine(30 * 60_000));
  cleanups.push({ name: 'engine lock', fn: release });
  lastResort.push(release);

  const manager: BenchManager = await abortable(startManager({ cpus: '', args: ['--report-ttl', String(REPORT_TTL_S)], ...(SETTINGS.binary ? { binary: SETTINGS.binary } : {}) }));
  lastResort.push(() => running(manager) && manager.child.kill('SIGKILL'));
  // A log is closed after its process has stopped (cleanups run last-registered first).
  const managerLog = new LogTap(join(RUN_DIR, 'manager.log'), [manager.child.stdout, manager.child.stderr]);
  cleanups.push({ name: 'manager log', fn: () => managerLog.close() });
  cleanups.push({ name: 'manager', fn: () => manager.stop() });
  log(`manager ${manager.url} (pid ${manager.child.pid})`);
  const admin = adminClient(manager.url, counts);

  // The fleet's groups (three apps each, as the benches' pos-eu) and the worker's.
  const groupNames = Array.from({ length: GROUPS }, (_, i) => `fleet-${i + 1}`);
  for (const g of groupNames) await abortable(seedGroup(manager.url, g, [`${g}-web`, `${g}-metrics`, `${g}-agent`]));
  const workerGroup = new WorkerGroup(RUN);
  await abortable(workerGroup.create(admin));

  const proxy: CountingProxy = await countingProxy(manager.url);
  cleanups.push({ name: 'proxy', fn: () => proxy.close() });

  // The worker; its containers are removed once it has stopped.
  const stateDir = join(RUN_DIR, 'worker-state');
  mkdirSync(stateDir);
  cleanups.push({ name: 'worker state', fn: () => rmSync(stateDir, { recursive: true, force: true }) });
  cleanups.push({ name: 'containers', fn: async () => log(`removed ${await workerGroup.removeContainers()} container(s) of the run`) });
  lastResort.push(() => {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `name=^/${RUN}-`], { encoding: 'utf8' }).split('\n').filter(Boolean);
    if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
  });
  const worker: Proc = spawnWorkerProcess(
    ['--metrics-port', String(WORKER_METRICS_PORT), '--device-group', workerGroup.name, '--manager-url', proxy.url, '--state-dir', stateDir, '--device-name', `${RUN}-device`, '--check-in-time', String(WORKER_CHECK_IN_S), '--rolling-settle', '1', '--log-level', 'info'],
    {
      NEBULA_MANAGER_AUTH_USER: AUTH.user,
      NEBULA_MANAGER_AUTH_PASSWORD: AUTH.password,
      // --heap-snapshots: SIGUSR2 makes the worker write a snapshot into the run directory (heap.ts).
      ...(HEAP_SNAPSHOTS ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${RUN_DIR}` } : {}),
    },
  );
  const workerLog = new LogTap(join(RUN_DIR, 'worker.log'), [worker.child.stdout, worker.child.stderr]);
  cleanups.push({ name: 'worker log', fn: () => workerLog.close() });
  cleanups.push({ name: 'worker', fn: () => stopWorker(worker) });
  lastResort.push(() => running(worker) && worker.child.kill('SIGKILL'));
  log(`worker pid ${worker.child.pid}, group ${workerGroup.name}: waiting for its first deployment`);
  const alive = () => {
    if (!running(manager)) throw new Error(`the manager exited (${manager.child.exitCode ?? manager.child.signalCode}); see ${RUN_DIR}/manager.log`);
    if (!running(worker)) throw new Error(`the worker exited (${worker.child.exitCode ?? worker.child.signalCode}); see ${RUN_DIR}/worker.log`);
  };
  const converge = async (timeoutS: number) => {
    const deadline = performance.now() + timeoutS * 1000;
    for (;;) {
      alive();
      const c = await workerGroup.convergence();
      if (c.converged || performance.now() > deadline) return c;
      await sleep(1000);
    }
  };
  const first = await converge(180);
  if (!first.converged) throw new Error(`the worker did not deploy its group within 180 s: ${first.detail}; see ${RUN_DIR}/worker.log`);

  // The fleet: devices that already run their group's config, as a fleet that was up before.
  const fleets: FleetGroup[] = [];
  cleanups.push({ name: 'fleet', fn: () => Promise.all(fleets.map((f) => f.fleet.stop())) });
  for (const [i, g] of groupNames.entries()) {
    const devices = Math.floor(DEVICES / GROUPS) + (i < DEVICES % GROUPS ? 1 : 0);
    const fleet = new Fleet({ url: manager.url, group: g, authorization: AUTH_HEADER, devices, hostnamePrefix: `${g}-sim-`, rampMs: 10_000, known: await currentInfo(manager.url, g) });
    fleets.push({ name: g, app: `${g}-web`, fleet });
  }
  for (const f of fleets) f.fleet.start();
  const start = performance.now();
  const changes = new Changes(fleets, workerGroup, admin, CHANGE_EVERY_S);
  changes.start(start);
  cleanups.push({ name: 'changes', fn: () => changes.close() });
  log(`traffic started; the first ${WARMUP_S} s are a warm-up, left out of the fit`);

  const samples: Sample[] = [];
  let proxySeen = 0;
  let changesSeen = 0;
  let lagsSeen = 0;
  let lastAt = start;
  const sample = (converged: Convergence, heap: WorkerHeap): Sample => {
    alive();
    const m = memoryOf(manager.child.pid!);
    const w = memoryOf(worker.child.pid!);
    const now = performance.now();
    const reportsP99: number[] = [];
    let longPolls = 0;
    for (const { fleet } of fleets) {
      const s = fleet.stats();
      fleet.resetStats();
      longPolls += s.parked;
      for (const [status, n] of Object.entries(s.info.byStatus)) counts.status('fleet /info', Number(status), n);
      for (const [status, n] of Object.entries(s.reports.byStatus)) counts.status('fleet reports', Number(status), n);
      for (const [code, n] of Object.entries(s.info.byError)) counts.error('fleet /info', code, n);
      for (const [code, n] of Object.entries(s.reports.byError)) counts.error('fleet reports', code, n);
      if (s.reports.latency.count > 0) reportsP99.push(s.reports.latency.p99);
    }
    for (; proxySeen < proxy.events.length; proxySeen++) counts.status('worker', proxy.events[proxySeen]!.status);
    const wakes = changes.fleetChanges.slice(changesSeen).filter((c) => c.received > 0);
    changesSeen = changes.fleetChanges.length;
    const lags = changes.workerLags.slice(lagsSeen);
    lagsSeen = changes.workerLags.length;
    const window = summarize(counts.take());
    const s: Sample = {
      t: Math.round((now - start) / 1000),
      manager: { rssMB: MB(m.rssKiB), anonMB: MB(m.anonKiB) },
      worker: { rssMB: MB(w.rssKiB), anonMB: MB(w.anonKiB), ...heap },
      answered: window.answered,
      ratePerS: window.answered / ((now - lastAt) / 1000),
      fiveXX: window.fiveXX,
      errors: window.errors,
      reportsP99Ms: reportsP99.length ? Math.max(...reportsP99) : null,
      wakeP99Ms: wakes.length ? Math.max(...wakes.map((c) => c.p99)) : null,
      longPolls,
      workerLagS: lags.length ? Math.max(...lags) : null,
      converged: converged.converged,
      ...(converged.converged ? {} : { detail: converged.detail }),
    };
    lastAt = now;
    samples.push(s);
    appendFileSync(join(RUN_DIR, 'samples.jsonl'), `${JSON.stringify(s)}\n`);
    printRow(s, WARMUP_S);
    return s;
  };
  printHeader();
  let warmHeap: HeapSummary | undefined;
  for (let k = 1; k * SAMPLE_EVERY_S <= DURATION_S; k++) {
    await sleep(start + k * SAMPLE_EVERY_S * 1000 - performance.now());
    const s = sample(await abortable(workerGroup.convergence()), await workerHeap());
    if (HEAP_SNAPSHOTS && warmHeap === undefined && s.t >= WARMUP_S) warmHeap = summarizeSnapshot(await takeSnapshot(worker.child.pid!, RUN_DIR));
  }

  // The end: no more changes; the worker must reach the last config; one more sample.
  await abortable(changes.stop());
  log(`changes stopped; waiting up to ${CONVERGE_TIMEOUT_S} s for the worker to match the last one`);
  sample(await abortable(converge(CONVERGE_TIMEOUT_S)), await workerHeap());
  if (warmHeap !== undefined) reportHeap(warmHeap, summarizeSnapshot(await takeSnapshot(worker.child.pid!, RUN_DIR)));
  return conclude({
    id: RUN,
    dir: RUN_DIR,
    commit: gitCommit(),
    settings: SETTINGS,
    samples,
    totals: counts.total,
    fleetChanges: changes.fleetChanges,
    workerChanges: changes.workerChanges,
    workerLags: changes.workerLags,
    workerLagging: changes.workerLagging,
    worker: { checkIns: proxy.events.filter((e) => e.kind.startsWith('info')).length, reports: proxy.events.filter((e) => e.kind === 'report').length },
    logs: { manager: managerLog, worker: workerLog },
  });
}

/** Admin calls, counted; a call that gets no answer is counted by its error code and returns status 0. */
function adminClient(url: string, counts: Counts): Admin {
  return async (method, path, body) => {
    try {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: AUTH_HEADER, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      counts.status('admin', response.status);
      try {
        return { status: response.status, body: JSON.parse(text) as unknown };
      } catch {
        return { status: response.status, body: null };
      }
    } catch (err) {
      counts.error('admin', (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
      return { status: 0, body: null };
    }
  };
}

type WorkerHeap = Pick<Sample['worker'], 'heapTotalMB' | 'heapUsedMB' | 'externalMB'>;

/** V8's committed and used heap and the external memory, from the worker's /metrics ({} if it does not answer). */
async function workerHeap(): Promise<WorkerHeap> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${WORKER_METRICS_PORT}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const value = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.split(' ')[1]) / 1e6;
    };
    const out: WorkerHeap = {};
    const total = value('nebula_nodejs_heap_size_total_bytes');
    const used = value('nebula_nodejs_heap_size_used_bytes');
    const external = value('nebula_nodejs_external_memory_bytes');
    if (total !== undefined) out.heapTotalMB = total;
    if (used !== undefined) out.heapUsedMB = used;
    if (external !== undefined) out.externalMB = external;
    return out;
  } catch {
    return {};
  }
}

/** The worker's live heap at the end of the warm-up and at the end, and what grew most (heap.ts). */
function reportHeap(before: HeapSummary, after: HeapSummary): void {
  const mb = (b: number) => (b / 1e6).toFixed(2);
  log(`worker live heap after a full collection: ${mb(before.totalBytes)} MB (${before.objects} objects) at the end of the warm-up, ${mb(after.totalBytes)} MB (${after.objects}) at the end`);
  const growth = heapGrowth(before, after);
  for (const g of growth) log(`  ${g.bytes >= 0 ? '+' : ''}${(g.bytes / 1e3).toFixed(1)} kB  ${g.count >= 0 ? '+' : ''}${g.count}  ${g.kind}`);
  writeFileSync(join(RUN_DIR, 'heap.json'), JSON.stringify({ before: { file: before.file, bytes: before.totalBytes, objects: before.objects }, after: { file: after.file, bytes: after.totalBytes, objects: after.objects }, growth }, null, 2));
}

/** SIGTERM (the worker leaves its containers running), SIGKILL after 20 s. */
async function stopWorker(worker: Proc): Promise<void> {
  if (!running(worker)) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 20_000);
  await worker.exited;
  clearTimeout(timer);
}

function gitCommit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return null;
  }
}

let code = 1;
try {
  code = await main();
} catch (err) {
  if (abort.signal.aborted) log('interrupted: no verdict');
  else log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = abort.signal.aborted ? 130 : 1;
} finally {
  await cleanup();
  log(`done; logs and samples in ${RUN_DIR}`);
}
process.exit(code);
