// The worker's local state: one SQLite file on the device. It keeps the last desired
// config (with its ETag), what has been applied, cron run times, a bounded event log and the
// report spool, so a device rebooted without network comes back as it was.
//
// Every change is first put in `pending` (which reads see), then written in one transaction.
// A full disk is not fatal: what could not be written stays pending and the worker carries on
// with it in memory — containers keep running, changes are still followed — while the problem
// is logged and reported (problem()), and every later write (the applied state is saved every
// check-in) tries again, so nothing is lost once space is freed unless the worker restarts
// before. Any other failure to read or write is fatal (StoreFatalError).

import { join } from 'node:path';
import type { Database as Db } from 'better-sqlite3';
import { fatalOnFailure, StoreFatalError } from '../../src/errors.ts';
import { EMPTY_APPLIED, type AppliedState } from '../../src/diff/types.ts';
import type { Logger } from '../../src/log.ts';
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

/** Why the state cannot be written right now (the disk is full), and since when (ms). */
export interface StateProblem {
  since: number;
  message: string;
}

/** Changes not written yet: reads see them, and each write takes them all along. */
class Pending {
  readonly kv = new Map<string, string | null>();
  readonly cronRuns = new Map<string, number>();
  readonly events: WorkerEvent[] = [];
  /** Reports to add to the spool, their ids already given (above every id on disk). */
  readonly reports: SpooledReport[] = [];
  /** Spooled reports to remove from the disk: delivered, dropped or discarded. */
  readonly removed = new Set<number>();

  get empty(): boolean {
    return this.kv.size + this.cronRuns.size + this.events.length + this.reports.length + this.removed.size === 0;
  }
}

/** SQLite's answer when a write needs space the disk does not have (ENOSPC). */
function isDiskFull(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SQLITE_FULL';
}

export class WorkerState {
  private readonly db: Db;
  private readonly stateDir: string;
  private readonly log: Logger | undefined;
  private pending = new Pending();
  private lastReportId: number;
  private diskFull: StateProblem | null = null;

  private constructor(db: Db, stateDir: string, log: Logger | undefined) {
    this.db = db;
    this.stateDir = stateDir;
    this.log = log;
    this.lastReportId = guard('read the spool', () => (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'spool'").pluck().get() as number | undefined) ?? 0);
  }

  /** `log`: where a full disk, and its end, are told. */
  static open(stateDir: string, options: { log?: Logger } = {}): WorkerState {
    return guard('open the worker state', () => {
      const db = openDatabase(join(stateDir, 'worker.db'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      runMigrations(db, MIGRATIONS);
      return new WorkerState(db, stateDir, options.log);
    });
  }

  /** Null while every change is on disk; else why not (the disk is full). */
  problem(): StateProblem | null {
    return this.diskFull;
  }

  private read(key: string): string | null {
    if (this.pending.kv.has(key)) return this.pending.kv.get(key) ?? null;
    const row = this.db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  /** Writes everything pending in one transaction. A full disk keeps it pending; anything else is fatal. */
  private flush(what: string): void {
    const pending = this.pending;
    if (pending.empty) return;
    try {
      guard(what, () => this.db.transaction(() => this.writeOut(pending)).immediate());
    } catch (err) {
      if (!(err instanceof StoreFatalError && isDiskFull(err.cause))) throw err;
      if (this.diskFull === null) {
        this.diskFull = { since: Date.now(), message: `disk full: the worker state in ${this.stateDir} cannot be written (${(err.cause as Error).message})` };
        this.log?.error(
          { state_dir: this.stateDir, err: (err.cause as Error).message, what },
          'disk full: the worker state cannot be written; carrying on in memory (containers keep running) and retrying at every write',
        );
      }
      return;
    }
    this.pending = new Pending();
    if (this.diskFull !== null) {
      this.log?.info({ state_dir: this.stateDir, full_for_ms: Date.now() - this.diskFull.since }, 'the worker state is written again: disk space was freed');
      this.diskFull = null;
    }
  }

  private writeOut(p: Pending): void {
    const put = this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    const del = this.db.prepare('DELETE FROM kv WHERE key = ?');
    for (const [key, value] of p.kv) {
      if (value === null) del.run(key);
      else put.run(key, value);
    }
    const cron = this.db.prepare('INSERT INTO cron_runs (cron_job, last_run) VALUES (?, ?) ON CONFLICT (cron_job) DO UPDATE SET last_run = excluded.last_run');
    for (const [job, at] of p.cronRuns) cron.run(job, at);
    if (p.events.length > 0) {
      const event = this.db.prepare('INSERT INTO events (at, kind, subject, detail) VALUES (?, ?, ?, ?)');
      for (const e of p.events) event.run(e.at, e.kind, e.subject, e.detail);
      this.db.prepare('DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?').run(MAX_EVENTS);
    }
    const unspool = this.db.prepare('DELETE FROM spool WHERE id = ?');
    for (const id of p.removed) unspool.run(id);
    const spool = this.db.prepare('INSERT INTO spool (id, report) VALUES (?, ?)');
    for (const r of p.reports) spool.run(r.id, r.report);
  }

  desired(): { info: Info | null; etag: string | null } {
    return guard('read the desired config', () => {
      const info = this.read('desired');
      return { info: info === null ? null : (JSON.parse(info) as Info), etag: this.read('etag') };
    });
  }

  saveDesired(info: Info, etag: string | null): void {
    this.pending.kv.set('desired', JSON.stringify(info)).set('etag', etag);
    this.flush('save the desired config');
  }

  applied(): AppliedState {
    return guard('read the applied state', () => {
      const value = this.read('applied');
      return value === null ? structuredClone(EMPTY_APPLIED) : (JSON.parse(value) as AppliedState);
    });
  }

  saveApplied(applied: AppliedState): void {
    this.pending.kv.set('applied', JSON.stringify(applied));
    this.flush('save the applied state');
  }

  lastCronRun(cronJob: string): number | null {
    const pending = this.pending.cronRuns.get(cronJob);
    if (pending !== undefined) return pending;
    return guard('read a cron run', () => {
      const row = this.db.prepare('SELECT last_run FROM cron_runs WHERE cron_job = ?').get(cronJob) as { last_run: number } | undefined;
      return row?.last_run ?? null;
    });
  }

  saveCronRun(cronJob: string, at: number): void {
    this.pending.cronRuns.set(cronJob, at);
    this.flush('save a cron run');
  }

  record(event: WorkerEvent): void {
    const events = this.pending.events;
    events.push(event);
    if (events.length > MAX_EVENTS) events.shift();
    this.flush('record an event');
  }

  events(kind?: EventKind): WorkerEvent[] {
    const stored = guard('read events', () => {
      const sql = `SELECT at, kind, subject, detail FROM events ${kind ? 'WHERE kind = ?' : ''} ORDER BY id`;
      return this.db.prepare(sql).all(...(kind ? [kind] : [])) as WorkerEvent[];
    });
    return [...stored, ...this.pending.events.filter((e) => kind === undefined || e.kind === kind)];
  }

  /**
   * Adds a report (JSON) to the spool. When the spool then holds more than `max`, the oldest
   * are dropped and counted (spoolDropped). Returns how many were dropped by this call.
   */
  spoolAdd(report: string, max: number): number {
    this.lastReportId += 1;
    this.pending.reports.push({ id: this.lastReportId, report });
    const excess = this.spoolSize() - max;
    if (excess > 0) {
      for (const old of this.spoolPeek(excess)) this.unspool(old.id);
      this.pending.kv.set('spool_dropped', String(this.spoolDropped() + excess));
    }
    this.flush('spool a report');
    return Math.max(0, excess);
  }

  /** The oldest spooled reports, oldest first. */
  spoolPeek(limit: number): SpooledReport[] {
    const { removed, reports } = this.pending;
    const stored = guard('read the spool', () => this.db.prepare('SELECT id, report FROM spool ORDER BY id LIMIT ?').all(limit + removed.size) as SpooledReport[]);
    return [...stored.filter((r) => !removed.has(r.id)), ...reports].slice(0, limit);
  }

  /** Forgets delivered reports. */
  spoolDelete(ids: readonly number[]): void {
    for (const id of ids) this.unspool(id);
    this.flush('delete delivered reports');
  }

  /** Counts a report dropped for good (one the receiver refuses as malformed). */
  spoolDiscard(id: number): void {
    this.unspool(id);
    this.pending.kv.set('spool_dropped', String(this.spoolDropped() + 1));
    this.flush('discard a report');
  }

  /** A report not written yet is just forgotten; one on disk is removed at the next write. */
  private unspool(id: number): void {
    const reports = this.pending.reports;
    const index = reports.findIndex((r) => r.id === id);
    if (index >= 0) reports.splice(index, 1);
    else this.pending.removed.add(id);
  }

  spoolSize(): number {
    const stored = guard('read the spool', () => this.db.prepare('SELECT COUNT(*) FROM spool').pluck().get() as number);
    return Math.max(0, stored - this.pending.removed.size) + this.pending.reports.length;
  }

  /** Reports dropped from the spool since this state file was created. */
  spoolDropped(): number {
    return guard('read the spool', () => Number(this.read('spool_dropped') ?? '0'));
  }

  /** Writes what is pending if it can (a last try on a full disk), then closes the file. */
  close(): void {
    if (!this.db.open) return;
    try {
      this.flush('write the state before closing');
    } catch {
      // closing anyway: the file holds the last state that was written
    }
    if (!this.pending.empty) this.log?.error({ state_dir: this.stateDir }, 'disk full: changes made since are lost with this process (the containers keep running)');
    this.db.close();
  }
}

function guard<T>(what: string, fn: () => T): T {
  return fatalOnFailure('worker state', what, fn);
}
