// The embedded store: one SQLite file (WAL), documents as JSON, every write one transaction.

import type { Database as Db, Statement } from 'better-sqlite3';
import { ObjectId } from 'bson';
import { fatalOnFailure } from '../../errors.ts';
import type { DeviceQuery, DeviceRecord, IncomingReport, ReportQuery } from '../../model/report.ts';
import type { UserGroupDoc, UserRecord } from '../../model/user.ts';
import type { DeviceGroupDoc } from '../../model/deviceGroup.ts';
import { KIND_META, type Docs, type InfoSnapshot, type Kind, type Refs, type Store, type StoredReport, type UpdateOptions, type WriteResult } from '../types.ts';
import { migrate } from './migrations.ts';
import { openDatabase } from './database.ts';
import { getDevice, insertReports, isReportId, listDevices, purgeReportsChunk, queryReports } from './reports.ts';

/** Reports deleted per purge transaction. */
const PURGE_CHUNK = 5000;

interface Row {
  oid: string;
  doc: string;
}

/** Any failure of the database itself is fatal: the process restarts rather than guess. */
function guard<T>(what: string, fn: () => T): T {
  return fatalOnFailure('sqlite store', what, fn);
}

export class SqliteStore implements Store {
  readonly expiresReportsItself = false;
  private readonly db: Db;
  private readonly stmt: Record<string, Statement>;

  private constructor(db: Db) {
    this.db = db;
    this.stmt = {
      get: db.prepare('SELECT oid, doc FROM docs WHERE kind = ? AND name = ?'),
      names: db.prepare('SELECT name FROM docs WHERE kind = ? ORDER BY name').pluck(),
      insert: db.prepare('INSERT INTO docs (kind, name, oid, doc, token_lookup) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      replace: db.prepare('UPDATE docs SET doc = ?, token_lookup = ? WHERE kind = ? AND name = ?'),
      delete: db.prepare('DELETE FROM docs WHERE kind = ? AND name = ?'),
      exists: db.prepare('SELECT 1 FROM docs WHERE kind = ? AND name = ?').pluck(),
      groupsListing: db.prepare(
        `SELECT name, doc FROM docs WHERE kind = 'device_groups'
         AND EXISTS (SELECT 1 FROM json_each(docs.doc, '$.' || ?) WHERE value = ?)`,
      ),
      allOfKind: db.prepare('SELECT name, doc FROM docs WHERE kind = ? ORDER BY name'),
      membersOf: db.prepare('SELECT doc FROM docs WHERE kind = ? AND name IN (SELECT value FROM json_each(?))').pluck(),
      seq: db.prepare("SELECT value FROM meta WHERE key = 'change_seq'").pluck(),
      bumpSeq: db.prepare("UPDATE meta SET value = value + 1 WHERE key = 'change_seq'"),
      byLookup: db.prepare("SELECT doc FROM docs WHERE token_lookup = ? AND kind = 'users'").pluck(),
      withoutLookup: db.prepare("SELECT doc FROM docs INDEXED BY docs_users_without_lookup WHERE kind = 'users' AND token_lookup IS NULL").pluck(),
      setLookup: db.prepare("UPDATE docs SET token_lookup = ?, doc = json_set(doc, '$.token_lookup', ?) WHERE kind = 'users' AND name = ?"),
      groupsOf: db.prepare(
        `SELECT doc FROM docs WHERE kind = 'user_groups'
         AND EXISTS (SELECT 1 FROM json_each(docs.doc, '$.group_members') WHERE value = ?) ORDER BY name`,
      ).pluck(),
    };
  }

  /** Opens (creating if needed) and migrates the database file; throws StoreFatalError. */
  static open(file: string): SqliteStore {
    return guard('open', () => {
      const db = openDatabase(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new SqliteStore(db);
    });
  }

  async ping(): Promise<void> {
    guard('ping', () => this.stmt.seq!.get());
  }

  async changeSeq(): Promise<number> {
    return guard('read the change sequence', () => this.stmt.seq!.get() as number);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async listNames(kind: Kind): Promise<string[]> {
    return guard('list', () => this.stmt.names!.all(kind) as string[]);
  }

  async get<K extends Kind>(kind: K, name: string): Promise<Docs[K] | null> {
    return guard('read', () => {
      const row = this.stmt.get!.get(kind, name) as Row | undefined;
      return row ? (JSON.parse(row.doc) as Docs[K]) : null;
    });
  }

  private missingRef(refs: Refs | undefined): WriteResult<never> | null {
    for (const kind of ['cron_jobs', 'apps'] as const) {
      for (const name of refs?.[kind] ?? []) {
        if (!this.stmt.exists!.get(kind, name)) return { ok: false, reason: 'missing_ref', kind, name };
      }
    }
    return null;
  }

  async create<K extends Kind>(kind: K, doc: Docs[K], refs?: Refs): Promise<WriteResult<Docs[K]>> {
    const name = (doc as unknown as Record<string, unknown>)[KIND_META[kind].nameField] as string;
    return guard('create', () =>
      this.db
        .transaction((): WriteResult<Docs[K]> => {
          const missing = this.missingRef(refs);
          if (missing) return missing;
          const oid = new ObjectId().toHexString();
          const lookup = kind === 'users' ? (doc as UserRecord).token_lookup : null;
          const { changes } = this.stmt.insert!.run(kind, name, oid, JSON.stringify(doc), lookup);
          if (changes === 0) return { ok: false, reason: 'exists' };
          this.stmt.bumpSeq!.run();
          return { ok: true, doc: { _id: { $oid: oid }, ...doc } };
        })
        .immediate(),
    );
  }

  async update<K extends Kind>(
    kind: K,
    name: string,
    set: Partial<Docs[K]>,
    options: UpdateOptions<Docs[K]> = {},
  ): Promise<WriteResult<Docs[K]>> {
    return guard('update', () =>
      this.db
        .transaction((): WriteResult<Docs[K]> => {
          const row = this.stmt.get!.get(kind, name) as Row | undefined;
          if (!row) return { ok: false, reason: 'missing' };
          const current = JSON.parse(row.doc) as Record<string, unknown>;
          for (const [key, value] of Object.entries(options.expect ?? {})) {
            if (JSON.stringify(current[key]) !== JSON.stringify(value)) return { ok: false, reason: 'precondition' };
          }
          const missing = this.missingRef(options.refs);
          if (missing) return missing;
          const next: Record<string, unknown> = { ...current, ...set };
          if (options.bump) next[options.bump] = ((current[options.bump] as number) ?? 0) + 1;
          const lookup = kind === 'users' ? ((next as unknown as UserRecord).token_lookup ?? null) : null;
          this.stmt.replace!.run(JSON.stringify(next), lookup, kind, name);
          this.stmt.bumpSeq!.run();
          return { ok: true, doc: { _id: { $oid: row.oid }, ...(next as unknown as Docs[K]) } };
        })
        .immediate(),
    );
  }

  async delete(kind: Kind, name: string): Promise<boolean> {
    return guard('delete', () =>
      this.db
        .transaction((): boolean => {
          if (this.stmt.delete!.run(kind, name).changes === 0) return false;
          if (kind === 'apps' || kind === 'cron_jobs') this.dropFromGroups(kind, name);
          this.stmt.bumpSeq!.run();
          return true;
        })
        .immediate(),
    );
  }

  /** Removes a deleted member from the groups listing it; bumps their device_group_id. */
  private dropFromGroups(kind: 'apps' | 'cron_jobs', member: string): void {
    const rows = this.stmt.groupsListing!.all(kind, member) as { name: string; doc: string }[];
    for (const row of rows) {
      const group = JSON.parse(row.doc) as DeviceGroupDoc;
      group[kind] = group[kind].filter((n) => n !== member);
      group.device_group_id += 1;
      this.stmt.replace!.run(JSON.stringify(group), null, 'device_groups', row.name);
    }
  }

  async pruneAll(): Promise<Record<string, number>> {
    return guard('prune', () =>
      this.db
        .transaction(() => {
          const ids: Record<string, number> = {};
          for (const row of this.stmt.allOfKind!.all('device_groups') as { name: string; doc: string }[]) {
            const group = JSON.parse(row.doc) as DeviceGroupDoc;
            group.prune_id += 1;
            ids[row.name] = group.prune_id;
            this.stmt.replace!.run(JSON.stringify(group), null, 'device_groups', row.name);
          }
          this.stmt.bumpSeq!.run();
          return ids;
        })
        .immediate(),
    );
  }

  async info(deviceGroup: string): Promise<{ snapshot: InfoSnapshot | null; seq: number }> {
    return guard('read info', () =>
      this.db.transaction(() => {
        const seq = this.stmt.seq!.get() as number;
        const row = this.stmt.get!.get('device_groups', deviceGroup) as Row | undefined;
        if (!row) return { snapshot: null, seq };
        const group = JSON.parse(row.doc) as DeviceGroupDoc;
        const members = <K extends 'apps' | 'cron_jobs'>(kind: K, names: string[]) =>
          (this.stmt.membersOf!.all(kind, JSON.stringify(names)) as string[]).map((d) => JSON.parse(d) as Docs[K]);
        return { snapshot: { group, apps: members('apps', group.apps), cronJobs: members('cron_jobs', group.cron_jobs) }, seq };
      })(),
    );
  }

  async usersByTokenLookup(lookup: string): Promise<UserRecord[]> {
    return guard('find user', () => (this.stmt.byLookup!.all(lookup) as string[]).map((d) => JSON.parse(d) as UserRecord));
  }

  async usersWithoutTokenLookup(): Promise<UserRecord[]> {
    return guard('find user', () => (this.stmt.withoutLookup!.all() as string[]).map((d) => JSON.parse(d) as UserRecord));
  }

  async setTokenLookup(userName: string, lookup: string): Promise<void> {
    guard('record token digest', () => this.stmt.setLookup!.run(lookup, lookup, userName));
  }

  async groupsOf(userName: string): Promise<UserGroupDoc[]> {
    return guard('read user groups', () => (this.stmt.groupsOf!.all(userName) as string[]).map((d) => JSON.parse(d) as UserGroupDoc));
  }

  async insertReports(reports: IncomingReport[], now: Date): Promise<{ inserted: number; duplicates: number }> {
    return guard('insert reports', () => insertReports(this.db, reports, now));
  }

  /**
   * Deletes in chunks, each its own short transaction, yielding between them: a large purge
   * never holds the write lock (or the event loop) long enough to stall report ingestion.
   */
  async purgeReports(before: Date): Promise<number> {
    let total = 0;
    for (;;) {
      const n = guard('purge reports', () => purgeReportsChunk(this.db, before, PURGE_CHUNK));
      total += n;
      if (n < PURGE_CHUNK) return total;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async listDevices(query: DeviceQuery): Promise<DeviceRecord[]> {
    return guard('list devices', () => listDevices(this.db, query));
  }

  async getDevice(hostname: string): Promise<DeviceRecord | null> {
    return guard('read device', () => getDevice(this.db, hostname));
  }

  async queryReports(query: ReportQuery): Promise<StoredReport[]> {
    return guard('query reports', () => queryReports(this.db, query));
  }

  isReportId(id: string): boolean {
    return isReportId(id);
  }
}
