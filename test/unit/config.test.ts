// Manager settings: precedence, the original's names, defaults, errors, and the CLI's exits.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/errors.ts';
import { configFiles, settingOf } from '../helpers/config.ts';
import { loadManagerConfig } from '../../src/config/manager.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { dir, configFile } = configFiles('nebula-config-');

describe('loadManagerConfig', () => {
  test('defaults', () => {
    const c = loadManagerConfig({}, {});
    assert.equal(c.port, 80);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.cacheTimeSeconds, 10);
    assert.equal(c.cacheMaxSize, 1024);
    assert.equal(c.authEnabled, true);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.longPollMaxWaitSeconds, 60);
    assert.equal(c.dataDir, '/var/lib/nebula');
    assert.equal(c.databaseFile, join('/var/lib/nebula', 'nebula.db'));
    assert.equal(c.basicAuthUser, undefined);
    assert.equal(c.basicAuthPassword, undefined);
    assert.equal(c.authToken, undefined);
  });

  test('databaseFile is <data_dir>/<schema_name>.db', () => {
    const c = loadManagerConfig({ 'data-dir': '/srv/neb', 'schema-name': 'prod_1' }, {});
    assert.equal(c.databaseFile, join('/srv/neb', 'prod_1.db'));
    assert.equal(loadManagerConfig({}, { SCHEMA_NAME: 'other', NEBULA_DATA_DIR: '/d' }).databaseFile, join('/d', 'other.db'));
  });

  test('the MongoDB store: mongo_url, a separate reports database, read preference, pool, mode', () => {
    const sqlite = loadManagerConfig({}, {});
    assert.equal(sqlite.mongo, undefined);
    assert.equal(sqlite.mode, 'single');
    const c = loadManagerConfig(
      { mode: 'edge' },
      { MONGO_URL: 'mongodb://u:p@m1,m2/?replicaSet=rs0', REPORTS_MONGO_URL: 'mongodb://local-r/', MONGO_READ_PREFERENCE: 'nearest', MONGO_MAX_POOL_SIZE: '50', SCHEMA_NAME: 'fleet' },
    );
    assert.deepEqual(c.mongo, { url: 'mongodb://u:p@m1,m2/?replicaSet=rs0', reportsUrl: 'mongodb://local-r/', readPreference: 'nearest', maxPoolSize: 50 });
    assert.equal(c.schemaName, 'fleet');
    assert.equal(c.mode, 'edge');
    assert.equal(loadManagerConfig({}, { NEBULA_MODE: 'control' }).mode, 'control');
    assert.deepEqual(loadManagerConfig({}, { MONGO_URL: 'mongodb+srv://cluster.example/' }).mongo, { url: 'mongodb+srv://cluster.example/', maxPoolSize: 25 });
  });

  test('flags > env > config file > defaults', () => {
    const file = configFile({ port: 8000, cache_time: 30, cache_max_size: 50, basic_auth_user: 'fileuser', basic_auth_password: 'filepw', host: '127.0.0.1' });
    const env = { NEBULA_PORT: '9000', CACHE_TIME: '20' };
    const c = loadManagerConfig({ config: file, port: '7000' }, env);
    assert.equal(c.port, 7000);
    assert.equal(c.cacheTimeSeconds, 20);
    assert.equal(c.cacheMaxSize, 50);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.basicAuthUser, 'fileuser');
    assert.equal(c.basicAuthPassword, 'filepw');
    assert.equal(c.longPollMaxWaitSeconds, 60);
    assert.equal(loadManagerConfig({ config: file }, env).port, 9000);
    assert.equal(loadManagerConfig({ config: file }, {}).port, 8000);
  });

  test('the config file can be named by NEBULA_CONFIG; the flag wins over it', () => {
    const a = configFile({ cache_time: 3 });
    const b = configFile({ cache_time: 4 });
    assert.equal(loadManagerConfig({}, { NEBULA_CONFIG: a }).cacheTimeSeconds, 3);
    assert.equal(loadManagerConfig({ config: b }, { NEBULA_CONFIG: a }).cacheTimeSeconds, 4);
  });

  test("the original's environment names", () => {
    const c = loadManagerConfig({}, {
      BASIC_AUTH_USER: 'admin',
      BASIC_AUTH_PASSWORD: 'pw',
      AUTH_TOKEN: 'tok',
      CACHE_TIME: '0',
      CACHE_MAX_SIZE: '5',
      SCHEMA_NAME: 'legacy',
      LOG_LEVEL: 'warn',
    });
    assert.equal(c.basicAuthUser, 'admin');
    assert.equal(c.basicAuthPassword, 'pw');
    assert.equal(c.authToken, 'tok');
    assert.equal(c.cacheTimeSeconds, 0);
    assert.equal(c.cacheMaxSize, 5);
    assert.equal(c.databaseFile, join('/var/lib/nebula', 'legacy.db'));
    assert.equal(c.logLevel, 'warn');
    assert.equal(loadManagerConfig({}, { NEBULA_LOG_LEVEL: 'debug', LOG_LEVEL: 'warn' }).logLevel, 'debug');
  });

  test('AUTH_ENABLED spellings', () => {
    for (const off of ['false', 'False', 'FALSE', '0', 'no']) assert.equal(loadManagerConfig({}, { AUTH_ENABLED: off }).authEnabled, false, off);
    for (const on of ['true', 'True', '1', 'yes']) assert.equal(loadManagerConfig({}, { AUTH_ENABLED: on }).authEnabled, true, on);
    assert.equal(loadManagerConfig({ config: configFile({ auth_enabled: false }) }, {}).authEnabled, false);
    assert.equal(loadManagerConfig({ 'auth-enabled': 'false' }, { AUTH_ENABLED: 'true' }).authEnabled, false);
  });

  test('an empty environment variable is ignored', () => {
    assert.equal(loadManagerConfig({}, { NEBULA_PORT: '' }).port, 80);
  });

  test('ConfigError names the setting', () => {
    assert.equal(settingOf(() => loadManagerConfig({ port: 'abc' }, {})), 'port');
    assert.equal(settingOf(() => loadManagerConfig({ port: '80.5' }, {})), 'port');
    assert.equal(settingOf(() => loadManagerConfig({ port: '70000' }, {})), 'port');
    assert.equal(settingOf(() => loadManagerConfig({}, { NEBULA_PORT: '-1' })), 'port');
    assert.equal(settingOf(() => loadManagerConfig({}, { AUTH_ENABLED: 'maybe' })), 'auth_enabled');
    assert.equal(settingOf(() => loadManagerConfig({}, { CACHE_TIME: 'ten' })), 'cache_time');
    assert.equal(settingOf(() => loadManagerConfig({}, { CACHE_MAX_SIZE: '0' })), 'cache_max_size');
    assert.equal(settingOf(() => loadManagerConfig({ 'log-level': 'verbose' }, {})), 'log_level');
    assert.equal(settingOf(() => loadManagerConfig({ config: configFile({ cache_tme: 5 }) }, {})), 'cache_tme');
    assert.equal(settingOf(() => loadManagerConfig({ config: configFile('{ not json') }, {})), 'config');
    assert.equal(settingOf(() => loadManagerConfig({ config: configFile('[1]') }, {})), 'config');
    assert.equal(settingOf(() => loadManagerConfig({ config: join(dir, 'absent.json') }, {})), 'config');
    assert.equal(settingOf(() => loadManagerConfig({ config: configFile({ port: 'x' }) }, {})), 'port');
    assert.equal(settingOf(() => loadManagerConfig({}, { BASIC_AUTH_USER: 'admin' })), 'basic_auth_user');
    assert.equal(settingOf(() => loadManagerConfig({}, { BASIC_AUTH_PASSWORD: 'pw' })), 'basic_auth_password');
    assert.equal(settingOf(() => loadManagerConfig({}, { MONGO_URL: 'http://localhost/nebula' })), 'mongo_url');
    assert.equal(settingOf(() => loadManagerConfig({ config: configFile({ mongo_url: 'mongodb://' }) }, {})), 'mongo_url');
    assert.equal(settingOf(() => loadManagerConfig({}, { REPORTS_MONGO_URL: 'mongodb://r1/' })), 'reports_mongo_url');
    assert.equal(settingOf(() => loadManagerConfig({}, { MONGO_URL: 'mongodb://m/', MONGO_READ_PREFERENCE: 'closest' })), 'mongo_read_preference');
    assert.equal(settingOf(() => loadManagerConfig({}, { NEBULA_MODE: 'regional' })), 'mode');
    assert.equal(settingOf(() => loadManagerConfig({ mode: 'Edge' }, {})), 'mode');
    for (const bad of ['a.b', '../etc', 'has space', 'x'.repeat(65)]) {
      assert.equal(settingOf(() => loadManagerConfig({}, { SCHEMA_NAME: bad })), 'schema_name', bad);
    }
  });

  test('a secret is not echoed in the error', () => {
    try {
      loadManagerConfig({ config: configFile({ auth_token: ['s3cr3t-value'] }) }, {});
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.setting, 'auth_token');
      assert.equal(err.message.includes('s3cr3t-value'), false);
    }
  });
});

describe('the nebula CLI', () => {
  // A clean environment, so that the host's NEBULA_* variables cannot change the outcome.
  const env = { PATH: process.env.PATH ?? '' };
  const run = (...args: string[]) => spawnSync(process.execPath, ['src/main.ts', ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });

  test('manager --port abc: exit 2, one stderr line naming port', () => {
    const r = run('manager', '--port', 'abc');
    assert.equal(r.status, 2);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /\bport\b/);
  });

  test('reporter: exit 2 with a message', () => {
    const r = run('reporter');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /reporter/);
  });

  test('worker without a device group: exit 2, one stderr line naming device_group', () => {
    const r = run('worker');
    assert.equal(r.status, 2);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /device_group/);
  });

  test('--version prints package.json version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = run('--version');
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), version);
  });

  test('--help lists manager', () => {
    const r = run('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /\bmanager\b/);
  });

  test('no command: exit 2', () => {
    assert.equal(run().status, 2);
  });
});
