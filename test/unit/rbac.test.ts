// RBAC: merging the permissions of a user's groups, and deciding every kind of access.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isAllowed, mergePermissions, type Access, type ObjectKind, type Permissions, type Principal } from '../../roles/manager/rbac.ts';
import type { Level, UserGroupDoc } from '../../src/model/user.ts';

function group(name: string, fields: Partial<UserGroupDoc> = {}): UserGroupDoc {
  return { user_group: name, group_members: ['u'], pruning_allowed: false, apps: {}, device_groups: {}, admin: false, cron_jobs: {}, ...fields };
}

function user(permissions: Partial<Permissions> = {}): Principal {
  return { type: 'user', name: 'u', permissions: { admin: false, pruning_allowed: false, apps: {}, device_groups: {}, cron_jobs: {}, ...permissions } };
}

const KINDS: readonly ObjectKind[] = ['apps', 'device_groups', 'cron_jobs'];
const LEVELS: readonly Level[] = ['ro', 'rw'];
const PARAM: Record<ObjectKind, string> = { apps: 'app_name', device_groups: 'device_group', cron_jobs: 'cron_job' };
const object = (kind: ObjectKind, level: Level): Access => ({ type: 'object', kind, level, param: PARAM[kind] });

describe('mergePermissions', () => {
  test('no groups: nothing granted', () => {
    assert.deepEqual(mergePermissions([]), { admin: false, pruning_allowed: false, apps: {}, device_groups: {}, cron_jobs: {} });
  });

  test('admin and pruning_allowed are ORed', () => {
    const merged = mergePermissions([group('a', { admin: true }), group('b'), group('c', { pruning_allowed: true }), group('d')]);
    assert.equal(merged.admin, true);
    assert.equal(merged.pruning_allowed, true);
    const none = mergePermissions([group('a'), group('b')]);
    assert.equal(none.admin, false);
    assert.equal(none.pruning_allowed, false);
  });

  test('rw wins over ro whichever order the groups come in', () => {
    for (const kind of KINDS) {
      const rwFirst = mergePermissions([group('a', { [kind]: { x: 'rw' } }), group('b', { [kind]: { x: 'ro' } })]);
      const roFirst = mergePermissions([group('a', { [kind]: { x: 'ro' } }), group('b', { [kind]: { x: 'rw' } })]);
      assert.equal(rwFirst[kind].x, 'rw');
      assert.equal(roFirst[kind].x, 'rw');
    }
  });

  test('grants of different names and kinds are united, kinds kept apart', () => {
    const merged = mergePermissions([
      group('a', { apps: { one: 'ro' }, device_groups: { dg: 'rw' } }),
      group('b', { apps: { two: 'rw' }, cron_jobs: { c: 'ro' } }),
    ]);
    assert.deepEqual(merged.apps, { one: 'ro', two: 'rw' });
    assert.deepEqual(merged.device_groups, { dg: 'rw' });
    assert.deepEqual(merged.cron_jobs, { c: 'ro' });
  });

  test('a grant named like an Object.prototype key is kept as a plain grant', () => {
    const merged = mergePermissions([group('a', { apps: JSON.parse('{"constructor":"ro"}') }), group('b', { apps: JSON.parse('{"constructor":"rw"}') })]);
    assert.equal(merged.apps.constructor, 'rw');
    assert.equal(Object.hasOwn(merged.apps, 'toString'), false);
  });
});

describe('isAllowed', () => {
  const principals: Record<string, Principal> = {
    configAdmin: { type: 'admin', name: 'nebula' },
    adminUser: user({ admin: true }),
    pruner: user({ pruning_allowed: true }),
    nobody: user(),
  };

  test('public and authenticated: every principal', () => {
    for (const p of Object.values(principals)) {
      assert.equal(isAllowed(p, { type: 'public' }), true);
      assert.equal(isAllowed(p, { type: 'authenticated' }), true);
    }
  });

  test('the config admin and admin users may do everything', () => {
    for (const p of [principals.configAdmin!, principals.adminUser!]) {
      assert.equal(isAllowed(p, { type: 'admin' }), true);
      assert.equal(isAllowed(p, { type: 'pruning' }), true);
      for (const kind of KINDS) for (const level of LEVELS) assert.equal(isAllowed(p, object(kind, level), 'anything'), true);
    }
  });

  test('admin access: only admins', () => {
    assert.equal(isAllowed(principals.pruner!, { type: 'admin' }), false);
    assert.equal(isAllowed(principals.nobody!, { type: 'admin' }), false);
    const everything = user({ pruning_allowed: true, apps: { a: 'rw' }, device_groups: { a: 'rw' }, cron_jobs: { a: 'rw' } });
    assert.equal(isAllowed(everything, { type: 'admin' }), false);
  });

  test('pruning: pruning_allowed (global), not object grants', () => {
    assert.equal(isAllowed(principals.pruner!, { type: 'pruning' }), true);
    assert.equal(isAllowed(principals.nobody!, { type: 'pruning' }), false);
    assert.equal(isAllowed(user({ device_groups: { g: 'rw' } }), { type: 'pruning' }), false);
    // pruning_allowed grants no object access.
    assert.equal(isAllowed(principals.pruner!, object('device_groups', 'ro'), 'g'), false);
  });

  test('rw implies ro; ro does not allow rw', () => {
    for (const kind of KINDS) {
      const rw = user({ [kind]: { x: 'rw' } });
      const ro = user({ [kind]: { x: 'ro' } });
      assert.equal(isAllowed(rw, object(kind, 'ro'), 'x'), true, `${kind} rw -> ro`);
      assert.equal(isAllowed(rw, object(kind, 'rw'), 'x'), true, `${kind} rw -> rw`);
      assert.equal(isAllowed(ro, object(kind, 'ro'), 'x'), true, `${kind} ro -> ro`);
      assert.equal(isAllowed(ro, object(kind, 'rw'), 'x'), false, `${kind} ro -> rw`);
    }
  });

  test('a grant counts only for its name and its kind', () => {
    const p = user({ apps: { x: 'rw' } });
    assert.equal(isAllowed(p, object('apps', 'ro'), 'y'), false);
    assert.equal(isAllowed(p, object('apps', 'ro'), 'X'), false);
    assert.equal(isAllowed(p, object('device_groups', 'ro'), 'x'), false);
    assert.equal(isAllowed(p, object('cron_jobs', 'ro'), 'x'), false);
    assert.equal(isAllowed(p, object('apps', 'ro')), false);
    assert.equal(isAllowed(p, object('apps', 'ro'), ''), false);
  });

  test('names that are Object.prototype keys are not granted', () => {
    const p = user({ apps: { x: 'rw' } });
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
      for (const kind of KINDS) {
        for (const level of LEVELS) assert.equal(isAllowed(p, object(kind, level), name), false, `${kind}/${level}/${name}`);
      }
    }
    // Also after a merge, which builds the maps itself.
    const merged: Principal = { type: 'user', name: 'u', permissions: mergePermissions([group('a', { apps: { x: 'ro' } })]) };
    assert.equal(isAllowed(merged, object('apps', 'ro'), 'constructor'), false);
    assert.equal(isAllowed(merged, object('apps', 'ro'), '__proto__'), false);
    assert.equal(isAllowed(merged, object('apps', 'ro'), 'x'), true);
  });

  test('a merged JSON group naming __proto__ grants nothing', () => {
    const parsed = JSON.parse('{"user_group":"g","group_members":["u"],"pruning_allowed":false,"apps":{"__proto__":"rw"},"device_groups":{},"admin":false,"cron_jobs":{}}') as UserGroupDoc;
    const p: Principal = { type: 'user', name: 'u', permissions: mergePermissions([parsed]) };
    assert.equal(isAllowed(p, object('apps', 'rw'), '__proto__'), false);
    assert.equal(isAllowed(p, object('apps', 'ro'), 'x'), false);
  });
});
