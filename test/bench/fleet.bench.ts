// The fleet (issue 7, point 2), with the fleet simulator (test/bench/fleet) in its own process
// pinned to CPU 1 and the manager from source (SQLite, Basic auth) pinned to CPU 0.
//
// a. Capacity: how many devices one manager process holds at a 30 s check-in with p99 < 100 ms.
//    Devices are timers over a pool of keep-alive connections (checkins.ts): per device and
//    interval one conditional GET /info answered 304 (what a long-poll that times out costs
//    on top of holding its socket) and one report (the worker's, three apps). The device count
//    steps up (×1.5 while p99 < 100 ms, then halves the gap) within a time budget; the figure
//    is the largest count whose step kept p99 < 100 ms with no error.
// b. Storm: N devices long-polling over one socket each; the manager is killed (SIGKILL) and
//    started again 2 s later (systemd's RestartSec) on the same port and data; per second:
//    requests, answers, refusals, other failures; time until every device long-polls again.

import { AUTH_HEADER, seedGroup, sleep, startManager, type Bench, type Row } from './lib.ts';
import type { StepResult } from './fleet/checkins.ts';
import { RestartableManager, currentInfo } from './fleet/manager.ts';
import { Simulator } from './fleet/remote.ts';
import { fmtCount, fmtMs, type Second } from './fleet/stats.ts';
import { cpuSeconds, cpuTicks, listenOverflows, openFds, until } from './fleet/wait.ts';

const INTERVAL_S = 30;
const P99_LIMIT_MS = 100;
/** Time for the capacity search's steps (s); BENCH_FLEET_SECONDS lengthens it. */
const CAPACITY_BUDGET_S = Number(process.env.BENCH_FLEET_SECONDS ?? 90);
const STEP_S = Number(process.env.BENCH_FLEET_STEP_SECONDS ?? 8);
const WARMUP_S = 2;
const FIRST_DEVICES = Number(process.env.BENCH_FLEET_FIRST ?? 6000);
const POOL = 256;
const STORM_DEVICES = Number(process.env.BENCH_FLEET_STORM_DEVICES ?? process.env.BENCH_FLEET_DEVICES ?? 10_000);
const RESTART_AFTER_MS = 2000;

const held = (r: StepResult) => r.all.count > 0 && r.all.p99 < P99_LIMIT_MS && r.unfinished === 0 && Object.keys(r.info.byError).length + Object.keys(r.reports.byError).length === 0 && onlyOk(r);
const onlyOk = (r: StepResult) => Object.keys(r.info.byStatus).every((s) => s === '304') && Object.keys(r.reports.byStatus).every((s) => s === '200');

function fmtStep(r: StepResult): string {
  const errors = { ...r.info.byError, ...r.reports.byError };
  return (
    `${fmtCount(r.devices)} devices: ${r.offered.toFixed(0)} req/s offered, ${r.answered.toFixed(0)} answered; ` +
    `/info p50 ${fmtMs(r.info.latency.p50)} p99 ${fmtMs(r.info.latency.p99)}, reports p50 ${fmtMs(r.reports.latency.p50)} p99 ${fmtMs(r.reports.latency.p99)}, all p99 ${fmtMs(r.all.p99)}` +
    `${r.unfinished ? `, ${r.unfinished} unfinished` : ''}${Object.keys(errors).length ? `, errors ${JSON.stringify(errors)}` : ''}${onlyOk(r) ? '' : `, statuses ${JSON.stringify(r.info.byStatus)} ${JSON.stringify(r.reports.byStatus)}`}; simulator busy ${(r.loopUtilization * 100).toFixed(0)} %`
  );
}

interface Step extends StepResult {
  /** Share of one core the manager used over the step. */
  managerBusy: number;
  /** Share of CPU 0's time the hypervisor took (steal) over the step. */
  steal: number;
  /** Manager CPU per device check-in (one /info and one report), ms. */
  cpuPerCheckinMs: number;
}

async function capacity(): Promise<{ best: Step | null; first: Step | null; steps: Step[]; reportBytes: number }> {
  const manager = await startManager();
  let sim: Simulator | undefined;
  try {
    await seedGroup(manager.url);
    const known = await currentInfo(manager.url, 'pos-eu');
    sim = await Simulator.start('1');
    const { reportBytes } = await sim.startLoad({ url: manager.url, group: 'pos-eu', authorization: AUTH_HEADER, etag: known.etag, info: JSON.parse(known.body) as Record<string, unknown>, connections: POOL });
    const pid = manager.child.pid;
    const run = async (devices: number): Promise<Step> => {
      const cpu0 = cpuSeconds(pid);
      const ticks0 = cpuTicks(0);
      const wall0 = performance.now();
      const r = await sim!.step({ devices, intervalS: INTERVAL_S, seconds: STEP_S, warmupSeconds: WARMUP_S });
      const cpu = cpuSeconds(pid) - cpu0;
      const ticks1 = cpuTicks(0);
      const total = ticks1.busy + ticks1.idle + ticks1.steal - (ticks0.busy + ticks0.idle + ticks0.steal);
      const checkins = (devices / INTERVAL_S) * STEP_S;
      return { ...r, managerBusy: cpu / ((performance.now() - wall0) / 1000), steal: total > 0 ? (ticks1.steal - ticks0.steal) / total : 0, cpuPerCheckinMs: (cpu / checkins) * 1000 };
    };
    // The manager's JIT warms up on a short step that is not counted.
    await sim.step({ devices: FIRST_DEVICES, intervalS: INTERVAL_S, seconds: 3, warmupSeconds: 1 });
    const steps: Step[] = [];
    let good: Step | null = null;
    let bad: Step | null = null;
    let retried = false;
    let devices = FIRST_DEVICES;
    const budgetEnd = performance.now() + CAPACITY_BUDGET_S * 1000;
    while (performance.now() + STEP_S * 1000 <= budgetEnd) {
      const r = await run(devices);
      steps.push(r);
      const ok = held(r);
      console.error(`  ${ok ? 'held' : 'over'}: ${fmtStep(r)}; manager ${(r.managerBusy * 100).toFixed(0)} % of a core, ${r.cpuPerCheckinMs.toFixed(2)} ms per check-in; CPU 0 stolen ${(r.steal * 100).toFixed(0)} %`);
      if (!ok) await sleep(2000); // let the manager drain what an overloaded step left
      // One failure may be a hiccup of this shared machine: the first one is run again.
      if (!ok && !retried) {
        retried = true;
        continue;
      }
      if (ok && (good === null || r.devices > good.devices)) good = r;
      if (!ok && (bad === null || r.devices < bad.devices)) bad = r;
      if (bad === null) devices = Math.round(devices * 1.5);
      else if (good === null) devices = Math.round(devices / 2);
      else if (bad.devices - good.devices <= Math.max(500, good.devices * 0.08)) break;
      else devices = Math.round((good.devices + bad.devices) / 2);
    }
    return { best: good, first: bad, steps, reportBytes };
  } finally {
    await sim?.close();
    await manager.stop();
  }
}

interface StormSample {
  /** ms since the kill. */
  t: number;
  /** Device connections the manager has accepted (its descriptors less its own files and the report pool). */
  accepted: number;
  /** Listen-queue overflows since the kill (system-wide). */
  overflows: number;
}

interface StormResult {
  devices: number;
  parkedBefore: number;
  readyAfterMs: number;
  /** When the manager had accepted every device's connection again and each had its long-poll out (ms after the kill). */
  allBackMs: number | null;
  /** Accepted device connections at the end of the observation. */
  acceptedAtEnd: number;
  backP50: number;
  timeline: Second[];
  samples: StormSample[];
  overloadAfterReady: number;
  refusedWhileDown: number;
  brokenAtKill: number;
  failedAfterReady: number;
  peakConnects: number;
  overflows: number;
}

async function storm(): Promise<StormResult> {
  const manager = await RestartableManager.start();
  let sim: Simulator | undefined;
  try {
    // The manager's own descriptors (store, listener, stdio): every one above that is an accepted socket.
    const ownFds = openFds(manager.pid);
    await seedGroup(manager.url);
    const known = await currentInfo(manager.url, 'pos-eu');
    sim = await Simulator.start('1');
    const rampMs = Math.max(2000, (STORM_DEVICES / 2000) * 1000);
    await sim.startFleet({ url: manager.url, group: 'pos-eu', authorization: AUTH_HEADER, devices: STORM_DEVICES, rampMs, known, reports: true, applyMs: 5000 });
    const parked = await until(sim, (s) => s.parked === STORM_DEVICES, rampMs + 30_000);
    if (parked.stats.parked === 0) throw new Error(`no device could long-poll: ${JSON.stringify(parked.stats.info)}`);
    await sleep(2000);
    await sim.resetStats();
    const overflows0 = listenOverflows();
    await sim.beginEpoch();
    const epoch = performance.now();
    await manager.kill();
    await sleep(RESTART_AFTER_MS - (performance.now() - epoch));
    await manager.launch();
    const readyAfterMs = performance.now() - epoch;
    const samples: StormSample[] = [];
    let allBackMs: number | null = null;
    const sample = async () => {
      const stats = await sim!.fleetStats();
      const accepted = Math.max(0, openFds(manager.pid) - ownFds - stats.sockets.poolOpen);
      samples.push({ t: performance.now() - epoch, accepted, overflows: listenOverflows() - overflows0 });
      if (allBackMs === null && accepted >= STORM_DEVICES && stats.parked === STORM_DEVICES) allBackMs = performance.now() - epoch;
    };
    const deadline = performance.now() + 60_000;
    while (allBackMs === null && performance.now() < deadline) {
      await sample();
      await sleep(200);
    }
    // Watch a few more seconds: reports spooled while the manager was down arrive now.
    const watchEnd = performance.now() + 4000;
    while (performance.now() < watchEnd) {
      await sleep(250);
      await sample();
    }
    const back = await sim.backStats();
    const timeline = await sim.timeline();
    const readyS = readyAfterMs / 1000;
    // Seconds wholly after the manager answered /readyz (the one it became ready in is mixed).
    const after = timeline.filter((s) => s.t >= Math.ceil(readyS));
    const before = timeline.filter((s) => s.t < Math.floor(readyS));
    const sum = (list: Second[], k: keyof Second) => list.reduce((n, s) => n + s[k], 0);
    return {
      devices: STORM_DEVICES,
      parkedBefore: parked.stats.parked,
      readyAfterMs,
      allBackMs,
      acceptedAtEnd: samples.at(-1)?.accepted ?? 0,
      backP50: back.latency.p50,
      timeline,
      samples,
      overloadAfterReady: sum(after, 'overload'),
      refusedWhileDown: sum(before, 'refused'),
      brokenAtKill: timeline[0]?.broken ?? 0,
      failedAfterReady: sum(after, 'refused') + sum(after, 'broken'),
      peakConnects: Math.max(0, ...after.map((s) => s.connects)),
      overflows: samples.at(-1)?.overflows ?? 0,
    };
  } finally {
    await sim?.close();
    await manager.stop();
  }
}

export const bench: Bench = {
  name: 'fleet',
  order: 8,
  method:
    'test/bench/fleet simulator in its own process (taskset -c 1) against the manager from source (SQLite, Basic auth, taskset -c 0). ' +
    `Capacity: devices are timers over ${POOL} pooled keep-alive connections (more devices than one process has sockets); each device, every ${INTERVAL_S} s at its own phase, sends one ` +
    "conditional GET /info (If-None-Match → 304: what a long-poll that ends costs besides its held socket) and one report (POST /reports, the worker's report for 3 apps with Docker stats); " +
    `latency counted from when each request was due (client queueing included); after a 3 s warm-up, the count steps up ×1.5 (${STEP_S} s steps, first ${WARMUP_S} s not counted; the first step that fails is run again, this machine being shared) and then bisects, within ${CAPACITY_BUDGET_S} s; ` +
    `the figure is the largest count with p99 < ${P99_LIMIT_MS} ms and no error. The 60 s figure is derived: the same request rate is twice the devices. ` +
    `Storm: ${fmtCount(STORM_DEVICES)} devices long-polling (one socket each, the worker's backoff: 1 s × 2^n, full jitter, cap 60 s; reports every 30 s); SIGKILL, restart ${RESTART_AFTER_MS / 1000} s later on the same port and data; ` +
    'per-second counts from the simulator; "back" = the device\'s long-poll is connected again.',
  async run(): Promise<Row[]> {
    const cap = await capacity();
    const s = await storm();
    console.error('  storm, per second after the kill: sent, 2xx, 304, 5xx/429, refused, broken | connects, long-polls out (simulator) | accepted by the manager, listen overflows (kernel):');
    for (const x of s.timeline.slice(0, 40)) {
      const last = s.samples.filter((p) => p.t < (x.t + 1) * 1000).at(-1);
      const cells = [x.sent, x.ok, x.notModified, x.overload, x.refused, x.broken].map((n) => String(n).padStart(6)).join('');
      console.error(`    ${String(x.t).padStart(3)} ${cells} | ${String(x.connects).padStart(6)}${String(x.parked).padStart(7)} | ${String(last?.accepted ?? '').padStart(6)}${String(last?.overflows ?? '').padStart(7)}`);
    }
    const rows: Row[] = [];
    // CPU per check-in is steadier than the latency on a shared machine: the ceiling it implies at 100 % of a core.
    const costs = cap.steps.map((x) => x.cpuPerCheckinMs).sort((a, b) => a - b);
    const cost = costs[Math.floor(costs.length / 2)] ?? 0;
    const ceiling = cost > 0 ? `; ${cost.toFixed(2)} ms of manager CPU per device check-in (median of the steps): ~${fmtCount(Math.round((INTERVAL_S * 1000) / cost / 500) * 500)} at 100 % of the core` : '';
    const stolen = Math.max(0, ...cap.steps.map((x) => x.steal));
    const noise = stolen >= 0.05 ? `; the hypervisor took up to ${(stolen * 100).toFixed(0)} % of CPU 0 during the steps` : '';
    if (cap.best) {
      const b = cap.best;
      rows.push({
        figure: `2a. devices one manager holds, ${INTERVAL_S} s check-in, p99 < ${P99_LIMIT_MS} ms (1 core)`,
        nebula:
          `${fmtCount(b.devices)} devices (${b.offered.toFixed(0)} req/s: /info 304 p99 ${fmtMs(b.info.latency.p99)}, reports of ${fmtCount(cap.reportBytes)} B p99 ${fmtMs(b.reports.latency.p99)})` +
          `${cap.first ? `; ${fmtCount(cap.first.devices)} did not (p99 ${fmtMs(cap.first.all.p99)})` : '; not saturated within the time budget'}${ceiling}${noise}`,
        reference: '',
        ratio: '',
        target: '',
        verdict: '',
      });
      rows.push({
        figure: '2a. devices one manager holds, 60 s check-in (derived)',
        nebula: `~${fmtCount(b.devices * 2)} devices (the request rate of ${fmtCount(b.devices)} at 30 s), if it can hold ${fmtCount(b.devices * 2)} long-poll sockets`,
        reference: '',
        ratio: '',
        target: '',
        verdict: '',
      });
    } else {
      rows.push({ figure: `2a. devices one manager holds, ${INTERVAL_S} s check-in`, nebula: `none: already ${cap.first ? fmtStep(cap.first) : 'no step'}${ceiling}${noise}`, reference: '', ratio: '', target: '', verdict: '' });
    }
    const allBack =
      s.allBackMs === null
        ? `${fmtCount(s.acceptedAtEnd)}/${fmtCount(s.devices)} reconnected within 60 s of the restart`
        : `all ${fmtCount(s.devices)} long-polling again ${fmtMs(s.allBackMs)} after the kill (${fmtMs(s.allBackMs - s.readyAfterMs)} after ready; median device ${fmtMs(s.backP50)})`;
    rows.push({
      figure: `2b. storm: ${fmtCount(s.devices)} long-polling devices, manager kill -9, restart after ${RESTART_AFTER_MS / 1000} s`,
      nebula:
        `ready ${fmtMs(s.readyAfterMs)} after the kill; ${allBack}; after ready: ${s.overloadAfterReady} 5xx/429, ${fmtCount(s.failedAfterReady)} connections failed, peak ${fmtCount(s.peakConnects)} connects/s, ` +
        `${fmtCount(s.overflows)} listen-queue overflows; while down: ${fmtCount(s.refusedWhileDown)} refused, ${fmtCount(s.brokenAtKill)} cut by the kill`,
      reference: '',
      ratio: '',
      target: 'no 5xx/429 after restart',
      verdict: s.overloadAfterReady === 0 ? 'met' : 'missed',
    });
    return rows;
  },
};
