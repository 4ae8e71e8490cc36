// Helpers for the report tests: every stored report of a device through GET /api/v2/reports
// (paged as a client would), a device's entry through GET /api/v2/devices/<hostname>, and a
// worker's reporting settings and spool.

import assert from 'node:assert/strict';
import type { WorkerConfig } from '../../src/config/worker.ts';
import { WorkerState } from '../../roles/worker/state.ts';
import { ADMIN_AUTH, call } from './manager.ts';
import { waitFor, type TestWorker } from './worker.ts';

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

/** Worker settings that report as `device` every check-in (no minimum interval). */
export function reporting(device: string, extra: Partial<WorkerConfig['reporting']> = {}, auth?: WorkerConfig['auth']): Partial<WorkerConfig> {
  return {
    deviceName: device,
    reporting: { transport: 'http', onUpdateOnly: false, minIntervalSeconds: 0, spoolMax: 1000, failHard: true, kafka: null, ...extra },
    ...(auth ? { auth } : {}),
  };
}

/** What a stopped worker left in its spool (its state file reopened, as a restart would). */
export function spoolOf(w: TestWorker): { ids: string[]; dropped: number } {
  const state = WorkerState.open(w.stateDir);
  try {
    return { ids: state.spoolPeek(10_000).map((r) => (JSON.parse(r.report) as { report_id: string }).report_id), dropped: state.spoolDropped() };
  } finally {
    state.close();
  }
}

/**
 * Lets the spool drain, then stops the worker. Returns the ids of the reports it made and
 * delivered: all it made, less what it made while stopping (still in the spool).
 */
export async function drainAndStop(w: TestWorker): Promise<{ made: number; left: string[] }> {
  await waitFor('the spool to drain', async () => w.worker.state.spoolSize() === 0, 30_000);
  await w.stop();
  return { made: w.worker.reporting?.made ?? 0, left: spoolOf(w).ids };
}
