// The admin CLI's option parsing, connection settings (flags > env > file) and output, as pure
// functions: every refusal is a UsageError or ConfigError before any request.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appFieldsOf,
  cronJobFieldsOf,
  deviceQueryOf,
  groupFieldsOf,
  parseContainersPer,
  parseEnv,
  parseMembers,
  parseNames,
  parsePermissions,
  parsePort,
  reportQueryOf,
  secretOfStdin,
  single,
  UsageError,
  userGroupFieldsOf,
  userSecretsOf,
} from '../../src/cli/options.ts';
import { configPathOf, loadConnection, saveConnection } from '../../src/cli/connection.ts';
import { cell, objectTable, table } from '../../src/cli/output.ts';
import { failure, EXIT, isoTime } from '../../src/cli/run.ts';
import { ApiError } from '../../src/client/admin.ts';
import { ManagerUnavailableError } from '../../src/client/manager.ts';
import { ConfigError } from '../../src/errors.ts';

const usage = (fn: () => unknown) => assert.throws(fn, UsageError);

test('ports: PORT or HOST:CONTAINER, whole numbers 1-65535 on both sides', () => {
  assert.deepEqual(parsePort('80'), 80);
  assert.deepEqual(parsePort('81:80'), { '81': '80' });
  assert.deepEqual(parsePort('65535:1'), { '65535': '1' });
  for (const bad of ['0', '65536', '81:0', '0:80', '-1', '1.5', '80:', ':80', 'http', '80:81:82', '', ' ', '80/udp', '0x50', '1e3', '123456']) usage(() => parsePort(bad));
});

test('env: split on the first "=" only; values keep "=" and ":"; a name twice is refused', () => {
  assert.deepEqual(parseEnv(['URL=postgres://u:p@h:5432/db?sslmode=require', 'EMPTY=', 'EQ==a=b', 'A=1']), {
    URL: 'postgres://u:p@h:5432/db?sslmode=require',
    EMPTY: '',
    EQ: '=a=b',
    A: '1',
  });
  for (const bad of [['NOEQUALS'], ['=value'], ['A B=1'], ['A=1', 'A=2']]) usage(() => parseEnv(bad));
  // Values stay strings: "1" is not 1, "true" not true.
  assert.deepEqual(parseEnv(['N=1', 'B=true']), { N: '1', B: 'true' });
});

test('containers-per: server/instance whole, cpu/memory positive', () => {
  assert.deepEqual(parseContainersPer('server=2'), { server: 2 });
  assert.deepEqual(parseContainersPer('cpu=1'), { cpu: 1 });
  assert.deepEqual(parseContainersPer('cpu=0.5'), { cpu: 0.5 });
  assert.deepEqual(parseContainersPer('memory=512'), { memory: 512 });
  for (const bad of ['server=0', 'server=1.5', 'gpu=1', 'server', 'server=', 'cpu=-1', 'memory=0', 'server=2,cpu=1', '2']) usage(() => parseContainersPer(bad));
});

test('names: a,b and repeated; "" clears; bad names refused', () => {
  assert.deepEqual(parseNames('a,b', 'apps'), ['a', 'b']);
  assert.deepEqual(parseNames(['a', 'b,c', 'a'], 'apps'), ['a', 'b', 'c']);
  assert.deepEqual(parseNames('', 'apps'), []);
  usage(() => parseNames('a b', 'apps'));
  usage(() => parseNames('-x', 'apps'));
});

test('app fields: only the options given; booleans from flags; single-valued options given once', () => {
  assert.deepEqual(appFieldsOf({}), {});
  assert.deepEqual(
    appFieldsOf({
      image: 'nginx:1.27',
      port: ['81:80', '8080'],
      env: ['A=b=c:d'],
      'containers-per': 'server=2',
      network: ['nebula,bridge'],
      volume: ['/srv:/data:ro,z'],
      device: '/dev/ttyUSB0',
      privileged: false,
      'rolling-restart': true,
      running: false,
    }),
    {
      docker_image: 'nginx:1.27',
      starting_ports: [{ '81': '80' }, 8080],
      env_vars: { A: 'b=c:d' },
      containers_per: { server: 2 },
      networks: ['nebula', 'bridge'],
      volumes: ['/srv:/data:ro,z'],
      devices: ['/dev/ttyUSB0'],
      running: false,
      privileged: false,
      rolling_restart: true,
    },
  );
  usage(() => appFieldsOf({ image: ['a', 'b'] }));
  usage(() => appFieldsOf({ image: '' }));
  usage(() => appFieldsOf({ image: 'a b' }));
  usage(() => appFieldsOf({ privileged: 'yes' }));
  usage(() => appFieldsOf({ 'containers-per': ['server=1', 'cpu=1'] }));
  assert.equal(single(undefined, 'x'), undefined);
  assert.equal(single(['a'], 'x'), 'a');
});

test('group fields', () => {
  assert.deepEqual(groupFieldsOf({ apps: 'web,cache', 'cron-jobs': '' }), { apps: ['web', 'cache'], cron_jobs: [] });
  assert.deepEqual(groupFieldsOf({}), {});
});

test('cron job fields: the container fields apps have, and the schedule (checked by the manager)', () => {
  assert.deepEqual(cronJobFieldsOf({}), {});
  assert.deepEqual(cronJobFieldsOf({ image: 'busybox', schedule: '*/5 * * * *', env: ['A=b=c'], network: 'nebula', volume: '/a:/b:ro', device: [], running: false, privileged: true }), {
    docker_image: 'busybox',
    schedule: '*/5 * * * *',
    env_vars: { A: 'b=c' },
    networks: ['nebula'],
    volumes: ['/a:/b:ro'],
    devices: [],
    running: false,
    privileged: true,
  });
  // App-only options are not cron job fields.
  assert.deepEqual(cronJobFieldsOf({ port: '80', 'rolling-restart': true }), {});
  usage(() => cronJobFieldsOf({ schedule: ' ' }));
  usage(() => cronJobFieldsOf({ schedule: ['@daily', '@hourly'] }));
});

test('user groups: NAME=ro|rw permissions, members, flags; "" clears a list', () => {
  assert.deepEqual(parsePermissions(['web=rw', 'cache=ro,db=rw'], 'app'), { web: 'rw', cache: 'ro', db: 'rw' });
  assert.deepEqual(parsePermissions('', 'app'), {});
  for (const bad of ['web', 'web=', 'web=admin', '=rw', 'a b=ro', 'web=RW']) usage(() => parsePermissions(bad, 'app'));
  usage(() => parsePermissions(['web=ro', 'web=rw'], 'app'));
  assert.deepEqual(parseMembers(['alice', 'bob,alice', ' carol@x.org ']), ['alice', 'bob', 'carol@x.org']);
  assert.deepEqual(parseMembers(''), []);
  assert.deepEqual(userGroupFieldsOf({}), {});
  assert.deepEqual(userGroupFieldsOf({ member: 'a', admin: false, 'pruning-allowed': true, app: 'web=rw', 'device-group': 'pos=ro', 'cron-job': '' }), {
    group_members: ['a'],
    admin: false,
    pruning_allowed: true,
    apps: { web: 'rw' },
    device_groups: { pos: 'ro' },
    cron_jobs: {},
  });
  usage(() => userGroupFieldsOf({ admin: 'yes' }));
});

test('user secrets: a flag, stdin (read only when asked) or the environment; one way each; never empty', async () => {
  const stdin = (text: string) => async () => text;
  const never = async (): Promise<string> => assert.fail('stdin read');
  assert.deepEqual(await userSecretsOf({}, {}, never), {});
  assert.deepEqual(await userSecretsOf({ 'user-password': 'p', 'user-token': 't' }, {}, never), { password: 'p', token: 't' });
  assert.deepEqual(await userSecretsOf({}, { NEBULA_USER_PASSWORD: 'envp', NEBULA_USER_TOKEN: 'envt' }, never), { password: 'envp', token: 'envt' });
  assert.deepEqual(await userSecretsOf({ 'user-password': 'flag' }, { NEBULA_USER_PASSWORD: 'env' }, never), { password: 'flag' });
  assert.deepEqual(await userSecretsOf({ 'password-stdin': true }, { NEBULA_USER_PASSWORD: 'env' }, stdin('p w=:\n')), { password: 'p w=:' });
  assert.deepEqual(await userSecretsOf({ 'token-stdin': true, 'user-password': 'p' }, {}, stdin('tok\r\n')), { password: 'p', token: 'tok' });
  assert.deepEqual(await userSecretsOf({ 'password-stdin': false }, {}, never), {});
  const refused = (promise: Promise<unknown>) => assert.rejects(promise, UsageError);
  await refused(userSecretsOf({ 'password-stdin': true, 'token-stdin': true }, {}, stdin('x')));
  await refused(userSecretsOf({ 'password-stdin': true, 'user-password': 'p' }, {}, stdin('x')));
  await refused(userSecretsOf({ 'password-stdin': true }, {}, stdin('')));
  await refused(userSecretsOf({ 'user-password': '' }, {}, never));
  await refused(userSecretsOf({ 'user-token': ['a', 'b'] }, {}, never));
  assert.equal(secretOfStdin('abc\n', 'x'), 'abc');
  usage(() => secretOfStdin('a\nb\n', 'x'));
  usage(() => secretOfStdin('\n', 'x'));
});

test('reports and devices queries: the API parameters, paging checked', () => {
  assert.deepEqual(reportQueryOf({}), { hostname: undefined, device_group: undefined });
  assert.deepEqual(reportQueryOf({ hostname: 'h', 'device-group': 'g', created: '1700000000', 'created-op': 'gte', updated: false, 'page-size': '50', 'last-id': 'abc' }), {
    page_size: 50,
    last_id: 'abc',
    hostname: 'h',
    device_group: 'g',
    report_creation_time: 1700000000,
    report_creation_time_filter: 'gte',
    updated: 'False',
  });
  assert.equal(reportQueryOf({ created: '5' }).report_creation_time_filter, undefined);
  usage(() => reportQueryOf({ 'created-op': 'gte' }));
  usage(() => reportQueryOf({ created: '5', 'created-op': 'after' }));
  for (const bad of ['yesterday', '1.5', '']) usage(() => reportQueryOf({ created: bad }));
  for (const bad of ['0', '1001', 'ten', '-1']) usage(() => reportQueryOf({ 'page-size': bad }));
  usage(() => reportQueryOf({ hostname: ['a', 'b'] }));
  assert.deepEqual(deviceQueryOf({ 'device-group': 'g', behind: true, 'page-size': '1000' }), { page_size: 1000, device_group: 'g', behind: 'true' });
  assert.deepEqual(deviceQueryOf({ behind: false }).behind, 'false');
  usage(() => deviceQueryOf({ 'last-id': '' }));
});

test('connection: flags > env > file, the address and the credentials each taken whole', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cli.json');
  writeFileSync(file, JSON.stringify({ manager_url: 'http://file:1', user: 'fileuser', password: 'filepw' }));
  const env = { NEBULA_CLI_CONFIG: file };

  assert.deepEqual(loadConnection({}, env).auth, { user: 'fileuser', password: 'filepw' });
  assert.equal(loadConnection({}, env).managerUrl, 'http://file:1');
  assert.equal(loadConnection({}, env).file, file);
  // env beats the file; NEBULA_MANAGER_HOST/PORT/PROTOCOL as the worker reads them
  assert.equal(loadConnection({}, { ...env, NEBULA_MANAGER_URI: 'http://env:2/' }).managerUrl, 'http://env:2');
  assert.equal(loadConnection({}, { ...env, NEBULA_MANAGER_HOST: 'h', NEBULA_MANAGER_PORT: '8443', NEBULA_MANAGER_PROTOCOL: 'https' }).managerUrl, 'https://h:8443');
  assert.equal(loadConnection({}, { ...env, NEBULA_MANAGER_HOST: 'h' }).managerUrl, 'http://h:80');
  assert.deepEqual(loadConnection({}, { ...env, NEBULA_MANAGER_AUTH_TOKEN: 'tok' }).auth, { token: 'tok' });
  // flags beat env
  assert.equal(loadConnection({ 'manager-url': 'http://flag:3' }, { ...env, NEBULA_MANAGER_URI: 'http://env:2' }).managerUrl, 'http://flag:3');
  assert.deepEqual(loadConnection({ user: 'u', password: 'p' }, { ...env, NEBULA_MANAGER_AUTH_TOKEN: 'tok' }).auth, { user: 'u', password: 'p' });
  assert.deepEqual(loadConnection({ token: 't2' }, env).auth, { token: 't2' });
  // a lone password (flag or env) goes with the user from a later source
  assert.deepEqual(loadConnection({ password: 'other' }, env).auth, { user: 'fileuser', password: 'other' });
  assert.deepEqual(loadConnection({}, { ...env, NEBULA_MANAGER_AUTH_PASSWORD: 'envpw' }).auth, { user: 'fileuser', password: 'envpw' });
  assert.equal(loadConnection({ 'request-timeout': '5' }, env).requestTimeoutMs, 5000);

  const setting = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.setting;
    }
    assert.fail('no ConfigError');
  };
  assert.equal(setting(() => loadConnection({}, { HOME: dir })), 'manager_url');
  assert.equal(setting(() => loadConnection({ 'manager-url': 'ftp://x' }, {})), 'manager_url');
  assert.equal(setting(() => loadConnection({ 'manager-url': 'http://x', user: 'u' }, {})), 'password');
  assert.equal(setting(() => loadConnection({ 'manager-url': 'http://x', 'manager-port': '70000', 'manager-host': 'h' }, {})), 'manager_port');
  assert.equal(setting(() => loadConnection({ 'manager-url': 'http://x', 'manager-ca-file': file }, {})), 'manager_ca_file');
  assert.equal(setting(() => loadConnection({ 'manager-url': 'https://x', 'manager-ca-file': file }, {})), 'manager_ca_file');
  assert.equal(setting(() => loadConnection({ config: join(dir, 'missing.json') }, {})), 'config');
  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ manager_uri: 'http://x' }));
  assert.equal(setting(() => loadConnection({ config: join(dir, 'typo.json') }, {})), 'manager_uri');
});

test('the settings file: $XDG_CONFIG_HOME or ~/.config; mode 0600; a secret only when asked', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(configPathOf(undefined, { XDG_CONFIG_HOME: '/x' }), { path: '/x/nebula/cli.json', explicit: false });
  assert.deepEqual(configPathOf(undefined, { HOME: '/h' }), { path: '/h/.config/nebula/cli.json', explicit: false });
  assert.deepEqual(configPathOf(undefined, { HOME: '/h', XDG_CONFIG_HOME: 'relative' }), { path: '/h/.config/nebula/cli.json', explicit: false });
  assert.deepEqual(configPathOf('/f.json', { XDG_CONFIG_HOME: '/x' }), { path: '/f.json', explicit: true });

  const path = join(dir, 'sub', 'nebula', 'cli.json');
  const connection = { managerUrl: 'http://m:1', auth: { user: 'u', password: 'p' }, requestTimeoutMs: 30_000 };
  saveConnection(path, connection, false);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'sub', 'nebula')).mode & 0o777, 0o700);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { manager_url: 'http://m:1', user: 'u' });
  saveConnection(path, connection, true);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { manager_url: 'http://m:1', user: 'u', password: 'p' });
  saveConnection(path, { ...connection, auth: { token: 't' } }, false);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { manager_url: 'http://m:1' });
  saveConnection(path, { ...connection, auth: { token: 't' } }, true);
  assert.deepEqual(loadConnection({ config: path }, {}).auth, { token: 't' });
});

test('output: aligned tables, readable cells', () => {
  assert.equal(table(['NAME', 'ID'], [['a', '1'], ['long-name', '22']]), 'NAME       ID\na          1\nlong-name  22\n');
  assert.equal(cell([{ '81': '80' }, 8080]), '81:80, 8080');
  assert.equal(cell({ A: 'b=c:d' }), 'A=b=c:d');
  assert.equal(cell([]), '-');
  assert.equal(cell(false), 'false');
  assert.ok(!objectTable({ _id: { $oid: 'x' }, app_name: 'web' }).includes('$oid'));
  assert.equal(cell({ applied: { device_group_id: 1, apps: {} } }), 'applied={"device_group_id":1,"apps":{}}');
  assert.equal(isoTime(1_800_000_000), '2027-01-15T08:00:00.000Z');
  assert.equal(isoTime(9_000_000_000_000), '9000000000000');
});

test('exit codes: 1 refused (4xx), 2 usage/config, 3 unreachable or 5xx, 4 a bug', () => {
  const refused = failure(new ApiError(403, 'APP_NOT_FOUND', 'the app does not exist', {}), 'app get');
  assert.equal(refused.code, EXIT.REFUSED);
  assert.match(refused.message, /^error APP_NOT_FOUND: the app does not exist \(HTTP 403\)/);
  assert.equal(failure(new ApiError(401, 'UNAUTHORIZED', 'Unauthorized Access', {}), 'x').code, 1);
  assert.equal(failure(new UsageError('x'), 'x').code, 2);
  assert.equal(failure(new ConfigError('a', 'b'), 'x').code, 2);
  assert.equal(failure(new ManagerUnavailableError('down'), 'x').code, 3);
  assert.equal(failure(new TypeError('oops'), 'x').code, 4);
});
