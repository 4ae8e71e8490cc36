// Starts a real manager for a test: on a real SQLite file in a temp dir (or, under
// NEBULA_TEST_STORE=mongo, that dir's own database on the MongoDB-wire server), HTTP on 127.0.0.1:0.

import { mkdtempSync, rmSync } from 'node:fs';
import { after, before } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManagerConfig } from '../../src/config/manager.ts';
import { createLogger } from '../../src/log.ts';
import { dropTestStore, openTestStore, storeConfigFor } from './store.ts';
import { createManager, type Manager } from '../../roles/manager/index.ts';
import type { TlsKeyPair } from '../../roles/manager/server.ts';
import type { AddressInfo } from 'node:net';

export const ADMIN_USER = 'nebula';
export const ADMIN_PASSWORD = 'nebula-secret';
export const ADMIN_TOKEN = 'admin-token-for-tests';

export interface TestManager {
  url: string;
  manager: Manager;
  dir: string;
  /** Failures the manager reported as fatal (it would have exited). */
  fatal: unknown[];
  close(): Promise<void>;
}

export function testConfig(dir: string, overrides: Partial<ManagerConfig> = {}): ManagerConfig {
  return {
    ...storeConfigFor(dir),
    mode: 'single',
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    authEnabled: true,
    basicAuthUser: ADMIN_USER,
    basicAuthPassword: ADMIN_PASSWORD,
    authToken: ADMIN_TOKEN,
    cacheTimeSeconds: 10,
    cacheMaxSize: 1024,
    longPollMaxWaitSeconds: 60,
    requestTimeoutSeconds: 30,
    workers: 1,
    reportTtlSeconds: 3600,
    // The production defaults, but no auth throttle: suites fail authentication on purpose,
    // many times a minute, from 127.0.0.1 (overload.test.ts turns it on); and no shedding on
    // event-loop delay: the test process runs the clients too, on a CI machine busy with other
    // suites, so its loop lags for reasons that are not the manager's (overload.test.ts tests it).
    overload: { maxEventLoopDelayMs: 0, maxInFlight: 1024, maxLongPolls: 100_000, authFailuresPerMinute: 0 },
    ...overrides,
  };
}

/** options.tls: serve HTTPS with this key pair (the url is then https://127.0.0.1:<port>). */
export async function startManager(overrides: Partial<ManagerConfig> = {}, options: { dir?: string; changePollMs?: number; tls?: TlsKeyPair } = {}): Promise<TestManager> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'nebula-test-'));
  const config = testConfig(dir, overrides);
  const fatal: unknown[] = [];
  const store = await openTestStore(dir, config.reportTtlSeconds);
  const manager = createManager({
    config,
    log: createLogger('silent', 'test'),
    store,
    onFatal: (err) => fatal.push(err),
    ...(options.changePollMs !== undefined ? { changePollMs: options.changePollMs } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
  });
  await manager.app.listen({ host: '127.0.0.1', port: 0 });
  const address = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(manager.app.server.address() as AddressInfo).port}`;
  return {
    url: address,
    manager,
    dir,
    fatal,
    async close() {
      // Tests end at once: connections a client left open (an aborted long-poll) are cut.
      manager.app.server.closeAllConnections();
      const closing = manager.close();
      manager.app.server.closeAllConnections();
      await closing;
      if (!options.dir) {
        await dropTestStore(dir);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export const ADMIN_AUTH = basic(ADMIN_USER, ADMIN_PASSWORD);

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** A JSON call against the manager; `auth` is an Authorization header value (or null for none). */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; auth?: string | null; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.auth === undefined ? ADMIN_AUTH : options.auth;
  if (auth !== null) headers.authorization = auth;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

/** One real manager for a whole test file: `ready` receives it once it listens; closed at the end. */
export function managerSuite(ready: (manager: TestManager) => void, overrides: Partial<ManagerConfig> = {}): void {
  let manager: TestManager | undefined;
  before(async () => {
    manager = await startManager(overrides);
    ready(manager);
  });
  after(async () => {
    await manager?.close();
  });
}
