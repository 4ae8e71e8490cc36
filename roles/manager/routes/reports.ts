// Device reports: POST /api/v2/reports (workers send them; idempotent on report_id),
// GET /api/v2/reports (the original's query, wire-compatible), and the device index:
// GET /api/v2/devices and GET /api/v2/devices/<hostname>, each device set against the
// current config of its group (behind or not, and why).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { DEVICE_QUERY, DEVICE_VIEW, deviceQuery, deviceView, idsOfInfo, type DeviceView } from '../../../src/model/device.ts';
import { buildInfo } from '../../../src/model/info.ts';
import { MAX_REPORTS_PER_REQUEST, REPORT_BATCH, REPORT_QUERY, reportQuery, type ConfigIds, type IncomingReport } from '../../../src/model/report.ts';
import { OID } from '../../../src/model/responses.ts';
import type { JsonSchema } from '../../../src/model/schema.ts';
import type { ManagerContext } from '../context.ts';
import { isAllowed, type Access, type Principal } from '../rbac.ts';
import { AUTHENTICATED, documented, param, V2 } from './common.ts';

export { MAX_REPORTS_PER_REQUEST };

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

/** A checked batch (REPORT_BATCH): one report or a list. */
const reportsOf = (body: unknown): IncomingReport[] => (Array.isArray(body) ? body : [body]) as IncomingReport[];

const tag = 'reports and devices';
/** GET /devices?behind=…: devices scanned per store read, and at most per request. */
const BEHIND_SCAN_BATCH = 1000;
const BEHIND_SCAN_BUDGET = 20_000;

/** A page of a listing: data null and last_id null mark the end. */
function page(item: JsonSchema, lastId: JsonSchema): JsonSchema {
  return {
    type: 'object',
    properties: { data: { type: ['array', 'null'], items: item }, last_id: { anyOf: [lastId, { type: 'null' }] } },
    required: ['data', 'last_id'],
    additionalProperties: false,
  };
}

const STORED_REPORT: JsonSchema = {
  type: 'object',
  description: 'A report as sent, with its _id and when the store received it.',
  properties: {
    _id: OID,
    report_insert_date: { type: 'object', properties: { $date: { type: 'string', format: 'date-time' } }, required: ['$date'] },
    hostname: { type: 'string' },
    device_group: { type: 'string' },
    report_creation_time: { type: 'integer' },
  },
  required: ['_id', 'report_insert_date', 'hostname', 'device_group', 'report_creation_time'],
};

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

  const post = documented({
    tag,
    summary: 'Store device reports (workers send them; idempotent on report_id)',
    description: 'Every report of the batch, or none: a caller reports only for device groups it may read.',
    body: REPORT_BATCH,
    response: {
      200: {
        type: 'object',
        properties: { stored: { type: 'integer', minimum: 0 }, duplicates: { type: 'integer', minimum: 0 } },
        required: ['stored', 'duplicates'],
        additionalProperties: false,
      },
    },
  });
  app.post(`${V2}/reports`, { ...AUTHENTICATED, bodyLimit: REPORTS_BODY_LIMIT, ...post }, async (request) => {
    const reports = reportsOf(request.body);
    const principal = principalOf(request);
    // Every report of the batch, or none: a device reports only for groups it may read.
    for (const group of new Set(reports.map((r) => r.device_group))) {
      if (!canRead(principal, group)) throw new NebulaError('ACCESS_DENIED', { device_group: group });
    }
    if (reports.length === 0) return { stored: 0, duplicates: 0 };
    const { inserted, duplicates } = await ctx.store.insertReports(reports, new Date());
    return { stored: inserted, duplicates };
  });

  const query = documented({
    tag,
    summary: 'Query device reports (as the original; a user who is not admin sees the groups it may read)',
    querystring: REPORT_QUERY,
    response: { 200: page(STORED_REPORT, OID) },
  });
  app.get(`${V2}/reports`, { ...AUTHENTICATED, ...query }, async (request) => {
    const query = reportQuery(request.query as Record<string, string | undefined>, (id) => ctx.store.isReportId(id));
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

  // Pages by hostname. last_id is the last hostname scanned, so the behind filter never makes a
  // page skip devices: a page may come back short (or []) with a last_id to go on from;
  // {data: null, last_id: null} marks the end.
  const devices = documented({
    tag,
    summary: 'List devices by hostname: each one\'s latest report set against its group\'s current config',
    description: 'With behind, the page is filled by scanning on (at most 20,000 devices a request): it may come back short, or with data [], and a last_id to go on from.',
    querystring: DEVICE_QUERY,
    response: { 200: page(DEVICE_VIEW, { type: 'string' }) },
  });
  app.get(`${V2}/devices`, { ...AUTHENTICATED, ...devices }, async (request) => {
    const { store: query, behind } = deviceQuery(request.query as Record<string, string | undefined>);
    const readable = readableGroups(principalOf(request));
    if (readable !== null) {
      if (readable.length === 0) return { data: null, last_id: null };
      query.inGroups = readable;
    }
    // behind=true|false is no column: whether a device is behind depends on its group's config
    // now. So that filter scans on, in hostname order, 1,000 devices a store read and at most
    // BEHIND_SCAN_BUDGET a request, until the page is full — a fleet where 1 device in 100 is
    // behind still answers full pages; past the budget a page may come back short (or []) with
    // the last_id to go on from. Without it, one read of a page.
    const pageSize = query.pageSize;
    const [batch, budget] = behind === undefined ? [pageSize, pageSize] : [BEHIND_SCAN_BATCH, BEHIND_SCAN_BUDGET];
    const views: DeviceView[] = [];
    const current = new Map<string, ConfigIds | null>();
    let lastId: string | undefined;
    let scanned = 0;
    const now = Date.now();
    scan: while (scanned < budget) {
      const size = Math.min(batch, budget - scanned);
      const records = await ctx.store.listDevices({ ...query, pageSize: size });
      const unknown = records.map((r) => r.device_group).filter((g) => !current.has(g));
      for (const [group, ids] of await currentIds(unknown)) current.set(group, ids);
      for (const r of records) {
        scanned += 1;
        lastId = r.hostname;
        const view = deviceView(r, current.get(r.device_group) ?? null, now);
        if (behind === undefined || view.behind === behind) views.push(view);
        if (views.length === pageSize) break scan;
      }
      if (records.length < size) break; // the last device
      query.afterHostname = lastId;
    }
    if (lastId === undefined) return { data: null, last_id: null };
    return { data: views, last_id: lastId };
  });

  const device = documented({
    tag,
    summary: 'One device: is it behind its group\'s config, and why',
    params: { type: 'object', properties: { hostname: { type: 'string' } }, required: ['hostname'] },
    response: { 200: DEVICE_VIEW },
  });
  app.get(`${V2}/devices/:hostname`, { ...AUTHENTICATED, ...device }, async (request) => {
    const hostname = param(request, 'hostname');
    const record = await ctx.store.getDevice(hostname);
    // A device of a group the caller may not read is answered as unknown: no existence leak.
    if (record === null || !canRead(principalOf(request), record.device_group)) throw new NebulaError('DEVICE_NOT_FOUND', { hostname });
    const current = await currentIds([record.device_group]);
    return deviceView(record, current.get(record.device_group) ?? null, Date.now());
  });
}
