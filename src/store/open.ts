// Opens the store a config names: MongoDB when mongo_url is set, else the embedded SQLite file.

import type { ReadPreference, StoreConfig } from '../config/manager.ts';
import type { Store } from './types.ts';
import { databaseOfUrl, describeMongoUrl } from './mongo/url.ts';

export interface OpenStoreOptions {
  /** Shown in the database's logs (MongoDB appName). */
  role: string;
  /** The read preference when the config does not set one. */
  defaultReadPreference?: ReadPreference;
}

/** Throws StoreFatalError (bad file, failed migration or index build) or StoreUnavailableError (unreachable). */
export async function openStore(config: StoreConfig, options: OpenStoreOptions): Promise<Store> {
  // Each store's driver is loaded only when it is the one configured.
  if (config.mongo === undefined) {
    const { SqliteStore } = await import('./sqlite/index.ts');
    return SqliteStore.open(config.databaseFile);
  }
  const { MongoStore } = await import('./mongo/index.ts');
  const { mongo } = config;
  const reportsDbName = mongo.reportsUrl === undefined ? undefined : databaseOfUrl(mongo.reportsUrl);
  return MongoStore.open({
    url: mongo.url,
    ...(mongo.reportsUrl !== undefined ? { reportsUrl: mongo.reportsUrl } : {}),
    ...(reportsDbName !== undefined ? { reportsDbName } : {}),
    dbName: config.schemaName,
    maxPoolSize: mongo.maxPoolSize,
    readPreference: mongo.readPreference ?? options.defaultReadPreference ?? 'primary',
    reportTtlSeconds: config.reportTtlSeconds,
    appName: `nebula-${options.role}`,
  });
}

/** Where the store is, for logs: never credentials. */
export function describeStore(config: StoreConfig): Record<string, string> {
  if (config.mongo === undefined) return { store: 'sqlite', database: config.databaseFile };
  const out: Record<string, string> = { store: 'mongodb', mongo: describeMongoUrl(config.mongo.url), database: config.schemaName };
  if (config.mongo.reportsUrl !== undefined) {
    out.reports_mongo = describeMongoUrl(config.mongo.reportsUrl);
    out.reports_database = databaseOfUrl(config.mongo.reportsUrl) ?? config.schemaName;
  }
  return out;
}
