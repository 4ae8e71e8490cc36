// The Store contract: the same tests against the embedded SQLite store and the MongoDB store
// (the FerretDB of test/services/ferretdb.sh), each on a fresh database per test. Documents,
// atomic updates, cascades, the change sequence, users' token digests, restarts, reports and
// the device index — everything the manager relies on whichever store it runs on. What only
// one store does is tested beside it: test/unit/store.test.ts (SQLite) and
// test/integration/mongo/store.test.ts (MongoDB).
//
// The MongoDB half fails (never skips) when no server answers: openTestStore throws.

import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { newApp, type AppDoc } from '../../src/model/app.ts';
import { newCronJob } from '../../src/model/cronJob.ts';
import { appFieldsFromBody, cronJobFieldsFromBody } from '../../src/model/bodies.ts';
import { newDeviceGroup } from '../../src/model/deviceGroup.ts';
import { summarizeReport, type DeviceQuery, type IncomingReport } from '../../src/model/report.ts';
import type { UserGroupDoc, UserRecord } from '../../src/model/user.ts';
import { COLLECTIONS } from '../../src/store/mongo/schema.ts';
import type { Store, StoredReport, WriteResult } from '../../src/store/types.ts';
import { MONGO_URL } from '../helpers/mongo.ts';
import { dropTestStore, openTestStore, schemaNameOf } from '../helpers/store.ts';

type StoreKind = 'sqlite' | 'mongo';
const KINDS: readonly StoreKind[] = ['sqlite', 'mongo'];
const TTL = 3600;

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

/** Keys a MongoDB-wire server may refuse ("." anywhere, "$" first) and the escape character itself. */
const ODD_ENV = { 'a.b': '1', $HOME: 'x', 'x\uff05y': 'z', 'x\uff052ey': 'w', plain: 'p' };
const oddApp = (name: string): AppDoc => ({ ...app(name), env_vars: ODD_ENV as unknown as AppDoc['env_vars'] });

function ok<T>(result: WriteResult<T>): T & { _id: { $oid: string } } {
  assert.equal(result.ok, true, JSON.stringify(result));
  return (result as { ok: true; doc: T & { _id: { $oid: string } } }).doc;
}

/** A 2.x-style user as Nebula 2.7 left it in MongoDB: a bcrypt hash and no token_lookup field at all. */
async function insertLegacyMongoUser(dir: string, name: string): Promise<void> {
  const client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.db(schemaNameOf(dir)).collection(COLLECTIONS.users).insertOne({ user_name: name, password: `pw-hash-${name}`, token: `tok-hash-${name}` });
  } finally {
    await client.close();
  }
}

for (const kind of KINDS) {
  describe(`Store contract: ${kind}`, () => {
    let dir: string;
    let store: Store;
    let opened: Store[] = [];

    /** Another store instance on the same database (another manager process, in effect). */
    const openStore = async (): Promise<Store> => {
      const s = await openTestStore(dir, TTL, kind);
      opened.push(s);
      return s;
    };

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), `nebula-contract-${kind}-`));
      opened = [];
      store = await openStore();
    });
    afterEach(async () => {
      for (const s of opened) await s.close().catch(() => undefined);
      try {
        await dropTestStore(dir, kind);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('expiresReportsItself is false', () => {
      // SQLite has no expiry of its own; FerretDB 1.24 (the server these suites run on) has
      // no TTL indexes, so the MongoDB store falls back to a plain index and Nebula's purge.
      // Against a real MongoDB the MongoDB store says true.
      assert.equal(store.expiresReportsItself, false);
    });

    describe('documents', () => {
      test('create, get, listNames, exists; a taken name is "exists"', async () => {
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
        assert.deepEqual(await store.get('apps', 'web'), app('web'), 'a refused create leaves the document');
        await store.ping();
      });

      test('a create through a second store instance on the same database sees the name taken', async () => {
        const other = await openStore();
        ok(await store.create('apps', app('web')));
        assert.deepEqual(await other.create('apps', app('web')), { ok: false, reason: 'exists' });
        ok(await other.create('apps', app('api')));
        assert.deepEqual(await store.listNames('apps'), ['api', 'web']);
        assert.deepEqual(await store.get('apps', 'api'), app('api'));
      });

      test('concurrent creates of one name from two store instances: exactly one ok, one "exists"', async () => {
        const other = await openStore();
        for (let i = 0; i < 5; i++) {
          const name = `race${i}`;
          const results = await Promise.all([store.create('apps', app(name)), other.create('apps', app(name))]);
          const oks = results.filter((r) => r.ok);
          assert.equal(oks.length, 1, JSON.stringify(results));
          assert.deepEqual(results.find((r) => !r.ok), { ok: false, reason: 'exists' });
        }
        assert.deepEqual(await store.listNames('apps'), ['race0', 'race1', 'race2', 'race3', 'race4']);
      });

      test('update: set, bump, keep the _id; missing', async () => {
        const { _id } = ok(await store.create('apps', app('web')));
        const updated = ok(await store.update('apps', 'web', { running: false }, { bump: 'app_id' }));
        assert.deepEqual(updated._id, _id);
        assert.equal(updated.running, false);
        assert.equal(updated.app_id, 2);
        assert.deepEqual({ ...updated, _id: undefined }, { ...app('web'), running: false, app_id: 2, _id: undefined });
        ok(await store.update('apps', 'web', {}, { bump: 'app_id' }));
        assert.equal((await store.get('apps', 'web'))?.app_id, 3);
        ok(await store.update('apps', 'web', { privileged: true }));
        assert.equal((await store.get('apps', 'web'))?.app_id, 3, 'no bump asked, none made');
        assert.equal((await store.get('apps', 'web'))?.privileged, true);
        const again = ok(await store.update('apps', 'web', { app_id: 100 }, { bump: 'app_id' }));
        assert.equal(again.app_id, 4, 'the bumped id is the stored one plus one, whatever set says');
        assert.deepEqual(await store.update('apps', 'nope', { running: false }, { bump: 'app_id' }), { ok: false, reason: 'missing' });
        assert.equal(await store.get('apps', 'nope'), null, 'an update never creates');
      });

      test('20 concurrent bumps of one app from two instances: ids 2..21, each exactly once', async () => {
        ok(await store.create('apps', app('web')));
        const other = await openStore();
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).update('apps', 'web', {}, { bump: 'app_id' })));
        const ids = results.map((r) => ok(r).app_id).sort((a, b) => a - b);
        assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => i + 2));
        assert.equal((await store.get('apps', 'web'))?.app_id, 21);
      });

      test('update: expect is a precondition', async () => {
        ok(await store.create('apps', app('web')));
        ok(await store.update('apps', 'web', { running: false }, { bump: 'app_id' }));
        const seq = await store.changeSeq();
        assert.deepEqual(await store.update('apps', 'web', {}, { bump: 'app_id', expect: { running: true } }), { ok: false, reason: 'precondition' });
        assert.deepEqual(await store.update('apps', 'web', { privileged: true }, { expect: { running: true } }), { ok: false, reason: 'precondition' });
        assert.equal((await store.get('apps', 'web'))?.app_id, 2);
        assert.equal((await store.get('apps', 'web'))?.privileged, false);
        assert.equal(await store.changeSeq(), seq);
        ok(await store.update('apps', 'web', { running: true }, { bump: 'app_id', expect: { running: false } }));
        assert.equal((await store.get('apps', 'web'))?.app_id, 3);
        assert.deepEqual(await store.update('apps', 'nope', {}, { bump: 'app_id', expect: { running: true } }), { ok: false, reason: 'missing' });
      });

      test('refs: missing_ref, cron_jobs checked before apps, nothing written', async () => {
        const start = await store.changeSeq();
        assert.deepEqual(await store.create('device_groups', group('g', ['noapp'], ['nocron']), { cron_jobs: ['nocron'], apps: ['noapp'] }), {
          ok: false,
          reason: 'missing_ref',
          kind: 'cron_jobs',
          name: 'nocron',
        });
        assert.equal(await store.changeSeq(), start);
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
        assert.equal(await store.delete('device_groups', 'nope'), false);
        assert.equal(await store.delete('device_groups', 'g3'), true);
        assert.deepEqual(await store.listNames('device_groups'), ['g1', 'g2']);
        assert.deepEqual(await store.get('apps', 'x'), app('x'), 'deleting a group leaves its members');
      });

      test('pruneAll bumps every prune_id and nothing else', async () => {
        assert.deepEqual(await store.pruneAll(), {}, 'no groups: nothing to bump');
        ok(await store.create('device_groups', group('g1')));
        ok(await store.create('device_groups', group('g2')));
        ok(await store.update('device_groups', 'g2', {}, { bump: 'prune_id' }));
        assert.deepEqual(await store.pruneAll(), { g1: 2, g2: 3 });
        assert.deepEqual(await store.pruneAll(), { g1: 3, g2: 4 });
        const g1 = await store.get('device_groups', 'g1');
        assert.equal(g1?.prune_id, 3);
        assert.equal(g1?.device_group_id, 1);
      });

      test('keys with "." or a leading "$" come back exactly as written: get, info, update', async () => {
        const created = ok(await store.create('apps', oddApp('web')));
        assert.deepEqual(created.env_vars, ODD_ENV);
        assert.deepEqual(await store.get('apps', 'web'), oddApp('web'));
        ok(await store.create('device_groups', group('g', ['web'])));
        const { snapshot } = await store.info('g');
        assert.deepEqual(snapshot?.apps, [oddApp('web')]);

        const bumped = ok(await store.update('apps', 'web', { running: false }, { bump: 'app_id' }));
        assert.deepEqual(bumped.env_vars, ODD_ENV, 'an update of other fields keeps them');
        const next = { 'b.c.d': '2', $PATH: '/bin', 'e\uff05': '3' };
        const updated = ok(await store.update('apps', 'web', { env_vars: next as unknown as AppDoc['env_vars'] }, { bump: 'app_id' }));
        assert.deepEqual(updated.env_vars, next);
        assert.deepEqual(await store.get('apps', 'web'), { ...oddApp('web'), env_vars: next, running: false, app_id: 3 });
        assert.deepEqual((await store.info('g')).snapshot?.apps, [{ ...oddApp('web'), env_vars: next, running: false, app_id: 3 }]);
        assert.deepEqual(await store.listNames('apps'), ['web']);
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
        await store.update('apps', 'a', {}, { bump: 'app_id', expect: { running: true } });
        await still('an update refused by its precondition');
        ok(await store.create('cron_jobs', cron('c')));
        await moved('create cron job');
        ok(await store.create('device_groups', group('g', ['a'], ['c'])));
        await moved('create group');
        await store.create('device_groups', group('g2', ['nope']), { apps: ['nope'] });
        await still('a create refused for a missing ref');
        ok(await store.create('users', user('u', 'aaaaaa')));
        await moved('create user');
        ok(await store.create('user_groups', userGroup('ug', ['u'])));
        await moved('create user group');
        ok(await store.update('user_groups', 'ug', { admin: true }));
        await moved('update user group');
        await store.pruneAll();
        await moved('pruneAll');

        await store.get('apps', 'a');
        await store.listNames('apps');
        await store.info('g');
        await store.info('nope');
        await store.groupsOf('u');
        await store.usersByTokenLookup('aaaaaa');
        await store.usersWithoutTokenLookup();
        await store.queryReports({ pageSize: 10 });
        await store.listDevices({ pageSize: 10 });
        await store.getDevice('h');
        await store.ping();
        await still('reads');
        await store.insertReports([{ report_id: 'r1', hostname: 'h', device_group: 'g', report_creation_time: 1 }], new Date());
        await store.insertReports([{ report_id: 'r1', hostname: 'h', device_group: 'g', report_creation_time: 1 }], new Date());
        await still('insertReports');
        await store.purgeReports(new Date(Date.now() + 60_000));
        await still('purgeReports');
        await store.setTokenLookup('u', 'bbbbbb');
        await still('setTokenLookup');

        assert.equal(await store.delete('cron_jobs', 'c'), true);
        await moved('delete a cron job');
        assert.equal(await store.delete('apps', 'a'), true);
        await moved('delete an app');
        assert.equal(await store.delete('device_groups', 'g'), true);
        await moved('delete a device group');
        assert.equal(await store.delete('users', 'u'), true);
        await moved('delete a user');

        // A delete that finds nothing writes nothing, whatever the kind.
        const movedBy: string[] = [];
        for (const k of ['apps', 'cron_jobs', 'device_groups', 'users', 'user_groups'] as const) {
          assert.equal(await store.delete(k, 'nope'), false);
          if ((await store.changeSeq()) !== last) movedBy.push(k);
          last = await store.changeSeq();
        }
        assert.deepEqual(movedBy, [], 'a delete of a missing document should not move the sequence');
      });

      test('concurrent writes from two instances each move it', async () => {
        const other = await openStore();
        const start = await store.changeSeq();
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).create('apps', app(`a${i}`))));
        for (const r of results) ok(r);
        assert.equal(await store.changeSeq(), start + 20, 'twenty writes, twenty steps: none lost');
      });

      test('a write through another instance moves it for this one', async () => {
        const other = await openStore();
        const before = await store.changeSeq();
        assert.equal(await other.changeSeq(), before);
        ok(await other.create('apps', app('a')));
        const after = await store.changeSeq();
        assert.ok(after > before);
        ok(await store.update('apps', 'a', {}, { bump: 'app_id' }));
        assert.ok((await other.changeSeq()) > after);
      });
    });

    describe('info', () => {
      test('a consistent snapshot with the sequence it was read at', async () => {
        ok(await store.create('apps', app('a')));
        ok(await store.create('apps', app('b')));
        ok(await store.create('apps', app('unlisted')));
        ok(await store.create('cron_jobs', cron('c')));
        ok(await store.create('device_groups', group('g', ['b', 'a'], ['c'])));
        ok(await store.create('device_groups', group('empty')));
        const { snapshot, seq } = await store.info('g');
        assert.equal(seq, await store.changeSeq());
        assert.ok(snapshot);
        assert.deepEqual(snapshot.group, group('g', ['b', 'a'], ['c']));
        assert.deepEqual(snapshot.apps.map((x) => x.app_name).sort(), ['a', 'b']);
        assert.deepEqual(snapshot.apps.find((x) => x.app_name === 'a'), app('a'));
        assert.deepEqual(snapshot.cronJobs, [cron('c')]);
        assert.deepEqual((await store.info('empty')).snapshot, { group: group('empty'), apps: [], cronJobs: [] });
        const missing = await store.info('nope');
        assert.equal(missing.snapshot, null);
        assert.equal(missing.seq, seq);
        ok(await store.update('apps', 'a', { running: false }, { bump: 'app_id' }));
        const later = await store.info('g');
        assert.ok(later.seq > seq);
        assert.equal(later.snapshot?.apps.find((x) => x.app_name === 'a')?.app_id, 2);
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
        await store.setTokenLookup('nobody', '123456'); // a user deleted meanwhile: nothing to record
        assert.deepEqual(await store.usersByTokenLookup('123456'), []);
      });

      test('a user stored without any token_lookup (Nebula 2.x) reads as token_lookup null', async () => {
        if (kind === 'mongo') {
          // As 2.7 left it: the field is absent, not null.
          await insertLegacyMongoUser(dir, 'legacy');
        } else {
          // SQLite databases are never 2.x's: an imported user is created with a null digest.
          ok(await store.create('users', user('legacy', null)));
        }
        ok(await store.create('users', user('modern', 'abc123')));
        const legacy = { user_name: 'legacy', password: 'pw-hash-legacy', token: 'tok-hash-legacy', token_lookup: null };
        assert.deepEqual(await store.get('users', 'legacy'), legacy);
        assert.deepEqual(await store.usersWithoutTokenLookup(), [legacy]);
        assert.deepEqual((await store.usersByTokenLookup('abc123')).map((u) => u.user_name), ['modern']);
        assert.deepEqual(await store.listNames('users'), ['legacy', 'modern']);
        assert.deepEqual({ ...ok(await store.update('users', 'legacy', { password: 'pw2' })), _id: undefined }, { ...legacy, password: 'pw2', _id: undefined });
        await store.setTokenLookup('legacy', 'fedcba');
        assert.deepEqual(await store.usersByTokenLookup('fedcba'), [{ ...legacy, password: 'pw2', token_lookup: 'fedcba' }]);
        assert.deepEqual(await store.usersWithoutTokenLookup(), []);
      });
    });

    describe('restarts', () => {
      test('data and the change sequence survive close and reopen', async () => {
        ok(await store.create('apps', app('a')));
        ok(await store.create('device_groups', group('g', ['a'])));
        ok(await store.create('users', user('u', 'abc123')));
        const report = { report_id: 'r1', hostname: 'h', device_group: 'g', report_creation_time: 1000 };
        await store.insertReports([report], new Date(1_700_000_000_000));
        const seq = await store.changeSeq();
        await store.close();
        store = await openStore();
        assert.deepEqual(await store.get('apps', 'a'), app('a'));
        assert.deepEqual(await store.get('device_groups', 'g'), group('g', ['a']));
        assert.deepEqual((await store.usersByTokenLookup('abc123')).map((u) => u.user_name), ['u']);
        assert.equal(await store.changeSeq(), seq);
        assert.deepEqual((await store.queryReports({ pageSize: 10 })).map((r) => r.report), [report]);
        assert.deepEqual(await store.getDevice('h'), summarizeReport(report, 1_700_000_000_000));
        assert.deepEqual(await store.insertReports([report], new Date()), { inserted: 0, duplicates: 1 }, 'dedup survives a restart');
        assert.deepEqual(await store.create('apps', app('a')), { ok: false, reason: 'exists' }, 'so does the unique name');
        ok(await store.update('apps', 'a', {}, { bump: 'app_id' }));
        assert.ok((await store.changeSeq()) > seq);
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

      const ns = (rs: StoredReport[]) => rs.map((r) => r.report.n);

      test('pages in insertion order with 24-hex ids', async () => {
        const seen: unknown[] = [];
        const ids: string[] = [];
        let afterId: string | undefined;
        const sizes: number[] = [];
        for (;;) {
          const page = await store.queryReports({ pageSize: 10, ...(afterId !== undefined ? { afterId } : {}) });
          if (page.length === 0) break;
          sizes.push(page.length);
          for (const r of page) {
            assert.match(r.id, /^[0-9a-f]{24}$/);
            assert.equal(store.isReportId(r.id), true, r.id);
          }
          seen.push(...ns(page));
          ids.push(...page.map((r) => r.id));
          afterId = page.at(-1)!.id;
        }
        assert.deepEqual(sizes, [10, 10, 6]);
        assert.deepEqual(seen, Array.from({ length: 26 }, (_, i) => i));
        assert.equal(new Set(ids).size, 26, 'ids are unique');
        const all = await store.queryReports({ pageSize: 100 });
        assert.deepEqual(all[0]!.insertedAt, NOW);
        assert.deepEqual(all[25]!.insertedAt, new Date(NOW.getTime() + 5000));
        assert.deepEqual(all[0]!.report, { hostname: 'h0', device_group: 'even', report_creation_time: 1000, updated: true, n: 0 }, 'the report as sent');
      });

      test('filters', async () => {
        assert.deepEqual(ns(await store.queryReports({ pageSize: 100, hostname: 'h1' })), [1, 4, 7, 10, 13, 16, 19, 22]);
        assert.deepEqual(ns(await store.queryReports({ pageSize: 100, deviceGroup: 'odd', hostname: 'h1' })), [1, 7, 13, 19]);
        // inGroups: the groups a caller may read (GET /reports of a user who is not an admin).
        assert.deepEqual(ns(await store.queryReports({ pageSize: 100, inGroups: ['odd', 'no-such-group'], hostname: 'h1' })), [1, 7, 13, 19]);
        assert.deepEqual(ns(await store.queryReports({ pageSize: 100, inGroups: ['odd'], deviceGroup: 'odd', hostname: 'h1' })), [1, 7, 13, 19]);
        assert.deepEqual(await store.queryReports({ pageSize: 100, inGroups: ['odd'], deviceGroup: 'even' }), []);
        assert.deepEqual(await store.queryReports({ pageSize: 100, inGroups: [] }), []);
        assert.deepEqual(ns(await store.queryReports({ pageSize: 100, inGroups: ['odd', 'even', 'late'] })), ns(await store.queryReports({ pageSize: 100 })));
        assert.equal((await store.queryReports({ pageSize: 100, inGroups: ['odd', 'even'] })).length, 25);
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
        // A last_id from an unfiltered page works with a filter too.
        const unfiltered = await store.queryReports({ pageSize: 4 });
        assert.deepEqual(ns(await store.queryReports({ pageSize: 2, deviceGroup: 'even', afterId: unfiltered.at(-1)!.id })), [4, 6]);
        const last = (await store.queryReports({ pageSize: 100 })).at(-1)!;
        assert.deepEqual(await store.queryReports({ pageSize: 10, afterId: last.id }), []);
      });

      test('isReportId', () => {
        assert.equal(store.isReportId('0123456789abcdef01234567'), true);
        for (const bad of ['', 'xyz', '0123456789ABCDEF01234567', '0123456789abcdef0123456', '0123456789abcdef012345678', '0123456789abcdef0123456g']) {
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

      test('the same batch ingested by two instances at once is stored once', async () => {
        const other = await openStore();
        const batch = Array.from({ length: 10 }, (_, i) => report(`r${i}`, `h${i % 2}`, 100 + i));
        const [x, y] = await Promise.all([store.insertReports(batch, AT), other.insertReports(batch, AT)]);
        assert.equal(x.inserted + y.inserted, 10, JSON.stringify([x, y]));
        assert.equal(x.inserted + x.duplicates, 10);
        assert.equal(y.inserted + y.duplicates, 10);
        assert.deepEqual((await storedIds()).sort(), batch.map((r) => r.report_id).sort());
        assert.equal((await store.getDevice('h1'))?.report_id, 'r9');
      });

      test('a duplicate does not touch the device entry, even when it carries other content', async () => {
        await store.insertReports([report('a', 'h', 10, { worker_version: '1.0.0' })], AT);
        await store.insertReports([report('a', 'h', 20, { worker_version: '9.9.9' })], new Date(AT.getTime() + 1000));
        const device = await store.getDevice('h');
        assert.equal(device?.last_seen, 10);
        assert.equal(device?.worker_version, '1.0.0');
        assert.equal(device?.received_at, AT.getTime());
        assert.deepEqual(await storedIds(), ['a']);
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
        const names = async (q: DeviceQuery) => (await store.listDevices(q)).map((d) => d.hostname);
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
        assert.deepEqual(await names({ pageSize: 100, inGroups: ['kiosks', 'tills'], deviceGroup: 'tills', afterHostname: 'till-05' }), ['till-07', 'till-10']);
        const all = await store.listDevices({ pageSize: 100 });
        assert.equal(all[0]?.device_group, 'kiosks');
        assert.deepEqual(all[0], summarizeReport(report('r-kiosk-1', 'kiosk-1', 1004, { device_group: 'kiosks' }), AT.getTime()));
      });

      test('reports whose keys hold "." or a leading "$" come back exactly as sent', async () => {
        const odd: IncomingReport = {
          report_id: 'odd-1',
          hostname: 'h',
          device_group: 'g',
          report_creation_time: 5,
          'top.level': 1,
          $top: 2,
          'x\uff05y': 3,
          labels: { 'com.docker.compose.project': 'pos', $ref: 'r', 'a\uff052e': 'already-escaped-looking' },
          apps_containers: [{ Labels: { 'org.opencontainers.image.version': '1.2' }, $weird: [{ 'deep.key': true }] }],
          apps_state: { web: { state: 'running', app_id: 1, running: 1, desired: 1 } },
        };
        assert.deepEqual(await store.insertReports([odd], AT), { inserted: 1, duplicates: 0 });
        const [stored] = await store.queryReports({ pageSize: 10 });
        assert.deepEqual(stored?.report, odd);
        assert.deepEqual((await store.queryReports({ pageSize: 10, hostname: 'h', deviceGroup: 'g' })).map((r) => r.report), [odd]);
        assert.deepEqual(await store.getDevice('h'), summarizeReport(odd, AT.getTime()));
        assert.deepEqual(await store.insertReports([odd], AT), { inserted: 0, duplicates: 1 });
      });

      test('purgeReports deletes only the reports stored before the date, returns the count, and leaves the device entries', async () => {
        const t = (s: number) => new Date(AT.getTime() + s * 1000);
        await store.insertReports([report(undefined, 'old', 1), report('o2', 'old', 2), report('o3', 'h', 3)], t(0));
        await store.insertReports([report('mid', 'h', 10)], t(10));
        await store.insertReports([report('new', 'h', 20)], t(20));

        assert.equal(await store.purgeReports(t(0)), 0, 'strictly before');
        assert.equal(await store.purgeReports(t(10)), 3);
        assert.deepEqual(await storedIds(), ['mid', 'new']);
        assert.equal(await store.purgeReports(t(10)), 0);
        assert.equal(await store.purgeReports(t(20.001)), 2);
        assert.deepEqual(await storedIds(), []);
        assert.equal(await store.purgeReports(t(3600)), 0);
        assert.deepEqual((await store.listDevices({ pageSize: 100 })).map((d) => d.hostname), ['h', 'old'], 'device entries stay');
        assert.equal((await store.getDevice('h'))?.report_id, 'new');
        // A purged report_id is no longer known: sent again (after the TTL), it is stored again.
        assert.deepEqual(await store.insertReports([report('new', 'h', 20)], t(30)), { inserted: 1, duplicates: 0 });
      });
    });
  });
}
