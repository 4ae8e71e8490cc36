// A thin wrapper around a Store that times every operation (the manager's store latency
// metrics): the same Store, each call passed through unchanged, its duration reported to
// `observe`. Knows nothing of Prometheus; the store implementations are left as they are.

import type { Store } from './types.ts';

type AsyncOperation = { [K in keyof Store]: Store[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof Store];
/** The store operations timed: every asynchronous one but close(). */
export type StoreOperation = Exclude<AsyncOperation, 'close'>;

/** Every timed operation (a Record, so that a new Store method fails the typecheck until listed). */
const TIMED: Record<StoreOperation, true> = {
  ping: true,
  changeSeq: true,
  listNames: true,
  get: true,
  create: true,
  update: true,
  delete: true,
  pruneAll: true,
  info: true,
  usersByTokenLookup: true,
  usersWithoutTokenLookup: true,
  setTokenLookup: true,
  groupsOf: true,
  insertReports: true,
  purgeReports: true,
  listDevices: true,
  getDevice: true,
  queryReports: true,
};

export const STORE_OPERATIONS = Object.keys(TIMED) as StoreOperation[];

/** `store`, with each operation's duration (seconds) and failure reported to `observe`. */
export function instrumentStore(store: Store, observe: (operation: StoreOperation, seconds: number, failed: boolean) => void): Store {
  const timed: Record<string, unknown> = {};
  for (const operation of STORE_OPERATIONS) {
    // Looked up at each call (never bound once): whatever the store's method is then is called.
    timed[operation] = async (...args: unknown[]) => {
      const start = performance.now();
      let failed = true;
      try {
        const result = await (store[operation] as (...args: unknown[]) => Promise<unknown>).apply(store, args);
        failed = false;
        return result;
      } finally {
        observe(operation, (performance.now() - start) / 1000, failed);
      }
    };
  }
  return {
    get expiresReportsItself() {
      return store.expiresReportsItself;
    },
    close: () => store.close(),
    isReportId: (id: string) => store.isReportId(id),
    ...timed,
  } as unknown as Store;
}
