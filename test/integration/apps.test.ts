// /api/v2/apps over HTTP: every route, status code, default, id bump and validation error.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, managerSuite, type TestManager } from '../helpers/manager.ts';
import { assertError, assertOid, assertStatus, createApp, uniq } from '../helpers/fixtures.ts';

const APPS = '/api/v2/apps';

let m: TestManager;
managerSuite((manager) => (m = manager));

const req = (method: string, path: string, body?: unknown) => call(m.url, method, path, body === undefined ? {} : { body });

describe('create, read, list, delete', () => {
  test('create answers 200 with the defaults, app_id 1 and no _id', async () => {
    const name = uniq('app');
    const reply = await req('POST', `${APPS}/${name}`, { docker_image: 'nginx:1' });
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, {
      app_id: 1,
      app_name: name,
      starting_ports: [],
      containers_per: { server: 1 },
      env_vars: {},
      docker_image: 'nginx:1',
      running: true,
      networks: ['nebula', 'bridge'],
      volumes: [],
      devices: [],
      privileged: false,
      rolling_restart: false,
    });
    assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  });

  test('a duplicate create is 403 APP_EXISTS', async () => {
    const name = uniq('dup');
    await createApp(m.url, name);
    assertError(await req('POST', `${APPS}/${name}`, { docker_image: 'nginx:2' }), 403, 'APP_EXISTS', { app_exists: true });
  });

  test('create without docker_image is 400 with the missing list', async () => {
    const reply = await req('POST', `${APPS}/${uniq('noimg')}`, { running: false });
    assertError(reply, 400, 'MISSING_PARAMETERS', { missing_parameters: ['docker_image'] });
  });

  test('GET answers the document without _id; a missing app is 403', async () => {
    const name = uniq('get');
    const created = await createApp(m.url, name, { env_vars: { A: '1' } });
    const reply = await req('GET', `${APPS}/${name}`);
    assertStatus(reply, 200);
    assert.equal(reply.body._id, undefined);
    assert.deepEqual(reply.body, created.body);
    assertError(await req('GET', `${APPS}/${uniq('nope')}`), 403, 'APP_NOT_FOUND', { app_exists: false });
  });

  test('list names every app', async () => {
    const a = uniq('list');
    const b = uniq('list');
    await createApp(m.url, a);
    await createApp(m.url, b);
    const reply = await req('GET', APPS);
    assertStatus(reply, 200);
    assert.deepEqual(Object.keys(reply.body), ['apps']);
    assert.ok(reply.body.apps.includes(a) && reply.body.apps.includes(b));
  });

  test('delete answers 200 {}, then the app is gone, and a re-create starts at app_id 1', async () => {
    const name = uniq('del');
    await createApp(m.url, name);
    assertStatus(await req('POST', `${APPS}/${name}/stop`), 202);
    const reply = await req('DELETE', `${APPS}/${name}`);
    assertStatus(reply, 200);
    assert.deepEqual(reply.body, {});
    assertError(await req('GET', `${APPS}/${name}`), 403, 'APP_NOT_FOUND', { app_exists: false });
    assert.ok(!(await req('GET', APPS)).body.apps.includes(name));
    const again = await createApp(m.url, name);
    assert.equal(again.body.app_id, 1);
  });
});

describe('start, stop, restart, update', () => {
  test('create, stop, start, restart, PUT and POST update give app_id 1..6 with _id on updates', async () => {
    const name = uniq('seq');
    assert.equal((await createApp(m.url, name)).body.app_id, 1);
    const steps: [string, string, unknown, number, Record<string, unknown>][] = [
      ['POST', 'stop', undefined, 2, { running: false }],
      ['POST', 'start', undefined, 3, { running: true }],
      ['POST', 'restart', undefined, 4, { running: true }],
      ['PUT', 'update', { privileged: true }, 5, { privileged: true }],
      ['POST', 'update', { docker_image: 'nginx:2' }, 6, { docker_image: 'nginx:2', privileged: false }],
    ];
    let oid: string | undefined;
    for (const [method, action, body, id, expected] of steps) {
      const reply = await req(method, `${APPS}/${name}/${action}`, body);
      assertStatus(reply, 202);
      assert.equal(reply.body.app_id, id, `${method} ${action}`);
      assert.equal(reply.body.app_name, name);
      assertOid(reply.body._id);
      oid ??= reply.body._id.$oid;
      assert.equal(reply.body._id.$oid, oid, 'the same object keeps its _id');
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(reply.body[key], value, `${action}: ${key}`);
    }
    assert.equal((await req('GET', `${APPS}/${name}`)).body.app_id, 6);
  });

  test('POST update is a full replace: omitted fields reset, env_vars to [] and starting_ports to []', async () => {
    const name = uniq('full');
    await createApp(m.url, name, {
      env_vars: { A: 'x' },
      starting_ports: [80, { '8080': '80' }],
      containers_per: { cpu: 2 },
      networks: ['host'],
      volumes: ['/a:/b'],
      devices: ['/dev/x:/dev/x'],
      privileged: true,
      rolling_restart: true,
      running: false,
    });
    const reply = await req('POST', `${APPS}/${name}/update`, { docker_image: 'nginx:3' });
    assertStatus(reply, 202);
    const { _id, ...doc } = reply.body;
    assertOid(_id);
    assert.deepEqual(doc, {
      app_id: 2,
      app_name: name,
      starting_ports: [],
      containers_per: { server: 1 },
      env_vars: [],
      docker_image: 'nginx:3',
      running: true,
      networks: ['nebula', 'bridge'],
      volumes: [],
      devices: [],
      privileged: false,
      rolling_restart: false,
    });
    assertError(await req('POST', `${APPS}/${name}/update`, { running: true }), 400, 'MISSING_PARAMETERS', {
      missing_parameters: ['docker_image'],
    });
  });

  for (const method of ['PUT', 'PATCH']) {
    test(`${method} update changes only the fields sent`, async () => {
      const name = uniq(method.toLowerCase());
      const created = await createApp(m.url, name, { env_vars: { A: 'x' }, starting_ports: [81], volumes: ['/a:/b'] });
      const reply = await req(method, `${APPS}/${name}/update`, { env_vars: { B: 'y' }, rolling_restart: true });
      assertStatus(reply, 202);
      const { _id, ...doc } = reply.body;
      assertOid(_id);
      assert.deepEqual(doc, { ...created.body, app_id: 2, env_vars: { B: 'y' }, rolling_restart: true });
      assert.deepEqual((await req('GET', `${APPS}/${name}`)).body, doc);
    });
  }

  test('restart of a stopped app is 403 and does not bump; stop of a stopped app bumps', async () => {
    const name = uniq('stopped');
    await createApp(m.url, name, { running: false });
    assertError(await req('POST', `${APPS}/${name}/restart`), 403, 'APP_NOT_RUNNING', { running_before_restart: false });
    assert.equal((await req('GET', `${APPS}/${name}`)).body.app_id, 1);
    const stop = await req('POST', `${APPS}/${name}/stop`);
    assertStatus(stop, 202);
    assert.equal(stop.body.app_id, 2);
    assert.equal(stop.body.running, false);
  });

  test('start, stop, restart, update and delete of a missing app are 403 {app_exists:false}', async () => {
    const name = uniq('ghost');
    const calls: [string, string, unknown][] = [
      ['POST', 'start', undefined],
      ['POST', 'stop', undefined],
      ['POST', 'restart', undefined],
      ['POST', 'update', { docker_image: 'x:1' }],
      ['PUT', 'update', { running: false }],
      ['PATCH', 'update', { running: false }],
    ];
    for (const [method, action, body] of calls) {
      assertError(await req(method, `${APPS}/${name}/${action}`, body), 403, 'APP_NOT_FOUND', { app_exists: false });
    }
    assertError(await req('DELETE', `${APPS}/${name}`), 403, 'APP_NOT_FOUND', { app_exists: false });
    assertError(await req('GET', `${APPS}/${name}`), 403, 'APP_NOT_FOUND', { app_exists: false });
  });
});

describe('validation', () => {
  test('a port out of range is 400 INVALID_PORT', async () => {
    for (const ports of [[70000], [0], [{ '81': '70000' }]]) {
      const reply = await req('POST', `${APPS}/${uniq('port')}`, { docker_image: 'x:1', starting_ports: ports });
      assertError(reply, 400, 'INVALID_PORT', { starting_ports: 'invalid port' });
    }
  });

  test('a port of the wrong type is 400 INVALID_PORT_TYPE', async () => {
    for (const ports of [['x'], [true], '80', [{ a: '80' }], [null], [1.5]]) {
      const reply = await req('POST', `${APPS}/${uniq('ptype')}`, { docker_image: 'x:1', starting_ports: ports });
      assertError(reply, 400, 'INVALID_PORT_TYPE', { starting_ports: 'can only be a list containing integers or dicts' });
    }
  });

  test('port checks apply to PUT and POST update too; mixed ints and dicts are accepted', async () => {
    const name = uniq('ports');
    const created = await createApp(m.url, name, { starting_ports: [{ '81': '80' }, 443] });
    assert.deepEqual(created.body.starting_ports, [{ '81': '80' }, 443]);
    assertError(await req('PUT', `${APPS}/${name}/update`, { starting_ports: [70000] }), 400, 'INVALID_PORT');
    assertError(await req('POST', `${APPS}/${name}/update`, { docker_image: 'x:1', starting_ports: ['x'] }), 400, 'INVALID_PORT_TYPE');
    assert.equal((await req('GET', `${APPS}/${name}`)).body.app_id, 1, 'a refused update does not bump');
  });

  test('invalid containers_per is 400 INVALID_PARAMETER', async () => {
    for (const per of [{ cpu: 0 }, { foo: 1 }, { server: 1.5 }, { server: 1, cpu: 1 }, {}, 'server', { server: '1' }]) {
      const reply = await req('POST', `${APPS}/${uniq('per')}`, { docker_image: 'x:1', containers_per: per });
      assertError(reply, 400, 'INVALID_PARAMETER');
      assert.equal(typeof reply.body.containers_per, 'string');
    }
    const ok = await createApp(m.url, uniq('per'), { containers_per: { cpu: 0.5 } });
    assert.deepEqual(ok.body.containers_per, { cpu: 0.5 });
  });

  test('host or none networks must stand alone', async () => {
    for (const networks of [['host', 'bridge'], ['none', 'nebula'], 'nebula', [1]]) {
      const reply = await req('POST', `${APPS}/${uniq('net')}`, { docker_image: 'x:1', networks });
      assertError(reply, 400, 'INVALID_PARAMETER');
    }
    assert.deepEqual((await createApp(m.url, uniq('net'), { networks: ['host'] })).body.networks, ['host']);
  });

  test('env_vars with a nested value is 400', async () => {
    for (const env_vars of [{ A: { B: 'c' } }, { A: ['x'] }, 'A=1', { A: null }]) {
      const reply = await req('POST', `${APPS}/${uniq('env')}`, { docker_image: 'x:1', env_vars });
      assertError(reply, 400, 'INVALID_PARAMETER');
    }
  });

  test('PUT refuses unknown keys, read-only keys and an empty body', async () => {
    const name = uniq('put');
    await createApp(m.url, name);
    assertError(await req('PUT', `${APPS}/${name}/update`, { running: false, schedule: '* * * * *' }), 400, 'UNKNOWN_PARAMETERS', {
      unknown_parameters: ['schedule'],
    });
    assertError(await req('PUT', `${APPS}/${name}/update`, { app_id: 99 }), 400, 'READ_ONLY_PARAMETER', {
      read_only_parameters: ['app_id'],
    });
    assertError(await req('PUT', `${APPS}/${name}/update`, { app_name: 'other' }), 400, 'READ_ONLY_PARAMETER', {
      read_only_parameters: ['app_name'],
    });
    assertError(await req('PUT', `${APPS}/${name}/update`, {}), 400, 'MISSING_PARAMETERS', { missing_parameters: true });
    assert.equal((await req('GET', `${APPS}/${name}`)).body.app_id, 1);
  });

  test('invalid names on create are 400 INVALID_NAME', async () => {
    for (const name of ['a.b', '-x', '_x', 'x'.repeat(65), 'has%20space', '%C3%A9t%C3%A9']) {
      const reply = await req('POST', `${APPS}/${name}`, { docker_image: 'x:1' });
      assertError(reply, 400, 'INVALID_NAME', { name_valid: false });
    }
    await createApp(m.url, `a${'x'.repeat(63)}`);
  });
});

test('two concurrent creates of one name give one 200 and one 403, never a 500', async () => {
  for (let i = 0; i < 20; i++) {
    const name = uniq('race');
    const replies = await Promise.all([0, 1].map((n) => req('POST', `${APPS}/${name}`, { docker_image: `nginx:${n}` })));
    const statuses = replies.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 403], `round ${i}: ${replies.map((r) => r.text).join(' | ')}`);
    const loser = replies.find((r) => r.status === 403);
    assert.ok(loser);
    assertError(loser, 403, 'APP_EXISTS', { app_exists: true });
    const winner = replies.find((r) => r.status === 200);
    assert.equal((await req('GET', `${APPS}/${name}`)).body.docker_image, winner?.body.docker_image);
  }
});
