// Isolation: an app the worker cannot apply (missing image, missing network, an invalid
// containers_per stored by an original-style manager) is marked failed with its reason and
// retried with backoff, while every other app keeps running and keeps being updated; and
// containers removed or stopped behind the worker's back come back.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { REGISTRY, WEB_1, WEB_2, containersOf, httpText, startWorker, waitFor, type TestWorker } from '../../helpers/worker.ts';
import { allServe, api, defer, docker, freePorts, inspect, killContainers, workerSuite } from '../../helpers/worker-fixtures.ts';

/** The executor's first retry comes 2.5–5 s after a failure, the next ones later: room for two. */
const RETRY_MS = 30_000;
const CHECK_IN_S = 1;

let m: TestManager;
const { made } = workerSuite((manager) => (m = manager));

function names(t: TestContext, ...prefixes: string[]): string[] {
  const out = prefixes.map((p) => uniq(p));
  made.push(...out);
  defer(t, () => killContainers(out));
  return out;
}

async function worker(t: TestContext, group: string): Promise<TestWorker> {
  const w = await startWorker(m.url, group);
  defer(t, () => w.stop());
  return w;
}

const serves = (port: number, version: string) => async () => (await httpText(port)) === version;

test('a bad image fails only its app: the good one runs and updates; fixing the bad one clears it', async (t) => {
  const [good, bad] = names(t, 'good', 'bad') as [string, string];
  const group = uniq('dg');
  const [pGood, pBad] = [await freePort(), await freePort()];
  const missing = `${REGISTRY}/does-not-exist:1`;
  await api.createApp(m.url, good, { docker_image: WEB_1, starting_ports: [{ [pGood]: '80' }] });
  await api.createApp(m.url, bad, { docker_image: missing, starting_ports: [{ [pBad]: '80' }] });
  await api.createGroup(m.url, group, [bad, good]);
  const w = await worker(t, group);

  await waitFor('the good app to serve', serves(pGood, '1'));
  const failure = await waitFor('the bad app to be failed', async () => w.worker.executor.failed().get(bad));
  assert.match(failure.reason, /does-not-exist/);
  assert.match(failure.reason, /pull/i);
  assert.equal((await containersOf(bad)).length, 0);
  assert.equal(w.worker.executor.failed().has(good), false);

  // The good app is still updated while the bad one keeps failing.
  await api.updateApp(m.url, good, { docker_image: WEB_2 });
  await waitFor('the good app to serve 2', serves(pGood, '2'));
  assert.match(w.worker.executor.failed().get(bad)?.reason ?? '', /does-not-exist/, 'the bad app is still failed');

  // Fixed: it runs on its next retry, and is no longer reported.
  await api.updateApp(m.url, bad, { docker_image: WEB_1 });
  await waitFor('the fixed app to serve', serves(pBad, '1'), RETRY_MS);
  await waitFor('the failure to be cleared', async () => !w.worker.executor.failed().has(bad));
  assert.equal(await httpText(pGood), '2');
  assert.deepEqual(w.fatal, []);
});

test('a missing network fails its app with the network named; creating it lets the app start', async (t) => {
  const [plain, wired] = names(t, 'plain', 'wired') as [string, string];
  const group = uniq('dg');
  const net = uniq('net');
  defer(t, async () => {
    await killContainers([wired]);
    await docker('network', 'rm', net).catch(() => undefined);
  });
  const [pPlain, pWired] = [await freePort(), await freePort()];
  await api.createApp(m.url, plain, { docker_image: WEB_1, starting_ports: [{ [pPlain]: '80' }] });
  await api.createApp(m.url, wired, { docker_image: WEB_1, starting_ports: [{ [pWired]: '80' }], networks: ['nebula', net] });
  await api.createGroup(m.url, group, [plain, wired]);
  const w = await worker(t, group);

  await waitFor('the plain app to serve', serves(pPlain, '1'));
  const failure = await waitFor('the wired app to be failed', async () => w.worker.executor.failed().get(wired));
  assert.ok(failure.reason.includes(net), `the reason names ${net}: ${failure.reason}`);
  assert.equal((await containersOf(wired)).filter((c) => c.state === 'running').length, 0);

  await docker('network', 'create', net);
  await waitFor('the wired app to serve', serves(pWired, '1'), RETRY_MS);
  await waitFor('the failure to be cleared', async () => !w.worker.executor.failed().has(wired));
  const [c] = await containersOf(wired);
  assert.deepEqual(Object.keys((await inspect(c!.id)).NetworkSettings.Networks).sort(), [net, 'nebula'].sort());
  assert.equal(await httpText(pPlain), '1');
  assert.deepEqual(w.fatal, []);
});

test('an invalid containers_per written past validation is reported, never a crash', async (t) => {
  const [fine, odd] = names(t, 'fine', 'odd') as [string, string];
  const group = uniq('dg');
  // One run of three free ports: the odd app's two and the fine app's, never overlapping.
  const pOdd = await freePorts(3);
  const pFine = pOdd + 2;
  await api.createApp(m.url, fine, { docker_image: WEB_1, starting_ports: [{ [pFine]: '80' }] });
  await api.createApp(m.url, odd, { docker_image: WEB_1, starting_ports: [{ [pOdd]: '80' }] });
  await api.createGroup(m.url, group, [fine, odd]);
  const w = await worker(t, group);
  await waitFor('both apps to serve', async () => (await httpText(pFine)) === '1' && (await httpText(pOdd)) === '1');

  // As an original manager (or an old database) could hold it; the change watcher wakes the worker.
  const written = await m.manager.store.update('apps', odd, { containers_per: { bogus: 1 } } as never, { bump: 'app_id' });
  assert.equal(written.ok, true, JSON.stringify(written));
  const failure = await waitFor('the odd app to be failed', async () => w.worker.executor.failed().get(odd));
  assert.match(failure.reason, /containers_per/);
  assert.match(failure.reason, /bogus/);

  // Other apps go on, and are still updated.
  await api.updateApp(m.url, fine, { docker_image: WEB_2 });
  await waitFor('the fine app to serve 2', serves(pFine, '2'));
  assert.equal(w.worker.executor.failed().has(fine), false);
  assert.deepEqual(w.fatal, []);

  // A valid value through the API: applied on the next retry.
  await api.updateApp(m.url, odd, { containers_per: { server: 2 } });
  await waitFor('the odd app to run 2 containers', () => allServe([pOdd, pOdd + 1], '1'), RETRY_MS);
  await waitFor('the failure to be cleared', async () => !w.worker.executor.failed().has(odd));
  assert.deepEqual(w.fatal, []);
});

test('a container removed or stopped behind the worker is back within a check-in or two', async (t) => {
  const [app] = names(t, 'back') as [string];
  const group = uniq('dg');
  const base = await freePorts(2);
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [base]: '80' }], containers_per: { server: 2 } });
  await api.createGroup(m.url, group, [app]);
  // check_in_time is also the period of the local checks (README); a long hold of the
  // config poll must not stretch it. Acting just after the hold starts makes that visible.
  const w = await startWorker(m.url, group, { overrides: { checkInSeconds: CHECK_IN_S, longPollWaitSeconds: 20 } });
  defer(t, () => w.stop());
  const within = 2 * CHECK_IN_S * 1000 + 3000; // two check-ins, plus making the container
  const held = () => waitFor('the worker to hold a long-poll', async () => m.manager.cache.waiterCount() > 0);
  await waitFor('both containers to serve', () => allServe([base, base + 1], '1'));
  const [first, second] = await containersOf(app);
  assert.ok(first && second);

  await held();
  await docker('rm', '-f', first.id);
  const recreated = await waitFor('-1 to be re-created', async () => {
    const c = (await containersOf(app)).find((x) => x.name === `${app}-1`);
    return c && c.id !== first.id && c.state === 'running' ? c : undefined;
  }, within);
  await waitFor('-1 to serve again', serves(base, '1'));
  assert.equal(recreated.labels['nebula.index'], '1');

  await held();
  await docker('stop', '-t', '1', second.id);
  assert.equal((await inspect(second.id)).State.Running, false);
  await waitFor('-2 to run again', async () => (await containersOf(app)).some((c) => c.name === `${app}-2` && c.state === 'running'), within);
  await waitFor('-2 to serve again', serves(base + 1, '1'));
  assert.deepEqual((await containersOf(app)).map((c) => c.name), [`${app}-1`, `${app}-2`]);
  assert.deepEqual(w.fatal, []);
});
