// Report retention: reports older than the TTL are deleted by a purge that runs once at
// start and then every min(ttl/10, 60) s, so a report outlives its TTL by at most that
// much. Any number of managers and reporters may run it against one store: a purge is an
// idempotent delete by insert time (never a unique index on a time field: reference 4.3).
// Where the database has TTL indexes (MongoDB) it expires reports itself and no loop runs.
// Device index entries are not purged: a device that stopped reporting stays visible.

import { StoreFatalError } from '../errors.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/types.ts';

export interface RetentionOptions {
  store: Pick<Store, 'purgeReports'> & Partial<Pick<Store, 'expiresReportsItself'>>;
  /** Seconds a report is kept after it was stored. */
  ttlSeconds: number;
  log: Logger;
  /** A purge failed with StoreFatalError: the process must end (the loop stops). */
  onFatal: (err: unknown) => void;
  clock?: Clock;
  /** After each successful purge (for tests and metrics). */
  onPurged?: (deleted: number, before: Date) => void;
}

export interface Retention {
  /** Stops the loop; resolves once a purge under way has finished. */
  stop(): Promise<void>;
}

/** Seconds between purges for this TTL. */
export function purgeIntervalSeconds(ttlSeconds: number): number {
  return Math.min(ttlSeconds / 10, 60);
}

export function startRetention(options: RetentionOptions): Retention {
  const { store, ttlSeconds, log, onFatal } = options;
  // A TTL index deletes them already (MongoDB): nothing to run.
  if (store.expiresReportsItself === true) return { stop: async () => undefined };
  const clock = options.clock ?? systemClock;
  const intervalMs = purgeIntervalSeconds(ttlSeconds) * 1000;
  const stopping = new AbortController();

  /** False when the loop must end (a fatal store failure). */
  const purgeOnce = async (): Promise<boolean> => {
    const before = new Date(clock.now() - ttlSeconds * 1000);
    try {
      const deleted = await store.purgeReports(before);
      if (deleted > 0) log.info({ deleted, before: before.toISOString() }, 'purged expired reports');
      options.onPurged?.(deleted, before);
      return true;
    } catch (err) {
      if (err instanceof StoreFatalError) {
        onFatal(err);
        return false;
      }
      log.error({ err }, 'purging expired reports failed: retrying at the next interval');
      return true;
    }
  };

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      if (!(await purgeOnce())) return;
      await clock.sleep(intervalMs, stopping.signal);
    }
  })();

  return {
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}
