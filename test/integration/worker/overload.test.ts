// A real worker against a real manager that sheds its long-polls (max_long_polls reached):
// the worker waits at least the manager's Retry-After between attempts (not its own 1–2 s
// backoff), keeps its containers, and follows the config once the manager takes it again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, call, type TestManager } from '../../helpers/manager.ts';
import { freePort } from '../../helpers/process.ts';
import { assertStatus, uniq } from '../../helpers/fixtures.ts';
import { WEB_1, containersOf, httpText, tempDir, waitFor } from '../../helpers/worker.ts';
import { LABELS } from '../../../src/diff/containers.ts';
import { workerSuite } from '../../helpers/worker-fixtures.ts';
import { spawnWorkerProcess, stopProcess } from '../../helpers/worker-process.ts';
import { request } from 'node:http';

const MAX_LONG_POLLS = 1;
let m: TestManager;
const { made, cleanups } = workerSuite((manager) => (m = manager), {
  config: { overload: { maxEventLoopDelayMs: 1000, maxInFlight: 1024, maxLongPolls: MAX_LONG_POLLS, authFailuresPerMinute: 0 } },
});

/** Holds the manager's only long-poll slot until aborted. */
function holdSlot(group: string, etag: string): () => void {
  const req = request(`${m.url}/api/v2/device_groups/${group}/info?wait=60`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'if-none-match': etag }, agent: false }, (res) => res.resume());
  req.on('error', () => undefined);
  req.end();
  return () => req.destroy();
}

test('shed long-polls: the worker comes back no sooner than Retry-After, keeps its container, then follows a change', async (t) => {
  const port = await freePort();
  const app = uniq('shedweb');
  const group = uniq('sheddg');
  made.push(app);
  assertStatus(await call(m.url, 'POST', `/api/v2/apps/${app}`, { body: { docker_image: WEB_1, starting_ports: [{ [port]: '80' }] } }), 200);
  assertStatus(await call(m.url, 'POST', `/api/v2/device_groups/${group}`, { body: { apps: [app] } }), 200);
  const etag = (await call(m.url, 'GET', `/api/v2/device_groups/${group}/info`)).headers.get('etag')!;
  const release = holdSlot(group, etag);
  t.after(release);
  await waitFor('the test to hold the only long-poll slot', async () => m.manager.load.load.long_polls === MAX_LONG_POLLS, 5000);

  // Note when each long-poll is shed, from before the worker starts.
  const shedAt: number[] = [];
  let seen = m.manager.load.shed.long_polls;
  const sampler = setInterval(() => {
    for (const now = m.manager.load.shed.long_polls; seen < now; seen++) shedAt.push(Date.now());
  }, 20);
  t.after(() => clearInterval(sampler));

  const state = tempDir('nebula-worker-shed-');
  cleanups.push(state.remove);
  const proc = spawnWorkerProcess(
    ['--device-group', group, '--manager-url', m.url, '--state-dir', state.dir, '--check-in-time', '1', '--long-poll-wait', '30', '--log-level', 'info'],
    { NEBULA_MANAGER_AUTH_TOKEN: ADMIN_TOKEN },
  );
  t.after(() => stopProcess(proc));
  // The first /info (no ETag yet) is a plain GET and is served: the app starts. Every long-poll
  // after it is shed (503, Retry-After 5–10 s); the worker's own backoff would come back after
  // 1–2 s, then 2–4 s.
  await waitFor('the app to serve', async () => (await httpText(port)) === '1', 60_000);
  await waitFor('three shed long-polls', async () => shedAt.length >= 3, 45_000);
  clearInterval(sampler);
  const gaps = shedAt.slice(1).map((at, i) => at - shedAt[i]!);
  for (const gap of gaps) assert.ok(gap >= 4900, `a retry ${gap} ms after a 503 with Retry-After ≥ 5 s\n${proc.output()}`);
  assert.equal(await httpText(port), '1', 'the container keeps serving while the manager sheds');

  // The slot is free again: the worker's next long-poll is held, and a change reaches it.
  release();
  assertStatus(await call(m.url, 'PUT', `/api/v2/apps/${app}/update`, { body: { env_vars: { SHED: 'over' } } }), 202);
  await waitFor('the worker to replace the container with the changed app (app_id 2)', async () => {
    const containers = await containersOf(app);
    return containers.length === 1 && containers[0]!.labels[LABELS.appId] === '2' && (await httpText(port)) === '1';
  }, 30_000);
  const lines = proc.output().split('\n').filter((l) => l.includes('"retry_ms"'));
  assert.ok(lines.length >= 1, proc.output());
  for (const line of lines) assert.ok(Number(JSON.parse(line).retry_ms) >= 5000, line);
});
