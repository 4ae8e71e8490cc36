// `nebula worker` SIGKILLed in the middle of applying a change (during the pull, the
// creates, the removes), then started again on the same state dir: it converges to exactly
// the desired containers — one per index of each app, made from the current app_id, running,
// on every network of the app — with no duplicates, no containers of old app_ids or of apps
// that left the group, none left in 'created' state, and its applied ids those of the manager.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LABELS } from '../../../src/diff/containers.ts';
import type { AppliedState } from '../../../src/diff/types.ts';
import type { Info } from '../../../src/model/info.ts';
import { ADMIN_TOKEN, call, type TestManager } from '../../helpers/manager.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { WEB_1, WEB_2, containersOf, tempDir, waitFor } from '../../helpers/worker.ts';
import { api, inspect, workerSuite } from '../../helpers/worker-fixtures.ts';
import { exitWithin, quietFor, snapshot, spawnWorkerProcess, stopProcess, type Proc } from '../../helpers/worker-process.ts';

let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager));

/** One container event of the engine (`docker events`), as far as the test reads it. */
interface EngineEvent {
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

/**
 * Calls `onEvent` for every container event of these apps from `since` (unix seconds) on:
 * `--since` replays what happened before the stream was up, so nothing is missed.
 */
function watchEngine(since: number, apps: string[], onEvent: (event: EngineEvent) => void): () => void {
  const child = spawn('docker', ['events', '--since', since.toFixed(3), '--format', '{{json .}}', '--filter', 'type=container', '--filter', 'label=orchestrator=nebula'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const event = JSON.parse(line) as EngineEvent;
      if (apps.includes(event.Actor.Attributes[LABELS.appName] ?? '')) onEvent(event);
    }
  });
  return () => child.kill('SIGKILL');
}

type Moment =
  | { kind: 'log'; text: string }
  | { kind: 'engine'; action: string; nth: number };

function describe(moment: Moment): string {
  return moment.kind === 'log' ? `the log line '${moment.text}'` : `engine event ${moment.action} #${moment.nth}`;
}

/** SIGKILLs the worker the instant `moment` is seen (in this tick: no await in between). */
function killAt(proc: Proc, moment: Moment, apps: string[]): { stop: () => void; fired: () => boolean } {
  let fired = false;
  const kill = () => {
    if (fired) return;
    fired = true;
    proc.child.kill('SIGKILL');
  };
  if (moment.kind === 'log') {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(moment.text)) kill();
    };
    proc.child.stdout?.on('data', onData);
    return { stop: () => proc.child.stdout?.off('data', onData), fired: () => fired };
  }
  let count = 0;
  const stop = watchEngine(Date.now() / 1000, apps, (event) => {
    if (event.Action === moment.action && ++count === moment.nth) kill();
  });
  return { stop, fired: () => fired };
}

/** The containers the engine has of these apps, as `name:state:id<app_id>`. */
async function observed(apps: string[]): Promise<string> {
  const out: string[] = [];
  for (const app of apps) {
    for (const c of await containersOf(app)) out.push(`${c.name}:${c.state}:id${c.labels[LABELS.appId]}`);
  }
  return out.join(' ') || '(none)';
}

function appliedOf(stateDir: string): AppliedState | null {
  const db = new Database(join(stateDir, 'worker.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT value FROM kv WHERE key = 'applied'").pluck().get() as string | undefined;
    return row === undefined ? null : (JSON.parse(row) as AppliedState);
  } finally {
    db.close();
  }
}

/**
 * Why the engine and the worker's state are not yet exactly the group's config; null once they
 * are. `all` names every app the test made (those not in the group must have no container).
 */
async function divergence(group: string, all: string[], stateDir: string): Promise<string | null> {
  const info = (await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`)).body as Info;
  for (const app of all) {
    const doc = info.apps.find((a) => a.app_name === app);
    const containers = await containersOf(app);
    if (doc === undefined || !doc.running) {
      if (containers.length > 0) return `${app}: ${containers.map((c) => c.name).join(', ')} left over`;
      continue;
    }
    const count = (doc.containers_per as { server: number }).server;
    const want = Array.from({ length: count }, (_, i) => `${app}-${i + 1}`);
    const names = containers.map((c) => c.name);
    if (JSON.stringify(names) !== JSON.stringify(want)) return `${app}: containers ${names.join(', ')}, want ${want.join(', ')}`;
    for (const c of containers) {
      if (c.state !== 'running') return `${c.name} is ${c.state}`;
      if (c.labels[LABELS.appId] !== String(doc.app_id)) return `${c.name} is from app_id ${c.labels[LABELS.appId]}, want ${doc.app_id}`;
      const seen = await inspect(c.id);
      if (seen.Config.Image !== doc.docker_image) return `${c.name} runs ${seen.Config.Image}, want ${doc.docker_image}`;
      const version = `VERSION=${(doc.env_vars as Record<string, string>).VERSION}`;
      if (!(seen.Config.Env ?? []).includes(version)) return `${c.name} lacks ${version}`;
      const networks = Object.keys(seen.NetworkSettings.Networks).sort();
      if (JSON.stringify(networks) !== JSON.stringify(['bridge', 'nebula'])) return `${c.name} is on the networks ${networks.join(', ')}, want bridge, nebula`;
    }
  }
  const applied = appliedOf(stateDir);
  if (applied === null) return 'nothing applied yet';
  if (applied.device_group_id !== info.device_group_id) return `applied device_group_id ${applied.device_group_id}, want ${info.device_group_id}`;
  const appliedIds = Object.values(applied.apps).map((a) => `${a.app_name}:${a.app_id}`).sort();
  const wantIds = info.apps.map((a) => `${a.app_name}:${a.app_id}`).sort();
  if (JSON.stringify(appliedIds) !== JSON.stringify(wantIds)) return `applied ${appliedIds.join(', ')}, want ${wantIds.join(', ')}`;
  return null;
}

test('SIGKILLed while applying (pull, create, remove), restarted on its state: exactly the desired containers', async (t) => {
  const [a, b, c, d] = ['ca', 'cb', 'cc', 'cd'].map((p) => uniq(p)) as [string, string, string, string];
  const all = [a, b, c, d];
  made.push(...all);
  const group = uniq('dg');
  const state = tempDir('nebula-crash-apply-');
  cleanups.push(state.remove);
  const args = ['--device-group', group, '--manager-url', m.url, '--state-dir', state.dir, '--check-in-time', '1', '--log-level', 'info', '--report-transport', 'none'];
  let worker: Proc | undefined;
  const start = () => {
    worker = spawnWorkerProcess(args, { NEBULA_MANAGER_AUTH_TOKEN: ADMIN_TOKEN });
    return worker;
  };
  t.after(() => worker && stopProcess(worker));

  const converge = async (what: string) => {
    let last: string | null = null;
    await waitFor(
      what,
      async () => (last = await divergence(group, all, state.dir)) === null,
      40_000,
      200,
    ).catch((err: Error) => assert.fail(`${err.message}: ${last}\n${worker?.output().slice(-4000)}`));
  };

  // Before: the group runs a (2 containers), b and c (one each), all on web:1; d (2) joins later.
  await api.createApp(m.url, a, { docker_image: WEB_1, containers_per: { server: 2 }, env_vars: { VERSION: '0' } });
  await api.createApp(m.url, b, { docker_image: WEB_1, env_vars: { VERSION: '0' } });
  await api.createApp(m.url, c, { docker_image: WEB_1, env_vars: { VERSION: '0' } });
  await api.createApp(m.url, d, { docker_image: WEB_1, containers_per: { server: 2 }, env_vars: { VERSION: '0' } });
  await api.createGroup(m.url, group, [a, b, c]);
  const began = Date.now();
  start();
  await converge('the first config');
  t.diagnostic(`the first config converged in ${Date.now() - began} ms`);

  // Each round: one change that takes several steps, the worker killed at one moment of it.
  const rounds: { moment: Moment; change: () => Promise<void> }[] = [
    {
      // During the force-pull (the first step after the plan is logged; no restart jitter).
      moment: { kind: 'log', text: 'applying changes' },
      change: async () => {
        await api.updateApp(m.url, a, { docker_image: WEB_2, containers_per: { server: 3 }, env_vars: { VERSION: '1' } });
        await api.updateApp(m.url, b, { docker_image: WEB_2, env_vars: { VERSION: '1' } });
        await api.updateGroup(m.url, group, [a, b, d]);
      },
    },
    {
      // The first new container made, before it is started (or connected to its networks).
      moment: { kind: 'engine', action: 'create', nth: 1 },
      change: async () => {
        await api.updateApp(m.url, a, { docker_image: WEB_1, env_vars: { VERSION: '2' } });
        await api.updateApp(m.url, d, { env_vars: { VERSION: '2' } });
      },
    },
    {
      // Stopping an outdated container, before it is removed.
      moment: { kind: 'engine', action: 'kill', nth: 1 },
      change: async () => {
        await api.updateApp(m.url, a, { env_vars: { VERSION: '3' } });
        await api.updateApp(m.url, b, { env_vars: { VERSION: '3' } });
        await api.updateGroup(m.url, group, [a, b, c]);
      },
    },
    {
      // Half-way through the creates: the second new container just started.
      moment: { kind: 'engine', action: 'start', nth: 2 },
      change: async () => {
        await api.updateApp(m.url, a, { docker_image: WEB_2, env_vars: { VERSION: '4' } });
        await api.updateApp(m.url, c, { docker_image: WEB_2, env_vars: { VERSION: '4' } });
      },
    },
  ];

  for (const [i, round] of rounds.entries()) {
    const proc = worker!;
    const trigger = killAt(proc, round.moment, all);
    await round.change();
    const code = await exitWithin(proc, 30_000).finally(trigger.stop);
    assert.ok(trigger.fired(), `round ${i + 1}: the worker ended (${code}) before ${describe(round.moment)}:\n${proc.output().slice(-3000)}`);
    assert.equal(code, 'SIGKILL');
    t.diagnostic(`round ${i + 1}, killed at ${describe(round.moment)}: ${await observed(all)}`);
    const restarted = Date.now();
    start();
    await converge(`convergence after the kill of round ${i + 1} (${describe(round.moment)})`);
    t.diagnostic(`round ${i + 1}: converged ${Date.now() - restarted} ms after the restart`);
  }

  // Settled: nothing is restarted or made any more, and the worker is still up.
  const settled = await Promise.all(all.map((app) => snapshot(app)));
  await quietFor(2000);
  assert.deepEqual(await Promise.all(all.map((app) => snapshot(app))), settled, 'the containers stay as they are');
  assert.equal(await divergence(group, all, state.dir), null);
  assert.equal(worker!.child.exitCode, null, worker!.output().slice(-3000));
});
