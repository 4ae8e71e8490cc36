// Helpers for the report tests: every stored report of a device through GET /api/v2/reports
// (paged as a client would), and a device's entry through GET /api/v2/devices/<hostname>.

import assert from 'node:assert/strict';
import { ADMIN_AUTH, call } from './manager.ts';

export interface StoredReportDoc extends Record<string, unknown> {
  report_id?: string;
  hostname: string;
  report_creation_time: number;
}

/** All reports of `hostname` the manager at `url` has, in store order. */
export async function reportsOf(url: string, hostname: string, auth = ADMIN_AUTH): Promise<StoredReportDoc[]> {
  const out: StoredReportDoc[] = [];
  let lastId: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const query = `hostname=${encodeURIComponent(hostname)}&page_size=500${lastId ? `&last_id=${lastId}` : ''}`;
    const reply = await call(url, 'GET', `/api/v2/reports?${query}`, { auth });
    assert.equal(reply.status, 200, reply.text);
    if (reply.body.data === null) return out;
    out.push(...(reply.body.data as StoredReportDoc[]));
    lastId = reply.body.last_id.$oid as string;
  }
  throw new Error('more than 1000 pages of reports');
}

/** Asserts no report id is stored twice; returns the set of ids. */
export function assertUnique(reports: StoredReportDoc[]): Set<string> {
  const ids = reports.map((r) => r.report_id ?? '');
  const unique = new Set(ids);
  assert.equal(unique.size, ids.length, `duplicate report ids among ${ids.length} stored reports`);
  return unique;
}

export async function deviceOf(url: string, hostname: string, auth = ADMIN_AUTH): Promise<any> {
  const reply = await call(url, 'GET', `/api/v2/devices/${encodeURIComponent(hostname)}`, { auth });
  return reply.status === 200 ? reply.body : undefined;
}
