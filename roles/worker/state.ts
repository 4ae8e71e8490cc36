// The worker's local state: one SQLite file on the device. It keeps the last desired
// config (with its ETag), what has been applied, cron run times and a bounded event log,
// so a device rebooted without network comes back as it was. A write that fails is fatal.

import { join } from 'node:path';
import type { Database as Db } from 'better-sqlite3';
import { fatalOnFailure } from '../../src/errors.ts';
import { EMPTY_APPLIED, type AppliedState } from '../../src/diff/types.ts';
import type { Info } from '../../src/model/info.ts';
import { runMigrations } from '../../src/store/sqlite/migrations.ts';
import { openDatabase } from '../../src/store/sqlite/database.ts';

const MIGRATIONS = [
  `
  CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE cron_runs (cron_job TEXT PRIMARY KEY, last_run INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  `,
  // 2: the report spool: reports wait here until the transport has delivered them.
  `
  CREATE TABLE spool (id INTEGER PRIMARY KEY AUTOINCREMENT, report TEXT NOT NULL);
  `,
];

const MAX_EVENTS = 5000;

export interface SpooledReport {
  id: number;
  report: string;
}

export type EventKind = 'health-restart' | 'app-failed' | 'app-recovered' | 'cron-run' | 'cron-skipped' | 'cron-failed' | 'pruned';

export interface WorkerEvent {
  at: number;
  kind: EventKind;
  subject: string;
  detail: string;
}

export class WorkerState {
  private readonly db: Db;

  private constructor(db: Db) {
    this.db = db;
  }

  static open(stateDir: string): WorkerState {
    return guard('open the worker state', () => {
      const db = openDatabase(join(stateDir, 'worker.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      runMigrations(db, MIGRATIONS);
      return new WorkerState(db);
    });
  }

  private read(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  private write(entries: Record<string, string | null>): void {
    const put = this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    const del = this.db.prepare('DELETE FROM kv WHERE key = ?');
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(entries)) {
        if (value === null) del.run(key);
        else put.run(key, value);
      }
    }).immediate();
  }

  desired(): { info: Info | null; etag: string | null } {
    return guard('read the desired config', () => {
      const info = this.read('desired');
      return { info: info === null ? null : (JSON.parse(info) as Info), etag: this.read('etag') };
    });
  }

  saveDesired(info: Info, etag: string | null): void {
    guard('save the desired config', () => this.write({ desired: JSON.stringify(info), etag }));
  }

  applied(): AppliedState {
    return guard('read the applied state', () => {
      const value = this.read('applied');
      return value === null ? structuredClone(EMPTY_APPLIED) : (JSON.parse(value) as AppliedState);
    });
  }

  saveApplied(applied: AppliedState): void {
    guard('save the applied state', () => this.write({ applied: JSON.stringify(applied) }));
  }

  lastCronRun(cronJob: string): number | null {
    return guard('read a cron run', () => {
      const row = this.db.prepare('SELECT last_run FROM cron_runs WHERE cron_job = ?').get(cronJob) as { last_run: number } | undefined;
      return row?.last_run ?? null;
    });
  }

  saveCronRun(cronJob: string, at: number): void {
    guard('save a cron run', () =>
      this.db
        .prepare('INSERT INTO cron_runs (cron_job, last_run) VALUES (?, ?) ON CONFLICT (cron_job) DO UPDATE SET last_run = excluded.last_run')
        .run(cronJob, at),
    );
  }

  record(event: WorkerEvent): void {
    guard('record an event', () => {
      this.db.prepare('INSERT INTO events (at, kind, subject, detail) VALUES (?, ?, ?, ?)').run(event.at, event.kind, event.subject, event.detail);
      this.db.prepare('DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?').run(MAX_EVENTS);
    });
  }

  events(kind?: EventKind): WorkerEvent[] {
    return guard('read events', () => {
      const sql = `SELECT at, kind, subject, detail FROM events ${kind ? 'WHERE kind = ?' : ''} ORDER BY id`;
      return this.db.prepare(sql).all(...(kind ? [kind] : [])) as WorkerEvent[];
    });
  }

  /**
   * Adds a report (JSON) to the spool. When the spool then holds more than `max`, the oldest
   * are dropped and counted (spoolDropped). Returns how many were dropped by this call.
   */
  spoolAdd(report: string, max: number): number {
    return guard('spool a report', () =>
      this.db
        .transaction(() => {
          this.db.prepare('INSERT INTO spool (report) VALUES (?)').run(report);
          const size = this.db.prepare('SELECT COUNT(*) FROM spool').pluck().get() as number;
          const excess = size - max;
          if (excess <= 0) return 0;
          this.db.prepare('DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT ?)').run(excess);
          const dropped = Number(this.read('spool_dropped') ?? '0') + excess;
          this.write({ spool_dropped: String(dropped) });
          return excess;
        })
        .immediate(),
    );
  }

  /** The oldest spooled reports, oldest first. */
  spoolPeek(limit: number): SpooledReport[] {
    return guard('read the spool', () => this.db.prepare('SELECT id, report FROM spool ORDER BY id LIMIT ?').all(limit) as SpooledReport[]);
  }

  /** Forgets delivered reports. */
  spoolDelete(ids: readonly number[]): void {
    guard('delete delivered reports', () => {
      const del = this.db.prepare('DELETE FROM spool WHERE id = ?');
      this.db.transaction(() => {
        for (const id of ids) del.run(id);
      })();
    });
  }

  /** Counts a report dropped for good (one the receiver refuses as malformed). */
  spoolDiscard(id: number): void {
    guard('discard a report', () =>
      this.db.transaction(() => {
        this.db.prepare('DELETE FROM spool WHERE id = ?').run(id);
        this.write({ spool_dropped: String(Number(this.read('spool_dropped') ?? '0') + 1) });
      })(),
    );
  }

  spoolSize(): number {
    return guard('read the spool', () => this.db.prepare('SELECT COUNT(*) FROM spool').pluck().get() as number);
  }

  /** Reports dropped from the spool since this state file was created. */
  spoolDropped(): number {
    return guard('read the spool', () => Number(this.read('spool_dropped') ?? '0'));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function guard<T>(what: string, fn: () => T): T {
  return fatalOnFailure('worker state', what, fn);
}
