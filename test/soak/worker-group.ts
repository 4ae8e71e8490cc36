// The real worker's device group in the soak: three apps named after the run (so its containers
// are the soak's alone: `<run>-a-1`, …), changed in turn — a's image flips between web:1 and web:2,
// b's environment changes, c joins and leaves the group — so the worker pulls, replaces, creates
// and removes containers all along. Converged = the engine runs exactly one container per app of
// the group, stamped with the app's latest app_id, and none of the run's other apps.

import { WEB_1, WEB_2 } from '../helpers/worker.ts';
import { docker } from '../helpers/worker-fixtures.ts';

/** An admin call: the status and the parsed body (null when not JSON). */
export type Admin = (method: string, path: string, body: unknown) => Promise<{ status: number; body: any }>;

export interface Observed {
  app: string;
  appId: string;
  state: string;
  id: string;
}

export interface Convergence {
  converged: boolean;
  /** What differs, when not converged (for the log). */
  detail: string;
}

export class WorkerGroup {
  readonly name: string;
  private readonly apps: { a: string; b: string; c: string };
  /** Latest app_id of each app, from the manager's answers. */
  private readonly appIds = new Map<string, number>();
  private withC = false;
  private changes = 0;

  constructor(run: string) {
    this.name = run;
    this.apps = { a: `${run}-a`, b: `${run}-b`, c: `${run}-c` };
  }

  /** Creates the apps and the group (a and b). */
  async create(admin: Admin): Promise<void> {
    for (const app of Object.values(this.apps)) {
      const r = await admin('POST', `/api/v2/apps/${app}`, { docker_image: WEB_1, env_vars: { SOAK_REV: '0' } });
      if (r.status !== 200) throw new Error(`creating app ${app}: ${r.status} ${JSON.stringify(r.body)}`);
      this.appIds.set(app, Number(r.body.app_id));
    }
    const r = await admin('POST', `/api/v2/device_groups/${this.name}`, { apps: this.desiredApps() });
    if (r.status !== 200) throw new Error(`creating group ${this.name}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  private desiredApps(): string[] {
    return this.withC ? [this.apps.a, this.apps.b, this.apps.c] : [this.apps.a, this.apps.b];
  }

  /** The next change; returns the status of the admin call (2xx: done). */
  async change(admin: Admin): Promise<number> {
    const k = this.changes++;
    const rev = String(k + 1);
    if (k % 3 === 0) {
      const image = Math.floor(k / 3) % 2 === 0 ? WEB_2 : WEB_1;
      return this.patchApp(admin, this.apps.a, { docker_image: image, env_vars: { SOAK_REV: rev } });
    }
    if (k % 3 === 1) return this.patchApp(admin, this.apps.b, { env_vars: { SOAK_REV: rev } });
    const withC = !this.withC;
    const r = await admin('PUT', `/api/v2/device_groups/${this.name}/update`, { apps: withC ? [this.apps.a, this.apps.b, this.apps.c] : [this.apps.a, this.apps.b] });
    if (r.status === 202) this.withC = withC;
    return r.status;
  }

  private async patchApp(admin: Admin, app: string, body: Record<string, unknown>): Promise<number> {
    const r = await admin('PATCH', `/api/v2/apps/${app}/update`, body);
    if (r.status === 202) this.appIds.set(app, Number(r.body.app_id));
    return r.status;
  }

  /** The run's containers on the engine (any state). */
  async observed(): Promise<Observed[]> {
    const out = await docker('ps', '-a', '--filter', 'label=orchestrator=nebula', '--format', '{{.Label "app_name"}}\t{{.Label "nebula.app_id"}}\t{{.State}}\t{{.ID}}');
    const mine = new Set(Object.values(this.apps));
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [app = '', appId = '', state = '', id = ''] = line.split('\t');
        return { app, appId, state, id };
      })
      .filter((c) => mine.has(c.app));
  }

  async convergence(): Promise<Convergence> {
    const seen = await this.observed();
    const wrong: string[] = [];
    const desired = this.desiredApps();
    for (const app of desired) {
      const want = String(this.appIds.get(app));
      const of = seen.filter((c) => c.app === app);
      const good = of.filter((c) => c.appId === want && c.state === 'running');
      if (good.length !== 1 || of.length !== 1) wrong.push(`${app}: want app_id ${want} running, have ${of.map((c) => `${c.appId}/${c.state}`).join(', ') || 'none'}`);
    }
    for (const c of seen) if (!desired.includes(c.app)) wrong.push(`${c.app}: not in the group, still ${c.state}`);
    return { converged: wrong.length === 0, detail: wrong.join('; ') };
  }

  /** Removes the run's containers (the worker must be stopped first, or it makes them again). */
  async removeContainers(): Promise<number> {
    const ids = (await this.observed()).map((c) => c.id);
    if (ids.length > 0) await docker('rm', '-f', ...ids);
    return ids.length;
  }
}
