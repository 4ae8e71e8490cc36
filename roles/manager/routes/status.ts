// /api/v2/status (authenticated, as in the original), /healthz and /readyz (public, for
// load balancers and systemd). Reports and devices: routes/reports.ts.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import type { ManagerContext } from '../context.ts';
import { AUTHENTICATED, PUBLIC, V2 } from './common.ts';

export function statusRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  app.get(`${V2}/status`, AUTHENTICATED, async () => ({ api_available: true }));

  app.get('/healthz', PUBLIC, async () => ({ status: 'ok' }));

  app.get('/readyz', PUBLIC, async () => {
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
