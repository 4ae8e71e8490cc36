// Reports in SQLite: the filterable fields as columns, the report itself as JSON.
// A report's id is 8 hex digits of its insert time and 16 of its row id: ObjectId-shaped
// (24 hex), ordered like the rows, and a last_id maps straight back to a row.

import type { Database } from 'better-sqlite3';
import type { ReportQuery } from '../../model/report.ts';
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

export function insertReports(db: Database, reports: Record<string, unknown>[], now: Date): void {
  const insert = db.prepare(
    'INSERT INTO reports (inserted_at, device_group, hostname, report_creation_time, updated, doc) VALUES (?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (const r of reports) {
      const str = (v: unknown) => (typeof v === 'string' ? v : null);
      const time = typeof r.report_creation_time === 'number' ? Math.trunc(r.report_creation_time) : null;
      const updated = typeof r.updated === 'boolean' ? Number(r.updated) : null;
      insert.run(now.getTime(), str(r.device_group), str(r.hostname), time, updated, JSON.stringify(r));
    }
  }).immediate();
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
