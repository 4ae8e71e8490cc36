// Cron jobs on the device, against a real manager and the real Docker engine: runs at their
// time to the second (a 6-field schedule), no overlap of one job's runs, runs while the
// manager is unreachable, finished runs cleaned up, deletes and updates followed.
// job:1 appends `date +%s` to /data/runs, then sleeps $SLEEP seconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { basic, call, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { assertStatus, uniq } from '../../helpers/fixtures.ts';
import { JOB_1, cronContainersOf, engine, startWorker, tempDir, waitFor } from '../../helpers/worker.ts';
import { workerSuite } from '../../helpers/worker-fixtures.ts';
import { quietFor, startManagerOn, stopProcess } from '../../helpers/worker-process.ts';

const EVERY_2S = '*/2 * * * * *';
let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager));

/** A cron job on job:1 with a fresh /data dir, in a fresh group. */
async function cronGroup(url: string, body: Record<string, unknown> = {}, auth?: string): Promise<{ job: string; group: string; dir: string }> {
  const job = uniq('job');
  const group = uniq('dg');
  made.push(job);
  const data = tempDir('nebula-cron-');
  cleanups.push(data.remove);
  const created = await call(url, 'POST', `/api/v2/cron_jobs/${job}`, {
    auth,
    body: { docker_image: JOB_1, schedule: EVERY_2S, volumes: [`${data.dir}:/data`], ...body },
  });
  assertStatus(created, 200);
  assertStatus(await call(url, 'POST', `/api/v2/device_groups/${group}`, { auth, body: { cron_jobs: [job] } }), 200);
  return { job, group, dir: data.dir };
}

/** The epoch seconds the job's runs wrote to /data/runs, in order. */
function runs(dir: string): number[] {
  const file = join(dir, 'runs');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
}

/** The epoch second in a cron run's container name `<job>-<epoch>-1`. */
function epochOf(job: string, name: string): number {
  const match = new RegExp(`^${job}-(\\d+)-1$`).exec(name);
  assert.ok(match, `a cron container name <job>-<epoch>-1, got ${name}`);
  return Number(match[1]);
}

async function running(job: string): Promise<number> {
  return (await cronContainersOf(job)).filter((c) => c.state === 'running').length;
}

test('a 6-field schedule runs every 2 s, to the second, in containers named <job>-<epoch>-1 that are cleaned up', async (t) => {
  const { job, group, dir } = await cronGroup(m.url);
  const w = await startWorker(m.url, group);
  t.after(() => w.stop());
  await waitFor('two runs', async () => runs(dir).length >= 2, 9000);
  await waitFor('a third run', async () => runs(dir).length >= 3, 5000);
  const lines = runs(dir);
  for (let i = 1; i < lines.length; i++) {
    const gap = lines[i]! - lines[i - 1]!;
    assert.ok(gap >= 1 && gap <= 3, `runs about 2 s apart, got ${lines.join(', ')}`);
  }

  // A run's container can write its line before the worker has recorded the run: wait for both.
  const started = await waitFor('three cron-run events', async () => {
    const events = w.worker.state.events('cron-run').filter((e) => e.subject === job);
    return events.length >= 3 ? events : undefined;
  }, 5000);
  const epochs = started.map((e) => epochOf(job, e.detail));
  for (const [i, e] of started.entries()) {
    const epoch = epochs[i]!;
    assert.equal(epoch % 2, 0, `*/2 seconds: an even second, got ${epoch}`);
    assert.ok(e.at >= epoch * 1000 && e.at - epoch * 1000 < 2000, `run ${e.detail} started ${e.at - epoch * 1000} ms after its second`);
  }
  for (const line of lines) {
    assert.ok(epochs.some((epoch) => line >= epoch && line - epoch <= 1), `run at ${line} matches a scheduled second: ${epochs.join(', ')}`);
  }

  const containers = await cronContainersOf(job);
  assert.ok(containers.length >= 1 && containers.length <= 2, `finished runs are cleaned up: ${containers.map((c) => c.name).join(', ')}`);
  for (const c of containers) {
    epochOf(job, c.name);
    assert.equal(c.labels.container_type, 'cron_job');
    assert.equal(c.labels.cron_job_name, job);
    assert.equal(c.labels.orchestrator, 'nebula');
  }
  assert.deepEqual(w.fatal, []);
});

test('no overlap: while a run is still going the next slot is skipped', async (t) => {
  const { job, group } = await cronGroup(m.url, { env_vars: { SLEEP: '5' } });
  const w = await startWorker(m.url, group);
  t.after(() => w.stop());
  await waitFor('a skipped slot', async () => w.worker.state.events('cron-skipped').some((e) => e.subject === job), 10_000);
  const deadline = Date.now() + 3000;
  let most = 0;
  while (Date.now() < deadline) {
    most = Math.max(most, await running(job));
    await quietFor(200);
  }
  assert.ok(most <= 1, `at most one run at a time, saw ${most}`);
  const skipped = w.worker.state.events('cron-skipped').filter((e) => e.subject === job);
  assert.match(skipped[0]!.detail, /still going/);
  assert.deepEqual(w.fatal, []);
});

test('runs go on while the manager is unreachable', async (t) => {
  const data = tempDir('nebula-mgr-');
  cleanups.push(data.remove);
  const manager = await startManagerOn(await freePort(), data.dir, { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'pw', NEBULA_LOG_LEVEL: 'warn' });
  t.after(() => stopProcess(manager));
  const { group, dir } = await cronGroup(manager.url, {}, basic('admin', 'pw'));
  const w = await startWorker(manager.url, group, { overrides: { auth: { user: 'admin', password: 'pw' } } });
  t.after(() => w.stop());
  await waitFor('a first run', async () => runs(dir).length >= 1, 9000);
  await stopProcess(manager, 'SIGKILL');
  const before = runs(dir).length;
  await waitFor('two more runs without a manager', async () => runs(dir).length >= before + 2, 8000);
  assert.deepEqual(w.fatal, []);
});

test('a cron job deleted through the API is unscheduled and its runs stop; the worker goes on', async (t) => {
  const { job, group, dir } = await cronGroup(m.url);
  const w = await startWorker(m.url, group);
  t.after(() => w.stop());
  await waitFor('a first run', async () => runs(dir).length >= 1, 9000);
  assert.equal(w.worker.scheduler.scheduled()[job], 1);

  assertStatus(await call(m.url, 'DELETE', `/api/v2/cron_jobs/${job}`), 200);
  await waitFor('the job to be unscheduled', async () => w.worker.scheduler.scheduled()[job] === undefined, 8000);
  await waitFor('its last run to end', async () => (await running(job)) === 0, 5000);
  const lines = runs(dir).length;
  const events = w.worker.state.events('cron-run').filter((e) => e.subject === job).length;
  await quietFor(3000);
  assert.equal(runs(dir).length, lines, 'no run after the delete');
  assert.equal(w.worker.state.events('cron-run').filter((e) => e.subject === job).length, events);
  await waitFor('its finished containers to be cleaned up', async () => (await cronContainersOf(job)).length === 0, 10_000);
  assert.deepEqual(w.fatal, []);
});

test('a cron job updated through the API is rescheduled with its new id; running false unschedules it', async (t) => {
  const { job, group } = await cronGroup(m.url);
  const w = await startWorker(m.url, group);
  t.after(() => w.stop());
  await waitFor('the job to be scheduled', async () => w.worker.scheduler.scheduled()[job] === 1, 8000);

  assertStatus(await call(m.url, 'PUT', `/api/v2/cron_jobs/${job}/update`, { body: { schedule: '*/3 * * * * *' } }), 202);
  await waitFor('the job to be rescheduled', async () => w.worker.scheduler.scheduled()[job] === 2, 8000);
  const next = w.worker.scheduler.nextRun(job);
  assert.ok(next !== undefined && (next / 1000) % 3 === 0, `next run on a multiple of 3 s: ${next}`);
  const run = await waitFor(
    'a run of the new schedule',
    async () => (await cronContainersOf(job)).find((c) => c.labels['nebula.cron_job_id'] === '2'),
    8000,
  );
  assert.equal(epochOf(job, run.name) % 3, 0);

  assertStatus(await call(m.url, 'PUT', `/api/v2/cron_jobs/${job}/update`, { body: { running: false } }), 202);
  await waitFor('the job to be unscheduled', async () => w.worker.scheduler.scheduled()[job] === undefined, 8000);
  assert.equal(w.worker.state.applied().cron_jobs[job]?.cron_job_id, 3);
  assert.deepEqual(w.fatal, []);
});
