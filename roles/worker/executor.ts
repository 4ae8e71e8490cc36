// Runs a plan's steps against the engine. Steps are grouped by app and each app is its own
// failure domain: an app that cannot be applied is marked failed with its reason and
// retried with backoff, while every other app goes on. Only an unreachable engine or an
// unwritable state file escapes (they threaten everything, and end the worker).

import { appContainerSpec, configHash, networkPlan } from '../../src/diff/containers.ts';
import type { Step } from '../../src/diff/types.ts';
import { StoreFatalError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { backoffMs, type Clock } from '../../src/clock.ts';
import type { AppDoc } from '../../src/model/app.ts';
import { EngineUnavailableError, type Engine } from './engine.ts';
import type { RegistryAuths } from './registry.ts';
import type { CronScheduler } from './cron.ts';
import type { WorkerState } from './state.ts';
import type { RestartReason } from './metrics.ts';

export interface AppFailure {
  reason: string;
  attempts: number;
  retryAt: number;
  /** What was attempted: a different plan for the app (a new config) is tried at once. */
  attempt: string;
}

/** What an app's steps try to reach: its configs and images (a retry of the same is not new). */
function attemptOf(steps: Step[]): string {
  const targets = new Set<string>();
  for (const s of steps) {
    if ('config' in s) targets.add(configHash(s.config));
    else if (s.type === 'pull') targets.add(s.image);
    else if (s.type === 'app-error') targets.add(s.reason);
  }
  return [...targets].sort().join(',');
}

export interface ExecutorDeps {
  engine: Engine;
  registry: RegistryAuths;
  scheduler: CronScheduler;
  state: WorkerState;
  log: Logger;
  clock: Clock;
  maxRestartWaitSeconds: number;
  rollingSettleSeconds: number;
  signal?: AbortSignal;
  /** Told of each container restarted or replaced (the metrics). */
  restarted?: (app: string, reason: RestartReason) => void;
}

const RETRY_BASE_MS = 5_000;
const RETRY_CAP_MS = 5 * 60_000;
const PORT_RETRIES = 5;

/** Why a step that ran restarted a container (null: it restarted none); `replaced`: why the app's containers are replaced. */
function restartOf(step: Step, replaced: RestartReason): RestartReason | null {
  if (step.type === 'start') return 'stopped';
  if (step.type === 'replace' || (step.type === 'remove' && step.reason === 'outdated')) return replaced;
  return null;
}

/** Errors that are about the whole worker, not one app. */
function isFatal(err: unknown): boolean {
  return err instanceof EngineUnavailableError || err instanceof StoreFatalError;
}

export class Executor {
  private readonly deps: ExecutorDeps;
  private readonly failures = new Map<string, AppFailure>();

  constructor(deps: ExecutorDeps) {
    this.deps = deps;
  }

  failed(): ReadonlyMap<string, AppFailure> {
    return this.failures;
  }

  /**
   * `reasons`: why each app's outdated containers are replaced (restartReasonOf), for
   * deps.restarted; 'outdated' for an app not in it.
   */
  async run(steps: Step[], reasons: ReadonlyMap<string, RestartReason> = new Map()): Promise<void> {
    const byApp = new Map<string, Step[]>();
    for (const step of steps) {
      switch (step.type) {
        case 'ensure-network':
          // If it cannot be made, each app that needs it fails on its own (see create()).
          await this.deps.engine.ensureNetwork(step.network).catch((err: unknown) => {
            if (isFatal(err)) throw err;
            this.deps.log.error({ network: step.network, err: (err as Error).message }, 'cannot create the network');
          });
          break;
        case 'schedule-cron':
          await this.deps.scheduler.schedule(step.config);
          break;
        case 'unschedule-cron':
          this.deps.scheduler.unschedule(step.cronJob);
          break;
        case 'prune-images':
          break; // after the apps, below
        default:
          byApp.set(step.app, [...(byApp.get(step.app) ?? []), step]);
      }
    }
    for (const [app, appSteps] of byApp) await this.runApp(app, appSteps, reasons.get(app) ?? 'outdated');
    if (steps.some((s) => s.type === 'prune-images')) await this.prune();
    // Apps no longer planned for (removed, or healthy again) are not failed any more.
    for (const app of this.failures.keys()) if (!byApp.has(app)) this.recovered(app);
  }

  private async prune(): Promise<void> {
    try {
      const removed = await this.deps.engine.pruneImages();
      this.deps.state.record({ at: this.deps.clock.now(), kind: 'pruned', subject: 'images', detail: `${removed} images removed` });
      this.deps.log.info({ removed }, 'pruned unused images');
    } catch (err) {
      if (isFatal(err)) throw err;
      this.deps.log.error({ err: (err as Error).message }, 'image prune failed');
    }
  }

  private async runApp(app: string, steps: Step[], reason: RestartReason): Promise<void> {
    const failure = this.failures.get(app);
    const attempt = attemptOf(steps);
    if (failure && failure.attempt === attempt && this.deps.clock.now() < failure.retryAt) return;
    try {
      for (const step of steps) {
        if (this.deps.signal?.aborted) return; // stopping: the next start picks up from here
        await this.runStep(step);
        const restart = restartOf(step, reason);
        if (restart !== null) this.deps.restarted?.(app, restart);
      }
      this.recovered(app);
    } catch (err) {
      if (isFatal(err)) throw err;
      this.fail(app, (err as Error).message, attempt);
    }
  }

  private fail(app: string, reason: string, attempt: string): void {
    const previous = this.failures.get(app);
    const attempts = previous?.attempt === attempt ? previous.attempts + 1 : 1;
    const retryAt = this.deps.clock.now() + backoffMs(attempts - 1, RETRY_BASE_MS, RETRY_CAP_MS, this.deps.clock.random);
    this.failures.set(app, { reason, attempts, retryAt, attempt });
    if (previous?.reason !== reason) {
      this.deps.state.record({ at: this.deps.clock.now(), kind: 'app-failed', subject: app, detail: reason });
    }
    this.deps.log.error({ app, reason, attempts }, 'app failed: retrying later; other apps go on');
  }

  private recovered(app: string): void {
    if (!this.failures.delete(app)) return;
    this.deps.state.record({ at: this.deps.clock.now(), kind: 'app-recovered', subject: app, detail: '' });
    this.deps.log.info({ app }, 'app recovered');
  }

  private async runStep(step: Step): Promise<void> {
    const { engine, log } = this.deps;
    switch (step.type) {
      case 'app-error':
        throw new Error(step.reason);
      case 'pull':
        return this.pull(step.image, step.always);
      case 'jitter': {
        const ms = Math.floor(this.deps.clock.random() * this.deps.maxRestartWaitSeconds * 1000);
        if (ms > 0) await this.deps.clock.sleep(ms, this.deps.signal);
        return;
      }
      case 'remove':
        log.info({ app: step.app, container: step.name, reason: step.reason }, 'removing container');
        return engine.remove(step.containerId);
      case 'start':
        log.info({ app: step.app, container: step.name }, 'starting stopped container');
        return engine.start(step.containerId);
      case 'create':
        await this.create(step.config, step.index);
        return;
      case 'replace': {
        log.info({ app: step.app, container: step.name }, 'rolling restart: replacing container');
        await engine.remove(step.containerId);
        await this.create(step.config, step.index);
        if (this.deps.rollingSettleSeconds > 0) await this.deps.clock.sleep(this.deps.rollingSettleSeconds * 1000, this.deps.signal);
        return;
      }
      default:
        throw new Error(`step ${step.type} is not an app step`);
    }
  }

  /** `always`: pull, falling back to a local copy when the registry cannot be reached. */
  private async pull(image: string, always: boolean): Promise<void> {
    const { engine, registry, log } = this.deps;
    if (!always && (await engine.imageExists(image))) return;
    try {
      await engine.pull(image, registry.for(image));
    } catch (err) {
      if (isFatal(err)) throw err;
      if (await engine.imageExists(image)) {
        log.warn({ image, err: (err as Error).message }, 'pull failed: using the local image');
        return;
      }
      throw new Error(`cannot pull ${image}: ${(err as Error).message}`);
    }
  }

  private async create(app: AppDoc, index: number): Promise<void> {
    const spec = appContainerSpec(app, index);
    if (networkPlan(app.networks).mode === 'nebula') await this.deps.engine.ensureNetwork('nebula');
    for (const network of spec.connect) {
      if (!(await this.deps.engine.networkExists(network))) throw new Error(`network ${network} does not exist on this device`);
    }
    let id: string;
    for (let attempt = 1; ; attempt++) {
      try {
        id = await this.deps.engine.run(spec);
        break;
      } catch (err) {
        // The engine frees a removed container's host ports asynchronously: a re-create on the
        // same port can race it. Wait a moment and try again before calling the app failed.
        if (attempt >= PORT_RETRIES || !/port is already allocated|address already in use/i.test((err as Error).message)) throw err;
        await this.deps.clock.sleep(500 * attempt, this.deps.signal);
      }
    }
    this.deps.log.info({ app: app.app_name, container: spec.name, id: id.slice(0, 12), app_id: app.app_id }, 'container started');
  }
}
