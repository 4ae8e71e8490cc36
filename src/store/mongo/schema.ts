// The MongoDB store's collections and indexes, made (or checked) at every start by every
// manager and reporter: createIndex with an index's existing spec is a no-op, so any number
// of processes may run this at once. The names and the collections are Nebula 2.7's, so an
// existing database keeps working; where 2.7's indexes were wrong, they are fixed here:
//   - users: 2.7 indexed `user` (a field no document has); user_name is unique now.
//   - reports: 2.7's report_insert_date index was unique (two reports stored in the same
//     millisecond collided) and could not change its TTL (worker #68). It is replaced by a
//     non-unique TTL index whose TTL follows report_ttl (collMod), and report_id is unique.
// Servers without TTL indexes (FerretDB) get a plain index, and Nebula's own purge expires
// reports (see src/reports/retention.ts). Any other failure ends the process non-zero: a
// manager never serves on a half-made schema.

import { MongoServerError, type Collection, type Db, type Document, type IndexDescription } from 'mongodb';
import { StoreFatalError } from '../../errors.ts';

export const COLLECTIONS = {
  apps: 'nebula_apps',
  device_groups: 'nebula_device_groups',
  cron_jobs: 'nebula_cron_jobs',
  users: 'nebula_users',
  user_groups: 'nebula_user_groups',
  reports: 'nebula_reports',
  devices: 'nebula_devices',
  meta: 'nebula_meta',
  locks: 'nebula_locks',
} as const;

/** The version of this layout; a database marked newer is refused (upgrade Nebula). */
export const SCHEMA_VERSION = 1;

type Spec = IndexDescription & { name: string };

/** Admin data: unique names (2.7's `<field>_index`, unique and sparse) and what lookups need. */
const ADMIN_INDEXES: Record<string, Spec[]> = {
  [COLLECTIONS.apps]: [{ key: { app_name: 1 }, name: 'app_name_index', unique: true, sparse: true }],
  [COLLECTIONS.device_groups]: [
    { key: { device_group: 1 }, name: 'device_group_index', unique: true, sparse: true },
    // The groups that list a deleted app or cron job.
    { key: { apps: 1 }, name: 'apps_index' },
    { key: { cron_jobs: 1 }, name: 'cron_jobs_index' },
  ],
  [COLLECTIONS.cron_jobs]: [{ key: { cron_job_name: 1 }, name: 'cron_job_name_index', unique: true, sparse: true }],
  [COLLECTIONS.users]: [
    { key: { user_name: 1 }, name: 'user_name_index', unique: true, sparse: true },
    { key: { token_lookup: 1 }, name: 'token_lookup_index', sparse: true },
  ],
  [COLLECTIONS.user_groups]: [
    { key: { user_group: 1 }, name: 'user_group_index', unique: true, sparse: true },
    { key: { group_members: 1 }, name: 'group_members_index' },
  ],
};

/** Runtime data (may live in a separate database: reports_mongo_url). */
const REPORT_INDEXES: Record<string, Spec[]> = {
  [COLLECTIONS.reports]: [
    // Idempotent ingestion; 2.x workers' reports have no report_id (sparse: never collide).
    { key: { report_id: 1 }, name: 'report_id_index', unique: true, sparse: true },
    // GET /reports filters on one of these and pages by _id.
    { key: { hostname: 1, _id: 1 }, name: 'hostname_id_index' },
    { key: { device_group: 1, _id: 1 }, name: 'device_group_id_index' },
    { key: { report_creation_time: 1 }, name: 'report_creation_time_index', sparse: true },
  ],
  [COLLECTIONS.devices]: [{ key: { device_group: 1, _id: 1 }, name: 'device_group_index' }],
};

const TTL_INDEX = 'report_insert_date_index';
/** IndexOptionsConflict, IndexKeySpecsConflict: an index of that name exists with other options. */
const INDEX_CONFLICT = new Set([85, 86]);
const DUPLICATE_KEY = 11000;

function fatal(message: string, cause: unknown): StoreFatalError {
  return new StoreFatalError(`mongodb store: ${message}`, cause);
}

/** Up to 5 values of `field` that more than one document holds (why a unique index cannot be built). */
async function duplicatesOf(collection: Collection, field: string): Promise<string[]> {
  try {
    const rows = await collection
      .aggregate([{ $group: { _id: `$${field}`, n: { $sum: 1 } } }, { $match: { n: { $gt: 1 } } }, { $limit: 5 }])
      .toArray();
    return rows.map((r) => JSON.stringify(r._id));
  } catch {
    return [];
  }
}

async function createIndexes(db: Db, specs: Record<string, Spec[]>): Promise<void> {
  for (const [name, indexes] of Object.entries(specs)) {
    for (const { key, ...options } of indexes) {
      try {
        await db.collection(name).createIndex(key, options);
      } catch (err) {
        const field = Object.keys(key)[0] ?? '?';
        const duplicates = options.unique === true ? await duplicatesOf(db.collection(name), field) : [];
        if (duplicates.length > 0 || (err instanceof MongoServerError && err.code === DUPLICATE_KEY)) {
          throw fatal(
            `cannot build the unique index ${options.name} on ${db.databaseName}.${name}: several documents share a ${field}` +
              `${duplicates.length > 0 ? ` (${duplicates.join(', ')})` : ''}. Remove the duplicates (Nebula 2.x did not enforce ` +
              `unique user names), then start again`,
            err,
          );
        }
        throw fatal(`cannot build the index ${options.name} on ${db.databaseName}.${name}: ${(err as Error).message}`, err);
      }
    }
  }
}

async function indexNamed(collection: Collection, name: string): Promise<Document | undefined> {
  try {
    return (await collection.listIndexes().toArray()).find((i) => i.name === name);
  } catch (err) {
    if (err instanceof MongoServerError && err.code === 26) return undefined; // no collection yet
    throw err;
  }
}

/**
 * The reports' expiry index: TTL where the server has TTL indexes, else a plain index.
 * Returns whether the server expires reports itself.
 */
async function ensureReportExpiry(db: Db, ttlSeconds: number): Promise<boolean> {
  const reports = db.collection(COLLECTIONS.reports);
  const key = { report_insert_date: 1 } as const;
  let old = await indexNamed(reports, TTL_INDEX);
  if (old?.unique === true) {
    // 2.7's unique index: two reports stored in the same millisecond collided. Replaced.
    await reports.dropIndex(TTL_INDEX);
    old = undefined;
  }
  if (old !== undefined && typeof old.expireAfterSeconds === 'number' && old.expireAfterSeconds !== ttlSeconds) {
    // Only the TTL changed: collMod changes it in place (no rebuild).
    await db.command({ collMod: COLLECTIONS.reports, index: { name: TTL_INDEX, expireAfterSeconds: ttlSeconds } });
    return true;
  }
  try {
    await reports.createIndex(key, { name: TTL_INDEX, expireAfterSeconds: ttlSeconds });
    return true;
  } catch (err) {
    if (err instanceof MongoServerError && err.code !== undefined && INDEX_CONFLICT.has(Number(err.code))) {
      // A plain index of that name (made where the server had no TTL): replaced.
      await reports.dropIndex(TTL_INDEX);
      await reports.createIndex(key, { name: TTL_INDEX, expireAfterSeconds: ttlSeconds });
      return true;
    }
    // No TTL indexes on this server: a plain index serves the application's purge.
    await reports.createIndex(key, { name: TTL_INDEX });
    return false;
  }
}

async function checkVersion(db: Db): Promise<void> {
  const meta = db.collection<{ _id: string; version?: number; value?: number }>(COLLECTIONS.meta);
  const doc = await meta.findOne({ _id: 'schema' });
  if (doc?.version !== undefined && doc.version > SCHEMA_VERSION) {
    throw fatal(`the database ${db.databaseName} has schema version ${doc.version}, newer than this Nebula knows (${SCHEMA_VERSION}): upgrade Nebula`, null);
  }
  // Processes starting together on a new database race to create these: the loser's upsert
  // meets the winner's document (11000) and, once more, updates it.
  const upsert = async (id: string, update: Document) => {
    try {
      await meta.updateOne({ _id: id }, update, { upsert: true });
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw err;
      await meta.updateOne({ _id: id }, update, { upsert: true });
    }
  };
  await upsert('schema', { $max: { version: SCHEMA_VERSION } });
  await upsert('change_seq', { $setOnInsert: { value: 0 } });
}

export interface SchemaState {
  /** The server deletes expired reports itself (a TTL index). */
  ttlIndex: boolean;
}

/** Makes the collections' indexes and checks the layout version; throws StoreFatalError. */
export async function ensureSchema(admin: Db, reports: Db, reportTtlSeconds: number): Promise<SchemaState> {
  try {
    await checkVersion(admin);
    await createIndexes(admin, ADMIN_INDEXES);
    await createIndexes(reports, REPORT_INDEXES);
    return { ttlIndex: await ensureReportExpiry(reports, reportTtlSeconds) };
  } catch (err) {
    if (err instanceof StoreFatalError) throw err;
    throw fatal(`preparing the database failed: ${(err as Error).message}`, err);
  }
}
