// What every route gets: the composition function builds one of these and hands it over.

import type { Logger } from '../../src/log.ts';
import type { Store } from '../../src/store/types.ts';
import type { Authenticator } from './auth.ts';
import type { InfoCache } from './info-cache.ts';

export interface ManagerContext {
  store: Store;
  auth: Authenticator;
  cache: InfoCache;
  /** Tell the change watcher a write just happened here (wakes local long-polls at once). */
  changed: () => void;
  log: Logger;
  longPollMaxWaitSeconds: number;
  /** Ends the process after a failure that threatens consistency. */
  onFatal: (err: unknown) => void;
  /** True once shutdown has begun: readiness fails, long-polls end. */
  isShuttingDown: () => boolean;
}
