// The dashboard in a real browser (Debian's headless Chromium through playwright-core) against
// a real manager on SQLite: sign in through the form, create an app and a device group, stop,
// start, update and prune through confirmation dialogs, see simulated devices report the app's
// state, page through more devices than one page with a filter (one server page per view),
// reports, and the errors: a wrong password, a refused action, credentials that stop working.
// Elements are found by role and label, as a screen reader would. Chromium missing: fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import type { Page } from 'playwright-core';
import type { ManagerContext } from '../../roles/manager/context.ts';
import { dashboardRoutes } from '../../roles/manager/dashboard.ts';
import { ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER, call } from '../helpers/manager.ts';
import { confirmWith, currentIds, dashboardSuite, deviceReport, nav, postReports, refusedWith, signIn as signInAs, signInWithToken, status } from '../helpers/browser.ts';

/** The manager (m.url) and fresh tabs in Chromium. */
const m = dashboardSuite();
const newPage = m.newPage;
const signIn = (page: Page, password = ADMIN_PASSWORD) => signInAs(page, m.url, ADMIN_USER, password);

test('the dashboard is three public files: strict CSP, nosniff, ETags, hashed URLs cached for good; /ui leads to it', async () => {
  const short = await fetch(`${m.url}/ui`, { redirect: 'manual' });
  assert.equal(short.status, 301);
  assert.equal(short.headers.get('location'), '/ui/');
  const index = await fetch(`${m.url}/ui/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(index.headers.get('content-security-policy') ?? '', /^default-src 'self'; script-src 'self'; style-src 'self';.*frame-ancestors 'none'/);
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const html = await index.text();
  for (const name of ['app.js', 'app.css']) {
    const hashed = new RegExp(`"(${name.replace('.', '\\.')}\\?v=([\\w-]+))"`).exec(html);
    assert.ok(hashed, `${name} in ${html}`);
    const file = await fetch(`${m.url}/ui/${hashed[1]}`);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(file.headers.get('etag'), `"${hashed[2]}"`);
    const plain = await fetch(`${m.url}/ui/${name}`, { headers: { 'if-none-match': `"${hashed[2]}"` } });
    assert.equal(plain.status, 304);
    assert.equal(plain.headers.get('cache-control'), 'no-cache');
  }
  // Public, and nothing in it: without credentials the data stays behind the API's 401.
  assert.equal((await fetch(`${m.url}/api/v2/devices`)).status, 401);
});

test('a dashboard that cannot be built answers 500 with the catalogued body, and is built again on the next request', async () => {
  const app = Fastify();
  let attempts = 0;
  const log = { error: () => undefined } as unknown as ManagerContext['log'];
  dashboardRoutes(app, { log } as ManagerContext, async () => {
    if (++attempts === 1) throw new Error('web/main.tsx: syntax error');
    return { 'index.html': '<script src="app.js"></script>', 'app.js': 'ok()', 'app.css': '' };
  });
  const failed = await app.inject('/ui/app.js');
  assert.equal(failed.statusCode, 500);
  assert.equal(failed.json().code, 'INTERNAL');
  const index = await app.inject('/ui/');
  assert.equal(index.statusCode, 200);
  assert.match(index.body, /src="app\.js\?v=[\w-]{22}"/);
  assert.equal(attempts, 2);
  await app.close();
});

test('a wrong password shows the error and keeps the form', async (t) => {
  const page = await newPage(t);
  await signIn(page, 'not-the-password');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? '', /UNAUTHORIZED \(HTTP 401\)/);
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing kept');
});

test('create an app and a device group, stop and start the app, a device reports its state, update and prune', async (t) => {
  const page = await newPage(t);
  await signIn(page);
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  assert.equal((await page.context().cookies()).length, 0, 'no cookie');

  // An app, through the form and a confirmation.
  await nav(page, 'Apps');
  await page.getByRole('button', { name: 'New app' }).click();
  await page.getByLabel('Name', { exact: true }).fill('web');
  await page.getByLabel('Docker image').fill('127.0.0.1:5000/busybox:1');
  await page.getByLabel('Ports (host:container)').fill('81:80');
  await page.getByLabel('Environment variables').fill('GREETING=hello=world');
  await page.getByRole('button', { name: 'Create app' }).click();
  await confirmWith(page, 'Create app');
  await status(page, 'App web created');
  await page.getByRole('row', { name: /web 127\.0\.0\.1:5000\/busybox:1/ }).waitFor();
  const created = await call(m.url, 'GET', '/api/v2/apps/web');
  assert.deepEqual([created.body.starting_ports, created.body.env_vars], [[{ 81: '80' }], { GREETING: 'hello=world' }]);

  // The same name again: the manager's refusal, code and message, in the dialog.
  await page.getByRole('button', { name: 'New app' }).click();
  await page.getByLabel('Name', { exact: true }).fill('web');
  await page.getByLabel('Docker image').fill('127.0.0.1:5000/busybox:1');
  await page.getByRole('button', { name: 'Create app' }).click();
  assert.match(await refusedWith(page, 'Create app'), /APP_EXISTS \(HTTP 403\): the app already exists/);
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  // A device group running it.
  await nav(page, 'Device groups');
  await page.getByRole('button', { name: 'New device group' }).click();
  await page.getByLabel('Name', { exact: true }).fill('pos');
  await page.getByRole('checkbox', { name: 'web' }).check();
  await page.getByRole('button', { name: 'Create device group' }).click();
  await confirmWith(page, 'Create device group');
  await status(page, 'Device group pos created');
  await page.getByRole('row', { name: /^pos web/ }).waitFor();

  // Stop it (confirmed), a restart of a stopped app is refused, start it again.
  await page.getByRole('row', { name: /^pos web/ }).getByRole('link', { name: 'web' }).click();
  await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  assert.match((await page.getByRole('dialog').textContent()) ?? '', /Stop web\?/);
  await confirmWith(page, 'Stop app');
  await status(page, 'Stop sent');
  assert.equal((await call(m.url, 'GET', '/api/v2/apps/web')).body.running, false);
  await page.getByRole('button', { name: 'Restart', exact: true }).click();
  assert.match(await refusedWith(page, 'Restart app'), /APP_NOT_RUNNING/);
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await confirmWith(page, 'Start app');
  await status(page, 'Start sent');
  assert.equal((await call(m.url, 'GET', '/api/v2/apps/web')).body.running, true);

  // Two devices report (as a worker does): one runs the current config, one failed to start web.
  const ids = await currentIds(m.url, 'pos');
  await postReports(m.url, [
    deviceReport({ hostname: 'till-1', group: 'pos', applied: ids, apps: { web: { state: 'running' } } }),
    deviceReport({ hostname: 'till-2', group: 'pos', applied: ids, apps: { web: { state: 'failed', reason: 'image pull failed: no space left' } } }),
  ]);
  await nav(page, 'Devices');
  const till1 = page.getByRole('row', { name: /^till-1 pos/ });
  const till2 = page.getByRole('row', { name: /^till-2 pos/ });
  await till1.waitFor();
  assert.match((await till1.textContent()) ?? '', /up to date/);
  assert.match((await till2.textContent()) ?? '', /behind.*app web: failed: image pull failed.*web: failed/);
  await till1.getByRole('link', { name: 'till-1' }).click();
  await page.getByRole('heading', { name: 'till-1', level: 1 }).waitFor();
  assert.match((await page.getByRole('row', { name: /^web/ }).textContent()) ?? '', /web: running.*1\/1/);
  assert.match((await page.getByText('The device runs the current config.').textContent()) ?? '', /current config/);

  // Update the app's image: the device that ran the old config is now behind, and says why.
  await page.getByRole('row', { name: /^web/ }).getByRole('link', { name: 'web' }).click();
  await page.getByLabel('New Docker image').fill('127.0.0.1:5000/busybox:2');
  await page.getByRole('button', { name: 'Update image' }).click();
  await confirmWith(page, 'Update image');
  await status(page, 'now runs 127.0.0.1:5000/busybox:2');
  assert.equal((await call(m.url, 'GET', '/api/v2/apps/web')).body.docker_image, '127.0.0.1:5000/busybox:2');
  await page.goto(`${m.url}/ui/#/devices/till-1`);
  await page.getByText(`app web: app_id ${ids.apps.web} applied, ${ids.apps.web! + 1} current`).waitFor();

  // Prune the group, then every group.
  await nav(page, 'Device groups');
  await page.getByRole('button', { name: 'Prune pos' }).click();
  await confirmWith(page, 'Prune');
  await status(page, 'pos was told to prune');
  await page.getByRole('button', { name: 'Prune all' }).click();
  await confirmWith(page, 'Prune all');
  await status(page, 'Every device group was told to prune');
  assert.equal((await call(m.url, 'GET', '/api/v2/device_groups/pos')).body.prune_id, ids.prune_id + 2);

  // Reports, filtered on the server by device.
  await nav(page, 'Reports');
  await page.getByLabel('Device', { exact: true }).fill('till-2');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.getByRole('row', { name: /till-2 pos/ }).waitFor();
  assert.equal(await page.getByRole('row', { name: /till-1/ }).count(), 0);

  // Delete the app: gone from the list and from its group.
  await page.goto(`${m.url}/ui/#/apps/web`);
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await confirmWith(page, 'Delete app');
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
  await page.getByText('No app yet.').waitFor();
  assert.deepEqual((await call(m.url, 'GET', '/api/v2/device_groups/pos')).body.apps, []);
});

test('the devices page pages through a group of 120 devices, 50 at a time, one server page per view', async (t) => {
  const fleet = Array.from({ length: 120 }, (_, i) => `node-${String(i).padStart(3, '0')}`);
  // Devices of another group sort between them: the filter is the server's, not the page's.
  const others = Array.from({ length: 40 }, (_, i) => `node-${String(i * 3).padStart(3, '0')}-other`);
  await call(m.url, 'POST', '/api/v2/device_groups/cdn', { body: {} });
  await call(m.url, 'POST', '/api/v2/device_groups/edge', { body: {} });
  const cdn = await currentIds(m.url, 'cdn');
  const edge = await currentIds(m.url, 'edge');
  await postReports(m.url, [
    ...fleet.map((hostname) => deviceReport({ hostname, group: 'cdn', applied: cdn, apps: {} })),
    ...others.map((hostname) => deviceReport({ hostname, group: 'edge', applied: edge, apps: {} })),
  ]);

  const page = await newPage(t);
  const asked: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname === '/api/v2/devices') asked.push(url.search);
  });
  await signIn(page);
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  await page.getByLabel('Device group').fill('cdn');
  await page.getByRole('button', { name: 'Apply filters' }).click();

  const rows = () => page.locator('tbody tr th').allTextContents();
  const pager = page.getByRole('navigation', { name: 'Device pages' });
  const shown: string[] = [];
  for (const [n, first, size] of [[1, 'node-000', 50], [2, 'node-050', 50], [3, 'node-100', 20]] as const) {
    await pager.getByText(`Page ${n}`).waitFor();
    await page.getByRole('row', { name: new RegExp(`^${first} cdn`) }).waitFor();
    const hostnames = await rows();
    assert.equal(hostnames.length, size, `page ${n}: ${hostnames.join(' ')}`);
    shown.push(...hostnames);
    if (n < 3) await pager.getByRole('button', { name: 'Next →' }).click();
  }
  assert.deepEqual(shown, fleet);
  assert.equal(await pager.getByRole('button', { name: 'Next →' }).isDisabled(), true, 'the last page');
  await pager.getByRole('button', { name: '← Previous' }).click();
  await page.getByRole('row', { name: /^node-050 cdn/ }).waitFor();

  // Every view asked the server for one page of the group, never more.
  const filtered = asked.filter((q) => q.includes('device_group=cdn'));
  assert.ok(filtered.length >= 4 && filtered.length <= 6, asked.join('\n'));
  for (const q of asked) assert.match(q, /page_size=50/);
});

test('credentials that stop working send back to the sign-in form with the reason', async (t) => {
  const page = await newPage(t);
  await signIn(page);
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  assert.ok(await page.evaluate(() => sessionStorage.getItem('nebula.credentials')), 'kept in sessionStorage');
  await page.evaluate(() => sessionStorage.setItem('nebula.credentials', JSON.stringify({ authorization: 'Bearer revoked-token', who: 'token' })));
  await page.reload();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.match((await page.getByRole('alert').textContent()) ?? '', /UNAUTHORIZED/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'the credentials are forgotten');

  // A token signs in too.
  await signInWithToken(page, ADMIN_TOKEN);
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
});
