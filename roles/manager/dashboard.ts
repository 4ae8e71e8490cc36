// The web dashboard (web/): three public static files under /ui/. GET / stays a 404, as in
// Nebula 2.7 (clients probe it); /ui sends to /ui/.
//
// The files hold no data and no secret: the page asks the authenticated admin API for
// everything, with the credentials the user typed (kept in the tab's sessionStorage, sent as
// an Authorization header; no cookie, so nothing for a cross-site request to ride on). What
// protects the page itself: a strict Content-Security-Policy (its own script and style only,
// no inline code, no framing), nosniff, no referrer.
//
// Caching: every file has a strong ETag (If-None-Match answers 304). index.html names its
// script and stylesheet with their hash (app.js?v=<hash>); such a request is cached for a
// year (immutable), any other revalidates every time.
//
// From source the assets are built from web/ on the first request (dashboard-assets.ts); the
// single executable carries them prebuilt. A build that fails is a 500 and is tried again on
// the next request.

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import { NebulaError } from '../../src/errors.ts';
import type { ManagerContext } from './context.ts';
import { loadDashboardAssets, type DashboardAssets } from './dashboard-assets.ts';
import { PUBLIC } from './routes/common.ts';

export const DASHBOARD_PATH = '/ui/';

/** Public, and left out of the API's OpenAPI document (@fastify/swagger reads schema.hide). */
const STATIC = { ...PUBLIC, schema: { hide: true } as FastifySchema };

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<keyof DashboardAssets, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

interface Served {
  body: Buffer;
  hash: string;
  type: string;
}

const hashOf = (body: Buffer | string) => createHash('sha256').update(body).digest('base64url').slice(0, 22);

/** The assets as served: index.html pointing at its script and stylesheet by hash. */
function prepare(assets: DashboardAssets): Map<string, Served> {
  const served = new Map<string, Served>();
  const add = (name: keyof DashboardAssets, text: string) => {
    const body = Buffer.from(text, 'utf8');
    served.set(name, { body, hash: hashOf(body), type: TYPES[name] });
  };
  add('app.js', assets['app.js']);
  add('app.css', assets['app.css']);
  let html = assets['index.html'];
  for (const name of ['app.js', 'app.css'] as const) html = html.replace(`"${name}"`, `"${name}?v=${served.get(name)!.hash}"`);
  add('index.html', html);
  return served;
}

export function dashboardRoutes(app: FastifyInstance, ctx: ManagerContext, load: () => Promise<DashboardAssets> = loadDashboardAssets): void {
  let assets: Promise<Map<string, Served>> | undefined;
  const files = () => {
    assets ??= load().then(prepare, (err: unknown) => {
      assets = undefined;
      ctx.log.error({ err }, 'the dashboard could not be built: /ui/ answers 500 until it can');
      throw new NebulaError('INTERNAL');
    });
    return assets;
  };

  async function serve(name: keyof DashboardAssets, request: FastifyRequest, reply: FastifyReply) {
    const file = (await files()).get(name)!;
    const etag = `"${file.hash}"`;
    const version = (request.query as Record<string, unknown>).v;
    reply.headers(SECURITY_HEADERS);
    reply.header('etag', etag);
    reply.header('cache-control', version === file.hash ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (request.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type(file.type).send(file.body);
  }

  app.get('/ui', STATIC, async (_request, reply) => reply.redirect(DASHBOARD_PATH, 301));
  app.get(DASHBOARD_PATH, STATIC, (request, reply) => serve('index.html', request, reply));
  app.get(`${DASHBOARD_PATH}app.js`, STATIC, (request, reply) => serve('app.js', request, reply));
  app.get(`${DASHBOARD_PATH}app.css`, STATIC, (request, reply) => serve('app.css', request, reply));
}
