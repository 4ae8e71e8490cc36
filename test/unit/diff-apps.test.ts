// The diff engine's planner for apps: plan(applied, desired, host) as a pure function, with
// the original worker's rules (reference §3.3-3.4) and the deliberate improvements.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { merge, plan } from '../../src/diff/plan.ts';
import { EMPTY_APPLIED, type AppliedState, type Step } from '../../src/diff/types.ts';
import type { AppDoc } from '../../src/model/app.ts';
import type { Info } from '../../src/model/info.ts';
import { app, applied, container, containersOf, cron, host, info, summary } from '../helpers/diff-builders.ts';

/** The config each create/replace step carries, by container name. */
function configs(steps: Step[]): Record<string, AppDoc> {
  const out: Record<string, AppDoc> = {};
  for (const s of steps) if (s.type === 'create' || s.type === 'replace') out[`${s.app}-${s.index}`] = s.config;
  return out;
}

describe('first config', () => {
  test('creates every running app with indexes 1..N, the network first and a forced pull before the creates', () => {
    const web = app('web', { containers_per: { server: 2 } });
    const api = app('api', { app_id: 4 });
    const idle = app('idle', { running: false });
    const desired = info({ device_group_id: 3, prune_id: 2, apps: [web, api, idle] });
    const { steps, next } = plan(EMPTY_APPLIED, desired, host());
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'pull api always',
      'create api-1',
      'pull web always',
      'create web-1',
      'create web-2',
    ]);
    assert.deepEqual(configs(steps), { 'api-1': api, 'web-1': web, 'web-2': web });
    assert.deepEqual(next, applied({ device_group_id: 3, prune_id: 2, apps: [web, api, idle] }));
  });

  test('an app that is not running gets no pull and no container', () => {
    const desired = info({ device_group_id: 1, apps: [app('idle', { running: false, containers_per: { server: 3 } })] });
    assert.deepEqual(plan(EMPTY_APPLIED, desired, host()).steps, []);
  });

  test('no prune on the first config: it only brings the current prune_id', () => {
    const { steps, next } = plan(EMPTY_APPLIED, info({ device_group_id: 2, prune_id: 7 }), host());
    assert.deepEqual(steps, []);
    assert.equal(next.prune_id, 7);
  });

  test('nothing at all before any config arrived, even with nebula containers on the engine', () => {
    const h = host({ containers: [container('web', 1, { appId: 0 }), container('old', 3, { appId: 9 })] });
    const { steps, next } = plan(EMPTY_APPLIED, null, h);
    assert.deepEqual(steps, []);
    assert.deepEqual(next, EMPTY_APPLIED);
  });

  test("containers left by the original worker (appId 0) are replaced, and unknown apps' removed", () => {
    const web = app('web');
    const h = host({ containers: [container('old', 1, { appId: 0 }), container(web, 1, { appId: 0 })] });
    const { steps } = plan(EMPTY_APPLIED, info({ device_group_id: 1, apps: [web] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'remove old-1 orphan',
      'jitter web',
      'pull web always',
      'remove web-1 outdated',
      'create web-1',
    ]);
  });
});

describe('no change: a worker restart costs zero container restarts', () => {
  const web = app('web', { app_id: 5, containers_per: { server: 3 } });
  const api = app('api', { app_id: 2 });
  const idle = app('idle', { running: false });
  const job = cron('backup', { cron_job_id: 4 });
  const state = applied({ device_group_id: 6, prune_id: 3, apps: [web, api, idle], cron_jobs: [job] });
  const everything = host({ containers: [...containersOf(web, 3), ...containersOf(api, 1)] });

  test('the same answer again plans nothing', () => {
    const desired = info({ device_group_id: 6, prune_id: 3, apps: [web, api, idle], cron_jobs: [job] });
    const { steps, next } = plan(state, desired, everything, { backup: 4 });
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });

  test('no answer (offline) with everything running plans nothing', () => {
    const { steps, next } = plan(state, null, everything, { backup: 4 });
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });
});

describe('app changes (app_id greater than applied)', () => {
  test('an app_id bump: jitter, forced pull, remove the outdated containers, create from the new config', () => {
    const before = app('web', { app_id: 1, containers_per: { server: 2 } });
    const after = app('web', { app_id: 2, containers_per: { server: 2 }, docker_image: 'registry.local/web:2' });
    const h = host({ containers: containersOf(before, 2) });
    const { steps, next } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'jitter web',
      'pull web always',
      'remove web-1 outdated',
      'remove web-2 outdated',
      'create web-1',
      'create web-2',
    ]);
    assert.deepEqual(configs(steps), { 'web-1': after, 'web-2': after });
    assert.ok(steps.some((s) => s.type === 'pull' && s.image === 'registry.local/web:2'));
    assert.deepEqual(next.apps, { web: after });
  });

  test('the jitter comes before the pull (as the original): a fleet told at once spreads its registry pulls', () => {
    const before = app('web', { app_id: 1 });
    const h = host({ containers: containersOf(before, 1) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [app('web', { app_id: 2 })] }), h);
    const types = steps.map((s) => s.type);
    assert.ok(types.includes('jitter') && types.indexOf('jitter') < types.indexOf('pull'), JSON.stringify(types));
  });

  test('a restart (id bump, same config) recreates every container', () => {
    const before = app('web', { app_id: 3 });
    const after = app('web', { app_id: 4 });
    const h = host({ containers: containersOf(before, 1) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), h);
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'jitter web', 'pull web always', 'remove web-1 outdated', 'create web-1']);
  });

  test('a stop (running false) removes every container with reason stopped, without jitter or pull', () => {
    const before = app('web', { app_id: 1, containers_per: { server: 2 } });
    const after = app('web', { app_id: 2, containers_per: { server: 2 }, running: false });
    const h = host({ containers: [...containersOf(before, 2), container(before, 3, { running: false })] });
    const { steps, next } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), h);
    assert.deepEqual(summary(steps), ['remove web-1 stopped', 'remove web-2 stopped', 'remove web-3 stopped']);
    assert.equal(next.apps.web?.running, false);
  });

  test('a start after a stop creates the containers (nothing to jitter for)', () => {
    const before = app('web', { app_id: 2, running: false });
    const after = app('web', { app_id: 3, containers_per: { server: 2 } });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), host());
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'pull web always', 'create web-1', 'create web-2']);
  });

  test('containers with appId 0 (made by the original worker) count as outdated', () => {
    const web = app('web', { app_id: 2 });
    const state = applied({ device_group_id: 1, apps: [web] });
    const h = host({ containers: [container(web, 1, { appId: 0 })] });
    const { steps } = plan(state, info({ device_group_id: 1, apps: [web] }), h);
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'pull web if-missing', 'remove web-1 outdated', 'create web-1']);
  });

  test('a change interrupted half-way is finished on the next pass', () => {
    const before = app('web', { app_id: 1, containers_per: { server: 3 } });
    const after = app('web', { app_id: 2, containers_per: { server: 3 } });
    // web-1 already replaced, web-2 still old, web-3 removed but not yet re-created.
    const h = host({ containers: [container(after, 1), container(before, 2)] });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'jitter web',
      'pull web always',
      'remove web-2 outdated',
      'create web-2',
      'create web-3',
    ]);
  });

  test('a bump of one app leaves the other apps alone', () => {
    const web1 = app('web', { app_id: 1 });
    const web2 = app('web', { app_id: 2 });
    const api = app('api', { app_id: 7, containers_per: { server: 2 } });
    const h = host({ containers: [...containersOf(web1, 1), ...containersOf(api, 2)] });
    const { steps } = plan(applied({ device_group_id: 1, apps: [web1, api] }), info({ device_group_id: 1, apps: [web2, api] }), h);
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'jitter web', 'pull web always', 'remove web-1 outdated', 'create web-1']);
  });
});

describe('stale answers change nothing', () => {
  const web = app('web', { app_id: 5 });
  const api = app('api', { app_id: 2 });
  const state = applied({ device_group_id: 4, prune_id: 3, apps: [web, api] });
  const h = host({ containers: [...containersOf(web, 1), ...containersOf(api, 1)] });

  test('a lower app_id', () => {
    const desired = info({ device_group_id: 4, prune_id: 3, apps: [app('web', { app_id: 4, docker_image: 'old:1' }), api] });
    const { steps, next } = plan(state, desired, h);
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });

  test('a lower device_group_id (an older membership, older configs): the app it lacks is kept', () => {
    const desired = info({ device_group_id: 3, prune_id: 3, apps: [app('web', { app_id: 4 })] });
    const { steps, next } = plan(state, desired, h);
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });

  test('a lower prune_id', () => {
    const { steps, next } = plan(state, info({ device_group_id: 4, prune_id: 2, apps: [web, api] }), h);
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });

  test('the same ids', () => {
    const { steps, next } = plan(state, info({ device_group_id: 4, prune_id: 3, apps: [web, api] }), h);
    assert.deepEqual(steps, []);
    assert.deepEqual(next, state);
  });

  test('an app gone from the answer without a device_group_id bump is kept running', () => {
    const { steps, next } = plan(state, info({ device_group_id: 4, prune_id: 3, apps: [web] }), h);
    assert.deepEqual(steps, []);
    assert.deepEqual(next.apps, { web, api });
  });
});

describe('device_group_id bump: a new statement of the whole group', () => {
  const web = app('web', { app_id: 3, containers_per: { server: 2 } });
  const api = app('api', { app_id: 2 });

  test('an app removed from the group loses its containers (removed-from-group)', () => {
    const h = host({ containers: [...containersOf(web, 2), ...containersOf(api, 1)] });
    const { steps, next } = plan(applied({ device_group_id: 1, apps: [web, api] }), info({ device_group_id: 2, apps: [api] }), h);
    assert.deepEqual(summary(steps), ['remove web-1 removed-from-group', 'remove web-2 removed-from-group']);
    assert.deepEqual(Object.keys(next.apps), ['api']);
    assert.equal(next.device_group_id, 2);
  });

  test('an app added to the group is created', () => {
    const h = host({ containers: containersOf(api, 1) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [api] }), info({ device_group_id: 2, apps: [api, web] }), h);
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'pull web always', 'create web-1', 'create web-2']);
  });

  test('an app re-created on the manager (lower app_id) is taken and its containers replaced', () => {
    const recreated = app('web', { app_id: 1, docker_image: 'registry.local/web:new' });
    const h = host({ containers: containersOf(web, 2) });
    const { steps, next } = plan(applied({ device_group_id: 1, apps: [web] }), info({ device_group_id: 2, apps: [recreated] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'remove web-2 scale-down',
      'jitter web',
      'pull web always',
      'remove web-1 outdated',
      'create web-1',
    ]);
    assert.deepEqual(configs(steps), { 'web-1': recreated });
    assert.deepEqual(next.apps, { web: recreated });
  });

  test('an app re-created with the same app_id but a new config is also taken', () => {
    // Deleted (app_id 3 → gone) and re-created until it reached app_id 3 again while the device
    // was offline: the ids match but the config does not, and `next` records the new config.
    const recreated = app('web', { app_id: 3, containers_per: { server: 2 }, docker_image: 'registry.local/web:new' });
    const h = host({ containers: containersOf(web, 2) });
    const { steps, next } = plan(applied({ device_group_id: 1, apps: [web] }), info({ device_group_id: 3, apps: [recreated] }), h);
    assert.deepEqual(next.apps, { web: recreated });
    const lines = summary(steps);
    for (const line of ['pull web always', 'remove web-1 outdated', 'remove web-2 outdated', 'create web-1', 'create web-2']) {
      assert.ok(lines.includes(line), `${line} in ${JSON.stringify(lines)}`);
    }
    assert.deepEqual(configs(steps), { 'web-1': recreated, 'web-2': recreated });
  });

  test('containers of an app nobody knows are removed as orphans', () => {
    const h = host({ containers: [...containersOf(api, 1), container('ghost', 1, { appId: 8 }), container('ghost', 2, { appId: 8 })] });
    const { steps } = plan(applied({ device_group_id: 1, apps: [api] }), info({ device_group_id: 2, apps: [api] }), h);
    assert.deepEqual(summary(steps), ['remove ghost-1 orphan', 'remove ghost-2 orphan']);
  });

  test('a stopped app removed from the group has nothing to remove', () => {
    const idle = app('idle', { running: false });
    const h = host({ containers: containersOf(api, 1) });
    const { steps, next } = plan(applied({ device_group_id: 1, apps: [api, idle] }), info({ device_group_id: 2, apps: [api] }), h);
    assert.deepEqual(steps, []);
    assert.deepEqual(Object.keys(next.apps), ['api']);
  });
});

describe('containers_per', () => {
  /** The container names a first config creates for one app on this host. */
  function created(containersPer: unknown, cpuCores = 4, memoryMb = 4096): string[] {
    const web = app('web', { containers_per: containersPer as AppDoc['containers_per'] });
    const { steps } = plan(EMPTY_APPLIED, info({ device_group_id: 1, apps: [web] }), host({ cpuCores, memoryMb }));
    return summary(steps).filter((s) => s.startsWith('create ') || s.startsWith('app-error '));
  }

  test('server N and instance N make N containers', () => {
    assert.deepEqual(created({ server: 3 }), ['create web-1', 'create web-2', 'create web-3']);
    assert.deepEqual(created({ instance: 2 }), ['create web-1', 'create web-2']);
  });

  test('cpu: floor(cores × value)', () => {
    assert.deepEqual(created({ cpu: 0.5 }, 3), ['create web-1']);
    assert.equal(created({ cpu: 2 }, 3).length, 6);
    assert.deepEqual(created({ cpu: 0.2 }, 3), []);
  });

  test('memory and mem: floor(MB / value)', () => {
    assert.deepEqual(created({ memory: 1000 }, 4, 4096), ['create web-1', 'create web-2', 'create web-3', 'create web-4']);
    assert.deepEqual(created({ mem: 1500 }, 4, 4096), ['create web-1', 'create web-2']);
  });

  test('an unknown key is one app-error step; the other apps are unaffected', () => {
    const bad = app('bad', { app_id: 2, containers_per: { gpu: 1 } as unknown as AppDoc['containers_per'] });
    const good = app('good');
    const old = app('bad', { app_id: 1 });
    const h = host({ containers: containersOf(old, 1) });
    const { steps, next } = plan(applied({ device_group_id: 1, apps: [old] }), info({ device_group_id: 2, apps: [bad, good] }), h);
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'app-error bad', 'pull good always', 'create good-1']);
    const error = steps.find((s) => s.type === 'app-error');
    assert.ok(error?.type === 'app-error' && error.reason.includes('gpu'));
    assert.deepEqual(next.apps.bad, bad);
  });

  test('an invalid value (0, negative, a string, several keys) is an app-error', () => {
    for (const value of [{ server: 0 }, { cpu: -1 }, { server: '2' }, { server: 1, cpu: 1 }, [], null]) {
      assert.deepEqual(created(value), ['app-error web'], JSON.stringify(value));
    }
  });
});

describe('scaling', () => {
  test('server 3 → 1 (with its id bump) removes -2 and -3 as scale-down and recreates -1', () => {
    const before = app('web', { app_id: 1, containers_per: { server: 3 } });
    const after = app('web', { app_id: 2, containers_per: { server: 1 } });
    const h = host({ containers: containersOf(before, 3) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'remove web-2 scale-down',
      'remove web-3 scale-down',
      'jitter web',
      'pull web always',
      'remove web-1 outdated',
      'create web-1',
    ]);
  });

  test('server 1 → 3 (with its id bump) recreates -1 and adds -2 and -3', () => {
    const before = app('web', { app_id: 1 });
    const after = app('web', { app_id: 2, containers_per: { server: 3 } });
    const h = host({ containers: containersOf(before, 1) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'jitter web',
      'pull web always',
      'remove web-1 outdated',
      'create web-1',
      'create web-2',
      'create web-3',
    ]);
  });

  test('the host grows (cpu 1 per core, 1 → 3 cores): only -2 and -3 are added', () => {
    const web = app('web', { containers_per: { cpu: 1 } });
    const state = applied({ device_group_id: 1, apps: [web] });
    const { steps } = plan(state, null, host({ cpuCores: 3, containers: containersOf(web, 1) }));
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'pull web if-missing', 'create web-2', 'create web-3']);
  });

  test('the host shrinks (3 → 1 cores): -2 and -3 are removed, -1 untouched', () => {
    const web = app('web', { containers_per: { cpu: 1 } });
    const state = applied({ device_group_id: 1, apps: [web] });
    const { steps } = plan(state, null, host({ cpuCores: 1, containers: containersOf(web, 3) }));
    assert.deepEqual(summary(steps), ['remove web-2 scale-down', 'remove web-3 scale-down']);
  });

  test('containers whose names carry no valid index are removed', () => {
    const web = app('web');
    const h = host({
      containers: [container(web, 0, { name: 'web' }), container(web, 0, { name: 'web-0' }), container(web, 0, { name: 'web-x' }), container(web, 1)],
    });
    const { steps } = plan(applied({ device_group_id: 1, apps: [web] }), null, h);
    assert.deepEqual(summary(steps), ['remove web scale-down', 'remove web-0 scale-down', 'remove web-x scale-down']);
  });

  test('a duplicate index keeps the container made from the current app_id', () => {
    const web = app('web', { app_id: 2 });
    const h = host({ containers: [container(web, 1, { appId: 1, id: 'old' }), container(web, 1, { id: 'current' })] });
    const { steps } = plan(applied({ device_group_id: 1, apps: [web] }), null, h);
    assert.deepEqual(steps, [{ type: 'remove', app: 'web', containerId: 'old', name: 'web-1', reason: 'duplicate' }]);
  });

  test('two current containers on one index: one is removed as a duplicate', () => {
    const web = app('web');
    const h = host({ containers: [container(web, 1, { id: 'a' }), container(web, 1, { id: 'b' })] });
    const { steps } = plan(applied({ device_group_id: 1, apps: [web] }), null, h);
    assert.deepEqual(steps, [{ type: 'remove', app: 'web', containerId: 'b', name: 'web-1', reason: 'duplicate' }]);
  });
});

describe('rolling restart', () => {
  const rolling = (id: number, n: number, running = true) =>
    app('web', { app_id: id, rolling_restart: true, running, containers_per: { server: n } });

  test('replaces each container in numeric index order (web-2 before web-10), no remove or create', () => {
    const before = rolling(1, 10);
    const after = rolling(2, 10);
    const names = Array.from({ length: 10 }, (_, i) => i + 1).sort((a, b) => String(a).localeCompare(String(b)));
    const h = host({ containers: names.map((i) => container(before, i)) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [after] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'jitter web',
      'pull web always',
      ...Array.from({ length: 10 }, (_, i) => `replace web-${i + 1}`),
    ]);
    for (const s of steps) if (s.type === 'replace') assert.deepEqual(s.config, after);
  });

  test('scale up during a roll: replace the existing, create the new', () => {
    const before = rolling(1, 2);
    const h = host({ containers: containersOf(before, 2) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [rolling(2, 4)] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'jitter web',
      'pull web always',
      'replace web-1',
      'replace web-2',
      'create web-3',
      'create web-4',
    ]);
  });

  test('scale down during a roll: scale-down removals, then replace the rest', () => {
    const before = rolling(1, 4);
    const h = host({ containers: containersOf(before, 4) });
    const { steps } = plan(applied({ device_group_id: 1, apps: [before] }), info({ device_group_id: 1, apps: [rolling(2, 2)] }), h);
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'remove web-3 scale-down',
      'remove web-4 scale-down',
      'jitter web',
      'pull web always',
      'replace web-1',
      'replace web-2',
    ]);
  });

  test('rolling_restart on an app that was stopped is a normal start', () => {
    const { steps } = plan(
      applied({ device_group_id: 1, apps: [rolling(1, 2, false)] }),
      info({ device_group_id: 1, apps: [rolling(2, 2)] }),
      host(),
    );
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'pull web always', 'create web-1', 'create web-2']);
  });
});

describe('restoring the host to the applied state', () => {
  const web = app('web', { app_id: 4, containers_per: { server: 2 } });
  const state = applied({ device_group_id: 2, apps: [web] });

  test('containers gone after a reboot: created again, pulling only a missing image', () => {
    const { steps } = plan(state, info({ device_group_id: 2, apps: [web] }), host());
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'pull web if-missing', 'create web-1', 'create web-2']);
  });

  test('offline (no answer) after a reboot: the applied config is restored', () => {
    const { steps, next } = plan(state, null, host({ containers: containersOf(web, 1) }));
    assert.deepEqual(summary(steps), ['ensure-network nebula', 'pull web if-missing', 'create web-2']);
    assert.deepEqual(next, state);
  });

  test('a stopped container made from the current app_id is started, not recreated', () => {
    const h = host({ containers: [container(web, 1, { running: false }), container(web, 2)] });
    const { steps } = plan(state, info({ device_group_id: 2, apps: [web] }), h);
    assert.deepEqual(steps, [{ type: 'start', app: 'web', containerId: 'id-web-1-4', name: 'web-1' }]);
  });
});

describe('ensure-network', () => {
  const first = (apps: AppDoc[]) => summary(plan(EMPTY_APPLIED, info({ device_group_id: 1, apps }), host()).steps);

  test('apps on "host" or "none" need no nebula network', () => {
    assert.deepEqual(first([app('web', { networks: ['host'] })]), ['pull web always', 'create web-1']);
    assert.deepEqual(first([app('web', { networks: ['none'] })]), ['pull web always', 'create web-1']);
  });

  test('apps on ["nebula", "bridge"], ["bridge"] or [] need it, once, first', () => {
    assert.deepEqual(first([app('a', { networks: ['nebula', 'bridge'] }), app('b', { networks: ['bridge'] }), app('c', { networks: [] })]), [
      'ensure-network nebula',
      'pull a always',
      'create a-1',
      'pull b always',
      'create b-1',
      'pull c always',
      'create c-1',
    ]);
  });

  test('a host app next to a bridged one: the network is still ensured', () => {
    assert.deepEqual(first([app('h', { networks: ['host'] }), app('b')]), [
      'ensure-network nebula',
      'pull b always',
      'create b-1',
      'pull h always',
      'create h-1',
    ]);
  });
});

describe('prune', () => {
  const web = app('web');
  const job = cron('backup', { cron_job_id: 2 });
  const state = applied({ device_group_id: 1, prune_id: 4, apps: [web], cron_jobs: [job] });

  test('a prune_id bump is one prune-images step after every container and cron step', () => {
    const after = app('web', { app_id: 2 });
    const newJob = cron('backup', { cron_job_id: 3 });
    const h = host({ containers: containersOf(web, 1) });
    const { steps, next } = plan(state, info({ device_group_id: 1, prune_id: 5, apps: [after], cron_jobs: [newJob] }), h, { backup: 2 });
    assert.deepEqual(summary(steps), [
      'ensure-network nebula',
      'jitter web',
      'pull web always',
      'remove web-1 outdated',
      'create web-1',
      'schedule-cron backup#3',
      'prune-images',
    ]);
    assert.equal(next.prune_id, 5);
  });

  test('a prune_id bump alone is just the prune', () => {
    const h = host({ containers: containersOf(web, 1) });
    const { steps } = plan(state, info({ device_group_id: 1, prune_id: 9, apps: [web], cron_jobs: [job] }), h, { backup: 2 });
    assert.deepEqual(summary(steps), ['prune-images']);
  });

  test('no bump, no prune', () => {
    const h = host({ containers: containersOf(web, 1) });
    const { steps } = plan(state, info({ device_group_id: 1, prune_id: 4, apps: [web], cron_jobs: [job] }), h, { backup: 2 });
    assert.deepEqual(steps, []);
  });
});

describe('merge: ids in `next` never decrease, whatever order the answers arrive in', () => {
  // One group's history, oldest first, as different managers' caches might serve it.
  const history: Info[] = [
    info({ device_group_id: 1, apps: [app('web', { app_id: 1 })], cron_jobs: [cron('a', { cron_job_id: 1 })] }),
    info({ device_group_id: 1, apps: [app('web', { app_id: 2 })], cron_jobs: [cron('a', { cron_job_id: 1 })] }),
    info({ device_group_id: 2, apps: [app('web', { app_id: 2 }), app('api', { app_id: 1 })], cron_jobs: [cron('a', { cron_job_id: 1 })] }),
    info({ device_group_id: 2, prune_id: 1, apps: [app('web', { app_id: 3 }), app('api', { app_id: 1 })], cron_jobs: [cron('a', { cron_job_id: 2 })] }),
    info({ device_group_id: 3, prune_id: 1, apps: [app('web', { app_id: 3 })], cron_jobs: [cron('a', { cron_job_id: 2 }), cron('b', { cron_job_id: 1 })] }),
    info({ device_group_id: 3, prune_id: 2, apps: [app('web', { app_id: 4 })], cron_jobs: [cron('a', { cron_job_id: 2 }), cron('b', { cron_job_id: 2 })] }),
  ];

  function permutations<T>(items: T[]): T[][] {
    if (items.length <= 1) return [items];
    return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
  }

  function assertNoDecrease(before: AppliedState, after: AppliedState, where: string): void {
    assert.ok(after.device_group_id >= before.device_group_id, where);
    assert.ok(after.prune_id >= before.prune_id, where);
    for (const [name, a] of Object.entries(before.apps)) {
      const b = after.apps[name];
      if (b !== undefined) assert.ok(b.app_id >= a.app_id, `${where}: app ${name}`);
    }
    for (const [name, c] of Object.entries(before.cron_jobs)) {
      const d = after.cron_jobs[name];
      if (d !== undefined) assert.ok(d.cron_job_id >= c.cron_job_id, `${where}: cron ${name}`);
    }
  }

  test('every order of the history (with repeats and offline passes) ends on the newest answer', () => {
    const newest = merge(EMPTY_APPLIED, history[history.length - 1] ?? null);
    const orders = permutations(history.map((_, i) => i));
    assert.equal(orders.length, 720);
    for (const order of orders) {
      let state = EMPTY_APPLIED;
      // Each answer arrives, then a repeat of the oldest one, then an offline pass.
      for (const i of order) {
        for (const answer of [history[i] ?? null, history[0] ?? null, null]) {
          const next = merge(state, answer);
          assertNoDecrease(state, next, `order ${order.join(',')}`);
          state = next;
        }
      }
      assert.deepEqual(state, newest, `order ${order.join(',')}`);
    }
  });

  test('no answer keeps the applied state as it is', () => {
    const state = applied({ device_group_id: 2, prune_id: 1, apps: [app('web')] });
    assert.equal(merge(state, null), state);
  });
});
