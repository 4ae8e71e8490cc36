// The store-wide admin write lock: one document whose _id is unique, taken by inserting it
// (the one write every MongoDB-wire server makes atomic) and released by deleting it. A
// holder that died with it is presumed dead after LOCK_STALE_MS of seeing the same holder
// (measured on this host's clock: no trust in other hosts' clocks) and its lock is taken over.
// A holder that ran where this process runs (same kernel boot, same pid namespace) is judged
// by its pid at once: a manager SIGKILLed mid-write and restarted by systemd writes again
// without waiting out LOCK_STALE_MS (every manager's admin writes wait on that lock).
// Writes of this process queue before it, so one process never spins against itself.

import { readFileSync, readlinkSync } from 'node:fs';
import { ObjectId, type Collection } from 'mongodb';
import { StoreUnavailableError } from '../../errors.ts';
import { isDuplicate } from './common.ts';

/** How long a writer waits for the lock (then 503), and when a holder is presumed dead. */
const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 15_000;
const LOCK_ID = 'admin_write';

export type LockDoc = { _id: string; owner: string; at: Date; place?: string; pid?: number };

/** This kernel boot and pid namespace (Linux), where a holder's pid means this process's pids; else null. */
function placeOfThisProcess(): string | null {
  try {
    return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return null; // not Linux: stale holders are only found by LOCK_STALE_MS
  }
}

const PLACE = placeOfThisProcess();

/** Owners whose lock a WriteLock of this process holds now (a process may have several stores). */
const holding = new Set<string>();

/** Did the lock's holder run here and is it gone (or a release of ours failed)? Unsure is no. */
function diedHere(held: LockDoc): boolean {
  if (PLACE === null || held.place !== PLACE || typeof held.pid !== 'number') return false;
  if (held.pid === process.pid) return !holding.has(held.owner);
  try {
    process.kill(held.pid, 0);
    return false; // alive (or its pid reused: LOCK_STALE_MS settles it)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class WriteLock {
  private readonly locks: Collection<LockDoc>;
  private queue: Promise<unknown> = Promise.resolve();
  private seen: { owner: string; since: number } | null = null;

  constructor(locks: Collection<LockDoc>) {
    this.locks = locks;
  }

  /** Runs `fn` after the writes this process queued before it. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Takes the lock, runs `fn`, releases the lock. */
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    const owner = new ObjectId().toHexString();
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      // Counted as held before it is: another store of this process must never find it unheld.
      holding.add(owner);
      try {
        await this.locks.insertOne({ _id: LOCK_ID, owner, at: new Date(), ...(PLACE !== null ? { place: PLACE, pid: process.pid } : {}) });
        break;
      } catch (err) {
        holding.delete(owner);
        if (!isDuplicate(err)) throw err;
      }
      const held = await this.locks.findOne({ _id: LOCK_ID });
      if (held !== null) {
        if (diedHere(held)) {
          await this.locks.deleteOne({ _id: LOCK_ID, owner: held.owner });
          continue;
        }
        if (this.seen?.owner !== held.owner) this.seen = { owner: held.owner, since: Date.now() };
        else if (Date.now() - this.seen.since > LOCK_STALE_MS) {
          // Its holder died between taking and releasing it: take it over.
          await this.locks.deleteOne({ _id: LOCK_ID, owner: held.owner });
          continue;
        }
      }
      if (Date.now() > deadline) {
        throw new StoreUnavailableError('mongodb store: another manager has held the admin write lock for too long', null);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 50) + Math.random() * 5));
    }
    try {
      return await fn();
    } finally {
      await this.locks.deleteOne({ _id: LOCK_ID, owner }).catch(() => undefined);
      holding.delete(owner);
    }
  }
}
