// The devices' hot path, ahead of fastify's router: a GET of a device group's /info whose
// answer is already known — the group cached, the caller's exact Authorization header
// authenticated within the last minute (auth.ts), the group readable by that caller, nothing
// to hold — is written straight to node:http with the body and ETag computed once per change.
// The same checks in the same order as the fastify route (server.ts onRequest, then
// routes/device-groups.ts), and the same bytes; anything else — a miss, a long-poll to hold,
// an unknown header, a refusal to explain, odd URLs, bodies, shutdown — returns false and
// goes through fastify, which answers it as before. Measured in docs/benchmarks.md (a, b).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { etagMatches } from '../../src/model/info.ts';
import type { ManagerContext } from './context.ts';
import { isAllowed, type Access } from './rbac.ts';

/** The /info route's own path, with a device group name as checkObjectName allows it and at most `?wait=<seconds>`. */
const INFO_URL = /^\/api\/v2\/device_groups\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/info(?:\?wait=(\d{1,6}))?$/;

const JSON_TYPE = 'application/json; charset=utf-8';

/** Answers the request (true) or leaves it untouched for fastify (false). */
export function infoFastPath(ctx: ManagerContext, access: Access): (req: IncomingMessage, res: ServerResponse) => boolean {
  const answered = ctx.metrics.fastPath;
  return (req, res) => {
    // Shedding (and its 503) is fastify's: server.ts.
    if (req.method !== 'GET' || ctx.isShuttingDown() || ctx.load.refuse() !== null) return false;
    const match = INFO_URL.exec(req.url ?? '');
    if (match === null) return false;
    const headers = req.headers;
    if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return false;
    const name = match[1]!;
    const entry = ctx.cache.peek(name);
    if (entry === undefined || entry.body === null) return false;
    const ifNoneMatch = headers['if-none-match'];
    const notModified = etagMatches(ifNoneMatch, entry.etag);
    // Unchanged and asked to wait: a long-poll, which the route holds.
    if (notModified && match[2] !== undefined && Math.min(Number(match[2]), ctx.longPollMaxWaitSeconds) > 0) return false;
    const principal = ctx.auth.cached(headers.authorization);
    if (principal === undefined || !isAllowed(principal, access, name)) return false;
    // Counted in place (metrics.ts fastPathSlot): a number incremented, read when scraped.
    answered[(match[2] !== undefined && Number(match[2]) > 0 ? 2 : 0) + (notModified ? 1 : 0)]!++;
    if (notModified) {
      res.writeHead(304, { etag: entry.etag, 'cache-control': 'no-cache' });
      res.end();
    } else {
      res.writeHead(200, { etag: entry.etag, 'cache-control': 'no-cache', 'content-type': JSON_TYPE, 'content-length': entry.body.length });
      res.end(entry.body);
    }
    return true;
  };
}
