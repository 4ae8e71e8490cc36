// The manager's HTTP server: body parsing, authentication and authorization before any
// route or cache, one JSON error shape from the catalogue, and the routes.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import underPressure from '@fastify/under-pressure';
import { NebulaError, StoreFatalError, StoreUnavailableError } from '../../src/errors.ts';
import type { ManagerContext } from './context.ts';
import { parseAuthorization } from './auth.ts';
import { isAllowed, type Access, type Principal } from './rbac.ts';
import { appRoutes } from './routes/apps.ts';
import { INFO_ACCESS, deviceGroupRoutes } from './routes/device-groups.ts';
import { infoFastPath } from './info-fast-path.ts';
import { cronJobRoutes } from './routes/cron-jobs.ts';
import { userRoutes } from './routes/users.ts';
import { userGroupRoutes } from './routes/user-groups.ts';
import { statusRoutes } from './routes/status.ts';
import { V2 } from './routes/common.ts';
import { reportRoutes } from './routes/reports.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { dashboardRoutes } from './dashboard.ts';
import { openApiRoutes, registerOpenApi } from './openapi.ts';
import type { JsonSchema } from '../../src/model/schema.ts';
import { SchemaChecker } from '../../src/model/schema-checker.ts';
import { clientError, expectationFailed, frameworkError, refuseWithoutHost } from './protocol-errors.ts';
import { AuthThrottledError, heapShedBytes, retryAfterSeconds } from './overload.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** Never shed, nor counted as in flight (GET /metrics: what tells why the manager sheds). */
    neverShed?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export const BODY_LIMIT = 1024 * 1024;
/** After ready, event-loop and heap pressure shed nothing for this long (two samples of under-pressure's). */
const PRESSURE_GRACE_MS = 2_000;
/** Default of the manager's request_timeout: how long a client may take to send a whole request. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface ServerOptions {
  /** Serve HTTPS with this key pair. */
  tls?: TlsKeyPair | undefined;
  /** A client must have sent its whole request within this (its headers within half of it). */
  requestTimeoutMs?: number;
}

function sendError(reply: FastifyReply, error: NebulaError): FastifyReply {
  // Shed load, a store outage, a shutdown, a throttled address: tell clients (the SDK, workers)
  // when to come back — workers wait at least that long, with jitter.
  if (error instanceof AuthThrottledError) reply.header('Retry-After', String(error.retryAfterSeconds));
  else if (error.status === 503) reply.header('Retry-After', String(retryAfterSeconds()));
  return reply.code(error.status).type('application/json; charset=utf-8').send(error.toBody());
}

/** Writes to the admin data: every method but GET/HEAD, except devices' reports (kept in the region). */
function isAdminWrite(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  return request.routeOptions.url !== `${V2}/reports`;
}

/** Maps anything thrown to a catalogued error; only a bug or a dead store is a 5xx. */
function toNebulaError(err: FastifyError | Error, ctx: ManagerContext, request: FastifyRequest): NebulaError {
  if (err instanceof NebulaError) return err;
  if (err instanceof StoreFatalError) {
    ctx.log.fatal({ err, url: request.url }, 'the store failed: ending the process');
    return new NebulaError('STORE_UNAVAILABLE');
  }
  if (err instanceof StoreUnavailableError) {
    ctx.log.warn({ err: err.message, method: request.method, url: request.routeOptions.url ?? request.url }, 'the store is unreachable: 503');
    return new NebulaError('STORE_UNAVAILABLE');
  }
  const code = (err as FastifyError).code;
  const status = (err as FastifyError).statusCode;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new NebulaError('UNSUPPORTED_MEDIA_TYPE');
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new NebulaError('BODY_TOO_LARGE');
  if (err instanceof SyntaxError || code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new NebulaError('INVALID_JSON');
  if (status !== undefined && status >= 400 && status < 500) return new NebulaError('BAD_REQUEST', {}, err.message);
  ctx.log.error({ err, url: request.url }, 'unhandled error');
  return new NebulaError('INTERNAL');
}

/** A certificate chain and its private key, PEM. */
export interface TlsKeyPair {
  cert: Buffer;
  key: Buffer;
}

export function buildServer(ctx: ManagerContext, options: ServerOptions = {}): FastifyInstance {
  const { tls } = options;
  const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 256 },
    // Refusals before any route, with catalogued bodies too (protocol-errors.ts).
    frameworkErrors: frameworkError,
    clientErrorHandler: clientError,
    // A client has request_timeout (30 s) to send its whole request, half of it for the headers:
    // a slow or stalled sender (slowloris) does not hold a connection for ever (408
    // REQUEST_TIMEOUT). Only receiving counts, so a long-poll, whose request is whole once its
    // headers are in, is held as long as it asks.
    requestTimeout: requestTimeoutMs,
    // Long-polls are ended by the info cache on shutdown; idle keep-alives are closed.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Fastify's own server (same timeouts as it would set), with the devices' /info hot path
    // answered before its router when the answer is already known (info-fast-path.ts).
    serverFactory: (handler, options) => {
      const fast = infoFastPath(ctx, INFO_ACCESS);
      const serve = (req: IncomingMessage, res: ServerResponse) => {
        if (!refuseWithoutHost(req, res) && !fast(req, res)) handler(req, res);
      };
      // HTTPS when given a key pair (manager --tls-cert-file/--tls-key-file); HTTP otherwise.
      // No Host on HTTP/1.1: refused by refuseWithoutHost, with the catalogued body Node's own 400 lacks.
      // Node checks the timeouts every connectionsCheckingInterval (30 s by default): a quarter of the timeout.
      const httpOptions = { requireHostHeader: false, connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(requestTimeoutMs / 4))) };
      const server = tls ? createTlsServer({ ...httpOptions, cert: tls.cert, key: tls.key }, serve) : createServer(httpOptions, serve);
      const timeouts = options as { keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number };
      server.keepAliveTimeout = timeouts.keepAliveTimeout ?? 72_000;
      server.requestTimeout = timeouts.requestTimeout ?? requestTimeoutMs;
      server.headersTimeout = Math.max(1, Math.floor(requestTimeoutMs / 2));
      server.setTimeout(timeouts.connectionTimeout ?? 0);
      server.on('checkExpectation', expectationFailed);
      return server;
    },
  });

  // JSON bodies, where an empty body means "no body": the SDK and the original's scripts
  // send Content-Type: application/json with nothing after it on start/stop/prune.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) {
      done(null, undefined);
      return;
    }
    parseJson(request, body as string, done);
  });

  /** Authorized (true), or the refusal is sent (false). */
  function admit(request: FastifyRequest, reply: FastifyReply, principal: Principal, access: Access): boolean {
    request.principal = principal;
    const name = access.type === 'object' ? (request.params as Record<string, string>)[access.param] : undefined;
    if (!isAllowed(principal, access, name)) {
      sendError(reply, new NebulaError('ACCESS_DENIED'));
      return false;
    }
    if (ctx.mode === 'edge' && isAdminWrite(request)) {
      sendError(reply, new NebulaError('READ_ONLY_INSTANCE'));
      return false;
    }
    return true;
  }

  // Event-loop lag and heap use, sampled every second (overload.ts); its own hook only
  // passes requests on: ours below sheds them, with the catalogued body.
  app.register(underPressure, {
    maxEventLoopDelay: ctx.overload.maxEventLoopDelayMs,
    maxHeapUsedBytes: heapShedBytes(),
    pressureHandler: () => undefined,
  });
  // Armed a little after ready: the first samples hold the start-up itself (modules loaded,
  // every route's schema compiled — a second or more on a busy 2-core device), which is no
  // overload; a manager that answers /readyz must not then shed its first requests.
  app.addHook('onReady', (done) => {
    const armedAt = performance.now() + PRESSURE_GRACE_MS;
    ctx.load.pressure = () => performance.now() >= armedAt && app.isUnderPressure();
    done();
  });
  let lastShedLog = 0;

  // Shed load first (before authentication: a slow hash is work too), then authenticate and
  // authorize, before the body is read and before any cache. Callback style: a header that
  // authenticated in the last minute is admitted without a promise. Health routes and /metrics are never shed.
  app.addHook('onRequest', (request, reply, done) => {
    const { access, neverShed } = request.routeOptions.config;
    if (access === undefined || access.type === 'public') return done();
    const refused = neverShed === true ? null : ctx.load.refuse();
    if (refused !== null) {
      ctx.load.counted(refused);
      const now = Date.now();
      if (now - lastShedLog >= 10_000) {
        lastShedLog = now;
        ctx.log.warn({ reason: refused, shed: ctx.load.shed, ...ctx.load.load }, 'overloaded: shedding requests with 503 and Retry-After');
      }
      sendError(reply, new NebulaError('SERVER_OVERLOADED'));
      return;
    }
    if (neverShed !== true) reply.raw.once('close', ctx.load.begin());
    const header = request.headers.authorization;
    const known = ctx.auth.cached(header);
    if (known !== undefined) {
      if (admit(request, reply, known, access)) done();
      return;
    }
    const credentials = parseAuthorization(header);
    ctx.auth.authenticate(credentials, header, request.socket.remoteAddress).then(
      (principal) => {
        if (principal === null) {
          const challenge = credentials.scheme === 'bearer' ? 'Bearer realm="Authentication Required"' : 'Basic realm="nebula"';
          reply.header('WWW-Authenticate', challenge);
          sendError(reply, new NebulaError('UNAUTHORIZED'));
          return;
        }
        if (admit(request, reply, principal, access)) done();
      },
      (err: Error) => done(err),
    );
  });

  // While shutting down, every reply closes its connection, so the server can stop at once.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (ctx.isShuttingDown()) reply.header('Connection', 'close');
    done(null, payload);
  });

  // Metrics (metrics.ts): requests by route pattern, method and status, and their latency.
  app.addHook('onResponse', (request, reply, done) => {
    ctx.metrics.responded(request, reply);
    done();
  });

  // Only when asked for: building the record costs on every request.
  if (ctx.log.isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      ctx.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
      done();
    });
  }

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toNebulaError(err, ctx, request);
    if (err instanceof AuthThrottledError) ctx.metrics.authThrottledOnce();
    if (err instanceof StoreFatalError) reply.raw.once('finish', () => ctx.onFatal(err));
    return sendError(reply, error);
  });

  app.setNotFoundHandler((_request, reply) => sendError(reply, new NebulaError('ROUTE_NOT_FOUND')));

  // Requests are checked against the routes' JSON Schemas (after authentication: onRequest
  // runs first), a refusal told with its catalogued error (src/model/schema.ts). A body left
  // out (or null) is checked, and handed on, as {}.
  const checker = new SchemaChecker();
  app.setValidatorCompiler(({ schema }) => {
    const check = checker.requestCheck(schema as JsonSchema); // compiled now: a schema Ajv refuses stops the start
    return (data: unknown) => {
      const { value, error } = check(data);
      if (error !== null) return { error };
      return value === data ? true : { value };
    };
  });
  // Replies are written as they always were (JSON.stringify), whatever a response schema
  // says: response schemas document, they never drop or reorder a field (ETags hash the bytes).
  app.setSerializerCompiler(() => (data: unknown) => JSON.stringify(data));

  // The OpenAPI document collects the routes as they are declared: registered first, and the
  // routes in a plugin loaded after it. A route declared outside that plugin is not in it.
  const optionalBodies = registerOpenApi(app, (schema) => checker.accepts(schema, {}));
  app.register(async (api) => {
    statusRoutes(api, ctx);
    metricsRoutes(api, ctx);
    reportRoutes(api, ctx);
    appRoutes(api, ctx);
    deviceGroupRoutes(api, ctx);
    cronJobRoutes(api, ctx);
    userRoutes(api, ctx);
    userGroupRoutes(api, ctx);
    dashboardRoutes(api, ctx);
    openApiRoutes(api, optionalBodies);
  });
  return app;
}

