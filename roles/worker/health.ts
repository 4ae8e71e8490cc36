// Restarts app containers that Docker reports unhealthy (plain Docker only reports it),
// with an exponential cool-off per container and a cap, and records each restart.

import { LABELS } from '../../src/diff/containers.ts';
import type { Clock } from '../../src/clock.ts';
import type { Logger } from '../../src/log.ts';
import type { Engine } from './engine.ts';
import type { WorkerState } from './state.ts';

export interface HealthDeps {
  engine: Engine;
  state: WorkerState;
  log: Logger;
  clock: Clock;
  coolOffBaseMs?: number;
  coolOffCapMs?: number;
}

interface Restarts {
  count: number;
  lastAt: number;
}

export class HealthMonitor {
  private readonly deps: HealthDeps;
  private readonly restarts = new Map<string, Restarts>();

  constructor(deps: HealthDeps) {
    this.deps = deps;
  }

  /** One pass over the running app containers; returns the ids it restarted. */
  async checkOnce(): Promise<string[]> {
    const { engine, state, log, clock } = this.deps;
    const base = this.deps.coolOffBaseMs ?? 10_000;
    const cap = this.deps.coolOffCapMs ?? 5 * 60_000;
    const restarted: string[] = [];
    const seen = new Set<string>();
    for (const c of await engine.listNebula('app')) {
      if (c.state !== 'running') continue;
      seen.add(c.id);
      let health;
      try {
        health = await engine.health(c.id);
      } catch (err) {
        if ((err as Error).name === 'EngineUnavailableError') throw err;
        continue; // gone meanwhile
      }
      if (health.health !== 'unhealthy' || !health.running || health.restarting || health.paused || health.dead) {
        if (health.health === 'healthy') this.restarts.delete(c.id);
        continue;
      }
      const previous = this.restarts.get(c.id);
      const now = clock.now();
      // Full cool-off (no jitter): the n-th restart waits base × 2^(n-1), at most cap.
      if (previous && now - previous.lastAt < Math.min(cap, base * 2 ** (previous.count - 1))) continue;
      await engine.restart(c.id);
      const count = (previous?.count ?? 0) + 1;
      this.restarts.set(c.id, { count, lastAt: now });
      restarted.push(c.id);
      const reason = `unhealthy${health.lastHealthOutput ? `: ${health.lastHealthOutput}` : ''}`;
      state.record({ at: now, kind: 'health-restart', subject: c.name, detail: `${reason} (restart ${count})` });
      log.warn({ app: c.labels[LABELS.appName], container: c.name, restarts: count, reason }, 'restarted an unhealthy container');
    }
    for (const id of this.restarts.keys()) if (!seen.has(id)) this.restarts.delete(id);
    return restarted;
  }
}

