// The manager's composition: config -> logger -> store -> auth, cache, change watcher,
// report retention -> HTTP server; and its lifecycle (graceful SIGTERM, fail hard on a broken store).

import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ManagerConfig } from '../../src/config/manager.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { startRetention } from '../../src/reports/retention.ts';
import { describeStore, openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { StoreFatalError } from '../../src/errors.ts';
import { Authenticator } from './auth.ts';
import { ChangeWatcher } from './changes.ts';
import { InfoCache } from './info-cache.ts';
import { buildServer, type TlsKeyPair } from './server.ts';
import { AuthThrottle, LoadShedder } from './overload.ts';
import { servingIndex, superviseManager } from './supervisor.ts';
import { ManagerMetrics } from './metrics.ts';
import { instrumentStore } from '../../src/store/instrumented.ts';

export interface Manager {
  app: FastifyInstance;
  store: Store;
  cache: InfoCache;
  /** What is in flight and held, and what was shed. */
  load: LoadShedder;
  /** Its Prometheus metrics (GET /metrics). */
  metrics: ManagerMetrics;
  /** Stops accepting, answers held long-polls with 304, stops the report retention, closes the store. */
  close(): Promise<void>;
}

export interface ManagerDeps {
  config: ManagerConfig;
  log: Logger;
  store: Store;
  /** Called after a failure that threatens consistency; the process must end non-zero. */
  onFatal: (err: unknown) => void;
  changePollMs?: number;
  /** Purge expired reports here (default true; false in all but one of --workers' processes). */
  retention?: boolean;
  /** Serve HTTPS with this certificate chain and key (PEM). */
  tls?: TlsKeyPair;
}

/** Wires a manager from its dependencies (tests call this with their own store and onFatal). */
export function createManager(deps: ManagerDeps): Manager {
  const { config, log } = deps;
  let shuttingDown = false;
  // Every store call the manager makes is timed (nebula_store_operation_duration_seconds).
  const metrics = new ManagerMetrics();
  const store = instrumentStore(deps.store, metrics.storeObserved);
  const cache = new InfoCache(store, { ttlMs: config.cacheTimeSeconds * 1000, maxSize: config.cacheMaxSize });
  // The store unreachable (MongoDB down) is not fatal: readiness fails, requests get 503,
  // and the watcher keeps polling until the store is back. A broken store is fatal.
  let unavailableSince: number | null = null;
  const auth = new Authenticator(config, store, { recordTokenLookups: config.mode !== 'edge', throttle: new AuthThrottle(config.overload.authFailuresPerMinute) });
  const watcher = new ChangeWatcher(
    store,
    // The cache and the authenticated headers are dropped at once (before the write that poked
    // us is answered); waking the long-polls (a store read per waited-on group) goes on in the
    // background.
    async (seq) => {
      auth.changed();
      cache.changed(seq).catch((err: unknown) => log.warn({ err }, 'waking long-polls after a change failed: they will time out and ask again'));
    },
    (err) => {
      if (err instanceof StoreFatalError) return deps.onFatal(err);
      if (unavailableSince === null) {
        unavailableSince = Date.now();
        log.error({ err }, 'the store is unreachable: answering 503 to what needs it until it is back');
      }
    },
    deps.changePollMs,
    () => {
      if (unavailableSince !== null) log.info({ down_ms: Date.now() - unavailableSince }, 'the store is reachable again');
      unavailableSince = null;
    },
  );
  const load = new LoadShedder(config.overload);
  const app = buildServer({
    store,
    mode: config.mode,
    auth,
    cache,
    changed: () => watcher.poke(),
    log,
    longPollMaxWaitSeconds: config.longPollMaxWaitSeconds,
    load,
    overload: config.overload,
    onFatal: deps.onFatal,
    isShuttingDown: () => shuttingDown,
    isStoreDown: () => unavailableSince !== null,
    metrics,
  }, { tls: deps.tls, requestTimeoutMs: config.requestTimeoutSeconds * 1000 });
  metrics.watch({ cache, load, isStoreDown: () => unavailableSince !== null });
  watcher.start();
  const retention = deps.retention === false ? { stop: async () => undefined } : startRetention({ store, ttlSeconds: config.reportTtlSeconds, log, onFatal: deps.onFatal });
  return {
    app,
    store,
    cache,
    load,
    metrics,
    async close() {
      if (shuttingDown) return;
      shuttingDown = true;
      watcher.stop();
      cache.close();
      // Held long-polls are answered now; a connection that lingers past 2 s is cut.
      const closing = app.close();
      const cut = setTimeout(() => app.server.closeAllConnections(), 2000);
      cut.unref();
      await closing;
      clearTimeout(cut);
      await retention.stop();
      await store.close();
    },
  };
}

/** `nebula manager`: runs until SIGTERM/SIGINT. */
export async function runManager(config: ManagerConfig): Promise<void> {
  const serving = servingIndex();
  const root = createLogger(config.logLevel, 'nebula-manager');
  if (config.workers > 1 && serving === undefined) return superviseManager(config, root);
  const log = serving === undefined ? root : root.child({ serving });
  const fatal = (err: unknown) => {
    log.fatal({ err }, 'fatal: ending the process so that it restarts clean');
    process.exit(70);
  };
  let tls: TlsKeyPair | undefined;
  if (config.tls !== undefined) {
    try {
      tls = { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
      createSecureContext(tls); // a malformed PEM or a key that is not the certificate's ends here, clearly

    } catch (err) {
      log.fatal({ err: (err as Error).message }, 'cannot read the TLS certificate or key');
      process.stderr.write(`nebula manager: cannot read the TLS certificate or key: ${(err as Error).message}\n`);
      process.exit(2);
    }
  }
  let store: Store;
  try {
    store = await openStore(config, { role: 'manager', defaultReadPreference: config.mode === 'edge' ? 'nearest' : 'primary' });
  } catch (err) {
    log.fatal({ err, ...describeStore(config) }, 'cannot open the store');
    process.stderr.write(`nebula manager: cannot open the store: ${(err as Error).message}\n`);
    process.exit(70);
  }
  if (config.authEnabled && config.basicAuthUser === undefined && config.authToken === undefined) {
    log.warn('auth is enabled but no admin is configured (basic_auth_user/basic_auth_password or auth_token): only database users can sign in');
  }
  if (!config.authEnabled) log.warn('auth is disabled: every request is allowed; run this only behind an authenticating proxy');

  const manager = createManager({ config, log, store, onFatal: fatal, retention: (serving ?? 0) === 0, ...(tls ? { tls } : {}) });
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took over 10 s: exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    await manager.close();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  try {
    // reusePort: the --workers processes bind the same port; the kernel spreads connections.
    const address = await manager.app.listen({ host: config.host, port: config.port, ...(serving !== undefined ? { reusePort: true } : {}) } as { host: string; port: number });
    // `address` is one way to reach it (fastify names 127.0.0.1 for 0.0.0.0); host and port say where it listens.
    const { port } = manager.app.server.address() as AddressInfo;
    log.info({ address, host: config.host, port, tls: tls !== undefined, mode: config.mode, workers: config.workers, ...describeStore(config), reports_expire_by: store.expiresReportsItself ? 'ttl index' : 'purge' }, 'nebula manager listening');
  } catch (err) {
    log.fatal({ err }, `cannot listen on ${config.host}:${config.port}`);
    process.exit(2);
  }
}
