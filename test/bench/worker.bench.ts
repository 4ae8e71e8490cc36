// Worker footprint (issue 7, e): an idle `nebula worker` keeping 10 containers, as a real process
// against a real manager and the real Docker engine — its memory (RSS) and CPU, and the CPU one
// check-in costs. Measured on the built executable (dist/nebula-linux-x64, built here when it is
// missing or older than the sources) and, for reference, on the same worker from source on Node.
//
// The worker talks to the manager through a counting proxy in this process (loopback), so the
// check-ins and reports of a window are counted exactly, not inferred. Memory is VmRSS from
// /proc/<pid>/status sampled every 250 ms; CPU is utime + stime from /proc/<pid>/stat (all
// threads) between the two ends of a window.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request, createServer, Agent, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { docker, lockEngine } from '../helpers/worker-fixtures.ts';
import { AUTH, ROOT, call, freePort, sleep, startManager, verdict, type Bench, type Row } from './lib.ts';

export const BINARY = 'dist/nebula-linux-x64';
const REGISTRY_IMAGE = '127.0.0.1:5000/web:1';
const GROUP = 'bench-worker';
const APPS = Array.from({ length: 10 }, (_, i) => `bench-worker-${i}`);
/** Length of each measuring window (BENCH_WORKER_SECONDS). */
const WINDOW_S = Number(process.env.BENCH_WORKER_SECONDS ?? 30);
const TARGET_MB = 60;
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The newest modification time under these paths (files only, node_modules and dot-dirs skipped). */
function newestMtime(paths: string[]): number {
  let newest = 0;
  const visit = (path: string) => {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) if (!name.startsWith('.') && name !== 'node_modules' && name !== 'out') visit(join(path, name));
    } else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) visit(resolve(ROOT, p));
  return newest;
}

/**
 * dist/nebula-linux-x64, built (`ARCHS=x64 sh build/binaries.sh`, ~30 s) when it is missing or
 * older than src/, roles/, build/ or the lockfile: a figure of a stale executable would mislead.
 */
export function ensureBinary(): string {
  const path = resolve(ROOT, BINARY);
  const built = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = newestMtime(['src', 'roles', 'build', 'package-lock.json']);
  if (built >= sources) return path;
  console.error(`bench: ${BINARY} is ${built === 0 ? 'missing' : 'older than the sources'}: building it (ARCHS=x64 npm run build:binaries)`);
  const bin = resolve(ROOT, 'node_modules/.bin');
  execFileSync('sh', ['build/binaries.sh'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, ARCHS: 'x64', PATH: `${bin}:${process.env.PATH ?? ''}` },
  });
  if (!existsSync(path)) throw new Error(`${BINARY} was not built — run npm run build:binaries`);
  return path;
}

export interface ProxyEvent {
  at: number;
  kind: 'info-200' | 'info-304' | 'info-other' | 'report' | 'other';
  /** The manager's HTTP status. */
  status: number;
}

export interface CountingProxy {
  url: string;
  events: ProxyEvent[];
  /** Events of this kind in [from, to] (performance.now() times; the response's time). */
  count(kind: ProxyEvent['kind'], from?: number, to?: number): number;
  /** Resolves when an event of this kind is recorded at or after `since` (bounded by `timeoutMs`). */
  waitFor(kind: ProxyEvent['kind'], since: number, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy to the manager that records, for each answered request, what it was (an
 * /info answered 200 or 304, a report post) and when: check-ins counted at the manager's door.
 */
export async function countingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const events: ProxyEvent[] = [];
  const waiters: { kind: ProxyEvent['kind']; since: number; resolve: (at: number) => void }[] = [];
  const record = (kind: ProxyEvent['kind'], status: number) => {
    const at = performance.now();
    events.push({ at, kind, status });
    for (const w of waiters.filter((x) => x.kind === kind && at >= x.since)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(at);
    }
  };
  const server: Server = createServer((req, res) => {
    const isInfo = req.method === 'GET' && /\/info(\?|$)/.test(req.url ?? '');
    const isReport = req.method === 'POST' && (req.url ?? '').startsWith('/api/v2/reports');
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.once('end', () => {
          const status = answer.statusCode ?? 0;
          if (isInfo) record(status === 200 ? 'info-200' : status === 304 ? 'info-304' : 'info-other', status);
          else record(isReport ? 'report' : 'other', status);
        });
      },
    );
    out.once('error', () => res.destroy());
    // The worker gave up (a long-poll aborted at stop): drop the upstream request too.
    res.once('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    events,
    count: (kind, from = 0, to = Infinity) => events.filter((e) => e.kind === kind && e.at >= from && e.at <= to).length,
    waitFor(kind, since, timeoutMs) {
      const seen = events.find((e) => e.kind === kind && e.at >= since);
      if (seen) return Promise.resolve(seen.at);
      return new Promise((resolvePromise, reject) => {
        const waiter = { kind, since, resolve: (at: number) => (clearTimeout(timer), resolvePromise(at)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no ${kind} through the proxy within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    async close() {
      server.closeAllConnections();
      server.close();
      agent.destroy();
    },
  };
}

/** VmRSS, RssAnon (private memory: heaps, stacks) and VmHWM (peak RSS) of a process, in KiB. */
export function memoryOf(pid: number): { rssKiB: number; anonKiB: number; hwmKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: field('VmRSS'), anonKiB: field('RssAnon'), hwmKiB: field('VmHWM') };
}

/**
 * The environment systemd gives the worker (systemd/nebula-worker.service's Environment= lines,
 * NEBULA_STATE_DIR left out: the bench names its own): the executable is measured as it runs on
 * a device.
 */
export function unitEnvironment(): Record<string, string> {
  const unit = readFileSync(resolve(ROOT, 'systemd/nebula-worker.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const line of unit.split('\n')) {
    if (!line.startsWith('Environment=')) continue;
    for (const assignment of line.slice('Environment='.length).trim().split(/\s+/)) {
      const eq = assignment.indexOf('=');
      if (eq > 0 && !assignment.startsWith('NEBULA_STATE_DIR=')) env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
  }
  return env;
}

/**
 * Drops a file's pages from the page cache (dd iflag=nocache), so that the next process maps it
 * as after a boot. A file just written (a fresh build) sits in the cache in large folios, which a
 * process that maps it faults in whole: the same worker then shows ~40 MB more file-backed RSS.
 */
export function dropCachedPages(path: string): void {
  execFileSync('sync', [path]); // dirty pages stay cached
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
}

/** utime + stime of a process (all its threads), in ms. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

const MB = (kib: number) => (kib * 1024) / 1e6;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface WindowFigures {
  seconds: number;
  rssSteadyMB: number;
  rssMaxMB: number;
  /** RssAnon, median: the worker's private memory (the rest of RSS is the executable's and libraries' pages, shared and reclaimable). */
  anonSteadyMB: number;
  /** VmHWM: the peak since the process started (start-up and the deployment included). */
  peakMB: number;
  cpuMs: number;
  cpuPercent: number;
  checkIns: number;
  reports: number;
}

/** Samples a process's memory every 250 ms for `seconds`, CPU at both ends; counts the proxy's events meanwhile. */
export async function measureWindow(pid: number, proxy: CountingProxy, seconds: number): Promise<WindowFigures> {
  const rss: number[] = [];
  const anon: number[] = [];
  const from = performance.now();
  const cpu0 = cpuMsOf(pid);
  while (performance.now() - from < seconds * 1000) {
    const memory = memoryOf(pid);
    rss.push(memory.rssKiB);
    anon.push(memory.anonKiB);
    await sleep(250);
  }
  const cpu1 = cpuMsOf(pid);
  const to = performance.now();
  const { hwmKiB } = memoryOf(pid);
  const elapsed = to - from;
  const checkIns = proxy.count('info-200', from, to) + proxy.count('info-304', from, to) + proxy.count('info-other', from, to);
  return {
    seconds: elapsed / 1000,
    rssSteadyMB: MB(median(rss)),
    rssMaxMB: MB(Math.max(...rss)),
    anonSteadyMB: MB(median(anon)),
    peakMB: MB(hwmKiB),
    cpuMs: cpu1 - cpu0,
    cpuPercent: ((cpu1 - cpu0) / elapsed) * 100,
    checkIns,
    reports: proxy.count('report', from, to),
  };
}

/** The bench's containers on the engine: app name → state. */
async function benchContainers(): Promise<{ name: string; state: string }[]> {
  const out = await docker('ps', '-a', '--filter', 'label=orchestrator=nebula', '--format', '{{.Label "app_name"}} {{.State}}');
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name = '', state = ''] = line.split(' ');
      return { name, state };
    })
    .filter((c) => APPS.includes(c.name));
}

async function removeBenchContainers(): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', 'label=orchestrator=nebula', '--filter', 'label=container_type=app')).split('\n').filter(Boolean);
  for (const id of ids) {
    const app = await docker('inspect', '--format', '{{index .Config.Labels "app_name"}}', id).catch(() => '');
    if (APPS.includes(app)) await docker('rm', '-f', id).catch(() => undefined);
  }
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `<command> worker …` pinned to CPU 1 (the manager has CPU 0), as systemd would run it. */
export function spawnWorker(command: string[], args: string[], env: Record<string, string> = {}): WorkerProcess {
  const child = spawn('taskset', ['-c', '1', ...command, 'worker', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  const exited = once(child, 'exit');
  return {
    child,
    pid: child.pid!,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface WorkerFigures {
  label: string;
  /** Defaults: check-in 30 s, long-poll 30 s, health checks every 10 s, a report per check-in. */
  idle: WindowFigures;
  /** Check-in and long-poll every second. */
  busy: WindowFigures;
  /** Per check-in in the busy window: CPU ms / check-ins. */
  cpuPerCheckInMs: number;
}

/**
 * One worker command measured: a fresh state dir; the worker started with the defaults deploys
 * the 10 apps, reports, and is then measured idle; it is stopped (SIGTERM, containers keep
 * running) and started again on the same state with a 1 s check-in and a 1 s long-poll, which
 * adopts the containers without restarting them, and is measured again for the cost of a check-in.
 */
export async function measureWorker(label: string, command: string[], proxy: CountingProxy, env: Record<string, string> = {}, seconds = WINDOW_S): Promise<WorkerFigures> {
  const state = mkdtempSync(join(tmpdir(), 'nebula-bench-worker-'));
  const base = ['--device-group', GROUP, '--manager-url', proxy.url, '--state-dir', state, '--device-name', 'bench-device', '--log-level', 'warn'];
  const auth = { NEBULA_MANAGER_AUTH_USER: AUTH.user, NEBULA_MANAGER_AUTH_PASSWORD: AUTH.password, ...env };
  let worker: WorkerProcess | undefined;
  const alive = () => {
    if (worker && (worker.child.exitCode !== null || worker.child.signalCode !== null)) {
      throw new Error(`${label}: the worker exited (${worker.child.exitCode ?? worker.child.signalCode}):\n${worker.output()}`);
    }
  };
  try {
    // 1. Deploy with the defaults, then idle.
    dropCachedPages(command[0]!);
    worker = spawnWorker(command, base, auth);
    const deadline = Date.now() + 180_000;
    for (;;) {
      alive();
      const running = (await benchContainers()).filter((c) => c.state === 'running').length;
      if (running === APPS.length) break;
      if (Date.now() > deadline) throw new Error(`${label}: ${running}/${APPS.length} containers running after 180 s:\n${worker.output()}`);
      await sleep(250);
    }
    // Converged: a report after the containers run, and the long-poll under way.
    await proxy.waitFor('report', performance.now(), 60_000);
    await sleep(5000);
    alive();
    const idle = await measureWindow(worker.pid, proxy, seconds);
    alive();
    await worker.stop('SIGTERM');

    // 2. The same worker, state and containers, checking in every second.
    const since = performance.now();
    dropCachedPages(command[0]!);
    worker = spawnWorker(command, [...base, '--check-in-time', '1', '--long-poll-wait', '1'], auth);
    await proxy.waitFor('info-304', since, 60_000);
    await proxy.waitFor('report', since, 60_000);
    await sleep(5000);
    alive();
    const busy = await measureWindow(worker.pid, proxy, seconds);
    alive();
    const running = (await benchContainers()).filter((c) => c.state === 'running').length;
    if (running !== APPS.length) throw new Error(`${label}: ${running}/${APPS.length} containers running at the end:\n${worker.output()}`);
    return { label, idle, busy, cpuPerCheckInMs: busy.checkIns > 0 ? busy.cpuMs / busy.checkIns : NaN };
  } finally {
    await worker?.stop('SIGKILL');
    rmSync(state, { recursive: true, force: true });
  }
}

/** A manager (from source, CPU 0) with the group of 10 apps, the counting proxy in front of it, the engine locked and emptied of the bench's containers. */
export async function withWorkerSetup<T>(fn: (proxy: CountingProxy) => Promise<T>): Promise<T> {
  const release = await lockEngine();
  const manager = await startManager();
  let proxy: CountingProxy | undefined;
  try {
    await removeBenchContainers();
    for (const app of APPS) await call(manager.url, 'POST', `/api/v2/apps/${app}`, { docker_image: REGISTRY_IMAGE, env_vars: { APP: app } });
    await call(manager.url, 'POST', `/api/v2/device_groups/${GROUP}`, { apps: APPS });
    proxy = await countingProxy(manager.url);
    return await fn(proxy);
  } finally {
    await removeBenchContainers();
    await proxy?.close();
    await manager.stop();
    release();
  }
}

const f1 = (n: number) => n.toFixed(1);
const fmtRss = (w: WindowFigures) => `${f1(w.rssSteadyMB)} MB steady, ${f1(w.rssMaxMB)} max (private ${f1(w.anonSteadyMB)} MB)`;
const fmtIdleCpu = (w: WindowFigures) => `${w.cpuPercent.toFixed(2)} % of a core (${Math.round(w.cpuMs)} ms in ${Math.round(w.seconds)} s, ${w.checkIns} check-ins, ${w.reports} reports)`;
const fmtCheckIn = (f: WorkerFigures) => `${f.cpuPerCheckInMs.toFixed(1)} ms CPU (${Math.round(f.busy.cpuMs)} ms / ${f.busy.checkIns} check-ins, ${f.busy.cpuPercent.toFixed(1)} % of a core; ${fmtRss(f.busy)})`;

export const bench: Bench = {
  name: 'worker',
  order: 5,
  method:
    `\`nebula worker\` as a real process (pinned to CPU 1; the manager from source on CPU 0, SQLite, Basic auth) on a group of 10 apps (${REGISTRY_IMAGE}, busybox httpd, from the local registry), reports over HTTP. ` +
    `Started with the defaults (check-in 30 s, long-poll 30 s, health checks every 10 s), it deploys the 10 containers and reports; 5 s later it is measured idle for ${WINDOW_S} s (BENCH_WORKER_SECONDS): ` +
    'RSS = VmRSS of /proc/<pid>/status every 250 ms (steady = median, max; MB = 10^6 bytes), CPU = utime + stime of /proc/<pid>/stat over the window. ' +
    `Then restarted on the same state (it adopts the containers) with a 1 s check-in and a 1 s long-poll (so a 304 every second, a local reconcile every second, a report every 5 s), measured ${WINDOW_S} s again: ` +
    'CPU per check-in = CPU time of the window / the /info answers counted by a loopback proxy between worker and manager. ' +
    `The executable (${BINARY}, built when missing or older than the sources), with the environment its systemd unit sets (${Object.entries(unitEnvironment()).map(([k, v]) => `${k}=${v}`).join(' ')}) and its pages dropped from the page cache before each start (as after a boot: a freshly written file is cached in large folios and maps ~40 MB more), against the same worker from source (node src/main.ts, default settings); the target applies to the executable. ` +
    'Private = RssAnon (heaps, stacks); the rest of RSS is the executable\'s and libraries\' pages. A bare Node 24 process idling is ~43 MB RSS, 35 of them its own executable\'s pages.',
  async run(): Promise<Row[]> {
    const binary = ensureBinary();
    return withWorkerSetup(async (proxy) => {
      const bin = await measureWorker('binary', [binary], proxy, unitEnvironment());
      const src = await measureWorker('source', [process.execPath, 'src/main.ts'], proxy);
      return [
        {
          figure: 'e. Worker idle RSS (10 containers, executable)',
          nebula: fmtRss(bin.idle),
          reference: `from source on node ${process.version}: ${fmtRss(src.idle)}`,
          ratio: (bin.idle.rssMaxMB / src.idle.rssMaxMB).toFixed(2),
          target: `<= ${TARGET_MB} MB`,
          verdict: verdict(bin.idle.rssMaxMB, TARGET_MB, true),
        },
        {
          figure: 'e. Worker idle CPU (defaults)',
          nebula: fmtIdleCpu(bin.idle),
          reference: `from source: ${fmtIdleCpu(src.idle)}`,
          ratio: '',
          target: '',
          verdict: '',
        },
        {
          figure: 'e. Worker CPU per check-in (1 s check-in + long-poll)',
          nebula: fmtCheckIn(bin),
          reference: `from source: ${fmtCheckIn(src)}`,
          ratio: (bin.cpuPerCheckInMs / src.cpuPerCheckInMs).toFixed(2),
          target: '',
          verdict: '',
        },
      ];
    });
  },
};
