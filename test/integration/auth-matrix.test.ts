// Authentication and authorization on every route of the API: who may call what.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import bcrypt from 'bcryptjs';
import { ADMIN_AUTH, ADMIN_TOKEN, ADMIN_USER, basic, call, startManager, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertError, assertStatus, bearer, createApp, createCronJob, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';
import { IMAGE, ROUTES, V2, adminWhoami, bodyOf, deviceReport, expectAllowed, isAdminWrite, pathOf, refusalProblem, sentOf, whoamiOf, type Grants, type Names, type Route, type Whoami } from '../helpers/auth-table.ts';
import { tokenLookup } from '../../src/secrets.ts';

const denied = (r: Reply) => r.status === 403 && r.body?.code === 'ACCESS_DENIED';

function allowedProblem(r: Reply): string | null {
  if (r.status === 401 || denied(r) || r.status >= 500) return `refused or failed: ${r.status} ${r.text}`;
  return null;
}

function deniedProblem(r: Reply, route: Route): string | null {
  if (route.hidden) {
    return r.status === 404 && r.body?.code === 'DEVICE_NOT_FOUND' ? null : `expected 404 DEVICE_NOT_FOUND, got ${r.status} ${r.text}`;
  }
  if (r.status !== 403 || r.body?.code !== 'ACCESS_DENIED' || r.body?.access_allowed !== false) {
    return `expected 403 ACCESS_DENIED {access_allowed:false}, got ${r.status} ${r.text}`;
  }
  return null;
}

function readOnlyProblem(r: Reply): string | null {
  if (r.status !== 403 || r.body?.code !== 'READ_ONLY_INSTANCE' || r.body?.access_allowed !== false) {
    return `expected 403 READ_ONLY_INSTANCE {access_allowed:false}, got ${r.status} ${r.text}`;
  }
  return null;
}

let m: TestManager;
let userSeq = 0;

before(async () => {
  m = await startManager();
});
after(async () => {
  await m.close();
});

/** A fresh set of objects (and admin-only targets that grant nothing to anyone). */
async function freshObjects(): Promise<Names> {
  const names: Names = {
    app_name: uniq('app'),
    device_group: uniq('dg'),
    cron_job: uniq('cron'),
    user_name: uniq('target-user'),
    user_group: uniq('target-group'),
    hostname: uniq('device'),
  };
  await createApp(m.url, names.app_name);
  await createCronJob(m.url, names.cron_job);
  await createDeviceGroup(m.url, names.device_group, { apps: [names.app_name], cron_jobs: [names.cron_job] });
  await createUser(m.url, names.user_name, 'target-password', `target-token-${uniq('t')}`);
  await createUserGroup(m.url, names.user_group);
  assertStatus(await call(m.url, 'POST', `${V2}/reports`, { body: deviceReport(names) }), 200);
  return names;
}

/** A DB user in one group with these grants on `names`; returns its basic and bearer credentials. */
async function dbUser(names: Names, grants: Grants | null): Promise<{ basic: string; bearer: string; user: string; password: string; token: string; me: Whoami }> {
  userSeq += 1;
  const user = uniq(`u${userSeq}`);
  const password = `pw-${uniq('s')}`;
  const token = `tok-${uniq('s')}`;
  await createUser(m.url, user, password, token);
  if (grants !== null) {
    const level = grants.level;
    await createUserGroup(m.url, uniq('grp'), {
      group_members: [user],
      admin: grants.admin === true,
      pruning_allowed: grants.pruning === true,
      ...(level
        ? { apps: { [names.app_name]: level }, device_groups: { [names.device_group]: level }, cron_jobs: { [names.cron_job]: level } }
        : {}),
    });
  }
  return { basic: basic(user, password), bearer: bearer(token), user, password, token, me: whoamiOf(user, names, grants) };
}

/**
 * Runs the whole table as `auth` (against `url`, an edge manager when `edge`); returns the
 * mismatches. Every refusal must be the bare error, with nothing of the object in it;
 * GET /whoami must answer `me`, the caller's own permissions and nothing else.
 */
async function runMatrix(auth: string, names: Names, grants: Grants, me: Whoami, options: { url?: string; edge?: boolean } = {}): Promise<string[]> {
  const problems: string[] = [];
  for (const route of ROUTES) {
    const path = pathOf(route, names);
    const request = bodyOf(route, names);
    const reply = await call(options.url ?? m.url, route.method, path, { auth, ...request });
    const sent = sentOf(path, request.body);
    let problem: string | null;
    if (!expectAllowed(grants, route.need)) problem = deniedProblem(reply, route) ?? refusalProblem(reply, sent);
    else if (options.edge === true && isAdminWrite(route)) problem = readOnlyProblem(reply) ?? refusalProblem(reply, sent);
    else if (route.need === 'authenticated' && reply.status !== 200) problem = `expected 200, got ${reply.status} ${reply.text}`;
    else problem = allowedProblem(reply);
    if (problem === null && route.path === `${V2}/whoami` && !isDeepStrictEqual(reply.body, me)) problem = `expected ${JSON.stringify(me)}, got ${reply.text}`;
    if (problem) problems.push(`${route.method} ${route.path}: ${problem}`);
  }
  return problems;
}

/** Runs the whole table as `auth`, expecting 401 with this challenge and only the error on every route. */
async function runUnauthorized(url: string, auth: string | null, names: Names, challenge: string): Promise<string[]> {
  const problems: string[] = [];
  for (const route of ROUTES) {
    const path = pathOf(route, names);
    const request = bodyOf(route, names);
    const reply = await call(url, route.method, path, { auth, ...request });
    let problem: string | null = null;
    if (reply.status !== 401 || reply.body?.code !== 'UNAUTHORIZED') problem = `expected 401 UNAUTHORIZED, got ${reply.status} ${reply.text}`;
    else if (reply.headers.get('www-authenticate') !== challenge) problem = `WWW-Authenticate: ${reply.headers.get('www-authenticate')}`;
    else problem = refusalProblem(reply, sentOf(path, request.body));
    if (problem) problems.push(`${route.method} ${route.path}: ${problem}`);
  }
  return problems;
}

const BASIC_CHALLENGE = 'Basic realm="nebula"';
const BEARER_CHALLENGE = 'Bearer realm="Authentication Required"';

test('the table holds the 42 routes of the API (/metrics included), and the server has each of them', () => {
  assert.equal(ROUTES.filter((r) => !r.alias).length, 42);
  const keys = ROUTES.map((r) => `${r.method} ${r.path}`);
  assert.equal(new Set(keys).size, keys.length);
  for (const r of ROUTES) assert.ok(m.manager.app.hasRoute({ method: r.method as 'GET', url: r.path }), `${r.method} ${r.path}`);
});

describe('without valid credentials every route is 401', () => {
  const cases: [string, () => string | null, string][] = [
    ['no Authorization header', () => null, BASIC_CHALLENGE],
    ['a wrong admin password', () => basic(ADMIN_USER, 'wrong-password'), BASIC_CHALLENGE],
    ['an unknown user', () => basic('nobody-at-all', 'x'), BASIC_CHALLENGE],
    ['a wrong token', () => bearer('wrong-token'), BEARER_CHALLENGE],
    ['an unknown scheme', () => 'Digest abc', BASIC_CHALLENGE],
  ];
  for (const [label, auth, challenge] of cases) {
    test(label, async () => {
      const names = { app_name: 'a', device_group: 'd', cron_job: 'c', user_name: 'u', user_group: 'g', hostname: 'h' };
      assert.deepEqual(await runUnauthorized(m.url, auth(), names, challenge), []);
    });
  }

  test('a DB user with a wrong password or token is 401', async () => {
    const user = uniq('wrong');
    await createUser(m.url, user, 'right-password', 'right-token-x');
    assertError(await call(m.url, 'GET', `${V2}/status`, { auth: basic(user, 'wrong-password') }), 401, 'UNAUTHORIZED');
    assertError(await call(m.url, 'GET', `${V2}/status`, { auth: bearer('right-token-y') }), 401, 'UNAUTHORIZED');
    assertStatus(await call(m.url, 'GET', `${V2}/status`, { auth: basic(user, 'right-password') }), 200);
  });
});

describe('who may call what', () => {
  const principals: [string, Grants | null][] = [
    ['a user granted "ro": reads only', { level: 'ro' }],
    ['a user granted "rw": reads and writes (rw implies ro)', { level: 'rw' }],
    ['a user in no group: lists, status and reports only', null],
    ['a user with pruning_allowed: prunes', { pruning: true }],
    ['a user of an admin group: everything', { admin: true }],
  ];
  for (const [label, grants] of principals) {
    for (const scheme of ['basic', 'bearer'] as const) {
      test(`${label} (${scheme})`, async () => {
        const names = await freshObjects();
        const creds = await dbUser(names, grants);
        const problems = await runMatrix(creds[scheme], names, grants ?? {}, creds.me);
        assert.deepEqual(problems, []);
      });
    }
  }

  test('a grant on one object gives nothing on another', async () => {
    const names = await freshObjects();
    const other = await freshObjects();
    const creds = await dbUser(names, { level: 'rw' });
    const problems = await runMatrix(creds.basic, other, {}, creds.me);
    assert.deepEqual(problems, []);
  });

  // The config token's principal is named after the setting it matches (roles/manager/auth.ts).
  for (const [label, auth, name] of [
    ['the config admin by basic', () => ADMIN_AUTH, ADMIN_USER],
    ['the config admin by bearer', () => bearer(ADMIN_TOKEN), 'auth_token'],
  ] as const) {
    test(`${label}: everything`, async () => {
      const names = await freshObjects();
      assert.deepEqual(await runMatrix(auth(), names, { admin: true }, adminWhoami(name)), []);
    });
  }

  test('"ro" and "rw" on one app from two groups give rw, whichever group comes first', async () => {
    for (const order of [['a', 'b'], ['b', 'a']] as const) {
      const target = uniq('both');
      await createApp(m.url, target);
      const user = uniq('two');
      await createUser(m.url, user, 'pw-two-groups', `tok-${uniq('s')}`);
      await createUserGroup(m.url, `${order[0]}-${uniq('ro')}`, { group_members: [user], apps: { [target]: 'ro' } });
      await createUserGroup(m.url, `${order[1]}-${uniq('rw')}`, { group_members: [user], apps: { [target]: 'rw' } });
      const auth = basic(user, 'pw-two-groups');
      assertStatus(await call(m.url, 'GET', `${V2}/apps/${target}`, { auth }), 200);
      assertStatus(await call(m.url, 'POST', `${V2}/apps/${target}/stop`, { auth }), 202);
      assertStatus(await call(m.url, 'PUT', `${V2}/apps/${target}/update`, { auth, body: { running: true } }), 202);
    }
  });
});

describe('a replaced or removed secret is 401 on every route, even right after it worked', () => {
  /** An admin-group user (so nothing but its credentials can refuse it) whose credentials just authenticated. */
  async function warmAdminUser(): Promise<{ names: Names; creds: Awaited<ReturnType<typeof dbUser>> }> {
    const names = await freshObjects();
    const creds = await dbUser(names, { admin: true });
    for (const auth of [creds.basic, creds.bearer]) {
      // Twice: the second /info is answered by the fast path, from the authenticated-header cache.
      for (let i = 0; i < 2; i++) assertStatus(await call(m.url, 'GET', `${V2}/device_groups/${names.device_group}/info`, { auth }), 200);
      assertStatus(await call(m.url, 'GET', `${V2}/status`, { auth }), 200);
    }
    return { names, creds };
  }

  test('the old token after POST /users/:name/refresh', async () => {
    const { names, creds } = await warmAdminUser();
    const refreshed = await call(m.url, 'POST', `${V2}/users/${creds.user}/refresh`);
    assertStatus(refreshed, 200);
    assert.deepEqual(await runUnauthorized(m.url, creds.bearer, names, BEARER_CHALLENGE), []);
    assertStatus(await call(m.url, 'GET', `${V2}/device_groups/${names.device_group}/info`, { auth: bearer(refreshed.body.token) }), 200);
    assertStatus(await call(m.url, 'GET', `${V2}/status`, { auth: creds.basic }), 200);
  });

  test('the old password after PUT /users/:name/update', async () => {
    const { names, creds } = await warmAdminUser();
    const password = `new-pw-${uniq('s')}`;
    assertStatus(await call(m.url, 'PUT', `${V2}/users/${creds.user}/update`, { body: { password } }), 200);
    assert.deepEqual(await runUnauthorized(m.url, creds.basic, names, BASIC_CHALLENGE), []);
    assertStatus(await call(m.url, 'GET', `${V2}/device_groups/${names.device_group}/info`, { auth: basic(creds.user, password) }), 200);
    assertStatus(await call(m.url, 'GET', `${V2}/status`, { auth: creds.bearer }), 200);
  });

  test('the old token after PATCH /users/:name/update sets a new one', async () => {
    const { names, creds } = await warmAdminUser();
    const token = `new-tok-${uniq('s')}`;
    assertStatus(await call(m.url, 'PATCH', `${V2}/users/${creds.user}/update`, { body: { token } }), 200);
    assert.deepEqual(await runUnauthorized(m.url, creds.bearer, names, BEARER_CHALLENGE), []);
    assertStatus(await call(m.url, 'GET', `${V2}/status`, { auth: bearer(token) }), 200);
  });

  test("a deleted user's password and token", async () => {
    const { names, creds } = await warmAdminUser();
    assertStatus(await call(m.url, 'DELETE', `${V2}/users/${creds.user}`), 200);
    assert.deepEqual(await runUnauthorized(m.url, creds.bearer, names, BEARER_CHALLENGE), []);
    assert.deepEqual(await runUnauthorized(m.url, creds.basic, names, BASIC_CHALLENGE), []);
  });
});

describe('edge mode: refused by rbac as anywhere, then every admin write is 403 READ_ONLY_INSTANCE; reads and device reports served', () => {
  let edge: TestManager;
  before(async () => {
    // Another manager on the same store, as an edge region's manager reads the control's data.
    edge = await startManager({ mode: 'edge' }, { dir: m.dir });
  });
  after(async () => {
    await edge.close();
  });

  /** The objects as the control manager has them (the edge must have changed none). */
  async function snapshotOf(names: Names): Promise<string[]> {
    const paths = [`apps/${names.app_name}`, `device_groups/${names.device_group}`, `cron_jobs/${names.cron_job}`, `users/${names.user_name}`, `user_groups/${names.user_group}`];
    return Promise.all(paths.map(async (path) => (await call(m.url, 'GET', `${V2}/${path}`)).text));
  }

  const principals: [string, Grants | null][] = [
    ['a user in no group', null],
    ['a user granted "ro"', { level: 'ro' }],
    ['a user granted "rw"', { level: 'rw' }],
    ['a user with pruning_allowed', { pruning: true }],
    ['a user of an admin group', { admin: true }],
  ];
  for (const [label, grants] of principals) {
    test(label, async () => {
      const names = await freshObjects();
      const creds = await dbUser(names, grants);
      const before = await snapshotOf(names);
      assert.deepEqual(await runMatrix(creds.basic, names, grants ?? {}, creds.me, { url: edge.url, edge: true }), []);
      assert.deepEqual(await snapshotOf(names), before);
    });
  }

  // The config token's principal is named after the setting it matches (roles/manager/auth.ts).
  for (const [label, auth, name] of [
    ['the config admin by basic', () => ADMIN_AUTH, ADMIN_USER],
    ['the config admin by bearer', () => bearer(ADMIN_TOKEN), 'auth_token'],
  ] as const) {
    test(label, async () => {
      const names = await freshObjects();
      const before = await snapshotOf(names);
      assert.deepEqual(await runMatrix(auth(), names, { admin: true }, adminWhoami(name), { url: edge.url, edge: true }), []);
      assert.deepEqual(await snapshotOf(names), before);
    });
  }

  test('without valid credentials, and with a refreshed token, every route is 401', async () => {
    const names = await freshObjects();
    const creds = await dbUser(names, { admin: true });
    assertStatus(await call(edge.url, 'GET', `${V2}/status`, { auth: creds.bearer }), 200);
    assertStatus(await call(m.url, 'POST', `${V2}/users/${creds.user}/refresh`), 200);
    // The edge learns of the change through the store's change sequence (no shared memory).
    const deadline = Date.now() + 5000;
    while ((await call(edge.url, 'GET', `${V2}/status`, { auth: creds.bearer })).status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(await runUnauthorized(edge.url, creds.bearer, names, BEARER_CHALLENGE), []);
    assert.deepEqual(await runUnauthorized(edge.url, null, names, BASIC_CHALLENGE), []);
    assert.deepEqual(await runUnauthorized(edge.url, basic(creds.user, 'wrong-password'), names, BASIC_CHALLENGE), []);
  });
});

describe('public routes and disabled auth', () => {
  test('/healthz and /readyz answer 200 without credentials', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const reply = await call(m.url, 'GET', path, { auth: null });
      assertStatus(reply, 200);
      assert.equal(typeof reply.body.status, 'string');
    }
  });

  test('with auth disabled, requests without credentials are accepted', async () => {
    const open = await startManager({ authEnabled: false });
    try {
      const name = uniq('open');
      assertStatus(await call(open.url, 'GET', `${V2}/status`, { auth: null }), 200);
      assertStatus(await call(open.url, 'POST', `${V2}/apps/${name}`, { auth: null, body: IMAGE }), 200);
      assertStatus(await call(open.url, 'POST', `${V2}/apps/${name}/stop`, { auth: null }), 202);
      assertStatus(await call(open.url, 'POST', `${V2}/users/${name}`, { auth: null, body: {} }), 200);
      assertStatus(await call(open.url, 'POST', `${V2}/prune`, { auth: null }), 202);
      assertStatus(await call(open.url, 'GET', `${V2}/apps`, { auth: basic('anyone', 'anything') }), 200);
    } finally {
      await open.close();
    }
  });
});

test('an imported bcrypt user authenticates by basic and by bearer; bearer records its token_lookup', async () => {
  const user = uniq('bcrypt');
  const [password, token] = [`bc-pw-${uniq('s')}`, `bc-tok-${uniq('s')}`];
  const created = await m.manager.store.create('users', {
    user_name: user,
    password: bcrypt.hashSync(password, 4),
    token: bcrypt.hashSync(token, 4),
    token_lookup: null,
  });
  assert.ok(created.ok);
  assert.deepEqual(await m.manager.store.usersByTokenLookup(tokenLookup(token)), []);
  assertStatus(await call(m.url, 'GET', `${V2}/status`, { auth: basic(user, password) }), 200);
  assertError(await call(m.url, 'GET', `${V2}/status`, { auth: basic(user, `${password}x`) }), 401, 'UNAUTHORIZED');
  assertStatus(await call(m.url, 'GET', `${V2}/status`, { auth: bearer(token) }), 200);
  const found = await m.manager.store.usersByTokenLookup(tokenLookup(token));
  assert.deepEqual(
    found.map((u) => u.user_name),
    [user],
  );
  assertStatus(await call(m.url, 'GET', `${V2}/apps`, { auth: bearer(token) }), 200);
  assertError(await call(m.url, 'GET', `${V2}/status`, { auth: bearer(`${token}x`) }), 401, 'UNAUTHORIZED');
});
