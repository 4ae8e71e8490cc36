// Cron jobs on the device: each scheduled job fires at its time to the second, from the
// worker's own clock, so jobs keep running while the manager is unreachable. A run that
// is still going when the next is due is skipped (no overlap); finished runs are cleaned up.

import { LABELS, cronContainerSpec, networkPlan } from '../../src/diff/containers.ts';
import type { Clock } from '../../src/clock.ts';
import type { Logger } from '../../src/log.ts';
import type { CronJobDoc } from '../../src/model/cronJob.ts';
import type { Engine } from './engine.ts';
import type { RegistryAuths } from './registry.ts';
import type { WorkerState } from './state.ts';

export interface CronDeps {
  engine: Engine;
  registry: RegistryAuths;
  state: WorkerState;
  log: Logger;
  clock: Clock;
  /** A failure that threatens consistency (state unwritable): ends the worker. */
  onFatal: (err: unknown) => void;
}

interface Entry {
  job: CronJobDoc;
  cron: Parser;
  timer: NodeJS.Timeout | undefined;
  nextAt: number;
}

type Parser = typeof import('cron-parser').CronExpressionParser;

/** cron-parser (and luxon) are loaded with the first cron job: most devices have none. */
let parser: Promise<Parser> | undefined;
function cronParser(): Promise<Parser> {
  parser ??= import('cron-parser').then((m) => m.CronExpressionParser);
  return parser;
}

/** The first run strictly after `afterMs`, or null when the schedule never fires again. */
function nextRunAt(cron: Parser, schedule: string, afterMs: number): number | null {
  try {
    return cron.parse(schedule, { currentDate: new Date(afterMs) }).next().getTime();
  } catch {
    return null;
  }
}

// setTimeout cannot wait longer than ~24.8 days; wake at least this often and re-check.
const MAX_TIMER_MS = 60_000;

export class CronScheduler {
  private readonly deps: CronDeps;
  private readonly entries = new Map<string, Entry>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(deps: CronDeps) {
    this.deps = deps;
  }

  /** name → the cron_job_id it is scheduled from (an observed fact for the planner). */
  scheduled(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, entry] of this.entries) out[name] = entry.job.cron_job_id;
    return out;
  }

  nextRun(name: string): number | undefined {
    return this.entries.get(name)?.nextAt;
  }

  async schedule(job: CronJobDoc): Promise<void> {
    const cron = await cronParser();
    this.unschedule(job.cron_job_name);
    const entry: Entry = { job, cron, timer: undefined, nextAt: 0 };
    this.entries.set(job.cron_job_name, entry);
    // Never run one slot twice: start after the later of now and the last recorded run.
    const last = this.deps.state.lastCronRun(job.cron_job_name) ?? 0;
    this.arm(entry, Math.max(this.deps.clock.now(), last));
    this.deps.log.info({ cron_job: job.cron_job_name, schedule: job.schedule, next: new Date(entry.nextAt).toISOString() }, 'cron job scheduled');
  }

  unschedule(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.entries.delete(name);
    this.deps.log.info({ cron_job: name }, 'cron job unscheduled');
  }

  private arm(entry: Entry, afterMs: number): void {
    if (this.stopped) return;
    const next = nextRunAt(entry.cron, entry.job.schedule, afterMs);
    if (next === null) {
      this.deps.log.warn({ cron_job: entry.job.cron_job_name }, 'schedule never fires again');
      return;
    }
    entry.nextAt = next;
    const wake = () => {
      if (this.entries.get(entry.job.cron_job_name) !== entry) return; // unscheduled meanwhile
      const now = this.deps.clock.now();
      if (now < entry.nextAt) {
        entry.timer = setTimeout(wake, Math.min(entry.nextAt - now, MAX_TIMER_MS));
        return;
      }
      const at = entry.nextAt;
      const run = this.fire(entry.job, at).finally(() => this.running.delete(run));
      this.running.add(run);
      this.arm(entry, at);
    };
    entry.timer = setTimeout(wake, Math.min(Math.max(0, next - this.deps.clock.now()), MAX_TIMER_MS));
  }

  private async fire(job: CronJobDoc, at: number): Promise<void> {
    const { engine, state, log, clock } = this.deps;
    const name = job.cron_job_name;
    try {
      state.saveCronRun(name, at);
      const mine = (await engine.listNebula('cron_job')).filter((c) => c.labels[LABELS.cronJobName] === name);
      if (mine.some((c) => c.state === 'running' || c.state === 'restarting')) {
        state.record({ at: clock.now(), kind: 'cron-skipped', subject: name, detail: 'the previous run is still going' });
        log.warn({ cron_job: name }, 'cron run skipped: the previous run is still going');
        return;
      }
      for (const old of mine) await engine.remove(old.id);
      // Unscheduled (deleted, stopped, changed) while this run was getting ready: do not start it.
      const stillScheduled = () => this.entries.get(name)?.job === job;
      if (!stillScheduled()) return;
      try {
        await engine.pull(job.docker_image, this.deps.registry.for(job.docker_image));
      } catch (err) {
        if (!(await engine.imageExists(job.docker_image))) throw err;
        log.warn({ cron_job: name, err: (err as Error).message }, 'pull failed: using the local image');
      }
      if (networkPlan(job.networks).mode === 'nebula') await engine.ensureNetwork('nebula');
      const spec = cronContainerSpec(job, Math.floor(at / 1000));
      if (!stillScheduled()) return;
      await engine.run(spec);
      state.record({ at: clock.now(), kind: 'cron-run', subject: name, detail: spec.name });
      log.info({ cron_job: name, container: spec.name }, 'cron job started');
    } catch (err) {
      if ((err as Error).name === 'StoreFatalError') {
        this.deps.onFatal(err);
        return;
      }
      log.error({ cron_job: name, err: (err as Error).message }, 'cron run failed');
      try {
        state.record({ at: clock.now(), kind: 'cron-failed', subject: name, detail: (err as Error).message });
      } catch (fatal) {
        this.deps.onFatal(fatal);
      }
    }
  }

  /** Removes finished runs of jobs that are no longer scheduled. */
  async cleanup(): Promise<void> {
    for (const c of await this.deps.engine.listNebula('cron_job')) {
      if (!this.entries.has(c.labels[LABELS.cronJobName] ?? '') && c.state !== 'running') await this.deps.engine.remove(c.id);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
    await Promise.allSettled([...this.running]);
  }
}
