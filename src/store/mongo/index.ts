// The scale-out store: MongoDB (a replica set or a sharded cluster) with the official driver,
// shared by any number of stateless managers and reporters. Nebula 2.7's database, collection
// names and document shapes, so an existing database keeps working.
//
// No multi-document transactions (MongoDB-wire servers such as FerretDB have none): every
// admin write is one single-document write (findOneAndUpdate with $inc for the monotonic
// ids) followed by a bump of the change sequence, which other managers poll. Admin writes
// also take a short store-wide write lock (a unique insert, the one write every
// MongoDB-wire server makes atomic): FerretDB applies even a single-document $inc as a
// read-then-write, and two managers bumping one app_id at once would both get the same id.
// Admin writes are rare (people and CI), so serializing them costs nothing that matters;
// device reads and report ingestion never take it.
// Readers stay safe without a snapshot because of the order of reads and writes:
//   - info() reads the change sequence, then the group, then its members. A member read
//     after its group is never older than that group; a member deleted meanwhile is left out.
//   - deleting an app or cron job first takes it out of the groups (bumping their
//     device_group_id), then deletes it: a device never sees a group listing a member that
//     is gone under the same device_group_id for longer than one read.
// The reads of one info() share a causally consistent session, so with a secondary read
// preference they never go back in time between members.
//
// Failures: a database that cannot be reached (or times out) throws StoreUnavailableError:
// the request gets a 503, the process keeps running and heals when the database is back.

import { MongoClient, ObjectId, type ClientSession, type Collection, type Db, type Document, type Filter, type ReadPreferenceMode } from 'mongodb';
import { StoreUnavailableError } from '../../errors.ts';
import type { DeviceQuery, DeviceRecord, IncomingReport, ReportQuery } from '../../model/report.ts';
import type { UserGroupDoc, UserRecord } from '../../model/user.ts';
import type { DeviceGroupDoc } from '../../model/deviceGroup.ts';
import { KIND_META, type Docs, type InfoSnapshot, type Kind, type Refs, type Store, type StoredReport, type UpdateOptions, type WriteResult } from '../types.ts';
import { isConnectionFailure, isDuplicate, normalizeUser, plain, withOid, type Raw } from './common.ts';
import { describeMongoUrl } from './url.ts';
import { toStored } from './keys.ts';
import { WriteLock } from './lock.ts';
import { getDevice, insertReports, listDevices, purgeReports, queryReports, type ReportCollections } from './reports.ts';
import { COLLECTIONS, ensureSchema } from './schema.ts';

export interface MongoStoreOptions {
  url: string;
  /** A separate deployment for reports and the device index (edge regions); default: `url`. */
  reportsUrl?: string;
  /** Database name (2.7's schema_name). */
  dbName: string;
  /** The reports' database name; default: `dbName`. */
  reportsDbName?: string;
  maxPoolSize: number;
  /** For reads that may be slightly stale (/info, lists, reports); writes always go to the primary. */
  readPreference: ReadPreferenceMode;
  reportTtlSeconds: number;
  /** Driver name shown in the server's logs. */
  appName: string;
  /** How long an operation waits for a server before it fails (503). */
  serverSelectionTimeoutMs?: number;
}

type MetaDoc = { _id: string; value: number };

export class MongoStore implements Store {
  readonly expiresReportsItself: boolean;
  private readonly clients: MongoClient[];
  private readonly primary: Db;
  private readonly reader: Db;
  private readonly reports: Db;
  private readonly reportsReader: Db;
  private readonly client: MongoClient;
  private readonly readPreference: ReadPreferenceMode;
  private readonly lock: WriteLock;

  private constructor(clients: MongoClient[], options: MongoStoreOptions, ttlIndex: boolean) {
    this.clients = clients;
    this.client = clients[0] as MongoClient;
    const reportsClient = clients[1] ?? this.client;
    this.readPreference = options.readPreference;
    this.primary = this.client.db(options.dbName, { readPreference: 'primary' });
    this.reader = this.client.db(options.dbName, { readPreference: options.readPreference });
    const reportsDb = options.reportsDbName ?? options.dbName;
    this.reports = reportsClient.db(reportsDb, { readPreference: 'primary' });
    this.reportsReader = reportsClient.db(reportsDb, { readPreference: options.readPreference });
    this.expiresReportsItself = ttlIndex;
    this.lock = new WriteLock(this.primary.collection(COLLECTIONS.locks));
  }

  /**
   * Connects, builds the indexes, checks the layout. Throws StoreUnavailableError when the
   * server cannot be reached, StoreFatalError when the database cannot be prepared; at start
   * either ends the process.
   */
  static async open(options: MongoStoreOptions): Promise<MongoStore> {
    const connect = (url: string) =>
      new MongoClient(url, {
        appName: options.appName,
        maxPoolSize: options.maxPoolSize,
        serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 5000,
        connectTimeoutMS: 5000,
        writeConcern: { w: 'majority' },
        ignoreUndefined: true,
      });
    const clients = [connect(options.url)];
    if (options.reportsUrl !== undefined) clients.push(connect(options.reportsUrl));
    try {
      for (const client of clients) await client.connect();
      const admin = (clients[0] as MongoClient).db(options.dbName);
      const reports = (clients[1] ?? (clients[0] as MongoClient)).db(options.reportsDbName ?? options.dbName);
      const { ttlIndex } = await ensureSchema(admin, reports, options.reportTtlSeconds);
      return new MongoStore(clients, options, ttlIndex);
    } catch (err) {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      if (isConnectionFailure(err)) {
        const where = [options.url, options.reportsUrl].filter((u) => u !== undefined).map((u) => describeMongoUrl(u as string));
        throw new StoreUnavailableError(`mongodb store: cannot connect to ${where.join(' and ')}: ${(err as Error).message}`, err);
      }
      throw err;
    }
  }

  /** Runs one database call; a driver or server failure becomes StoreUnavailableError (503). */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isConnectionFailure(err)) throw new StoreUnavailableError(`mongodb store: ${what} failed: ${(err as Error).message}`, err);
      throw err;
    }
  }

  /** Runs an admin write under the store-wide write lock (see the top of this file). */
  private write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(() => this.call(what, () => this.lock.hold(fn)));
  }

  private col(kind: Kind, db: Db = this.reader): Collection<Raw> {
    return db.collection(COLLECTIONS[kind]);
  }

  private meta(db: Db): Collection<MetaDoc> {
    return db.collection<MetaDoc>(COLLECTIONS.meta);
  }

  private async bumpSeq(): Promise<void> {
    await this.meta(this.primary).updateOne({ _id: 'change_seq' }, { $inc: { value: 1 } }, { upsert: true });
  }

  private async readSeq(session?: ClientSession): Promise<number> {
    const doc = await this.meta(this.reader).findOne({ _id: 'change_seq' }, session ? { session } : {});
    return doc?.value ?? 0;
  }

  async ping(): Promise<void> {
    // Bounded: readiness must answer even when a server hangs without refusing connections.
    await this.call('ping', () => this.primary.command({ ping: 1 }, { signal: AbortSignal.timeout(3000) }));
  }

  async changeSeq(): Promise<number> {
    return this.call('read the change sequence', () => this.readSeq());
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }

  async listNames(kind: Kind): Promise<string[]> {
    const field = KIND_META[kind].nameField;
    return this.call('list', async () => {
      const docs = await this.col(kind).find({}, { projection: { _id: 0, [field]: 1 } }).sort({ [field]: 1 }).toArray();
      return docs.map((d) => d[field]).filter((n): n is string => typeof n === 'string');
    });
  }

  async get<K extends Kind>(kind: K, name: string): Promise<Docs[K] | null> {
    return this.call('read', async () => {
      const doc = plain<Docs[K]>(await this.col(kind).findOne({ [KIND_META[kind].nameField]: name }));
      return kind === 'users' && doc ? (normalizeUser(doc as UserRecord) as Docs[K]) : doc;
    });
  }

  /** The first name in `refs` with no document (checked on the primary). */
  private async missingRef(refs: Refs | undefined): Promise<WriteResult<never> | null> {
    for (const kind of ['cron_jobs', 'apps'] as const) {
      const names = refs?.[kind] ?? [];
      if (names.length === 0) continue;
      const field = KIND_META[kind].nameField;
      const found = await this.col(kind, this.primary).find({ [field]: { $in: names } }, { projection: { _id: 0, [field]: 1 } }).toArray();
      const have = new Set(found.map((d) => d[field]));
      const name = names.find((n) => !have.has(n));
      if (name !== undefined) return { ok: false, reason: 'missing_ref', kind, name };
    }
    return null;
  }

  async create<K extends Kind>(kind: K, doc: Docs[K], refs?: Refs): Promise<WriteResult<Docs[K]>> {
    return this.write('create', async () => {
      const missing = await this.missingRef(refs);
      if (missing) return missing;
      const _id = new ObjectId();
      try {
        await this.col(kind, this.primary).insertOne({ _id, ...toStored(doc as Raw) });
      } catch (err) {
        if (isDuplicate(err)) return { ok: false, reason: 'exists' };
        throw err;
      }
      await this.bumpSeq();
      return { ok: true, doc: { _id: { $oid: _id.toHexString() }, ...doc } };
    });
  }

  async update<K extends Kind>(kind: K, name: string, set: Partial<Docs[K]>, options: UpdateOptions<Docs[K]> = {}): Promise<WriteResult<Docs[K]>> {
    const nameField = KIND_META[kind].nameField;
    return this.write('update', async () => {
      const missing = await this.missingRef(options.refs);
      if (missing) return missing;
      const fields: Raw = { ...toStored(set as Raw) };
      delete fields._id;
      delete fields[nameField];
      const update: Raw = {};
      if (options.bump) {
        // As on SQLite: the bumped id is the stored one plus one, whatever `set` says of it.
        delete fields[options.bump];
        update.$inc = { [options.bump]: 1 };
      }
      if (Object.keys(fields).length > 0) update.$set = fields;
      const filter: Filter<Raw> = { [nameField]: name };
      for (const [key, value] of Object.entries(options.expect ?? {})) filter[key] = value;
      const collection = this.col(kind, this.primary);
      let after: Raw | null;
      if (Object.keys(update).length === 0) {
        after = await collection.findOne(filter);
      } else {
        after = await collection.findOneAndUpdate(filter, update, { returnDocument: 'after' });
      }
      if (after === null) {
        const exists = await collection.countDocuments({ [nameField]: name }, { limit: 1 });
        return { ok: false, reason: exists > 0 ? 'precondition' : 'missing' };
      }
      await this.bumpSeq();
      const doc = withOid<Docs[K]>(after);
      return { ok: true, doc: kind === 'users' ? (normalizeUser(doc as unknown as UserRecord) as unknown as typeof doc) : doc };
    });
  }

  async delete(kind: Kind, name: string): Promise<boolean> {
    return this.write('delete', async () => {
      const collection = this.col(kind, this.primary);
      const filter = { [KIND_META[kind].nameField]: name };
      if (kind === 'apps' || kind === 'cron_jobs') {
        if ((await collection.countDocuments(filter, { limit: 1 })) === 0) return false;
        // Out of the groups first (their devices drop it), then gone.
        await this.col('device_groups', this.primary).updateMany({ [kind]: name }, { $pull: { [kind]: name } as Document, $inc: { device_group_id: 1 } });
      }
      const { deletedCount } = await collection.deleteOne(filter);
      if (deletedCount > 0 || kind === 'apps' || kind === 'cron_jobs') await this.bumpSeq();
      return deletedCount > 0;
    });
  }

  async pruneAll(): Promise<Record<string, number>> {
    return this.write('prune', async () => {
      const groups = this.col('device_groups', this.primary);
      await groups.updateMany({}, { $inc: { prune_id: 1 } });
      await this.bumpSeq();
      const ids: Record<string, number> = {};
      const docs = await groups.find({}, { projection: { _id: 0, device_group: 1, prune_id: 1 } }).sort({ device_group: 1 }).toArray();
      for (const d of docs) ids[String(d.device_group)] = Number(d.prune_id);
      return ids;
    });
  }

  async info(deviceGroup: string): Promise<{ snapshot: InfoSnapshot | null; seq: number }> {
    return this.call('read info', async () => {
      const session = this.readPreference === 'primary' ? undefined : this.client.startSession({ causalConsistency: true });
      try {
        const opts = session ? { session } : {};
        const seq = await this.readSeq(session);
        const group = plain<DeviceGroupDoc>(await this.col('device_groups').findOne({ device_group: deviceGroup }, opts));
        if (group === null) return { snapshot: null, seq };
        const members = async <M extends 'apps' | 'cron_jobs'>(kind: M, names: string[]): Promise<Docs[M][]> => {
          if (names.length === 0) return [];
          const docs = await this.col(kind).find({ [KIND_META[kind].nameField]: { $in: names } }, opts).toArray();
          return docs.map((d) => plain<Docs[M]>(d) as Docs[M]);
        };
        const apps = await members('apps', group.apps ?? []);
        const cronJobs = await members('cron_jobs', group.cron_jobs ?? []);
        return { snapshot: { group, apps, cronJobs }, seq };
      } finally {
        await session?.endSession();
      }
    });
  }

  async usersByTokenLookup(lookup: string): Promise<UserRecord[]> {
    return this.call('find user', async () => (await this.col('users').find({ token_lookup: lookup }).toArray()).map((d) => normalizeUser(plain<UserRecord>(d) as UserRecord)));
  }

  async usersWithoutTokenLookup(): Promise<UserRecord[]> {
    return this.call('find user', async () => (await this.col('users').find({ token_lookup: null }).toArray()).map((d) => normalizeUser(plain<UserRecord>(d) as UserRecord)));
  }

  async setTokenLookup(userName: string, lookup: string): Promise<void> {
    await this.call('record token digest', () => this.col('users', this.primary).updateOne({ user_name: userName }, { $set: { token_lookup: lookup } }));
  }

  async groupsOf(userName: string): Promise<UserGroupDoc[]> {
    return this.call('read user groups', async () =>
      (await this.col('user_groups').find({ group_members: userName }).sort({ user_group: 1 }).toArray()).map((d) => plain<UserGroupDoc>(d) as UserGroupDoc),
    );
  }

  // ---- reports and the device index (reports.ts) -----------------------------------------

  private reportCollections(db: Db): ReportCollections {
    return { reports: db.collection(COLLECTIONS.reports), devices: db.collection(COLLECTIONS.devices) };
  }

  async insertReports(reports: IncomingReport[], now: Date): Promise<{ inserted: number; duplicates: number }> {
    return this.call('insert reports', () => insertReports(this.reportCollections(this.reports), reports, now));
  }

  async purgeReports(before: Date): Promise<number> {
    return this.call('purge reports', () => purgeReports(this.reportCollections(this.reports), before));
  }

  async listDevices(query: DeviceQuery): Promise<DeviceRecord[]> {
    return this.call('list devices', () => listDevices(this.reportCollections(this.reportsReader), query));
  }

  async getDevice(hostname: string): Promise<DeviceRecord | null> {
    return this.call('read device', () => getDevice(this.reportCollections(this.reportsReader), hostname));
  }

  async queryReports(query: ReportQuery): Promise<StoredReport[]> {
    return this.call('query reports', () => queryReports(this.reportCollections(this.reportsReader), query));
  }

  isReportId(id: string): boolean {
    return /^[0-9a-f]{24}$/.test(id);
  }
}
