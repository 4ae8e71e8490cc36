// The metrics listener's settings (src/config/metrics.ts), the worker's and the reporter's: off
// unless a port is given, 127.0.0.1 unless a host is; flags > env > file; bad values refused
// with the setting named. And the worker's pure metric rules: restart reasons, objects behind.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configFiles, settingOf } from '../helpers/config.ts';
import { loadWorkerConfig } from '../../src/config/worker.ts';
import { loadReporterConfig } from '../../src/config/reporter.ts';
import { objectsBehind, restartReasonOf } from '../../roles/worker/metrics.ts';
import { app as appDoc } from '../helpers/diff-builders.ts';

const { configFile } = configFiles('nebula-metrics-options-');

const roles = {
  worker: (flags: Record<string, unknown>, env: NodeJS.ProcessEnv) => loadWorkerConfig(flags, { DEVICE_GROUP: 'pos-eu', NEBULA_MANAGER_URI: 'http://manager:8080', ...env }).metrics,
  reporter: (flags: Record<string, unknown>, env: NodeJS.ProcessEnv) => loadReporterConfig(flags, { KAFKA_BOOTSTRAP_SERVERS: 'k:9092', ...env }).metrics,
};

for (const [role, metricsOf] of Object.entries(roles)) {
  describe(`the ${role}'s metrics listener`, () => {
    test('off unless a port is given, even with a host', () => {
      assert.equal(metricsOf({}, {}), undefined);
      assert.equal(metricsOf({ 'metrics-host': '0.0.0.0' }, {}), undefined);
      assert.equal(metricsOf({}, { NEBULA_METRICS_PORT: '' }), undefined, 'an empty variable is unset');
    });

    test('a port: on 127.0.0.1 by default; 0 is any free port', () => {
      assert.deepEqual(metricsOf({}, { NEBULA_METRICS_PORT: '9101' }), { host: '127.0.0.1', port: 9101 });
      assert.deepEqual(metricsOf({ 'metrics-port': '0' }, {}), { host: '127.0.0.1', port: 0 });
    });

    test('flags > environment > config file', () => {
      const config = configFile({ metrics_port: 9300, metrics_host: '10.0.0.5' });
      assert.deepEqual(metricsOf({ config }, {}), { host: '10.0.0.5', port: 9300 });
      assert.deepEqual(metricsOf({ config }, { NEBULA_METRICS_PORT: '9200', NEBULA_METRICS_HOST: '::1' }), { host: '::1', port: 9200 });
      assert.deepEqual(metricsOf({ config, 'metrics-port': '9100', 'metrics-host': 'metrics.local' }, { NEBULA_METRICS_PORT: '9200' }), { host: 'metrics.local', port: 9100 });
    });

    test('hosts: IPv4, IPv6, names', () => {
      for (const host of ['0.0.0.0', '192.168.1.20', '::', '::1', 'fe80::1', 'localhost', 'node-7.example.com']) {
        assert.deepEqual(metricsOf({ 'metrics-port': '9101', 'metrics-host': host }, {}), { host, port: 9101 }, host);
      }
    });

    test('bad values are refused, naming the setting', () => {
      for (const port of ['-1', '65536', 'abc', '9101.5', '1e3', ' ']) {
        assert.equal(settingOf(() => metricsOf({ 'metrics-port': port }, {})), 'metrics_port', port);
      }
      assert.equal(settingOf(() => metricsOf({}, { NEBULA_METRICS_PORT: 'http' })), 'metrics_port');
      for (const host of ['', 'a b', 'http://h', 'h:9101', '[::1]', '-h', 'h_1', '1.2.3.4.5.', `${'a'.repeat(64)}.com`]) {
        assert.equal(settingOf(() => metricsOf({ 'metrics-port': '9101', 'metrics-host': host }, {})), 'metrics_host', JSON.stringify(host));
      }
      // A bad host is refused with or without a port: a typo shows before the port is set.
      assert.equal(settingOf(() => metricsOf({ 'metrics-host': 'a b' }, {})), 'metrics_host');
      assert.equal(settingOf(() => metricsOf({ config: configFile({ metrics_port: { toString: 1 } }) }, {})), 'metrics_port');
    });
  });
}

describe("the worker's restart reasons", () => {
  const app = appDoc('web', { docker_image: 'web:1', env_vars: { MODE: 'a' } });
  const next = (changes: Record<string, unknown>) => ({ ...app, ...changes, app_id: app.app_id + 1 });

  test('a new image, another setting, a restart through the API, nothing known', () => {
    assert.equal(restartReasonOf(app, next({ docker_image: 'web:2' })), 'image_changed');
    assert.equal(restartReasonOf(app, next({ docker_image: 'web:2', env_vars: { MODE: 'b' } })), 'image_changed');
    assert.equal(restartReasonOf(app, next({ env_vars: { MODE: 'b' } })), 'config_changed');
    assert.equal(restartReasonOf(app, next({ containers_per: { server: 2 } })), 'config_changed');
    assert.equal(restartReasonOf(app, next({})), 'requested');
    assert.equal(restartReasonOf(undefined, app), 'outdated');
    assert.equal(restartReasonOf(app, app), 'outdated');
  });

  test('objects behind: each desired id above the applied one, a missing object included', () => {
    const ids = (group: number, apps: Record<string, number>, cron_jobs: Record<string, number> = {}, prune = 1) => ({ device_group_id: group, prune_id: prune, apps, cron_jobs });
    assert.equal(objectsBehind(ids(3, { web: 2 }, { job: 1 }), ids(3, { web: 2 }, { job: 1 })), 0);
    assert.equal(objectsBehind(ids(3, { web: 2 }), ids(3, { web: 3 })), 1);
    assert.equal(objectsBehind(ids(2, { web: 2 }), ids(3, { web: 2, api: 1 }, { job: 1 }, 2)), 4);
    // An object applied but no longer desired, or applied ahead (a stale answer), is not behind.
    assert.equal(objectsBehind(ids(3, { web: 5, old: 1 }), ids(3, { web: 4 })), 0);
  });
});
