// MongoDB goes away under a running manager (a private MongoDB-wire server, SIGKILLed and
// restarted on the same port and data): admin writes answer 503 with a JSON body, /info
// serves its cached data for the cache window and then 503, /readyz is false, and all of it
// heals by itself when the database is back — the same process, no restart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basic } from '../../helpers/manager.ts';
import { isRunning, startManagerProcess, stopProcess, type ManagerProcess } from '../../helpers/process.ts';
import { startPrivateMongo } from '../../helpers/mongo.ts';
import { waitFor } from '../../helpers/kafka.ts';

const AUTH = { authorization: basic('admin', 'pw'), 'content-type': 'application/json' };

async function send(m: ManagerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${m.url}${path}`, { method, headers: AUTH, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(20_000) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

test('MongoDB down: 503 JSON for writes, cached /info for the cache window then 503, /readyz false; heals by itself', async (t) => {
  const mongo = await startPrivateMongo();
  t.after(() => mongo.stop());
  const dir = mkdtempSync(join(tmpdir(), 'nebula-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const CACHE = 4;
  const m = await startManagerProcess(dir, {
    BASIC_AUTH_USER: 'admin',
    BASIC_AUTH_PASSWORD: 'pw',
    NEBULA_LOG_LEVEL: 'info',
    MONGO_URL: mongo.url,
    SCHEMA_NAME: 'outage',
    CACHE_TIME: String(CACHE),
  });
  t.after(() => stopProcess(m));

  assert.equal((await send(m, 'POST', '/api/v2/apps/web', { docker_image: 'img/web:1' })).status, 200);
  assert.equal((await send(m, 'POST', '/api/v2/device_groups/pos', { apps: ['web'] })).status, 200);
  const warm = await send(m, 'GET', '/api/v2/device_groups/pos/info');
  assert.equal(warm.status, 200);
  const cachedAt = Date.now();

  await mongo.kill();

  // /info: the last good data while the cache entry lives (no store read at all).
  const cached = await send(m, 'GET', '/api/v2/device_groups/pos/info');
  assert.ok(Date.now() - cachedAt < CACHE * 1000, 'still inside the cache window');
  assert.equal(cached.status, 200);
  assert.deepEqual(cached.body, warm.body);

  // An admin write: 503 with a catalogued JSON body and Retry-After.
  const write = await send(m, 'POST', '/api/v2/apps/web/stop');
  assert.equal(write.status, 503, JSON.stringify(write.body));
  assert.equal(write.body.code, 'STORE_UNAVAILABLE');
  assert.ok(write.headers.get('retry-after'));

  // ...then 503 once it has expired.
  await waitFor('/info to answer 503 once the cache window has passed', async () => (await send(m, 'GET', '/api/v2/device_groups/pos/info')).status === 503, 30_000, 500);
  const expired = await send(m, 'GET', '/api/v2/device_groups/pos/info');
  assert.equal(expired.body.code, 'STORE_UNAVAILABLE');

  // Readiness is false; liveness stays true (systemd and the load balancer keep the process).
  await waitFor('/readyz to fail', async () => (await fetch(`${m.url}/readyz`)).status === 503, 15_000, 200);
  assert.equal((await fetch(`${m.url}/healthz`)).status, 200);
  assert.ok(isRunning(m), 'the manager keeps running through the outage');

  await mongo.restart();

  // The same process heals: ready again, writes go through, /info serves the new data.
  await waitFor('/readyz to pass again', async () => (await fetch(`${m.url}/readyz`)).status === 200, 60_000, 250);
  const stop = await send(m, 'POST', '/api/v2/apps/web/stop');
  assert.equal(stop.status, 202, JSON.stringify(stop.body));
  assert.equal(stop.body.app_id, 2);
  const after = await send(m, 'GET', '/api/v2/device_groups/pos/info');
  assert.equal(after.status, 200);
  assert.equal(after.body.apps[0].running, false);
  assert.ok(isRunning(m), 'no restart was needed');
  const log = m.output();
  assert.match(log, /the store is unreachable/);
  assert.match(log, /the store is reachable again/);
});

test('a MongoDB that cannot be reached at start: the process ends non-zero with a clear message', async (t) => {
  const mongo = await startPrivateMongo();
  await mongo.stop();
  const dir = mkdtempSync(join(tmpdir(), 'nebula-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(
    startManagerProcess(dir, { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'pw', MONGO_URL: mongo.url, SCHEMA_NAME: 'gone' }),
    /cannot open the store: mongodb store: cannot connect to mongodb:\/\/127\.0\.0\.1:\d+/,
  );
});
