// Prometheus metrics of one worker (served by src/metrics/server.ts with --metrics-port):
// how fresh its config is, the ids it applied against those it was given, why it restarted
// containers, its report spool, and Node's process metrics.
//
// Labels are bounded: an object's kind and name (the group's apps and cron jobs), a restart's
// reason from a fixed list. No env value, image, error text or other device's name ever
// becomes a label. The gauges read the worker's state when scraped: nothing is kept twice.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../src/clock.ts';
import { configHash } from '../../src/diff/containers.ts';
import { newRegistry, PREFIX } from '../../src/metrics/registry.ts';
import type { AppliedState, Step } from '../../src/diff/types.ts';
import type { AppDoc } from '../../src/model/app.ts';
import type { ConfigIds } from '../../src/model/report.ts';
import { idsOfApplied, idsOfInfo } from './report.ts';
import type { WorkerState } from './state.ts';

/**
 * Why a container was restarted (or replaced):
 * - image_changed, config_changed: the app's docker_image, or any other setting, changed;
 * - requested: the app restarted through the API (a new app_id, the same config);
 * - outdated: made from another config than the one applied (a change finished after a crash,
 *   containers the worker did not make);
 * - stopped: found stopped (docker stop behind the worker's back) and started again;
 * - crashed: its process ended and the engine restarted it (restart policy);
 * - unhealthy: Docker reported it unhealthy and the health monitor restarted it.
 */
export type RestartReason = 'image_changed' | 'config_changed' | 'requested' | 'outdated' | 'stopped' | 'crashed' | 'unhealthy';

/** Why the containers of an app applied as `before` are replaced to run `after`. */
export function restartReasonOf(before: AppDoc | undefined, after: AppDoc): RestartReason {
  if (before === undefined) return 'outdated';
  if (before.docker_image !== after.docker_image) return 'image_changed';
  if (configHash({ ...before, app_id: 0 }) !== configHash({ ...after, app_id: 0 })) return 'config_changed';
  return before.app_id !== after.app_id ? 'requested' : 'outdated';
}

/** Why the apps whose containers the steps replace are restarted (for the metrics). */
export function restartReasons(steps: Step[], applied: AppliedState, next: AppliedState): Map<string, RestartReason> {
  const reasons = new Map<string, RestartReason>();
  for (const step of steps) {
    if (step.type !== 'replace' && !(step.type === 'remove' && step.reason === 'outdated')) continue;
    if (reasons.has(step.app)) continue;
    const after = Object.hasOwn(next.apps, step.app) ? next.apps[step.app] : undefined;
    if (after !== undefined) reasons.set(step.app, restartReasonOf(Object.hasOwn(applied.apps, step.app) ? applied.apps[step.app] : undefined, after));
  }
  return reasons;
}

/** One sample per object: [kind, name (none for the group's own ids), id]. */
function samplesOf(ids: ConfigIds): [string, string | undefined, number][] {
  return [
    ['device_group', undefined, ids.device_group_id],
    ['prune', undefined, ids.prune_id],
    ...Object.entries(ids.apps).map(([name, id]): [string, string, number] => ['app', name, id]),
    ...Object.entries(ids.cron_jobs).map(([name, id]): [string, string, number] => ['cron_job', name, id]),
  ];
}

/** Objects whose applied id is below the desired one (a desired object not applied at all included). */
export function objectsBehind(applied: ConfigIds, desired: ConfigIds): number {
  const appliedIds = new Map(samplesOf(applied).map(([kind, name, id]) => [`${kind}/${name ?? ''}`, id]));
  return samplesOf(desired).filter(([kind, name, id]) => (appliedIds.get(`${kind}/${name ?? ''}`) ?? -1) < id).length;
}

export interface WorkerMetricsSources {
  /** When the group's config was last fetched (a 200 or a 304); null: not since the worker started. */
  lastFetchAt: () => number | null;
  /** Apps failed now (the executor's). */
  appsFailed: () => number;
}

function setIds(gauge: Gauge<'kind' | 'name'>, ids: ConfigIds): void {
  gauge.reset();
  for (const [kind, name, id] of samplesOf(ids)) gauge.set(name === undefined ? { kind } : { kind, name }, id);
}

export class WorkerMetrics {
  readonly registry: Registry = newRegistry();
  private readonly restarts: Counter<'app' | 'reason'>;
  private sources: WorkerMetricsSources | undefined;

  constructor(state: WorkerState, clock: Clock) {
    const registers = [this.registry];
    const sources = () => this.sources;
    const startedAt = clock.now();
    new Gauge({
      name: `${PREFIX}worker_sync_age_seconds`,
      help: "Seconds since the worker last fetched its device group's config from the manager (an answer, changed or not; since the worker started when none yet). A held long-poll counts once it returns: expect up to long_poll_wait",
      registers,
      collect() {
        this.set((clock.now() - (sources()?.lastFetchAt() ?? startedAt)) / 1000);
      },
    });
    // The three read the state once, in the first one's collect (the registry takes each
    // metric's values in the order they were made): they always agree with each other.
    new Gauge({
      name: `${PREFIX}worker_desired_id`,
      help: 'The monotonic ids of the latest config the worker was given, by kind (device_group, prune, app, cron_job) and name (apps and cron jobs)',
      labelNames: ['kind', 'name'],
      registers,
      collect() {
        const appliedIds = idsOfApplied(state.applied());
        const info = state.desired().info;
        const desiredIds = info === null ? null : idsOfInfo(info);
        setIds(applied, appliedIds);
        if (desiredIds === null) this.reset();
        else setIds(this, desiredIds);
        behind.set(desiredIds === null ? 0 : objectsBehind(appliedIds, desiredIds));
      },
    });
    const applied = new Gauge({
      name: `${PREFIX}worker_applied_id`,
      help: 'The monotonic ids the worker has applied, by kind (device_group, prune, app, cron_job) and name (apps and cron jobs)',
      labelNames: ['kind', 'name'],
      registers,
    });
    const behind = new Gauge({
      name: `${PREFIX}worker_objects_behind`,
      help: 'Objects (the device group, its apps and cron jobs, its prune) whose applied id is below the one the worker was given: 0 once it has converged',
      registers,
    });
    new Gauge({
      name: `${PREFIX}worker_apps_failed`,
      help: 'Apps the worker cannot apply now (retried with backoff; their reasons are in the reports)',
      registers,
      collect() {
        this.set(sources()?.appsFailed() ?? 0);
      },
    });
    this.restarts = new Counter({
      name: `${PREFIX}worker_container_restarts_total`,
      help: 'App containers restarted or replaced, by app and reason (image_changed, config_changed, requested, outdated, stopped, crashed, unhealthy)',
      labelNames: ['app', 'reason'],
      registers,
    });
    new Gauge({
      name: `${PREFIX}worker_report_spool_depth`,
      help: 'Reports in the spool waiting to be sent',
      registers,
      collect() {
        this.set(state.spoolSize());
      },
    });
    new Counter({
      name: `${PREFIX}worker_report_spool_dropped_total`,
      help: 'Reports dropped from the spool (full, or refused as malformed) since the state file was made',
      registers,
      collect() {
        this.reset();
        this.inc(state.spoolDropped());
      },
    });
  }

  /** What the gauges read, once the worker has built its sync loop and executor. */
  watch(sources: WorkerMetricsSources): void {
    this.sources = sources;
  }

  /** For the executor and the health monitor: `count` restarts of `app`'s containers. */
  readonly restarted = (app: string, reason: RestartReason, count = 1): void => {
    this.restarts.inc({ app, reason }, count);
  };
}
