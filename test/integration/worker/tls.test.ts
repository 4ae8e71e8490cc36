// `nebula worker` against a manager that serves HTTPS with a certificate from a private CA:
// given the CA (--manager-ca-file) it follows the config; given another CA it refuses the
// manager — logs why, starts nothing — rather than talk to a server it cannot verify.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { WEB_1, httpText, tempDir, waitFor } from '../../helpers/worker.ts';
import { workerSuite } from '../../helpers/worker-fixtures.ts';
import { quietFor, snapshot, spawnWorkerProcess, stopProcess } from '../../helpers/worker-process.ts';
import { callTls, makeTestCa, type TestCa } from '../../helpers/tls.ts';

const ca: TestCa = makeTestCa();
let other: TestCa;
let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager), { tls: { cert: ca.cert, key: ca.key } });
before(() => {
  other = makeTestCa('Another CA');
});
after(() => {
  ca.remove();
  other?.remove();
});

const AUTH = `Bearer ${ADMIN_TOKEN}`;

async function deploy(port: number): Promise<{ app: string; group: string }> {
  const app = uniq('tlsweb');
  const group = uniq('tlsdg');
  made.push(app);
  const created = await callTls(m.url, ca.ca, 'POST', `/api/v2/apps/${app}`, AUTH, { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.equal((await callTls(m.url, ca.ca, 'POST', `/api/v2/device_groups/${group}`, AUTH, { apps: [app] })).status, 200);
  return { app, group };
}

function start(t: { after: (fn: () => unknown) => void }, group: string, caFile: string) {
  const state = tempDir('nebula-worker-tls-');
  cleanups.push(state.remove);
  const proc = spawnWorkerProcess(
    ['--device-group', group, '--manager-url', m.url, '--manager-ca-file', caFile, '--state-dir', state.dir, '--check-in-time', '1', '--log-level', 'info'],
    { NEBULA_MANAGER_AUTH_TOKEN: ADMIN_TOKEN },
  );
  t.after(() => stopProcess(proc));
  return proc;
}

test('with the CA that signed the manager\'s certificate, the worker follows the config over HTTPS', async (t) => {
  const port = await freePort();
  const { group } = await deploy(port);
  const proc = start(t, group, ca.caFile);
  await waitFor('the app to serve over the config fetched by HTTPS', async () => (await httpText(port)) === '1', 60_000);
  assert.doesNotMatch(proc.output(), /certificate/i);
});

test('with another CA, the worker refuses the manager: it logs the certificate error and starts nothing', async (t) => {
  const port = await freePort();
  const { app, group } = await deploy(port);
  const proc = start(t, group, other.caFile);
  await waitFor('the worker to log the refused certificate', async () => /manager unreachable/.test(proc.output()) && /certificate/i.test(proc.output()), 20_000);
  await quietFor(2000);
  assert.deepEqual(await snapshot(app), [], 'no container may be started from a manager that was not verified');
});
