// Restarts app containers that Docker reports unhealthy (plain Docker only reports it),
// with an exponential cool-off per container and a cap, and records each restart. Also
// notices the restarts the engine made itself (a crashed container, its restart policy).

import { LABELS } from '../../src/diff/containers.ts';
import type { Clock } from '../../src/clock.ts';
import type { Logger } from '../../src/log.ts';
import type { Engine } from './engine.ts';
import type { WorkerState } from './state.ts';
import type { RestartReason } from './metrics.ts';

export interface HealthDeps {
  engine: Engine;
  state: WorkerState;
  log: Logger;
  clock: Clock;
  coolOffBaseMs?: number;
  coolOffCapMs?: number;
  /** Told of each restart: the monitor's (unhealthy) and the engine's it noticed (crashed). */
  restarted?: (app: string, reason: RestartReason, count?: number) => void;
}

interface Restarts {
  count: number;
  lastAt: number;
}

export class HealthMonitor {
  private readonly deps: HealthDeps;
  private readonly restarts = new Map<string, Restarts>();
  /** The engine's restart count of each app container when last inspected. */
  private readonly engineRestarts = new Map<string, number>();
  /**
   * The containers the first pass listed (null before it): their restarts before they were
   * first inspected predate this worker and are not counted. Any later container is new, its
   * count starts at 0.
   */
  private preexisting: Set<string> | null = null;

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
    const listed = new Set<string>();
    const containers = await engine.listNebula('app');
    this.preexisting ??= new Set(containers.map((c) => c.id));
    for (const c of containers) {
      listed.add(c.id);
      if (c.state !== 'running') continue;
      seen.add(c.id);
      let health;
      try {
        health = await engine.health(c.id);
      } catch (err) {
        if ((err as Error).name === 'EngineUnavailableError') throw err;
        continue; // gone meanwhile
      }
      this.noticeEngineRestarts(c.id, c.labels[LABELS.appName] ?? '', health.restartCount);
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
      this.deps.restarted?.(c.labels[LABELS.appName] ?? '', 'unhealthy');
      log.warn({ app: c.labels[LABELS.appName], container: c.name, restarts: count, reason }, 'restarted an unhealthy container');
    }
    for (const id of this.restarts.keys()) if (!seen.has(id)) this.restarts.delete(id);
    for (const id of this.engineRestarts.keys()) if (!listed.has(id)) this.engineRestarts.delete(id);
    for (const id of this.preexisting) if (!listed.has(id)) this.preexisting.delete(id);
    return restarted;
  }

  /** The engine's restarts of a container since it was last inspected, or since it was made. */
  private noticeEngineRestarts(id: string, app: string, restartCount: number): void {
    const before = this.engineRestarts.get(id) ?? (this.preexisting?.has(id) ? restartCount : 0);
    this.engineRestarts.set(id, restartCount);
    if (restartCount > before) this.deps.restarted?.(app, 'crashed', restartCount - before);
  }
}

