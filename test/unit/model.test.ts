// Pure model functions: defaults, validation codes, names, /info shape, ETags, report queries.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NebulaError, type ErrorCode } from '../../src/errors.ts';
import { newApp, type AppDoc } from '../../src/model/app.ts';
import { isValidSchedule, newCronJob, type CronJobDoc } from '../../src/model/cronJob.ts';
import { newDeviceGroup } from '../../src/model/deviceGroup.ts';
import type { Json, JsonObject } from '../../src/model/validate.ts';
// The models' inputs as the routes check them: against their JSON Schemas, then built.
import {
  appFieldsFromBody,
  appPatchFromBody,
  checkObjectName,
  checkPrincipalName,
  cronJobFieldsFromBody,
  cronJobPatchFromBody,
  deviceGroupFieldsFromBody,
  deviceGroupPatchFromBody,
  parseReportQuery,
  userGroupFieldsFromBody,
  userGroupPatchFromBody,
  userSecretsFromBody,
} from '../../src/model/bodies.ts';
import { buildInfo, etagMatches, etagOf } from '../../src/model/info.ts';
import { MAX_PAGE_SIZE } from '../../src/model/report.ts';

/** Runs fn, asserts it throws a NebulaError with this code, and returns the error. */
function throwsCode(fn: () => unknown, code: ErrorCode): NebulaError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof NebulaError, `expected NebulaError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

const IMAGE = 'registry/app:1';
/** Typed literal lists (the checkers take any JSON). */
const jsons = (items: Json[]): Json[] => items;
const objects = (items: JsonObject[]): JsonObject[] => items;
const app = (extra: JsonObject = {}) => appFieldsFromBody({ docker_image: IMAGE, ...extra }, 'create');

describe('apps', () => {
  test('create fills the defaults', () => {
    assert.deepEqual(app(), {
      starting_ports: [],
      containers_per: { server: 1 },
      env_vars: {},
      docker_image: IMAGE,
      running: true,
      networks: ['nebula', 'bridge'],
      volumes: [],
      devices: [],
      privileged: false,
      rolling_restart: false,
    });
  });

  test('replace resets env_vars to [] unless given; unknown keys and nulls are ignored', () => {
    assert.deepEqual(appFieldsFromBody({ docker_image: IMAGE }, 'replace').env_vars, []);
    assert.deepEqual(appFieldsFromBody({ docker_image: IMAGE, env_vars: { A: '1' } }, 'replace').env_vars, { A: '1' });
    const fields = appFieldsFromBody({ docker_image: IMAGE, bogus: 1, running: null }, 'create');
    assert.equal('bogus' in fields, false);
    assert.equal(fields.running, true);
  });

  test('missing docker_image lists it', () => {
    for (const mode of ['create', 'replace'] as const) {
      const err = throwsCode(() => appFieldsFromBody({ running: false }, mode), 'MISSING_PARAMETERS');
      assert.deepEqual(err.details.missing_parameters, ['docker_image']);
      throwsCode(() => appFieldsFromBody({ docker_image: null }, mode), 'MISSING_PARAMETERS');
    }
  });

  test('field order is stable', () => {
    const a = newApp('web', app({ rolling_restart: true, starting_ports: [80] }));
    assert.deepEqual(Object.keys(a), ['app_id', 'app_name', 'starting_ports', 'containers_per', 'env_vars', 'docker_image', 'running', 'networks', 'volumes', 'devices', 'privileged', 'rolling_restart']);
  });

  test('valid ports', () => {
    const ports: Json[] = [1, 80, 65535, { '81': '80' }, { '8080': 8080 }, { ' 443 ': '443' }];
    assert.deepEqual(app({ starting_ports: ports }).starting_ports, ports);
  });

  test('ports out of range are INVALID_PORT', () => {
    for (const p of jsons([0, -1, 65536, { '81': '0' }, { '70000': '80' }, { '-5': '80' }])) {
      throwsCode(() => app({ starting_ports: [p] }), 'INVALID_PORT');
    }
  });

  test('ports of the wrong type are INVALID_PORT_TYPE', () => {
    for (const p of jsons([true, false, '80', 80.5, null, [80], {}, { abc: '80' }, { '81': 'http' }, { '81': true }, { '81': 80.5 }])) {
      throwsCode(() => app({ starting_ports: [p] }), 'INVALID_PORT_TYPE');
    }
    for (const notList of jsons(['80', 80, { '81': '80' }, true])) {
      throwsCode(() => app({ starting_ports: notList }), 'INVALID_PORT_TYPE');
    }
    throwsCode(() => appPatchFromBody({ starting_ports: 'nope' }), 'INVALID_PORT_TYPE');
  });

  test('containers_per: one known key, positive; server and instance whole', () => {
    for (const ok of objects([{ server: 2 }, { instance: 1 }, { cpu: 0.5 }, { cpu: 3 }, { memory: 512 }, { mem: 256.5 }])) {
      assert.deepEqual(app({ containers_per: ok }).containers_per, ok);
    }
    const bad: Json[] = [{}, { server: 1, cpu: 1 }, { gpu: 1 }, { server: 0 }, { server: -1 }, { server: 1.5 }, { instance: 2.5 }, { cpu: 0 }, { memory: -512 }, { server: '1' }, { server: null }, [{ server: 1 }], 'server', 1];
    for (const value of bad) {
      const err = throwsCode(() => app({ containers_per: value }), 'INVALID_PARAMETER');
      assert.ok('containers_per' in err.details);
    }
  });

  test('env_vars: an object of scalars, or []', () => {
    assert.deepEqual(app({ env_vars: { A: 'x', B: 1, C: true } }).env_vars, { A: 'x', B: 1, C: true });
    assert.deepEqual(app({ env_vars: [] }).env_vars, []);
    for (const bad of jsons([['A=1'], 'A=1', 5, { A: null }, { A: { nested: 1 } }, { A: [1] }, { '': 'x' }, { 'A=B': 'x' }])) {
      const err = throwsCode(() => app({ env_vars: bad }), 'INVALID_PARAMETER');
      assert.ok('env_vars' in err.details);
    }
  });

  test('networks: host and none stand alone', () => {
    assert.deepEqual(app({ networks: ['host'] }).networks, ['host']);
    assert.deepEqual(app({ networks: ['none'] }).networks, ['none']);
    assert.deepEqual(app({ networks: ['a', 'b'] }).networks, ['a', 'b']);
    for (const bad of jsons([['host', 'bridge'], ['nebula', 'none'], ['host', 'none'], 'host', [1], ['']])) {
      const err = throwsCode(() => app({ networks: bad }), 'INVALID_PARAMETER');
      assert.ok('networks' in err.details);
    }
  });

  test('booleans and string lists are type-checked', () => {
    throwsCode(() => app({ running: 'yes' }), 'INVALID_PARAMETER');
    throwsCode(() => app({ privileged: 1 }), 'INVALID_PARAMETER');
    throwsCode(() => app({ volumes: '/a:/b' }), 'INVALID_PARAMETER');
    throwsCode(() => app({ devices: [1] }), 'INVALID_PARAMETER');
    throwsCode(() => app({ docker_image: 'has space' }), 'INVALID_PARAMETER');
    throwsCode(() => app({ docker_image: '' }), 'INVALID_PARAMETER');
  });

  test('patch: only the fields sent; unknown, read-only and empty refused', () => {
    assert.deepEqual(appPatchFromBody({ running: false, starting_ports: [81] }), { running: false, starting_ports: [81] });
    throwsCode(() => appPatchFromBody({}), 'MISSING_PARAMETERS');
    const unknown = throwsCode(() => appPatchFromBody({ running: true, app_token: 'x' }), 'UNKNOWN_PARAMETERS');
    assert.deepEqual(unknown.details.unknown_parameters, ['app_token']);
    const ro = throwsCode(() => appPatchFromBody({ app_id: 7 }), 'READ_ONLY_PARAMETER');
    assert.deepEqual(ro.details.read_only_parameters, ['app_id']);
    throwsCode(() => appPatchFromBody({ app_name: 'other' }), 'READ_ONLY_PARAMETER');
  });
});

describe('cron jobs', () => {
  test('isValidSchedule', () => {
    for (const ok of ['* * * * *', '*/5 1-3 * * 1', '0 */5 * * * *', '@hourly', '@daily', ' 0 0 * * * ']) {
      assert.equal(isValidSchedule(ok), true, ok);
    }
    for (const bad of ['', '   ', '* * *', '* * * *', '61 * * * *', '* 24 * * *', 'not a cron', '* * * * * * *', '@reboot', 'a b c d e']) {
      assert.equal(isValidSchedule(bad), false, bad);
    }
  });

  test('create defaults, schedule trimmed, networks ["nebula","bridge"]', () => {
    const fields = cronJobFieldsFromBody({ docker_image: IMAGE, schedule: ' @hourly ' }, 'create');
    assert.deepEqual(fields, {
      schedule: '@hourly',
      env_vars: {},
      docker_image: IMAGE,
      running: true,
      networks: ['nebula', 'bridge'],
      volumes: [],
      devices: [],
      privileged: false,
    });
    assert.deepEqual(cronJobFieldsFromBody({ docker_image: IMAGE, schedule: '* * * * *' }, 'replace').networks, ['nebula', 'bridge']);
    assert.deepEqual(Object.keys(newCronJob('c', fields)).slice(0, 3), ['cron_job_id', 'cron_job_name', 'schedule']);
  });

  test('missing: a list on create, true on replace', () => {
    const c = throwsCode(() => cronJobFieldsFromBody({}, 'create'), 'MISSING_PARAMETERS');
    assert.deepEqual(c.details.missing_parameters, ['docker_image', 'schedule']);
    const r = throwsCode(() => cronJobFieldsFromBody({ docker_image: IMAGE }, 'replace'), 'MISSING_PARAMETERS');
    assert.equal(r.details.missing_parameters, true);
  });

  test('bad schedule and patch rules', () => {
    throwsCode(() => cronJobFieldsFromBody({ docker_image: IMAGE, schedule: '61 * * * *' }, 'create'), 'INVALID_SCHEDULE');
    throwsCode(() => cronJobFieldsFromBody({ docker_image: IMAGE, schedule: 5 }, 'create'), 'INVALID_SCHEDULE');
    assert.deepEqual(cronJobPatchFromBody({ schedule: '@daily' }), { schedule: '@daily' });
    throwsCode(() => cronJobPatchFromBody({}), 'MISSING_PARAMETERS');
    throwsCode(() => cronJobPatchFromBody({ cron_job_id: 3 }), 'READ_ONLY_PARAMETER');
    throwsCode(() => cronJobPatchFromBody({ rolling_restart: true }), 'UNKNOWN_PARAMETERS');
  });
});

describe('device groups', () => {
  test('defaults and dedupe', () => {
    assert.deepEqual(deviceGroupFieldsFromBody({}), { apps: [], cron_jobs: [] });
    assert.deepEqual(deviceGroupFieldsFromBody({ apps: ['a', 'b', 'a'], cron_jobs: ['c', 'c'], other: 1 }), { apps: ['a', 'b'], cron_jobs: ['c'] });
    assert.deepEqual(Object.keys(newDeviceGroup('g', { apps: [], cron_jobs: [] })), ['device_group_id', 'device_group', 'apps', 'prune_id', 'cron_jobs']);
  });

  test('not a list: APPS_NOT_LIST / CRON_JOBS_NOT_LIST, cron_jobs checked first', () => {
    throwsCode(() => deviceGroupFieldsFromBody({ apps: 'a' }), 'APPS_NOT_LIST');
    throwsCode(() => deviceGroupFieldsFromBody({ apps: { a: 1 } }), 'APPS_NOT_LIST');
    throwsCode(() => deviceGroupFieldsFromBody({ cron_jobs: 'c' }), 'CRON_JOBS_NOT_LIST');
    throwsCode(() => deviceGroupFieldsFromBody({ apps: 'a', cron_jobs: 'c' }), 'CRON_JOBS_NOT_LIST');
    throwsCode(() => deviceGroupPatchFromBody({ apps: 5 }), 'APPS_NOT_LIST');
  });

  test('a member name that cannot exist is reported as not found', () => {
    throwsCode(() => deviceGroupFieldsFromBody({ apps: ['a.b'] }), 'APP_NOT_FOUND');
    throwsCode(() => deviceGroupFieldsFromBody({ cron_jobs: [7] }), 'CRON_JOB_NOT_FOUND');
  });

  test('patch keys', () => {
    assert.deepEqual(deviceGroupPatchFromBody({ apps: ['a'] }), { apps: ['a'] });
    throwsCode(() => deviceGroupPatchFromBody({}), 'MISSING_PARAMETERS');
    throwsCode(() => deviceGroupPatchFromBody({ prune_id: 0 }), 'READ_ONLY_PARAMETER');
    throwsCode(() => deviceGroupPatchFromBody({ device_group_id: 9 }), 'READ_ONLY_PARAMETER');
    throwsCode(() => deviceGroupPatchFromBody({ device_group: 'x' }), 'READ_ONLY_PARAMETER');
    throwsCode(() => deviceGroupPatchFromBody({ apps: [], extra: 1 }), 'UNKNOWN_PARAMETERS');
  });
});

describe('users and user groups', () => {
  test('user secrets', () => {
    assert.deepEqual(userSecretsFromBody({}, 'create'), {});
    assert.deepEqual(userSecretsFromBody({ password: 'p', token: 't' }, 'create'), { password: 'p', token: 't' });
    assert.deepEqual(userSecretsFromBody({ token: 't' }, 'update'), { token: 't' });
    throwsCode(() => userSecretsFromBody({}, 'update'), 'MISSING_PARAMETERS');
    throwsCode(() => userSecretsFromBody({ password: '' }, 'create'), 'INVALID_PARAMETER');
    throwsCode(() => userSecretsFromBody({ password: 5 }, 'create'), 'INVALID_PARAMETER');
    throwsCode(() => userSecretsFromBody({ admin: true }, 'create'), 'UNKNOWN_PARAMETERS');
    throwsCode(() => userSecretsFromBody({ user_name: 'x' }, 'update'), 'READ_ONLY_PARAMETER');
  });

  test('user group defaults, dedupe and permission values', () => {
    assert.deepEqual(userGroupFieldsFromBody({}), { group_members: [], pruning_allowed: false, apps: {}, device_groups: {}, admin: false, cron_jobs: {} });
    const g = userGroupFieldsFromBody({ group_members: ['u', 'u', 'v'], apps: { a: 'ro', b: 'rw' } });
    assert.deepEqual(g.group_members, ['u', 'v']);
    assert.deepEqual(g.apps, { a: 'ro', b: 'rw' });
    for (const bad of jsons([{ a: 'RW' }, { a: 'admin' }, { a: true }, { a: '' }, { 'a.b': 'ro' }, ['a'], 'a'])) {
      for (const field of ['apps', 'device_groups', 'cron_jobs']) {
        const err = throwsCode(() => userGroupFieldsFromBody({ [field]: bad }), 'INVALID_PARAMETER');
        assert.ok(field in err.details);
      }
    }
    throwsCode(() => userGroupFieldsFromBody({ admin: 'true' }), 'INVALID_PARAMETER');
    throwsCode(() => userGroupFieldsFromBody({ group_members: 'u' }), 'INVALID_PARAMETER');
    throwsCode(() => userGroupFieldsFromBody({ group_members: [''] }), 'INVALID_PARAMETER');
    throwsCode(() => userGroupFieldsFromBody({ superuser: true }), 'UNKNOWN_PARAMETERS');
    throwsCode(() => userGroupFieldsFromBody({ user_group: 'x' }), 'READ_ONLY_PARAMETER');
    throwsCode(() => userGroupPatchFromBody({}), 'MISSING_PARAMETERS');
    assert.deepEqual(userGroupPatchFromBody({ admin: true }), { admin: true });
  });
});

describe('names', () => {
  test('object names', () => {
    for (const ok of ['a', 'A1', 'web_app-2', 'x'.repeat(64), '0abc']) checkObjectName(ok);
    for (const bad of ['', '-a', '_a', 'a.b', 'a/b', 'a b', 'é', 'x'.repeat(65), 'a@b', '__proto__']) {
      throwsCode(() => checkObjectName(bad), 'INVALID_NAME');
    }
  });

  test('principal names', () => {
    for (const ok of ['u', 'user@example.com', 'first.last', 'a_b-c', 'x'.repeat(128)]) checkPrincipalName(ok);
    for (const bad of ['', '.a', '@a', 'a b', 'a/b', 'a:b', 'x'.repeat(129)]) {
      throwsCode(() => checkPrincipalName(bad), 'INVALID_NAME');
    }
  });
});

describe('info and ETags', () => {
  const appDoc = (name: string): AppDoc => newApp(name, app());
  const cronDoc = (name: string): CronJobDoc => newCronJob(name, cronJobFieldsFromBody({ docker_image: IMAGE, schedule: '@hourly' }, 'create'));

  test('group order kept, missing members skipped, field order stable', () => {
    const group = { ...newDeviceGroup('g', { apps: ['b', 'gone', 'a'], cron_jobs: ['y', 'x', 'gone'] }), device_group_id: 4, prune_id: 3 };
    // Members handed in another order, with their keys shuffled.
    const shuffled = Object.fromEntries(Object.entries(appDoc('a')).reverse()) as unknown as AppDoc;
    const info = buildInfo(group, [shuffled, appDoc('b')], [cronDoc('x'), cronDoc('y')]);
    assert.deepEqual(Object.keys(info), ['apps', 'apps_list', 'prune_id', 'cron_jobs', 'cron_jobs_list', 'device_group_id']);
    assert.deepEqual(info.apps_list, ['b', 'a']);
    assert.deepEqual(info.apps.map((a) => a.app_name), ['b', 'a']);
    assert.deepEqual(info.cron_jobs_list, ['y', 'x']);
    assert.equal(info.prune_id, 3);
    assert.equal(info.device_group_id, 4);
    assert.deepEqual(Object.keys(info.apps[1]!), Object.keys(appDoc('a')));
    assert.equal(JSON.stringify(info.apps[1]), JSON.stringify(appDoc('a')));
  });

  test('etagOf: a quoted strong tag, equal for equal bodies', () => {
    const tag = etagOf('{"a":1}');
    assert.match(tag, /^"[A-Za-z0-9_-]+"$/);
    assert.equal(etagOf('{"a":1}'), tag);
    assert.notEqual(etagOf('{"a":2}'), tag);
  });

  test('etagMatches: lists, *, weak prefix, absent header', () => {
    const tag = etagOf('x');
    assert.equal(etagMatches(tag, tag), true);
    assert.equal(etagMatches(`"other", ${tag}`, tag), true);
    assert.equal(etagMatches(`W/${tag}`, tag), true);
    assert.equal(etagMatches('*', tag), true);
    assert.equal(etagMatches('"other"', tag), false);
    assert.equal(etagMatches(tag.slice(1, -1), tag), false);
    assert.equal(etagMatches(undefined, tag), false);
    assert.equal(etagMatches('', tag), false);
  });
});

describe('parseReportQuery', () => {
  const isId = (id: string) => /^[0-9a-f]{24}$/.test(id);
  const ID = '0123456789abcdef01234567';
  const parse = (q: Record<string, unknown>) => parseReportQuery(q, isId);

  test('page_size', () => {
    assert.deepEqual(parse({}), { pageSize: 10 });
    assert.equal(parse({ page_size: '25' }).pageSize, 25);
    assert.equal(parse({ page_size: '0' }).pageSize, MAX_PAGE_SIZE);
    assert.equal(parse({ page_size: '1000' }).pageSize, 1000);
    assert.equal(parse({ page_size: '1001' }).pageSize, 1000);
    for (const odd of ['abc', '-5', '2.5', '']) assert.equal(parse({ page_size: odd }).pageSize, 10, odd);
  });

  test('last_id via isId', () => {
    assert.equal(parse({ last_id: ID }).afterId, ID);
    throwsCode(() => parse({ last_id: 'nope' }), 'INVALID_QUERY');
    let seen = '';
    parseReportQuery({ last_id: 'custom' }, (id) => ((seen = id), true));
    assert.equal(seen, 'custom');
  });

  test('filters and creation time operators', () => {
    assert.deepEqual(parse({ hostname: 'h', device_group: 'g' }), { pageSize: 10, hostname: 'h', deviceGroup: 'g' });
    assert.deepEqual(parse({ report_creation_time: '100' }).creationTime, { op: 'eq', value: 100 });
    for (const op of ['eq', 'gt', 'lt', 'gte', 'lte', 'ne']) {
      assert.deepEqual(parse({ report_creation_time: '-5', report_creation_time_filter: op }).creationTime, { op, value: -5 });
    }
    throwsCode(() => parse({ report_creation_time: '1', report_creation_time_filter: 'like' }), 'INVALID_QUERY');
    throwsCode(() => parse({ report_creation_time_filter: 'like' }), 'INVALID_QUERY');
    throwsCode(() => parse({ report_creation_time: 'yesterday' }), 'INVALID_QUERY');
    throwsCode(() => parse({ hostname: ['a', 'b'] }), 'INVALID_QUERY');
  });

  test('updated', () => {
    assert.equal(parse({ updated: 'True' }).updated, true);
    assert.equal(parse({ updated: 'true' }).updated, true);
    assert.equal(parse({ updated: 'False' }).updated, false);
    assert.equal(parse({ updated: 'false' }).updated, false);
    for (const bad of ['1', 'yes', 'TRUE', '']) throwsCode(() => parse({ updated: bad }), 'INVALID_QUERY');
  });
});
