// The worker's and the reporter's metrics listener (opt-in: --metrics-port): a bare node:http
// server that answers GET /metrics with the registry's text exposition and anything else with
// the catalogued 404 (JSON). No authentication: it listens on 127.0.0.1 unless told otherwise,
// and what it shows holds no secret, no env value and no free text (see each role's metrics).
// The manager has no such listener: its /metrics is a route of its API (routes/metrics.ts).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { NebulaError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { scrape } from './registry.ts';

export interface MetricsListen {
  host: string;
  /** 0: any free port (tests). */
  port: number;
}

export interface MetricsServer {
  /** Where it listens (the port chosen when 0 was asked). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** A request's path, without its query string. */
function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  response.end(body);
}

async function answer(registry: Registry, request: IncomingMessage, response: ServerResponse): Promise<void> {
  // The body of a request is never read: the server takes none.
  request.resume();
  if ((request.method === 'GET' || request.method === 'HEAD') && pathOf(request) === '/metrics') {
    const { contentType, body } = await scrape(registry);
    send(response, 200, contentType, body);
    return;
  }
  send(response, 404, JSON_TYPE, JSON.stringify(new NebulaError('ROUTE_NOT_FOUND').toBody()));
}

/** Listens on `listen`; rejects when it cannot (the port taken, an address not of this host). */
export async function serveMetrics(registry: Registry, listen: MetricsListen): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    answer(registry, request, response).catch((err: unknown) => {
      // A metric's collect() that threw: a 500 without the error's text.
      if (!response.headersSent) send(response, 500, JSON_TYPE, JSON.stringify(new NebulaError('INTERNAL').toBody()));
      else response.destroy(err as Error);
    });
  });
  // Small and read by a scraper only: short timeouts, few headers.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    address: { host: address.address, port: address.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * serveMetrics, told in the log; a listener that cannot listen is logged, not thrown: the role
 * runs on without its metrics (its containers or reports matter more), and the scraper sees it down.
 */
export async function serveMetricsLogged(registry: Registry, listen: MetricsListen, log: Logger): Promise<MetricsServer | null> {
  try {
    const server = await serveMetrics(registry, listen);
    log.info({ host: server.address.host, port: server.address.port }, 'serving metrics at GET /metrics');
    return server;
  } catch (err) {
    log.error({ err: (err as Error).message, host: listen.host, port: listen.port }, 'cannot serve metrics: running without them');
    return null;
  }
}
