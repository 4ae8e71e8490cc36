// Which store the manager and reporter suites run on: SQLite (default) or, with
// NEBULA_TEST_STORE=mongo (`npm run test:mongo`), the MongoDB-wire server of
// test/services/ferretdb.sh. Tests name a store by a directory (the SQLite data dir); on
// MongoDB that directory maps to its own database, so suites never share data.

import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { StoreConfig } from '../../src/config/manager.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { MONGO_URL, dropDb } from './mongo.ts';

export const TEST_STORE: 'sqlite' | 'mongo' = process.env.NEBULA_TEST_STORE === 'mongo' ? 'mongo' : 'sqlite';

/** The MongoDB database of a test directory: unique per directory, stable across processes. */
export function schemaNameOf(dir: string): string {
  const tag = basename(dir).replace(/[^A-Za-z0-9]/g, '').slice(-12);
  return `t_${tag}_${createHash('sha256').update(dir).digest('hex').slice(0, 10)}`;
}

/** Environment that points a `nebula manager|reporter` process at the test store of `dir`. */
export function storeEnvFor(dir: string, store: 'sqlite' | 'mongo' = TEST_STORE): Record<string, string> {
  if (store === 'sqlite') return { NEBULA_DATA_DIR: dir };
  return { NEBULA_DATA_DIR: dir, MONGO_URL, SCHEMA_NAME: schemaNameOf(dir) };
}

/** The store settings of `dir` (as the manager's config has them). */
export function storeConfigFor(dir: string, reportTtlSeconds = 3600, store: 'sqlite' | 'mongo' = TEST_STORE): StoreConfig {
  const config: StoreConfig = { dataDir: dir, schemaName: 'nebula', databaseFile: `${dir}/nebula.db`, reportTtlSeconds };
  if (store === 'mongo') {
    config.schemaName = schemaNameOf(dir);
    config.mongo = { url: MONGO_URL, maxPoolSize: 10 };
  }
  return config;
}

/** Opens the test store of `dir` in this process (fails, never skips, when MongoDB is missing). */
export async function openTestStore(dir: string, reportTtlSeconds = 3600, store: 'sqlite' | 'mongo' = TEST_STORE): Promise<Store> {
  return openStore(storeConfigFor(dir, reportTtlSeconds, store), { role: 'test' });
}

/** Drops the MongoDB database of `dir` (a no-op on SQLite: the directory is removed). */
export async function dropTestStore(dir: string, store: 'sqlite' | 'mongo' = TEST_STORE): Promise<void> {
  if (store === 'mongo') await dropDb(MONGO_URL, schemaNameOf(dir));
}
