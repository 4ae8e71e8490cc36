// Malformed input never gives a 5xx; empty-bodied POSTs; unknown routes; GET /reports.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { basic, call, startManager, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertError, assertStatus, createApp, createCronJob, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';

const V2 = '/api/v2';

let m: TestManager;
let names: { app: string; dg: string; cron: string; user: string; group: string };

before(async () => {
  m = await startManager();
  names = { app: uniq('app'), dg: uniq('dg'), cron: uniq('cron'), user: uniq('user'), group: uniq('group') };
  await createApp(m.url, names.app);
  await createCronJob(m.url, names.cron);
  await createDeviceGroup(m.url, names.dg, { apps: [names.app], cron_jobs: [names.cron] });
  await createUser(m.url, names.user, 'user-password', 'user-token-value');
  await createUserGroup(m.url, names.group, { group_members: [names.user], apps: { [names.app]: 'ro' } });
});
after(async () => {
  await m.close();
});

/**
 * Every write route that reads a body. Creates target an existing object and updates a
 * missing one, so a body that happens to be acceptable still ends in a 4xx (exists / not found).
 */
function writeRoutes(): [string, string][] {
  const missing = uniq('missing');
  return [
    ['POST', `${V2}/apps/${names.app}`],
    ['POST', `${V2}/apps/${missing}/update`],
    ['PUT', `${V2}/apps/${missing}/update`],
    ['POST', `${V2}/device_groups/${names.dg}`],
    ['POST', `${V2}/device_groups/${missing}/update`],
    ['PUT', `${V2}/device_groups/${missing}/update`],
    ['POST', `${V2}/cron_jobs/${names.cron}`],
    ['POST', `${V2}/cron_jobs/${missing}/update`],
    ['PUT', `${V2}/cron_jobs/${missing}/update`],
    ['POST', `${V2}/users/${names.user}`],
    ['PUT', `${V2}/users/${missing}/update`],
    ['POST', `${V2}/user_groups/${names.group}`],
    ['PUT', `${V2}/user_groups/${missing}/update`],
  ];
}

function assertClientError(reply: Reply, where: string): void {
  assert.ok(reply.status >= 400 && reply.status < 500, `${where}: a 4xx, got ${reply.status} ${reply.text}`);
  assert.ok(reply.body !== null && typeof reply.body === 'object', `${where}: a JSON body, got ${reply.text}`);
  assert.equal(typeof reply.body.code, 'string', `${where}: a code, got ${reply.text}`);
  assert.equal(typeof reply.body.message, 'string', `${where}`);
}

async function assertAlive(): Promise<void> {
  assertStatus(await call(m.url, 'GET', '/healthz', { auth: null }), 200);
  assertStatus(await call(m.url, 'GET', `${V2}/status`), 200);
}

describe('malformed bodies on every write route', () => {
  const deepArray = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
  const deepObject = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
  const bodies: [string, string, string | null][] = [
    ['null', 'null', null],
    ['a number', '42', 'INVALID_BODY'],
    ['a string', '"str"', 'INVALID_BODY'],
    ['an empty list', '[]', 'INVALID_BODY'],
    ['a list', '[1,2]', 'INVALID_BODY'],
    ['docker_image a number', '{"docker_image": 5}', null],
    ['docker_image a list', '{"docker_image": ["x"]}', null],
    ['running a string', '{"running": "yes"}', null],
    ['nested 10000 lists deep', deepArray, null],
    ['nested 10000 objects deep', deepObject, null],
    ['invalid JSON', '{bad', 'INVALID_JSON'],
    ['truncated JSON', '{"docker_image": "x"', 'INVALID_JSON'],
    ['a __proto__ key', '{"__proto__": {"admin": true}, "docker_image": "x"}', null],
    ['a constructor.prototype key', '{"constructor": {"prototype": {"admin": true}}, "docker_image": "x"}', null],
  ];
  for (const [label, raw, code] of bodies) {
    test(label, async () => {
      for (const [method, path] of writeRoutes()) {
        const reply = await call(m.url, method, path, { rawBody: raw });
        assertClientError(reply, `${method} ${path}`);
        if (code !== null) assert.equal(reply.body.code, code, `${method} ${path}: ${reply.text}`);
      }
      await assertAlive();
    });
  }

  test('no prototype was polluted, and no group became admin', async () => {
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    const group = await call(m.url, 'GET', `${V2}/user_groups/${names.group}`);
    assertStatus(group, 200);
    assert.equal(group.body.admin, false);
    const auth = basic(names.user, 'user-password');
    assertStatus(await call(m.url, 'GET', `${V2}/users`, { auth }), 200);
    const admin = await call(m.url, 'GET', `${V2}/users/${names.user}`, { auth });
    assertError(admin, 403, 'ACCESS_DENIED', { access_allowed: false });
  });

  test('a 2 MiB body is 413 BODY_TOO_LARGE', async () => {
    const huge = JSON.stringify({ docker_image: 'x:1', env_vars: { BIG: 'x'.repeat(2 * 1024 * 1024) } });
    for (const [method, path] of writeRoutes()) {
      assertError(await call(m.url, method, path, { rawBody: huge }), 413, 'BODY_TOO_LARGE');
    }
    await assertAlive();
  });

  // Fastify parses text/plain by default; the manager must refuse it like any non-JSON type.
  for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'text/html']) {
    test(`a body sent as ${type} is 415 UNSUPPORTED_MEDIA_TYPE`, async () => {
      for (const [method, path] of writeRoutes()) {
        const reply = await call(m.url, method, path, { rawBody: '{"docker_image": "x:1"}', headers: { 'content-type': type } });
        assertError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
      await assertAlive();
    });
  }
});

describe('routes and empty bodies', () => {
  test('POSTs without a body but with a JSON content type succeed (as the SDK sends them)', async () => {
    const app = uniq('empty');
    await createApp(m.url, app);
    const dg = uniq('empty');
    await createDeviceGroup(m.url, dg);
    const calls: [string, number][] = [
      [`${V2}/apps/${app}/stop`, 202],
      [`${V2}/apps/${app}/start`, 202],
      [`${V2}/apps/${app}/restart`, 202],
      [`${V2}/device_groups/${dg}/prune`, 202],
      [`${V2}/prune`, 202],
      [`${V2}/users/${names.user}/refresh`, 200],
    ];
    for (const [path, status] of calls) {
      for (const rawBody of ['', '  \n']) {
        const reply = await call(m.url, 'POST', path, { rawBody, headers: { 'content-type': 'application/json' } });
        assertStatus(reply, status);
      }
    }
  });

  test('an unknown route is 404 ROUTE_NOT_FOUND in JSON', async () => {
    for (const [method, path] of [
      ['GET', '/api/v2/nothing'],
      ['GET', '/api/v1/apps'],
      ['POST', '/api/v2/apps/x/explode'],
      ['GET', '/'],
    ]) {
      const reply = await call(m.url, method as string, path as string);
      assertError(reply, 404, 'ROUTE_NOT_FOUND');
      assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
    }
    const wrongMethod = await call(m.url, 'DELETE', `${V2}/status`);
    assertClientError(wrongMethod, 'DELETE /status');
  });
});

describe('GET /reports', () => {
  const get = (query = '') => call(m.url, 'GET', `${V2}/reports${query}`);
  // Recent: the manager's retention (report_ttl 3600 s) would purge an older insert date.
  const insertedAt = new Date(Date.now() - 60_000);

  test('an empty store answers {data:null, last_id:null}', async () => {
    const reply = await get();
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, { data: null, last_id: null });
  });

  test('25 reports: defaults, paging, filters and bad queries', async () => {
    const reports = Array.from({ length: 25 }, (_, i) => ({
      hostname: `h${i % 3}`,
      device_group: `dg${i % 2}`,
      report_creation_time: 1000 + i,
      updated: i % 2 === 0,
      n: i,
    }));
    await m.manager.store.insertReports(reports, insertedAt);
    const ns = async (query: string) => {
      const reply = await get(query);
      assertStatus(reply, 200);
      return (reply.body.data ?? []).map((r: { n: number }) => r.n) as number[];
    };
    const range = (test: (i: number) => boolean) => reports.map((r) => r.n).filter(test);

    const first = await get();
    assertStatus(first, 200);
    assert.equal(first.body.data.length, 10, 'page_size defaults to 10');
    for (const r of first.body.data) {
      assert.match(r._id.$oid, /^[0-9a-f]{24}$/);
      assert.equal(new Date(r.report_insert_date.$date).getTime(), insertedAt.getTime());
    }
    assert.deepEqual(first.body.last_id, { $oid: first.body.data.at(-1)._id.$oid });

    const seen: number[] = [];
    let lastId: string | null = null;
    for (let page = 0; page < 10; page++) {
      const reply = await get(`?page_size=7${lastId ? `&last_id=${lastId}` : ''}`);
      assertStatus(reply, 200);
      if (reply.body.data === null) {
        assert.deepEqual(reply.body, { data: null, last_id: null });
        break;
      }
      assert.ok(reply.body.data.length <= 7);
      seen.push(...reply.body.data.map((r: { n: number }) => r.n));
      lastId = reply.body.last_id.$oid;
    }
    assert.deepEqual(seen, range(() => true), 'pages follow each other, in order, without gaps');

    assert.deepEqual(await ns('?page_size=100&hostname=h1'), range((i) => i % 3 === 1));
    assert.deepEqual(await ns('?page_size=100&device_group=dg0'), range((i) => i % 2 === 0));
    assert.deepEqual(await ns('?page_size=100&hostname=h0&device_group=dg0'), range((i) => i % 6 === 0));
    assert.deepEqual(await ns('?page_size=100&hostname=nobody'), []);
    const ops: [string, (t: number) => boolean][] = [
      ['gt', (t) => t > 1010],
      ['lt', (t) => t < 1010],
      ['eq', (t) => t === 1010],
      ['gte', (t) => t >= 1010],
      ['lte', (t) => t <= 1010],
      ['ne', (t) => t !== 1010],
    ];
    for (const [op, keep] of ops) {
      const got = await ns(`?page_size=100&report_creation_time=1010&report_creation_time_filter=${op}`);
      assert.deepEqual(got, range((i) => keep(1000 + i)), op);
    }
    assert.deepEqual(await ns('?page_size=100&report_creation_time=1010'), [10], 'the operator defaults to eq');
    assert.deepEqual(await ns('?page_size=100&updated=True'), range((i) => i % 2 === 0));
    assert.deepEqual(await ns('?page_size=100&updated=False'), range((i) => i % 2 === 1));
    assert.deepEqual(await ns('?page_size=100&updated=true'), range((i) => i % 2 === 0));
    assert.equal((await ns('?page_size=0')).length, 25, 'page_size 0 means no (capped) limit');
    assert.equal((await ns('?page_size=abc')).length, 10, 'a non-integer page_size falls back to 10');

    for (const query of [
      '?last_id=nothex',
      '?last_id=123',
      '?report_creation_time=1010&report_creation_time_filter=where',
      '?report_creation_time_filter=$where',
      '?updated=maybe',
      '?updated=1',
      '?report_creation_time=soon',
      '?hostname=a&hostname=b',
    ]) {
      assertError(await get(query), 400, 'INVALID_QUERY');
    }
    await assertAlive();
  });
});
