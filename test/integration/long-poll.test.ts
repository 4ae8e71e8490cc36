// GET /device_groups/<dg>/info against a real manager: ETags, 304s, long-polls woken by
// changes (through this manager or another on the same file), shutdown, client aborts, and
// the cache's place after authentication.

import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, basic, call, startManager, type TestManager } from '../helpers/manager.ts';

const infoPath = (group: string) => `/api/v2/device_groups/${group}/info`;

interface InfoReply {
  status: number;
  etag: string | null;
  cacheControl: string | null;
  text: string;
  body: any;
  ms: number;
}

async function info(
  m: TestManager,
  group: string,
  options: { etag?: string; wait?: string; auth?: string | null; signal?: AbortSignal } = {},
): Promise<InfoReply> {
  const headers: Record<string, string> = {};
  const auth = options.auth === undefined ? ADMIN_AUTH : options.auth;
  if (auth !== null) headers.authorization = auth;
  if (options.etag !== undefined) headers['if-none-match'] = options.etag;
  const query = options.wait !== undefined ? `?wait=${options.wait}` : '';
  const started = performance.now();
  const response = await fetch(`${m.url}${infoPath(group)}${query}`, { headers, ...(options.signal ? { signal: options.signal } : {}) });
  const text = await response.text();
  const ms = performance.now() - started;
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, etag: response.headers.get('etag'), cacheControl: response.headers.get('cache-control'), text, body, ms };
}

/** Resolves once the manager holds `n` long-polls (bounded: fails after 3 s). */
async function waiters(m: TestManager, n: number): Promise<void> {
  const deadline = performance.now() + 3000;
  while (m.manager.cache.waiterCount() !== n) {
    if (performance.now() > deadline) assert.fail(`expected ${n} waiters, have ${m.manager.cache.waiterCount()}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function ok(m: TestManager, method: string, path: string, body?: unknown, auth?: string): Promise<any> {
  const reply = await call(m.url, method, path, { ...(body !== undefined ? { body } : {}), ...(auth !== undefined ? { auth } : {}) });
  assert.ok(reply.status >= 200 && reply.status < 300, `${method} ${path}: ${reply.status} ${reply.text}`);
  return reply.body;
}

/** Apps a, b (unlisted), cron job c; group g lists a and c, group h lists nothing. */
async function seed(m: TestManager): Promise<void> {
  await ok(m, 'POST', '/api/v2/apps/a', { docker_image: 'img/a:1', env_vars: { SECRET_MARK: 'do-not-leak' } });
  await ok(m, 'POST', '/api/v2/apps/b', { docker_image: 'img/b:1' });
  await ok(m, 'POST', '/api/v2/cron_jobs/c', { docker_image: 'img/c:1', schedule: '@hourly' });
  await ok(m, 'POST', '/api/v2/device_groups/g', { apps: ['a'], cron_jobs: ['c'] });
  await ok(m, 'POST', '/api/v2/device_groups/h', {});
}

let m: TestManager;
beforeEach(async () => {
  m = await startManager();
  await seed(m);
});
afterEach(async () => {
  await m.close();
  assert.deepEqual(m.fatal, []);
});

describe('ETags and 304', () => {
  test('replies carry a strong ETag and no-cache', async () => {
    const r = await info(m, 'g');
    assert.equal(r.status, 200);
    assert.match(r.etag ?? '', /^"[^"]+"$/);
    assert.equal(r.cacheControl, 'no-cache');
    assert.deepEqual(r.body.apps_list, ['a']);
    assert.deepEqual(r.body.cron_jobs_list, ['c']);
    assert.equal((await info(m, 'g')).etag, r.etag, 'stable while nothing changes');
    assert.notEqual((await info(m, 'h')).etag, r.etag);
  });

  test('If-None-Match equal: 304 without a body; otherwise 200', async () => {
    const { etag } = await info(m, 'g');
    const same = await info(m, 'g', { etag: etag! });
    assert.equal(same.status, 304);
    assert.equal(same.text, '');
    assert.equal(same.etag, etag);
    assert.equal((await info(m, 'g', { etag: `"stale", W/${etag}` })).status, 304);
    const other = await info(m, 'g', { etag: '"stale"' });
    assert.equal(other.status, 200);
    assert.equal(other.etag, etag);
  });

  test('an unknown group: 403 device_group_exists false, at once even with wait', async () => {
    const r = await info(m, 'nope', { etag: '"missing"', wait: '5' });
    assert.equal(r.status, 403);
    assert.equal(r.body.device_group_exists, false);
    assert.equal(r.body.code, 'DEVICE_GROUP_NOT_FOUND');
    assert.ok(r.ms < 1000, `${r.ms} ms`);
  });
});

describe('long-poll wakes on a change to the group', () => {
  const changes: [string, (m: TestManager) => Promise<unknown>][] = [
    ['an app update', (m) => ok(m, 'PUT', '/api/v2/apps/a/update', { running: false })],
    ['an app stop', (m) => ok(m, 'POST', '/api/v2/apps/a/stop')],
    ['a cron job update', (m) => ok(m, 'PUT', '/api/v2/cron_jobs/c/update', { schedule: '@daily' })],
    ['a device group update', (m) => ok(m, 'PUT', '/api/v2/device_groups/g/update', { apps: ['a', 'b'] })],
    ['a prune of all groups', (m) => ok(m, 'POST', '/api/v2/prune')],
    ['a prune of the group', (m) => ok(m, 'POST', '/api/v2/device_groups/g/prune')],
    ['deleting a listed app', (m) => ok(m, 'DELETE', '/api/v2/apps/a')],
  ];
  for (const [what, change] of changes) {
    test(what, async () => {
      const { etag } = await info(m, 'g');
      const pending = info(m, 'g', { etag: etag!, wait: '5' });
      await waiters(m, 1);
      await change(m);
      const r = await pending;
      assert.equal(r.status, 200);
      assert.ok(r.ms < 2000, `woke after ${r.ms} ms`);
      assert.notEqual(r.etag, etag);
      assert.equal(r.etag, (await info(m, 'g')).etag);
      await waiters(m, 0);
    });
  }

  test('deleting the group wakes the waiter with 403 device_group_exists false', async () => {
    const { etag } = await info(m, 'g');
    const pending = info(m, 'g', { etag: etag!, wait: '5' });
    await waiters(m, 1);
    await ok(m, 'DELETE', '/api/v2/device_groups/g');
    const r = await pending;
    assert.equal(r.status, 403);
    assert.equal(r.body.device_group_exists, false);
    assert.ok(r.ms < 2000, `${r.ms} ms`);
  });

  test('several waiters on one group all wake', async () => {
    const { etag } = await info(m, 'g');
    const pending = Array.from({ length: 5 }, () => info(m, 'g', { etag: etag!, wait: '5' }));
    await waiters(m, 5);
    await ok(m, 'POST', '/api/v2/apps/a/stop');
    for (const r of await Promise.all(pending)) {
      assert.equal(r.status, 200);
      assert.ok(r.ms < 2000);
    }
  });
});

describe('long-poll without a change', () => {
  test('wait=1 with no change: 304 after about a second', async () => {
    const { etag } = await info(m, 'g');
    const r = await info(m, 'g', { etag: etag!, wait: '1' });
    assert.equal(r.status, 304);
    assert.equal(r.etag, etag);
    assert.ok(r.ms >= 900 && r.ms < 3000, `${r.ms} ms`);
    assert.equal(m.manager.cache.waiterCount(), 0);
  });

  test('a change to another group or an unlisted app does not wake it', async () => {
    const { etag } = await info(m, 'g');
    const pending = info(m, 'g', { etag: etag!, wait: '1' });
    await waiters(m, 1);
    await ok(m, 'PUT', '/api/v2/device_groups/h/update', { apps: ['b'] });
    await ok(m, 'POST', '/api/v2/apps/b/stop');
    await ok(m, 'POST', '/api/v2/device_groups/h/prune');
    assert.equal(m.manager.cache.waiterCount(), 1, 'still held after the changes were seen');
    const r = await pending;
    assert.equal(r.status, 304);
    assert.ok(r.ms >= 900, `${r.ms} ms`);
  });

  test('wait=0 or no wait with a matching ETag: 304 at once', async () => {
    const { etag } = await info(m, 'g');
    for (const wait of ['0', undefined]) {
      const r = await info(m, 'g', { etag: etag!, ...(wait !== undefined ? { wait } : {}) });
      assert.equal(r.status, 304);
      assert.ok(r.ms < 500, `${r.ms} ms`);
    }
  });

  test('wait without a matching If-None-Match answers 200 at once', async () => {
    for (const etag of [undefined, '"old"']) {
      const r = await info(m, 'g', { wait: '5', ...(etag !== undefined ? { etag } : {}) });
      assert.equal(r.status, 200);
      assert.ok(r.ms < 1000, `${r.ms} ms`);
    }
  });

  test('a wait that is not a number of seconds: 400 INVALID_QUERY', async () => {
    const { etag } = await info(m, 'g');
    for (const wait of ['abc', '-1', '1e3', '', '5s']) {
      const r = await info(m, 'g', { etag: etag!, wait });
      assert.equal(r.status, 400, `wait=${wait}`);
      assert.equal(r.body.code, 'INVALID_QUERY');
    }
  });

  test('with cache_time 0 (no cache) long-polls still wake and time out', async () => {
    const uncached = await startManager({ cacheTimeSeconds: 0 });
    try {
      await seed(uncached);
      const { etag } = await info(uncached, 'g');
      const pending = info(uncached, 'g', { etag: etag!, wait: '5' });
      await waiters(uncached, 1);
      await ok(uncached, 'POST', '/api/v2/apps/a/stop');
      const woken = await pending;
      assert.equal(woken.status, 200);
      assert.ok(woken.ms < 2000, `${woken.ms} ms`);
      const idle = await info(uncached, 'g', { etag: woken.etag!, wait: '0.5' });
      assert.equal(idle.status, 304);
      assert.ok(idle.ms >= 450, `${idle.ms} ms`);
    } finally {
      await uncached.close();
    }
  });

  test('wait above long_poll_max_wait is capped', async () => {
    const capped = await startManager({ longPollMaxWaitSeconds: 1 });
    try {
      await seed(capped);
      const { etag } = await info(capped, 'g');
      const r = await info(capped, 'g', { etag: etag!, wait: '30' });
      assert.equal(r.status, 304);
      assert.ok(r.ms >= 900 && r.ms < 2500, `${r.ms} ms`);
    } finally {
      await capped.close();
    }
  });
});

describe('waiters and the manager lifecycle', () => {
  test('a change written by a second manager on the same file wakes a waiter of the first', async () => {
    const second = await startManager({}, { dir: m.dir });
    try {
      const { etag } = await info(m, 'g');
      assert.equal((await info(second, 'g')).etag, etag, 'equal data, equal ETag on every manager');
      const pending = info(m, 'g', { etag: etag!, wait: '5' });
      await waiters(m, 1);
      await ok(second, 'POST', '/api/v2/apps/a/stop');
      const r = await pending;
      assert.equal(r.status, 200);
      assert.ok(r.ms < 2000, `woke after ${r.ms} ms`);
      assert.equal(r.body.apps[0].running, false);
      assert.equal(r.etag, (await info(second, 'g')).etag);
    } finally {
      await second.close();
    }
  });

  test('closing the manager answers held waiters with 304 promptly', async () => {
    const { etag } = await info(m, 'g');
    const pending = info(m, 'g', { etag: etag!, wait: '30' });
    await waiters(m, 1);
    const started = performance.now();
    const closing = m.manager.close();
    const r = await pending;
    await closing;
    assert.equal(r.status, 304);
    assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
    assert.equal(m.manager.cache.waiterCount(), 0);
  });

  test('a waiter whose client goes away is removed', async () => {
    const { etag } = await info(m, 'g');
    const controller = new AbortController();
    const pending = info(m, 'g', { etag: etag!, wait: '30', signal: controller.signal });
    await waiters(m, 1);
    controller.abort();
    await assert.rejects(pending, (err: Error) => err.name === 'AbortError');
    await waiters(m, 0);
  });
});

describe('the cache', () => {
  test('a change is served at once although cache_time is 10 s', async () => {
    const before = await info(m, 'g');
    assert.equal(before.body.apps[0].running, true);
    await ok(m, 'POST', '/api/v2/apps/a/stop');
    const after = await info(m, 'g');
    assert.equal(after.body.apps[0].running, false);
    assert.notEqual(after.etag, before.etag);
    await ok(m, 'PUT', '/api/v2/device_groups/g/update', { apps: ['b', 'a'] });
    assert.deepEqual((await info(m, 'g')).body.apps_list, ['b', 'a']);
  });

  test('50 concurrent GETs on a cold cache all get 200 and one ETag', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, () => info(m, 'g')));
    const etags = new Set(replies.map((r) => r.etag));
    assert.deepEqual(replies.map((r) => r.status), Array(50).fill(200));
    assert.equal(etags.size, 1);
    assert.equal(new Set(replies.map((r) => r.text)).size, 1);
  });

  test('authentication and authorization come before the cache', async () => {
    await ok(m, 'POST', '/api/v2/users/dev', { password: 'dev-pw' });
    await ok(m, 'POST', '/api/v2/users/ops', { password: 'ops-pw' });
    await ok(m, 'POST', '/api/v2/user_groups/devs', { group_members: ['dev'], device_groups: { h: 'ro' } });
    await ok(m, 'POST', '/api/v2/user_groups/opss', { group_members: ['ops'], device_groups: { g: 'rw' } });
    const authorized = await info(m, 'g');
    assert.equal(authorized.status, 200);

    for (const auth of [null, basic('nebula', 'wrong'), 'Bearer not-a-token', basic('dev', 'wrong')]) {
      for (const etag of [undefined, authorized.etag!]) {
        const r = await info(m, 'g', { auth, ...(etag !== undefined ? { etag } : {}) });
        assert.equal(r.status, 401, `auth ${auth} etag ${etag}`);
        assert.equal(r.body?.code, 'UNAUTHORIZED');
        assert.equal(r.text.includes('do-not-leak'), false);
        assert.equal(r.etag, null);
      }
    }
    const denied = await info(m, 'g', { auth: basic('dev', 'dev-pw') });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.access_allowed, false);
    assert.equal(denied.body.code, 'ACCESS_DENIED');
    assert.equal(denied.text.includes('do-not-leak'), false);
    assert.equal((await info(m, 'g', { auth: basic('dev', 'dev-pw'), etag: authorized.etag!, wait: '5' })).status, 403);

    assert.equal((await info(m, 'h', { auth: basic('dev', 'dev-pw') })).status, 200);
    const rw = await info(m, 'g', { auth: basic('ops', 'ops-pw') });
    assert.equal(rw.status, 200, 'rw implies ro');
    assert.equal(rw.etag, authorized.etag);
  });
});
