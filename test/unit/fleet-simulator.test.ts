// The fleet simulator (test/bench/fleet) behaves like the worker it stands for: its raw HTTP
// client reads what node:http writes, and a simulated device asks, long-polls, takes a change and
// backs off the way roles/worker/sync.ts does. Against a small node:http server on port 0.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Connection, requestHead, type HttpResponse } from '../bench/fleet/http.ts';
import { Fleet } from '../bench/fleet/fleet.ts';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
}

function exchange(port: number, request: string): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const conn = new Connection('127.0.0.1', port, { onResponse: resolve, onError: (code) => reject(new Error(code)) }, { connects: 0, open: 0 });
    conn.send(request);
  });
}

test('the raw client reads content-length, chunked and 304 answers, and Connection: close', async () => {
  const { server, port } = await serve((req, res) => {
    if (req.url === '/chunked') {
      res.writeHead(200, { etag: '"c"' });
      res.write('{"a":');
      setImmediate(() => res.end('1}'));
    } else if (req.url === '/304') {
      res.writeHead(304, { etag: '"n"' });
      res.end();
    } else if (req.url === '/close') {
      res.writeHead(503, { 'retry-after': '5', connection: 'close', 'content-length': 2 });
      res.end('no');
    } else {
      res.writeHead(200, { 'content-length': 5, etag: '"l"' });
      res.end('hello');
    }
  });
  try {
    const get = (path: string) => requestHead('GET', path, `127.0.0.1:${port}`, 'Basic eDp5', '\r\n');
    const plain = await exchange(port, get('/'));
    assert.equal(plain.status, 200);
    assert.equal(plain.etag, '"l"');
    assert.equal(plain.body.toString(), 'hello');
    const chunked = await exchange(port, get('/chunked'));
    assert.equal(chunked.body.toString(), '{"a":1}');
    const notModified = await exchange(port, get('/304'));
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    const refused = await exchange(port, get('/close'));
    assert.equal(refused.status, 503);
    assert.equal(refused.retryAfter, '5');
    assert.equal(refused.close, true);
  } finally {
    await close(server);
  }
});

test('a device asks with its ETag, long-polls, takes a change at once, and reports', async () => {
  let etag = '"v1"';
  let body = JSON.stringify({ apps: [{ app_name: 'web', app_id: 1, docker_image: 'web:1' }], cron_jobs: [], device_group_id: 1, prune_id: 0 });
  const held: ServerResponse[] = [];
  const seen: { url: string; ifNoneMatch: string | undefined; authorization: string | undefined }[] = [];
  const reports: unknown[] = [];
  const { server, port } = await serve((req, res) => {
    if (req.method === 'POST') {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        reports.push(...(JSON.parse(text) as unknown[]));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"stored":1,"duplicates":0}');
      });
      return;
    }
    seen.push({ url: req.url!, ifNoneMatch: req.headers['if-none-match'], authorization: req.headers.authorization });
    if (req.headers['if-none-match'] !== etag) {
      res.writeHead(200, { etag, 'content-type': 'application/json' });
      res.end(body);
    } else if (req.url!.includes('wait=')) {
      held.push(res);
    } else {
      res.writeHead(304, { etag });
      res.end();
    }
  });
  const fleet = new Fleet({ url: `http://127.0.0.1:${port}`, group: 'pos-eu', authorization: 'Basic eDp5', devices: 2, rampMs: 0, applyMs: 0, reportConnections: 1, known: { etag, body } });
  try {
    fleet.start();
    while (fleet.stats().parked < 2) await new Promise((r) => setTimeout(r, 10));
    // First a plain conditional GET (the worker does not know yet that the manager long-polls), then the long-poll.
    assert.deepEqual(seen.slice(0, 2).map((s) => s.url), ['/api/v2/device_groups/pos-eu/info', '/api/v2/device_groups/pos-eu/info']);
    assert.ok(seen.every((s) => s.ifNoneMatch === '"v1"' && s.authorization === 'Basic eDp5'));
    assert.equal(seen.at(-1)!.url, '/api/v2/device_groups/pos-eu/info?wait=30');

    etag = '"v2"';
    body = body.replace('web:1', 'web:2');
    fleet.markChange('web:2', performance.now());
    for (const res of held.splice(0)) {
      res.writeHead(200, { etag, 'content-type': 'application/json' });
      res.end(body);
    }
    while (fleet.changeStats().received < 2 || fleet.stats().parked < 2 || reports.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.equal(seen.at(-1)!.ifNoneMatch, '"v2"');
    // The change is reported, with the ids of the config the device now has.
    const report = reports.at(-1) as { updated: boolean; desired: { apps: Record<string, number> }; hostname: string };
    assert.equal(report.updated, true);
    assert.deepEqual(report.desired.apps, { web: 1 });
    assert.match(report.hostname, /^sim-[01]$/);
  } finally {
    await fleet.stop();
    await close(server);
  }
});

async function gapAfter503(honourRetryAfter: boolean, retryAfter: string): Promise<number> {
  const times: number[] = [];
  const { server, port } = await serve((_req, res) => {
    times.push(performance.now());
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter });
    res.end('{"code":"SERVER_OVERLOADED"}');
  });
  const fleet = new Fleet({ url: `http://127.0.0.1:${port}`, group: 'pos-eu', authorization: null, devices: 1, rampMs: 0, reports: false, honourRetryAfter });
  try {
    fleet.start();
    while (times.length < 2) await new Promise((r) => setTimeout(r, 20));
    // The server saw the second request; wait for the fleet to have read its answer too.
    while ((fleet.stats().info.byStatus['503'] ?? 0) < 2) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(fleet.stats().info.byStatus, { 503: 2 });
    return times[1]! - times[0]!;
  } finally {
    await fleet.stop();
    await close(server);
  }
}

test('after a 503 a device waits Retry-After, plus up to half again, as the worker does', async () => {
  const gap = await gapAfter503(true, '2');
  assert.ok(gap >= 1950 && gap <= 3100, `retried after ${gap} ms`);
});

test('a device modelling an older worker (honourRetryAfter false) backs off with jitter only', async () => {
  // backoffMs(1, 1 s, …): between 1 and 2 s, whatever Retry-After says.
  const gap = await gapAfter503(false, '30');
  assert.ok(gap >= 950 && gap <= 2100, `retried after ${gap} ms`);
});
