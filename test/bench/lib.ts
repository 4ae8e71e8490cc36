// What the benchmarks share: the row every bench returns, wrk, a manager process (from source or
// the built binary, pinned to a CPU), and an authenticated API call. Figures only: nothing in
// test/bench fails on a number; a bench throws only when it cannot measure at all.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT, freePort } from '../helpers/ports.ts';

export { ROOT, freePort };

/** One line of the table `npm run bench` prints and writes to docs/benchmarks.md. */
export interface Row {
  /** Which figure, with its letter from issue 7 (e.g. "a. /info 200 …"). */
  figure: string;
  /** Nebula's result. */
  nebula: string;
  /** What it is compared with (the bare server, the seed's figure, …), or '' when only a target applies. */
  reference: string;
  /** nebula / reference where that makes sense, else ''. */
  ratio: string;
  /** The target from the issue, or '' for figures kept for information. */
  target: string;
  /** 'met', 'missed' or '' (no target). */
  verdict?: 'met' | 'missed' | '';
}

/** A benchmark: run.ts runs each in turn (all, or those named on the command line). */
export interface Bench {
  /** Short name for `npm run bench -- <name>`. */
  name: string;
  /** Where it goes in the table (its letter in issue 7: a = 1, b = 2, …; extras after). */
  order: number;
  /** How it measures, for docs/benchmarks.md (a sentence or two). */
  method: string;
  run(): Promise<Row[]>;
}

export const AUTH = { user: 'bench', password: 'bench-password' };
export const AUTH_HEADER = `Basic ${Buffer.from(`${AUTH.user}:${AUTH.password}`).toString('base64')}`;
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 500);
export const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number;
  non2xx3xx: number;
  errors: number;
}

export const fmtWrk = (r: WrkResult) => `${Math.round(r.requestsPerSecond)} req/s, p99 ${r.p99Ms.toFixed(1)} ms${r.non2xx3xx || r.errors ? `, ${r.non2xx3xx} bad, ${r.errors} errors` : ''}`;

/** 'met' when `value` reaches `target` (higher is better unless `lowerIsBetter`). */
export function verdict(value: number, target: number, lowerIsBetter = false): 'met' | 'missed' {
  return (lowerIsBetter ? value <= target : value >= target) ? 'met' : 'missed';
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/** Runs wrk (pinned to CPU 1) against `url` with these headers; parses req/s, p99, failures. */
export async function wrk(url: string, headers: Record<string, string>, options: { connections?: number; seconds?: number; threads?: number; cpus?: string } = {}): Promise<WrkResult> {
  const args = ['-c', options.cpus ?? '1', 'wrk', '-t', String(options.threads ?? 2), '-c', String(options.connections ?? CONNECTIONS), '-d', `${options.seconds ?? DURATION_S}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`wrk failed (${code}):\n${out}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s|m)\b/.exec(out);
  if (!rps || !p99) throw new Error(`cannot read wrk's output:\n${out}`);
  const non = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSecond: Number(rps[1]),
    p99Ms: toMs(p99[1]!, p99[2]!),
    non2xx3xx: non ? Number(non[1]) : 0,
    errors: errs ? errs.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

export interface BenchManager {
  child: ChildProcess;
  url: string;
  dir: string;
  output: () => string;
  stop(): Promise<void>;
}

export interface ManagerOptions {
  /** taskset CPU list ('0' by default; '' = not pinned). */
  cpus?: string;
  /** Extra command-line arguments (e.g. ['--workers', '2']). */
  args?: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** Run this executable (e.g. dist/nebula-linux-x64) instead of `node src/main.ts`. */
  binary?: string;
}

/** `nebula manager` on a fresh SQLite store (unless env says otherwise) with auth on, waiting for /readyz. */
export async function startManager(options: ManagerOptions = {}): Promise<BenchManager> {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-bench-'));
  const port = await freePort();
  const command = options.binary ? [resolve(ROOT, options.binary)] : [process.execPath, 'src/main.ts'];
  const cpus = options.cpus ?? '0';
  const argv = [...command, 'manager', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir, ...(options.args ?? [])];
  const [file, args] = cpus === '' ? [argv[0]!, argv.slice(1)] : ['taskset', ['-c', cpus, ...argv]];
  const child = spawn(file, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', BASIC_AUTH_USER: AUTH.user, BASIC_AUTH_PASSWORD: AUTH.password, NEBULA_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  // SIGTERM first: with --workers the process supervises others, which it stops on SIGTERM
  // (SIGKILL would orphan them); SIGKILL if it has not exited within 15 s.
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(kill);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return { child, url, dir, output: () => out, stop };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  await stop();
  throw new Error(`the manager did not start:\n${out}`);
}

/** An authenticated API call that throws on anything but 2xx/3xx. */
export async function call(url: string, method: string, path: string, body?: unknown): Promise<Response> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: AUTH_HEADER, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** A typical device group (`pos-eu`: three apps with env, ports, volumes), as the /info benches use. */
export async function seedGroup(url: string, group = 'pos-eu', apps = ['web', 'metrics', 'agent']): Promise<void> {
  for (const [i, app] of apps.entries()) {
    await call(url, 'POST', `/api/v2/apps/${app}`, {
      docker_image: `registry.example.com/${app}:1.${i}`,
      starting_ports: [{ [8080 + i]: '80' }],
      env_vars: { REGION: 'eu', LOG_LEVEL: 'info' },
      volumes: [`/data/${app}:/data`],
    });
  }
  await call(url, 'POST', `/api/v2/device_groups/${group}`, { apps });
}
