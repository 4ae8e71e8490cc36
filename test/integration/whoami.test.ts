// GET /api/v2/whoami: the caller's own permissions, merged from its groups — nothing of
// another user, no secret or hash. (Who may call it: auth-matrix.test.ts.)

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_AUTH, ADMIN_TOKEN, ADMIN_USER, basic, call, managerSuite, type TestManager } from '../helpers/manager.ts';
import { assertError, assertStatus, bearer, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';

const WHOAMI = '/api/v2/whoami';

let m: TestManager;
managerSuite((manager) => (m = manager));

const whoami = (auth: string | null) => call(m.url, 'GET', WHOAMI, { auth });

/** A user with fresh secrets; its basic and bearer credentials. */
async function user(): Promise<{ name: string; password: string; token: string; basic: string; bearer: string }> {
  const name = uniq('who');
  const [password, token] = [`pw-${uniq('s')}`, `tok-${uniq('s')}`];
  assertStatus(await createUser(m.url, name, password, token), 200);
  return { name, password, token, basic: basic(name, password), bearer: bearer(token) };
}

const NOTHING = { admin: false, pruning_allowed: false, apps: {}, device_groups: {}, cron_jobs: {} };

describe('GET /whoami', () => {
  test('the configured admin: admin, may prune, no grants listed (basic and bearer)', async () => {
    const everything = { admin: true, pruning_allowed: true, apps: {}, device_groups: {}, cron_jobs: {} };
    const byBasic = await whoami(ADMIN_AUTH);
    assertStatus(byBasic, 200);
    assert.deepEqual(byBasic.body, { user_name: ADMIN_USER, ...everything });
    const byBearer = await whoami(bearer(ADMIN_TOKEN));
    assertStatus(byBearer, 200);
    // The config token's principal is named after its setting (roles/manager/auth.ts).
    assert.deepEqual(byBearer.body, { user_name: 'auth_token', ...everything });
  });

  test('a user in no group: nothing', async () => {
    const u = await user();
    const reply = await whoami(u.basic);
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, { user_name: u.name, ...NOTHING });
  });

  test('a user in two groups: merged, rw wins over ro whichever group comes first; the same by bearer', async () => {
    for (const order of [['a', 'b'], ['b', 'a']] as const) {
      const u = await user();
      const [shared, onlyRo, dg, cron] = [uniq('app'), uniq('app'), uniq('dg'), uniq('cron')];
      await createUserGroup(m.url, `${order[0]}-${uniq('ro')}`, {
        group_members: [u.name],
        apps: { [shared]: 'ro', [onlyRo]: 'ro' },
        device_groups: { [dg]: 'rw' },
      });
      await createUserGroup(m.url, `${order[1]}-${uniq('rw')}`, {
        group_members: [u.name],
        pruning_allowed: true,
        apps: { [shared]: 'rw' },
        device_groups: { [dg]: 'ro' },
        cron_jobs: { [cron]: 'ro' },
      });
      const expected = {
        user_name: u.name,
        admin: false,
        pruning_allowed: true,
        apps: { [shared]: 'rw', [onlyRo]: 'ro' },
        device_groups: { [dg]: 'rw' },
        cron_jobs: { [cron]: 'ro' },
      };
      for (const auth of [u.basic, u.bearer]) {
        const reply = await whoami(auth);
        assertStatus(reply, 200);
        assert.deepEqual(reply.body, expected);
      }
    }
  });

  test('a user of an admin group: admin, its own flags as granted', async () => {
    const u = await user();
    await createUserGroup(m.url, uniq('admins'), { group_members: [u.name], admin: true });
    const reply = await whoami(u.bearer);
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, { ...NOTHING, user_name: u.name, admin: true });
  });

  test('nothing of another user, no secret or hash; a changed grant shows at once', async () => {
    const me = await user();
    const other = await user();
    const [mine, theirs, theirGroup, myGroup] = [uniq('mine'), uniq('theirs'), uniq('their-group'), uniq('my-group')];
    await createUserGroup(m.url, myGroup, { group_members: [me.name], apps: { [mine]: 'ro' } });
    await createUserGroup(m.url, theirGroup, { group_members: [other.name], admin: true, pruning_allowed: true, apps: { [theirs]: 'rw' } });
    const reply = await whoami(me.basic);
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, { ...NOTHING, user_name: me.name, apps: { [mine]: 'ro' } });
    for (const absent of [other.name, theirs, theirGroup, myGroup, me.password, me.token, other.password, other.token, '$scrypt', '<hidden>']) {
      assert.ok(!reply.text.includes(absent), `${absent} in ${reply.text}`);
    }
    assertStatus(await call(m.url, 'PATCH', `/api/v2/user_groups/${myGroup}/update`, { body: { apps: { [mine]: 'rw' } } }), 200);
    assert.deepEqual((await whoami(me.basic)).body.apps, { [mine]: 'rw' });
  });

  test('without valid credentials: 401', async () => {
    const u = await user();
    assertError(await whoami(null), 401, 'UNAUTHORIZED');
    assertError(await whoami(basic(u.name, 'wrong-password')), 401, 'UNAUTHORIZED');
    assertError(await whoami(bearer('wrong-token')), 401, 'UNAUTHORIZED');
  });
});
