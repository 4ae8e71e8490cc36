// Opens the store a config names: MongoDB when mongo_url is set, else the embedded SQLite file.

import type { ReadPreference, StoreConfig } from '../config/manager.ts';
import type { Store } from './types.ts';
import { SqliteStore } from './sqlite/index.ts';
import { MongoStore, describeMongoUrl } from './mongo/index.ts';

export interface OpenStoreOptions {
  /** Shown in the database's logs (MongoDB appName). */
  role: string;
  /** The read preference when the config does not set one. */
  defaultReadPreference?: ReadPreference;
}

/** Throws StoreFatalError (bad file, failed migration or index build) or StoreUnavailableError (unreachable). */
export async function openStore(config: StoreConfig, options: OpenStoreOptions): Promise<Store> {
  if (config.mongo === undefined) return SqliteStore.open(config.databaseFile);
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

/** The database named in a MongoDB URL's path (mongodb://host/<db>?...), if any. */
export function databaseOfUrl(url: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/?#]+\/([^/?#]+)/.exec(url);
  return match ? decodeURIComponent(match[1] as string) : undefined;
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
