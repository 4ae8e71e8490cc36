// The worker's container operations against a real manager and the real Docker engine:
// ports, env, volumes, labels and networks; containers_per; stop/start/restart; rolling
// restarts that scale; group membership; image prune; registry auth; digests; and
// containers the worker did not label, which it leaves alone.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { REGISTRY, WEB_1, WEB_2, JOB_1, containersOf, engine, httpText, startWorker, waitFor, type TestWorker } from '../../helpers/worker.ts';
import { allServe, api, defer, docker, freePorts, imageExists, inspect, killContainers, range, versions, withDockerConfig, workerSuite } from '../../helpers/worker-fixtures.ts';

const PRIVATE = '127.0.0.1:5001/private:1';
const BUSYBOX_2 = `${REGISTRY}/busybox:2`;

let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager));

function tmp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Names for one test: the apps go to the cleanup list and are force-removed when it ends. */
function names(t: TestContext, ...prefixes: string[]): string[] {
  const out = prefixes.map((p) => uniq(p));
  made.push(...out);
  defer(t, () => killContainers(out));
  return out;
}

async function worker(t: TestContext, group: string, options: Parameters<typeof startWorker>[2] = {}): Promise<TestWorker> {
  const w = await startWorker(m.url, group, options);
  defer(t, () => w.stop());
  return w;
}

const gone = (app: string) => async () => (await containersOf(app)).length === 0;
const named = async (app: string) => (await containersOf(app)).map((c) => c.name);

test('ports, env, volumes, labels and the default networks reach every container', async (t) => {
  const [app] = names(t, 'full') as [string];
  const group = uniq('dg');
  const web = await freePorts(2);
  const raw = await freePorts(2);
  // The worker creates the nebula bridge network when it is missing (best effort: another
  // process's containers may be using it, then it simply stays).
  await docker('network', 'rm', 'nebula').catch(() => undefined);
  const data = tmp('nebula-vol-');
  writeFileSync(join(data, 'hello.txt'), 'from the host\n');
  await api.createApp(m.url, app, {
    docker_image: WEB_1,
    starting_ports: [raw, { [web]: '80' }],
    env_vars: { MODE: 'pos', ANSWER: 42 },
    volumes: [`${data}:/var/www/mounted:ro`],
    devices: ['/dev/null:/dev/nebula-null:rw'],
    privileged: false,
    containers_per: { server: 2 },
  });
  await api.createGroup(m.url, group, [app]);
  const w = await worker(t, group);

  await waitFor('both containers to serve', () => allServe([web, web + 1], '1'));
  assert.equal(await httpText(web + 1, '/mounted/hello.txt'), 'from the host');
  const containers = await containersOf(app);
  assert.deepEqual(containers.map((c) => c.name), [`${app}-1`, `${app}-2`]);
  for (const [i, c] of containers.entries()) {
    const n = i + 1;
    assert.equal(c.labels.orchestrator, 'nebula');
    assert.equal(c.labels.app_name, app);
    assert.equal(c.labels.container_type, 'app');
    assert.equal(c.labels['nebula.app_id'], '1');
    assert.equal(c.labels['nebula.index'], String(n));
    const doc = await inspect(c.id);
    assert.ok(doc.Config.Env?.includes('MODE=pos'), `env of ${c.name}: ${doc.Config.Env}`);
    assert.ok(doc.Config.Env?.includes('ANSWER=42'), `env of ${c.name}: ${doc.Config.Env}`);
    assert.deepEqual(doc.HostConfig.Binds, [`${data}:/var/www/mounted:ro`]);
    assert.deepEqual(doc.HostConfig.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/nebula-null', CgroupPermissions: 'rw' }]);
    assert.equal(doc.HostConfig.Privileged, false);
    assert.equal(doc.HostConfig.RestartPolicy.Name, 'unless-stopped');
    // An int p maps host p + n − 1 to container p; {"h": "80"} maps h + n − 1 to 80.
    assert.deepEqual(doc.HostConfig.PortBindings?.[`${raw}/tcp`]?.map((b) => b.HostPort), [String(raw + n - 1)]);
    assert.deepEqual(doc.HostConfig.PortBindings?.['80/tcp']?.map((b) => b.HostPort), [String(web + n - 1)]);
    assert.deepEqual(Object.keys(doc.NetworkSettings.Networks).sort(), ['bridge', 'nebula']);
  }
  const nebula = JSON.parse(await docker('network', 'inspect', 'nebula')) as { Driver: string }[];
  assert.equal(nebula[0]?.Driver, 'bridge');
  assert.deepEqual(w.fatal, []);
  assert.deepEqual([...w.worker.executor.failed()], []);
});

test('networks ["host"] and ["none"]: the container gets that network only, without port mappings', async (t) => {
  const [onHost, onNone] = names(t, 'hostnet', 'nonet') as [string, string];
  const group = uniq('dg');
  // job:1 listens on nothing, so it cannot collide with the host's ports.
  await api.createApp(m.url, onHost, { docker_image: JOB_1, env_vars: { SLEEP: '600' }, networks: ['host'] });
  await api.createApp(m.url, onNone, { docker_image: JOB_1, env_vars: { SLEEP: '600' }, networks: ['none'] });
  await api.createGroup(m.url, group, [onHost, onNone]);
  await worker(t, group);
  for (const [app, mode] of [[onHost, 'host'], [onNone, 'none']] as const) {
    const [c] = await waitFor(`the ${mode}-network container to run`, async () => {
      const list = await containersOf(app);
      return list.length === 1 && list[0]?.state === 'running' ? list : undefined;
    });
    const doc = await inspect(c!.id);
    assert.equal(doc.HostConfig.NetworkMode, mode);
    assert.deepEqual(Object.keys(doc.NetworkSettings.Networks), [mode]);
    assert.equal(Object.keys(doc.HostConfig.PortBindings ?? {}).length, 0);
  }
});

test('containers_per cpu and memory count from the host facts', async (t) => {
  const [byCpu, byMem] = names(t, 'cpu', 'mem') as [string, string];
  const group = uniq('dg');
  await api.createApp(m.url, byCpu, { docker_image: WEB_1, containers_per: { cpu: 0.5 } });
  await api.createApp(m.url, byMem, { docker_image: WEB_1, containers_per: { memory: 341 } });
  await api.createGroup(m.url, group, [byCpu, byMem]);
  await worker(t, group, { host: { cpuCores: 4, memoryMb: 1024 } });
  // floor(4 × 0.5) = 2; floor(1024 / 341) = 3.
  await waitFor('2 cpu-sized containers', async () => (await named(byCpu)).join() === `${byCpu}-1,${byCpu}-2`);
  await waitFor('3 memory-sized containers', async () => (await named(byMem)).join() === `${byMem}-1,${byMem}-2,${byMem}-3`);
});

test('stop removes the containers, start brings them back, restart replaces them', async (t) => {
  const [app] = names(t, 'ssr') as [string];
  const group = uniq('dg');
  const port = await freePort();
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] });
  await api.createGroup(m.url, group, [app]);
  await worker(t, group);
  await waitFor('the app to serve', async () => (await httpText(port)) === '1');

  await api.appAction(m.url, app, 'stop');
  await waitFor('the stopped app to have no container', gone(app));
  assert.equal(await httpText(port), undefined);

  await api.appAction(m.url, app, 'start');
  await waitFor('the started app to serve', async () => (await httpText(port)) === '1');
  const [started] = await containersOf(app);
  assert.ok(started);

  await api.appAction(m.url, app, 'restart');
  const [restarted] = await waitFor('a new container', async () => {
    const list = await containersOf(app);
    return list.length === 1 && list[0]?.id !== started.id && list[0]?.state === 'running' ? list : undefined;
  });
  assert.equal(restarted?.name, `${app}-1`);
  await waitFor('the restarted app to serve', async () => (await httpText(port)) === '1');
});

test('a rolling restart keeps a container serving at every moment, in numeric order; it scales down too', async (t) => {
  const [app] = names(t, 'roll') as [string];
  const group = uniq('dg');
  const base = await freePorts(3);
  const ports = range(base, 3);
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [base]: '80' }], containers_per: { server: 3 }, rolling_restart: true });
  await api.createGroup(m.url, group, [app]);
  const w = await worker(t, group);
  await waitFor('three containers serving 1', () => allServe(ports, '1'));

  let rolling = true;
  const dark: number[] = [];
  let mixed = false;
  const poller = (async () => {
    while (rolling) {
      const seen = await versions(ports);
      if (seen.every((v) => v === undefined)) dark.push(Date.now());
      if (seen.includes('1') && seen.includes('2')) mixed = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  await api.updateApp(m.url, app, { docker_image: WEB_2 });
  try {
    await waitFor('all three to serve 2', () => allServe(ports, '2'), 30_000);
  } finally {
    rolling = false;
    await poller;
  }
  assert.deepEqual(dark, [], 'no moment without any container answering');
  assert.equal(mixed, true, 'a roll replaces one container at a time (seen 1 and 2 side by side)');
  const started = await Promise.all((await containersOf(app)).map(async (c) => [c.name, Date.parse((await inspect(c.id)).State.StartedAt)] as const));
  assert.deepEqual(started.map(([name]) => name), [`${app}-1`, `${app}-2`, `${app}-3`]);
  assert.ok(started[0]![1] < started[1]![1] && started[1]![1] < started[2]![1], `replaced in order: ${JSON.stringify(started)}`);

  await api.updateApp(m.url, app, { containers_per: { server: 1 } });
  await waitFor('only -1 left', async () => (await named(app)).join() === `${app}-1`);
  await waitFor('-1 to serve', async () => (await httpText(base)) === '2');
  assert.equal(await httpText(base + 1), undefined);
  assert.deepEqual(w.fatal, []);
});

test('a rolling update that also scales up adds the missing containers', async (t) => {
  const [app] = names(t, 'rollup') as [string];
  const group = uniq('dg');
  const base = await freePorts(3);
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [base]: '80' }], containers_per: { server: 2 }, rolling_restart: true });
  await api.createGroup(m.url, group, [app]);
  await worker(t, group);
  await waitFor('two containers serving 1', () => allServe(range(base, 2), '1'));
  await api.updateApp(m.url, app, { docker_image: WEB_2, containers_per: { server: 3 } });
  await waitFor('three containers serving 2', () => allServe(range(base, 3), '2'), 30_000);
  assert.deepEqual(await named(app), [`${app}-1`, `${app}-2`, `${app}-3`]);
});

test('a rolling restart replaces containers in numeric order (-2 before -10)', async (t) => {
  const [app] = names(t, 'roll10') as [string];
  const group = uniq('dg');
  await api.createApp(m.url, app, { docker_image: WEB_1, containers_per: { server: 10 }, rolling_restart: true });
  await api.createGroup(m.url, group, [app]);
  await worker(t, group);
  const running = (appId: string) => async () => {
    const list = await containersOf(app);
    return list.length === 10 && list.every((c) => c.state === 'running' && c.labels['nebula.app_id'] === appId) ? list : undefined;
  };
  await waitFor('ten containers', running('1'));
  await api.updateApp(m.url, app, { docker_image: WEB_2 });
  const rolled = await waitFor('ten replaced containers', running('2'), 45_000);
  const started = await Promise.all(rolled.map(async (c) => ({ index: Number(c.labels['nebula.index']), at: Date.parse((await inspect(c.id)).State.StartedAt) })));
  const byTime = [...started].sort((a, b) => a.at - b.at).map((s) => s.index);
  assert.deepEqual(byTime, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('group membership: removed from the group, added to it, and deleted through the API', async (t) => {
  const [first, second] = names(t, 'member', 'added') as [string, string];
  const group = uniq('dg');
  const [p1, p2] = [await freePort(), await freePort()];
  await api.createApp(m.url, first, { docker_image: WEB_1, starting_ports: [{ [p1]: '80' }] });
  await api.createApp(m.url, second, { docker_image: WEB_2, starting_ports: [{ [p2]: '80' }] });
  await api.createGroup(m.url, group, [first]);
  await worker(t, group);
  await waitFor('the first app to serve', async () => (await httpText(p1)) === '1');

  await api.updateGroup(m.url, group, []);
  await waitFor('the removed app to have no container', gone(first));

  await api.updateGroup(m.url, group, [second]);
  await waitFor('the added app to serve', async () => (await httpText(p2)) === '2');
  assert.equal((await containersOf(first)).length, 0, 'the removed app stays removed');

  await api.deleteApp(m.url, second);
  await waitFor('the deleted app to have no container', gone(second));
});

test('prune removes unused images and keeps the ones in use', async (t) => {
  const [app] = names(t, 'prune') as [string];
  const group = uniq('dg');
  const port = await freePort();
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] });
  await api.createGroup(m.url, group, [app]);
  await worker(t, group);
  await waitFor('the app to serve', async () => (await httpText(port)) === '1');

  await docker('pull', BUSYBOX_2);
  assert.equal(await docker('ps', '-aq', '--filter', `ancestor=${BUSYBOX_2}`), '', `no container may use ${BUSYBOX_2}`);
  assert.equal(await imageExists(BUSYBOX_2), true);
  await api.pruneGroup(m.url, group);
  await waitFor(`${BUSYBOX_2} to be pruned`, async () => !(await imageExists(BUSYBOX_2)));
  assert.equal(await imageExists(WEB_1), true, 'an image in use survives the prune');
  assert.equal(await httpText(port), '1');
});

test('registry auth: configured credentials, none (a failed app, no crash), and a docker config file', async (t) => {
  const [withCreds, without, fromFile] = names(t, 'priv', 'nopriv', 'filepriv') as [string, string, string];
  const [g1, g2, g3] = [uniq('dg'), uniq('dg'), uniq('dg')];
  const [p1, p3] = [await freePort(), await freePort()];
  const dropPrivate = async () => {
    for (const app of [withCreds, without, fromFile]) await killContainers([app]);
    await docker('rmi', '-f', PRIVATE).catch(() => undefined);
    assert.equal(await imageExists(PRIVATE), false, `${PRIVATE} must not be local, so that only a pull can bring it`);
  };

  // Without credentials (and an empty docker config): the app fails on the pull, nothing crashes.
  await dropPrivate();
  await api.createApp(m.url, without, { docker_image: PRIVATE });
  await api.createGroup(m.url, g2, [without]);
  const empty = tmp('nebula-dockercfg-empty-');
  const bare = await withDockerConfig(empty, () => worker(t, g2));
  const failure = await waitFor('the app to be failed', async () => bare.worker.executor.failed().get(without));
  assert.match(failure.reason, /pull/i);
  assert.match(failure.reason, /private/);
  assert.equal((await containersOf(without)).length, 0);
  assert.deepEqual(bare.fatal, []);
  await bare.stop();

  // REGISTRY_* credentials.
  await api.createApp(m.url, withCreds, { docker_image: PRIVATE, starting_ports: [{ [p1]: '80' }] });
  await api.createGroup(m.url, g1, [withCreds]);
  const configured = await withDockerConfig(empty, () =>
    worker(t, g1, { overrides: { registry: { username: 'nebula', password: 'nebula-registry', host: '127.0.0.1:5001' } } }),
  );
  await waitFor('the private app to serve', async () => (await httpText(p1)) === '1');
  assert.equal(configured.worker.executor.failed().size, 0);
  await configured.stop();

  // ~/.docker/config.json style credentials ($DOCKER_CONFIG/config.json).
  await dropPrivate();
  const cfg = tmp('nebula-dockercfg-');
  writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { '127.0.0.1:5001': { auth: Buffer.from('nebula:nebula-registry').toString('base64') } } }));
  await api.createApp(m.url, fromFile, { docker_image: PRIVATE, starting_ports: [{ [p3]: '80' }] });
  await api.createGroup(m.url, g3, [fromFile]);
  const filed = await withDockerConfig(cfg, () => worker(t, g3));
  await waitFor('the private app to serve with file credentials', async () => (await httpText(p3)) === '1');
  assert.equal(filed.worker.executor.failed().size, 0);
});

test('an image given by digest runs', async (t) => {
  const [app] = names(t, 'digest') as [string];
  const group = uniq('dg');
  const port = await freePort();
  await docker('pull', WEB_1);
  const digest = await docker('image', 'inspect', '--format', '{{index .RepoDigests 0}}', WEB_1);
  assert.match(digest, /^127\.0\.0\.1:5000\/web@sha256:[0-9a-f]{64}$/);
  await api.createApp(m.url, app, { docker_image: digest, starting_ports: [{ [port]: '80' }] });
  await api.createGroup(m.url, group, [app]);
  const w = await worker(t, group);
  await waitFor('the digest app to serve', async () => (await httpText(port)) === '1', 20_000);
  const [c] = await containersOf(app);
  assert.equal((await inspect(c!.id)).Config.Image, digest);
  assert.deepEqual(w.fatal, []);
});

test('containers the worker did not label orchestrator=nebula are left alone through a full sync', async (t) => {
  const [app] = names(t, 'mine') as [string];
  const group = uniq('dg');
  const plain = uniq('plain');
  const other = uniq('other');
  cleanups.push(() => Promise.all([plain, other].map((name) => docker('rm', '-f', name).catch(() => undefined))));
  const plainId = await docker('run', '-d', '--name', plain, `${REGISTRY}/busybox:1`, 'sleep', '600');
  // Even one that looks like an app container of ours, but names another orchestrator.
  const otherId = await docker(
    'run', '-d', '--name', other, '--label', 'orchestrator=other', '--label', 'container_type=app',
    '--label', `app_name=${app}`, `${REGISTRY}/busybox:1`, 'sleep', '600',
  );
  defer(t, () => docker('rm', '-f', plain, other).catch(() => undefined));
  const port = await freePort();
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] });
  await api.createGroup(m.url, group, [app]);
  const w = await worker(t, group);
  await waitFor('the app to serve', async () => (await httpText(port)) === '1');
  await api.updateGroup(m.url, group, []);
  await waitFor('the removed app to have no container', gone(app));
  await w.worker.sync.reconcile(); // one more full pass
  for (const [name, id] of [[plain, plainId], [other, otherId]] as const) {
    const doc = await inspect(name);
    assert.equal(doc.Id, id, `${name} is the same container`);
    assert.equal(doc.State.Running, true, `${name} still runs`);
  }
});
