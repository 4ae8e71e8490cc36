// GET /metrics (roles/manager/metrics.ts, routes/metrics.ts): requests of every kind move the
// counters by exactly what they should, with route patterns as labels; histograms observe;
// the store's operations are timed; the output is well-formed Prometheus text naming no group,
// app, user or secret; any authenticated caller may scrape, nobody else; it is never shed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, ADMIN_PASSWORD, ADMIN_TOKEN, basic, call, startManager, type TestManager } from '../helpers/manager.ts';
import { assertStatus, bearer, createApp, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';
import { INFO_ROUTE, INFO_WAIT_ROUTE, UNMATCHED_ROUTE } from '../../roles/manager/metrics.ts';
import { instrumentStore } from '../../src/store/instrumented.ts';
import { StoreUnavailableError } from '../../src/errors.ts';
import type { Store } from '../../src/store/types.ts';
import { parse, value, type Exposition } from '../helpers/prometheus.ts';

const V2 = '/api/v2';

let m: TestManager;
const names = { app: uniq('metrics-app'), group: uniq('metrics-dg'), reader: uniq('metrics-reader'), monitor: uniq('metrics-monitor'), userGroup: uniq('metrics-ug') };
const secrets = { readerPassword: `pw-${uniq('secret')}`, readerToken: `tok-${uniq('secret')}`, monitorPassword: `pw-${uniq('secret')}`, monitorToken: `tok-${uniq('secret')}` };
let readerAuth: string;
let monitorAuth: string;

async function scrape(auth: string | null = ADMIN_AUTH): Promise<Exposition> {
  const r = await call(m.url, 'GET', '/metrics', { auth });
  assertStatus(r, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parse(r.text);
}

before(async () => {
  m = await startManager();
  await createApp(m.url, names.app, { env_vars: { SECRET_VALUE: secrets.readerToken } });
  await createDeviceGroup(m.url, names.group, { apps: [names.app] });
  await createUser(m.url, names.reader, secrets.readerPassword, secrets.readerToken);
  await createUser(m.url, names.monitor, secrets.monitorPassword, secrets.monitorToken);
  await createUserGroup(m.url, names.userGroup, { group_members: [names.reader], device_groups: { [names.group]: 'ro' } });
  readerAuth = basic(names.reader, secrets.readerPassword);
  monitorAuth = bearer(secrets.monitorToken);
});
after(async () => {
  await m.close();
});

describe('GET /metrics', () => {
  test('requests move the counters by exactly the right amounts, with route patterns as labels', async () => {
    const info = `${V2}/device_groups/${names.group}/info`;
    const before = await scrape();

    // 200 through fastify: a header never seen, the group not cached (a store read: a miss).
    const first = await call(m.url, 'GET', info, { auth: readerAuth });
    assertStatus(first, 200);
    const etag = first.headers.get('etag')!;
    // 200 and 304 by the fast path: the header authenticated, the group cached.
    assertStatus(await call(m.url, 'GET', info, { auth: readerAuth }), 200);
    assertStatus(await call(m.url, 'GET', info, { auth: readerAuth, headers: { 'if-none-match': etag } }), 304);
    // 304 through fastify: a query string the fast path leaves to the router.
    assertStatus(await call(m.url, 'GET', `${info}?x=1`, { auth: readerAuth, headers: { 'if-none-match': etag } }), 304);
    // 401 without credentials, 403 for a user granted nothing on the group.
    assertStatus(await call(m.url, 'GET', info, { auth: null }), 401);
    assertStatus(await call(m.url, 'GET', info, { auth: monitorAuth }), 403);
    // 404: no such route (a name in the URL that must not reach the metrics).
    const unknown = uniq('no-such-route');
    assertStatus(await call(m.url, 'GET', `/${unknown}`, { auth: readerAuth }), 404);
    // A long-poll held 1 s, then 304.
    const started = Date.now();
    assertStatus(await call(m.url, 'GET', `${info}?wait=1`, { auth: readerAuth, headers: { 'if-none-match': etag } }), 304);
    assert.ok(Date.now() - started >= 900);
    // An admin write.
    const write = await createApp(m.url, uniq('metrics-app2'));
    assert.ok(write.status === 200, `${write.status} ${write.text}`);

    const now = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => value(now, name, labels) - value(before, name, labels);
    const requests = (route: string, method: string, status: number) => delta('nebula_http_requests_total', { route, method, status_code: String(status) });
    assert.equal(requests(INFO_ROUTE, 'GET', 200), 2);
    assert.equal(requests(INFO_ROUTE, 'GET', 304), 2);
    assert.equal(requests(INFO_ROUTE, 'GET', 401), 1);
    assert.equal(requests(INFO_ROUTE, 'GET', 403), 1);
    assert.equal(requests(INFO_WAIT_ROUTE, 'GET', 304), 1);
    assert.equal(requests(UNMATCHED_ROUTE, 'GET', 404), 1);
    assert.equal(requests(`${V2}/apps/:app_name`, 'POST', 200), 1);
    assert.equal(requests('/metrics', 'GET', 200), 1); // the first scrape
    const total = now.samples.filter((s) => s.name === 'nebula_http_requests_total').reduce((n, s) => n + s.value, 0);
    const totalBefore = before.samples.filter((s) => s.name === 'nebula_http_requests_total').reduce((n, s) => n + s.value, 0);
    assert.equal(total - totalBefore, 10, 'no request counted twice or elsewhere');

    assert.equal(delta('nebula_info_fast_path_responses_total', { status_code: '200' }), 1);
    assert.equal(delta('nebula_info_fast_path_responses_total', { status_code: '304' }), 1);

    // Timed through the router only: 200, 304 (?x=1), 401, 403 on the route; the long-poll on its own.
    assert.equal(delta('nebula_http_request_duration_seconds_count', { route: INFO_ROUTE, method: 'GET' }), 4);
    assert.equal(delta('nebula_http_request_duration_seconds_count', { route: INFO_WAIT_ROUTE, method: 'GET' }), 1);
    assert.ok(delta('nebula_http_request_duration_seconds_sum', { route: INFO_WAIT_ROUTE, method: 'GET' }) >= 0.9);
    assert.ok(delta('nebula_http_request_duration_seconds_sum', { route: INFO_ROUTE, method: 'GET' }) < 0.9, 'the wait is not /info time');
    assert.equal(delta('nebula_http_request_duration_seconds_bucket', { route: INFO_WAIT_ROUTE, method: 'GET', le: '0.5' }), 0);
    assert.equal(delta('nebula_http_request_duration_seconds_bucket', { route: INFO_WAIT_ROUTE, method: 'GET', le: '+Inf' }), 1);

    // The cache: one store read (the first request), then hits: the fast path's two answers,
    // its look before leaving 401 and 403 to the router, the ?x=1 route's, the long-poll's three.
    assert.equal(delta('nebula_info_cache_lookups_total', { result: 'miss' }), 1);
    assert.equal(delta('nebula_info_cache_lookups_total', { result: 'hit' }), 8);

    // Nothing held or in flight once answered (the scrape itself is not counted).
    assert.equal(value(now, 'nebula_http_requests_in_flight'), 0);
    assert.equal(value(now, 'nebula_long_polls_held'), 0);
    assert.equal(value(now, 'nebula_store_up'), 1);
    for (const reason of ['pressure', 'in_flight', 'long_polls']) assert.equal(delta('nebula_requests_shed_total', { reason }), 0);
  });

  test('store operations are timed, by operation', async () => {
    const e = await scrape();
    // info: the /info miss; create: the writes; get: basic auth of a DB user; groupsOf: its
    // permissions; usersByTokenLookup: a bearer token; changeSeq: the change watcher.
    for (const operation of ['info', 'create', 'get', 'groupsOf', 'usersByTokenLookup', 'changeSeq']) {
      const count = value(e, 'nebula_store_operation_duration_seconds_count', { operation });
      assert.ok(count > 0, `${operation}: ${count}`);
      assert.equal(value(e, 'nebula_store_operation_duration_seconds_bucket', { operation, le: '+Inf' }), count);
      assert.ok(value(e, 'nebula_store_operation_duration_seconds_sum', { operation }) > 0);
    }
    const operations = new Set(e.samples.filter((s) => s.name === 'nebula_store_operation_duration_seconds_count').map((s) => s.labels.operation));
    for (const operation of operations) assert.match(operation!, /^[a-zA-Z]+$/);
  });

  test('the cache entries gauge and the process metrics', async () => {
    assertStatus(await call(m.url, 'GET', `${V2}/device_groups/${names.group}/info`, { auth: readerAuth }), 200);
    const e = await scrape();
    assert.ok(value(e, 'nebula_info_cache_entries') >= 1);
    assert.equal(e.types.get('nebula_process_cpu_user_seconds_total'), 'counter');
    assert.ok(value(e, 'nebula_process_resident_memory_bytes') > 0);
    assert.equal(e.types.get('nebula_nodejs_eventloop_lag_seconds'), 'gauge');
    for (const name of e.types.keys()) assert.match(name, /^nebula_/);
  });

  test('names no group, app, user, URL or secret: labels are route patterns and fixed values', async () => {
    const e = await scrape();
    for (const word of [...Object.values(names), ...Object.values(secrets), ADMIN_PASSWORD, ADMIN_TOKEN, 'no-such-route', 'x=1', 'wait=1']) {
      assert.ok(!e.text.includes(word), `the metrics contain ${word}`);
    }
    const routes = new Set(e.samples.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route!));
    for (const route of routes) {
      assert.ok(route === UNMATCHED_ROUTE || route === INFO_WAIT_ROUTE || m.manager.app.hasRoute({ method: 'GET', url: route }) || m.manager.app.hasRoute({ method: 'POST', url: route }), route);
    }
  });

  test('any authenticated caller may scrape (basic or bearer, no grant needed); nobody else', async () => {
    await scrape(monitorAuth);
    await scrape(basic(names.monitor, secrets.monitorPassword));
    await scrape(bearer(ADMIN_TOKEN));
    for (const auth of [null, bearer('not-a-token'), basic(names.monitor, 'wrong-password'), 'Digest abc']) {
      const r = await call(m.url, 'GET', '/metrics', { auth });
      assert.equal(r.status, 401);
      assert.equal(r.body?.code, 'UNAUTHORIZED');
      assert.ok(!r.text.includes('nebula_'), 'no metrics in a refusal');
    }
    assert.equal((await call(m.url, 'POST', '/metrics', { auth: ADMIN_AUTH })).status, 404);
  });

  test('never shed: scraped while every other request is shed, which it counts', async () => {
    const shedder = m.manager.load;
    const pressure = shedder.pressure;
    const before = await scrape();
    shedder.pressure = () => true;
    try {
      const shed = await call(m.url, 'GET', `${V2}/status`, { auth: readerAuth });
      assert.equal(shed.status, 503);
      assert.equal(shed.body?.code, 'SERVER_OVERLOADED');
      const now = await scrape(monitorAuth);
      assert.equal(value(now, 'nebula_requests_shed_total', { reason: 'pressure' }) - value(before, 'nebula_requests_shed_total', { reason: 'pressure' }), 1);
      assert.equal(
        value(now, 'nebula_http_requests_total', { route: `${V2}/status`, method: 'GET', status_code: '503' }) -
          value(before, 'nebula_http_requests_total', { route: `${V2}/status`, method: 'GET', status_code: '503' }),
        1,
      );
    } finally {
      shedder.pressure = pressure;
    }
  });
});

describe('auth throttle refusals', () => {
  let t: TestManager;
  before(async () => {
    t = await startManager({ overload: { maxEventLoopDelayMs: 1000, maxInFlight: 1024, maxLongPolls: 100_000, authFailuresPerMinute: 2 } });
  });
  after(async () => {
    await t.close();
  });

  test('are counted (and scraping still works for a known-good header from that address)', async () => {
    // Known good before the failures: it keeps working from the throttled address.
    assertStatus(await call(t.url, 'GET', '/metrics', { auth: ADMIN_AUTH }), 200);
    const wrong = basic('nobody', 'wrong');
    assert.equal((await call(t.url, 'GET', `${V2}/status`, { auth: wrong })).status, 401);
    assert.equal((await call(t.url, 'GET', `${V2}/status`, { auth: wrong })).status, 401);
    assert.equal((await call(t.url, 'GET', `${V2}/status`, { auth: wrong })).status, 429);
    assert.equal((await call(t.url, 'GET', `${V2}/status`, { auth: basic('nobody', 'other') })).status, 429);
    const r = await call(t.url, 'GET', '/metrics', { auth: ADMIN_AUTH });
    assertStatus(r, 200);
    const e = parse(r.text);
    assert.equal(value(e, 'nebula_auth_throttled_total'), 2);
    assert.equal(value(e, 'nebula_http_requests_total', { route: `${V2}/status`, method: 'GET', status_code: '429' }), 2);
    assert.equal(value(e, 'nebula_http_requests_total', { route: `${V2}/status`, method: 'GET', status_code: '401' }), 2);
  });
});

describe('the store', () => {
  test('nebula_store_up is 0 while the change watcher cannot read the store, 1 again after', async () => {
    const t = await startManager({}, { changePollMs: 25 });
    try {
      const store = t.manager.store;
      const changeSeq = store.changeSeq;
      store.changeSeq = async () => {
        throw new StoreUnavailableError('test: the store is away', null);
      };
      const up = async () => value(parse((await call(t.url, 'GET', '/metrics', { auth: ADMIN_AUTH })).text), 'nebula_store_up');
      const deadline = Date.now() + 5000;
      while ((await up()) !== 0) {
        assert.ok(Date.now() < deadline, 'nebula_store_up stayed 1');
        await new Promise((r) => setTimeout(r, 25));
      }
      store.changeSeq = changeSeq;
      while ((await up()) !== 1) {
        assert.ok(Date.now() < deadline, 'nebula_store_up stayed 0');
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await t.close();
    }
  });

  test('the wrapper passes every call through, times it, and reports failures', async () => {
    const seen: [string, number, boolean][] = [];
    const raw = {
      expiresReportsItself: true,
      isReportId: (id: string) => id === 'ok',
      close: async () => undefined,
      get: async (kind: string, name: string) => ({ kind, name }),
      listNames: async () => {
        throw new StoreUnavailableError('away', null);
      },
    } as unknown as Store;
    const store = instrumentStore(raw, (operation, seconds, failed) => seen.push([operation, seconds, failed]));
    assert.equal(store.expiresReportsItself, true);
    assert.equal(store.isReportId('ok'), true);
    assert.deepEqual(await store.get('apps', 'web'), { kind: 'apps', name: 'web' });
    await assert.rejects(store.listNames('apps'), StoreUnavailableError);
    await store.close();
    assert.deepEqual(seen.map(([operation, , failed]) => [operation, failed]), [['get', false], ['listNames', true]]);
    for (const [, seconds] of seen) assert.ok(seconds >= 0 && seconds < 1);
  });
});

describe('two managers in one process', () => {
  test('each has its own registry', async () => {
    const other = await startManager();
    try {
      const r = await call(other.url, 'GET', '/metrics', { auth: ADMIN_AUTH });
      assertStatus(r, 200);
      const e = parse(r.text);
      assert.equal(value(e, 'nebula_info_fast_path_responses_total', { status_code: '200' }), 0);
      assert.equal(value(e, 'nebula_http_requests_total', { route: INFO_ROUTE, method: 'GET', status_code: '200' }), 0);
      assert.notEqual(other.manager.metrics.registry, m.manager.metrics.registry);
    } finally {
      await other.close();
    }
  });
});
