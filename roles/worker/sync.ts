// The sync loop: fetch the group's config (long-poll with our manager, plain polling with
// the original), persist it, plan against what the engine runs, execute. While the manager
// is unreachable nothing is torn down: the worker keeps the last config and retries with
// jittered backoff. An engine that stays unreachable ends the worker (systemd restarts it).

import { backoffMs, retryPauseMs, type Clock } from '../../src/clock.ts';
import { ManagerUnavailableError, type ManagerClient } from '../../src/client/manager.ts';
import { LABELS, indexOf } from '../../src/diff/containers.ts';
import { plan } from '../../src/diff/plan.ts';
import type { HostFacts, ObservedContainer } from '../../src/diff/types.ts';
import type { Logger } from '../../src/log.ts';
import type { CronScheduler } from './cron.ts';
import { EngineUnavailableError, type Engine, type EngineContainer } from './engine.ts';
import type { Executor } from './executor.ts';
import type { WorkerState } from './state.ts';
import { restartReasons } from './metrics.ts';

export interface SyncDeps {
  deviceGroup: string;
  client: ManagerClient;
  state: WorkerState;
  engine: Engine;
  executor: Executor;
  scheduler: CronScheduler;
  log: Logger;
  clock: Clock;
  host: { cpuCores: number; memoryMb: number };
  checkInMs: number;
  longPollWaitSeconds: number;
  /** How long the engine may stay unreachable before the worker gives up. */
  engineGraceMs: number;
  onFatal: (err: unknown) => void;
  /** Called after every reconcile that completed (reporting listens). */
  onReconciled?: () => void;
}

export function observe(containers: EngineContainer[]): ObservedContainer[] {
  const out: ObservedContainer[] = [];
  for (const c of containers) {
    const app = c.labels[LABELS.appName];
    if (!app) continue;
    const appId = Number(c.labels[LABELS.appId]);
    out.push({
      id: c.id,
      name: c.name,
      app,
      // Never started ('created'): a worker killed between create and start left it half-made
      // (not yet connected to its other networks). Taken as of unknown origin, it is replaced.
      appId: Number.isInteger(appId) && c.state !== 'created' ? appId : 0,
      index: indexOf(app, c.name),
      config: c.labels[LABELS.config] ?? '',
      running: c.state === 'running' || c.state === 'restarting',
    });
  }
  return out;
}

export class SyncLoop {
  private readonly deps: SyncDeps;
  private readonly abort = new AbortController();
  private reconciling: Promise<void> = Promise.resolve();
  private lastReconcile = 0;
  private engineDownSince: number | null = null;
  private failures = 0;
  /** Does the manager speak ETag/long-poll? Learnt from its answers. */
  private longPoll = false;
  private loop: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private fetchedAt: number | null = null;

  constructor(deps: SyncDeps) {
    this.deps = deps;
  }

  /** When the group's config was last fetched (a 200 or a 304); null: not yet. */
  get lastFetchAt(): number | null {
    return this.fetchedAt;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  start(): void {
    this.loop = this.run().catch((err: unknown) => this.deps.onFatal(err));
    // Local checks (containers removed or stopped behind our back, failed apps due for a
    // retry) every check-in, whatever the manager does with the long-poll meanwhile.
    this.timer = setInterval(() => {
      if (this.deps.clock.now() - this.lastReconcile >= this.deps.checkInMs) void this.reconcile().catch(() => undefined);
    }, this.deps.checkInMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort();
    await this.loop;
    await this.reconciling;
  }

  /** Plan against what the engine runs now and execute; one at a time. */
  reconcile(): Promise<void> {
    const next = this.reconciling.then(() => this.reconcileOnce());
    this.reconciling = next.catch(() => undefined);
    return next;
  }

  private async reconcileOnce(): Promise<void> {
    const { state, engine, executor, scheduler, host, clock, log } = this.deps;
    try {
      const applied = state.applied();
      const { info } = state.desired();
      const observed = observe(await engine.listNebula('app'));
      const facts: HostFacts = { ...host, containers: observed };
      const { steps, next } = plan(applied, info, facts, scheduler.scheduled());
      if (steps.length > 0) log.info({ steps: steps.map((s) => ('app' in s ? `${s.type} ${s.app}` : s.type)) }, 'applying changes');
      await executor.run(steps, restartReasons(steps, applied, next));
      state.saveApplied(next);
      await scheduler.cleanup();
      this.engineDownSince = null;
      this.lastReconcile = clock.now();
      this.deps.onReconciled?.();
    } catch (err) {
      if (err instanceof EngineUnavailableError) {
        this.engineDownSince ??= clock.now();
        const down = clock.now() - this.engineDownSince;
        log.error({ err: err.message, down_ms: down }, 'the Docker engine is unreachable');
        if (down >= this.deps.engineGraceMs) this.deps.onFatal(err);
        return;
      }
      this.deps.onFatal(err);
    }
  }

  private async run(): Promise<void> {
    const { client, state, log, clock, deviceGroup } = this.deps;
    const signal = this.abort.signal;
    // Offline start: bring back what the saved config says before asking anyone.
    await this.reconcile();
    while (!signal.aborted) {
      const { etag } = state.desired();
      let pause = this.deps.checkInMs;
      try {
        const wait = this.longPoll && etag ? this.deps.longPollWaitSeconds : 0;
        const result = await client.info(deviceGroup, { etag, waitSeconds: wait, signal });
        this.failures = 0;
        if (result.kind === 'changed' || result.kind === 'unchanged') this.fetchedAt = clock.now();
        if (result.kind === 'changed') {
          this.longPoll = result.etag !== null && this.deps.longPollWaitSeconds > 0;
          state.saveDesired(result.info, result.etag);
          await this.reconcile();
        } else if (result.kind === 'unchanged') {
          // A 304 means the manager speaks ETags: long-poll from now on (also after a restart).
          this.longPoll = this.deps.longPollWaitSeconds > 0;
        } else if (result.kind === 'missing') {
          log.warn({ device_group: deviceGroup }, 'the device group does not exist on the manager: keeping the current config');
        } else {
          log.error({ status: result.status, code: result.code }, 'the manager refused the worker: check its credentials and permissions');
        }
        if (this.longPoll && (result.kind === 'changed' || result.kind === 'unchanged')) pause = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (!(err instanceof ManagerUnavailableError)) throw err;
        this.failures += 1;
        // A manager shedding load (429/503 with Retry-After) is not asked again before it said.
        pause = retryPauseMs(backoffMs(this.failures, 1000, Math.max(this.deps.checkInMs, 60_000), clock.random), err.retryAfterMs, clock.random);
        log.warn({ err: err.message, retry_ms: pause }, 'manager unreachable: containers keep running, retrying');
      }
      if (pause > 0) await clock.sleep(pause, signal);
    }
  }
}
