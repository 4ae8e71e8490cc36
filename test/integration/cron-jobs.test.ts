// /api/v2/cron_jobs over HTTP: create, defaults, schedule validation, updates, delete.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, managerSuite, type TestManager } from '../helpers/manager.ts';
import { assertError, assertOid, assertStatus, createCronJob, uniq } from '../helpers/fixtures.ts';

const CRON = '/api/v2/cron_jobs';

let m: TestManager;
managerSuite((manager) => (m = manager));

const req = (method: string, path: string, body?: unknown) => call(m.url, method, path, body === undefined ? {} : { body });

test('create answers 200 with cron_job_id 1, the defaults and no _id', async () => {
  const name = uniq('cron');
  const reply = await req('POST', `${CRON}/${name}`, { schedule: '0 * * * *', docker_image: 'busybox:1' });
  assertStatus(reply, 200);
  assert.deepEqual(reply.body, {
    cron_job_id: 1,
    cron_job_name: name,
    schedule: '0 * * * *',
    env_vars: {},
    docker_image: 'busybox:1',
    running: true,
    networks: ['nebula', 'bridge'],
    volumes: [],
    devices: [],
    privileged: false,
  });
  const get = await req('GET', `${CRON}/${name}`);
  assertStatus(get, 200);
  assert.deepEqual(get.body, reply.body);
  const list = await req('GET', CRON);
  assertStatus(list, 200);
  assert.ok(list.body.cron_jobs.includes(name));
});

test('a duplicate create is 403 CRON_JOB_EXISTS', async () => {
  const name = uniq('cron');
  await createCronJob(m.url, name);
  assertError(await req('POST', `${CRON}/${name}`, { schedule: '* * * * *', docker_image: 'x:1' }), 403, 'CRON_JOB_EXISTS', {
    cron_job_exists: true,
  });
});

test('create without schedule or docker_image is 400 listing what is missing', async () => {
  const cases: [Record<string, unknown>, string[]][] = [
    [{ docker_image: 'x:1' }, ['schedule']],
    [{ schedule: '* * * * *' }, ['docker_image']],
    [{}, ['docker_image', 'schedule']],
    [{ docker_image: null, schedule: '* * * * *' }, ['docker_image']],
  ];
  for (const [body, missing] of cases) {
    assertError(await req('POST', `${CRON}/${uniq('cron')}`, body), 400, 'MISSING_PARAMETERS', { missing_parameters: missing });
  }
});

test('an invalid schedule is 400 {schedule_valid:false}', async () => {
  for (const schedule of ['not a cron', '61 * * * *', '* * *', '* * * * * * *', '', 5, '@sometimes']) {
    const reply = await req('POST', `${CRON}/${uniq('bad')}`, { schedule, docker_image: 'x:1' });
    assertError(reply, 400, 'INVALID_SCHEDULE', { schedule_valid: false });
  }
});

test('@hourly and a 6-field expression (with seconds) are accepted', async () => {
  for (const schedule of ['@hourly', '@daily', '30 */5 * * * *', '0 0 1 1 *']) {
    const reply = await createCronJob(m.url, uniq('ok'), { schedule });
    assert.equal(reply.body.schedule, schedule);
  }
});

test('PUT bumps 1 to 2; POST update needs both keys, then bumps to 3 and resets the rest', async () => {
  const name = uniq('cron');
  await createCronJob(m.url, name, {
    env_vars: { A: 'b' },
    running: false,
    networks: ['host'],
    volumes: ['/a:/b'],
    devices: ['/dev/x:/dev/x'],
    privileged: true,
  });
  const put = await req('PUT', `${CRON}/${name}/update`, { schedule: '@daily' });
  assertStatus(put, 202);
  assertOid(put.body._id);
  assert.equal(put.body.cron_job_id, 2);
  assert.equal(put.body.schedule, '@daily');
  assert.equal(put.body.privileged, true, 'PUT keeps the fields not sent');

  const noImage = await req('POST', `${CRON}/${name}/update`, { schedule: '* * * * *' });
  assertError(noImage, 400, 'MISSING_PARAMETERS', { missing_parameters: true });
  assertError(await req('POST', `${CRON}/${name}/update`, { docker_image: 'x:1' }), 400, 'MISSING_PARAMETERS');
  assertError(await req('POST', `${CRON}/${name}/update`, { docker_image: 'x:1', schedule: '99 * * * *' }), 400, 'INVALID_SCHEDULE', {
    schedule_valid: false,
  });
  assert.equal((await req('GET', `${CRON}/${name}`)).body.cron_job_id, 2, 'refused updates do not bump');

  const post = await req('POST', `${CRON}/${name}/update`, { docker_image: 'busybox:2', schedule: '*/2 * * * *' });
  assertStatus(post, 202);
  const { _id, ...doc } = post.body;
  assertOid(_id);
  assert.equal(_id.$oid, put.body._id.$oid);
  assert.deepEqual(doc, {
    cron_job_id: 3,
    cron_job_name: name,
    schedule: '*/2 * * * *',
    env_vars: {},
    docker_image: 'busybox:2',
    running: true,
    networks: ['nebula', 'bridge'],
    volumes: [],
    devices: [],
    privileged: false,
  });
});

test('PUT refuses an empty body, unknown and read-only keys, and a bad schedule', async () => {
  const name = uniq('cron');
  await createCronJob(m.url, name);
  assertError(await req('PUT', `${CRON}/${name}/update`, {}), 400, 'MISSING_PARAMETERS', { missing_parameters: true });
  assertError(await req('PATCH', `${CRON}/${name}/update`, { app_name: 'x' }), 400, 'UNKNOWN_PARAMETERS', {
    unknown_parameters: ['app_name'],
  });
  assertError(await req('PUT', `${CRON}/${name}/update`, { cron_job_id: 9 }), 400, 'READ_ONLY_PARAMETER');
  assertError(await req('PUT', `${CRON}/${name}/update`, { schedule: 'nope' }), 400, 'INVALID_SCHEDULE', { schedule_valid: false });
  const patch = await req('PATCH', `${CRON}/${name}/update`, { running: false });
  assertStatus(patch, 202);
  assert.equal(patch.body.cron_job_id, 2);
});

test('a missing cron job is 403 {cron_job_exists:false} on GET, updates and delete', async () => {
  const name = uniq('none');
  assertError(await req('GET', `${CRON}/${name}`), 403, 'CRON_JOB_NOT_FOUND', { cron_job_exists: false });
  assertError(await req('PUT', `${CRON}/${name}/update`, { running: false }), 403, 'CRON_JOB_NOT_FOUND', { cron_job_exists: false });
  assertError(await req('POST', `${CRON}/${name}/update`, { docker_image: 'x:1', schedule: '* * * * *' }), 403, 'CRON_JOB_NOT_FOUND', {
    cron_job_exists: false,
  });
  assertError(await req('DELETE', `${CRON}/${name}`), 403, 'CRON_JOB_NOT_FOUND', { cron_job_exists: false });
});

test('delete answers 200 {}; then the job is gone and a re-create starts at 1', async () => {
  const name = uniq('cron');
  await createCronJob(m.url, name);
  assertStatus(await req('PUT', `${CRON}/${name}/update`, { running: false }), 202);
  const del = await req('DELETE', `${CRON}/${name}`);
  assertStatus(del, 200);
  assert.deepEqual(del.body, {});
  assertError(await req('GET', `${CRON}/${name}`), 403, 'CRON_JOB_NOT_FOUND', { cron_job_exists: false });
  assert.ok(!(await req('GET', CRON)).body.cron_jobs.includes(name));
  assert.equal((await createCronJob(m.url, name)).body.cron_job_id, 1);
});

test('invalid names are 400 INVALID_NAME', async () => {
  for (const name of ['a.b', '-x', 'x'.repeat(65)]) {
    assertError(await req('POST', `${CRON}/${name}`, { docker_image: 'x:1', schedule: '* * * * *' }), 400, 'INVALID_NAME');
  }
});
