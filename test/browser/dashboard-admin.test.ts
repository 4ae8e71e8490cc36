// The dashboard's editing and administration in a real browser (Debian's headless Chromium
// through playwright-core) against a real manager on SQLite: create a cron job and change its
// schedule, edit an app's env vars and ports (only those fields are sent, and only they
// change), change a device group's apps, create a user and a user group granting it read-only
// access to one app, sign in as that user (it sees that app, whose Stop and other changes are
// disabled, a group listing an app it may not read, and no Users entry), refresh its token and
// sign in with the new one. Every change goes through the confirmation dialog; elements are
// found by role and label.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { basic, call } from '../helpers/manager.ts';
import { confirmWith, dashboardSuite, nav, refusedWith, signIn, signInWithToken, status } from '../helpers/browser.ts';

/** The manager (m.url) and fresh tabs in Chromium. */
const m = dashboardSuite();
const newPage = m.newPage;

async function post(path: string, body: unknown): Promise<void> {
  const reply = await call(m.url, 'POST', `/api/v2${path}`, { body });
  assert.ok(reply.status < 300, reply.text);
}

const get = async (path: string) => (await call(m.url, 'GET', `/api/v2${path}`)).body;

/** The JSON bodies the page sends with `method` to paths ending with `suffix`. */
function sent(page: Page, method: string, suffix: string): Record<string, unknown>[] {
  const bodies: Record<string, unknown>[] = [];
  page.on('request', (request) => {
    if (request.method() === method && new URL(request.url()).pathname.endsWith(suffix)) bodies.push(request.postDataJSON() as Record<string, unknown>);
  });
  return bodies;
}

async function signedIn(t: { after: (fn: () => Promise<void>) => void }): Promise<Page> {
  const page = await newPage(t);
  await signIn(page, m.url);
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  return page;
}

test('create a cron job with env vars, then change only its schedule', async (t) => {
  const page = await signedIn(t);
  await nav(page, 'Cron jobs');
  await page.getByRole('button', { name: 'New cron job' }).click();
  await page.getByLabel('Name', { exact: true }).fill('backup');
  await page.getByLabel('Docker image', { exact: true }).fill('127.0.0.1:5000/backup:1');
  await page.getByLabel('Schedule').fill('every night');
  await page.getByLabel('Environment variables').fill('TARGET=s3://bucket/path?a=b\nRETRIES=3');
  // An obvious mistake is caught before asking.
  await page.getByRole('button', { name: 'Create cron job' }).click();
  assert.match((await page.getByRole('alert').textContent()) ?? '', /CHECK_FORM.*schedule/);
  await page.getByLabel('Schedule').fill('0 3 * * *');
  await page.getByRole('button', { name: 'Create cron job' }).click();
  await confirmWith(page, 'Create cron job');
  await status(page, 'Cron job backup created');
  await page.getByRole('row', { name: /^backup 0 3 \* \* \*/ }).waitFor();
  const created = await get('/cron_jobs/backup');
  assert.deepEqual([created.schedule, created.env_vars, created.networks], ['0 3 * * *', { TARGET: 's3://bucket/path?a=b', RETRIES: '3' }, ['nebula', 'bridge']]);

  // Edit: the schedule only. A schedule the manager refuses shows its code in the dialog.
  const patches = sent(page, 'PATCH', '/cron_jobs/backup/update');
  await page.getByRole('link', { name: 'backup' }).click();
  await page.getByRole('heading', { name: 'backup', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await page.getByLabel('Schedule').fill('61 * * * *');
  await page.getByRole('button', { name: 'Save changes' }).click();
  assert.match(await refusedWith(page, 'Save changes'), /INVALID_SCHEDULE \(HTTP 400\)/);
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await page.getByLabel('Schedule').fill('*/15 * * * *');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await confirmWith(page, 'Save changes');
  await status(page, 'Cron job backup changed: schedule');
  assert.deepEqual(patches.at(-1), { schedule: '*/15 * * * *' });
  const changed = await get('/cron_jobs/backup');
  assert.deepEqual(changed, { ...created, schedule: '*/15 * * * *', cron_job_id: created.cron_job_id + 1 });
});

test("edit an app's env vars and ports: exactly those fields are sent and change; values stay masked until shown", async (t) => {
  await post('/apps/shop', { docker_image: '127.0.0.1:5000/shop:1', starting_ports: [{ 81: '80' }], env_vars: { MODE: 'live' }, networks: ['nebula'] });
  const before = await get('/apps/shop');
  const page = await signedIn(t);
  const patches = sent(page, 'PATCH', '/apps/shop/update');
  await page.goto(`${m.url}/ui/#/apps/shop`);
  await page.getByRole('heading', { name: 'shop', level: 1 }).waitFor();
  const env = page.getByRole('definition').filter({ hasText: 'MODE=' });
  assert.match((await env.textContent()) ?? '', /MODE=•+/);
  assert.doesNotMatch((await env.textContent()) ?? '', /live/);
  await page.getByRole('button', { name: 'Show values' }).click();
  assert.match((await env.textContent()) ?? '', /MODE=live/);

  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  assert.equal(await page.getByLabel('Ports (host:container)').inputValue(), '81:80');
  await page.getByLabel('Environment variables').fill('MODE=live\nDATABASE_URL=postgres://u:p=w@db:5432/shop?ssl=true');
  await page.getByLabel('Ports (host:container)').fill('81:80, 8443:443');
  await page.getByRole('button', { name: 'Save changes' }).click();
  assert.match((await page.getByRole('dialog').textContent()) ?? '', /Changes env_vars, starting_ports\./);
  await confirmWith(page, 'Save changes');
  await status(page, 'App shop changed');
  assert.deepEqual(patches, [{ starting_ports: [{ 81: '80' }, { 8443: '443' }], env_vars: { MODE: 'live', DATABASE_URL: 'postgres://u:p=w@db:5432/shop?ssl=true' } }]);
  const after = await get('/apps/shop');
  assert.deepEqual(after, {
    ...before,
    app_id: before.app_id + 1,
    starting_ports: [{ 81: '80' }, { 8443: '443' }],
    env_vars: { MODE: 'live', DATABASE_URL: 'postgres://u:p=w@db:5432/shop?ssl=true' },
  });

  // Saving the form unchanged sends nothing.
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await page.getByRole('button', { name: 'Save changes' }).click();
  assert.match((await page.getByRole('alert').textContent()) ?? '', /CHECK_FORM: Nothing changed/);
  assert.equal(patches.length, 1);
});

test("change a device group's apps: only the apps are sent", async (t) => {
  await post('/apps/kiosk', { docker_image: '127.0.0.1:5000/kiosk:1' });
  await post('/apps/printer', { docker_image: '127.0.0.1:5000/printer:1' });
  await post('/device_groups/store-1', { apps: ['kiosk'] });
  const before = await get('/device_groups/store-1');
  const page = await signedIn(t);
  const patches = sent(page, 'PATCH', '/device_groups/store-1/update');
  await page.goto(`${m.url}/ui/#/groups/store-1`);
  await page.getByRole('heading', { name: 'store-1', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  const form = page.getByRole('form', { name: 'Apps and cron jobs of store-1' });
  assert.equal(await form.getByRole('checkbox', { name: 'kiosk' }).isChecked(), true);
  await form.getByRole('checkbox', { name: 'kiosk' }).uncheck();
  await form.getByRole('checkbox', { name: 'printer' }).check();
  await form.getByRole('button', { name: 'Save changes' }).click();
  await confirmWith(page, 'Save changes');
  await status(page, 'Device group store-1 changed: apps');
  assert.deepEqual(patches, [{ apps: ['printer'] }]);
  const after = await get('/device_groups/store-1');
  assert.deepEqual(after, { ...before, apps: ['printer'], device_group_id: before.device_group_id + 1 });
  await page.getByRole('row', { name: /^printer 127\.0\.0\.1:5000\/printer:1/ }).waitFor();
});

test('a user and a user group with ro on one app: the user sees that app, may not stop it, sees a group with an unreadable app, sees no Users; a refreshed token signs in', async (t) => {
  await post('/apps/menu', { docker_image: '127.0.0.1:5000/menu:1' });
  await post('/apps/secret-sauce', { docker_image: '127.0.0.1:5000/sauce:1' });
  const admin = await signedIn(t);
  await nav(admin, 'Users');
  await admin.getByRole('button', { name: 'New user' }).click();
  await admin.getByLabel('Name', { exact: true }).fill('carol');
  await admin.getByLabel('Password', { exact: true }).fill('carol-password');
  await admin.getByRole('button', { name: 'Create user' }).click();
  await confirmWith(admin, 'Create user');
  await status(admin, 'User carol created');
  const firstToken = await admin.getByRole('textbox', { name: 'Token of carol', exact: true }).inputValue();
  assert.equal((await call(m.url, 'GET', '/api/v2/status', { auth: `Bearer ${firstToken}` })).status, 200, 'the token shown works');

  await nav(admin, 'User groups');
  await admin.getByRole('button', { name: 'New user group' }).click();
  await admin.getByLabel('Name', { exact: true }).fill('menu-readers');
  await admin.getByRole('checkbox', { name: 'carol' }).check();
  await admin.getByLabel('Access to app menu').selectOption('ro');
  await admin.getByRole('button', { name: 'Create user group' }).click();
  await confirmWith(admin, 'Create user group');
  await status(admin, 'User group menu-readers created');
  await admin.getByRole('row', { name: /^menu-readers carol/ }).waitFor();
  const group = await get('/user_groups/menu-readers');
  assert.deepEqual(group, { user_group: 'menu-readers', group_members: ['carol'], pruning_allowed: false, apps: { menu: 'ro' }, device_groups: {}, admin: false, cron_jobs: {} });

  // A group carol may read that lists menu and an app she may not read (granted through the API).
  await post('/device_groups/menu-board', { apps: ['menu', 'secret-sauce'] });
  await post('/user_groups/board-readers', { group_members: ['carol'], device_groups: { 'menu-board': 'ro' } });

  // Signed in as carol: menu only, read-only (its changes disabled, saying why), and no user administration.
  const carol = await newPage(t);
  await signIn(carol, m.url, 'carol', 'carol-password');
  await carol.getByRole('heading', { name: 'Devices' }).waitFor();
  await carol.getByText('signed in as carol').waitFor();
  await nav(carol, 'Apps');
  await carol.getByRole('row', { name: /^menu/ }).waitFor();
  assert.deepEqual(await carol.locator('tbody tr th').allTextContents(), ['menu']);
  assert.equal(await carol.getByRole('button', { name: 'New app' }).isDisabled(), true);
  await carol.getByRole('link', { name: 'menu' }).click();
  await carol.getByRole('heading', { name: 'menu', level: 1 }).waitFor();
  const stop = carol.getByRole('button', { name: 'Stop', exact: true });
  assert.equal(await stop.isDisabled(), true, 'Stop is disabled');
  assert.match((await stop.getAttribute('title')) ?? '', /Needs "rw" on the app menu, or admin: carol has "ro"/);
  for (const name of ['Start', 'Restart', 'Edit', 'Delete', 'Update image']) {
    assert.equal(await carol.getByRole('button', { name, exact: true }).isDisabled(), true, `${name} is disabled`);
  }
  // The API refuses it all the same.
  const refused = await call(m.url, 'POST', '/api/v2/apps/menu/stop', { auth: basic('carol', 'carol-password') });
  assert.deepEqual([refused.status, refused.body?.code], [403, 'ACCESS_DENIED']);

  // The group page shows the app she may not read by its name, "no access", and the rest.
  await nav(carol, 'Device groups');
  await carol.getByRole('link', { name: 'menu-board' }).click();
  await carol.getByRole('heading', { name: 'menu-board', level: 1 }).waitFor();
  await carol.getByRole('row', { name: /^menu 127\.0\.0\.1:5000\/menu:1/ }).waitFor();
  assert.equal(await carol.getByRole('row', { name: 'secret-sauce no access' }).count(), 1);
  assert.equal(await carol.getByRole('link', { name: 'secret-sauce' }).count(), 0);
  for (const name of ['Edit', 'Prune', 'Delete']) {
    assert.equal(await carol.getByRole('button', { name, exact: true }).isDisabled(), true, `${name} is disabled`);
  }
  const navLinks = await carol.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
  assert.deepEqual(navLinks, ['Devices', 'Device groups', 'Apps', 'Cron jobs', 'Reports']);
  assert.equal((await get('/apps/menu')).running, true);

  // The admin gives carol a new token: shown once, the old one stops working, the new one signs in.
  await nav(admin, 'Users');
  await admin.getByRole('button', { name: 'Refresh the token of carol' }).click();
  await confirmWith(admin, 'Refresh token');
  await status(admin, 'carol has a new token');
  const token = await admin.getByRole('textbox', { name: 'Token of carol', exact: true }).inputValue();
  assert.notEqual(token, firstToken);
  assert.equal((await call(m.url, 'GET', '/api/v2/status', { auth: `Bearer ${firstToken}` })).status, 401);
  const again = await newPage(t);
  await again.goto(`${m.url}/ui`);
  await signInWithToken(again, token);
  await again.getByRole('heading', { name: 'Devices' }).waitFor();
  assert.equal(await again.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).count(), 0);
  assert.equal((await call(m.url, 'GET', '/api/v2/apps/menu', { auth: basic('carol', 'carol-password') })).status, 200);
  // The admin sees the API's status in the top bar.
  await admin.getByText('API available').waitFor();
});
