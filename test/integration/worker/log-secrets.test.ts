// Credentials and app env values never reach the worker's log. `nebula worker` runs as a real
// process at --log-level trace, signing in with a marked password (and marked registry
// credentials), on a group whose app and cron job carry marked env values; it deploys them,
// replaces the app when its env changes, runs the cron job, fails on an app whose image does
// not exist, and reports. Then no marker and no credential may be anywhere in its output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basic, call, type TestManager } from '../../helpers/manager.ts';
import { assertStatus, createUser, createUserGroup, uniq } from '../../helpers/fixtures.ts';
import { JOB_1, REGISTRY, WEB_1, containersOf, cronContainersOf, tempDir, waitFor } from '../../helpers/worker.ts';
import { inspect, workerSuite } from '../../helpers/worker-fixtures.ts';
import { logLines, spawnWorkerProcess, stopProcess } from '../../helpers/worker-process.ts';

const MARK = `worker-log-secret-${process.pid}-${Date.now().toString(36)}`;
const mark = (what: string) => `${MARK}-${what}`;
const V2 = '/api/v2';

let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager));

test('at trace level, the worker logs its steps but no credential and no env value', async (t) => {
  const [app, broken, job, group, user, device] = [uniq('web'), uniq('broken'), uniq('job'), uniq('dg'), uniq('device-user'), uniq('device')];
  made.push(app, broken, job);
  assertStatus(await call(m.url, 'POST', `${V2}/apps/${app}`, { body: { docker_image: WEB_1, env_vars: { DB_PASSWORD: mark('app-env') } } }), 200);
  assertStatus(await call(m.url, 'POST', `${V2}/apps/${broken}`, { body: { docker_image: `${REGISTRY}/no-such-image:1`, env_vars: { API_KEY: mark('broken-env') } } }), 200);
  const cron = { docker_image: JOB_1, schedule: '*/2 * * * * *', env_vars: { TOKEN: mark('cron-env') } };
  assertStatus(await call(m.url, 'POST', `${V2}/cron_jobs/${job}`, { body: cron }), 200);
  assertStatus(await call(m.url, 'POST', `${V2}/device_groups/${group}`, { body: { apps: [app, broken], cron_jobs: [job] } }), 200);
  // The device signs in as a DB user with ro on its group, as in production.
  await createUser(m.url, user, mark('manager-password'), mark('manager-token'));
  await createUserGroup(m.url, uniq('devices'), { group_members: [user], device_groups: { [group]: 'ro' } });

  const state = tempDir('nebula-worker-log-');
  cleanups.push(state.remove);
  const args = ['--device-group', group, '--manager-url', m.url, '--state-dir', state.dir, '--device-name', device, '--check-in-time', '1', '--log-level', 'trace', '--report-min-interval', '0'];
  const env = {
    NEBULA_MANAGER_AUTH_USER: user,
    NEBULA_MANAGER_AUTH_PASSWORD: mark('manager-password'),
    REGISTRY_AUTH_USER: 'registry-user',
    REGISTRY_AUTH_PASSWORD: mark('registry-password'),
    REGISTRY_HOST: REGISTRY,
  };
  const worker = spawnWorkerProcess(args, env);
  t.after(() => stopProcess(worker));

  const envOf = async () => {
    const [c] = await containersOf(app);
    return c === undefined ? [] : ((await inspect(c.id)).Config.Env ?? []);
  };
  await waitFor('the app to run with its env', async () => (await envOf()).includes(`DB_PASSWORD=${mark('app-env')}`), 60_000);
  // A changed env value: the worker replaces the container.
  assertStatus(await call(m.url, 'PUT', `${V2}/apps/${app}/update`, { body: { env_vars: { DB_PASSWORD: mark('app-env-2') } } }), 202);
  await waitFor('the app to run with its new env', async () => (await envOf()).includes(`DB_PASSWORD=${mark('app-env-2')}`), 60_000);
  await waitFor('the cron job to run', async () => (await cronContainersOf(job)).length > 0, 30_000);
  await waitFor('the broken app to fail', async () => worker.output().includes('app failed'), 60_000);
  await waitFor('a report stored', async () => {
    const reports = await call(m.url, 'GET', `${V2}/reports?hostname=${device}`);
    return (reports.body.data ?? []).some((r: { apps_state?: Record<string, unknown> }) => r.apps_state?.[broken] !== undefined);
  });

  assert.equal(await stopProcess(worker, 'SIGTERM'), 0);
  const output = worker.output();
  const messages = logLines(output).map((l) => String(l.msg));
  // It did log what it did (the steps, at trace level): there is something to have leaked into.
  for (const msg of ['applying changes', 'container started', 'removing container', 'cron job started', 'app failed']) {
    assert.ok(messages.some((line) => line.startsWith(msg)), `no "${msg}" line:\n${output.slice(0, 4000)}`);
  }
  const leaks = output.split('\n').filter((line) => line.includes(MARK));
  assert.deepEqual(leaks, []);
  assert.equal(output.includes(basic(user, mark('manager-password')).slice('Basic '.length)), false, 'the Basic credentials');
});
