// The worker's settings: the original worker's environment names, flags, and checks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadWorkerConfig, registryHostOf } from '../../src/config/worker.ts';
import { ConfigError } from '../../src/errors.ts';

function settingOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.setting;
    throw err;
  }
  return undefined;
}

test('original environment names configure the worker, with the original defaults', () => {
  const c = loadWorkerConfig({}, {
    DEVICE_GROUP: 'pos-eu',
    NEBULA_MANAGER_HOST: 'nebula.local',
    NEBULA_MANAGER_AUTH_USER: 'u',
    NEBULA_MANAGER_AUTH_PASSWORD: 'p',
    REGISTRY_AUTH_USER: 'ru',
    REGISTRY_AUTH_PASSWORD: 'rp',
    REGISTRY_HOST: 'https://registry.example.com:5000/v2/',
    MAX_RESTART_WAIT_IN_SECONDS: '7',
  });
  assert.equal(c.deviceGroup, 'pos-eu');
  assert.equal(c.managerUrl, 'http://nebula.local:80');
  assert.deepEqual(c.auth, { user: 'u', password: 'p' });
  assert.equal(c.checkInSeconds, 30);
  assert.equal(c.requestTimeoutSeconds, 60);
  assert.deepEqual(c.registry, { username: 'ru', password: 'rp', host: 'registry.example.com:5000' });
  assert.equal(c.maxRestartWaitSeconds, 7);
  assert.equal(c.stateDir, '/var/lib/nebula-worker');
  assert.equal(c.dockerSocket, '/var/run/docker.sock');
});

test('the manager URI wins over host/port/protocol; the token wins over basic auth', () => {
  const c = loadWorkerConfig({}, {
    DEVICE_GROUP: 'g',
    NEBULA_MANAGER_URI: 'https://h:8443/nebulaManager/',
    NEBULA_MANAGER_HOST: 'ignored',
    NEBULA_MANAGER_AUTH_USER: 'u',
    NEBULA_MANAGER_AUTH_PASSWORD: 'p',
    NEBULA_MANAGER_AUTH_TOKEN: 't',
  });
  assert.equal(c.managerUrl, 'https://h:8443/nebulaManager');
  assert.deepEqual(c.auth, { token: 't' });
});

test('flags win over the environment', () => {
  const c = loadWorkerConfig(
    { 'device-group': 'from-flag', 'manager-url': 'http://127.0.0.1:9', 'check-in-time': '5', 'state-dir': '/tmp/s', 'docker-socket': '/tmp/d.sock' },
    { DEVICE_GROUP: 'from-env', NEBULA_MANAGER_CHECK_IN_TIME: '50' },
  );
  assert.equal(c.deviceGroup, 'from-flag');
  assert.equal(c.checkInSeconds, 5);
  assert.equal(c.stateDir, '/tmp/s');
  assert.equal(c.dockerSocket, '/tmp/d.sock');
});

test('"skip" registry credentials mean none', () => {
  const c = loadWorkerConfig({}, { DEVICE_GROUP: 'g', NEBULA_MANAGER_HOST: 'h', REGISTRY_AUTH_USER: 'skip', REGISTRY_AUTH_PASSWORD: 'skip' });
  assert.equal(c.registry, null);
});

test('missing or contradictory settings name themselves', () => {
  assert.equal(settingOf(() => loadWorkerConfig({}, { NEBULA_MANAGER_HOST: 'h' })), 'device_group');
  assert.equal(settingOf(() => loadWorkerConfig({}, { DEVICE_GROUP: 'g' })), 'nebula_manager_uri');
  assert.equal(settingOf(() => loadWorkerConfig({}, { DEVICE_GROUP: 'g', NEBULA_MANAGER_URI: 'ftp://x' })), 'nebula_manager_uri');
  assert.equal(settingOf(() => loadWorkerConfig({}, { DEVICE_GROUP: 'a.b', NEBULA_MANAGER_HOST: 'h' })), 'device_group');
  assert.equal(settingOf(() => loadWorkerConfig({}, { DEVICE_GROUP: 'g', NEBULA_MANAGER_HOST: 'h', NEBULA_MANAGER_AUTH_USER: 'u' })), 'nebula_manager_auth_password');
  assert.equal(settingOf(() => loadWorkerConfig({}, { DEVICE_GROUP: 'g', NEBULA_MANAGER_HOST: 'h', NEBULA_MANAGER_CHECK_IN_TIME: '0' })), 'nebula_manager_check_in_time');
  assert.equal(settingOf(() => loadWorkerConfig({}, { DEVICE_GROUP: 'g', NEBULA_MANAGER_HOST: 'h', NEBULA_MANAGER_PROTOCOL: 'gopher' })), 'nebula_manager_protocol');
});

test('registry hosts are normalised', () => {
  assert.equal(registryHostOf('https://index.docker.io/v1/'), 'index.docker.io');
  assert.equal(registryHostOf('127.0.0.1:5001'), '127.0.0.1:5001');
  assert.equal(registryHostOf('HTTP://Reg.Example.com/path'), 'reg.example.com');
});
