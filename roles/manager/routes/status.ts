// /api/v2/status (authenticated, as in the original), /healthz and /readyz (public, for
// load balancers and systemd). Reports and devices: routes/reports.ts.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import type { ManagerContext } from '../context.ts';
import type { JsonSchema } from '../../../src/model/schema.ts';
import { AUTHENTICATED, PUBLIC, V2, documented } from './common.ts';

const tag = 'status';
const status = (value: string): JsonSchema => ({ type: 'object', properties: { status: { const: value } }, required: ['status'], additionalProperties: false });

export function statusRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const api = documented({
    tag,
    summary: 'Is the API available (authenticated, as in the original)',
    response: { 200: { type: 'object', properties: { api_available: { const: true } }, required: ['api_available'], additionalProperties: false } },
  });
  app.get(`${V2}/status`, { ...AUTHENTICATED, ...api }, async () => ({ api_available: true }));

  const health = documented({ tag, summary: 'Liveness, for load balancers and systemd (no credentials)', public: true, response: { 200: status('ok') } });
  app.get('/healthz', { ...PUBLIC, ...health }, async () => ({ status: 'ok' }));

  const ready = documented({ tag, summary: 'Readiness: the store answers and the manager is not shutting down (no credentials)', public: true, response: { 200: status('ready') } });
  app.get('/readyz', { ...PUBLIC, ...ready }, async () => {
    if (ctx.isShuttingDown()) throw new NebulaError('SHUTTING_DOWN');
    if (ctx.isStoreDown()) throw new NebulaError('STORE_UNAVAILABLE');
    try {
      await ctx.store.ping();
    } catch {
      throw new NebulaError('STORE_UNAVAILABLE');
    }
    return { status: 'ready' };
  });
}
