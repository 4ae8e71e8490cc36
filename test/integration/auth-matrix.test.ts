// Authentication and authorization on every route of the API: who may call what.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { ADMIN_AUTH, ADMIN_TOKEN, ADMIN_USER, basic, call, startManager, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertError, assertStatus, bearer, createApp, createCronJob, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';
import { tokenLookup } from '../../src/secrets.ts';

type Level = 'ro' | 'rw';
type Need = 'authenticated' | 'admin' | 'pruning' | { kind: 'apps' | 'device_groups' | 'cron_jobs'; level: Level };

interface Route {
  method: string;
  /** Fastify syntax, so the table can be checked against the server's routes. */
  path: string;
  need: Need;
  body?: unknown | ((names: Names) => unknown);
  /** PATCH, an alias of a PUT already in the table. */
  alias?: boolean;
  /** Refused as 404 DEVICE_NOT_FOUND rather than 403, so that it does not tell what exists. */
  hidden?: boolean;
}

const app = (level: Level): Need => ({ kind: 'apps', level });
const dg = (level: Level): Need => ({ kind: 'device_groups', level });
const cron = (level: Level): Need => ({ kind: 'cron_jobs', level });
const V2 = '/api/v2';
const IMAGE = { docker_image: 'nginx:1' };
const CRON_BODY = { docker_image: 'busybox:1', schedule: '* * * * *' };

const ROUTES: Route[] = [
  { method: 'GET', path: `${V2}/status`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/apps`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/apps/:app_name`, need: app('ro') },
  { method: 'POST', path: `${V2}/apps/:app_name`, need: app('rw'), body: IMAGE },
  { method: 'POST', path: `${V2}/apps/:app_name/stop`, need: app('rw') },
  { method: 'POST', path: `${V2}/apps/:app_name/start`, need: app('rw') },
  { method: 'POST', path: `${V2}/apps/:app_name/restart`, need: app('rw') },
  { method: 'POST', path: `${V2}/apps/:app_name/update`, need: app('rw'), body: IMAGE },
  { method: 'PUT', path: `${V2}/apps/:app_name/update`, need: app('rw'), body: { running: true } },
  { method: 'PATCH', path: `${V2}/apps/:app_name/update`, need: app('rw'), body: { running: true }, alias: true },
  { method: 'GET', path: `${V2}/device_groups`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/device_groups/:device_group`, need: dg('ro') },
  { method: 'GET', path: `${V2}/device_groups/:device_group/info`, need: dg('ro') },
  { method: 'POST', path: `${V2}/device_groups/:device_group`, need: dg('rw'), body: {} },
  { method: 'POST', path: `${V2}/device_groups/:device_group/update`, need: dg('rw'), body: {} },
  { method: 'PUT', path: `${V2}/device_groups/:device_group/update`, need: dg('rw'), body: { apps: [] } },
  { method: 'PATCH', path: `${V2}/device_groups/:device_group/update`, need: dg('rw'), body: { apps: [] }, alias: true },
  { method: 'POST', path: `${V2}/device_groups/:device_group/prune`, need: 'pruning' },
  { method: 'POST', path: `${V2}/prune`, need: 'pruning' },
  { method: 'GET', path: `${V2}/reports`, need: 'authenticated' },
  // Reporting for a device group takes what reading its /info takes.
  { method: 'POST', path: `${V2}/reports`, need: dg('ro'), body: (names: Names) => [deviceReport(names)] },
  // Lists only the devices of the groups the caller may read.
  { method: 'GET', path: `${V2}/devices`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/devices/:hostname`, need: dg('ro'), hidden: true },
  { method: 'GET', path: `${V2}/users`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/users/:user_name`, need: 'admin' },
  { method: 'POST', path: `${V2}/users/:user_name`, need: 'admin', body: { password: 'target-password' } },
  { method: 'PUT', path: `${V2}/users/:user_name/update`, need: 'admin', body: { password: 'target-password' } },
  { method: 'PATCH', path: `${V2}/users/:user_name/update`, need: 'admin', body: { password: 'target-password' }, alias: true },
  { method: 'POST', path: `${V2}/users/:user_name/refresh`, need: 'admin' },
  { method: 'GET', path: `${V2}/user_groups`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/user_groups/:user_group`, need: 'admin' },
  { method: 'POST', path: `${V2}/user_groups/:user_group`, need: 'admin', body: {} },
  { method: 'PUT', path: `${V2}/user_groups/:user_group/update`, need: 'admin', body: { admin: false } },
  { method: 'PATCH', path: `${V2}/user_groups/:user_group/update`, need: 'admin', body: { admin: false }, alias: true },
  { method: 'GET', path: `${V2}/cron_jobs`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/cron_jobs/:cron_job`, need: cron('ro') },
  { method: 'POST', path: `${V2}/cron_jobs/:cron_job`, need: cron('rw'), body: CRON_BODY },
  { method: 'POST', path: `${V2}/cron_jobs/:cron_job/update`, need: cron('rw'), body: CRON_BODY },
  { method: 'PUT', path: `${V2}/cron_jobs/:cron_job/update`, need: cron('rw'), body: { running: true } },
  { method: 'PATCH', path: `${V2}/cron_jobs/:cron_job/update`, need: cron('rw'), body: { running: true }, alias: true },
  // Deletes last, so the other rows still find their objects.
  { method: 'DELETE', path: `${V2}/apps/:app_name`, need: app('rw') },
  { method: 'DELETE', path: `${V2}/device_groups/:device_group`, need: dg('rw') },
  { method: 'DELETE', path: `${V2}/users/:user_name`, need: 'admin' },
  { method: 'DELETE', path: `${V2}/user_groups/:user_group`, need: 'admin' },
  // rw rather than the original's admin-only: the manager's choice, see routes/cron-jobs.ts.
  { method: 'DELETE', path: `${V2}/cron_jobs/:cron_job`, need: cron('rw') },
];

/** The objects a principal's grants name, and the admin-only targets it may touch. */
interface Names {
  app_name: string;
  device_group: string;
  cron_job: string;
  user_name: string;
  user_group: string;
  /** A device that has reported for device_group. */
  hostname: string;
}

function deviceReport(names: Names): Record<string, unknown> {
  return { report_id: uniq('report'), hostname: names.hostname, device_group: names.device_group, report_creation_time: Math.floor(Date.now() / 1000) };
}

function bodyOf(route: Route, names: Names): { body?: unknown } {
  if (route.body === undefined) return {};
  return { body: typeof route.body === 'function' ? route.body(names) : route.body };
}

function pathOf(route: Route, names: Names): string {
  return route.path.replace(/:(\w+)/g, (_all, key: string) => names[key as keyof Names]);
}

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

interface Grants {
  admin?: boolean;
  pruning?: boolean;
  level?: Level;
}

function expectAllowed(grants: Grants, need: Need): boolean {
  if (grants.admin || need === 'authenticated') return true;
  if (need === 'admin') return false;
  if (need === 'pruning') return grants.pruning === true;
  return grants.level === 'rw' || (grants.level === 'ro' && need.level === 'ro');
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
async function dbUser(names: Names, grants: Grants | null): Promise<{ basic: string; bearer: string }> {
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
  return { basic: basic(user, password), bearer: bearer(token) };
}

/** Runs the whole table as `auth`; returns the mismatches. */
async function runMatrix(auth: string, names: Names, grants: Grants): Promise<string[]> {
  const problems: string[] = [];
  for (const route of ROUTES) {
    const reply = await call(m.url, route.method, pathOf(route, names), { auth, ...bodyOf(route, names) });
    const allowed = expectAllowed(grants, route.need);
    let problem = allowed ? allowedProblem(reply) : deniedProblem(reply, route);
    if (allowed && route.need === 'authenticated' && reply.status !== 200) problem = `expected 200, got ${reply.status} ${reply.text}`;
    if (problem) problems.push(`${route.method} ${route.path}: ${problem}`);
  }
  return problems;
}

test('the table holds the 40 routes of the API, and the server has each of them', () => {
  assert.equal(ROUTES.filter((r) => !r.alias).length, 40);
  const keys = ROUTES.map((r) => `${r.method} ${r.path}`);
  assert.equal(new Set(keys).size, keys.length);
  for (const r of ROUTES) assert.ok(m.manager.app.hasRoute({ method: r.method as 'GET', url: r.path }), `${r.method} ${r.path}`);
});

describe('without valid credentials every route is 401', () => {
  const cases: [string, () => string | null, string][] = [
    ['no Authorization header', () => null, 'Basic realm="nebula"'],
    ['a wrong admin password', () => basic(ADMIN_USER, 'wrong-password'), 'Basic realm="nebula"'],
    ['an unknown user', () => basic('nobody-at-all', 'x'), 'Basic realm="nebula"'],
    ['a wrong token', () => bearer('wrong-token'), 'Bearer realm="Authentication Required"'],
    ['an unknown scheme', () => 'Digest abc', 'Basic realm="nebula"'],
  ];
  for (const [label, auth, challenge] of cases) {
    test(label, async () => {
      const names = { app_name: 'a', device_group: 'd', cron_job: 'c', user_name: 'u', user_group: 'g', hostname: 'h' };
      for (const route of ROUTES) {
        const reply = await call(m.url, route.method, pathOf(route, names), { auth: auth(), ...bodyOf(route, names) });
        assertError(reply, 401, 'UNAUTHORIZED');
        assert.equal(reply.headers.get('www-authenticate'), challenge, `${route.method} ${route.path}`);
        assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
      }
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
        const problems = await runMatrix(creds[scheme], names, grants ?? {});
        assert.deepEqual(problems, []);
      });
    }
  }

  test('a grant on one object gives nothing on another', async () => {
    const names = await freshObjects();
    const other = await freshObjects();
    const creds = await dbUser(names, { level: 'rw' });
    const problems = await runMatrix(creds.basic, other, {});
    assert.deepEqual(problems, []);
  });

  for (const [label, auth] of [
    ['the config admin by basic', () => ADMIN_AUTH],
    ['the config admin by bearer', () => bearer(ADMIN_TOKEN)],
  ] as const) {
    test(`${label}: everything`, async () => {
      const names = await freshObjects();
      assert.deepEqual(await runMatrix(auth(), names, { admin: true }), []);
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
