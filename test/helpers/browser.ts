// Shared by the browser tests (test/browser/) and the README screenshot: Debian's Chromium
// driven by playwright-core (which brings no browser of its own), the dashboard driven as a
// user does (sign in, the main nav, confirmation dialogs, notices), and devices simulated the
// way a worker reports (POST /api/v2/reports, as src/reports/http.ts sends them).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { AppState, ConfigIds } from '../../src/model/report.ts';
import { ADMIN_AUTH, ADMIN_PASSWORD, ADMIN_USER, call, managerSuite, type TestManager } from './manager.ts';
import { uniq } from './fixtures.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium; a missing browser fails the suite (it is never skipped). */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run test/services/chromium.sh (npm run services) as root`);
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

type TestContextLike = { after: (fn: () => Promise<void>) => void };

/** A real manager (SQLite) and headless Chromium for one test file: its URL and fresh tabs, once `before` has run. */
export function dashboardSuite(): { readonly url: string; newPage: (t: TestContextLike) => Promise<Page> } {
  let manager: TestManager | undefined;
  let browser: Browser | undefined;
  managerSuite((started) => (manager = started));
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });
  return {
    get url() {
      return manager!.url;
    },
    newPage: (t) => newPage(browser!, t),
  };
}

/** A fresh tab; any Content-Security-Policy violation or script error fails the test. */
export async function newPage(browser: Browser, t: TestContextLike): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`script error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(msg.text());
  });
  t.after(async () => {
    await context.close();
    assert.deepEqual(problems, [], 'no script error, no CSP violation');
  });
  return page;
}

/** Opens the dashboard and signs in through the form (the config admin unless told). */
export async function signIn(page: Page, url: string, user = ADMIN_USER, password = ADMIN_PASSWORD): Promise<void> {
  await page.goto(`${url}/ui`);
  await page.getByLabel('User name', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in with a token on the sign-in form already shown. */
export async function signInWithToken(page: Page, token: string): Promise<void> {
  await page.getByRole('radio', { name: 'Token' }).check();
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Clicks `button` in the confirmation dialog and waits until the dialog has closed. */
export async function confirmWith(page: Page, button: string): Promise<void> {
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
}

/** Clicks `button` in the confirmation dialog and answers the refusal it shows (code and message). */
export async function refusedWith(page: Page, button: string): Promise<string> {
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: button, exact: true }).click();
  return (await dialog.getByRole('alert').textContent()) ?? '';
}

/** Follows an entry of the main nav. */
export const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();

/** Waits for the notice saying `text`. */
export const status = (page: Page, text: string) => page.getByRole('status').filter({ hasText: text }).waitFor();

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
