// The core diff engine: plan(applied, desired, host) -> steps. Pure: no clock, no I/O.
//
// Monotonic rules (as the original worker): an object changes only when the remote id is
// greater than the applied one, so a stale or older answer changes nothing. A greater
// device_group_id is a newer statement of the whole group (membership and configs).
// Then the host is compared with that target: containers carry the app_id they were made
// from, so a restart with an unchanged config plans nothing, a crash half-way through a
// change is finished on the next pass, and containers lost in a reboot are recreated.

import type { AppDoc } from '../model/app.ts';
import type { CronJobDoc } from '../model/cronJob.ts';
import type { Info } from '../model/info.ts';
import { configHash, containersRequired, networkPlan } from './containers.ts';
import type { AppliedState, HostFacts, ObservedContainer, Plan, Step } from './types.ts';

/**
 * record[key] if the record has it itself. Names such as "constructor" or "toString" are valid
 * object names, and a plain lookup finds Object.prototype's: an app of that name removed from
 * the group kept its containers, a cron job of that name stayed scheduled.
 */
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function byName<T>(docs: T[], name: (doc: T) => string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const doc of docs) out[name(doc)] = doc;
  return out;
}

/** Newer of two configs of one object by its monotonic id. */
function newer<T>(applied: T | undefined, desired: T | undefined, id: (doc: T) => number): T | undefined {
  if (desired === undefined) return applied;
  if (applied === undefined) return desired;
  return id(desired) > id(applied) ? desired : applied;
}

/** The config the device should run: `applied` moved forward by whatever in `desired` is newer. */
export function merge(applied: AppliedState, desired: Info | null): AppliedState {
  if (desired === null) return applied;
  const prune_id = Math.max(applied.prune_id, desired.prune_id);
  if (desired.device_group_id > applied.device_group_id) {
    return {
      device_group_id: desired.device_group_id,
      prune_id,
      apps: byName(desired.apps, (a) => a.app_name),
      cron_jobs: byName(desired.cron_jobs, (c) => c.cron_job_name),
    };
  }
  const remoteApps = byName(desired.apps, (a) => a.app_name);
  const remoteCron = byName(desired.cron_jobs, (c) => c.cron_job_name);
  const apps: Record<string, AppDoc> = {};
  for (const [name, app] of Object.entries(applied.apps)) apps[name] = newer(app, own(remoteApps, name), (a) => a.app_id) as AppDoc;
  const cron_jobs: Record<string, CronJobDoc> = {};
  for (const [name, job] of Object.entries(applied.cron_jobs)) {
    cron_jobs[name] = newer(job, own(remoteCron, name), (c) => c.cron_job_id) as CronJobDoc;
  }
  return { device_group_id: applied.device_group_id, prune_id, apps, cron_jobs };
}

function planApp(app: AppDoc, before: AppDoc | undefined, observed: ObservedContainer[], host: HostFacts): Step[] {
  const name = app.app_name;
  const steps: Step[] = [];
  if (!app.running) {
    for (const c of observed) steps.push({ type: 'remove', app: name, containerId: c.id, name: c.name, reason: 'stopped' });
    return steps;
  }
  const required = containersRequired(app.containers_per, host);
  if (!required.ok) return [{ type: 'app-error', app: name, reason: required.reason }];
  const count = required.count;

  // One container per index 1..count; anything else goes.
  const byIndex = new Map<number, ObservedContainer>();
  const sorted = [...observed].sort((a, b) => a.index - b.index || Number(b.appId === app.app_id) - Number(a.appId === app.app_id));
  // (duplicates: the one made from the current app_id is kept)
  for (const c of sorted) {
    if (c.index < 1 || c.index > count) steps.push({ type: 'remove', app: name, containerId: c.id, name: c.name, reason: 'scale-down' });
    else if (byIndex.has(c.index)) steps.push({ type: 'remove', app: name, containerId: c.id, name: c.name, reason: 'duplicate' });
    else byIndex.set(c.index, c);
  }
  const hash = configHash(app);
  const current = (c: ObservedContainer) => c.appId === app.app_id && (c.config === '' || c.config === hash);
  const outdated = [...byIndex.values()].filter((c) => !current(c));
  const missing: number[] = [];
  for (let i = 1; i <= count; i++) if (!byIndex.has(i)) missing.push(i);
  for (const c of byIndex.values()) {
    if (current(c) && !c.running) steps.push({ type: 'start', app: name, containerId: c.id, name: c.name });
  }
  if (outdated.length === 0 && missing.length === 0) return steps;

  // A re-created app can come back with its old id: a different config is a change too.
  const changed = before === undefined || before.app_id !== app.app_id || configHash(before) !== hash;
  // Spread a fleet's restarts and its downloads: wait first, then pull (as the original).
  if (outdated.length > 0 && changed) steps.push({ type: 'jitter', app: name });
  // A change force-pulls (as the original); restoring lost containers uses the local image if there is one.
  steps.push({ type: 'pull', app: name, image: app.docker_image, always: changed });
  const rolling = app.rolling_restart && before?.running === true;
  if (rolling) {
    for (const c of outdated) steps.push({ type: 'replace', app: name, index: c.index, containerId: c.id, name: c.name, config: app });
  } else {
    for (const c of outdated) steps.push({ type: 'remove', app: name, containerId: c.id, name: c.name, reason: 'outdated' });
    missing.push(...outdated.map((c) => c.index));
    missing.sort((a, b) => a - b);
  }
  for (const index of missing) steps.push({ type: 'create', app: name, index, config: app });
  return steps;
}

function planCron(applied: AppliedState, next: AppliedState, scheduled: Record<string, number>): Step[] {
  const steps: Step[] = [];
  for (const [name, job] of Object.entries(next.cron_jobs)) {
    const before = own(applied.cron_jobs, name);
    // A job re-created with its old id but another config must be rescheduled too.
    const recreated = before !== undefined && before.cron_job_id === job.cron_job_id && configHash(before) !== configHash(job);
    if (!job.running) {
      if (own(scheduled, name) !== undefined) steps.push({ type: 'unschedule-cron', cronJob: name });
    } else if (own(scheduled, name) !== job.cron_job_id || recreated) {
      steps.push({ type: 'schedule-cron', cronJob: name, config: job });
    }
  }
  for (const name of Object.keys(scheduled)) {
    if (own(next.cron_jobs, name) === undefined) steps.push({ type: 'unschedule-cron', cronJob: name });
  }
  return steps;
}

/**
 * The steps that make the host run `desired` (or keep running `applied` when desired is
 * null, e.g. offline), and the applied state once they have run. `scheduled` maps each
 * cron job the worker's scheduler holds to the cron_job_id it was scheduled from.
 */
export function plan(applied: AppliedState, desired: Info | null, host: HostFacts, scheduled: Record<string, number> = {}): Plan {
  const next = merge(applied, desired);
  // No config has ever arrived: nothing on this engine is ours to judge yet.
  if (next.device_group_id === 0) return { steps: [], next };

  const observed = new Map<string, ObservedContainer[]>();
  for (const c of host.containers) observed.set(c.app, [...(observed.get(c.app) ?? []), c]);

  const steps: Step[] = [];
  for (const [name, containers] of observed) {
    if (own(next.apps, name) !== undefined) continue;
    const reason = own(applied.apps, name) !== undefined ? 'removed-from-group' : 'orphan';
    for (const c of containers) steps.push({ type: 'remove', app: name, containerId: c.id, name: c.name, reason });
  }
  for (const app of Object.values(next.apps).sort((a, b) => a.app_name.localeCompare(b.app_name))) {
    steps.push(...planApp(app, own(applied.apps, app.app_name), observed.get(app.app_name) ?? [], host));
  }
  const needsNebulaNetwork = steps.some(
    (s) => (s.type === 'create' || s.type === 'replace') && networkPlan(s.config.networks).mode === 'nebula',
  );
  if (needsNebulaNetwork) steps.unshift({ type: 'ensure-network', network: 'nebula' });
  steps.push(...planCron(applied, next, scheduled));
  // A first config brings the current prune_id: only a later bump asks for a prune.
  if (applied.device_group_id > 0 && next.prune_id > applied.prune_id) steps.push({ type: 'prune-images' });
  return { steps, next };
}

