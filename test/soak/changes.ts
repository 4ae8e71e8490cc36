// The admin side of the soak: every `everyS` seconds one device group changes, in turn. A fleet
// group's web app gets a new environment value — its long-polling devices wake, fetch, "apply"
// and report — timed by the fleet (Fleet.markChange: from the write to each device's 200); or the
// real worker's group changes (worker-group.ts), and the time until the worker's containers match
// it is measured (checked every 0.5 s).

import { setTimeout as delay } from 'node:timers/promises';
import type { Fleet } from '../bench/fleet/fleet.ts';
import type { ChangeRecord } from './report.ts';
import type { Admin, WorkerGroup } from './worker-group.ts';

export interface FleetGroup {
  name: string;
  /** The app whose environment changes. */
  app: string;
  fleet: Fleet;
}

export class Changes {
  /** Fleet changes, each read when the next change of its group comes (or at stop). */
  readonly fleetChanges: ChangeRecord[] = [];
  workerChanges = 0;
  /** Seconds from each change of the worker's group (the manager's answer) to the worker matching it. */
  readonly workerLags: number[] = [];
  /** Changes of the worker's group it had not matched when the next came. */
  workerLagging = 0;
  private readonly fleets: FleetGroup[];
  private readonly worker: WorkerGroup;
  private readonly admin: Admin;
  private readonly everyS: number;
  private readonly marked = new Set<FleetGroup>();
  private changing = true;
  private following = true;
  private loop: Promise<void> = Promise.resolve();
  private rev = 0;

  constructor(fleets: FleetGroup[], worker: WorkerGroup, admin: Admin, everyS: number) {
    this.fleets = fleets;
    this.worker = worker;
    this.admin = admin;
    this.everyS = everyS;
  }

  /** Starts the changes: the k-th comes k × everyS after `t0` (performance.now() time). */
  start(t0: number): void {
    this.loop = (async () => {
      for (let k = 1; this.changing; k++) {
        await delay(Math.max(0, t0 + k * this.everyS * 1000 - performance.now()));
        if (!this.changing) break;
        const f = this.fleets[(k - 1) % (this.fleets.length + 1)];
        if (f) await this.changeFleet(f);
        else await this.changeWorker();
      }
    })();
  }

  /** No more changes (the one under way finishes); the last fleet changes are read. */
  async stop(): Promise<void> {
    this.changing = false;
    await this.loop;
    for (const f of this.fleets) this.read(f);
  }

  /** Also stops following the worker. */
  async close(): Promise<void> {
    this.following = false;
    await this.stop();
  }

  private read(f: FleetGroup): void {
    if (!this.marked.delete(f)) return;
    const c = f.fleet.changeStats();
    this.fleetChanges.push({ group: f.name, received: c.received, devices: c.devices, p99: c.latency.p99 });
  }

  private async changeFleet(f: FleetGroup): Promise<void> {
    this.read(f);
    // The value is unique to this change, so the fleet can tell the 200s that carry it.
    const value = `r${++this.rev}`;
    f.fleet.markChange(JSON.stringify(value), performance.now());
    this.marked.add(f);
    await this.admin('PATCH', `/api/v2/apps/${f.app}/update`, { env_vars: { REGION: 'eu', LOG_LEVEL: 'info', SOAK_REV: value } });
  }

  private async changeWorker(): Promise<void> {
    const change = ++this.workerChanges;
    await this.worker.change(this.admin);
    const changedAt = performance.now();
    void (async () => {
      while (change === this.workerChanges && this.following) {
        await delay(500);
        const c = await this.worker.convergence().catch(() => null);
        if (change !== this.workerChanges) break;
        if (c?.converged) {
          this.workerLags.push((performance.now() - changedAt) / 1000);
          return;
        }
      }
      if (change !== this.workerChanges) this.workerLagging += 1;
    })();
  }
}
