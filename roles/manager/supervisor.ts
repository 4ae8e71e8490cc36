// `nebula manager --workers N` (N > 1): this process serves nothing itself. It opens the store
// once (so migrations run once, and a store that cannot open ends it with 70 before anything
// starts), then runs N copies of the same command line — the same executable, flags and
// environment — marked with NEBULA_MANAGER_SERVING=<index>. Each listens on the same host and
// port with SO_REUSEPORT, so the kernel spreads connections over them; they share the store
// like managers of one region do (the change watcher carries a write made through one to the
// others' caches and long-polls within its 250 ms). Only process 0 purges expired reports.
//
// Fail hard, as everywhere: if one serving process ends, the others are stopped and the
// supervisor exits non-zero, so that systemd restarts the manager whole. SIGTERM/SIGINT are
// passed on; the supervisor exits 0 once every process has stopped cleanly.

import { spawn, type ChildProcess } from 'node:child_process';
import { hideBin } from 'yargs/helpers';
import type { ManagerConfig } from '../../src/config/manager.ts';
import type { Logger } from '../../src/log.ts';
import { describeStore, openStore } from '../../src/store/open.ts';

/** Set in the environment of a serving process: its index. */
export const SERVING_ENV = 'NEBULA_MANAGER_SERVING';

/** The index of this serving process, or undefined when it was not started by a supervisor. */
export function servingIndex(): number | undefined {
  const raw = process.env[SERVING_ENV];
  return raw !== undefined && /^\d{1,3}$/.test(raw) ? Number(raw) : undefined;
}

/** How to run this same command again: the executable, plus the script for `node src/main.ts`. */
function selfCommand(): { file: string; args: string[] } {
  const inExecutable = (process as { pkg?: unknown }).pkg !== undefined;
  const script = inExecutable ? [] : [...process.execArgv, process.argv[1]!];
  return { file: process.execPath, args: [...script, ...hideBin(process.argv)] };
}

export async function superviseManager(config: ManagerConfig, log: Logger): Promise<void> {
  try {
    const store = await openStore(config, { role: 'manager', defaultReadPreference: 'primary' });
    await store.close();
  } catch (err) {
    log.fatal({ err, ...describeStore(config) }, 'cannot open the store');
    process.stderr.write(`nebula manager: cannot open the store: ${(err as Error).message}\n`);
    process.exit(70);
  }

  const { file, args } = selfCommand();
  const children: ChildProcess[] = [];
  let running = 0;
  let stopping = false;
  let exitCode = 0;

  const stopAll = (signal: NodeJS.Signals) => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const finish = () => {
    log.info({ exit_code: exitCode }, 'every serving process has stopped');
    process.exit(exitCode);
  };

  for (let i = 0; i < config.workers; i++) {
    const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, [SERVING_ENV]: String(i) } });
    running++;
    child.once('exit', (code, signal) => {
      running--;
      if (!stopping) {
        stopping = true;
        exitCode = 1;
        log.error({ serving: i, pid: child.pid, code, signal }, 'a serving process ended: stopping the others so that the manager restarts whole');
        stopAll('SIGTERM');
      } else if (code !== 0) {
        exitCode = exitCode || 1;
      }
      if (running === 0) finish();
    });
    children.push(child);
  }
  log.info({ workers: config.workers, host: config.host, port: config.port, pids: children.map((c) => c.pid) }, 'nebula manager: serving processes started');

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down the serving processes');
    stopAll(signal);
    // Each process gives itself 10 s; past 15 s they are killed.
    setTimeout(() => {
      log.error('serving processes still running after 15 s: killing them');
      exitCode = 1;
      stopAll('SIGKILL');
    }, 15_000).unref();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}
