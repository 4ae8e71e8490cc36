// The admin CLI's option parsing, connection settings (flags > env > file) and output, as pure
// functions: every refusal is a UsageError or ConfigError before any request.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appFieldsOf, groupFieldsOf, parseContainersPer, parseEnv, parseNames, parsePort, single, UsageError } from '../../src/cli/options.ts';
import { configPathOf, loadConnection, saveConnection } from '../../src/cli/connection.ts';
import { cell, objectTable, table } from '../../src/cli/output.ts';
import { failure, EXIT } from '../../src/cli/run.ts';
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
