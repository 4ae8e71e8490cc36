// Starts the simulator (child.ts) in its own process pinned to a CPU (taskset -c 1 by default:
// the manager has CPU 0) and calls it over the IPC channel.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { StepResult, CheckinOptions } from './checkins.ts';
import type { ChangeStats, FleetOptions, FleetStats } from './fleet.ts';
import type { LatencySummary, Second } from './stats.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

export class Simulator {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: Error | null = null;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
      if (message.id === undefined) return;
      const w = this.waiting.get(message.id);
      if (!w) return;
      this.waiting.delete(message.id);
      if (message.error !== undefined) w.reject(new Error(`simulator: ${message.error}`));
      else w.resolve(message.result);
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`the simulator exited (${code ?? signal})`);
      for (const w of this.waiting.values()) w.reject(this.exited);
      this.waiting.clear();
    });
  }

  /** `cpus`: taskset's CPU list ('' = not pinned). */
  static async start(cpus = '1'): Promise<Simulator> {
    const argv = [process.execPath, '--max-old-space-size=2048', CHILD];
    const [file, args] = cpus === '' ? [argv[0]!, argv.slice(1)] : ['taskset', ['-c', cpus, ...argv]];
    const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [message] = (await Promise.race([once(child, 'message'), once(child, 'exit').then(() => [null])])) as [unknown];
    if (message === null) throw new Error('the simulator did not start');
    return new Simulator(child);
  }

  call<T>(op: string, args?: unknown): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  startFleet = (options: FleetOptions) => this.call<{ devices: number }>('startFleet', options);
  fleetStats = () => this.call<FleetStats>('fleetStats');
  resetStats = () => this.call<null>('resetStats');
  beginEpoch = () => this.call<null>('beginEpoch');
  backStats = () => this.call<{ back: number; latency: LatencySummary }>('backStats');
  timeline = () => this.call<Second[]>('timeline');
  changeStats = () => this.call<ChangeStats>('changeStats');
  write = (args: { url: string; path: string; body: unknown; authorization: string; needle: string }) =>
    this.call<{ status: number; body: string; answeredMs: number }>('write', args);
  stopFleet = () => this.call<null>('stopFleet');
  startLoad = (options: CheckinOptions) => this.call<{ reportBytes: number }>('startLoad', options);
  step = (args: { devices: number; intervalS: number; seconds: number; warmupSeconds: number }) => this.call<StepResult>('step', args);
  stopLoad = () => this.call<null>('stopLoad');
  memory = () => this.call<NodeJS.MemoryUsage>('memory');

  /** SIGTERM (the child exits at once, writing a --cpu-prof profile if NODE_OPTIONS asked for one), SIGKILL after 3 s. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}
