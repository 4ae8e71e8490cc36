// A manager process the fleet benches can kill -9 and start again on the same port and data
// directory (lib.ts's startManager picks a new port and directory each time). Same command,
// environment and pinning as startManager: `taskset -c 0 node src/main.ts manager`, SQLite, Basic auth.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH, AUTH_HEADER, ROOT, freePort, sleep } from '../lib.ts';

export interface RestartableManagerOptions {
  cpus?: string;
  args?: string[];
  env?: Record<string, string>;
}

export class RestartableManager {
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  private readonly options: RestartableManagerOptions;
  private child: ChildProcess | null = null;
  private out = '';

  private constructor(dir: string, port: number, options: RestartableManagerOptions) {
    this.dir = dir;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.options = options;
  }

  static async start(options: RestartableManagerOptions = {}): Promise<RestartableManager> {
    const manager = new RestartableManager(mkdtempSync(join(tmpdir(), 'nebula-bench-fleet-')), await freePort(), options);
    try {
      await manager.launch();
    } catch (err) {
      rmSync(manager.dir, { recursive: true, force: true });
      throw err;
    }
    return manager;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  output(): string {
    return this.out;
  }

  /** Starts the process; resolves once /readyz answers 200, with the time that took (ms). */
  async launch(): Promise<number> {
    const started = performance.now();
    const cpus = this.options.cpus ?? '0';
    const argv = [process.execPath, 'src/main.ts', 'manager', '--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dir, ...(this.options.args ?? [])];
    const [file, args] = cpus === '' ? [argv[0]!, argv.slice(1)] : ['taskset', ['-c', cpus, ...argv]];
    const child = spawn(file, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', BASIC_AUTH_USER: AUTH.user, BASIC_AUTH_PASSWORD: AUTH.password, NEBULA_LOG_LEVEL: 'warn', ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.out = (this.out + d.toString()).slice(-20_000)));
    child.stderr!.on('data', (d: Buffer) => (this.out = (this.out + d.toString()).slice(-20_000)));
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`${this.url}/readyz`)).status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null) break;
      await sleep(20);
    }
    await this.kill();
    throw new Error(`the manager did not start:\n${this.out}`);
  }

  /** SIGKILL, as a crash: every connection is cut by the kernel. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The group's /info as a device that is up to date has it: ETag and body. */
export async function currentInfo(url: string, group: string): Promise<{ etag: string; body: string }> {
  const response = await fetch(`${url}/api/v2/device_groups/${encodeURIComponent(group)}/info`, { headers: { authorization: AUTH_HEADER } });
  const body = await response.text();
  const etag = response.headers.get('etag');
  if (response.status !== 200 || !etag) throw new Error(`GET /info: ${response.status} ${body.slice(0, 200)}`);
  return { etag, body };
}
