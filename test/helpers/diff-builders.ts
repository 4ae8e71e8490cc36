// Small builders for the diff engine's unit tests: full documents with defaults, the worker's
// applied state, the host as observed, and a one-line summary of each planned step.

import { newApp, type AppDoc } from '../../src/model/app.ts';
import { newCronJob, type CronJobDoc } from '../../src/model/cronJob.ts';
import { appFieldsFromBody, cronJobFieldsFromBody } from '../../src/model/bodies.ts';
import type { Info } from '../../src/model/info.ts';
import { configHash } from '../../src/diff/containers.ts';
import type { AppliedState, HostFacts, ObservedContainer, Step } from '../../src/diff/types.ts';

/** A full app document: the manager's create defaults, image `registry.local/<name>:1`, app_id 1. */
export function app(name: string, overrides: Partial<AppDoc> = {}): AppDoc {
  return { ...newApp(name, appFieldsFromBody({ docker_image: `registry.local/${name}:1` }, 'create')), ...overrides };
}

/** A full cron job document: the manager's create defaults, every 5 minutes, cron_job_id 1. */
export function cron(name: string, overrides: Partial<CronJobDoc> = {}): CronJobDoc {
  const fields = cronJobFieldsFromBody({ docker_image: `registry.local/${name}:1`, schedule: '*/5 * * * *' }, 'create');
  return { ...newCronJob(name, fields), ...overrides };
}

export interface GroupParts {
  device_group_id: number;
  prune_id?: number;
  apps?: AppDoc[];
  cron_jobs?: CronJobDoc[];
}

/** The /info answer for a group: apps_list and cron_jobs_list derived from the documents. */
export function info({ device_group_id, prune_id = 0, apps = [], cron_jobs = [] }: GroupParts): Info {
  return {
    apps,
    apps_list: apps.map((a) => a.app_name),
    prune_id,
    cron_jobs,
    cron_jobs_list: cron_jobs.map((c) => c.cron_job_name),
    device_group_id,
  };
}

/** What the worker has applied: the same parts, keyed by name. */
export function applied({ device_group_id, prune_id = 0, apps = [], cron_jobs = [] }: GroupParts): AppliedState {
  return {
    device_group_id,
    prune_id,
    apps: Object.fromEntries(apps.map((a) => [a.app_name, a])),
    cron_jobs: Object.fromEntries(cron_jobs.map((c) => [c.cron_job_name, c])),
  };
}

export interface ContainerParts {
  /** The app_id it was made from; the app's current id when an AppDoc is given, else 1. */
  appId?: number;
  running?: boolean;
  id?: string;
  /** The engine's name; `<app>-<index>` unless given. */
  name?: string;
  /** The config hash label; the given AppDoc's hash, or '' (unknown) for a bare name. */
  config?: string;
}

/** A labelled app container as the engine adapter reports it. */
export function container(of: AppDoc | string, index: number, parts: ContainerParts = {}): ObservedContainer {
  const appName = typeof of === 'string' ? of : of.app_name;
  const appId = parts.appId ?? (typeof of === 'string' ? 1 : of.app_id);
  const name = parts.name ?? `${appName}-${index}`;
  const config = parts.config ?? (typeof of === 'string' ? '' : configHash(of));
  return { id: parts.id ?? `id-${name}-${appId}`, name, app: appName, appId, index, running: parts.running ?? true, config };
}

/** Containers 1..n of an app, all made from its current app_id and running. */
export function containersOf(of: AppDoc, n: number, parts: ContainerParts = {}): ObservedContainer[] {
  return Array.from({ length: n }, (_, i) => container(of, i + 1, parts));
}

export interface HostParts {
  containers?: ObservedContainer[];
  cpuCores?: number;
  memoryMb?: number;
}

export function host({ containers = [], cpuCores = 4, memoryMb = 4096 }: HostParts = {}): HostFacts {
  return { cpuCores, memoryMb, containers };
}

/** One short line per step, e.g. `create web-2`, `remove web-1 outdated`, `pull web always`. */
export function summary(steps: Step[]): string[] {
  return steps.map((s) => {
    switch (s.type) {
      case 'ensure-network':
        return `ensure-network ${s.network}`;
      case 'pull':
        return `pull ${s.app} ${s.always ? 'always' : 'if-missing'}`;
      case 'create':
        return `create ${s.app}-${s.index}`;
      case 'start':
        return `start ${s.name}`;
      case 'remove':
        return `remove ${s.name} ${s.reason}`;
      case 'replace':
        return `replace ${s.name}`;
      case 'jitter':
        return `jitter ${s.app}`;
      case 'app-error':
        return `app-error ${s.app}`;
      case 'schedule-cron':
        return `schedule-cron ${s.cronJob}#${s.config.cron_job_id}`;
      case 'unschedule-cron':
        return `unschedule-cron ${s.cronJob}`;
      case 'prune-images':
        return 'prune-images';
    }
  });
}
