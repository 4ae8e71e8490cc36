// Pointing our manager at a Nebula 2.7 database: the same collections and documents (ObjectId
// _ids, bcrypt hashes, 2.7's indexes — including its useless `user_index` and its unique
// report_insert_date index), and the team keeps going. A database the unique user_name index
// cannot be built on stops the process with a clear message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { MongoClient, ObjectId } from 'mongodb';
import { basic } from '../../helpers/manager.ts';
import { startManagerProcess, stopProcess, type ManagerProcess } from '../../helpers/process.ts';
import { MONGO_URL, dropDb, requireMongo, uniqueDbName } from '../../helpers/mongo.ts';

const ENV = { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'pw', NEBULA_LOG_LEVEL: 'info', MONGO_URL };

async function send(m: ManagerProcess, method: string, path: string, auth: string, body?: unknown) {
  const response = await fetch(`${m.url}${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as any) };
}

function tempDir(t: { after: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-legacy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A database as Nebula 2.7's manager and reporter leave it. */
async function seedLegacy(client: MongoClient, name: string): Promise<void> {
  const db = client.db(name);
  const hash = (s: string) => bcrypt.hashSync(s, 4).replace(/^\$2a\$/, '$2b$');
  await db.collection('nebula_apps').createIndex({ app_name: 1 }, { name: 'app_name_index', unique: true, sparse: true });
  await db.collection('nebula_device_groups').createIndex({ device_group: 1 }, { name: 'device_group_index', unique: true, sparse: true });
  await db.collection('nebula_users').createIndex({ user: 1 }, { name: 'user_index', unique: true, sparse: true });
  await db.collection('nebula_user_groups').createIndex({ user_group: 1 }, { name: 'user_group_index', unique: true, sparse: true });
  await db.collection('nebula_cron_jobs').createIndex({ cron_job_name: 1 }, { name: 'cron_job_name_index', unique: true, sparse: true });
  // 2.7's reporter: unique (and TTL where the server has it) on the insert date.
  await db.collection('nebula_reports').createIndex({ report_insert_date: 1 }, { name: 'report_insert_date_index', unique: true, sparse: true });

  await db.collection('nebula_apps').insertOne({
    _id: new ObjectId(),
    app_name: 'legacy-web',
    app_id: 7,
    docker_image: 'nginx:1.15',
    starting_ports: [80, { '8080': '80' }],
    containers_per: { server: 2 },
    env_vars: { MODE: 'prod' },
    running: true,
    networks: ['nebula', 'bridge'],
    volumes: [],
    devices: [],
    privileged: false,
    rolling_restart: false,
  });
  await db.collection('nebula_device_groups').insertOne({ _id: new ObjectId(), device_group_id: 3, device_group: 'legacy-pos', apps: ['legacy-web'], prune_id: 2, cron_jobs: [] });
  await db.collection('nebula_users').insertOne({ _id: new ObjectId(), user_name: 'olduser', password: hash('old-password'), token: hash('old-token') });
  await db.collection('nebula_user_groups').insertOne({
    _id: new ObjectId(),
    user_group: 'operators',
    group_members: ['olduser'],
    pruning_allowed: false,
    apps: { 'legacy-web': 'rw' },
    device_groups: { 'legacy-pos': 'ro' },
    admin: false,
    cron_jobs: {},
  });
  await db.collection('nebula_reports').insertOne({
    _id: new ObjectId(),
    hostname: 'old-device',
    device_group: 'legacy-pos',
    report_creation_time: 1_560_000_000,
    memory_usage: 12.5,
    updated: false,
    report_insert_date: new Date('2026-11-20T10:00:00Z'),
  });
}

test('a Nebula 2.7 database: its documents, bcrypt users and reports work, and it keeps working', async (t) => {
  await requireMongo();
  const name = uniqueDbName('legacy');
  const client = new MongoClient(MONGO_URL);
  t.after(async () => {
    await client.close();
    await dropDb(MONGO_URL, name);
  });
  await seedLegacy(client, name);
  const m = await startManagerProcess(tempDir(t), { ...ENV, SCHEMA_NAME: name, NEBULA_REPORT_TTL: String(10 * 365 * 86400) });
  t.after(() => stopProcess(m));
  const admin = basic('admin', 'pw');

  const app = await send(m, 'GET', '/api/v2/apps/legacy-web', admin);
  assert.equal(app.status, 200);
  assert.equal(app.body.app_id, 7);
  assert.deepEqual(app.body.starting_ports, [80, { '8080': '80' }]);
  assert.equal(app.body._id, undefined, 'GET has no _id (as 2.7)');

  const info = await send(m, 'GET', '/api/v2/device_groups/legacy-pos/info', admin);
  assert.equal(info.status, 200);
  assert.equal(info.body.device_group_id, 3);
  assert.equal(info.body.prune_id, 2);
  assert.deepEqual(info.body.apps_list, ['legacy-web']);

  // A 2.7 user with bcrypt hashes signs in with basic and with bearer; permissions from its group.
  const oldBasic = basic('olduser', 'old-password');
  assert.equal((await send(m, 'GET', '/api/v2/device_groups/legacy-pos/info', oldBasic)).status, 200);
  assert.equal((await send(m, 'GET', '/api/v2/device_groups/legacy-pos/info', basic('olduser', 'wrong'))).status, 401);
  const stopped = await send(m, 'POST', '/api/v2/apps/legacy-web/stop', 'Bearer old-token');
  assert.equal(stopped.status, 202, JSON.stringify(stopped.body));
  assert.equal(stopped.body.app_id, 8, 'the id goes on from the stored one');
  assert.match(stopped.body._id.$oid, /^[0-9a-f]{24}$/);
  assert.equal((await send(m, 'POST', '/api/v2/apps/legacy-web/start', 'Bearer old-token')).body.app_id, 9, 'the token works again (now by its digest)');

  // 2.7's reports read as before: $oid and $date.
  const reports = await send(m, 'GET', '/api/v2/reports?hostname=old-device', admin);
  assert.equal(reports.body.data.length, 1);
  assert.equal(reports.body.data[0].memory_usage, 12.5);
  assert.equal(reports.body.data[0].report_insert_date.$date, '2026-11-20T10:00:00.000Z');

  // New objects are written in the same shapes, next to the old ones.
  assert.equal((await send(m, 'POST', '/api/v2/apps/new-app', admin, { docker_image: 'img/new:1' })).status, 200);
  const stored = await client.db(name).collection('nebula_apps').findOne({ app_name: 'new-app' });
  assert.ok(stored?._id instanceof ObjectId);
  assert.equal(stored?.app_id, 1);
  const user = await client.db(name).collection('nebula_users').findOne({ user_name: 'olduser' });
  assert.match(String(user?.password), /^\$2[aby]\$/, 'the old hash is kept');

  // 2.7's indexes were fixed: user_name is unique, the insert date is no longer unique.
  const userIndexes = await client.db(name).collection('nebula_users').listIndexes().toArray();
  assert.ok(userIndexes.some((i) => i.name === 'user_name_index' && i.unique === true), JSON.stringify(userIndexes));
  const reportIndexes = await client.db(name).collection('nebula_reports').listIndexes().toArray();
  const dateIndex = reportIndexes.find((i) => i.name === 'report_insert_date_index');
  assert.ok(dateIndex && dateIndex.unique !== true, JSON.stringify(reportIndexes));
  assert.ok(reportIndexes.some((i) => i.name === 'report_id_index' && i.unique === true));
  // Two reports in the same millisecond no longer collide.
  const at = { report_creation_time: 1_700_000_000, device_group: 'legacy-pos' };
  const posted = await send(m, 'POST', '/api/v2/reports', admin, [
    { report_id: 'same-ms-1', hostname: 'd1', ...at },
    { report_id: 'same-ms-2', hostname: 'd2', ...at },
  ]);
  assert.ok(posted.status < 300, JSON.stringify(posted.body));
  assert.equal((await send(m, 'GET', '/api/v2/reports?report_creation_time=1700000000', admin)).body.data.length, 2);
});

test('a database whose user names are not unique (2.7 allowed it): exit non-zero naming the index and the fix', async (t) => {
  await requireMongo();
  const name = uniqueDbName('dupusers');
  const client = new MongoClient(MONGO_URL);
  t.after(async () => {
    await client.close();
    await dropDb(MONGO_URL, name);
  });
  await client.db(name).collection('nebula_users').insertMany([
    { user_name: 'twice', password: 'x', token: 'y' },
    { user_name: 'twice', password: 'z', token: 'w' },
  ]);
  await assert.rejects(
    startManagerProcess(tempDir(t), { ...ENV, SCHEMA_NAME: name }),
    (err: Error) => /user_name_index/.test(err.message) && /Remove the duplicates/.test(err.message),
  );
});
