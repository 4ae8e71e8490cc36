// Propagation (issue 7, 1c): N simulated workers long-poll one device group's /info, then one
// admin write changes an app's image; how long until each worker has the new config.
//
// The manager runs from source (SQLite, Basic auth, pinned to CPU 0, as lib.ts's startManager);
// the fleet simulator (test/bench/fleet) runs in its own process pinned to CPU 1. The devices
// start as a running fleet does — each already holding the group's config (its ETag) — at
// random moments over N/2,000 s, ask once (304) and long-poll (wait=30, the worker's default)
// over one keep-alive socket each; they also report every 30 s (random phase) like workers.
// Once every device's long-poll is out and 2 s have passed, the simulator sends
// POST /api/v2/apps/web/update with a new docker_image and times, from just before that request
// is written, each device's complete 200 whose body carries the new image. Each device then
// "applies" it (2.5–7.5 s, an image pull), reports, and long-polls again; the next write waits
// until all are parked again and their reports are in.

import { AUTH_HEADER, seedGroup, sleep, startManager, verdict, type Bench, type Row } from './lib.ts';
import { currentInfo } from './fleet/manager.ts';
import { Simulator } from './fleet/remote.ts';
import { fmtCount, fmtMs, type LatencySummary } from './fleet/stats.ts';
import { cpuSeconds, rssMiB, until } from './fleet/wait.ts';

const DEVICES = Number(process.env.BENCH_FLEET_DEVICES ?? 10_000);
const WRITES = Number(process.env.BENCH_PROPAGATION_WRITES ?? 3);
/** A write whose config has not reached every device within this is reported as such. */
const DELIVERY_DEADLINE_MS = 15_000;

interface Run {
  received: number;
  latency: LatencySummary;
  /** The write's own answer, from the same t0. */
  answeredMs: number;
  status: number;
  /** Manager CPU seconds from the write until every device had it. */
  managerCpuS: number;
}

export const bench: Bench = {
  name: 'propagation',
  order: 3,
  method:
    `test/bench/fleet simulator in its own process (taskset -c 1; raw keep-alive sockets, one per device) against the manager from source (SQLite, Basic auth, taskset -c 0): ` +
    `${fmtCount(DEVICES)} devices already holding the group's config long-poll /info (If-None-Match, wait=30) with jittered starts and report every 30 s; once all are parked, ` +
    `${WRITES} writes (POST /apps/web/update, new docker_image), each timed from just before the request is sent until each device has received the complete 200 whose body carries the new image; ` +
    'figure: the write with the median p99 (the worst is shown beside it).',
  async run(): Promise<Row[]> {
    const manager = await startManager();
    let sim: Simulator | undefined;
    try {
      await seedGroup(manager.url);
      const known = await currentInfo(manager.url, 'pos-eu');
      const rssBefore = rssMiB(manager.child.pid);
      sim = await Simulator.start('1');
      const rampMs = Math.max(2000, (DEVICES / 2000) * 1000);
      await sim.startFleet({ url: manager.url, group: 'pos-eu', authorization: AUTH_HEADER, devices: DEVICES, rampMs, known, reports: true, applyMs: 5000 });
      const parked = await until(sim, (s) => s.parked === DEVICES, rampMs + 30_000);
      if (parked.stats.parked === 0) throw new Error(`no device could long-poll: ${JSON.stringify(parked.stats.info)}`);
      if (!parked.met) console.error(`propagation: only ${parked.stats.parked} of ${DEVICES} devices long-polling after ${(rampMs + 30_000) / 1000} s; measuring anyway`);
      await sleep(2000);
      const rssParked = rssMiB(manager.child.pid);
      const runs: Run[] = [];
      for (let k = 0; k < WRITES; k++) {
        const image = `registry.example.com/web:2.${k}`;
        const cpu0 = cpuSeconds(manager.child.pid);
        const write = await sim.write({ url: manager.url, path: '/api/v2/apps/web/update', body: { docker_image: image }, authorization: AUTH_HEADER, needle: image });
        if (write.status >= 300) throw new Error(`the write failed: ${write.status} ${write.body}`);
        const deadline = performance.now() + DELIVERY_DEADLINE_MS;
        let change = await sim.changeStats();
        while (change.received < change.devices && performance.now() < deadline) {
          await sleep(100);
          change = await sim.changeStats();
        }
        const run: Run = { received: change.received, latency: change.latency, answeredMs: write.answeredMs, status: write.status, managerCpuS: cpuSeconds(manager.child.pid) - cpu0 };
        runs.push(run);
        console.error(
          `  write ${k + 1}: ${fmtCount(run.received)}/${fmtCount(DEVICES)} got it, p50 ${fmtMs(run.latency.p50)} p99 ${fmtMs(run.latency.p99)} max ${fmtMs(run.latency.max)}; ` +
            `the write answered ${write.status} after ${fmtMs(write.answeredMs)}; manager CPU ${run.managerCpuS.toFixed(2)} s; simulator busy ${(change.loopUtilization * 100).toFixed(0)} % until the last one`,
        );
        // Everyone applied, reported and parked again before the next write.
        const settled = await until(sim, (s) => s.parked === DEVICES && s.reports.spooled === 0, 40_000);
        if (!settled.met) console.error(`  not settled after 40 s: parked ${settled.stats.parked}, reports spooled ${settled.stats.reports.spooled}`);
        await sleep(1000);
      }
      const stats = await sim.fleetStats();
      console.error(
        `  reports ${fmtCount(stats.reports.stored)} stored, latency p50 ${fmtMs(stats.reports.latency.p50)} p99 ${fmtMs(stats.reports.latency.p99)}, ${JSON.stringify(stats.reports.byStatus)} ${JSON.stringify(stats.reports.byError)}; ` +
          `info ${JSON.stringify(stats.info.byStatus)} ${JSON.stringify(stats.info.byError)}; manager RSS ${rssBefore.toFixed(0)} MiB idle -> ${rssParked.toFixed(0)} MiB with the long-polls parked`,
      );
      const complete = (r: Run) => r.received === DEVICES;
      // A run that did not reach everyone counts as slower than any that did.
      const p99Of = (r: Run) => (complete(r) ? r.latency.p99 : Number.POSITIVE_INFINITY);
      const sorted = [...runs].sort((a, b) => p99Of(a) - p99Of(b));
      const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
      const worst = sorted[sorted.length - 1]!;
      const describe = (r: Run) =>
        complete(r)
          ? `p99 ${fmtMs(r.latency.p99)} (p50 ${fmtMs(r.latency.p50)}, max ${fmtMs(r.latency.max)})`
          : `${fmtCount(r.received)}/${fmtCount(DEVICES)} within ${DELIVERY_DEADLINE_MS / 1000} s (p99 of those ${fmtMs(r.latency.p99)})`;
      const value = p99Of(median);
      return [
        {
          figure: `c. propagation, ${fmtCount(DEVICES)} long-polling workers, one write`,
          nebula: `${describe(median)}, ${fmtCount(median.received)}/${fmtCount(DEVICES)} got it; median of ${runs.length} writes, worst ${complete(worst) ? `p99 ${fmtMs(worst.latency.p99)}` : describe(worst)}`,
          reference: 'seed: up to 40 s (10 s cache + 30 s check-in)',
          ratio: '',
          target: '<= 1 s p99',
          verdict: verdict(value, 1000, true),
        },
      ];
    } finally {
      await sim?.close();
      await manager.stop();
    }
  },
};
