// The /info data cache and its long-poll waiters.
//
// Holds, per device group, the serialized info and its ETag (data, never a response: the
// route authenticates and authorizes every request before it asks). Entries expire after
// cache_time and are all dropped as soon as the store's change sequence moves; then the
// groups that have waiters are read again and the waiters whose ETag changed are woken.

import { LRUCache } from 'lru-cache';
import { buildInfo, etagOf } from '../../src/model/info.ts';
import type { Store } from '../../src/store/types.ts';

export interface InfoEntry {
  /** The JSON body, encoded once per change (never per request), or null when the device group does not exist. */
  body: Buffer | null;
  etag: string;
  /** The store's change sequence when this was read. */
  seq: number;
}

export type WaitOutcome = 'changed' | 'timeout' | 'closed';

interface Waiter {
  etag: string;
  settle: (outcome: WaitOutcome) => void;
}

export interface InfoCacheOptions {
  ttlMs: number;
  maxSize: number;
}

const MISSING_ETAG = '"missing"';

export class InfoCache {
  private readonly store: Store;
  private readonly cache: LRUCache<string, InfoEntry> | null;
  private readonly inflight = new Map<string, Promise<InfoEntry>>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private knownSeq = -1;
  private closed = false;
  /** Lookups that found the group cached (peek or get), and those that read the store or joined a read (get): metrics.ts. */
  hits = 0;
  misses = 0;

  constructor(store: Store, options: InfoCacheOptions) {
    this.store = store;
    this.cache = options.ttlMs > 0 ? new LRUCache({ max: options.maxSize, ttl: options.ttlMs }) : null;
  }

  /** The group's info if it is cached now (the hot path: no promise, no allocation). */
  peek(deviceGroup: string): InfoEntry | undefined {
    const entry = this.cache?.get(deviceGroup);
    if (entry !== undefined) this.hits++;
    return entry;
  }

  /** The group's current info; concurrent misses for one group share a single store read. */
  async get(deviceGroup: string): Promise<InfoEntry> {
    const cached = this.cache?.get(deviceGroup);
    if (cached) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const existing = this.inflight.get(deviceGroup);
    if (existing) return existing;
    const pending: Promise<InfoEntry> = this.read(deviceGroup).finally(() => {
      // Only our own entry: a change may have replaced it with a newer read meanwhile.
      if (this.inflight.get(deviceGroup) === pending) this.inflight.delete(deviceGroup);
    });
    this.inflight.set(deviceGroup, pending);
    return pending;
  }

  private async read(deviceGroup: string): Promise<InfoEntry> {
    const { snapshot, seq } = await this.store.info(deviceGroup);
    let entry: InfoEntry;
    if (snapshot === null) {
      entry = { body: null, etag: MISSING_ETAG, seq };
    } else {
      const body = Buffer.from(JSON.stringify(buildInfo(snapshot.group, snapshot.apps, snapshot.cronJobs)));
      entry = { body, etag: etagOf(body), seq };
    }
    // A read that started before a change we already saw must not be cached.
    if (seq >= this.knownSeq) this.cache?.set(deviceGroup, entry);
    return entry;
  }

  /** The store's change sequence moved: drop everything, wake the waiters whose config changed. */
  async changed(seq: number): Promise<void> {
    if (seq === this.knownSeq) return;
    this.knownSeq = seq;
    this.cache?.clear();
    this.inflight.clear();
    await Promise.all(
      [...this.waiters.keys()].map(async (deviceGroup) => {
        const entry = await this.get(deviceGroup);
        for (const waiter of this.waiters.get(deviceGroup) ?? []) {
          if (waiter.etag !== entry.etag) waiter.settle('changed');
        }
      }),
    );
  }

  /**
   * Waits until the group's ETag differs from the one `seen`, `ms` pass, or the cache closes.
   * `signal` aborts the wait when the client goes away.
   */
  wait(deviceGroup: string, seen: InfoEntry, ms: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (this.closed || signal?.aborted) return Promise.resolve('closed');
    // Read before a change this cache has already handled: look again rather than sleep.
    if (seen.seq < this.knownSeq) return Promise.resolve('changed');
    const etag = seen.etag;
    return new Promise((resolve) => {
      let set = this.waiters.get(deviceGroup);
      if (!set) this.waiters.set(deviceGroup, (set = new Set()));
      const group = set;
      const waiter: Waiter = {
        etag,
        settle: (outcome) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          group.delete(waiter);
          if (group.size === 0 && this.waiters.get(deviceGroup) === group) this.waiters.delete(deviceGroup);
          resolve(outcome);
        },
      };
      const onAbort = () => waiter.settle('closed');
      const timer = setTimeout(() => waiter.settle('timeout'), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      group.add(waiter);
    });
  }

  /** Device groups cached now. */
  get size(): number {
    return this.cache?.size ?? 0;
  }

  waiterCount(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  /** Shutdown: every waiter is answered now (the route sends 304). */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.settle('closed');
  }
}
