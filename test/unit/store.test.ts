// The embedded SQLite store on a real temp file: documents, atomic updates, cascades, the
// change sequence, users' token digests, restarts, migrations, failures, reports and the
// device index.

import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreFatalError } from '../../src/errors.ts';
import { appFieldsFromBody, newApp } from '../../src/model/app.ts';
import { cronJobFieldsFromBody, newCronJob } from '../../src/model/cronJob.ts';
import { newDeviceGroup } from '../../src/model/deviceGroup.ts';
import type { UserGroupDoc, UserRecord } from '../../src/model/user.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { MIGRATIONS, runMigrations, SCHEMA_VERSION } from '../../src/store/sqlite/migrations.ts';
import type { WriteResult } from '../../src/store/types.ts';
import { summarizeReport, type IncomingReport } from '../../src/model/report.ts';

const app = (name: string) => newApp(name, appFieldsFromBody({ docker_image: `img/${name}:1` }, 'create'));
const cron = (name: string) => newCronJob(name, cronJobFieldsFromBody({ docker_image: `img/${name}:1`, schedule: '@hourly' }, 'create'));
const group = (name: string, apps: string[] = [], cronJobs: string[] = []) => newDeviceGroup(name, { apps, cron_jobs: cronJobs });
const user = (name: string, lookup: string | null): UserRecord => ({ user_name: name, password: `pw-hash-${name}`, token: `tok-hash-${name}`, token_lookup: lookup });
const userGroup = (name: string, members: string[]): UserGroupDoc => ({
  user_group: name,
  group_members: members,
  pruning_allowed: false,
  apps: {},
  device_groups: { [name]: 'ro' },
  admin: false,
  cron_jobs: {},
});

function ok<T>(result: WriteResult<T>): T & { _id: { $oid: string } } {
  assert.equal(result.ok, true, JSON.stringify(result));
  return (result as { ok: true; doc: T & { _id: { $oid: string } } }).doc;
}

async function assertFatal(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof StoreFatalError);
}

let dir: string;
let file: string;
let store: SqliteStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nebula-store-'));
  file = join(dir, 'nebula.db');
  store = SqliteStore.open(file);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('documents', () => {
  test('create, get, listNames; a taken name is "exists"', async () => {
    const created = ok(await store.create('apps', app('web')));
    assert.match(created._id.$oid, /^[0-9a-f]{24}$/);
    assert.deepEqual({ ...created, _id: undefined }, { ...app('web'), _id: undefined });
    assert.deepEqual(await store.get('apps', 'web'), app('web'));
    assert.equal(await store.get('apps', 'nope'), null);
    assert.equal(await store.get('cron_jobs', 'web'), null, 'kinds do not share names');
    ok(await store.create('apps', app('api')));
    ok(await store.create('cron_jobs', cron('web')));
    assert.deepEqual(await store.listNames('apps'), ['api', 'web']);
    assert.deepEqual(await store.listNames('cron_jobs'), ['web']);
    assert.deepEqual(await store.listNames('device_groups'), []);
    assert.deepEqual(await store.create('apps', app('web')), { ok: false, reason: 'exists' });
    await store.ping();
  });

  test('a create through a second connection to the same file sees the name taken', async () => {
    const other = SqliteStore.open(file);
    try {
      ok(await store.create('apps', app('web')));
      assert.deepEqual(await other.create('apps', app('web')), { ok: false, reason: 'exists' });
      ok(await other.create('apps', app('api')));
      assert.deepEqual(await store.listNames('apps'), ['api', 'web']);
    } finally {
      await other.close();
    }
  });

  test('update: set, bump, keep the _id; missing', async () => {
    const { _id } = ok(await store.create('apps', app('web')));
    const updated = ok(await store.update('apps', 'web', { running: false }, { bump: 'app_id' }));
    assert.deepEqual(updated._id, _id);
    assert.equal(updated.running, false);
    assert.equal(updated.app_id, 2);
    ok(await store.update('apps', 'web', {}, { bump: 'app_id' }));
    assert.equal((await store.get('apps', 'web'))?.app_id, 3);
    ok(await store.update('apps', 'web', { privileged: true }));
    assert.equal((await store.get('apps', 'web'))?.app_id, 3, 'no bump asked, none made');
    assert.deepEqual(await store.update('apps', 'nope', { running: false }, { bump: 'app_id' }), { ok: false, reason: 'missing' });
  });

  test('update: expect is a precondition', async () => {
    ok(await store.create('apps', app('web')));
    ok(await store.update('apps', 'web', { running: false }, { bump: 'app_id' }));
    const seq = await store.changeSeq();
    assert.deepEqual(await store.update('apps', 'web', {}, { bump: 'app_id', expect: { running: true } }), { ok: false, reason: 'precondition' });
    assert.equal((await store.get('apps', 'web'))?.app_id, 2);
    assert.equal(await store.changeSeq(), seq);
    ok(await store.update('apps', 'web', { running: true }, { bump: 'app_id', expect: { running: false } }));
    assert.equal((await store.get('apps', 'web'))?.app_id, 3);
  });

  test('refs: missing_ref, cron_jobs checked before apps, nothing written', async () => {
    assert.deepEqual(await store.create('device_groups', group('g', ['noapp'], ['nocron']), { cron_jobs: ['nocron'], apps: ['noapp'] }), {
      ok: false,
      reason: 'missing_ref',
      kind: 'cron_jobs',
      name: 'nocron',
    });
    ok(await store.create('cron_jobs', cron('c')));
    ok(await store.create('apps', app('a')));
    assert.deepEqual(await store.create('device_groups', group('g'), { cron_jobs: ['c'], apps: ['a', 'noapp', 'other'] }), {
      ok: false,
      reason: 'missing_ref',
      kind: 'apps',
      name: 'noapp',
    });
    assert.equal(await store.get('device_groups', 'g'), null);
    ok(await store.create('device_groups', group('g', ['a'], ['c']), { cron_jobs: ['c'], apps: ['a'] }));
    const seq = await store.changeSeq();
    assert.deepEqual(await store.update('device_groups', 'g', { apps: ['x'], cron_jobs: ['y'] }, { bump: 'device_group_id', refs: { cron_jobs: ['y'], apps: ['x'] } }), {
      ok: false,
      reason: 'missing_ref',
      kind: 'cron_jobs',
      name: 'y',
    });
    assert.deepEqual(await store.get('device_groups', 'g'), group('g', ['a'], ['c']));
    assert.equal(await store.changeSeq(), seq);
  });

  test('delete cascades from device groups and bumps their device_group_id', async () => {
    for (const n of ['a', 'b', 'x']) ok(await store.create('apps', app(n)));
    ok(await store.create('cron_jobs', cron('c')));
    ok(await store.create('cron_jobs', cron('a')));
    ok(await store.create('device_groups', group('g1', ['a', 'b'], ['c', 'a'])));
    ok(await store.create('device_groups', group('g2', ['b'])));
    ok(await store.create('device_groups', group('g3', ['x'])));

    assert.equal(await store.delete('apps', 'b'), true);
    assert.equal(await store.get('apps', 'b'), null);
    assert.deepEqual(await store.get('device_groups', 'g1'), { ...group('g1', ['a'], ['c', 'a']), device_group_id: 2 });
    assert.deepEqual(await store.get('device_groups', 'g2'), { ...group('g2', []), device_group_id: 2 });
    assert.deepEqual(await store.get('device_groups', 'g3'), group('g3', ['x']));

    // Deleting the app "a" leaves the cron job "a" listed.
    assert.equal(await store.delete('apps', 'a'), true);
    assert.deepEqual((await store.get('device_groups', 'g1'))?.cron_jobs, ['c', 'a']);
    assert.equal(await store.delete('cron_jobs', 'c'), true);
    assert.deepEqual(await store.get('device_groups', 'g1'), { ...group('g1', [], ['a']), device_group_id: 4 });

    assert.equal(await store.delete('apps', 'b'), false);
    assert.equal(await store.delete('device_groups', 'g3'), true);
    assert.deepEqual(await store.listNames('device_groups'), ['g1', 'g2']);
    assert.deepEqual(await store.get('apps', 'x'), app('x'), 'deleting a group leaves its members');
  });

  test('pruneAll bumps every prune_id and nothing else', async () => {
    ok(await store.create('device_groups', group('g1')));
    ok(await store.create('device_groups', group('g2')));
    ok(await store.update('device_groups', 'g2', {}, { bump: 'prune_id' }));
    assert.deepEqual(await store.pruneAll(), { g1: 2, g2: 3 });
    assert.deepEqual(await store.pruneAll(), { g1: 3, g2: 4 });
    const g1 = await store.get('device_groups', 'g1');
    assert.equal(g1?.prune_id, 3);
    assert.equal(g1?.device_group_id, 1);
  });
});

describe('change sequence', () => {
  test('every admin write moves it; reads, failed writes, reports and token digests do not', async () => {
    let last = await store.changeSeq();
    assert.equal(last, 0);
    const moved = async (what: string) => {
      const now = await store.changeSeq();
      assert.ok(now > last, `${what} should move the sequence`);
      last = now;
    };
    const still = async (what: string) => assert.equal(await store.changeSeq(), last, `${what} should not move the sequence`);

    ok(await store.create('apps', app('a')));
    await moved('create');
    await store.create('apps', app('a'));
    await still('a refused create');
    ok(await store.update('apps', 'a', { running: false }, { bump: 'app_id' }));
    await moved('update');
    await store.update('apps', 'zz', { running: false });
    await still('an update of a missing doc');
    ok(await store.create('device_groups', group('g', ['a'])));
    await moved('create group');
    ok(await store.create('users', user('u', 'aaaaaa')));
    await moved('create user');
    ok(await store.create('user_groups', userGroup('ug', ['u'])));
    await moved('create user group');
    await store.pruneAll();
    await moved('pruneAll');

    await store.get('apps', 'a');
    await store.listNames('apps');
    await store.info('g');
    await store.groupsOf('u');
    await store.usersByTokenLookup('aaaaaa');
    await store.usersWithoutTokenLookup();
    await store.queryReports({ pageSize: 10 });
    await store.listDevices({ pageSize: 10 });
    await store.getDevice('h');
    await store.ping();
    await still('reads');
    await store.insertReports([{ report_id: 'r1', hostname: 'h', device_group: 'g', report_creation_time: 1 }], new Date());
    await still('insertReports');
    await store.purgeReports(new Date(Date.now() + 60_000));
    await still('purgeReports');
    await store.setTokenLookup('u', 'bbbbbb');
    await still('setTokenLookup');

    assert.equal(await store.delete('apps', 'a'), true);
    await moved('delete');
    await store.delete('apps', 'a');
    await still('a delete of a missing doc');
  });

  test('a write through another connection moves it for this one', async () => {
    const other = SqliteStore.open(file);
    try {
      const before = await store.changeSeq();
      ok(await other.create('apps', app('a')));
      assert.ok((await store.changeSeq()) > before);
    } finally {
      await other.close();
    }
  });
});

describe('info', () => {
  test('a consistent snapshot with the sequence it was read at', async () => {
    ok(await store.create('apps', app('a')));
    ok(await store.create('apps', app('b')));
    ok(await store.create('apps', app('unlisted')));
    ok(await store.create('cron_jobs', cron('c')));
    ok(await store.create('device_groups', group('g', ['b', 'a'], ['c'])));
    const { snapshot, seq } = await store.info('g');
    assert.equal(seq, await store.changeSeq());
    assert.ok(snapshot);
    assert.deepEqual(snapshot.group, group('g', ['b', 'a'], ['c']));
    assert.deepEqual(snapshot.apps.map((x) => x.app_name).sort(), ['a', 'b']);
    assert.deepEqual(snapshot.apps.find((x) => x.app_name === 'a'), app('a'));
    assert.deepEqual(snapshot.cronJobs, [cron('c')]);
    const missing = await store.info('nope');
    assert.equal(missing.snapshot, null);
    assert.equal(missing.seq, seq);
  });
});

describe('users', () => {
  test('groupsOf lists the groups naming the user, by name', async () => {
    ok(await store.create('user_groups', userGroup('zeta', ['u', 'v'])));
    ok(await store.create('user_groups', userGroup('alpha', ['u'])));
    ok(await store.create('user_groups', userGroup('other', ['v', 'uu'])));
    assert.deepEqual((await store.groupsOf('u')).map((g) => g.user_group), ['alpha', 'zeta']);
    assert.deepEqual((await store.groupsOf('v')).map((g) => g.user_group), ['other', 'zeta']);
    assert.deepEqual(await store.groupsOf('nobody'), []);
    assert.deepEqual((await store.groupsOf('u'))[0], userGroup('alpha', ['u']));
  });

  test('token digests: lookup, imported users without one, setTokenLookup, update', async () => {
    ok(await store.create('users', user('u1', 'abc123')));
    ok(await store.create('users', user('u2', null)));
    ok(await store.create('users', user('u3', 'abc123')));
    assert.deepEqual((await store.usersByTokenLookup('abc123')).map((u) => u.user_name).sort(), ['u1', 'u3']);
    assert.deepEqual(await store.usersByTokenLookup('ffffff'), []);
    assert.deepEqual(await store.usersWithoutTokenLookup(), [user('u2', null)]);

    await store.setTokenLookup('u2', 'def456');
    assert.deepEqual(await store.usersByTokenLookup('def456'), [user('u2', 'def456')]);
    assert.deepEqual(await store.get('users', 'u2'), user('u2', 'def456'));
    assert.deepEqual(await store.usersWithoutTokenLookup(), []);

    ok(await store.update('users', 'u1', { token: 'new-hash', token_lookup: '0a0a0a' }));
    assert.deepEqual((await store.usersByTokenLookup('abc123')).map((u) => u.user_name), ['u3']);
    assert.deepEqual(await store.usersByTokenLookup('0a0a0a'), [{ ...user('u1', '0a0a0a'), token: 'new-hash' }]);
    ok(await store.update('users', 'u3', { password: 'other' }));
    assert.deepEqual((await store.usersByTokenLookup('abc123')).map((u) => u.user_name), ['u3'], 'an update that keeps the token keeps its digest');
  });
});

describe('restarts and migrations', () => {
  test('data and the change sequence survive close and reopen', async () => {
    ok(await store.create('apps', app('a')));
    ok(await store.create('device_groups', group('g', ['a'])));
    ok(await store.create('users', user('u', 'abc123')));
    const report = { report_id: 'r1', hostname: 'h', device_group: 'g', report_creation_time: 1000 };
    await store.insertReports([report], new Date(1_700_000_000_000));
    const seq = await store.changeSeq();
    await store.close();
    store = SqliteStore.open(file);
    assert.deepEqual(await store.get('apps', 'a'), app('a'));
    assert.deepEqual(await store.get('device_groups', 'g'), group('g', ['a']));
    assert.deepEqual((await store.usersByTokenLookup('abc123')).map((u) => u.user_name), ['u']);
    assert.equal(await store.changeSeq(), seq);
    assert.deepEqual((await store.queryReports({ pageSize: 10 })).map((r) => r.report), [report]);
    assert.deepEqual(await store.getDevice('h'), summarizeReport(report, 1_700_000_000_000));
    assert.deepEqual(await store.insertReports([report], new Date()), { inserted: 0, duplicates: 1 }, 'dedup survives a restart');
  });

  test('reopening keeps user_version at the schema version', async () => {
    await store.close();
    const readVersion = () => {
      const db = new Database(file, { readonly: true });
      try {
        return db.pragma('user_version', { simple: true });
      } finally {
        db.close();
      }
    };
    assert.equal(readVersion(), SCHEMA_VERSION);
    store = SqliteStore.open(file);
    await store.close();
    assert.equal(readVersion(), SCHEMA_VERSION);
    store = SqliteStore.open(file);
  });

  test('a database from a newer Nebula does not open', async () => {
    ok(await store.create('apps', app('a')));
    await store.close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => SqliteStore.open(file), (err: unknown) => err instanceof StoreFatalError);
    // Left untouched for the newer Nebula.
    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 99);
    check.close();
    store = SqliteStore.open(join(dir, 'fresh.db'));
  });

  test('a file that is not a database does not open', () => {
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, 'this is not an SQLite database, just some text long enough to have a header'.repeat(20));
    assert.throws(() => SqliteStore.open(garbage), (err: unknown) => err instanceof StoreFatalError);
  });
});

describe('failures are fatal', () => {
  test('every call on a store whose connection is gone throws StoreFatalError', async () => {
    ok(await store.create('apps', app('a')));
    await store.close();
    await assertFatal(store.create('apps', app('b')));
    await assertFatal(store.update('apps', 'a', { running: false }));
    await assertFatal(store.delete('apps', 'a'));
    await assertFatal(store.pruneAll());
    await assertFatal(store.insertReports([{ hostname: 'h', device_group: 'g', report_creation_time: 1 }], new Date()));
    await assertFatal(store.purgeReports(new Date()));
    await assertFatal(store.listDevices({ pageSize: 10 }));
    await assertFatal(store.getDevice('h'));
    await assertFatal(store.queryReports({ pageSize: 10 }));
    await assertFatal(store.setTokenLookup('u', 'abcdef'));
    await assertFatal(store.get('apps', 'a'));
    await assertFatal(store.changeSeq());
    await assertFatal(store.ping());
    await assertFatal(store.info('g'));
    await store.close(); // closing twice is harmless
  });

  test('a schema damaged by another process makes writes throw StoreFatalError', async () => {
    ok(await store.create('apps', app('a')));
    const vandal = new Database(file);
    vandal.exec('DROP TABLE docs');
    vandal.close();
    await assertFatal(store.create('apps', app('b')));
    await assertFatal(store.get('apps', 'a'));
  });
});

describe('reports', () => {
  const NOW = new Date(1_700_000_000_000);

  beforeEach(async () => {
    const reports: IncomingReport[] = [];
    for (let i = 0; i < 25; i++) {
      reports.push({ hostname: `h${i % 3}`, device_group: i % 2 === 0 ? 'even' : 'odd', report_creation_time: 1000 + i, updated: i % 5 === 0, n: i });
    }
    await store.insertReports(reports, NOW);
    // An original 2.x worker's report may lack `updated` (and report_id): stored, never matched by it.
    await store.insertReports([{ hostname: 'late', device_group: 'late', n: 25, report_creation_time: 2000 }], new Date(NOW.getTime() + 5000));
  });

  const ns = (rs: { report: Record<string, unknown> }[]) => rs.map((r) => r.report.n);

  test('pages in insertion order with ObjectId-shaped ids', async () => {
    const seen: unknown[] = [];
    let afterId: string | undefined;
    const sizes: number[] = [];
    for (;;) {
      const page = await store.queryReports({ pageSize: 10, ...(afterId !== undefined ? { afterId } : {}) });
      if (page.length === 0) break;
      sizes.push(page.length);
      for (const r of page) assert.equal(store.isReportId(r.id), true, r.id);
      seen.push(...ns(page));
      afterId = page.at(-1)!.id;
    }
    assert.deepEqual(sizes, [10, 10, 6]);
    assert.deepEqual(seen, Array.from({ length: 26 }, (_, i) => i));
    const first = (await store.queryReports({ pageSize: 1 }))[0]!;
    assert.deepEqual(first.insertedAt, NOW);
    assert.equal(first.id.slice(0, 8), Math.floor(NOW.getTime() / 1000).toString(16).padStart(8, '0'));
  });

  test('filters', async () => {
    assert.deepEqual(ns(await store.queryReports({ pageSize: 100, hostname: 'h1' })), [1, 4, 7, 10, 13, 16, 19, 22]);
    assert.deepEqual(ns(await store.queryReports({ pageSize: 100, deviceGroup: 'odd', hostname: 'h1' })), [1, 7, 13, 19]);
    assert.deepEqual(ns(await store.queryReports({ pageSize: 100, updated: true })), [0, 5, 10, 15, 20]);
    assert.equal((await store.queryReports({ pageSize: 100, updated: false })).length, 20);
    const t = (op: 'eq' | 'gt' | 'lt' | 'gte' | 'lte' | 'ne', value: number) => store.queryReports({ pageSize: 100, creationTime: { op, value } });
    assert.deepEqual(ns(await t('eq', 1003)), [3]);
    assert.deepEqual(ns(await t('gt', 1022)), [23, 24, 25]);
    assert.deepEqual(ns(await t('gte', 1023)), [23, 24, 25]);
    assert.deepEqual(ns(await t('lt', 1002)), [0, 1]);
    assert.deepEqual(ns(await t('lte', 1001)), [0, 1]);
    assert.equal((await t('ne', 1003)).length, 25);
    assert.deepEqual(ns(await store.queryReports({ pageSize: 2, deviceGroup: 'even', creationTime: { op: 'gte', value: 1010 } })), [10, 12]);
    assert.deepEqual(await store.queryReports({ pageSize: 10, hostname: 'nobody' }), []);
  });

  test('paging with a filter resumes after last_id', async () => {
    const first = await store.queryReports({ pageSize: 3, hostname: 'h2' });
    assert.deepEqual(ns(first), [2, 5, 8]);
    const next = await store.queryReports({ pageSize: 3, hostname: 'h2', afterId: first.at(-1)!.id });
    assert.deepEqual(ns(next), [11, 14, 17]);
  });

  test('isReportId', () => {
    assert.equal(store.isReportId('0123456789abcdef01234567'), true);
    for (const bad of ['', 'xyz', '0123456789ABCDEF01234567', '0123456789abcdef0123456', '0123456789abcdef012345678']) {
      assert.equal(store.isReportId(bad), false, bad);
    }
  });
});

describe('report ingestion and the device index', () => {
  const AT = new Date(1_700_000_000_000);
  const report = (id: string | undefined, hostname: string, time: number, extra: Record<string, unknown> = {}): IncomingReport => ({
    ...(id !== undefined ? { report_id: id } : {}),
    hostname,
    device_group: 'g',
    report_creation_time: time,
    ...extra,
  });
  const storedIds = async (hostname?: string) =>
    (await store.queryReports({ pageSize: 1000, ...(hostname !== undefined ? { hostname } : {}) })).map((r) => r.report.report_id ?? null);

  test('idempotent on report_id: across calls and within a batch; reports without one are all kept', async () => {
    assert.deepEqual(await store.insertReports([report('a', 'h', 1), report('b', 'h', 2)], AT), { inserted: 2, duplicates: 0 });
    assert.deepEqual(await store.insertReports([report('a', 'h', 1)], AT), { inserted: 0, duplicates: 1 });
    assert.deepEqual(await store.insertReports([report('b', 'h', 2), report('c', 'h', 3), report('c', 'h', 3)], AT), { inserted: 1, duplicates: 2 });
    assert.deepEqual(await store.insertReports([report(undefined, 'h', 4), report(undefined, 'h', 4)], AT), { inserted: 2, duplicates: 0 });
    assert.deepEqual(await store.insertReports([], AT), { inserted: 0, duplicates: 0 });
    assert.deepEqual(await storedIds(), ['a', 'b', 'c', null, null]);
  });

  test('a duplicate does not touch the device entry, even when it carries other content', async () => {
    await store.insertReports([report('a', 'h', 10, { worker_version: '1.0.0' })], AT);
    await store.insertReports([report('a', 'h', 20, { worker_version: '9.9.9' })], new Date(AT.getTime() + 1000));
    const device = await store.getDevice('h');
    assert.equal(device?.last_seen, 10);
    assert.equal(device?.worker_version, '1.0.0');
    assert.equal(device?.received_at, AT.getTime());
  });

  test('the device entry is the summary of its latest report by creation time, and only moves forward', async () => {
    const first = report('r100', 'h', 100, { worker_version: '1.0.0' });
    await store.insertReports([first], AT);
    assert.deepEqual(await store.getDevice('h'), summarizeReport(first, AT.getTime()));

    // Older, from a spool draining late: stored, but the entry stays.
    await store.insertReports([report('r90', 'h', 90)], new Date(AT.getTime() + 1000));
    assert.equal((await store.getDevice('h'))?.report_id, 'r100');
    assert.deepEqual(await storedIds('h'), ['r100', 'r90']);

    // The same second: the later arrival wins.
    await store.insertReports([report('r100b', 'h', 100)], AT);
    assert.equal((await store.getDevice('h'))?.report_id, 'r100b');

    // Out of order inside one batch; and the device moved to another group.
    const moved = report('r120', 'h', 120, { device_group: 'other' });
    await store.insertReports([moved, report('r110', 'h', 110)], new Date(AT.getTime() + 2000));
    assert.deepEqual(await store.getDevice('h'), summarizeReport(moved, AT.getTime() + 2000));
    assert.deepEqual((await store.listDevices({ pageSize: 10, deviceGroup: 'g' })).map((d) => d.hostname), []);
    assert.deepEqual((await store.listDevices({ pageSize: 10, deviceGroup: 'other' })).map((d) => d.hostname), ['h']);
    assert.equal(await store.getDevice('nobody'), null);
  });

  test('listDevices: by hostname, paged after a hostname, filtered by group and by allowed groups', async () => {
    const hosts = ['till-07', 'till-01', 'kiosk-2', 'till-03', 'kiosk-1', 'till-10', 'till-05'];
    await store.insertReports(
      hosts.map((h, i) => report(`r-${h}`, h, 1000 + i, { device_group: h.startsWith('till') ? 'tills' : 'kiosks' })),
      AT,
    );
    const names = async (q: Parameters<SqliteStore['listDevices']>[0]) => (await store.listDevices(q)).map((d) => d.hostname);
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await names({ pageSize: 3, ...(after !== undefined ? { afterHostname: after } : {}) });
      if (page.length === 0) break;
      pages.push(page);
      after = page.at(-1);
    }
    assert.deepEqual(pages, [['kiosk-1', 'kiosk-2', 'till-01'], ['till-03', 'till-05', 'till-07'], ['till-10']]);
    assert.deepEqual(await names({ pageSize: 2, deviceGroup: 'tills', afterHostname: 'till-03' }), ['till-05', 'till-07']);
    assert.deepEqual(await names({ pageSize: 100, inGroups: ['kiosks', 'nowhere'] }), ['kiosk-1', 'kiosk-2']);
    assert.deepEqual(await names({ pageSize: 100, inGroups: [] }), []);
    assert.deepEqual(await names({ pageSize: 100, inGroups: ['kiosks'], deviceGroup: 'tills' }), []);
    assert.equal((await store.listDevices({ pageSize: 100 }))[0]?.device_group, 'kiosks');
  });

  test('purgeReports deletes by insert time, in chunks, and leaves the device entries', async () => {
    const t = (s: number) => new Date(AT.getTime() + s * 1000);
    // Over two purge chunks of old reports (legacy ones, without report_id), then newer ones.
    const old = Array.from({ length: 11_000 }, (_, i) => report(undefined, `old-${i % 7}`, i));
    await store.insertReports(old, t(0));
    await store.insertReports([report('mid', 'h', 1)], t(10));
    await store.insertReports([report('new', 'h', 2)], t(20));

    assert.equal(await store.purgeReports(t(0)), 0, 'strictly before');
    assert.equal(await store.purgeReports(t(10)), 11_000);
    assert.deepEqual(await storedIds(), ['mid', 'new']);
    assert.equal(await store.purgeReports(t(10)), 0);
    assert.equal(await store.purgeReports(t(20.001)), 2);
    assert.deepEqual(await storedIds(), []);
    assert.equal((await store.listDevices({ pageSize: 100 })).length, 8, 'device entries stay');
    assert.equal((await store.getDevice('h'))?.report_id, 'new');
    // A purged report_id is no longer known: sent again (after the TTL), it is stored again.
    assert.deepEqual(await store.insertReports([report('new', 'h', 2)], t(30)), { inserted: 1, duplicates: 0 });
  });

  test('a version 1 database migrates: its reports stay (without report_id) and ingestion works', async () => {
    await store.close();
    const v1 = join(dir, 'v1.db');
    const db = new Database(v1);
    runMigrations(db, MIGRATIONS.slice(0, 1));
    db.prepare('INSERT INTO reports (inserted_at, device_group, hostname, report_creation_time, updated, doc) VALUES (?, ?, ?, ?, ?, ?)').run(
      AT.getTime(),
      'g',
      'h',
      5,
      1,
      JSON.stringify({ report_id: 'x', hostname: 'h', device_group: 'g', report_creation_time: 5, updated: true }),
    );
    db.close();
    store = SqliteStore.open(v1);
    assert.deepEqual((await store.queryReports({ pageSize: 10 })).map((r) => r.report.report_id), ['x']);
    assert.equal(await store.getDevice('h'), null, 'the index fills with the next report');
    assert.deepEqual(await store.insertReports([report('x', 'h', 6)], AT), { inserted: 1, duplicates: 0 }, 'old rows have no report_id column value');
    assert.deepEqual(await store.insertReports([report('x', 'h', 6)], AT), { inserted: 0, duplicates: 1 });
    assert.equal((await store.getDevice('h'))?.last_seen, 6);
    assert.equal(await store.purgeReports(new Date(AT.getTime() + 1)), 2);
  });
});
