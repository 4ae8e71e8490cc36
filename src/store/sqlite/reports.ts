// Reports in SQLite: the filterable fields as columns, the report itself as JSON; and the
// device index (one row per hostname, the latest DeviceRecord as JSON).
// A report's id is 8 hex digits of its insert time and 16 of its row id: ObjectId-shaped
// (24 hex), ordered like the rows, and a last_id maps straight back to a row.

import type { Database } from 'better-sqlite3';
import { summarizeReport, type DeviceQuery, type DeviceRecord, type IncomingReport, type ReportQuery } from '../../model/report.ts';
import type { StoredReport } from '../types.ts';

export function isReportId(id: string): boolean {
  return /^[0-9a-f]{24}$/.test(id);
}

function toId(row: number, insertedAt: number): string {
  return Math.floor(insertedAt / 1000).toString(16).padStart(8, '0') + row.toString(16).padStart(16, '0');
}

function rowOf(id: string): number {
  return Number.parseInt(id.slice(8), 16);
}

/**
 * Stores the reports in one transaction, skipping those whose report_id is already stored
 * (or appears earlier in the batch), and moves each stored report's device entry forward.
 */
export function insertReports(db: Database, reports: readonly IncomingReport[], now: Date): { inserted: number; duplicates: number } {
  const insert = db.prepare(
    `INSERT INTO reports (inserted_at, device_group, hostname, report_creation_time, updated, report_id, doc)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (report_id) DO NOTHING`,
  );
  // The entry only moves forward: a report created before the device's latest one (a spool
  // draining out of order, a late Kafka partition) is stored but leaves the entry as it is.
  const upsertDevice = db.prepare(
    `INSERT INTO devices (hostname, device_group, last_seen, record) VALUES (?, ?, ?, ?)
     ON CONFLICT (hostname) DO UPDATE SET device_group = excluded.device_group, last_seen = excluded.last_seen, record = excluded.record
     WHERE excluded.last_seen >= devices.last_seen`,
  );
  const at = now.getTime();
  return db
    .transaction(() => {
      let inserted = 0;
      for (const r of reports) {
        const str = (v: unknown) => (typeof v === 'string' ? v : null);
        const time = typeof r.report_creation_time === 'number' ? Math.trunc(r.report_creation_time) : null;
        const updated = typeof r.updated === 'boolean' ? Number(r.updated) : null;
        const { changes } = insert.run(at, str(r.device_group), str(r.hostname), time, updated, str(r.report_id), JSON.stringify(r));
        if (changes === 0) continue;
        inserted += 1;
        const record = summarizeReport(r, at);
        upsertDevice.run(record.hostname, record.device_group, record.last_seen, JSON.stringify(record));
      }
      return { inserted, duplicates: reports.length - inserted };
    })
    .immediate();
}

/** Deletes at most `limit` of the reports stored before `before`, oldest first; returns how many. */
export function purgeReportsChunk(db: Database, before: Date, limit: number): number {
  return db
    .prepare(
      `DELETE FROM reports WHERE id IN (
         SELECT id FROM reports INDEXED BY reports_inserted_at WHERE inserted_at < ? ORDER BY inserted_at LIMIT ?)`,
    )
    .run(before.getTime(), limit).changes;
}

export function listDevices(db: Database, q: DeviceQuery): DeviceRecord[] {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (q.afterHostname !== undefined) {
    where.push('hostname > ?');
    params.push(q.afterHostname);
  }
  if (q.deviceGroup !== undefined) {
    where.push('device_group = ?');
    params.push(q.deviceGroup);
  }
  if (q.inGroups !== undefined) {
    where.push('device_group IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(q.inGroups));
  }
  const sql = `SELECT record FROM devices ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY hostname LIMIT ?`;
  return (db.prepare(sql).pluck().all(...params, q.pageSize) as string[]).map((r) => JSON.parse(r) as DeviceRecord);
}

export function getDevice(db: Database, hostname: string): DeviceRecord | null {
  const record = db.prepare('SELECT record FROM devices WHERE hostname = ?').pluck().get(hostname) as string | undefined;
  return record === undefined ? null : (JSON.parse(record) as DeviceRecord);
}

const SQL_OPS = { eq: '=', gt: '>', lt: '<', gte: '>=', lte: '<=', ne: '!=' } as const;

export function queryReports(db: Database, q: ReportQuery): StoredReport[] {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (q.afterId !== undefined) {
    where.push('id > ?');
    params.push(rowOf(q.afterId));
  }
  if (q.hostname !== undefined) {
    where.push('hostname = ?');
    params.push(q.hostname);
  }
  if (q.deviceGroup !== undefined) {
    where.push('device_group = ?');
    params.push(q.deviceGroup);
  }
  if (q.inGroups !== undefined) {
    where.push('device_group IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(q.inGroups));
  }
  if (q.creationTime !== undefined) {
    where.push(`report_creation_time ${SQL_OPS[q.creationTime.op]} ?`);
    params.push(q.creationTime.value);
  }
  if (q.updated !== undefined) {
    where.push('updated = ?');
    params.push(Number(q.updated));
  }
  const sql = `SELECT id, inserted_at, doc FROM reports ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
  const rows = db.prepare(sql).all(...params, q.pageSize) as { id: number; inserted_at: number; doc: string }[];
  return rows.map((row) => ({
    id: toId(row.id, row.inserted_at),
    insertedAt: new Date(row.inserted_at),
    report: JSON.parse(row.doc) as Record<string, unknown>,
  }));
}
