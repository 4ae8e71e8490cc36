// Many managers on one MongoDB database, and regions: a control manager takes admin writes,
// edge managers serve devices from the nearest member, refuse admin writes, and keep their
// devices' reports in a database of their own (reports_mongo_url).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { basic } from '../../helpers/manager.ts';
import { spawnManager, startManagerProcess, stopProcess, type ManagerProcess } from '../../helpers/process.ts';
import { MONGO_URL, dropDb, requireMongo, uniqueDbName } from '../../helpers/mongo.ts';
import { testReport } from '../../helpers/kafka.ts';

const ENV = { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'pw', NEBULA_LOG_LEVEL: 'info', MONGO_URL };
const AUTH = basic('admin', 'pw');

async function send(m: ManagerProcess, method: string, path: string, options: { body?: unknown; auth?: string | null; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.auth !== null) headers.authorization = options.auth ?? AUTH;
  const response = await fetch(`${m.url}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  const text = await response.text();
  return { status: response.status, etag: response.headers.get('etag'), body: text === '' ? undefined : (JSON.parse(text) as any), ms: 0 };
}

function tempDir(t: { after: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-regions-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('two manager processes on one database: a write through A wakes a long-poll held by B within a second', async (t) => {
  await requireMongo();
  const db = uniqueDbName('two');
  t.after(() => dropDb(MONGO_URL, db));
  const a = await startManagerProcess(tempDir(t), { ...ENV, SCHEMA_NAME: db });
  t.after(() => stopProcess(a));
  const b = await startManagerProcess(tempDir(t), { ...ENV, SCHEMA_NAME: db });
  t.after(() => stopProcess(b));

  assert.equal((await send(a, 'POST', '/api/v2/apps/web', { body: { docker_image: 'img/web:1' } })).status, 200);
  assert.equal((await send(a, 'POST', '/api/v2/device_groups/pos', { body: { apps: ['web'] } })).status, 200);
  const first = await send(b, 'GET', '/api/v2/device_groups/pos/info');
  assert.equal(first.status, 200);
  assert.equal(first.etag, (await send(a, 'GET', '/api/v2/device_groups/pos/info')).etag, 'the same data has the same ETag on every manager');

  for (let round = 0; round < 3; round++) {
    const { etag } = await send(b, 'GET', '/api/v2/device_groups/pos/info');
    const started = performance.now();
    const held = send(b, 'GET', '/api/v2/device_groups/pos/info?wait=20', { headers: { 'if-none-match': etag! } });
    await new Promise((resolve) => setTimeout(resolve, 300)); // B now holds the poll
    const writeAt = performance.now();
    assert.equal((await send(a, 'PUT', '/api/v2/apps/web/update', { body: { env_vars: { ROUND: String(round) } } })).status, 202);
    const woke = await held;
    const ms = performance.now() - writeAt;
    assert.equal(woke.status, 200, `round ${round}`);
    assert.equal(woke.body.apps[0].env_vars.ROUND, String(round));
    assert.ok(ms < 1000, `round ${round}: B woke ${Math.round(ms)} ms after the write through A (held ${Math.round(writeAt - started)} ms)`);
  }
});

test('edge mode: admin writes are 403 READ_ONLY_INSTANCE, reads and device reports work, reports stay in the edge database', async (t) => {
  await requireMongo();
  const db = uniqueDbName('edge');
  const edgeReports = uniqueDbName('edger');
  t.after(() => dropDb(MONGO_URL, db));
  t.after(() => dropDb(MONGO_URL, edgeReports));
  // The reports database is a separate deployment in production; here another database on
  // the same server stands for it (named by the URL's path).
  const reportsUrl = `${MONGO_URL.replace(/\/$/, '')}/${edgeReports}`;
  const control = await startManagerProcess(tempDir(t), { ...ENV, SCHEMA_NAME: db, NEBULA_MODE: 'control' });
  t.after(() => stopProcess(control));
  const edge = await startManagerProcess(tempDir(t), { ...ENV, SCHEMA_NAME: db, NEBULA_MODE: 'edge', REPORTS_MONGO_URL: reportsUrl });
  t.after(() => stopProcess(edge));

  assert.equal((await send(control, 'POST', '/api/v2/apps/web', { body: { docker_image: 'img/web:1' } })).status, 200);
  assert.equal((await send(control, 'POST', '/api/v2/device_groups/pos', { body: { apps: ['web'] } })).status, 200);

  // Every admin write is refused on the edge, after authentication.
  const writes: [string, string, unknown?][] = [
    ['POST', '/api/v2/apps/other', { docker_image: 'img/o:1' }],
    ['POST', '/api/v2/apps/web/stop'],
    ['PUT', '/api/v2/apps/web/update', { docker_image: 'img/web:2' }],
    ['DELETE', '/api/v2/apps/web'],
    ['POST', '/api/v2/device_groups/pos/update', { apps: [] }],
    ['POST', '/api/v2/device_groups/pos/prune'],
    ['POST', '/api/v2/prune'],
    ['POST', '/api/v2/cron_jobs/c', { docker_image: 'img/c:1', schedule: '* * * * *' }],
    ['POST', '/api/v2/users/u', { password: 'p' }],
    ['POST', '/api/v2/user_groups/g', {}],
  ];
  for (const [method, path, body] of writes) {
    const r = await send(edge, method, path, body !== undefined ? { body } : {});
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, 'READ_ONLY_INSTANCE', `${method} ${path}`);
    assert.match(r.body.message, /edge mode/);
    const anonymous = await send(edge, method, path, { auth: null, ...(body !== undefined ? { body } : {}) });
    assert.equal(anonymous.status, 401, `${method} ${path} without credentials`);
  }
  // Nothing changed.
  const app = await send(control, 'GET', '/api/v2/apps/web');
  assert.equal(app.body.app_id, 1);
  assert.equal(app.body.running, true);

  // Reads are served (from the nearest member: the edge's default read preference).
  const info = await send(edge, 'GET', '/api/v2/device_groups/pos/info');
  assert.equal(info.status, 200);
  assert.deepEqual(info.body.apps_list, ['web']);
  assert.equal((await send(edge, 'GET', '/api/v2/apps')).status, 200);

  // Device reports are taken by the edge and kept in its reports database.
  const report = testReport('edge-device-1', { device_group: 'pos' });
  const posted = await send(edge, 'POST', '/api/v2/reports', { body: [report] });
  assert.ok(posted.status >= 200 && posted.status < 300, JSON.stringify(posted.body));
  const onEdge = await send(edge, 'GET', '/api/v2/reports?hostname=edge-device-1');
  assert.equal(onEdge.body.data.length, 1);
  assert.equal((await send(edge, 'GET', '/api/v2/devices/edge-device-1')).status, 200);
  const client = new MongoClient(MONGO_URL);
  try {
    assert.equal(await client.db(edgeReports).collection('nebula_reports').countDocuments({ hostname: 'edge-device-1' }), 1);
    assert.equal(await client.db(edgeReports).collection('nebula_devices').countDocuments({ _id: 'edge-device-1' as never }), 1);
    assert.equal(await client.db(db).collection('nebula_reports').countDocuments({}), 0, 'nothing in the replicated admin database');
    assert.equal(await client.db(db).collection('nebula_devices').countDocuments({}), 0);
  } finally {
    await client.close();
  }
});

test('an unknown mode stops the process at start with a clear message', async (t) => {
  const proc = spawnManager(['--port', '0', '--host', '127.0.0.1', '--data-dir', tempDir(t), '--mode', 'regional'], { BASIC_AUTH_USER: 'a', BASIC_AUTH_PASSWORD: 'b' });
  assert.equal(await proc.exited, 2);
  assert.match(proc.output(), /mode/);
  assert.match(proc.output(), /single|control|edge/);
});
