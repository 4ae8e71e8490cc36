// The store-wide admin write lock: one document whose _id is unique, taken by inserting it
// (the one write every MongoDB-wire server makes atomic) and released by deleting it. A
// holder that died with it is presumed dead after LOCK_STALE_MS of seeing the same holder
// (measured on this host's clock: no trust in other hosts' clocks) and its lock is taken over.
// Writes of this process queue before it, so one process never spins against itself.

import { ObjectId, type Collection } from 'mongodb';
import { StoreUnavailableError } from '../../errors.ts';
import { isDuplicate } from './common.ts';

/** How long a writer waits for the lock (then 503), and when a holder is presumed dead. */
const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 15_000;
const LOCK_ID = 'admin_write';

export type LockDoc = { _id: string; owner: string; at: Date };

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
      try {
        await this.locks.insertOne({ _id: LOCK_ID, owner, at: new Date() });
        break;
      } catch (err) {
        if (!isDuplicate(err)) throw err;
      }
      const held = await this.locks.findOne({ _id: LOCK_ID });
      if (held !== null) {
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
    }
  }
}
