// What only the MongoDB store does (the Store contract itself is
// test/integration/store-contract.test.ts): an unreachable server is StoreUnavailableError,
// never fatal, and the same store instance heals once the server is back; a database marked
// by a newer Nebula is refused; the indexes made at open, and opening again (even two opens
// at once) is harmless. Outages use a private server of their own (startPrivateMongo), so the
// other suites never notice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, MongoError } from 'mongodb';
import type { StoreConfig } from '../../../src/config/manager.ts';
import { StoreFatalError, StoreUnavailableError } from '../../../src/errors.ts';
import { newApp } from '../../../src/model/app.ts';
import { appFieldsFromBody } from '../../../src/model/bodies.ts';
import { newDeviceGroup } from '../../../src/model/deviceGroup.ts';
import { COLLECTIONS } from '../../../src/store/mongo/schema.ts';
import { openStore } from '../../../src/store/open.ts';
import type { Store, WriteResult } from '../../../src/store/types.ts';
import { MONGO_URL, dropDb, requireMongo, startPrivateMongo, uniqueDbName } from '../../helpers/mongo.ts';
import { freePort } from '../../helpers/ports.ts';

const app = (name: string) => newApp(name, appFieldsFromBody({ docker_image: `img/${name}:1` }, 'create'));

function ok<T>(result: WriteResult<T>): T & { _id: { $oid: string } } {
  assert.equal(result.ok, true, JSON.stringify(result));
  return (result as { ok: true; doc: T & { _id: { $oid: string } } }).doc;
}

/** The store settings a manager with MONGO_URL=url and SCHEMA_NAME=dbName has. */
function configFor(url: string, dbName: string): StoreConfig {
  return { dataDir: '/nonexistent', schemaName: dbName, databaseFile: '/nonexistent/nebula.db', reportTtlSeconds: 3600, mongo: { url, maxPoolSize: 10 } };
}

const open = (url: string, dbName: string): Promise<Store> => openStore(configFor(url, dbName), { role: 'test' });

function isUnavailable(err: unknown): boolean {
  return err instanceof StoreUnavailableError && !(err instanceof StoreFatalError) && !(err instanceof MongoError);
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}(${err.name}): ${err.message}` : String(err);
}


test('a store opened on a server that does not answer rejects with StoreUnavailableError within 10 s', async () => {
  const port = await freePort();
  const started = Date.now();
  await assert.rejects(open(`mongodb://127.0.0.1:${port}/`, 'nowhere'), (err: unknown) => {
    assert.ok(isUnavailable(err), describeError(err));
    assert.match((err as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
});

test('the server killed under an open store: every call is StoreUnavailableError; back, the same instance works again', async (t) => {
  const mongo = await startPrivateMongo();
  t.after(() => mongo.close());
  const store = await open(mongo.url, 'outage');
  t.after(() => store.close());

  ok(await store.create('apps', app('web')));
  ok(await store.create('device_groups', newDeviceGroup('g', { apps: ['web'], cron_jobs: [] })));

  const calls: Record<string, () => Promise<unknown>> = {
    get: () => store.get('apps', 'web'),
    listNames: () => store.listNames('apps'),
    create: () => store.create('apps', app('api')),
    update: () => store.update('apps', 'web', { running: false }, { bump: 'app_id' }),
    delete: () => store.delete('apps', 'web'),
    pruneAll: () => store.pruneAll(),
    info: () => store.info('g'),
    usersByTokenLookup: () => store.usersByTokenLookup('abcdef'),
    setTokenLookup: () => store.setTokenLookup('u', 'abcdef'),
    groupsOf: () => store.groupsOf('u'),
    insertReports: () => store.insertReports([{ report_id: 'r1', hostname: 'h', device_group: 'g', report_creation_time: 1 }], new Date()),
    purgeReports: () => store.purgeReports(new Date()),
    queryReports: () => store.queryReports({ pageSize: 10 }),
    listDevices: () => store.listDevices({ pageSize: 10 }),
    getDevice: () => store.getDevice('h'),
    changeSeq: () => store.changeSeq(),
    ping: () => store.ping(),
  };

  // Two outages: the calls that fail on connections the server dropped (a full pool, as a
  // busy manager has) as well as on new ones.
  const wrong: string[] = [];
  let appId = 1;
  for (let round = 1; round <= 2; round++) {
    await Promise.all(Array.from({ length: 10 }, () => store.get('apps', 'web')));
    const seq = await store.changeSeq();

    await mongo.kill();

    const started = Date.now();
    const names = [...Object.keys(calls), ...Object.keys(calls)];
    const outcomes = await Promise.allSettled(names.map((name) => (calls[name] as () => Promise<unknown>)()));
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') wrong.push(`round ${round}: ${names[i]}: resolved`);
      else if (!isUnavailable(o.reason)) wrong.push(`round ${round}: ${names[i]}: ${describeError(o.reason)}`);
    });
    assert.ok(Date.now() - started < 10_000, `the calls failed within 10 s (took ${Date.now() - started} ms)`);

    await mongo.restart();

    // The driver finds the server again by itself: no reopen.
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await store.ping();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    assert.equal(await store.changeSeq(), seq, 'nothing was written while it was down');
    assert.deepEqual(await store.get('apps', 'web'), { ...app('web'), app_id: appId, running: appId === 1 });
    appId += 1;
    assert.equal(ok(await store.update('apps', 'web', { running: false }, { bump: 'app_id' })).app_id, appId);
    assert.deepEqual((await store.info('g')).snapshot?.apps.map((a) => a.app_name), ['web']);
    assert.deepEqual(await store.insertReports([{ report_id: `r${round}`, hostname: 'h', device_group: 'g', report_creation_time: round }], new Date()), { inserted: 1, duplicates: 0 });
    assert.equal((await store.getDevice('h'))?.report_id, `r${round}`);
    assert.ok((await store.changeSeq()) > seq);
  }
  assert.deepEqual(wrong, [], 'every call made while the server is down rejects with StoreUnavailableError');
});

test('a database marked with a newer schema version does not open (StoreFatalError: "newer")', async (t) => {
  await requireMongo();
  const name = uniqueDbName('newer');
  t.after(() => dropDb(MONGO_URL, name));
  const client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 3000 });
  t.after(() => client.close());
  const meta = client.db(name).collection<{ _id: string; version: number }>(COLLECTIONS.meta);
  await meta.insertOne({ _id: 'schema', version: 99 });

  await assert.rejects(open(MONGO_URL, name), (err: unknown) => {
    assert.ok(err instanceof StoreFatalError, describeError(err));
    assert.match((err as Error).message, /newer/);
    return true;
  });
  assert.equal((await meta.findOne({ _id: 'schema' }))?.version, 99, 'left as it is for the newer Nebula');
});

test('open makes the indexes; opening again is harmless, also two at once', async (t) => {
  await requireMongo();
  const name = uniqueDbName('indexes');
  t.after(() => dropDb(MONGO_URL, name));
  const client = new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 3000 });
  t.after(() => client.close());
  const db = client.db(name);
  const stores: Store[] = [];
  t.after(() => Promise.all(stores.map((s) => s.close())));

  stores.push(await open(MONGO_URL, name));
  const indexes = async () => {
    const out: Record<string, Record<string, boolean>> = {};
    for (const collection of Object.values(COLLECTIONS)) {
      if (collection === COLLECTIONS.meta || collection === COLLECTIONS.locks) continue;
      const list = await db.collection(collection).listIndexes().toArray();
      out[collection] = Object.fromEntries(list.map((i) => [String(i.name), i.unique === true]));
    }
    return out;
  };
  const made = await indexes();
  const uniques: [string, string][] = [
    [COLLECTIONS.apps, 'app_name_index'],
    [COLLECTIONS.device_groups, 'device_group_index'],
    [COLLECTIONS.cron_jobs, 'cron_job_name_index'],
    [COLLECTIONS.users, 'user_name_index'],
    [COLLECTIONS.user_groups, 'user_group_index'],
    [COLLECTIONS.reports, 'report_id_index'],
  ];
  for (const [collection, index] of uniques) assert.equal(made[collection]?.[index], true, `${collection}.${index} is unique: ${JSON.stringify(made[collection])}`);
  assert.equal(made[COLLECTIONS.devices]?.device_group_index, false, JSON.stringify(made[COLLECTIONS.devices]));
  ok(await (stores[0] as Store).create('apps', app('web')));
  const seq = await (stores[0] as Store).changeSeq();

  // Opened again: the same indexes, the data and the change sequence kept.
  const again = await open(MONGO_URL, name);
  stores.push(again);
  assert.deepEqual(await indexes(), made);
  assert.deepEqual(await again.get('apps', 'web'), app('web'));
  assert.equal(await again.changeSeq(), seq);
  assert.deepEqual(await again.create('apps', app('web')), { ok: false, reason: 'exists' });

  // Two more at once (managers and reporters restarting together).
  const results = await Promise.allSettled([open(MONGO_URL, name), open(MONGO_URL, name)]);
  for (const r of results) if (r.status === 'fulfilled') stores.push(r.value);
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? 'opened' : describeError(r.reason))), ['opened', 'opened']);
  assert.deepEqual(await indexes(), made);
  assert.equal(await (stores.at(-1) as Store).changeSeq(), seq);
});

test('two opens at once of a fresh database both succeed, with one schema', async (t) => {
  await requireMongo();
  const name = uniqueDbName('fresh2');
  t.after(() => dropDb(MONGO_URL, name));
  const stores: Store[] = [];
  t.after(() => Promise.all(stores.map((s) => s.close())));

  // Managers and reporters of a new deployment starting together on an empty database.
  const results = await Promise.allSettled([open(MONGO_URL, name), open(MONGO_URL, name)]);
  for (const r of results) if (r.status === 'fulfilled') stores.push(r.value);
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? 'opened' : describeError(r.reason))), ['opened', 'opened']);
  const [a, b] = stores as [Store, Store];
  assert.equal(await a.changeSeq(), 0);
  ok(await a.create('apps', app('web')));
  assert.deepEqual(await b.create('apps', app('web')), { ok: false, reason: 'exists' });
  assert.equal(await b.changeSeq(), 1);
});
