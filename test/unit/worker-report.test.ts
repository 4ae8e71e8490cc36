// The worker's report: app states from what the engine runs, the spool's bounds and
// durability (a real SQLite file), and the reporting settings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAppStates, idsOfApplied, type AppObservation } from '../../roles/worker/report.ts';
import type { AppFailure } from '../../roles/worker/executor.ts';
import { WorkerState } from '../../roles/worker/state.ts';
import { loadWorkerConfig } from '../../src/config/worker.ts';
import { ConfigError } from '../../src/errors.ts';
import type { AppDoc } from '../../src/model/app.ts';
import type { ObservedContainer } from '../../src/diff/types.ts';
import { app, applied as appliedOf, container as labelled } from '../helpers/diff-builders.ts';

const HOST = { cpuCores: 4, memoryMb: 4096 };

function container(appName: string, index: number, appId: number, running = true): ObservedContainer {
  return labelled(appName, index, { appId, running, id: `${appName}-${index}-id` });
}

function applied(...apps: AppDoc[]) {
  return appliedOf({ device_group_id: 7, prune_id: 2, apps });
}

function seen(containers: ObservedContainer[], extra: Partial<AppObservation> = {}): AppObservation {
  return { containers, restarting: new Set(), restarts: {}, ...extra };
}

test('app states: running n/N, starting, stopped, restarting with counts', () => {
  const states = buildAppStates(
    applied(
      app('web', { app_id: 3, containers_per: { server: 2 } }),
      app('api', { app_id: 5, containers_per: { cpu: 1 } }),
      app('off', { app_id: 2, running: false }),
      app('flappy', { app_id: 4 }),
    ),
    seen([container('web', 1, 3), container('web', 2, 3), container('api', 1, 5), container('flappy', 1, 4, false)], {
      restarting: new Set(['flappy-1-id']),
      restarts: { flappy: 6 },
    }),
    new Map(),
    HOST,
  );
  assert.deepEqual(states.web, { state: 'running', app_id: 3, running: 2, desired: 2 });
  assert.deepEqual(states.api, { state: 'starting', app_id: 5, running: 1, desired: 4 });
  assert.deepEqual(states.off, { state: 'stopped', app_id: 2, running: 0, desired: 0 });
  assert.deepEqual(states.flappy, { state: 'restarting', app_id: 4, running: 0, desired: 1, restarts: 6 });
});

test('a failed app reports its reason and the app_id its containers still run, not the one it failed to apply', () => {
  const failure: AppFailure = { reason: 'cannot pull web:9: not found', attempts: 2, retryAt: 0, attempt: 'web:9' };
  const states = buildAppStates(applied(app('web', { app_id: 9 }), app('new', { app_id: 1 })), seen([container('web', 1, 8)]), new Map([['web', failure], ['new', failure]]), HOST);
  assert.deepEqual(states.web, { state: 'failed', app_id: 8, running: 1, desired: 1, reason: 'cannot pull web:9: not found' });
  assert.equal(states.new?.app_id, 0);
  assert.equal(states.new?.state, 'failed');
});

test('applied ids list every app and cron job with its monotonic id', () => {
  assert.deepEqual(idsOfApplied(applied(app('web', { app_id: 3 }))), { device_group_id: 7, prune_id: 2, apps: { web: 3 }, cron_jobs: {} });
});

test('the spool is bounded: the oldest reports are dropped first and counted; it survives a reopen', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let state = WorkerState.open(dir);
  for (let i = 1; i <= 5; i++) assert.equal(state.spoolAdd(JSON.stringify({ n: i }), 5), 0);
  assert.equal(state.spoolAdd(JSON.stringify({ n: 6 }), 5), 1);
  assert.equal(state.spoolAdd(JSON.stringify({ n: 7 }), 5), 1);
  assert.equal(state.spoolDropped(), 2);
  state.close();

  state = WorkerState.open(dir);
  const peek = state.spoolPeek(10);
  assert.deepEqual(peek.map((r) => (JSON.parse(r.report) as { n: number }).n), [3, 4, 5, 6, 7]);
  state.spoolDelete(peek.slice(0, 2).map((r) => r.id));
  assert.equal(state.spoolSize(), 3);
  state.spoolDiscard(peek[2]!.id);
  assert.equal(state.spoolSize(), 2);
  assert.equal(state.spoolDropped(), 3);
  state.close();
});

test('reporting settings: http by default, kafka when brokers are set, device name overridable', () => {
  const base = { DEVICE_GROUP: 'pos-eu', NEBULA_MANAGER_URI: 'http://m:8080' };
  const http = loadWorkerConfig({}, base);
  assert.equal(http.reporting.transport, 'http');
  assert.equal(http.reporting.minIntervalSeconds, 5);
  assert.equal(http.reporting.onUpdateOnly, false);
  assert.match(http.deviceName, /.+/);
  const kafka = loadWorkerConfig({ 'device-name': 'till-042' }, { ...base, KAFKA_BOOTSTRAP_SERVERS: 'k1:9092, k2:9092', REPORT_ON_UPDATE_ONLY: 'True' });
  assert.equal(kafka.reporting.transport, 'kafka');
  assert.deepEqual(kafka.reporting.kafka?.brokers, ['k1:9092', 'k2:9092']);
  assert.equal(kafka.reporting.kafka?.topic, 'nebula-reports');
  assert.equal(kafka.reporting.onUpdateOnly, true);
  assert.equal(kafka.deviceName, 'till-042');
  const none = loadWorkerConfig({ 'report-transport': 'none' }, { ...base, KAFKA_BOOTSTRAP_SERVERS: 'k1:9092' });
  assert.equal(none.reporting.transport, 'none');
  const bad = (flags: Record<string, unknown>, env: Record<string, string> = {}) => {
    try {
      loadWorkerConfig(flags, { ...base, ...env });
    } catch (err) {
      if (err instanceof ConfigError) return err.setting;
      throw err;
    }
    return undefined;
  };
  assert.equal(bad({ 'report-transport': 'kafka' }), 'kafka_bootstrap_servers');
  assert.equal(bad({}, { KAFKA_BOOTSTRAP_SERVERS: 'not a broker' }), 'kafka_bootstrap_servers');
  assert.equal(bad({}, { KAFKA_BOOTSTRAP_SERVERS: 'k:9092', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }), 'kafka_sasl_plain_username');
  assert.equal(bad({}, { KAFKA_BOOTSTRAP_SERVERS: 'k:9092', KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KAFKA_SASL_MECHANISM: 'GSSAPI' }), 'kafka_sasl_mechanism');
  assert.equal(bad({ 'device-name': 'bad name' }), 'device_name');
  assert.equal(bad({ 'report-spool-max': '0' }), 'report_spool_max');
});
