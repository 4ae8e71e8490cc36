// /api/v2/users and /api/v2/user_groups over HTTP, and secrets never stored or shown in clear.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { basic, call, managerSuite, type TestManager } from '../helpers/manager.ts';
import { MONGO_URL } from '../helpers/mongo.ts';
import { TEST_STORE, schemaNameOf } from '../helpers/store.ts';
import { assertError, assertOid, assertStatus, bearer, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';

const USERS = '/api/v2/users';
const GROUPS = '/api/v2/user_groups';

let m: TestManager;
managerSuite((manager) => (m = manager));

const req = (method: string, path: string, body?: unknown) => call(m.url, method, path, body === undefined ? {} : { body });
const status = (auth: string) => call(m.url, 'GET', '/api/v2/status', { auth });

/** No field of a user reply holds a hash or one of these secrets. */
function assertNoSecrets(body: unknown, secrets: string[]): void {
  const text = JSON.stringify(body);
  assert.ok(!text.includes('$scrypt'), text);
  assert.ok(!/\$2[aby]\$/.test(text), text);
  for (const secret of secrets) assert.ok(!text.includes(secret), `a secret in ${text}`);
}

describe('users', () => {
  test('create answers the token in clear once; GET hides both secrets', async () => {
    const name = uniq('user');
    const [password, token] = [`pw-${uniq('s')}`, `tok-${uniq('s')}`];
    const reply = await createUser(m.url, name, password, token);
    assert.equal(reply.body.user_name, name);
    assert.equal(reply.body.token, token);
    assert.equal(reply.body._id, undefined);
    assertNoSecrets({ ...reply.body, token: '' }, [password]);
    const get = await req('GET', `${USERS}/${name}`);
    assertStatus(get, 200);
    assert.deepEqual(get.body, { user_name: name, password: '<hidden>', token: '<hidden>' });
    assertNoSecrets(get.body, [password, token]);
  });

  test('without a token, a 43-character one is generated and works', async () => {
    const name = uniq('gen');
    const password = `pw-${uniq('s')}`;
    const reply = await req('POST', `${USERS}/${name}`, { password });
    assertStatus(reply, 200);
    assert.match(reply.body.token, /^[A-Za-z0-9_-]{43}$/);
    assertStatus(await status(bearer(reply.body.token)), 200);
    assertStatus(await status(basic(name, password)), 200);
    const noSecrets = await req('POST', `${USERS}/${uniq('bare')}`, {});
    assertStatus(noSecrets, 200);
    assert.match(noSecrets.body.token, /^[A-Za-z0-9_-]{43}$/);
  });

  test('list names users; a duplicate is 403 {user_exists:true}', async () => {
    const name = uniq('user');
    await createUser(m.url, name, 'p1-secret', `t-${uniq('s')}`);
    const list = await req('GET', USERS);
    assertStatus(list, 200);
    assert.deepEqual(Object.keys(list.body), ['users']);
    assert.ok(list.body.users.includes(name));
    assertError(await req('POST', `${USERS}/${name}`, { password: 'x' }), 403, 'USER_EXISTS', { user_exists: true });
  });

  test('a password change: the new password authenticates, the old one is 401', async () => {
    const name = uniq('pw');
    const [oldPw, newPw] = [`old-${uniq('s')}`, `new-${uniq('s')}`];
    await createUser(m.url, name, oldPw, `t-${uniq('s')}`);
    assertStatus(await status(basic(name, oldPw)), 200);
    const reply = await req('PUT', `${USERS}/${name}/update`, { password: newPw });
    assertStatus(reply, 200);
    assertOid(reply.body._id);
    assert.equal(reply.body.user_name, name);
    assertNoSecrets(reply.body, [oldPw, newPw]);
    assertStatus(await status(basic(name, newPw)), 200);
    assertError(await status(basic(name, oldPw)), 401, 'UNAUTHORIZED');
  });

  test('a token set by PATCH replaces the old one', async () => {
    const name = uniq('tok');
    const [oldTok, newTok] = [`old-${uniq('s')}`, `new-${uniq('s')}`];
    await createUser(m.url, name, 'pw-secret-1', oldTok);
    assertStatus(await status(bearer(oldTok)), 200);
    const reply = await req('PATCH', `${USERS}/${name}/update`, { token: newTok });
    assertStatus(reply, 200);
    assertNoSecrets(reply.body, [oldTok, newTok]);
    assertStatus(await status(bearer(newTok)), 200);
    assertError(await status(bearer(oldTok)), 401, 'UNAUTHORIZED');
  });

  test('refresh answers a new token; the new one authenticates and the old one is 401', async () => {
    const name = uniq('ref');
    const oldTok = `old-${uniq('s')}`;
    await createUser(m.url, name, 'pw-secret-2', oldTok);
    assertStatus(await status(bearer(oldTok)), 200);
    const reply = await req('POST', `${USERS}/${name}/refresh`);
    assertStatus(reply, 200);
    assert.deepEqual(Object.keys(reply.body), ['token']);
    assert.match(reply.body.token, /^[A-Za-z0-9_-]{43}$/);
    assertStatus(await status(bearer(reply.body.token)), 200);
    assertError(await status(bearer(oldTok)), 401, 'UNAUTHORIZED');
  });

  test('update and refresh of a missing user are 403 {user_name:false}', async () => {
    const name = uniq('ghost');
    assertError(await req('PUT', `${USERS}/${name}/update`, { password: 'x' }), 403, 'USER_NOT_FOUND', { user_name: false });
    assertError(await req('POST', `${USERS}/${name}/refresh`), 403, 'USER_NOT_FOUND', { user_name: false });
  });

  test('update refuses an empty body and unknown keys', async () => {
    const name = uniq('upd');
    await createUser(m.url, name, 'pw-secret-3', `t-${uniq('s')}`);
    assertError(await req('PUT', `${USERS}/${name}/update`, {}), 400, 'MISSING_PARAMETERS', { missing_parameters: true });
    assertError(await req('PUT', `${USERS}/${name}/update`, { admin: true }), 400, 'UNKNOWN_PARAMETERS');
    assertError(await req('PUT', `${USERS}/${name}/update`, { user_name: 'other' }), 400, 'READ_ONLY_PARAMETER');
  });

  test('delete answers 200 {}, then GET and DELETE are 403 {user_exists:false} and it cannot log in', async () => {
    const name = uniq('del');
    const token = `t-${uniq('s')}`;
    await createUser(m.url, name, 'pw-secret-4', token);
    const del = await req('DELETE', `${USERS}/${name}`);
    assertStatus(del, 200);
    assert.deepEqual(del.body, {});
    assertError(await req('GET', `${USERS}/${name}`), 403, 'USER_NOT_FOUND', { user_exists: false });
    assertError(await req('DELETE', `${USERS}/${name}`), 403, 'USER_NOT_FOUND', { user_exists: false });
    assertError(await status(bearer(token)), 401, 'UNAUTHORIZED');
    assertError(await status(basic(name, 'pw-secret-4')), 401, 'UNAUTHORIZED');
  });

  /** Everything the store holds at rest: the SQLite files' bytes, or every MongoDB document. */
  async function storeBytes(): Promise<Buffer> {
    if (TEST_STORE === 'mongo') {
      const client = new MongoClient(MONGO_URL);
      try {
        const db = client.db(schemaNameOf(m.dir));
        const docs: unknown[] = [];
        for (const { name } of await db.listCollections().toArray()) docs.push(...(await db.collection(name).find().toArray()));
        assert.ok(docs.length > 0);
        return Buffer.from(JSON.stringify(docs));
      } finally {
        await client.close();
      }
    }
    const db = join(m.dir, 'nebula.db');
    const bytes = [db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
    assert.ok(bytes.length > 0);
    return Buffer.concat(bytes);
  }

  test('the store never holds a password or token in clear', async () => {
    const name = uniq('disk');
    const [password, token] = [`clear-password-${uniq('s')}`, `clear-token-${uniq('s')}`];
    await createUser(m.url, name, password, token);
    const refreshed = (await req('POST', `${USERS}/${name}/refresh`)).body.token as string;
    const newPassword = `clear-password-2-${uniq('s')}`;
    assertStatus(await req('PUT', `${USERS}/${name}/update`, { password: newPassword }), 200);
    assertStatus(await status(bearer(refreshed)), 200);
    const all = await storeBytes();
    assert.ok(all.includes(Buffer.from(name)), 'the user is in what was read');
    for (const secret of [password, token, refreshed, newPassword]) {
      assert.equal(all.includes(Buffer.from(secret)), false, `${secret} is stored in clear`);
    }
  });

  test('invalid user names are 400 INVALID_NAME', async () => {
    for (const name of ['-x', 'a%20b', 'x'.repeat(129)]) {
      assertError(await req('POST', `${USERS}/${name}`, { password: 'x' }), 400, 'INVALID_NAME');
    }
    assertStatus(await req('POST', `${USERS}/first.last@example.com`, { password: 'x' }), 200);
  });
});

describe('user groups', () => {
  test('create answers the defaults; GET and list show it', async () => {
    const name = uniq('ug');
    const reply = await createUserGroup(m.url, name);
    assert.deepEqual(reply.body, {
      user_group: name,
      group_members: [],
      pruning_allowed: false,
      apps: {},
      device_groups: {},
      admin: false,
      cron_jobs: {},
    });
    const get = await req('GET', `${GROUPS}/${name}`);
    assertStatus(get, 200);
    assert.deepEqual(get.body, reply.body);
    const list = await req('GET', GROUPS);
    assertStatus(list, 200);
    assert.ok(list.body.user_groups.includes(name));
  });

  test('invalid permissions and fields are 400', async () => {
    const bodies = [
      { apps: { web: 'admin' } },
      { device_groups: { dg: true } },
      { cron_jobs: 'rw' },
      { admin: 'yes' },
      { group_members: 'alice' },
      { pruning_allowed: 1 },
      { superuser: true },
    ];
    for (const body of bodies) {
      const reply = await req('POST', `${GROUPS}/${uniq('bad')}`, body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.ok(['INVALID_PARAMETER', 'UNKNOWN_PARAMETERS'].includes(reply.body.code), reply.text);
    }
    assertError(await req('POST', `${GROUPS}/${uniq('bad')}`, { apps: { web: 'admin' } }), 400, 'INVALID_PARAMETER');
  });

  test('a duplicate is 403 {user_group_exists:true}', async () => {
    const name = uniq('ug');
    await createUserGroup(m.url, name);
    assertError(await req('POST', `${GROUPS}/${name}`, {}), 403, 'USER_GROUP_EXISTS', { user_group_exists: true });
  });

  test('PUT update answers 200 with _id and sets only the fields sent', async () => {
    const name = uniq('ug');
    await createUserGroup(m.url, name, { apps: { web: 'ro' }, group_members: ['alice'] });
    const reply = await req('PUT', `${GROUPS}/${name}/update`, { admin: true, device_groups: { dg: 'rw' } });
    assertStatus(reply, 200);
    const { _id, ...doc } = reply.body;
    assertOid(_id);
    assert.deepEqual(doc, {
      user_group: name,
      group_members: ['alice'],
      pruning_allowed: false,
      apps: { web: 'ro' },
      device_groups: { dg: 'rw' },
      admin: true,
      cron_jobs: {},
    });
    assertError(await req('PATCH', `${GROUPS}/${name}/update`, {}), 400, 'MISSING_PARAMETERS');
    assertError(await req('PATCH', `${GROUPS}/${name}/update`, { apps: { web: 'x' } }), 400, 'INVALID_PARAMETER');
  });

  test('PUT, GET and DELETE of a missing group are 403 {user_group_exists:false}', async () => {
    const name = uniq('ghost');
    assertError(await req('PUT', `${GROUPS}/${name}/update`, { admin: false }), 403, 'USER_GROUP_NOT_FOUND', { user_group_exists: false });
    assertError(await req('GET', `${GROUPS}/${name}`), 403, 'USER_GROUP_NOT_FOUND', { user_group_exists: false });
    assertError(await req('DELETE', `${GROUPS}/${name}`), 403, 'USER_GROUP_NOT_FOUND', { user_group_exists: false });
  });

  test('delete answers 200 {}', async () => {
    const name = uniq('ug');
    await createUserGroup(m.url, name);
    const del = await req('DELETE', `${GROUPS}/${name}`);
    assertStatus(del, 200);
    assert.deepEqual(del.body, {});
    assertError(await req('GET', `${GROUPS}/${name}`), 403, 'USER_GROUP_NOT_FOUND');
  });
});
