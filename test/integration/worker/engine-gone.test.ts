// The Docker engine's socket disappearing under a running worker is a real fault we can make:
// the worker talks to the engine through a unix-socket relay that the test then removes.
// The containers keep running; the worker ends itself once the engine stays gone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../../src/log.ts';
import { Engine } from '../../../roles/worker/engine.ts';
import { createWorker } from '../../../roles/worker/index.ts';
import { WorkerState } from '../../../roles/worker/state.ts';
import { call, startManager } from '../../helpers/manager.ts';
import { uniq } from '../../helpers/fixtures.ts';
import { SOCKET, WEB_1, containersOf, removeContainers, tempDir, waitFor, workerConfig } from '../../helpers/worker.ts';

test('an engine that stays unreachable ends the worker; its containers keep running', async (t) => {
  const m = await startManager();
  const dir = tempDir('nebula-engine-gone-');
  const app = uniq('gone');
  t.after(async () => {
    await removeContainers([app]);
    await m.close();
    dir.remove();
  });

  // A relay socket in front of the real engine.
  const relayPath = join(dir.dir, 'docker.sock');
  const open = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(SOCKET);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  relay.listen(relayPath);
  await once(relay, 'listening');

  await call(m.url, 'POST', `/api/v2/apps/${app}`, { body: { docker_image: WEB_1 } });
  const group = uniq('dg');
  await call(m.url, 'POST', `/api/v2/device_groups/${group}`, { body: { apps: [app] } });

  const fatal: unknown[] = [];
  const state = WorkerState.open(join(dir.dir, 'state'));
  const { engine } = await Engine.connect(relayPath);
  const worker = createWorker({
    config: workerConfig(m.url, group, join(dir.dir, 'state'), { checkInSeconds: 1 }),
    log: createLogger('silent', 'test'),
    engine,
    state,
    onFatal: (err) => fatal.push(err),
    engineGraceMs: 2000,
  });
  t.after(async () => {
    await worker.stop();
    state.close();
  });
  const [running] = await waitFor('the app container', async () => {
    const list = await containersOf(app);
    return list.length === 1 && list[0]?.state === 'running' ? list : undefined;
  });

  // The socket goes away for good.
  relay.close();
  for (const s of open) s.destroy();
  rmSync(relayPath, { force: true });

  await waitFor('the worker to give up on the engine', async () => fatal.length > 0, 15_000);
  assert.equal((fatal[0] as Error).name, 'EngineUnavailableError');
  const after = await containersOf(app);
  assert.deepEqual(after.map((c) => [c.id, c.state]), [[running!.id, 'running']]);
});
