// The embedded SQLite store on a real temp file: documents, atomic updates, cascades, the
// change sequence, users' token digests, restarts, migrations, failures and reports.

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
import { SCHEMA_VERSION } from '../../src/store/sqlite/migrations.ts';
import type { WriteResult } from '../../src/store/types.ts';

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
    await store.ping();
    await still('reads');
    await store.insertReports([{ hostname: 'h', device_group: 'g' }], new Date());
    await still('insertReports');
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
    await store.insertReports([{ hostname: 'h' }], new Date(1_700_000_000_000));
    const seq = await store.changeSeq();
    await store.close();
    store = SqliteStore.open(file);
    assert.deepEqual(await store.get('apps', 'a'), app('a'));
    assert.deepEqual(await store.get('device_groups', 'g'), group('g', ['a']));
    assert.deepEqual((await store.usersByTokenLookup('abc123')).map((u) => u.user_name), ['u']);
    assert.equal(await store.changeSeq(), seq);
    assert.deepEqual((await store.queryReports({ pageSize: 10 })).map((r) => r.report), [{ hostname: 'h' }]);
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
    await assertFatal(store.insertReports([{ hostname: 'h' }], new Date()));
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
    const reports: Record<string, unknown>[] = [];
    for (let i = 0; i < 25; i++) {
      reports.push({ hostname: `h${i % 3}`, device_group: i % 2 === 0 ? 'even' : 'odd', report_creation_time: 1000 + i, updated: i % 5 === 0, n: i });
    }
    await store.insertReports(reports, NOW);
    await store.insertReports([{ n: 25, report_creation_time: 'late', updated: 'yes' }], new Date(NOW.getTime() + 5000));
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
    assert.deepEqual(ns(await t('gt', 1022)), [23, 24]);
    assert.deepEqual(ns(await t('gte', 1023)), [23, 24]);
    assert.deepEqual(ns(await t('lt', 1002)), [0, 1]);
    assert.deepEqual(ns(await t('lte', 1001)), [0, 1]);
    assert.equal((await t('ne', 1003)).length, 24);
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
