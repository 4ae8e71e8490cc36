// What a worker reports: the host's figures, the engine's stats of every Nebula container,
// and what the device runs against what it was told (the original's fields and ours, see
// src/model/report.ts). buildAppStates is pure; collectReport does the I/O.

import { randomUUID } from 'node:crypto';
import { cpus, freemem, totalmem } from 'node:os';
import { readFile, statfs } from 'node:fs/promises';
import { containersRequired, indexOf, LABELS } from '../../src/diff/containers.ts';
import type { AppliedState, ObservedContainer } from '../../src/diff/types.ts';
import type { Info } from '../../src/model/info.ts';
import type { AppState, ConfigIds, Report } from '../../src/model/report.ts';
import { VERSION } from '../../src/version.ts';
import { EngineUnavailableError, type Engine, type EngineContainer } from './engine.ts';
import type { AppFailure } from './executor.ts';
import type { WorkerState } from './state.ts';

const MB = 1024 * 1024;

export function idsOfApplied(applied: AppliedState): ConfigIds {
  return {
    device_group_id: applied.device_group_id,
    prune_id: applied.prune_id,
    apps: Object.fromEntries(Object.entries(applied.apps).map(([name, app]) => [name, app.app_id])),
    cron_jobs: Object.fromEntries(Object.entries(applied.cron_jobs).map(([name, job]) => [name, job.cron_job_id])),
  };
}

export function idsOfInfo(info: Info): ConfigIds {
  return {
    device_group_id: info.device_group_id,
    prune_id: info.prune_id,
    apps: Object.fromEntries(info.apps.map((a) => [a.app_name, a.app_id])),
    cron_jobs: Object.fromEntries(info.cron_jobs.map((c) => [c.cron_job_name, c.cron_job_id])),
  };
}

export interface AppObservation {
  containers: ObservedContainer[];
  /** Container ids the engine reports as restarting. */
  restarting: Set<string>;
  /** Restarts per app: the engine's restart counts plus the worker's health restarts. */
  restarts: Record<string, number>;
}

/**
 * Each applied app's state. A failed app reports the app_id its containers actually run
 * (the lowest, 0 if none), not the one it failed to apply: that is what makes it "behind".
 */
export function buildAppStates(
  applied: AppliedState,
  seen: AppObservation,
  failures: ReadonlyMap<string, AppFailure>,
  host: { cpuCores: number; memoryMb: number },
): Record<string, AppState> {
  const out: Record<string, AppState> = {};
  for (const [name, app] of Object.entries(applied.apps)) {
    const mine = seen.containers.filter((c) => c.app === name);
    const running = mine.filter((c) => c.running).length;
    const required = containersRequired(app.containers_per, host);
    const desired = app.running && required.ok ? required.count : 0;
    const failure = failures.get(name);
    const restarts = seen.restarts[name] ?? 0;
    const base = { running, desired, ...(restarts > 0 ? { restarts } : {}) };
    if (failure) {
      const ids = mine.filter((c) => c.running).map((c) => c.appId);
      out[name] = { state: 'failed', app_id: ids.length ? Math.min(...ids) : 0, ...base, reason: failure.reason };
    } else if (mine.some((c) => seen.restarting.has(c.id))) {
      out[name] = { state: 'restarting', app_id: app.app_id, ...base };
    } else if (!app.running) {
      out[name] = { state: 'stopped', app_id: app.app_id, ...base };
    } else {
      out[name] = { state: running >= desired ? 'running' : 'starting', app_id: app.app_id, ...base };
    }
  }
  return out;
}

/** CPU use since the previous sample (psutil's cpu_percent(interval=None)). */
export class CpuSampler {
  private last = CpuSampler.sample();

  private static sample(): { idle: number; total: number } {
    let idle = 0;
    let total = 0;
    for (const cpu of cpus()) {
      const t = cpu.times;
      idle += t.idle;
      total += t.user + t.nice + t.sys + t.idle + t.irq;
    }
    return { idle, total };
  }

  percent(): number {
    const now = CpuSampler.sample();
    const total = now.total - this.last.total;
    const idle = now.idle - this.last.idle;
    this.last = now;
    return total > 0 ? Math.round(((total - idle) / total) * 1000) / 10 : 0;
  }
}

async function memoryUsage(): Promise<Report['memory_usage']> {
  const total = totalmem();
  const free = freemem();
  let available = free;
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8'));
    if (match) available = Number(match[1]) * 1024;
  } catch {
    // not Linux: free memory stands for available
  }
  return { total: Math.round(total / MB), used: Math.round((total - available) / MB), free: Math.round(free / MB), available: Math.round(available / MB) };
}

async function rootDiskUsage(): Promise<Report['root_disk_usage']> {
  try {
    const fs = await statfs('/');
    const total = fs.blocks * fs.bsize;
    const free = fs.bavail * fs.bsize;
    return { total: Math.round(total / MB), used: Math.round((total - fs.bfree * fs.bsize) / MB), free: Math.round(free / MB) };
  } catch {
    return { total: 0, used: 0, free: 0 };
  }
}

export interface CollectDeps {
  engine: Engine;
  state: WorkerState;
  failures: () => ReadonlyMap<string, AppFailure>;
  cpu: CpuSampler;
  host: { cpuCores: number; memoryMb: number };
  deviceName: string;
  deviceGroup: string;
  now: () => number;
}

/** The engine's view of Nebula's containers, with their stats; empty (and an error) if the engine is unreachable. */
async function observeEngine(engine: Engine, state: WorkerState): Promise<{ apps: unknown[]; cron: unknown[]; seen: AppObservation; error: string | null }> {
  const seen: AppObservation = { containers: [], restarting: new Set(), restarts: {} };
  try {
    const appContainers = await engine.listNebula('app');
    const cronContainers = await engine.listNebula('cron_job');
    const stats = async (list: EngineContainer[]) => (await Promise.all(list.map((c) => engine.stats(c.id)))).filter((s) => s !== null);
    for (const c of appContainers) {
      const app = c.labels[LABELS.appName];
      if (!app) continue;
      const appId = Number(c.labels[LABELS.appId]);
      seen.containers.push({
        id: c.id,
        name: c.name,
        app,
        appId: Number.isInteger(appId) ? appId : 0,
        index: indexOf(app, c.name),
        config: c.labels[LABELS.config] ?? '',
        running: c.state === 'running',
      });
      if (c.state === 'restarting') seen.restarting.add(c.id);
      const health = await engine.health(c.id).catch((err: unknown) => {
        if (err instanceof EngineUnavailableError) throw err;
        return null;
      });
      if (health && health.restartCount > 0) seen.restarts[app] = (seen.restarts[app] ?? 0) + health.restartCount;
    }
    for (const event of state.events('health-restart')) {
      const app = event.subject.replace(/-\d+$/, '');
      seen.restarts[app] = (seen.restarts[app] ?? 0) + 1;
    }
    return { apps: await stats(appContainers), cron: await stats(cronContainers), seen, error: null };
  } catch (err) {
    if (!(err instanceof EngineUnavailableError)) throw err;
    return { apps: [], cron: [], seen, error: err.message };
  }
}

/** One report of the device as it is now; `updated`: did a monotonic id increase since the last one. */
export async function collectReport(deps: CollectDeps, updated: boolean): Promise<Report> {
  const { state, host } = deps;
  const now = deps.now();
  const applied = state.applied();
  const { info } = state.desired();
  const engine = await observeEngine(deps.engine, state);
  const failures = deps.failures();
  const lastFailure = state.events('app-failed').at(-1);
  let lastError: Report['last_error'] = lastFailure ? { at: Math.floor(lastFailure.at / 1000), message: lastFailure.detail, app: lastFailure.subject } : null;
  // A state file that cannot be written (a full disk) is told until space is freed.
  const stateProblem = state.problem();
  if (stateProblem !== null) lastError = { at: Math.floor(stateProblem.since / 1000), message: stateProblem.message };
  if (engine.error !== null) lastError = { at: Math.floor(now / 1000), message: engine.error };
  return {
    memory_usage: await memoryUsage(),
    root_disk_usage: await rootDiskUsage(),
    cpu_usage: { cores: host.cpuCores, used_percent: deps.cpu.percent() },
    apps_containers: engine.apps,
    cron_jobs_containers: engine.cron,
    current_device_group_config: info === null ? null : { status_code: 200, reply: info },
    device_group: deps.deviceGroup,
    report_creation_time: Math.floor(now / 1000),
    hostname: deps.deviceName,
    updated,
    report_id: randomUUID(),
    worker_version: VERSION,
    applied: idsOfApplied(applied),
    desired: info === null ? null : idsOfInfo(info),
    apps_state: buildAppStates(applied, engine.seen, failures, host),
    last_error: lastError,
    spool_dropped: state.spoolDropped(),
  };
}
