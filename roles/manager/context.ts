// What every route gets: the composition function builds one of these and hands it over.

import type { Mode } from '../../src/config/manager.ts';
import type { Logger } from '../../src/log.ts';
import type { Store } from '../../src/store/types.ts';
import type { Authenticator } from './auth.ts';
import type { InfoCache } from './info-cache.ts';
import type { LoadShedder } from './overload.ts';
import type { ManagerMetrics } from './metrics.ts';
import type { OverloadConfig } from '../../src/config/manager.ts';

export interface ManagerContext {
  store: Store;
  /** edge: admin writes are refused (READ_ONLY_INSTANCE). */
  mode: Mode;
  auth: Authenticator;
  cache: InfoCache;
  /**
   * Tell the change watcher a write just happened here: resolves once this manager's cache
   * has dropped what the write changed (read-your-writes on one manager) and its long-polls
   * are woken. Await it before answering the write.
   */
  changed: () => Promise<void>;
  log: Logger;
  /** What is being worked on and held; whether to shed a new request (503 SERVER_OVERLOADED). */
  load: LoadShedder;
  overload: OverloadConfig;
  longPollMaxWaitSeconds: number;
  /** Ends the process after a failure that threatens consistency. */
  onFatal: (err: unknown) => void;
  /** True while the change watcher cannot read the store (readiness fails at once). */
  isStoreDown: () => boolean;
  /** Prometheus metrics (GET /metrics): this manager's own registry. */
  metrics: ManagerMetrics;
  /** True once shutdown has begun: readiness fails, long-polls end. */
  isShuttingDown: () => boolean;
}
