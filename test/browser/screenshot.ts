// `npm run screenshot`: docs/dashboard.png for the README — the devices page (one group) of a manager with
// sample data (three groups, four apps, a cron job, 36 simulated devices: most up to date,
// some behind an image update, a few with a failing app), in headless Chromium.

import { mkdirSync } from 'node:fs';
import { call, startManager, ADMIN_PASSWORD, ADMIN_USER } from '../helpers/manager.ts';
import { currentIds, deviceReport, launchChromium, postReports, type SimulatedDevice } from '../helpers/browser.ts';

const OUT = process.argv[2] ?? 'docs/dashboard.png';

async function post(url: string, path: string, body: unknown): Promise<void> {
  const reply = await call(url, 'POST', `/api/v2${path}`, { body });
  if (reply.status >= 300) throw new Error(`POST ${path}: ${reply.status} ${reply.text}`);
}

async function seed(url: string): Promise<void> {
  const registry = 'registry.example.com';
  await post(url, '/apps/storefront', { docker_image: `${registry}/storefront:4.2.0`, starting_ports: [{ 80: '8080' }] });
  await post(url, '/apps/payments', { docker_image: `${registry}/payments:2.9.1`, starting_ports: [{ 8443: '8443' }] });
  await post(url, '/apps/metrics-agent', { docker_image: `${registry}/metrics-agent:1.4.0`, containers_per: { server: 1 } });
  await post(url, '/apps/edge-cache', { docker_image: `${registry}/edge-cache:7.1.3`, containers_per: { cpu: 1 } });
  await post(url, '/cron_jobs/log-rotate', { docker_image: `${registry}/log-rotate:1.0.0`, schedule: '0 3 * * *' });
  await post(url, '/device_groups/pos-eu', { apps: ['storefront', 'payments', 'metrics-agent'], cron_jobs: ['log-rotate'] });
  await post(url, '/device_groups/pos-us', { apps: ['storefront', 'payments', 'metrics-agent'] });
  await post(url, '/device_groups/cdn-edge', { apps: ['edge-cache', 'metrics-agent'] });

  const before = { 'pos-eu': await currentIds(url, 'pos-eu'), 'pos-us': await currentIds(url, 'pos-us') };
  // A rollout in progress: some tills have not applied the new storefront yet.
  const reply = await call(url, 'PATCH', '/api/v2/apps/storefront/update', { body: { docker_image: `${registry}/storefront:4.3.0` } });
  if (reply.status !== 202) throw new Error(reply.text);

  const devices: SimulatedDevice[] = [];
  for (const group of ['pos-eu', 'pos-us', 'cdn-edge'] as const) {
    const now = await currentIds(url, group);
    for (let i = 1; i <= 12; i++) {
      const hostname = `${group === 'cdn-edge' ? 'cdn' : group}-${String(i).padStart(3, '0')}`;
      const late = group !== 'cdn-edge' && i % 5 === 0;
      const applied = late ? before[group] : now;
      const apps: SimulatedDevice['apps'] = Object.fromEntries(Object.keys(applied.apps).map((app) => [app, { state: 'running' as const }]));
      let lastError: SimulatedDevice['lastError'] = null;
      if (hostname === 'pos-eu-007') {
        apps.payments = { state: 'failed', reason: 'image pull failed: no space left on device' };
        lastError = { at: Math.floor(Date.now() / 1000) - 95, message: 'image pull failed: no space left on device', app: 'payments' };
      }
      if (hostname === 'cdn-004') apps['edge-cache'] = { state: 'restarting', desired: 4, running: 2, restarts: 6 };
      devices.push({ hostname, group, applied, apps, age: (i * 7) % 50, lastError });
    }
  }
  await postReports(url, devices.map(deviceReport));
}

const manager = await startManager();
try {
  await seed(manager.url);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 });
    await page.goto(`${manager.url}/ui/`);
    await page.getByLabel('User name', { exact: true }).fill(ADMIN_USER);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('row', { name: /^cdn-001/ }).waitFor();
    // One group: a rollout in progress (behind, and why) and a failing app.
    await page.getByLabel('Device group').fill('pos-eu');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('row', { name: /^pos-eu-012/ }).waitFor();
    mkdirSync('docs', { recursive: true });
    await page.screenshot({ path: OUT });
    console.log(`wrote ${OUT}`);
  } finally {
    await browser.close();
  }
} finally {
  await manager.close();
}
