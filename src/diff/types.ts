// The diff engine's data: what the worker has applied, what it observes on the host, and
// the steps that take the host from one to the other. Plain data, no I/O.

import type { AppDoc } from '../model/app.ts';
import type { CronJobDoc } from '../model/cronJob.ts';

/** The device group's config as the worker last applied it: monotonic ids and configs. */
export interface AppliedState {
  /** 0 before the first config ever arrived. */
  device_group_id: number;
  prune_id: number;
  apps: Record<string, AppDoc>;
  cron_jobs: Record<string, CronJobDoc>;
}

export const EMPTY_APPLIED: AppliedState = { device_group_id: 0, prune_id: 0, apps: {}, cron_jobs: {} };

/** A container the worker labelled, as the engine reports it. */
export interface ObservedContainer {
  id: string;
  name: string;
  app: string;
  /** The app_id it was created from (0 when unknown, e.g. made by the original worker). */
  appId: number;
  /** Its number n in `<app>-<n>` (0 when the name does not follow that form). */
  index: number;
  /** configHash of the app it was made from ('' when unknown). */
  config: string;
  running: boolean;
}

export interface HostFacts {
  cpuCores: number;
  memoryMb: number;
  /** The app containers on the engine that carry `orchestrator=nebula`. */
  containers: ObservedContainer[];
}

export type RemoveReason = 'stopped' | 'removed-from-group' | 'outdated' | 'scale-down' | 'orphan' | 'duplicate';

export type Step =
  | { type: 'ensure-network'; network: string }
  /** `always`: on a change (the original force-pulls); otherwise only when the image is absent. */
  | { type: 'pull'; app: string; image: string; always: boolean }
  | { type: 'create'; app: string; index: number; config: AppDoc }
  | { type: 'start'; app: string; containerId: string; name: string }
  | { type: 'remove'; app: string; containerId: string; name: string; reason: RemoveReason }
  /** Rolling restart: replace one container, then let it settle before the next. */
  | { type: 'replace'; app: string; index: number; containerId: string; name: string; config: AppDoc }
  /** Before a restart or roll of a changed app: wait a random 0..max_restart_wait seconds. */
  | { type: 'jitter'; app: string }
  /** The app cannot be applied as configured: reported, never a crash. */
  | { type: 'app-error'; app: string; reason: string }
  | { type: 'schedule-cron'; cronJob: string; config: CronJobDoc }
  | { type: 'unschedule-cron'; cronJob: string }
  | { type: 'prune-images' };

export interface Plan {
  steps: Step[];
  /** What is applied once the steps have run: the worker persists it. */
  next: AppliedState;
}
