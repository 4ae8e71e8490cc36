// The Store: everything the manager keeps. SQLite (embedded) and MongoDB (scale-out)
// implement it; one contract suite tests both. A store knows its database and nothing of HTTP.

import type { AppDoc } from '../model/app.ts';
import type { CronJobDoc } from '../model/cronJob.ts';
import type { DeviceGroupDoc } from '../model/deviceGroup.ts';
import type { UserGroupDoc, UserRecord } from '../model/user.ts';
import type { DeviceQuery, DeviceRecord, IncomingReport, ReportQuery } from '../model/report.ts';

export interface Docs {
  apps: AppDoc;
  device_groups: DeviceGroupDoc;
  cron_jobs: CronJobDoc;
  users: UserRecord;
  user_groups: UserGroupDoc;
}
export type Kind = keyof Docs;

/** Which field names a document and which monotonic id an update bumps. */
export const KIND_META = {
  apps: { nameField: 'app_name', idField: 'app_id' },
  device_groups: { nameField: 'device_group', idField: 'device_group_id' },
  cron_jobs: { nameField: 'cron_job_name', idField: 'cron_job_id' },
  users: { nameField: 'user_name', idField: null },
  user_groups: { nameField: 'user_group', idField: null },
} as const satisfies Record<Kind, { nameField: string; idField: string | null }>;

/** A document as update-style replies show it: with its ObjectId. */
export type WithOid<T> = T & { _id: { $oid: string } };

export interface Refs {
  cron_jobs?: string[];
  apps?: string[];
}

export type WriteResult<T> =
  | { ok: true; doc: WithOid<T> }
  | { ok: false; reason: 'missing' | 'exists' | 'precondition' }
  | { ok: false; reason: 'missing_ref'; kind: 'apps' | 'cron_jobs'; name: string };

export interface UpdateOptions<T> {
  /** Add 1 to this monotonic id in the same atomic write. */
  bump?: string;
  /** Fields that must hold these values, or the update is refused with 'precondition'. */
  expect?: Partial<T>;
  /** Names that must exist (checked in this order: cron_jobs, then apps). */
  refs?: Refs;
}

export interface InfoSnapshot {
  group: DeviceGroupDoc;
  apps: AppDoc[];
  cronJobs: CronJobDoc[];
}

export interface StoredReport {
  id: string;
  insertedAt: Date;
  report: Record<string, unknown>;
}

export interface Store {
  /** The database deletes expired reports itself (a TTL index): no purge loop is needed. */
  readonly expiresReportsItself: boolean;
  /** Throws when the database cannot be reached (readiness). */
  ping(): Promise<void>;
  /** The store-wide change sequence: every admin write moves it. */
  changeSeq(): Promise<number>;
  close(): Promise<void>;

  listNames(kind: Kind): Promise<string[]>;
  get<K extends Kind>(kind: K, name: string): Promise<Docs[K] | null>;
  /** Inserts a new document; 'exists' when the name is taken, even by a concurrent create. */
  create<K extends Kind>(kind: K, doc: Docs[K], refs?: Refs): Promise<WriteResult<Docs[K]>>;
  /** Sets `set` on the document atomically, with the options' id bump and checks. */
  update<K extends Kind>(kind: K, name: string, set: Partial<Docs[K]>, options?: UpdateOptions<Docs[K]>): Promise<WriteResult<Docs[K]>>;
  /**
   * Deletes a document. Deleting an app or a cron job also removes it from every device
   * group that lists it and bumps those groups' device_group_id, in the same write.
   */
  delete(kind: Kind, name: string): Promise<boolean>;
  /** Bumps every device group's prune_id; returns the new ids. */
  pruneAll(): Promise<Record<string, number>>;

  /** A device group and its members, read consistently, with the change sequence of that read. */
  info(deviceGroup: string): Promise<{ snapshot: InfoSnapshot | null; seq: number }>;

  /** Users whose token digest is `lookup` (usually one). */
  usersByTokenLookup(lookup: string): Promise<UserRecord[]>;
  /** Users imported without a token digest (bcrypt hashes from Nebula 2.x). */
  usersWithoutTokenLookup(): Promise<UserRecord[]>;
  /** Records the digest once an imported user's token has been verified. Not an admin change. */
  setTokenLookup(userName: string, lookup: string): Promise<void>;
  /** The user groups that list this user in group_members. */
  groupsOf(userName: string): Promise<UserGroupDoc[]>;

  /**
   * Stores the reports in one write. Idempotent on report_id: a report whose id is already
   * stored is skipped (counted in `duplicates`). Moves each device's index entry forward
   * (never back: a report older than the device's latest one leaves the entry as it is).
   */
  insertReports(reports: IncomingReport[], now: Date): Promise<{ inserted: number; duplicates: number }>;
  /** Deletes reports stored before `before` (retention); returns how many. Device entries stay. */
  purgeReports(before: Date): Promise<number>;
  /** The device index, ordered by hostname. */
  listDevices(query: DeviceQuery): Promise<DeviceRecord[]>;
  getDevice(hostname: string): Promise<DeviceRecord | null>;
  queryReports(query: ReportQuery): Promise<StoredReport[]>;
  /** Is this a well-formed report id (a last_id) for this store? */
  isReportId(id: string): boolean;
}
