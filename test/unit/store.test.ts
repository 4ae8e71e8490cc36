// What only the embedded SQLite store does, on a real temp file: its migrations and
// user_version, refusing a newer or a foreign file, report ids and chunked purges, and its
// failures being fatal. The Store contract itself (documents, the change sequence, users,
// reports, the device index), shared with MongoDB, is test/integration/store-contract.test.ts.

import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreFatalError } from '../../src/errors.ts';
import { newApp } from '../../src/model/app.ts';
import { appFieldsFromBody } from '../../src/model/bodies.ts';
import type { IncomingReport } from '../../src/model/report.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { MIGRATIONS, runMigrations, SCHEMA_VERSION } from '../../src/store/sqlite/migrations.ts';
import type { WriteResult } from '../../src/store/types.ts';

const app = (name: string) => newApp(name, appFieldsFromBody({ docker_image: `img/${name}:1` }, 'create'));

function ok<T>(result: WriteResult<T>): T & { _id: { $oid: string } } {
  assert.equal(result.ok, true, JSON.stringify(result));
  return (result as { ok: true; doc: T & { _id: { $oid: string } } }).doc;
}

async function assertFatal(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof StoreFatalError);
}

const AT = new Date(1_700_000_000_000);
const report = (id: string | undefined, hostname: string, time: number): IncomingReport => ({
  ...(id !== undefined ? { report_id: id } : {}),
  hostname,
  device_group: 'g',
  report_creation_time: time,
});

let dir: string;
let file: string;
let store: SqliteStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nebula-store-'));
  file = join(dir, 'nebula.db');
  store = SqliteStore.open(file);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('migrations', () => {
  test('reopening keeps user_version at the schema version', async () => {
    await store.close();
    const readVersion = () => {
      const db = new Database(file, { readonly: true });
      try {
        return db.pragma('user_version', { simple: true });
      } finally {
        db.close();
      }
    };
    assert.equal(readVersion(), SCHEMA_VERSION);
    store = SqliteStore.open(file);
    await store.close();
    assert.equal(readVersion(), SCHEMA_VERSION);
    store = SqliteStore.open(file);
  });

  test('a database from a newer Nebula does not open', async () => {
    ok(await store.create('apps', app('a')));
    await store.close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => SqliteStore.open(file), (err: unknown) => err instanceof StoreFatalError);
    // Left untouched for the newer Nebula.
    const check = new Database(file, { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), 99);
    check.close();
    store = SqliteStore.open(join(dir, 'fresh.db'));
  });

  test('a file that is not a database does not open', () => {
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, 'this is not an SQLite database, just some text long enough to have a header'.repeat(20));
    assert.throws(() => SqliteStore.open(garbage), (err: unknown) => err instanceof StoreFatalError);
  });

  test('a version 1 database migrates: its reports stay (without report_id) and ingestion works', async () => {
    await store.close();
    const v1 = join(dir, 'v1.db');
    const db = new Database(v1);
    runMigrations(db, MIGRATIONS.slice(0, 1));
    db.prepare('INSERT INTO reports (inserted_at, device_group, hostname, report_creation_time, updated, doc) VALUES (?, ?, ?, ?, ?, ?)').run(
      AT.getTime(),
      'g',
      'h',
      5,
      1,
      JSON.stringify({ report_id: 'x', hostname: 'h', device_group: 'g', report_creation_time: 5, updated: true }),
    );
    db.close();
    store = SqliteStore.open(v1);
    assert.deepEqual((await store.queryReports({ pageSize: 10 })).map((r) => r.report.report_id), ['x']);
    assert.equal(await store.getDevice('h'), null, 'the index fills with the next report');
    assert.deepEqual(await store.insertReports([report('x', 'h', 6)], AT), { inserted: 1, duplicates: 0 }, 'old rows have no report_id column value');
    assert.deepEqual(await store.insertReports([report('x', 'h', 6)], AT), { inserted: 0, duplicates: 1 });
    assert.equal((await store.getDevice('h'))?.last_seen, 6);
    assert.equal(await store.purgeReports(new Date(AT.getTime() + 1)), 2);
  });
});

describe('reports', () => {
  test('a report id is 8 hex digits of its insert time (seconds), then its row', async () => {
    await store.insertReports([report('a', 'h', 1), report('b', 'h', 2)], AT);
    const [first, second] = await store.queryReports({ pageSize: 10 });
    const seconds = Math.floor(AT.getTime() / 1000).toString(16).padStart(8, '0');
    assert.equal(first?.id, `${seconds}${'1'.padStart(16, '0')}`);
    assert.equal(second?.id, `${seconds}${'2'.padStart(16, '0')}`);
  });

  test('purgeReports deletes in chunks and counts them all', async () => {
    const t = (s: number) => new Date(AT.getTime() + s * 1000);
    // Over two purge chunks of old reports (legacy ones, without report_id), then a newer one.
    const old = Array.from({ length: 11_000 }, (_, i) => report(undefined, `old-${i % 7}`, i));
    await store.insertReports(old, t(0));
    await store.insertReports([report('new', 'h', 2)], t(20));
    assert.equal(await store.purgeReports(t(10)), 11_000);
    assert.deepEqual((await store.queryReports({ pageSize: 100 })).map((r) => r.report.report_id), ['new']);
    assert.equal((await store.listDevices({ pageSize: 100 })).length, 8, 'device entries stay');
  });
});

describe('failures are fatal', () => {
  test('every call on a store whose connection is gone throws StoreFatalError', async () => {
    ok(await store.create('apps', app('a')));
    await store.close();
    await assertFatal(store.create('apps', app('b')));
    await assertFatal(store.update('apps', 'a', { running: false }));
    await assertFatal(store.delete('apps', 'a'));
    await assertFatal(store.pruneAll());
    await assertFatal(store.insertReports([{ hostname: 'h', device_group: 'g', report_creation_time: 1 }], new Date()));
    await assertFatal(store.purgeReports(new Date()));
    await assertFatal(store.listDevices({ pageSize: 10 }));
    await assertFatal(store.getDevice('h'));
    await assertFatal(store.queryReports({ pageSize: 10 }));
    await assertFatal(store.setTokenLookup('u', 'abcdef'));
    await assertFatal(store.get('apps', 'a'));
    await assertFatal(store.changeSeq());
    await assertFatal(store.ping());
    await assertFatal(store.info('g'));
    await store.close(); // closing twice is harmless
  });

  test('a schema damaged by another process makes writes throw StoreFatalError', async () => {
    ok(await store.create('apps', app('a')));
    const vandal = new Database(file);
    vandal.exec('DROP TABLE docs');
    vandal.close();
    await assertFatal(store.create('apps', app('b')));
    await assertFatal(store.get('apps', 'a'));
  });
});
