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

import {
  MongoBulkWriteError,
  MongoClient,
  MongoError,
  MongoServerError,
  ObjectId,
  type AnyBulkWriteOperation,
  type ClientSession,
  type Collection,
  type Db,
  type Document,
  type Filter,
  type ReadPreferenceMode,
} from 'mongodb';
import { StoreUnavailableError } from '../../errors.ts';
import { summarizeReport, type DeviceQuery, type DeviceRecord, type IncomingReport, type ReportQuery } from '../../model/report.ts';
import type { UserGroupDoc, UserRecord } from '../../model/user.ts';
import type { DeviceGroupDoc } from '../../model/deviceGroup.ts';
import { KIND_META, type Docs, type InfoSnapshot, type Kind, type Refs, type Store, type StoredReport, type UpdateOptions, type WriteResult } from '../types.ts';
import { fromStored, toStored } from './keys.ts';
import { COLLECTIONS, ensureSchema } from './schema.ts';

export const READ_PREFERENCES: readonly ReadPreferenceMode[] = ['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest'];

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

const DUPLICATE_KEY = 11000;
type MetaDoc = { _id: string; value: number };
type LockDoc = { _id: string; owner: string; at: Date };

/** The admin write lock: how long a writer waits for it, and when a holder is presumed dead. */
const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 15_000;

/** Errors of the connection itself (a socket the server closed, refused, reset, timed out). */
function isConnectionFailure(err: unknown): boolean {
  if (err instanceof MongoError) return true;
  if (!(err instanceof Error)) return false;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return true;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^(EPIPE|ECONNRESET|ECONNREFUSED|ECONNABORTED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTCONN)$/.test(code);
}
type Raw = Document;

function isDuplicate(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

/** The host list of a MongoDB URL, without credentials or options (for logs and messages). */
export function describeMongoUrl(url: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?([^/?]*)/.exec(url);
  return match ? `${match[1]}${match[2]}` : 'mongodb://?';
}

/** A document without its _id, keys as sent. */
function plain<T>(doc: Raw | null): T | null {
  if (doc === null) return null;
  const { _id, ...rest } = doc;
  return fromStored(rest) as T;
}

function withOid<T>(doc: Raw): T & { _id: { $oid: string } } {
  const { _id, ...rest } = doc;
  const oid = _id instanceof ObjectId ? _id.toHexString() : String(_id);
  return { _id: { $oid: oid }, ...(fromStored(rest) as T) };
}

/** 2.7's user documents have no token_lookup. */
function normalizeUser(doc: UserRecord): UserRecord {
  return doc.token_lookup === undefined ? { ...doc, token_lookup: null } : doc;
}

export class MongoStore implements Store {
  readonly expiresReportsItself: boolean;
  private readonly clients: MongoClient[];
  private readonly primary: Db;
  private readonly reader: Db;
  private readonly reports: Db;
  private readonly reportsReader: Db;
  private readonly client: MongoClient;
  private readonly readPreference: ReadPreferenceMode;
  /** Admin writes of this process, one at a time (then the store-wide lock). */
  private writeQueue: Promise<unknown> = Promise.resolve();
  /** The lock holder we last saw, and since when (our clock: no trust in other hosts' clocks). */
  private lockSeen: { owner: string; since: number } | null = null;

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
  }

  /** Connects, builds the indexes, checks the layout; throws StoreFatalError (the process must end). */
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
  private async write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = this.writeQueue.then(
      () => this.call(what, () => this.locked(fn)),
      () => this.call(what, () => this.locked(fn)),
    );
    this.writeQueue = run.catch(() => undefined);
    return run;
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const locks = this.primary.collection<LockDoc>(COLLECTIONS.locks);
    const owner = new ObjectId().toHexString();
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        await locks.insertOne({ _id: 'admin_write', owner, at: new Date() });
        break;
      } catch (err) {
        if (!isDuplicate(err)) throw err;
      }
      const held = await locks.findOne({ _id: 'admin_write' });
      if (held !== null) {
        if (this.lockSeen?.owner !== held.owner) this.lockSeen = { owner: held.owner, since: Date.now() };
        else if (Date.now() - this.lockSeen.since > LOCK_STALE_MS) {
          // Its holder died between taking and releasing it: take it over.
          await locks.deleteOne({ _id: 'admin_write', owner: held.owner });
          continue;
        }
      }
      if (Date.now() > deadline) {
        throw new StoreUnavailableError('mongodb store: another manager has held the admin write lock for too long', null);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 50) + Math.random() * 5));
    }
    try {
      return await fn();
    } finally {
      await locks.deleteOne({ _id: 'admin_write', owner }).catch(() => undefined);
    }
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

  // ---- reports and the device index ------------------------------------------------------

  private reportsCol(db: Db): Collection<Raw> {
    return db.collection(COLLECTIONS.reports);
  }

  private devicesCol(db: Db): Collection<Raw> {
    return db.collection(COLLECTIONS.devices);
  }

  async insertReports(reports: IncomingReport[], now: Date): Promise<{ inserted: number; duplicates: number }> {
    return this.call('insert reports', async () => {
      const collection = this.reportsCol(this.reports);
      // Reports whose id is stored already (a spool re-sent, a Kafka batch read again), or
      // earlier in this batch, are skipped.
      const ids = reports.map((r) => r.report_id).filter((id): id is string => typeof id === 'string');
      const seen = new Set<string>();
      if (ids.length > 0) {
        const found = await collection.find({ report_id: { $in: ids } }, { projection: { _id: 0, report_id: 1 } }).toArray();
        for (const d of found) seen.add(String(d.report_id));
      }
      const fresh: { report: IncomingReport; doc: Raw }[] = [];
      for (const report of reports) {
        const id = report.report_id;
        if (typeof id === 'string') {
          if (seen.has(id)) continue;
          seen.add(id);
        }
        const { _id, report_insert_date, ...fields } = report as Raw;
        fresh.push({ report, doc: { _id: new ObjectId(), ...toStored(fields), report_insert_date: now } });
      }
      const inserted = await this.insertFresh(collection, fresh.map((f) => f.doc));
      await this.advanceDevices(inserted.map((i) => (fresh[i] as { report: IncomingReport }).report), now);
      return { inserted: inserted.length, duplicates: reports.length - inserted.length };
    });
  }

  /**
   * Inserts the documents; returns the indexes of those stored by this call. A report whose
   * id a concurrent writer stored between the check and the insert is a duplicate (11000).
   */
  private async insertFresh(collection: Collection<Raw>, docs: Raw[]): Promise<number[]> {
    if (docs.length === 0) return [];
    try {
      await collection.insertMany(docs, { ordered: true });
      return docs.map((_d, i) => i);
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError) && !isDuplicate(err)) throw err;
    }
    // Some were refused as duplicates: settle each one alone. Our _ids are new ObjectIds, so a
    // document found under its _id was stored by this call before the batch stopped; any
    // other duplicate is a report_id stored by someone else.
    const stored: number[] = [];
    for (let i = 0; i < docs.length; i++) {
      const doc = docs[i] as Raw;
      try {
        await collection.insertOne(doc);
        stored.push(i);
      } catch (err) {
        if (!isDuplicate(err)) throw err;
        if ((await collection.countDocuments({ _id: doc._id }, { limit: 1 })) > 0) stored.push(i);
      }
    }
    return stored;
  }

  /** Moves each device's entry forward to its newest report in `reports` (never back). */
  private async advanceDevices(reports: IncomingReport[], now: Date): Promise<void> {
    const latest = new Map<string, DeviceRecord>();
    for (const report of reports) {
      const record = summarizeReport(report, now.getTime());
      const current = latest.get(record.hostname);
      if (current === undefined || record.last_seen >= current.last_seen) latest.set(record.hostname, record);
    }
    if (latest.size === 0) return;
    const ops: AnyBulkWriteOperation<Raw>[] = [...latest.values()].map((record) => ({
      updateOne: {
        filter: { _id: record.hostname as unknown as ObjectId, last_seen: { $lte: record.last_seen } },
        update: { $set: toStored(record as unknown as Raw) },
        upsert: true,
      },
    }));
    try {
      await this.devicesCol(this.reports).bulkWrite(ops, { ordered: false });
    } catch (err) {
      // A device whose entry is newer than this report: the upsert hits its _id. Left as is.
      if (err instanceof MongoBulkWriteError && err.writeErrors && [err.writeErrors].flat().every((e) => e.code === DUPLICATE_KEY)) return;
      if (isDuplicate(err)) return;
      throw err;
    }
  }

  async purgeReports(before: Date): Promise<number> {
    return this.call('purge reports', async () => (await this.reportsCol(this.reports).deleteMany({ report_insert_date: { $lt: before } })).deletedCount);
  }

  async listDevices(query: DeviceQuery): Promise<DeviceRecord[]> {
    return this.call('list devices', async () => {
      const filter: Filter<Raw> = {};
      if (query.afterHostname !== undefined) filter._id = { $gt: query.afterHostname as unknown as ObjectId };
      const groups: Filter<Raw>[] = [];
      if (query.deviceGroup !== undefined) groups.push({ device_group: query.deviceGroup });
      if (query.inGroups !== undefined) groups.push({ device_group: { $in: [...query.inGroups] } });
      if (groups.length === 1) Object.assign(filter, groups[0]);
      else if (groups.length > 1) filter.$and = groups;
      const docs = await this.devicesCol(this.reportsReader).find(filter).sort({ _id: 1 }).limit(query.pageSize).toArray();
      return docs.map((d) => plain<DeviceRecord>(d) as DeviceRecord);
    });
  }

  async getDevice(hostname: string): Promise<DeviceRecord | null> {
    return this.call('read device', async () => plain<DeviceRecord>(await this.devicesCol(this.reportsReader).findOne({ _id: hostname as unknown as ObjectId })));
  }

  async queryReports(query: ReportQuery): Promise<StoredReport[]> {
    return this.call('query reports', async () => {
      const filter: Filter<Raw> = {};
      if (query.afterId !== undefined) filter._id = { $gt: ObjectId.createFromHexString(query.afterId) };
      if (query.hostname !== undefined) filter.hostname = query.hostname;
      if (query.deviceGroup !== undefined) filter.device_group = query.deviceGroup;
      if (query.creationTime !== undefined) {
        const { op, value } = query.creationTime;
        filter.report_creation_time = op === 'eq' ? value : { [`$${op}`]: value };
      }
      if (query.updated !== undefined) filter.updated = query.updated;
      const docs = await this.reportsCol(this.reportsReader).find(filter).sort({ _id: 1 }).limit(query.pageSize).toArray();
      return docs.map((d) => {
        const { _id, report_insert_date, ...report } = d;
        const insertedAt = report_insert_date instanceof Date ? report_insert_date : (_id as ObjectId).getTimestamp();
        return { id: (_id as ObjectId).toHexString(), insertedAt, report: fromStored(report) };
      });
    });
  }

  isReportId(id: string): boolean {
    return /^[0-9a-f]{24}$/.test(id);
  }
}
