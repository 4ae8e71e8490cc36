// /info throughput and p99 latency (issue 7, a and b): the manager (SQLite store, auth on, a real
// process) against a bare node:http server on the same machine answering the same bytes — the
// practical limit of Node's HTTP stack here. wrk drives both with 500 keep-alive connections.
// Servers are pinned to CPU 0 and wrk to CPU 1 (taskset), so the load generator does not steal
// the server's core.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { AUTH_HEADER, CONNECTIONS, call, fmtWrk, freePort, seedGroup, startManager, verdict, wrk, type Bench, type Row } from './lib.ts';

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

const PATH = '/api/v2/device_groups/pos-eu/info';

export const bench: Bench = {
  name: 'info',
  order: 1,
  method: `wrk -t2 -c${CONNECTIONS} (pinned to CPU 1) against the manager from source (SQLite, Basic auth on every request, pinned to CPU 0) and against a bare node:http server (CPU 0) answering the same body and ETag; a group of three apps.`,
  async run(): Promise<Row[]> {
    const manager = await startManager();
    let bare: { child: ChildProcess; url: string } | undefined;
    try {
      await seedGroup(manager.url);
      const info = await call(manager.url, 'GET', PATH);
      const body = await info.text();
      const etag = info.headers.get('etag') ?? '';
      bare = await startBare(body, etag);
      const okNebula = await wrk(`${manager.url}${PATH}`, { Authorization: AUTH_HEADER });
      const okBare = await wrk(`${bare.url}${PATH}`, { Authorization: AUTH_HEADER });
      const nmNebula = await wrk(`${manager.url}${PATH}`, { Authorization: AUTH_HEADER, 'If-None-Match': etag });
      const nmBare = await wrk(`${bare.url}${PATH}`, { Authorization: AUTH_HEADER, 'If-None-Match': etag });
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
