// Nothing of a device group's config reaches a user who may not read it: not through a
// route, a list, a report, the /info cache or an error. Group B's apps, cron jobs, device
// reports and user carry a unique marker in their env values, secrets and errors; users
// granted group A call everything, and the marker (or a hash) must never be in what they get.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { basic, call, managerSuite, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertError, assertStatus, bearer, createApp, createCronJob, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';
import { ROUTES, V2, bodyOf, deviceReport, expectAllowed, pathOf, refusalProblem, sentOf, type Grants, type Names } from '../helpers/auth-table.ts';

const MARKER = `leak-marker-${process.pid}-${Date.now().toString(36)}`;
/** Group A's own values: A reads them (proof the routes answer), and they hold no part of B's marker. */
const OWN = `own-values-${process.pid}`;

let m: TestManager;
managerSuite((manager) => (m = manager));

/** What must never reach a caller of group A: B's marker, or a stored hash. */
function leakIn(reply: Reply, marker = MARKER): string | null {
  const headers = [...reply.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
  for (const [where, text] of [['body', reply.text], ['headers', headers]] as const) {
    if (text.includes(marker)) return `the marker in the ${where}: ${text.slice(0, 2000)}`;
    if (text.includes('$scrypt$') || /\$2[aby]\$\d\d\$/.test(text)) return `a hash in the ${where}: ${text.slice(0, 2000)}`;
  }
  return null;
}

/** A device group with an app, a cron job, a reporting device and a user group, their env values marked. */
async function plantGroup(marker: string): Promise<Names> {
  const names: Names = {
    app_name: uniq('app'),
    device_group: uniq('dg'),
    cron_job: uniq('cron'),
    user_name: uniq('user'),
    user_group: uniq('ugroup'),
    hostname: uniq('device'),
  };
  await createApp(m.url, names.app_name, { env_vars: { DB_PASSWORD: `${marker}-app-env`, PLAIN: 'x' } });
  await createCronJob(m.url, names.cron_job, { env_vars: { API_KEY: `${marker}-cron-env` } });
  await createDeviceGroup(m.url, names.device_group, { apps: [names.app_name], cron_jobs: [names.cron_job] });
  await createUser(m.url, names.user_name, `${marker}-password`, `${marker}-token`);
  await createUserGroup(m.url, names.user_group, {
    group_members: [names.user_name],
    apps: { [names.app_name]: 'rw' },
    device_groups: { [names.device_group]: 'rw' },
    cron_jobs: { [names.cron_job]: 'rw' },
  });
  // What a worker reports: its group's config as it has it (env values included), and its last error.
  const info = await call(m.url, 'GET', `${V2}/device_groups/${names.device_group}/info`);
  assertStatus(info, 200);
  assert.ok(info.text.includes(`${marker}-app-env`) && info.text.includes(`${marker}-cron-env`));
  const report = deviceReport(names, {
    current_device_group_config: { status_code: 200, reply: info.body },
    last_error: { at: Date.now(), message: `cannot start: ${marker}-error`, app: names.app_name },
  });
  assertStatus(await call(m.url, 'POST', `${V2}/reports`, { body: [report] }), 200);
  return names;
}

/** A DB user granted `grants` on group `names` (the same shape as auth-matrix's users). */
async function userOn(names: Names, grants: Grants): Promise<{ basic: string; bearer: string }> {
  const user = uniq('a-user');
  const [password, token] = [`pw-${uniq('s')}`, `tok-${uniq('s')}`];
  await createUser(m.url, user, password, token);
  const level = grants.level;
  await createUserGroup(m.url, uniq('a-group'), {
    group_members: [user],
    pruning_allowed: grants.pruning === true,
    ...(level ? { apps: { [names.app_name]: level }, device_groups: { [names.device_group]: level }, cron_jobs: { [names.cron_job]: level } } : {}),
  });
  return { basic: basic(user, password), bearer: bearer(token) };
}

const A_USERS: [string, Grants][] = [
  ['ro on A', { level: 'ro' }],
  ['rw on A', { level: 'rw' }],
  ['rw on A and pruning_allowed', { level: 'rw', pruning: true }],
];

describe("a user of group A gets nothing of group B's config", () => {
  for (const [label, grants] of A_USERS) {
    test(`every route with B's names, then with A's (${label})`, async () => {
      const b = await plantGroup(MARKER);
      const a = await plantGroup(OWN);
      const creds = await userOn(a, grants);
      const problems: string[] = [];
      for (const [names, own] of [[b, false], [a, true]] as const) {
        for (const route of ROUTES) {
          const path = pathOf(route, names);
          const request = bodyOf(route, names);
          const reply = await call(m.url, route.method, path, { auth: creds.basic, ...request });
          const allowed = expectAllowed(own ? grants : { pruning: grants.pruning === true }, route.need);
          let problem = leakIn(reply);
          if (problem === null && !allowed) problem = refusalProblem(reply, sentOf(path, request.body));
          if (problem === null && !allowed && ![403, 404].includes(reply.status)) problem = `expected a refusal, got ${reply.status}`;
          const refused = reply.status === 401 || reply.body?.code === 'ACCESS_DENIED' || reply.status >= 500;
          if (problem === null && allowed && refused) problem = `expected an answer, got ${reply.status} ${reply.text}`;
          if (problem) problems.push(`${own ? 'A' : 'B'}: ${route.method} ${route.path}: ${problem}`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }

  test('lists and queries: apps, device groups, cron jobs, users, user groups, reports and devices, with every filter', async () => {
    const b = await plantGroup(MARKER);
    const a = await plantGroup(OWN);
    const creds = await userOn(a, { level: 'ro' });
    const queries = [
      '/status',
      '/apps',
      '/device_groups',
      '/cron_jobs',
      '/users',
      '/user_groups',
      '/reports',
      '/reports?page_size=1000',
      `/reports?device_group=${b.device_group}`,
      `/reports?hostname=${b.hostname}`,
      `/reports?device_group=${b.device_group}&hostname=${b.hostname}&page_size=0`,
      '/reports?report_creation_time=0&report_creation_time_filter=gt',
      '/reports?updated=false',
      '/devices',
      '/devices?page_size=1000',
      `/devices?device_group=${b.device_group}`,
      '/devices?behind=true',
      '/devices?behind=false',
    ];
    for (const auth of [creds.basic, creds.bearer]) {
      for (const query of queries) {
        const reply = await call(m.url, 'GET', `${V2}${query}`, { auth });
        assertStatus(reply, 200);
        assert.equal(leakIn(reply), null, query);
        const data = reply.body.data as { device_group: string; hostname: string }[] | null | undefined;
        for (const row of data ?? []) assert.equal(row.device_group, a.device_group, `${query}: ${JSON.stringify(row)}`);
      }
      // The filtered routes do answer: A's own report and device are there.
      const own = await call(m.url, 'GET', `${V2}/reports?hostname=${a.hostname}`, { auth });
      assert.equal(own.body.data.length, 1);
      assert.ok(own.text.includes(`${OWN}-app-env`), 'A reads its own group in its reports');
      const devices = await call(m.url, 'GET', `${V2}/devices?device_group=${a.device_group}`, { auth });
      assert.deepEqual(
        devices.body.data.map((d: { hostname: string }) => d.hostname),
        [a.hostname],
      );
      const device = await call(m.url, 'GET', `${V2}/devices/${b.hostname}`, { auth });
      assertError(device, 404, 'DEVICE_NOT_FOUND', { device_exists: false });
      assert.equal(leakIn(device), null);
    }
    // The admin sees B's report, so the filter is the caller's grants, not a missing report.
    const admin = await call(m.url, 'GET', `${V2}/reports?hostname=${b.hostname}`);
    assert.equal(admin.body.data.length, 1);
    assert.ok(admin.text.includes(MARKER));
    // A user in no group reads no report and no device at all.
    const nobody = uniq('nobody');
    await createUser(m.url, nobody, 'pw-nobody', `tok-${uniq('s')}`);
    for (const path of ['/reports', '/devices']) {
      const reply = await call(m.url, 'GET', `${V2}${path}`, { auth: basic(nobody, 'pw-nobody') });
      assert.deepEqual(reply.body, { data: null, last_id: null }, path);
    }
  });

  test("the /info cache warmed with B's config by the admin answers A 403, on every path, as for a group that does not exist", async () => {
    const b = await plantGroup(MARKER);
    const a = await plantGroup(OWN);
    const creds = await userOn(a, { level: 'rw' });
    const infoOf = (group: string) => `${V2}/device_groups/${group}/info`;
    // B cached (and the admin's header); A's header cached too, by its own /info: the fast
    // path (info-fast-path.ts) has all it needs to answer if it forgot to authorize.
    const warm = await call(m.url, 'GET', infoOf(b.device_group));
    assertStatus(warm, 200);
    assert.ok(warm.text.includes(MARKER));
    const etag = warm.headers.get('etag') ?? '';
    assert.notEqual(etag, '');
    for (const auth of [creds.basic, creds.bearer]) {
      for (let i = 0; i < 2; i++) assertStatus(await call(m.url, 'GET', infoOf(a.device_group), { auth }), 200);
      const ghost = uniq('no-such-group');
      const variants: [string, Record<string, string>][] = [
        ['', {}],
        ['?wait=0', {}],
        ['?wait=1', { 'if-none-match': etag }],
        ['', { 'if-none-match': etag }],
        ['', { 'if-none-match': '*' }],
        ['?wait=1', {}],
      ];
      for (const [query, headers] of variants) {
        const reply = await call(m.url, 'GET', `${infoOf(b.device_group)}${query}`, { auth, headers });
        const where = `${query} ${JSON.stringify(headers)}`;
        assertError(reply, 403, 'ACCESS_DENIED', { access_allowed: false });
        assert.equal(leakIn(reply), null, where);
        assert.equal(refusalProblem(reply, infoOf(b.device_group)), null, where);
        const missing = await call(m.url, 'GET', `${infoOf(ghost)}${query}`, { auth, headers });
        assert.equal(missing.status, reply.status, where);
        assert.equal(missing.text, reply.text, `${where}: B's answer tells that it exists`);
      }
      // A's own config holds none of B's.
      assert.equal(leakIn(await call(m.url, 'GET', infoOf(a.device_group), { auth })), null);
    }
    // The refusals changed nothing cached: the admin still reads B, with the same ETag.
    const again = await call(m.url, 'GET', infoOf(b.device_group));
    assertStatus(again, 200);
    assert.equal(again.headers.get('etag'), etag);
  });

  test("refusals are the same whether B's objects exist or not", async () => {
    const b = await plantGroup(MARKER);
    const a = await plantGroup(OWN);
    const creds = await userOn(a, { level: 'rw' });
    const ghost: Names = {
      app_name: uniq('ghost-app'),
      device_group: uniq('ghost-dg'),
      cron_job: uniq('ghost-cron'),
      user_name: uniq('ghost-user'),
      user_group: uniq('ghost-ugroup'),
      hostname: uniq('ghost-device'),
    };
    const problems: string[] = [];
    for (const route of ROUTES) {
      if (expectAllowed({}, route.need)) continue; // open to every authenticated caller
      const answers: string[] = [];
      for (const names of [b, ghost]) {
        const reply = await call(m.url, route.method, pathOf(route, names), { auth: creds.basic, ...bodyOf(route, names) });
        let text = reply.text;
        for (const [key, value] of Object.entries(names)) text = text.replaceAll(value, `<${key}>`);
        answers.push(`${reply.status} ${text}`);
      }
      if (answers[0] !== answers[1]) problems.push(`${route.method} ${route.path}: ${answers[0]} for B, ${answers[1]} for nothing`);
    }
    assert.deepEqual(problems, []);
  });
});

describe("a group A may write takes in none of B's apps or cron jobs (its /info would show their config)", () => {
  test('create, POST update, PUT and PATCH naming an app or cron job A may not read: 403, the group unchanged', async () => {
    const b = await plantGroup(MARKER);
    const a = await plantGroup(OWN);
    const creds = await userOn(a, { level: 'rw' });
    const ghostApp = uniq('ghost-app');
    const before = (await call(m.url, 'GET', `${V2}/device_groups/${a.device_group}`)).body;
    const attempts: [string, string, Record<string, unknown>][] = [
      ['PUT', `${V2}/device_groups/${a.device_group}/update`, { apps: [a.app_name, b.app_name] }],
      ['PATCH', `${V2}/device_groups/${a.device_group}/update`, { cron_jobs: [a.cron_job, b.cron_job] }],
      ['POST', `${V2}/device_groups/${a.device_group}/update`, { apps: [b.app_name], cron_jobs: [a.cron_job] }],
      ['PUT', `${V2}/device_groups/${a.device_group}/update`, { apps: [ghostApp] }],
    ];
    for (const [method, path, body] of attempts) {
      const reply = await call(m.url, method, path, { auth: creds.basic, body });
      assertError(reply, 403, 'ACCESS_DENIED', { access_allowed: false });
      assert.equal(refusalProblem(reply, sentOf(path, body)), null);
      assert.equal(leakIn(reply), null);
    }
    assert.deepEqual((await call(m.url, 'GET', `${V2}/device_groups/${a.device_group}`)).body, before);
    assert.equal(leakIn(await call(m.url, 'GET', `${V2}/device_groups/${a.device_group}/info`, { auth: creds.basic })), null);
    // The same refusal for an app that exists and one that does not: it tells nothing.
    const exists = await call(m.url, 'PUT', `${V2}/device_groups/${a.device_group}/update`, { auth: creds.basic, body: { apps: [b.app_name] } });
    const missing = await call(m.url, 'PUT', `${V2}/device_groups/${a.device_group}/update`, { auth: creds.basic, body: { apps: [ghostApp] } });
    assert.deepEqual({ ...exists.body, name: '' }, { ...missing.body, name: '' });
    assert.equal(exists.status, missing.status);
  });

  test("creating a group that A may write, with B's app: 403, nothing created; with its own: 200", async () => {
    const b = await plantGroup(MARKER);
    const a = await plantGroup(OWN);
    const user = uniq('a-creator');
    await createUser(m.url, user, 'pw-creator', `tok-${uniq('s')}`);
    const spare = uniq('dg-spare');
    await createUserGroup(m.url, uniq('a-spare'), {
      group_members: [user],
      device_groups: { [spare]: 'rw' },
      apps: { [a.app_name]: 'ro' },
      cron_jobs: { [a.cron_job]: 'rw' },
    });
    const auth = basic(user, 'pw-creator');
    assertError(await call(m.url, 'POST', `${V2}/device_groups/${spare}`, { auth, body: { apps: [b.app_name] } }), 403, 'ACCESS_DENIED');
    assertError(await call(m.url, 'POST', `${V2}/device_groups/${spare}`, { auth, body: { cron_jobs: [b.cron_job] } }), 403, 'ACCESS_DENIED');
    assertError(await call(m.url, 'GET', `${V2}/device_groups/${spare}`), 403, 'DEVICE_GROUP_NOT_FOUND');
    // "ro" on an app is enough to put it in a group: the group's /info shows what ro reads anyway.
    assertStatus(await call(m.url, 'POST', `${V2}/device_groups/${spare}`, { auth, body: { apps: [a.app_name], cron_jobs: [a.cron_job] } }), 200);
    const info = await call(m.url, 'GET', `${V2}/device_groups/${spare}/info`, { auth });
    assertStatus(info, 200);
    assert.deepEqual(info.body.apps_list, [a.app_name]);
    assert.equal(leakIn(info), null);
  });

  test('members the admin put in the group stay writable by A without a grant on them', async () => {
    const a = await plantGroup(OWN);
    const shared = uniq('shared-agent');
    await createApp(m.url, shared);
    assertStatus(await call(m.url, 'PUT', `${V2}/device_groups/${a.device_group}/update`, { body: { apps: [a.app_name, shared] } }), 202);
    const creds = await userOn(a, { level: 'rw' });
    // A reorders its group, keeping the shared app, then drops it and cannot take it back.
    assertStatus(await call(m.url, 'PUT', `${V2}/device_groups/${a.device_group}/update`, { auth: creds.basic, body: { apps: [shared, a.app_name] } }), 202);
    assertStatus(await call(m.url, 'PATCH', `${V2}/device_groups/${a.device_group}/update`, { auth: creds.basic, body: { apps: [a.app_name] } }), 202);
    assertError(await call(m.url, 'PATCH', `${V2}/device_groups/${a.device_group}/update`, { auth: creds.basic, body: { apps: [a.app_name, shared] } }), 403, 'ACCESS_DENIED');
    // Admins (config or group) are never asked.
    assertStatus(await call(m.url, 'PATCH', `${V2}/device_groups/${a.device_group}/update`, { body: { apps: [a.app_name, shared] } }), 202);
  });
});
