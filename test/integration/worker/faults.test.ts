// Faults under a running worker, each ending converged with nothing lost: the Docker engine
// restarted (a real dockerd restart, started again as test/services/docker.sh starts it), the
// manager unreachable for about two minutes (the worker's backoff reaches its cap), and the
// disk under the worker's state directory full (a small tmpfs, filled for real).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, type TestManager } from '../../helpers/manager.ts';
import { ROOT } from '../../helpers/ports.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { assertUnique, drainAndStop, reporting, reportsOf, type StoredReportDoc } from '../../helpers/reports.ts';
import { WEB_1, WEB_2, containersOf, httpText, tempDir, waitFor } from '../../helpers/worker.ts';
import { allServe, api, defer, docker, freePorts, range, workerSuite } from '../../helpers/worker-fixtures.ts';
import { isRunning, logLines, quietFor, snapshot, spawnWorkerProcess, startLoggedWorker, stopProcess, type Proc } from '../../helpers/worker-process.ts';

let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager));

const serves = (port: number, version: string) => async () => (await httpText(port)) === version;

function stateDir(): string {
  const dir = tempDir('nebula-worker-faults-');
  cleanups.push(dir.remove);
  return dir.dir;
}

// ---- the Docker engine ------------------------------------------------------------------------

const DOCKER_SH = join(ROOT, 'test/services/docker.sh');
let engineStopped = false;

/** The running dockerd's pid, from the services script's pid file or dockerd's own. */
function dockerdPid(): number {
  for (const file of ['/tmp/nebula-dockerd.pid', '/var/run/docker.pid']) {
    try {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd') return pid;
    } catch {
      // no such file or process
    }
  }
  throw new Error('no dockerd found through /tmp/nebula-dockerd.pid or /var/run/docker.pid: this test restarts the engine started by test/services/docker.sh');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the engine as `npm run services` does; the script does nothing when one answers already. */
function startEngine(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [DOCKER_SH], { timeout: 150_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${DOCKER_SH}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout).trim());
    });
  });
}

async function engineAnswers(): Promise<boolean> {
  return docker('version', '--format', '{{.Server.Version}}').then(
    () => true,
    () => false,
  );
}

/** Other suites depend on the engine: whatever happened, it answers again when this returns. */
async function ensureEngine(): Promise<void> {
  if (!engineStopped && (await engineAnswers())) return;
  await startEngine();
  engineStopped = false;
}

// A test process that ends mid-restart (a timeout, an exception) still brings the engine back.
process.once('exit', () => {
  if (engineStopped) execFileSync('bash', [DOCKER_SH], { stdio: 'ignore', timeout: 150_000 });
});

test('the Docker engine restarted under a running worker: the worker keeps running, the containers come back, a change made meanwhile is followed, no duplicates', async (t) => {
  const [still, changed] = [uniq('still'), uniq('web')];
  made.push(still, changed);
  const stillPort = await freePorts(1);
  const changedPorts = range(await freePorts(2), 2);
  await api.createApp(m.url, still, { docker_image: WEB_1, starting_ports: [{ [stillPort]: '80' }] });
  await api.createApp(m.url, changed, { docker_image: WEB_1, starting_ports: [{ [changedPorts[0]!]: '80' }], containers_per: { server: 2 } });
  const group = uniq('dg');
  await api.createGroup(m.url, group, [still, changed]);
  // The default engine grace period (60 s), as `nebula worker` runs with.
  const w = await startLoggedWorker(m.url, group, { stateDir: stateDir() });
  defer(t, () => w.stop());
  defer(t, ensureEngine);
  await waitFor('web:1 to serve on every port', async () => (await serves(stillPort, '1')()) && allServe(changedPorts, '1'), 30_000);
  const [before] = await containersOf(still);

  // dockerd stops as on `systemctl restart docker`: its containers are stopped with it.
  const restartedAt = Date.now();
  const pid = dockerdPid();
  engineStopped = true;
  process.kill(pid, 'SIGTERM');
  await waitFor('dockerd to exit', async () => !alive(pid), 90_000, 200);
  const stoppedMs = Date.now() - restartedAt;

  // A change while the engine is down: the worker takes it, and cannot apply it yet.
  await api.updateApp(m.url, changed, { docker_image: WEB_2 });
  await waitFor('the worker to take the change', async () => w.worker.state.desired().info?.apps.find((a) => a.app_name === changed)?.app_id === 2, 10_000);
  await waitFor('the worker to find the engine gone', async () => w.logged('the Docker engine is unreachable').length > 0, 10_000);

  const started = await startEngine();
  engineStopped = false;
  const downMs = Date.now() - restartedAt;
  await waitFor('web:2 to serve on both ports, web:1 on the other', async () => (await serves(stillPort, '1')()) && allServe(changedPorts, '2'), 60_000);
  const convergedMs = Date.now() - restartedAt;

  // Converged and stable: each container once, the change applied, nothing failed, no fatal.
  await quietFor(3000);
  const stillNow = await containersOf(still);
  const changedNow = await containersOf(changed);
  assert.deepEqual(stillNow.map((c) => [c.name, c.state]), [[`${still}-1`, 'running']]);
  assert.deepEqual(changedNow.map((c) => [c.name, c.state, c.labels['nebula.app_id']]), [
    [`${changed}-1`, 'running', '2'],
    [`${changed}-2`, 'running', '2'],
  ]);
  assert.ok(await allServe(changedPorts, '2'));
  assert.deepEqual(w.fatal, [], 'the worker kept running through the restart');
  assert.deepEqual([...w.worker.executor.failed().keys()], []);
  const down = w.logged('the Docker engine is unreachable');
  assert.equal(down[0]?.level, 50);
  assert.ok(down.every((l) => Number(l.down_ms) < 60_000), 'within the engine grace period');
  t.diagnostic(
    `dockerd stopped in ${stoppedMs} ms, answered again after ${downMs} ms (${started}); converged after ${convergedMs} ms; ` +
      `the unchanged container ${stillNow[0]?.id === before?.id ? 'came back under its restart policy' : 'was recreated by the worker'}`,
  );
});

// ---- the manager, unreachable ------------------------------------------------------------------

/**
 * A TCP relay between the worker and the manager that the test cuts (open connections reset,
 * new ones refused) and restores on the same port: a real network fault. The manager itself
 * keeps running, so that a change can be made while the device cannot reach it.
 */
class Relay {
  port = 0;
  private readonly target: number;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(target: number) {
    this.target = target;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async open(): Promise<this> {
    const server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.pipe(upstream).pipe(client);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async cut(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const closed = once(server, 'close');
    server.close();
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

const OUTAGE_MS = 120_000;

test('the manager unreachable for two minutes: containers untouched, reports spooled then delivered exactly once, a change made meanwhile followed at the first retry', async (t) => {
  const port = await freePorts(1);
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] });
  await api.createGroup(m.url, group, [app]);
  const relay = await new Relay(Number(new URL(m.url).port)).open();
  defer(t, () => relay.cut());
  const device = uniq('till');
  const w = await startLoggedWorker(relay.url, group, { stateDir: stateDir(), overrides: reporting(device) });
  defer(t, () => w.stop());
  await waitFor('web:1 to serve', serves(port, '1'));
  await waitFor('a report of the app running', async () => (await reportsOf(m.url, device)).some((r) => (r.apps_state as any)?.[app]?.state === 'running'));
  const before = await snapshot(app);

  const downAt = Date.now();
  await relay.cut();
  await waitFor('the worker to find the manager unreachable', async () => w.logged('manager unreachable').length > 0, 10_000);
  await api.updateApp(m.url, app, { docker_image: WEB_2 });
  // The whole outage: the same container, never restarted, serving all along.
  let checks = 0;
  while (Date.now() - downAt < OUTAGE_MS) {
    assert.deepEqual(await snapshot(app), before, `the container was touched ${Math.round((Date.now() - downAt) / 1000)} s into the outage`);
    assert.equal(await httpText(port), '1');
    checks += 1;
    await quietFor(Math.min(5000, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
  }
  const retries = w.logged('manager unreachable');
  const waits = retries.map((l) => Number(l.retry_ms));
  const spooledMeanwhile = w.worker.state.spoolPeek(10_000).map((r) => (JSON.parse(r.report) as { report_id: string }).report_id);
  // Backoff: a handful of attempts in two minutes (not one a check-in), the waits up to the 60 s cap.
  assert.ok(retries.length >= 5 && retries.length <= 12, `${retries.length} attempts in ${OUTAGE_MS} ms: ${waits.join(', ')} ms`);
  assert.ok(Math.max(...waits) >= 30_000 && Math.max(...waits) <= 60_000, `retry waits ${waits.join(', ')} ms`);
  assert.ok(spooledMeanwhile.length >= 10, `${spooledMeanwhile.length} reports spooled during the outage`);
  assert.deepEqual(w.fatal, []);

  await relay.open();
  const upAt = Date.now();
  await waitFor('web:2 to serve once the manager is reachable', serves(port, '2'), 75_000, 250);
  const followedMs = Date.now() - upAt;
  // The worker's first attempt after the outage was due when its last announced wait ended.
  const last = w.logged('manager unreachable').filter((l) => Number(l.time) <= upAt).at(-1)!;
  const nextAttemptAt = Number(last.time) + Number(last.retry_ms);
  assert.ok(Date.now() <= Math.max(upAt, nextAttemptAt) + 10_000, `followed ${followedMs} ms after the manager was back; the worker's retry was due ${nextAttemptAt - upAt} ms after`);
  assert.deepEqual((await containersOf(app)).map((c) => [c.state, c.labels['nebula.app_id']]), [['running', '2']]);

  // Reports: the spool drains (its own backoff has the same 60 s cap), each stored exactly once.
  await waitFor('the spool to drain', async () => w.worker.state.spoolSize() === 0, 75_000, 250);
  const { made: madeCount, left } = await drainAndStop(w);
  const stored = await reportsOf(m.url, device);
  const ids = assertUnique(stored);
  for (const id of spooledMeanwhile) assert.ok(ids.has(id), `report ${id}, spooled during the outage, was not delivered`);
  for (const id of left) assert.ok(!ids.has(id));
  assert.equal(stored.length + left.length, madeCount, `the worker made ${madeCount} reports (${left.length} still spooled), the manager stored ${stored.length}`);
  t.diagnostic(
    `${retries.length} attempts during the outage (waits ${waits.join(', ')} ms); ${checks} checks of the container; ` +
      `${spooledMeanwhile.length} reports spooled; the change followed ${followedMs} ms after the manager was back (retry due after ${nextAttemptAt - upAt} ms)`,
  );
});

// ---- a full disk -------------------------------------------------------------------------------

test('a full disk under the state directory: the worker says so, reports it, keeps the containers and follows changes; once space is freed its state is written again', async (t) => {
  // A real fault: the state dir is an 8 MiB tmpfs that we fill up (needs root, as CI has).
  const mountPoint = mkdtempSync(join(tmpdir(), 'nebula-worker-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint]);
  cleanups.push(() => {
    execFileSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  const filler = join(mountPoint, 'filler');
  const port = await freePorts(1);
  const app = uniq('web');
  const group = uniq('dg');
  made.push(app);
  await api.createApp(m.url, app, { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] });
  await api.createGroup(m.url, group, [app]);
  const device = uniq('till');
  const args = ['--device-group', group, '--manager-url', m.url, '--state-dir', mountPoint, '--check-in-time', '1', '--long-poll-wait', '5'];
  args.push('--rolling-settle', '1', '--log-level', 'info', '--report-transport', 'http', '--report-min-interval', '0', '--device-name', device);
  const spawn = (): Proc => {
    const proc = spawnWorkerProcess(args, { NEBULA_MANAGER_AUTH_TOKEN: ADMIN_TOKEN });
    defer(t, () => stopProcess(proc));
    return proc;
  };
  let w = spawn();
  await waitFor('web:1 to serve', serves(port, '1'));
  await waitFor('a report of the app running', async () => (await reportsOf(m.url, device)).some((r) => (r.apps_state as any)?.[app]?.state === 'running'));
  const before = await snapshot(app);

  try {
    execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    // dd ends with ENOSPC: the disk is full, as intended.
  }
  const full = await waitFor('an error line about the full disk', async () => logLines(w.output()).find((l) => l.level === 50 && /disk full/.test(String(l.msg))), 15_000).catch(
    (err: Error) => assert.fail(`${err.message}; the worker ${isRunning(w) ? 'runs' : 'ended'} and said:\n${w.output().slice(-3000)}`),
  );
  assert.equal(full.state_dir, mountPoint);
  const isDiskReport = (r: StoredReportDoc) => /disk full/.test(String((r.last_error as { message?: string } | null)?.message));
  await waitFor('a report telling the full disk', async () => (await reportsOf(m.url, device)).some(isDiskReport), 15_000);
  assert.deepEqual(await snapshot(app), before, 'the container untouched');
  // Changes are still followed, from the state kept in memory.
  await api.updateApp(m.url, app, { docker_image: WEB_2 });
  await waitFor('web:2 to serve while the disk is full', serves(port, '2'), 20_000);
  assert.ok(isRunning(w), `the worker ended:\n${w.output().slice(-3000)}`);
  const during = await snapshot(app);

  rmSync(filler);
  await waitFor('the worker to write its state again', async () => w.output().includes('the worker state is written again'), 10_000);
  await waitFor('a report without the disk problem', async () => {
    const latest = (await reportsOf(m.url, device)).at(-1);
    return latest !== undefined && latest.last_error === null;
  }, 15_000);

  // Nothing was lost: restarted on that state, the worker restarts no container (web:2 was
  // written as applied), then follows the next change.
  assert.equal(await stopProcess(w, 'SIGTERM'), 0);
  w = spawn();
  await waitFor('the restarted worker to start', async () => w.output().includes('nebula worker started'), 10_000);
  await quietFor(3000);
  assert.deepEqual(await snapshot(app), during, 'no container restarted after the restart');
  await api.updateApp(m.url, app, { docker_image: WEB_1 });
  await waitFor('web:1 to serve again', serves(port, '1'), 20_000);
  assert.deepEqual((await containersOf(app)).map((c) => [c.state, c.labels['nebula.app_id']]), [['running', '3']]);
  assertUnique(await reportsOf(m.url, device));
  assert.ok(isRunning(w));
});
