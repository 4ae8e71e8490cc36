// Small helpers the fleet benches share: waiting on the simulator, bounded.

import { readFileSync, readdirSync } from 'node:fs';
import { sleep } from '../lib.ts';
import type { Simulator } from './remote.ts';
import type { FleetStats } from './fleet.ts';

/** Polls the simulator until `done(stats)` or `ms` pass; returns the last stats. */
export async function until(sim: Simulator, done: (s: FleetStats) => boolean, ms: number, everyMs = 250): Promise<{ stats: FleetStats; met: boolean }> {
  const deadline = performance.now() + ms;
  for (;;) {
    const stats = await sim.fleetStats();
    if (done(stats)) return { stats, met: true };
    if (performance.now() >= deadline) return { stats, met: false };
    await sleep(everyMs);
  }
}

/** Resident memory of a process (MiB), from /proc; 0 when it cannot be read. */
export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system, seconds) a process has used, from /proc; 0 when it cannot be read. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** Descriptors a process holds (its accepted sockets among them); 0 when it cannot be read. */
export function openFds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/**
 * The kernel's count of connections dropped because a listen queue was full (TcpExt
 * ListenOverflows, system-wide: a SYN or handshake ACK the listener had no room for; the
 * client retries after 1, 3, 7, 15 … s).
 */
export function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('ListenOverflows')] ?? 0);
  } catch {
    return 0;
  }
}

/** CPU time of one CPU (from /proc/stat, in USER_HZ ticks): busy, idle and stolen by the hypervisor. */
export function cpuTicks(cpu: number): { busy: number; idle: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `))!;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number) as number[];
    return { busy: user! + nice! + system! + irq! + softirq!, idle: idle! + iowait!, steal: steal! };
  } catch {
    return { busy: 0, idle: 0, steal: 0 };
  }
}
