// Overload: the manager sheds work with 503 SERVER_OVERLOADED + Retry-After before it falls
// over — too many requests being worked on, too many long-polls held, an event loop that
// lags — and answers 429 TOO_MANY_AUTH_FAILURES + Retry-After to an address that keeps
// guessing credentials, while credentials already known good keep working. Health routes are
// never shed. Everything against a real manager; the lag is a real busy event loop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { ADMIN_AUTH, ADMIN_TOKEN, basic, call, startManager, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertStatus, createDeviceGroup, createUser, uniq } from '../helpers/fixtures.ts';
import { waitFor } from '../helpers/worker.ts';

const DEFAULTS = { maxEventLoopDelayMs: 1000, maxInFlight: 1024, maxLongPolls: 100_000, authFailuresPerMinute: 0 };

function assertShed(reply: Reply, code = 'SERVER_OVERLOADED', status = 503): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.body?.code, code, reply.text);
  const retryAfter = Number(reply.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${reply.headers.get('retry-after')}`);
}

/** A POST whose body never finishes arriving: authenticated and in flight until the socket closes. */
async function slowPost(url: string, path: string): Promise<Socket> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${ADMIN_AUTH}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"docker`);
  return socket;
}

/** A long-poll held by the manager (the ETag is current); resolves with its status when answered. */
function longPoll(url: string, group: string, etag: string): { done: Promise<number>; abort: () => void } {
  let req: ReturnType<typeof request>;
  const done = new Promise<number>((resolve) => {
    req = request(`${url}/api/v2/device_groups/${group}/info?wait=30`, { headers: { authorization: ADMIN_AUTH, 'if-none-match': etag }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
  return { done, abort: () => req.destroy() };
}

async function withManager(overrides: Partial<typeof DEFAULTS>, fn: (m: TestManager) => Promise<void>): Promise<void> {
  const m = await startManager({ overload: { ...DEFAULTS, ...overrides } });
  try {
    await fn(m);
  } finally {
    await m.close();
  }
}

test('more requests in flight than max_in_flight: 503 SERVER_OVERLOADED with Retry-After; health answers; served again once they end', async () => {
  await withManager({ maxInFlight: 2 }, async (m) => {
    const group = uniq('dg');
    assertStatus(await createDeviceGroup(m.url, group), 200);
    const slow = [await slowPost(m.url, `/api/v2/apps/${uniq('a')}`), await slowPost(m.url, `/api/v2/apps/${uniq('a')}`)];
    try {
      await waitFor('both slow requests to be in flight', async () => m.manager.load.load.in_flight === 2, 5000);
      assertShed(await call(m.url, 'GET', '/api/v2/apps'));
      assertShed(await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`));
      // Shed before authentication: no credentials is 503 too, not a 401 that costs a lookup.
      assertShed(await call(m.url, 'GET', '/api/v2/apps', { auth: null }));
      assertStatus(await call(m.url, 'GET', '/healthz', { auth: null }), 200);
      assertStatus(await call(m.url, 'GET', '/readyz', { auth: null }), 200);
    } finally {
      for (const socket of slow) socket.destroy();
    }
    await waitFor('the manager to serve again', async () => (await call(m.url, 'GET', '/api/v2/apps')).status === 200, 5000);
    // Nothing half-made by the cut-off requests.
    const apps = (await call(m.url, 'GET', '/api/v2/apps')).body.apps as string[];
    assert.deepEqual(apps, []);
  });
});

test('long-polls held do not count as in flight; past max_long_polls a new one is shed, a plain /info still answers', async () => {
  await withManager({ maxInFlight: 2, maxLongPolls: 3 }, async (m) => {
    const group = uniq('dg');
    assertStatus(await createDeviceGroup(m.url, group), 200);
    const first = await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`);
    assertStatus(first, 200);
    const etag = first.headers.get('etag')!;
    const held = [longPoll(m.url, group, etag), longPoll(m.url, group, etag), longPoll(m.url, group, etag)];
    try {
      await waitFor('three long-polls to be held', async () => countHeld(m) === 3, 5000);
      // Three held, max_in_flight 2: the API still answers (held polls are not in flight).
      assertStatus(await call(m.url, 'GET', '/api/v2/apps'), 200);
      const fourth = await call(m.url, 'GET', `/api/v2/device_groups/${group}/info?wait=30`, { headers: { 'if-none-match': etag } });
      assertShed(fourth);
      assertStatus(await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`), 200);
      // A change answers the held ones; then a long-poll is held again.
      assertStatus(await call(m.url, 'PUT', `/api/v2/device_groups/${group}/update`, { body: { apps: [] } }), 202);
      assert.deepEqual(await Promise.all(held.map((h) => h.done)), [200, 200, 200]);
    } finally {
      for (const h of held) h.abort();
    }
    await waitFor('the held long-polls to be released', async () => countHeld(m) === 0, 5000);
  });
});

test('the start-up is no overload: a manager that has just become ready serves even after a long stall of its loop', async () => {
  await withManager({ maxEventLoopDelayMs: 200 }, async (m) => {
    // What a slow start looks like to the sampler: the loop blocked for over a second (here by
    // us, right after ready; at start-up by module loading and schema compiling).
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      // busy
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the sampler's turn
    assertStatus(await call(m.url, 'GET', '/api/v2/status'), 200);
  });
});

function countHeld(m: TestManager): number {
  return m.manager.load.load.long_polls;
}

test('an event loop that lags past max_event_loop_delay: requests are shed with 503, then served once it recovers', async () => {
  await withManager({ maxEventLoopDelayMs: 200 }, async (m) => {
    const group = uniq('dg');
    assertStatus(await createDeviceGroup(m.url, group), 200);
    assertStatus(await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`), 200);
    // A real, sustained lag of this process's event loop (the manager runs in it): 300 ms
    // busy, a turn of the loop, 300 ms busy again… for up to 6 s; the manager samples the
    // mean delay every second. Requests are made in the gaps.
    let busy = true;
    const stall = () => {
      if (!busy) return;
      const until = Date.now() + 300;
      while (Date.now() < until) {
        // busy: nothing else runs
      }
      setImmediate(stall);
    };
    setImmediate(stall);
    let shed: Reply | undefined;
    try {
      const deadline = Date.now() + 6000;
      while (shed === undefined && Date.now() < deadline) {
        const reply = await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`);
        if (reply.status === 503) shed = reply;
        else assertStatus(reply, 200);
      }
    } finally {
      busy = false;
    }
    assert.ok(shed, 'a lagging event loop must shed requests');
    assertShed(shed);
    await waitFor('the manager to serve again once the loop keeps time', async () => (await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`)).status === 200, 10_000);
  });
});

test('failed authentications past the limit: 429 TOO_MANY_AUTH_FAILURES + Retry-After for unknown credentials from that address only', async () => {
  await withManager({ authFailuresPerMinute: 5 }, async (m) => {
    const user = uniq('u');
    assertStatus(await createUser(m.url, user, 'right-password', 'token-of-the-user-0123456789'), 200);
    // Known good before the guessing starts: verified once, never slow-hashed again.
    assertStatus(await call(m.url, 'GET', '/api/v2/apps', { auth: basic(user, 'right-password') }), 200);
    for (let i = 0; i < 5; i++) assertStatus(await call(m.url, 'GET', '/api/v2/apps', { auth: basic(user, `guess-${i}`) }), 401);
    const blocked = await call(m.url, 'GET', '/api/v2/apps', { auth: basic(user, 'guess-5') });
    assertShed(blocked, 'TOO_MANY_AUTH_FAILURES', 429);
    assert.equal(JSON.stringify(Object.keys(blocked.body).sort()), JSON.stringify(['code', 'message']));
    // Unknown user, unknown token: 429 as well — the answer does not tell who exists.
    assertShed(await call(m.url, 'GET', '/api/v2/apps', { auth: basic('nobody', 'x') }), 'TOO_MANY_AUTH_FAILURES', 429);
    assertShed(await call(m.url, 'GET', '/api/v2/apps', { auth: 'Bearer not-a-token' }), 'TOO_MANY_AUTH_FAILURES', 429);
    // The user's token was never verified from here: not known good, so refused too.
    assertShed(await call(m.url, 'GET', '/api/v2/apps', { auth: 'Bearer token-of-the-user-0123456789' }), 'TOO_MANY_AUTH_FAILURES', 429);
    // Known good: still served. The configured admin (no slow hash) too. No credentials: 401.
    assertStatus(await call(m.url, 'GET', '/api/v2/apps', { auth: basic(user, 'right-password') }), 200);
    assertStatus(await call(m.url, 'GET', '/api/v2/apps', { auth: `Bearer ${ADMIN_TOKEN}` }), 200);
    assertStatus(await call(m.url, 'GET', '/api/v2/apps', { auth: null }), 401);
    // Another address is not affected (127.0.0.2 is loopback too).
    assert.equal(await statusFrom('127.0.0.2', m.url, basic(user, 'guess-x')), 401);
    assert.equal(await statusFrom('127.0.0.2', m.url, 'Bearer token-of-the-user-0123456789'), 200);
  });
});

function statusFrom(localAddress: string, url: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v2/apps`, { headers: { authorization }, localAddress, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `head` and then nothing more; resolves with what the server sent before it closed, and when. */
function stall(url: string, head: string): Promise<{ text: string; ms: number }> {
  const started = Date.now();
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString()));
  socket.write(head);
  return new Promise((resolve) => {
    socket.on('close', () => resolve({ text, ms: Date.now() - started }));
    socket.on('error', () => undefined);
    setTimeout(() => socket.destroy(), 20_000);
  });
}

test('slow senders (slowloris) are cut after request_timeout with 408 REQUEST_TIMEOUT; a long-poll longer than it is held', async () => {
  const m = await startManager({ requestTimeoutSeconds: 2, overload: DEFAULTS });
  try {
    const group = uniq('dg');
    assertStatus(await createDeviceGroup(m.url, group), 200);
    const etag = (await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`)).headers.get('etag')!;
    const started = Date.now();
    const [headers, body, poll] = await Promise.all([
      stall(m.url, 'GET /api/v2/apps HTTP/1.1\r\nHost: x\r\n'),
      stall(m.url, `POST /api/v2/apps/${uniq('a')} HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_AUTH}\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"docker`),
      call(m.url, 'GET', `/api/v2/device_groups/${group}/info?wait=5`, { headers: { 'if-none-match': etag } }),
    ]);
    for (const [label, cut] of [['headers', headers], ['body', body]] as const) {
      assert.match(cut.text, /^HTTP\/1\.1 408 /, label);
      assert.match(cut.text, /"code":"REQUEST_TIMEOUT"/, label);
      assert.ok(cut.ms < 10_000, `${label}: cut after ${cut.ms} ms`);
    }
    assert.equal(poll.status, 304);
    assert.ok(Date.now() - started >= 4900, 'the long-poll was held its whole wait');
    assert.deepEqual((await call(m.url, 'GET', '/api/v2/apps')).body.apps, [], 'the cut-off create made nothing');
  } finally {
    await m.close();
  }
});
