// Device reports over real HTTP against a real manager (SQLite on a temp file): POST
// /reports (batches, idempotency, malformed input, authorization by device group),
// GET /devices and /devices/<hostname> (behind and why, failing apps, paging, filters,
// who sees what), and report retention.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Clock } from '../../src/clock.ts';
import { StoreFatalError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { idsOfInfo } from '../../src/model/device.ts';
import type { Info } from '../../src/model/info.ts';
import type { ConfigIds, Report } from '../../src/model/report.ts';
import { startRetention } from '../../src/reports/retention.ts';
import type { Store } from '../../src/store/types.ts';
import { TEST_STORE, dropTestStore, openTestStore, storeConfigFor } from '../helpers/store.ts';
import { startPrivateMongo } from '../helpers/mongo.ts';
import { openStore } from '../../src/store/open.ts';
import { ADMIN_AUTH, basic, call, managerSuite, startManager, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertError, assertStatus, bearer, createApp, createCronJob, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';
import { deviceOf, reportsOf } from '../helpers/reports.ts';

const V2 = '/api/v2';
const T0 = Math.floor(Date.now() / 1000);

let m: TestManager;
managerSuite((manager) => (m = manager));

const ids = (dg: number, apps: Record<string, number> = {}, cron: Record<string, number> = {}, prune = 1): ConfigIds => ({
  device_group_id: dg,
  prune_id: prune,
  apps,
  cron_jobs: cron,
});

/** A report as our worker sends it; `applied` also stands for desired unless given. */
function makeReport(hostname: string, group: string, over: Partial<Report> = {}): Report {
  const applied = over.applied ?? ids(1);
  return {
    memory_usage: { total: 1024, used: 512, free: 256, available: 400 },
    root_disk_usage: { total: 10_000, used: 4000, free: 6000 },
    cpu_usage: { cores: 2, used_percent: 12.5 },
    apps_containers: [],
    cron_jobs_containers: [],
    current_device_group_config: null,
    device_group: group,
    report_creation_time: T0,
    hostname,
    updated: false,
    report_id: uniq('report'),
    worker_version: '3.0.0',
    applied,
    desired: applied,
    apps_state: Object.fromEntries(Object.entries(applied.apps).map(([app, id]) => [app, { state: 'running', app_id: id, running: 1, desired: 1 }])),
    last_error: null,
    spool_dropped: 0,
    ...over,
  };
}

const post = (body: unknown, auth: string | null = ADMIN_AUTH): Promise<Reply> => call(m.url, 'POST', `${V2}/reports`, { body, auth });

async function postOk(body: unknown, auth: string = ADMIN_AUTH): Promise<{ stored: number; duplicates: number }> {
  const reply = await post(body, auth);
  assertStatus(reply, 200);
  return reply.body;
}

/** The manager's current ids for a group, as its devices see them through /info. */
async function currentOf(group: string): Promise<ConfigIds> {
  const reply = await call(m.url, 'GET', `${V2}/device_groups/${group}/info`);
  assertStatus(reply, 200);
  return idsOfInfo(reply.body as Info);
}

/** Every device GET /devices lists for this query, page by page; returns the pages too. */
async function allDevices(query: string, auth = ADMIN_AUTH): Promise<{ hostnames: string[]; pages: string[][] }> {
  const pages: string[][] = [];
  let lastId: string | null = null;
  for (let i = 0; i < 100; i++) {
    const reply = await call(m.url, 'GET', `${V2}/devices?${query}${lastId !== null ? `&last_id=${encodeURIComponent(lastId)}` : ''}`, { auth });
    assertStatus(reply, 200);
    if (reply.body.data === null) {
      assert.deepEqual(reply.body, { data: null, last_id: null });
      return { hostnames: pages.flat(), pages };
    }
    pages.push(reply.body.data.map((d: { hostname: string }) => d.hostname));
    assert.equal(typeof reply.body.last_id, 'string');
    lastId = reply.body.last_id;
  }
  throw new Error('more than 100 pages');
}

/** A DB user in a user group with these device group grants; returns basic credentials. */
async function userWith(deviceGroups: Record<string, 'ro' | 'rw'>): Promise<string> {
  const user = uniq('reporter');
  const password = `pw-${uniq('s')}`;
  await createUser(m.url, user, password, `tok-${uniq('s')}`);
  await createUserGroup(m.url, uniq('ug'), { group_members: [user], device_groups: deviceGroups });
  return basic(user, password);
}

describe('POST /reports', () => {
  test('one report or a batch; the same report_id is stored once; an empty batch stores nothing', async () => {
    const group = uniq('dg');
    const host = uniq('till');
    const first = makeReport(host, group);
    assert.deepEqual(await postOk(first), { stored: 1, duplicates: 0 });
    assert.deepEqual(await postOk(first), { stored: 0, duplicates: 1 }, 'sent again (a retried batch)');

    const second = makeReport(host, group, { report_creation_time: T0 + 1 });
    const third = makeReport(host, group, { report_creation_time: T0 + 2 });
    assert.deepEqual(await postOk([first, second, third, second]), { stored: 2, duplicates: 2 });
    assert.deepEqual(await postOk([]), { stored: 0, duplicates: 0 });

    const stored = await reportsOf(m.url, host);
    assert.deepEqual(stored.map((r) => r.report_id), [first.report_id, second.report_id, third.report_id]);
    const { _id, report_insert_date, ...asSent } = stored[0] as Record<string, unknown>;
    assert.match((_id as { $oid: string }).$oid, /^[0-9a-f]{24}$/);
    assert.equal(typeof (report_insert_date as { $date: string }).$date, 'string');
    assert.deepEqual(asSent, first, 'stored as sent');
  });

  test('a batch of 500 reports carrying 6 MiB of container stats is taken (the route has its own body limit)', async () => {
    const group = uniq('dg');
    const stats = { name: '/web-1', memory_stats: { blob: 'x'.repeat(12 * 1024) } };
    const batch = Array.from({ length: 500 }, (_, i) => makeReport(`${uniq('bulk')}-${i}`, group, { apps_containers: [stats] }));
    assert.ok(JSON.stringify(batch).length > 6 * 1024 * 1024);
    assert.deepEqual(await postOk(batch), { stored: 500, duplicates: 0 });
    const devices = await allDevices(`device_group=${group}&page_size=1000`);
    assert.equal(devices.hostnames.length, 500);

    const huge = [makeReport(uniq('huge'), group, { apps_containers: ['x'.repeat(17 * 1024 * 1024)] })];
    assertError(await post(huge), 413, 'BODY_TOO_LARGE');
  });

  test('malformed reports are 400 INVALID_REPORT naming the index and the field; the batch stores nothing', async () => {
    const group = uniq('dg');
    const host = uniq('till');
    const good = () => makeReport(host, group);
    const cases: [string, unknown, string][] = [
      ['a number', 42, 'report'],
      ['a string', 'report', 'report'],
      ['null', null, 'report'],
      ['no report_id', { ...good(), report_id: undefined }, 'report_id'],
      ['a report_id with a space', { ...good(), report_id: 'a b' }, 'report_id'],
      ['a report_id of 129 characters', { ...good(), report_id: 'r'.repeat(129) }, 'report_id'],
      ['no hostname', { ...good(), hostname: undefined }, 'hostname'],
      ['an empty hostname', { ...good(), hostname: '' }, 'hostname'],
      ['device_group a number', { ...good(), device_group: 7 }, 'device_group'],
      ['report_creation_time a string', { ...good(), report_creation_time: 'now' }, 'report_creation_time'],
      ['report_creation_time negative', { ...good(), report_creation_time: -1 }, 'report_creation_time'],
      ['report_creation_time fractional', { ...good(), report_creation_time: 1.5 }, 'report_creation_time'],
      ['updated a string', { ...good(), updated: 'yes' }, 'updated'],
      ['applied without ids', { ...good(), applied: { apps: {} } }, 'applied'],
      ['an app state null', { ...good(), apps_state: { web: null } }, 'apps_state.web'],
      ['an app state of an unknown kind', { ...good(), apps_state: { web: { state: 'dancing', app_id: 1, running: 1, desired: 1 } } }, 'apps_state.web'],
    ];
    for (const [label, bad, field] of cases) {
      const single = await post(bad);
      assertError(single, 400, 'INVALID_REPORT');
      assert.equal(single.body.field, field, `${label}: ${single.text}`);
      assert.equal(single.body.index, 0, label);

      const batch = await post([good(), good(), bad]);
      assertError(batch, 400, 'INVALID_REPORT');
      assert.equal(batch.body.field, field, label);
      assert.equal(batch.body.index, 2, label);
    }
    assert.deepEqual(await reportsOf(m.url, host), [], 'no report of a refused batch was stored');

    const tooMany = await post(Array.from({ length: 501 }, () => good()));
    assertError(tooMany, 400, 'TOO_MANY_REPORTS');
    assert.equal(tooMany.body.max, 500);
    assertError(await call(m.url, 'POST', `${V2}/reports`, { rawBody: '[{"hostname": ' }), 400, 'INVALID_JSON');
    assertError(await call(m.url, 'POST', `${V2}/reports`, { rawBody: '', headers: { 'content-type': 'application/json' } }), 400, 'INVALID_REPORT');
    assertError(await call(m.url, 'POST', `${V2}/reports`, { rawBody: JSON.stringify(good()), headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    assert.deepEqual(await reportsOf(m.url, host), []);
    assertStatus(await call(m.url, 'GET', '/healthz', { auth: null }), 200);
  });

  test('a caller needs ro on the device group of every report; a group that no longer exists is accepted', async () => {
    const [a, b, gone] = [uniq('dg-a'), uniq('dg-b'), uniq('dg-gone')];
    await createDeviceGroup(m.url, a);
    await createDeviceGroup(m.url, b);
    await createDeviceGroup(m.url, gone);
    const ro = await userWith({ [a]: 'ro', [gone]: 'ro' });
    const rw = await userWith({ [b]: 'rw' });
    const host = uniq('till');

    assert.deepEqual(await postOk(makeReport(host, a), ro), { stored: 1, duplicates: 0 });
    assertError(await post(makeReport(host, b), ro), 403, 'ACCESS_DENIED', { access_allowed: false, device_group: b });
    const mixed = [makeReport(host, a, { report_creation_time: T0 + 1 }), makeReport(host, b, { report_creation_time: T0 + 2 })];
    assertError(await post(mixed, ro), 403, 'ACCESS_DENIED', { device_group: b });
    assert.equal((await reportsOf(m.url, host)).length, 1, 'nothing of a refused batch was stored');
    assert.deepEqual(await postOk(makeReport(uniq('till'), b), rw), { stored: 1, duplicates: 0 }, 'rw implies ro');
    assertError(await post(makeReport(host, uniq('never-granted')), ro), 403, 'ACCESS_DENIED');

    assertStatus(await call(m.url, 'DELETE', `${V2}/device_groups/${gone}`), 200);
    const orphan = uniq('orphan');
    assert.deepEqual(await postOk(makeReport(orphan, gone), ro), { stored: 1, duplicates: 0 });
    const view = await deviceOf(m.url, orphan);
    assert.equal(view.behind, true);
    assert.equal(view.current, null);
    assert.deepEqual(view.behind_reasons, ['the device group no longer exists']);

    for (const auth of [null, basic('nobody-at-all', 'x'), bearer('wrong-token')]) {
      assertError(await post(makeReport(host, a), auth), 401, 'UNAUTHORIZED');
    }
  });
});

describe('GET /devices', () => {
  test("a device behind the current app_id, then up to date; an older report does not roll it back", async () => {
    const app = uniq('web');
    const job = uniq('nightly');
    const group = uniq('dg');
    await createApp(m.url, app);
    await createCronJob(m.url, job);
    await createDeviceGroup(m.url, group, { apps: [app], cron_jobs: [job] });
    const old = await currentOf(group);
    assertStatus(await call(m.url, 'POST', `${V2}/apps/${app}/update`, { body: { docker_image: 'nginx:2' } }), 202);
    const current = await currentOf(group);
    assert.equal(current.apps[app], old.apps[app]! + 1);

    const host = uniq('till');
    await postOk(makeReport(host, group, { applied: old, report_creation_time: T0 + 10 }));
    const behind = await deviceOf(m.url, host);
    assert.equal(behind.hostname, host);
    assert.equal(behind.device_group, group);
    assert.deepEqual(behind.applied, old);
    assert.deepEqual(behind.current, current);
    assert.equal(behind.behind, true);
    assert.deepEqual(behind.behind_reasons, [`app ${app}: app_id ${old.apps[app]} applied, ${current.apps[app]} current`]);
    assert.deepEqual(behind.failing_apps, []);
    assert.equal(typeof behind.seconds_since_seen, 'number');
    assert.ok(behind.seconds_since_seen >= 0);

    await postOk(makeReport(host, group, { applied: current, report_creation_time: T0 + 20 }));
    const upToDate = await deviceOf(m.url, host);
    assert.equal(upToDate.behind, false, JSON.stringify(upToDate.behind_reasons));
    assert.deepEqual(upToDate.behind_reasons, []);

    // A report made earlier, delivered late (a spool draining): stored, but the view stays.
    await postOk(makeReport(host, group, { applied: old, report_creation_time: T0 + 15 }));
    assert.equal((await reportsOf(m.url, host)).length, 3);
    // seconds_since_seen is counted when asked: compare the rest of one answer.
    const again = await deviceOf(m.url, host);
    assert.deepEqual(again, { ...upToDate, seconds_since_seen: again.seconds_since_seen });

    // The cron job moves on: the same device is behind again, by its cron_job_id.
    assertStatus(await call(m.url, 'PUT', `${V2}/cron_jobs/${job}/update`, { body: { schedule: '0 * * * *' } }), 202);
    const later = await deviceOf(m.url, host);
    assert.deepEqual(later.behind_reasons, [`cron job ${job}: cron_job_id ${current.cron_jobs[job]} applied, ${current.cron_jobs[job]! + 1} current`]);
  });

  test('a failed app shows in failing_apps and in behind_reasons, with its reason', async () => {
    const app = uniq('web');
    const group = uniq('dg');
    await createApp(m.url, app);
    await createDeviceGroup(m.url, group, { apps: [app] });
    const current = await currentOf(group);
    const host = uniq('till');
    const failed = { state: 'failed' as const, app_id: 0, running: 0, desired: 1, reason: 'pull nginx:1: manifest unknown', restarts: 2 };
    await postOk(makeReport(host, group, { applied: current, apps_state: { [app]: failed } }));
    const view = await deviceOf(m.url, host);
    assert.equal(view.behind, true);
    assert.deepEqual(view.failing_apps, [{ app, state: 'failed', reason: failed.reason, running: 0, desired: 1, restarts: 2 }]);
    assert.deepEqual(view.behind_reasons, [`app ${app}: failed: ${failed.reason}`]);
  });

  test('paging by hostname, device_group and behind filters; last_id keeps paging right under a filter', async () => {
    const group = uniq('dg');
    const other = uniq('dg');
    await createDeviceGroup(m.url, group);
    await createDeviceGroup(m.url, other);
    const current = await currentOf(group);
    const sorted = Array.from({ length: 7 }, () => uniq('pos')).sort();
    // Behind (not pruned yet): the 2nd and the last three, so the 2nd page of 2 holds none of them.
    const behindHosts = new Set([sorted[1], sorted[4], sorted[5], sorted[6]]);
    const applied = (h: string) => (behindHosts.has(h) ? { ...current, prune_id: current.prune_id - 1 } : current);
    await postOk(sorted.map((h) => makeReport(h, group, { applied: applied(h) })).reverse());
    await postOk(makeReport(uniq('pos'), other, { applied: await currentOf(other) }));
    const hosts = sorted;

    const all = await allDevices(`device_group=${group}&page_size=3`);
    assert.deepEqual(all.hostnames, sorted);
    assert.deepEqual(all.pages.map((p) => p.length), [3, 3, 1]);

    const behind = await allDevices(`device_group=${group}&page_size=2&behind=true`);
    assert.deepEqual(behind.hostnames, sorted.filter((h) => behindHosts.has(h)));
    const upToDate = await allDevices(`device_group=${group}&page_size=2&behind=false`);
    assert.deepEqual(upToDate.hostnames, sorted.filter((h) => !behindHosts.has(h)));
    // Pages are filled on the server, scanning past the devices the filter leaves out.
    assert.deepEqual(behind.pages.map((p) => p.length), [2, 2], 'full pages of behind devices');
    assert.deepEqual(upToDate.pages.map((p) => p.length), [2, 1], 'full pages of up-to-date ones, the last one short');

    const first = await call(m.url, 'GET', `${V2}/devices?device_group=${group}&page_size=2`);
    assert.deepEqual(first.body.last_id, sorted[1]);
    for (const view of first.body.data) {
      assert.equal(typeof view.behind, 'boolean');
      assert.ok(Array.isArray(view.behind_reasons) && Array.isArray(view.failing_apps));
      assert.deepEqual(view.current, current);
    }
    const everyone = await allDevices('page_size=1000');
    for (const h of hosts) assert.ok(everyone.hostnames.includes(h));
    assert.deepEqual(everyone.hostnames, [...everyone.hostnames].sort(), 'ordered by hostname');

    assert.deepEqual((await call(m.url, 'GET', `${V2}/devices?device_group=${uniq('empty')}`)).body, { data: null, last_id: null });
    for (const query of ['page_size=0', 'page_size=1001', 'page_size=x', 'behind=maybe', 'last_id=', 'device_group=a&device_group=b']) {
      assertError(await call(m.url, 'GET', `${V2}/devices?${query}`), 400, 'INVALID_QUERY');
    }
  });

  test('a caller sees the devices of the groups it may read; another device is 404, as an unknown one', async () => {
    const [a, b] = [uniq('dg-a'), uniq('dg-b')];
    await createDeviceGroup(m.url, a);
    await createDeviceGroup(m.url, b);
    const [hostA, hostB] = [uniq('till-a'), uniq('till-b')];
    await postOk([makeReport(hostA, a), makeReport(hostB, b)]);
    const ro = await userWith({ [a]: 'ro' });
    const nobody = await userWith({});

    assert.deepEqual((await allDevices('page_size=1000', ro)).hostnames, [hostA]);
    assert.deepEqual((await allDevices(`device_group=${b}`, ro)).hostnames, []);
    assert.equal((await deviceOf(m.url, hostA, ro)).hostname, hostA);
    const hidden = await call(m.url, 'GET', `${V2}/devices/${hostB}`, { auth: ro });
    assertError(hidden, 404, 'DEVICE_NOT_FOUND', { device_exists: false });
    const unknown = await call(m.url, 'GET', `${V2}/devices/${uniq('never-seen')}`, { auth: ro });
    assertError(unknown, 404, 'DEVICE_NOT_FOUND', { device_exists: false });
    assert.deepEqual(Object.keys(hidden.body).sort(), Object.keys(unknown.body).sort(), 'the same answer');
    assert.equal((await deviceOf(m.url, hostB)).hostname, hostB, 'the admin sees it');

    const none = await call(m.url, 'GET', `${V2}/devices`, { auth: nobody });
    assertStatus(none, 200);
    assert.deepEqual(none.body, { data: null, last_id: null });
    for (const path of [`${V2}/devices`, `${V2}/devices/${hostA}`]) assertError(await call(m.url, 'GET', path, { auth: null }), 401, 'UNAUTHORIZED');
  });
});

describe('retention', () => {
  const HOUR = 3600_000;

  /** A real store on a temp file for a retention test. */
  async function tempStore(t: { after: (fn: () => Promise<void> | void) => void }, kind: 'sqlite' | 'mongo' = TEST_STORE): Promise<Store> {
    const dir = mkdtempSync(join(tmpdir(), 'nebula-retention-'));
    const store = await openTestStore(dir, 3600, kind);
    t.after(async () => {
      await store.close();
      await dropTestStore(dir, kind);
      rmSync(dir, { recursive: true, force: true });
    });
    return store;
  }

  const legacy = (hostname: string, time: number) => ({ hostname, device_group: 'g', report_creation_time: time });

  test('purgeReports through the manager: what was stored before the date goes, devices stay', async () => {
    const host = uniq('till');
    const group = uniq('dg');
    await postOk(makeReport(host, group));
    const old = uniq('old');
    // Stored half an hour ago: inside the manager's own TTL (1 h), so its retention loop, which
    // runs every minute, cannot take it first (it did once, between these lines, on FerretDB).
    await m.manager.store.insertReports([legacy(old, T0 - 1800)], new Date(Date.now() - HOUR / 2));
    assert.equal((await reportsOf(m.url, old)).length, 1);
    assert.equal(await m.manager.store.purgeReports(new Date(Date.now() - HOUR / 4)), 1);
    assert.deepEqual(await reportsOf(m.url, old), []);
    assert.equal((await reportsOf(m.url, host)).length, 1);
    assert.equal((await deviceOf(m.url, old)).hostname, old, 'the device entry stays');

    assert.ok((await m.manager.store.purgeReports(new Date(Date.now() + 60_000))) >= 1);
    assert.deepEqual(await reportsOf(m.url, host), []);
    assert.equal((await deviceOf(m.url, host)).hostname, host);
  });

  // On a store without TTL indexes (SQLite, FerretDB); MongoDB's TTL index expires them itself.
  test('the manager purges at start (and stops its retention on close)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nebula-retention-'));
    try {
      const seed = await openTestStore(dir);
      assert.equal(seed.expiresReportsItself, false);
      await seed.insertReports([legacy('expired', 1)], new Date(Date.now() - 2 * HOUR));
      await seed.insertReports([legacy('kept', 2)], new Date());
      await seed.close();
      const manager = await startManager({ reportTtlSeconds: 3600 }, { dir });
      // close() waits for the purge under way: the one at start has run.
      await manager.close();
      assert.deepEqual(manager.fatal, []);
      const store = await openTestStore(dir);
      assert.deepEqual((await store.queryReports({ pageSize: 10 })).map((r) => r.report.hostname), ['kept']);
      await store.close();
    } finally {
      await dropTestStore(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Time that moves only when the test says; each sleep waits for tick(). */
  class ManualClock implements Clock {
    t: number;
    readonly sleeps: number[] = [];
    private wake: (() => void) | null = null;
    private sleeping: ((ms: number) => void)[] = [];
    constructor(t: number) {
      this.t = t;
    }
    now(): number {
      return this.t;
    }
    random(): number {
      return 0.5;
    }
    sleep(ms: number, signal?: AbortSignal): Promise<void> {
      this.sleeps.push(ms);
      for (const notify of this.sleeping.splice(0)) notify(ms);
      return new Promise((resolve) => {
        this.wake = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    /** Resolves with the ms of the next sleep the loop starts. */
    nextSleep(): Promise<number> {
      return new Promise((resolve) => this.sleeping.push(resolve));
    }
    /** Moves time on by `ms` and ends the current sleep. */
    tick(ms: number): void {
      this.t += ms;
      this.wake?.();
      this.wake = null;
    }
  }

  /** Records each purge; until() waits for the purges to satisfy a condition. */
  function purgeLog() {
    const deleted: number[] = [];
    let waiters: (() => void)[] = [];
    return {
      deleted,
      onPurged: (n: number) => {
        deleted.push(n);
        for (const w of waiters.splice(0)) w();
      },
      async until(done: () => boolean): Promise<void> {
        while (!done()) await new Promise<void>((resolve) => waiters.push(resolve));
      },
    };
  }

  const silent = createLogger('silent', 'test');

  test('startRetention purges once at start, then every min(ttl/10, 60) s, what was stored before now - ttl', async (t) => {
    const store = await tempStore(t);
    const T = 1_700_000_000_000;
    await store.insertReports([legacy('a', 1)], new Date(T - 100_000));
    await store.insertReports([legacy('b', 2)], new Date(T - 10_000));
    const clock = new ManualClock(T);
    const purges = purgeLog();
    const firstSleep = clock.nextSleep();
    const retention = startRetention({ store, ttlSeconds: 60, log: silent, clock, onFatal: (err) => assert.fail(String(err)), onPurged: purges.onPurged });
    await purges.until(() => purges.deleted.length === 1);
    assert.deepEqual(purges.deleted, [1], 'at start: a (stored 100 s before) is past the 60 s TTL, b is not');
    assert.equal(await firstSleep, 6000, 'ttl/10');
    assert.deepEqual((await store.queryReports({ pageSize: 10 })).map((r) => r.report.hostname), ['b']);

    const secondSleep = clock.nextSleep();
    clock.tick(60_000);
    await purges.until(() => purges.deleted.length === 2);
    assert.deepEqual(purges.deleted, [1, 1]);
    await secondSleep;
    await retention.stop();
    assert.deepEqual(await store.queryReports({ pageSize: 10 }), []);
    assert.equal(purges.deleted.length, 2, 'stop() ends the sleep without another purge');

    const hourly = new ManualClock(T);
    const sleep = hourly.nextSleep();
    const long = startRetention({ store, ttlSeconds: 3600, log: silent, clock: hourly, onFatal: (err) => assert.fail(String(err)) });
    assert.equal(await sleep, 60_000, 'at most a minute between purges');
    await long.stop();
  });

  test('startRetention with a small TTL on the system clock: a fresh report is gone once the TTL has passed', async (t) => {
    const store = await tempStore(t);
    await store.insertReports([legacy('stale', 1)], new Date(Date.now() - 10_000));
    const purges = purgeLog();
    const retention = startRetention({ store, ttlSeconds: 0.2, log: silent, onFatal: (err) => assert.fail(String(err)), onPurged: purges.onPurged });
    await purges.until(() => purges.deleted.length >= 1);
    assert.equal(purges.deleted[0], 1);
    await store.insertReports([legacy('fresh', 2)], new Date());
    await purges.until(() => purges.deleted.slice(1).some((n) => n > 0));
    await retention.stop();
    assert.deepEqual(await store.queryReports({ pageSize: 10 }), []);
  });

  test('a purge failing with StoreFatalError (a closed SQLite store) goes to onFatal and ends the loop', async (t) => {
    const store = await tempStore(t, 'sqlite');
    await store.close();
    const fatal: unknown[] = [];
    let sawFatal: () => void = () => {};
    const fatalSeen = new Promise<void>((resolve) => (sawFatal = resolve));
    const clock = new ManualClock(Date.now());
    const retention = startRetention({ store, ttlSeconds: 60, log: silent, clock, onFatal: (err) => (fatal.push(err), sawFatal()) });
    await fatalSeen;
    await retention.stop();
    assert.equal(fatal.length, 1);
    assert.ok(fatal[0] instanceof StoreFatalError);
    assert.deepEqual(clock.sleeps, [], 'the loop ended: no sleep before another purge');
  });

  test('a purge failing because MongoDB is down is logged and retried at the next interval', async (t) => {
    const mongo = await startPrivateMongo();
    t.after(() => mongo.close());
    const dir = mkdtempSync(join(tmpdir(), 'nebula-retention-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = await openStore({ ...storeConfigFor(dir, 60, 'mongo'), mongo: { url: mongo.url, maxPoolSize: 2 } }, { role: 'test' });
    t.after(() => store.close());
    await store.insertReports([legacy('expired', 1)], new Date(Date.now() - 2 * HOUR));
    await mongo.kill();

    const lines: { msg: string; level: number }[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const clock = new ManualClock(Date.now());
    const purges = purgeLog();
    const slept = clock.nextSleep();
    const retention = startRetention({ store, ttlSeconds: 60, log, clock, onFatal: (err) => assert.fail(String(err)), onPurged: purges.onPurged });
    assert.equal(await slept, 6000, 'it waits for the next interval');
    assert.deepEqual(purges.deleted, []);
    assert.ok(lines.some((l) => l.level === 50 && /purging expired reports failed/.test(l.msg)), JSON.stringify(lines));

    await mongo.restart();
    clock.tick(6000);
    await purges.until(() => purges.deleted.length === 1);
    await retention.stop();
    assert.deepEqual(purges.deleted, [1], 'the same store instance purges once MongoDB is back');
    assert.ok(lines.some((l) => l.level === 30 && /purged expired reports/.test(l.msg)), JSON.stringify(lines));
  });

});
