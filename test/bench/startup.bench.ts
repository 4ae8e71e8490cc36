// Start-up of each role (issue 7, g): the built executable (dist/nebula-linux-x64, built when
// missing or older than the sources) beside the same command from source (`node src/main.ts`).
// Each figure is the median of RUNS starts after one warm-up start (page cache warm, SQLite addon
// already copied next to the data), from spawn() to the signal that the role is doing its job:
//   --version   the process has exited
//   manager     GET /healthz answers 200 (polled every 5 ms)
//   worker      its first /info is answered (engine connected, saved config reconciled, the
//               manager asked): seen at a loopback proxy in front of the manager
//   reporter    "joined the reporters group" on its log: partitions assigned, consuming

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockEngine } from '../helpers/worker-fixtures.ts';
import { AUTH, ROOT, call, freePort, sleep, startManager, type Bench, type Row } from './lib.ts';
import { BINARY, countingProxy, ensureBinary, type CountingProxy } from './worker.bench.ts';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
const KAFKA = process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092';
const GROUP = 'bench-startup';

interface Started {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first output line containing `text`. */
  line(text: string, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

function start(command: string[], args: string[], env: Record<string, string>): Started {
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const watchers: { text: string; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-50_000);
    for (const w of watchers.filter((x) => out.includes(x.text))) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit');
  return {
    child,
    output: () => out,
    line(text, timeoutMs) {
      if (out.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms:\n${out}`)), timeoutMs);
        watchers.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
        void exited.then(() => reject(new Error(`exited before "${text}":\n${out}`)));
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs `once` 1 + RUNS times (the first is a warm-up) and returns the median of the others, in ms. */
async function medianOf(what: string, startOnce: () => Promise<number>): Promise<{ median: number; min: number; max: number }> {
  await startOnce();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await startOnce());
  times.sort((a, b) => a - b);
  if (times.some((t) => !Number.isFinite(t))) throw new Error(`${what}: a start could not be timed`);
  return { median: times[Math.floor((times.length - 1) / 2)]!, min: times[0]!, max: times[times.length - 1]! };
}

const now = () => performance.now();

async function version(command: string[]): Promise<number> {
  const t0 = now();
  const p = start(command, ['--version'], {});
  const [code] = (await once(p.child, 'exit')) as [number | null];
  const t = now() - t0;
  if (code !== 0) throw new Error(`--version exited ${code}:\n${p.output()}`);
  return t;
}

async function manager(command: string[], dataDir: string): Promise<number> {
  const port = await freePort();
  const t0 = now();
  const p = start(command, ['manager', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir], {
    BASIC_AUTH_USER: AUTH.user,
    BASIC_AUTH_PASSWORD: AUTH.password,
    NEBULA_LOG_LEVEL: 'warn',
  });
  try {
    const deadline = t0 + 30_000;
    while (now() < deadline) {
      if (p.child.exitCode !== null) break;
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) return now() - t0;
      } catch {
        // not listening yet
      }
      await sleep(5);
    }
    throw new Error(`the manager did not answer /healthz:\n${p.output()}`);
  } finally {
    await p.stop();
  }
}

async function worker(command: string[], stateDir: string, proxy: CountingProxy): Promise<number> {
  const t0 = now();
  const p = start(
    command,
    ['worker', '--device-group', GROUP, '--manager-url', proxy.url, '--state-dir', stateDir, '--device-name', 'bench-startup', '--log-level', 'warn'],
    { NEBULA_MANAGER_AUTH_USER: AUTH.user, NEBULA_MANAGER_AUTH_PASSWORD: AUTH.password },
  );
  try {
    const exited = once(p.child, 'exit').then(() => {
      throw new Error(`the worker exited:\n${p.output()}`);
    });
    const at = await Promise.race([Promise.any([proxy.waitFor('info-200', t0, 30_000), proxy.waitFor('info-304', t0, 30_000)]), exited]);
    return at - t0;
  } finally {
    await p.stop();
  }
}

let reporterRun = 0;
async function reporter(command: string[], dataDir: string, topic: string): Promise<number> {
  const t0 = now();
  const p = start(command, ['reporter', '--data-dir', dataDir], {
    KAFKA_BOOTSTRAP_SERVERS: KAFKA,
    KAFKA_TOPIC: topic,
    // A group of its own each start: no wait for the previous member's session to end.
    KAFKA_GROUP_ID: `${topic}-${process.pid}-${reporterRun++}`,
    NEBULA_LOG_LEVEL: 'info',
  });
  try {
    await p.line('joined the reporters group', 30_000);
    return now() - t0;
  } finally {
    await p.stop();
  }
}

interface RoleTimes {
  version: Awaited<ReturnType<typeof medianOf>>;
  manager: Awaited<ReturnType<typeof medianOf>>;
  worker: Awaited<ReturnType<typeof medianOf>>;
  reporter: Awaited<ReturnType<typeof medianOf>>;
}

async function timesOf(command: string[], proxy: CountingProxy, label: string): Promise<RoleTimes> {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-bench-startup-'));
  try {
    const topic = `bench-startup-${process.pid}-${label}`;
    return {
      version: await medianOf('--version', () => version(command)),
      manager: await medianOf('manager', () => manager(command, join(dir, 'manager'))),
      worker: await medianOf('worker', () => worker(command, join(dir, 'worker'), proxy)),
      reporter: await medianOf('reporter', () => reporter(command, join(dir, 'reporter'), topic)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (t: { median: number; min: number; max: number }) => `${Math.round(t.median)} ms (${Math.round(t.min)}–${Math.round(t.max)})`;

export const bench: Bench = {
  name: 'startup',
  order: 7,
  method:
    `Median (min–max) of ${RUNS} starts (BENCH_STARTUP_RUNS) after a warm-up start, from spawn() to: --version exited; the manager's /healthz answering 200 (SQLite, polled every 5 ms); ` +
    "the worker's first /info answered (engine connected, saved config reconciled, the manager asked; seen at a loopback proxy in front of a manager from source; an empty group); " +
    `the reporter logging "joined the reporters group" (SQLite store, Kafka on ${KAFKA}, a fresh consumer group each start). Not pinned to a CPU. The executable (${BINARY}) beside the same commands from source (node src/main.ts).`,
  async run(): Promise<Row[]> {
    const binary = ensureBinary();
    // The worker's empty group makes it remove every Nebula app container on the engine: take the engine.
    const release = await lockEngine();
    const m = await startManager();
    let proxy: CountingProxy | undefined;
    try {
      await call(m.url, 'POST', `/api/v2/device_groups/${GROUP}`, { apps: [] });
      proxy = await countingProxy(m.url);
      const bin = await timesOf([binary], proxy, 'bin');
      const src = await timesOf([process.execPath, 'src/main.ts'], proxy, 'src');
      const row = (figure: string, key: keyof RoleTimes): Row => ({
        figure,
        nebula: fmt(bin[key]),
        reference: `from source: ${fmt(src[key])}`,
        ratio: (bin[key].median / src[key].median).toFixed(2),
        target: '',
        verdict: '',
      });
      return [
        row('g. Start-up: --version (executable)', 'version'),
        row('g. Start-up: manager to /healthz 200', 'manager'),
        row('g. Start-up: worker to first sync (/info answered)', 'worker'),
        row('g. Start-up: reporter to consuming (joined its group)', 'reporter'),
      ];
    } finally {
      await proxy?.close();
      await m.stop();
      release();
    }
  },
};
