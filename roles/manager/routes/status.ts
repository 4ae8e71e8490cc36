// /api/v2/status (authenticated, as in the original), /healthz and /readyz (public, for
// load balancers and systemd), and GET /api/v2/reports.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { parseReportQuery } from '../../../src/model/report.ts';
import type { ManagerContext } from '../context.ts';
import { AUTHENTICATED, PUBLIC, V2 } from './common.ts';

export function statusRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  app.get(`${V2}/status`, AUTHENTICATED, async () => ({ api_available: true }));

  app.get('/healthz', PUBLIC, async () => ({ status: 'ok' }));

  app.get('/readyz', PUBLIC, async () => {
    if (ctx.isShuttingDown()) throw new NebulaError('SHUTTING_DOWN');
    try {
      await ctx.store.ping();
    } catch {
      throw new NebulaError('STORE_UNAVAILABLE');
    }
    return { status: 'ready' };
  });

  app.get(`${V2}/reports`, AUTHENTICATED, async (request) => {
    const query = parseReportQuery(request.query as Record<string, unknown>, (id) => ctx.store.isReportId(id));
    const rows = await ctx.store.queryReports(query);
    const last = rows.at(-1);
    if (last === undefined) return { data: null, last_id: null };
    return {
      data: rows.map((row) => ({
        ...row.report,
        _id: { $oid: row.id },
        report_insert_date: { $date: row.insertedAt.toISOString() },
      })),
      last_id: { $oid: last.id },
    };
  });
}
