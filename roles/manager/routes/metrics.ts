// GET /metrics: this manager's Prometheus metrics (metrics.ts), in the text exposition format.
//
// Access: any authenticated caller (basic, or the bearer token a Prometheus scraper sends), as
// /api/v2/status: a monitoring user needs no grant at all. The output names no device group,
// app, cron job, user or device (route patterns and fixed labels only), so it tells such a user
// nothing of what it may not read beyond request counts. Never shed: under load it is what
// tells why (it is small and reads counters only), and it does not count as in flight.

import type { FastifyInstance } from 'fastify';
import type { ManagerContext } from '../context.ts';
import { content, documented } from './common.ts';

export function metricsRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const doc = documented({
    tag: 'status',
    summary: 'Prometheus metrics of this manager (any authenticated caller)',
    response: { 200: content('text/plain', 'The Prometheus text exposition format.') },
  });
  app.get('/metrics', { config: { access: { type: 'authenticated' }, neverShed: true }, ...doc }, async (_request, reply) => {
    const { contentType, body } = await ctx.metrics.scrape();
    return reply.header('Cache-Control', 'no-store').type(contentType).send(body);
  });
}
