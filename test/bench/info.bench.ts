// /info throughput and p99 latency (issue 7, a and b): the manager (SQLite store, auth on, a real
// process) against a bare node:http server on the same machine answering the same bytes — the
// practical limit of Node's HTTP stack here. wrk drives both with 500 keep-alive connections.
// Servers are pinned to CPU 0 and wrk to CPU 1 (taskset), so the load generator does not steal
// the server's core. Figures only: nothing here fails on a number.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort } from '../helpers/ports.ts';

export interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number;
  non2xx3xx: number;
  errors: number;
}

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 500);
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const AUTH = { user: 'bench', password: 'bench-password' };
const AUTH_HEADER = `Basic ${Buffer.from(`${AUTH.user}:${AUTH.password}`).toString('base64')}`;

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/** Runs wrk (pinned to CPU 1) against `url` with these headers; parses req/s, p99, failures. */
export async function wrk(url: string, headers: Record<string, string>): Promise<WrkResult> {
  const args = ['-c', '1', 'wrk', '-t', '2', '-c', String(CONNECTIONS), '-d', `${DURATION_S}s`, '--latency'];
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

interface Manager {
  child: ChildProcess;
  url: string;
  dir: string;
}

/** `nebula manager` from source, pinned to CPU 0, on a fresh SQLite store with auth on. */
async function startManager(): Promise<Manager> {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-bench-'));
  const port = await freePort();
  const child = spawn('taskset', ['-c', '0', process.execPath, 'src/main.ts', 'manager', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dir], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', BASIC_AUTH_USER: AUTH.user, BASIC_AUTH_PASSWORD: AUTH.password, NEBULA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return { child, url, dir };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error('the manager did not start');
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<Response> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: AUTH_HEADER, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/** A bare node:http server, pinned to CPU 0 in its own process, answering `body` (200) or 304 on If-None-Match. */
async function startBare(body: string, etag: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const source = `
    const http = require('node:http');
    const body = Buffer.from(${JSON.stringify(body)});
    const etag = ${JSON.stringify(etag)};
    http.createServer((req, res) => {
      if (req.headers['if-none-match'] === etag) { res.writeHead(304, { etag }); res.end(); return; }
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length, etag });
      res.end(body);
    }).listen(${port}, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  const child = spawn('taskset', ['-c', '0', process.execPath, '-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return { child, url: `http://127.0.0.1:${port}` };
}

export interface InfoFigures {
  ok: { nebula: WrkResult; bare: WrkResult };
  notModified: { nebula: WrkResult; bare: WrkResult };
  bodyBytes: number;
}

/** Runs a (200) and b (304) and returns the figures. */
export async function benchInfo(): Promise<InfoFigures> {
  const manager = await startManager();
  let bare: { child: ChildProcess; url: string } | undefined;
  try {
    // A typical group: a few apps with env, ports, volumes.
    const apps = ['web', 'metrics', 'agent'];
    for (const [i, app] of apps.entries()) {
      await call(manager.url, 'POST', `/api/v2/apps/${app}`, {
        docker_image: `registry.example.com/${app}:1.${i}`,
        starting_ports: [{ [8080 + i]: '80' }],
        env_vars: { REGION: 'eu', LOG_LEVEL: 'info' },
        volumes: [`/data/${app}:/data`],
      });
    }
    await call(manager.url, 'POST', '/api/v2/device_groups/pos-eu', { apps });
    const info = await call(manager.url, 'GET', '/api/v2/device_groups/pos-eu/info');
    const body = await info.text();
    const etag = info.headers.get('etag') ?? '';
    bare = await startBare(body, etag);
    const path = '/api/v2/device_groups/pos-eu/info';
    const okNebula = await wrk(`${manager.url}${path}`, { Authorization: AUTH_HEADER });
    const okBare = await wrk(`${bare.url}${path}`, { Authorization: AUTH_HEADER });
    const nmNebula = await wrk(`${manager.url}${path}`, { Authorization: AUTH_HEADER, 'If-None-Match': etag });
    const nmBare = await wrk(`${bare.url}${path}`, { Authorization: AUTH_HEADER, 'If-None-Match': etag });
    return { ok: { nebula: okNebula, bare: okBare }, notModified: { nebula: nmNebula, bare: nmBare }, bodyBytes: Buffer.byteLength(body) };
  } finally {
    bare?.child.kill('SIGKILL');
    manager.child.kill('SIGKILL');
    rmSync(manager.dir, { recursive: true, force: true });
  }
}
