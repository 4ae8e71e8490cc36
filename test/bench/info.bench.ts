// /info throughput and p99 latency (issue 7, a and b): the manager (SQLite store, auth on, a real
// process) against a bare node:http server on the same machine answering the same bytes — the
// practical limit of Node's HTTP stack here. wrk drives both with 500 keep-alive connections.
// Servers are pinned to CPU 0 and wrk to CPU 1 (taskset), so the load generator does not steal
// the server's core.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { AUTH_HEADER, CONNECTIONS, call, fmtWrk, freePort, seedGroup, startManager, verdict, wrk, type Bench, type Row, type WrkResult } from './lib.ts';

/** A bare node:http server, pinned to CPU 0 in its own process, answering `body` (200) or 304 on If-None-Match. */
async function startBare(body: string, etag: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const source = `
    const http = require('node:http');
    const body = Buffer.from(${JSON.stringify(body)});
    const etag = ${JSON.stringify(etag)};
    http.createServer((req, res) => {
      if (req.headers['if-none-match'] === etag) { res.writeHead(304, { etag, 'cache-control': 'no-cache' }); res.end(); return; }
      res.writeHead(200, { etag, 'cache-control': 'no-cache', 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
      res.end(body);
    }).listen(${port}, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  const child = spawn('taskset', ['-c', '0', process.execPath, '-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return { child, url: `http://127.0.0.1:${port}` };
}

const PATH = '/api/v2/device_groups/pos-eu/info';

/** Runs of each server, alternating (BENCH_ROUNDS): one run is at the mercy of the hypervisor. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/**
 * wrk against `a` then `b`, ROUNDS times in turn; for each, the run of median throughput. Two
 * single runs on this shared 2-core VM differ by up to 25 % (steal), in either direction.
 */
async function alternating(a: string, b: string, headers: Record<string, string>): Promise<[WrkResult, WrkResult]> {
  const runs: [WrkResult[], WrkResult[]] = [[], []];
  for (let i = 0; i < ROUNDS; i++) {
    runs[0].push(await wrk(a, headers));
    runs[1].push(await wrk(b, headers));
  }
  const median = (xs: WrkResult[]) => [...xs].sort((x, y) => x.requestsPerSecond - y.requestsPerSecond)[Math.floor(xs.length / 2)]!;
  return [median(runs[0]), median(runs[1])];
}

export const bench: Bench = {
  name: 'info',
  order: 1,
  method: `wrk -t2 -c${CONNECTIONS} (pinned to CPU 1) against the manager from source (SQLite, Basic auth on every request, pinned to CPU 0) and against a bare node:http server (CPU 0) answering the same body, ETag and Cache-Control; a group of three apps. ${ROUNDS} runs of each server in turn (BENCH_ROUNDS); each side's figure is its run of median throughput.`,
  async run(): Promise<Row[]> {
    const manager = await startManager();
    let bare: { child: ChildProcess; url: string } | undefined;
    try {
      await seedGroup(manager.url);
      const info = await call(manager.url, 'GET', PATH);
      const body = await info.text();
      const etag = info.headers.get('etag') ?? '';
      bare = await startBare(body, etag);
      const [okNebula, okBare] = await alternating(`${manager.url}${PATH}`, `${bare.url}${PATH}`, { Authorization: AUTH_HEADER });
      const [nmNebula, nmBare] = await alternating(`${manager.url}${PATH}`, `${bare.url}${PATH}`, { Authorization: AUTH_HEADER, 'If-None-Match': etag });
      const okRatio = okNebula.requestsPerSecond / okBare.requestsPerSecond;
      const nmRatio = nmNebula.requestsPerSecond / nmBare.requestsPerSecond;
      return [
        { figure: `a. /info 200 (${Buffer.byteLength(body)} B, auth, ${CONNECTIONS} conns, 1 core)`, nebula: fmtWrk(okNebula), reference: `bare node:http ${fmtWrk(okBare)}`, ratio: okRatio.toFixed(2), target: '>= 0.85', verdict: verdict(okRatio, 0.85) },
        { figure: 'b. /info 304 (If-None-Match, 1 core)', nebula: fmtWrk(nmNebula), reference: `bare node:http ${fmtWrk(nmBare)}`, ratio: nmRatio.toFixed(2), target: '>= 0.9', verdict: verdict(nmRatio, 0.9) },
      ];
    } finally {
      bare?.child.kill('SIGKILL');
      await manager.stop();
    }
  },
};
