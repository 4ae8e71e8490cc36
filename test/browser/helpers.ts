// Shared by the browser tests and the README screenshot: Debian's Chromium driven by
// playwright-core (which brings no browser of its own), and devices simulated the way a worker
// reports (POST /api/v2/reports, as src/reports/http.ts sends them).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import type { AppState, ConfigIds } from '../../src/model/report.ts';
import { ADMIN_AUTH, call } from '../helpers/manager.ts';
import { uniq } from '../helpers/fixtures.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium; a missing browser fails the suite (it is never skipped). */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run test/services/chromium.sh (npm run services) as root`);
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** The ids a device of `group` applies when it runs the current config (from GET /info). */
export async function currentIds(url: string, group: string): Promise<ConfigIds> {
  const reply = await call(url, 'GET', `/api/v2/device_groups/${encodeURIComponent(group)}/info`);
  assert.equal(reply.status, 200, reply.text);
  const info = reply.body as { device_group_id: number; prune_id: number; apps: { app_name: string; app_id: number }[]; cron_jobs: { cron_job_name: string; cron_job_id: number }[] };
  return {
    device_group_id: info.device_group_id,
    prune_id: info.prune_id,
    apps: Object.fromEntries(info.apps.map((a) => [a.app_name, a.app_id])),
    cron_jobs: Object.fromEntries(info.cron_jobs.map((c) => [c.cron_job_name, c.cron_job_id])),
  };
}

export interface SimulatedDevice {
  hostname: string;
  group: string;
  applied: ConfigIds | null;
  apps: Record<string, Partial<AppState> & { state: AppState['state'] }>;
  /** Seconds ago the report was made. */
  age?: number;
  lastError?: { at: number; message: string; app?: string } | null;
}

/** A worker's report for a simulated device (the fields the device index reads). */
export function deviceReport(d: SimulatedDevice): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const apps_state = Object.fromEntries(
    Object.entries(d.apps).map(([app, s]) => {
      const desired = s.desired ?? 1;
      return [app, { app_id: d.applied?.apps[app] ?? 0, running: s.state === 'running' ? desired : 0, desired, ...s }];
    }),
  );
  return {
    report_id: uniq('report'),
    hostname: d.hostname,
    device_group: d.group,
    report_creation_time: now - (d.age ?? 0),
    updated: true,
    worker_version: '0.1.0',
    applied: d.applied,
    desired: d.applied,
    apps_state,
    last_error: d.lastError ?? null,
    spool_dropped: 0,
    memory_usage: { total: 4096, used: 1024, free: 3072, available: 3072 },
    root_disk_usage: { total: 32768, used: 8192, free: 24576 },
    cpu_usage: { cores: 4, used_percent: 12 },
    apps_containers: [],
    cron_jobs_containers: [],
    current_device_group_config: null,
  };
}

/** Posts reports in batches of 500 (a worker's largest). */
export async function postReports(url: string, reports: Record<string, unknown>[], auth = ADMIN_AUTH): Promise<void> {
  for (let i = 0; i < reports.length; i += 500) {
    const reply = await call(url, 'POST', '/api/v2/reports', { body: reports.slice(i, i + 500), auth });
    assert.equal(reply.status, 200, reply.text);
  }
}
