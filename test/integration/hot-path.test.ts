// The devices' hot path (roles/manager/info-fast-path.ts and the authenticated-header cache in
// auth.ts): an /info answered without fastify's router must be the route's answer byte for byte,
// and no credential, permission or user change may be outlived by a cached admission — not on
// this manager, and within the change watcher's interval on another one sharing the store.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { basic, call, startManager, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertError, assertStatus, bearer, createApp, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';

const V2 = '/api/v2';
let m: TestManager;
let group: string;
let other: string;

before(async () => {
  m = await startManager();
  group = uniq('hot');
  other = uniq('cold');
  const app = uniq('app');
  await createApp(m.url, app, { docker_image: 'registry.example.com/web:1', env_vars: { REGION: 'eu' }, starting_ports: [{ 8080: '80' }] });
  await createDeviceGroup(m.url, group, { apps: [app] });
  await createDeviceGroup(m.url, other, { apps: [app] });
});
after(async () => {
  await m.close();
});

const info = (auth: string | null, name = group, headers: Record<string, string> = {}, query = '') =>
  call(m.url, 'GET', `${V2}/device_groups/${name}/info${query}`, { auth, headers });

const HEADERS = ['etag', 'cache-control', 'content-type', 'content-length', 'connection', 'keep-alive'];
const view = (r: Reply) => ({ status: r.status, text: r.text, headers: Object.fromEntries(HEADERS.map((h) => [h, r.headers.get(h)])) });

/** A user reading `name` through a user group with ro on it. */
async function reader(name = group): Promise<{ user: string; password: string; token: string; userGroup: string }> {
  const user = uniq('dev');
  const password = `pw-${uniq('s')}`;
  const token = `tok-${uniq('s')}`;
  await createUser(m.url, user, password, token);
  const userGroup = uniq('devices');
  await createUserGroup(m.url, userGroup, { group_members: [user], device_groups: { [name]: 'ro' } });
  return { user, password, token, userGroup };
}

/** Asks until `accept` is true of the answer (bounded); returns how long it took. */
async function until(ask: () => Promise<Reply>, accept: (r: Reply) => boolean, ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (accept(await ask())) return Date.now() - started;
    if (Date.now() - started > ms) assert.fail(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the /info hot path', () => {
  test('answers exactly as the route does: 200, 304, for basic and bearer callers', async () => {
    const { user, password, token } = await reader();
    for (const auth of [basic(user, password), bearer(token)]) {
      const first = await info(auth); // a fresh header: through fastify
      assertStatus(first, 200);
      const again = await info(auth); // admitted from the cache, answered before the router
      assert.deepEqual(view(again), view(first));
      const etag = first.headers.get('etag')!;
      const notModified = await info(auth, group, { 'if-none-match': etag });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.text, '');
      assert.equal(notModified.headers.get('etag'), etag);
      assert.equal(notModified.headers.get('cache-control'), 'no-cache');
      assert.equal(notModified.headers.get('content-length'), null);
      assert.deepEqual(view(await info(auth, group, { 'if-none-match': etag })), view(notModified));
      // A stale tag and ?wait: nothing to hold, the new config at once.
      assert.deepEqual(view(await info(auth, group, { 'if-none-match': '"stale"' }, '?wait=30')), view(first));
    }
  });

  test('a cached caller still gets only the groups it may read', async () => {
    const { user, password } = await reader();
    const auth = basic(user, password);
    assertStatus(await info(auth), 200);
    assertStatus(await info(auth), 200);
    assertError(await info(auth, other), 403, 'ACCESS_DENIED');
    assertError(await info(auth, uniq('missing')), 403, 'ACCESS_DENIED');
  });

  test('a matching tag with ?wait is still held (a long-poll), and bad queries still refused', async () => {
    const { user, password } = await reader();
    const auth = basic(user, password);
    const first = await info(auth);
    const etag = first.headers.get('etag')!;
    const started = Date.now();
    const held = await info(auth, group, { 'if-none-match': etag }, '?wait=1');
    assert.equal(held.status, 304);
    assert.ok(Date.now() - started >= 900, `answered after ${Date.now() - started} ms: not held`);
    assertError(await info(auth, group, {}, '?wait=soon'), 400, 'INVALID_QUERY');
    assertStatus(await info(auth, group, {}, '?wait=0&x=1'), 200);
  });

  test('a wrong password is refused though the right one was just admitted', async () => {
    const { user, password } = await reader();
    assertStatus(await info(basic(user, password)), 200);
    assertStatus(await info(basic(user, password)), 200);
    assertError(await info(basic(user, `${password}x`)), 401, 'UNAUTHORIZED');
    assertError(await info(null), 401, 'UNAUTHORIZED');
  });

  test('a changed password, a refreshed token, a removed grant, a deleted user: refused at once', async () => {
    const a = await reader();
    const oldBasic = basic(a.user, a.password);
    const oldBearer = bearer(a.token);
    for (const auth of [oldBasic, oldBearer, oldBasic, oldBearer]) assertStatus(await info(auth), 200);

    assertStatus(await call(m.url, 'PUT', `${V2}/users/${a.user}/update`, { body: { password: 'new-password-1' } }), 200);
    assertError(await info(oldBasic), 401, 'UNAUTHORIZED');
    assertStatus(await info(basic(a.user, 'new-password-1')), 200);

    assertStatus(await call(m.url, 'POST', `${V2}/users/${a.user}/refresh`), 200);
    assertError(await info(oldBearer), 401, 'UNAUTHORIZED');

    const newAuth = basic(a.user, 'new-password-1');
    assertStatus(await info(newAuth), 200);
    assertStatus(await call(m.url, 'PUT', `${V2}/user_groups/${a.userGroup}/update`, { body: { device_groups: {} } }), 200);
    assertError(await info(newAuth), 403, 'ACCESS_DENIED');

    const b = await reader();
    const bAuth = basic(b.user, b.password);
    assertStatus(await info(bAuth), 200);
    assertStatus(await call(m.url, 'DELETE', `${V2}/users/${b.user}`), 200);
    assertError(await info(bAuth), 401, 'UNAUTHORIZED');
  });

  test('a password changed through another manager on the same store is refused here within a second', async () => {
    const second = await startManager({}, { dir: m.dir });
    try {
      const { user, password } = await reader();
      const auth = basic(user, password);
      assertStatus(await info(auth), 200);
      assertStatus(await info(auth), 200);
      assertStatus(await call(second.url, 'PUT', `${V2}/users/${user}/update`, { body: { password: 'rotated-password' } }), 200);
      const took = await until(() => info(auth), (r) => r.status === 401, 3000);
      assert.ok(took <= 1000, `the old password still admitted for ${took} ms`);
      assertStatus(await info(basic(user, 'rotated-password')), 200);
    } finally {
      await second.close();
    }
  });
});
