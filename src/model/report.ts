// Device reports: the query the admin API offers over them (pure parsing).

import { NebulaError } from '../errors.ts';

export type CreationTimeOp = 'eq' | 'gt' | 'lt' | 'gte' | 'lte' | 'ne';
const OPS: readonly CreationTimeOp[] = ['eq', 'gt', 'lt', 'gte', 'lte', 'ne'];

export const MAX_PAGE_SIZE = 1000;

export interface ReportQuery {
  pageSize: number;
  /** Only reports stored after this one (the previous page's last_id). */
  afterId?: string;
  hostname?: string;
  deviceGroup?: string;
  creationTime?: { op: CreationTimeOp; value: number };
  updated?: boolean;
}

function bad(param: string, reason: string): NebulaError {
  return new NebulaError('INVALID_QUERY', { [param]: reason }, `${param}: ${reason}`);
}

function single(query: Record<string, unknown>, key: string): string | undefined {
  const v = query[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(key, 'give it once');
  return v;
}

/**
 * Parses GET /reports' query. Where the original answered 500 (bad last_id, unknown
 * operator, `updated=true`) we answer 400 or accept the obvious spelling; page_size 0
 * ("no limit" in the original) is capped at MAX_PAGE_SIZE so one call cannot drain the store.
 */
export function parseReportQuery(query: Record<string, unknown>, isId: (id: string) => boolean): ReportQuery {
  const out: ReportQuery = { pageSize: 10 };
  const size = single(query, 'page_size');
  if (size !== undefined && /^\d+$/.test(size)) {
    const n = Number(size);
    out.pageSize = n === 0 || n > MAX_PAGE_SIZE ? MAX_PAGE_SIZE : n;
  }
  const lastId = single(query, 'last_id');
  if (lastId !== undefined) {
    if (!isId(lastId)) throw bad('last_id', 'must be the last_id.$oid of a previous page');
    out.afterId = lastId;
  }
  const hostname = single(query, 'hostname');
  if (hostname !== undefined) out.hostname = hostname;
  const deviceGroup = single(query, 'device_group');
  if (deviceGroup !== undefined) out.deviceGroup = deviceGroup;
  const time = single(query, 'report_creation_time');
  const op = single(query, 'report_creation_time_filter') ?? 'eq';
  if (!(OPS as readonly string[]).includes(op)) throw bad('report_creation_time_filter', `must be one of ${OPS.join(', ')}`);
  if (time !== undefined) {
    if (!/^-?\d+$/.test(time)) throw bad('report_creation_time', 'must be an integer (Unix seconds)');
    out.creationTime = { op: op as CreationTimeOp, value: Number(time) };
  }
  const updated = single(query, 'updated');
  if (updated !== undefined) {
    if (updated === 'True' || updated === 'true') out.updated = true;
    else if (updated === 'False' || updated === 'false') out.updated = false;
    else throw bad('updated', 'must be True or False');
  }
  return out;
}
