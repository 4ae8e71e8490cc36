// /api/v2/device_groups, /prune and the device-facing /info (plain GET, no long-poll).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, managerSuite, type TestManager } from '../helpers/manager.ts';
import { assertError, assertOid, assertStatus, createApp, createCronJob, createDeviceGroup, uniq } from '../helpers/fixtures.ts';

const DG = '/api/v2/device_groups';

let m: TestManager;
managerSuite((manager) => (m = manager));

const req = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  call(m.url, method, path, { ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) });

async function group(name: string): Promise<Record<string, unknown>> {
  const reply = await req('GET', `${DG}/${name}`);
  assertStatus(reply, 200);
  return reply.body;
}

describe('create, read, list, delete', () => {
  test('create answers 200 with ids 1 and empty lists by default, without _id', async () => {
    const name = uniq('dg');
    const reply = await req('POST', `${DG}/${name}`, {});
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, { device_group_id: 1, device_group: name, apps: [], prune_id: 1, cron_jobs: [] });
    assert.deepEqual(await group(name), reply.body);
  });

  test('create with members stores them', async () => {
    const app = uniq('app');
    const cron = uniq('cron');
    await createApp(m.url, app);
    await createCronJob(m.url, cron);
    const name = uniq('dg');
    const reply = await createDeviceGroup(m.url, name, { apps: [app], cron_jobs: [cron] });
    assert.deepEqual(reply.body, { device_group_id: 1, device_group: name, apps: [app], prune_id: 1, cron_jobs: [cron] });
  });

  test('create refuses missing members and lists that are not lists', async () => {
    assertError(await req('POST', `${DG}/${uniq('dg')}`, { apps: [uniq('missing')] }), 403, 'APP_NOT_FOUND', { app_exists: false });
    assertError(await req('POST', `${DG}/${uniq('dg')}`, { cron_jobs: [uniq('missing')] }), 403, 'CRON_JOB_NOT_FOUND', {
      cron_job_exists: false,
    });
    assertError(await req('POST', `${DG}/${uniq('dg')}`, { apps: 'a' }), 400, 'APPS_NOT_LIST', { apps_is_list: false });
    assertError(await req('POST', `${DG}/${uniq('dg')}`, { cron_jobs: { a: 1 } }), 400, 'CRON_JOBS_NOT_LIST', {
      cron_jobs_is_list: false,
    });
  });

  test('a missing group is 403 on GET; list names every group', async () => {
    assertError(await req('GET', `${DG}/${uniq('none')}`), 403, 'DEVICE_GROUP_NOT_FOUND', { device_group_exists: false });
    const name = uniq('dg');
    await createDeviceGroup(m.url, name);
    const list = await req('GET', DG);
    assertStatus(list, 200);
    assert.deepEqual(Object.keys(list.body), ['device_groups']);
    assert.ok(list.body.device_groups.includes(name));
  });

  test('a duplicate is 403; delete answers 200 {} and then 403', async () => {
    const name = uniq('dg');
    await createDeviceGroup(m.url, name);
    assertError(await req('POST', `${DG}/${name}`, {}), 403, 'DEVICE_GROUP_EXISTS', { device_group_exists: true });
    const del = await req('DELETE', `${DG}/${name}`);
    assertStatus(del, 200);
    assert.deepEqual(del.body, {});
    assertError(await req('DELETE', `${DG}/${name}`), 403, 'DEVICE_GROUP_NOT_FOUND', { device_group_exists: false });
    assertError(await req('GET', `${DG}/${name}`), 403, 'DEVICE_GROUP_NOT_FOUND', { device_group_exists: false });
  });
});

describe('updates and prunes', () => {
  test('POST update replaces both lists (a missing one becomes []) and bumps device_group_id', async () => {
    const [a1, a2, c1] = [uniq('app'), uniq('app'), uniq('cron')];
    await createApp(m.url, a1);
    await createApp(m.url, a2);
    await createCronJob(m.url, c1);
    const name = uniq('dg');
    await createDeviceGroup(m.url, name, { apps: [a1], cron_jobs: [c1] });
    const reply = await req('POST', `${DG}/${name}/update`, { apps: [a2] });
    assertStatus(reply, 202);
    const { _id, ...doc } = reply.body;
    assertOid(_id);
    assert.deepEqual(doc, { device_group_id: 2, device_group: name, apps: [a2], prune_id: 1, cron_jobs: [] });
    assertError(await req('POST', `${DG}/${name}/update`, { apps: [uniq('missing')] }), 403, 'APP_NOT_FOUND', { app_exists: false });
    assertError(await req('POST', `${DG}/${name}/update`, { apps: 5 }), 400, 'APPS_NOT_LIST', { apps_is_list: false });
    assert.equal((await group(name)).device_group_id, 2, 'a refused update does not bump');
  });

  for (const method of ['PUT', 'PATCH']) {
    test(`${method} update sets only the fields sent and bumps`, async () => {
      const [a1, c1, c2] = [uniq('app'), uniq('cron'), uniq('cron')];
      await createApp(m.url, a1);
      await createCronJob(m.url, c1);
      await createCronJob(m.url, c2);
      const name = uniq('dg');
      await createDeviceGroup(m.url, name, { apps: [a1], cron_jobs: [c1] });
      const reply = await req(method, `${DG}/${name}/update`, { cron_jobs: [c2, c1] });
      assertStatus(reply, 202);
      assertOid(reply.body._id);
      assert.deepEqual(reply.body.apps, [a1]);
      assert.deepEqual(reply.body.cron_jobs, [c2, c1]);
      assert.equal(reply.body.device_group_id, 2);
      assert.equal(reply.body.prune_id, 1);
      assertError(await req(method, `${DG}/${name}/update`, {}), 400, 'MISSING_PARAMETERS', { missing_parameters: true });
      assertError(await req(method, `${DG}/${name}/update`, { prune_id: 0 }), 400, 'READ_ONLY_PARAMETER');
      assertError(await req(method, `${DG}/${name}/update`, { color: 'red' }), 400, 'UNKNOWN_PARAMETERS', {
        unknown_parameters: ['color'],
      });
    });
  }

  test('update and prune of a missing group are 403 {device_group_exists:false}', async () => {
    const name = uniq('none');
    for (const [method, path, body] of [
      ['POST', 'update', {}],
      ['PUT', 'update', { apps: [] }],
      ['POST', 'prune', undefined],
    ] as const) {
      assertError(await req(method, `${DG}/${name}/${path}`, body), 403, 'DEVICE_GROUP_NOT_FOUND', { device_group_exists: false });
    }
  });

  test('a per-group prune answers 202 and bumps prune_id only', async () => {
    const name = uniq('dg');
    await createDeviceGroup(m.url, name);
    const reply = await req('POST', `${DG}/${name}/prune`);
    assertStatus(reply, 202);
    assertOid(reply.body._id);
    assert.equal(reply.body.prune_id, 2);
    assert.equal(reply.body.device_group_id, 1);
  });

  test('the global prune bumps every group and answers their new prune_ids', async () => {
    const [g1, g2] = [uniq('dg'), uniq('dg')];
    await createDeviceGroup(m.url, g1);
    await createDeviceGroup(m.url, g2);
    assertStatus(await req('POST', `${DG}/${g2}/prune`), 202);
    const names: string[] = (await req('GET', DG)).body.device_groups;
    const before = new Map<string, number>();
    for (const n of names) before.set(n, (await group(n)).prune_id as number);
    const reply = await req('POST', '/api/v2/prune');
    assertStatus(reply, 202);
    assert.deepEqual(Object.keys(reply.body), ['prune_ids']);
    assert.deepEqual(Object.keys(reply.body.prune_ids).sort(), [...names].sort());
    for (const n of names) {
      assert.equal(reply.body.prune_ids[n], (before.get(n) ?? 0) + 1, n);
      const doc = await group(n);
      assert.equal(doc.prune_id, reply.body.prune_ids[n]);
    }
    assert.equal(reply.body.prune_ids[g1], 2);
    assert.equal(reply.body.prune_ids[g2], 3);
    assert.equal((await group(g1)).device_group_id, 1, 'a prune does not bump device_group_id');
  });
});

describe('deleting a member', () => {
  for (const kind of ['apps', 'cron_jobs'] as const) {
    test(`deleting one of the ${kind} removes it from the groups listing it and bumps them`, async () => {
      const create = kind === 'apps' ? createApp : createCronJob;
      const [gone, kept] = [uniq('gone'), uniq('kept')];
      await create(m.url, gone);
      await create(m.url, kept);
      const [g1, g2, other] = [uniq('dg'), uniq('dg'), uniq('dg')];
      await createDeviceGroup(m.url, g1, { [kind]: [gone, kept] });
      await createDeviceGroup(m.url, g2, { [kind]: [gone] });
      await createDeviceGroup(m.url, other, { [kind]: [kept] });
      assertStatus(await req('DELETE', `/api/v2/${kind}/${gone}`), 200);
      const [d1, d2, d3] = [await group(g1), await group(g2), await group(other)];
      assert.deepEqual(d1[kind], [kept]);
      assert.equal(d1.device_group_id, 2);
      assert.deepEqual(d2[kind], []);
      assert.equal(d2.device_group_id, 2);
      assert.deepEqual(d3[kind], [kept]);
      assert.equal(d3.device_group_id, 1, 'a group that did not list it is untouched');
    });
  }
});

describe('/info', () => {
  test('answers the device view with an ETag; If-None-Match gives 304, a stale tag 200', async () => {
    const [app, cron] = [uniq('app'), uniq('cron')];
    const appDoc = (await createApp(m.url, app, { env_vars: { K: 'v' } })).body;
    const cronDoc = (await createCronJob(m.url, cron)).body;
    const name = uniq('dg');
    await createDeviceGroup(m.url, name, { apps: [app], cron_jobs: [cron] });
    const reply = await req('GET', `${DG}/${name}/info`);
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, {
      apps: [appDoc],
      apps_list: [app],
      prune_id: 1,
      cron_jobs: [cronDoc],
      cron_jobs_list: [cron],
      device_group_id: 1,
    });
    assert.equal(reply.body.apps[0]._id, undefined);
    const etag = reply.headers.get('etag');
    assert.ok(etag !== null && etag.length > 2, 'an ETag header');
    const notModified = await req('GET', `${DG}/${name}/info`, undefined, { 'if-none-match': etag });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.text, '');
    const stale = await req('GET', `${DG}/${name}/info`, undefined, { 'if-none-match': '"stale"' });
    assertStatus(stale, 200);
    assert.deepEqual(stale.body, reply.body);
    assert.equal(stale.headers.get('etag'), etag);
  });

  test('a missing group is 403 {device_group_exists:false}', async () => {
    assertError(await req('GET', `${DG}/${uniq('none')}/info`), 403, 'DEVICE_GROUP_NOT_FOUND', { device_group_exists: false });
  });

  test('a change to a listed app shows on the next GET, with a new ETag', async () => {
    const app = uniq('app');
    await createApp(m.url, app);
    const name = uniq('dg');
    await createDeviceGroup(m.url, name, { apps: [app] });
    const first = await req('GET', `${DG}/${name}/info`);
    assertStatus(first, 200);
    assertStatus(await req('POST', `/api/v2/apps/${app}/stop`), 202);
    const second = await req('GET', `${DG}/${name}/info`, undefined, { 'if-none-match': first.headers.get('etag') ?? '' });
    assertStatus(second, 200);
    assert.equal(second.body.apps[0].running, false);
    assert.equal(second.body.apps[0].app_id, 2);
    assert.notEqual(second.headers.get('etag'), first.headers.get('etag'));
  });

  test('a group update and a prune show on the next GET', async () => {
    const app = uniq('app');
    await createApp(m.url, app);
    const name = uniq('dg');
    await createDeviceGroup(m.url, name);
    const first = await req('GET', `${DG}/${name}/info`);
    assert.deepEqual(first.body.apps_list, []);
    assertStatus(await req('PUT', `${DG}/${name}/update`, { apps: [app] }), 202);
    const second = await req('GET', `${DG}/${name}/info`);
    assert.deepEqual(second.body.apps_list, [app]);
    assert.equal(second.body.device_group_id, 2);
    assertStatus(await req('POST', '/api/v2/prune'), 202);
    const third = await req('GET', `${DG}/${name}/info`);
    assert.equal(third.body.prune_id, 2);
    assert.notEqual(third.headers.get('etag'), second.headers.get('etag'));
  });
});
