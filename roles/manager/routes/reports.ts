// Device reports: POST /api/v2/reports (workers send them; idempotent on report_id),
// GET /api/v2/reports (the original's query, wire-compatible), and the device index:
// GET /api/v2/devices and GET /api/v2/devices/<hostname>, each device set against the
// current config of its group (behind or not, and why).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { deviceView, idsOfInfo, parseDeviceQuery } from '../../../src/model/device.ts';
import { buildInfo } from '../../../src/model/info.ts';
import { parseReportQuery, validateReport, type ConfigIds, type IncomingReport } from '../../../src/model/report.ts';
import type { ManagerContext } from '../context.ts';
import { isAllowed, type Access, type Principal } from '../rbac.ts';
import { AUTHENTICATED, param, V2 } from './common.ts';

/** Most reports in one POST (a worker's spool sends batches of at most this many). */
export const MAX_REPORTS_PER_REQUEST = 500;
/** Reports carry raw Docker stats of every container: a batch is far larger than an admin call. */
export const REPORTS_BODY_LIMIT = 16 * 1024 * 1024;

/** Reading a device group's devices, or reporting for it, takes what reading its /info takes. */
const READ_GROUP: Access = { type: 'object', kind: 'device_groups', level: 'ro', param: 'device_group' };

function principalOf(request: FastifyRequest): Principal {
  // Set by the onRequest hook on every route that is not public.
  if (request.principal === undefined) throw new NebulaError('INTERNAL');
  return request.principal;
}

const canRead = (principal: Principal, group: string) => isAllowed(principal, READ_GROUP, group);

/** The groups whose devices the principal may see; null: all of them. */
function readableGroups(principal: Principal): string[] | null {
  if (principal.type === 'admin' || principal.permissions.admin) return null;
  return Object.keys(principal.permissions.device_groups).filter((group) => canRead(principal, group));
}

function validateBatch(body: unknown): IncomingReport[] {
  const list = Array.isArray(body) ? body : [body];
  if (list.length > MAX_REPORTS_PER_REQUEST) {
    throw new NebulaError('TOO_MANY_REPORTS', { max: MAX_REPORTS_PER_REQUEST, count: list.length }, `at most ${MAX_REPORTS_PER_REQUEST} reports per request, got ${list.length}`);
  }
  return list.map((report, index) => {
    try {
      return validateReport(report, { requireId: true });
    } catch (err) {
      if (!(err instanceof NebulaError)) throw err;
      throw new NebulaError(err.code, { ...err.details, index }, `report ${index}: ${err.message}`);
    }
  });
}

export function reportRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  /** Each group's current ids, read once per group from the store (not the cache: exact, and never a scan of reports). */
  async function currentIds(groups: Iterable<string>): Promise<Map<string, ConfigIds | null>> {
    const entries = await Promise.all(
      [...new Set(groups)].map(async (group) => {
        const { snapshot } = await ctx.store.info(group);
        const ids = snapshot === null ? null : idsOfInfo(buildInfo(snapshot.group, snapshot.apps, snapshot.cronJobs));
        return [group, ids] as const;
      }),
    );
    return new Map(entries);
  }

  app.post(`${V2}/reports`, { ...AUTHENTICATED, bodyLimit: REPORTS_BODY_LIMIT }, async (request) => {
    const reports = validateBatch(request.body);
    const principal = principalOf(request);
    // Every report of the batch, or none: a device reports only for groups it may read.
    for (const group of new Set(reports.map((r) => r.device_group))) {
      if (!canRead(principal, group)) throw new NebulaError('ACCESS_DENIED', { device_group: group });
    }
    if (reports.length === 0) return { stored: 0, duplicates: 0 };
    const { inserted, duplicates } = await ctx.store.insertReports(reports, new Date());
    return { stored: inserted, duplicates };
  });

  app.get(`${V2}/reports`, AUTHENTICATED, async (request) => {
    const query = parseReportQuery(request.query as Record<string, unknown>, (id) => ctx.store.isReportId(id));
    // A report carries its group's config (env values included): only the groups the caller
    // may read, as GET /devices (the original showed every report to every user).
    const readable = readableGroups(principalOf(request));
    if (readable !== null) {
      if (readable.length === 0) return { data: null, last_id: null };
      query.inGroups = readable;
    }
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

  // Pages by hostname. last_id is the last hostname scanned, so the behind filter (applied to
  // the scanned page) never makes a page skip devices: a page may come back with data [] and
  // a last_id to go on from; {data: null, last_id: null} marks the end.
  app.get(`${V2}/devices`, AUTHENTICATED, async (request) => {
    const { store: query, behind } = parseDeviceQuery(request.query as Record<string, unknown>);
    const readable = readableGroups(principalOf(request));
    if (readable !== null) {
      if (readable.length === 0) return { data: null, last_id: null };
      query.inGroups = readable;
    }
    const records = await ctx.store.listDevices(query);
    const last = records.at(-1);
    if (last === undefined) return { data: null, last_id: null };
    const current = await currentIds(records.map((r) => r.device_group));
    const now = Date.now();
    const views = records
      .map((r) => deviceView(r, current.get(r.device_group) ?? null, now))
      .filter((v) => behind === undefined || v.behind === behind);
    return { data: views, last_id: last.hostname };
  });

  app.get(`${V2}/devices/:hostname`, AUTHENTICATED, async (request) => {
    const hostname = param(request, 'hostname');
    const record = await ctx.store.getDevice(hostname);
    // A device of a group the caller may not read is answered as unknown: no existence leak.
    if (record === null || !canRead(principalOf(request), record.device_group)) throw new NebulaError('DEVICE_NOT_FOUND', { hostname });
    const current = await currentIds([record.device_group]);
    return deviceView(record, current.get(record.device_group) ?? null, Date.now());
  });
}
