// Device reports: the query the admin API offers over them (pure parsing).

import { NebulaError } from '../errors.ts';
import { defineRefusals, defineRootRefusals, tell, type JsonSchema, type Refusal } from './schema.ts';

export type CreationTimeOp = 'eq' | 'gt' | 'lt' | 'gte' | 'lte' | 'ne';
const OPS: readonly CreationTimeOp[] = ['eq', 'gt', 'lt', 'gte', 'lte', 'ne'];

export const MAX_PAGE_SIZE = 1000;

export interface ReportQuery {
  pageSize: number;
  /** Only reports stored after this one (the previous page's last_id). */
  afterId?: string;
  hostname?: string;
  deviceGroup?: string;
  /** Only reports of these groups (the groups a caller may read; absent: all). */
  inGroups?: readonly string[];
  creationTime?: { op: CreationTimeOp; value: number };
  updated?: boolean;
}

/** A catalogued 400 for one query parameter (GET /reports, GET /devices). */
export function badQuery(param: string, reason: string): NebulaError {
  return new NebulaError('INVALID_QUERY', { [param]: reason }, `${param}: ${reason}`);
}

/**
 * A query string's schema: each parameter given at most once (a string), with the reason
 * told when one is refused. Other parameters are ignored.
 */
export function querySchema(params: Record<string, JsonSchema & { reason: string; once?: string }>, mapper: string): JsonSchema {
  const reasons: Record<string, { reason: string; once: string }> = {};
  const properties: Record<string, JsonSchema> = {};
  for (const [name, { reason, once, ...schema }] of Object.entries(params)) {
    reasons[name] = { reason, once: once ?? 'give it once' };
    properties[name] = { type: 'string', ...schema };
  }
  defineRefusals({
    [mapper]: (r) => {
      const name = r.names[0]!;
      return badQuery(name, r.keyword === 'type' ? reasons[name]!.once : reasons[name]!.reason);
    },
  });
  return { type: 'object', properties, 'x-errors': mapper };
}

const OPS_PATTERN = `must be one of ${OPS.join(', ')}`;

/** GET /reports' query, checked by REPORT_QUERY: the original's parameters. */
export const REPORT_QUERY = querySchema(
  {
    page_size: { description: `Reports per page (default 10; 0 or more than ${MAX_PAGE_SIZE} means ${MAX_PAGE_SIZE}); anything but digits is ignored.`, reason: '' },
    last_id: { description: 'The last_id.$oid of the previous page.', reason: 'must be the last_id.$oid of a previous page' },
    hostname: { reason: '' },
    device_group: { reason: '' },
    report_creation_time: { pattern: '^-?\\d+$', description: 'Unix seconds, compared with report_creation_time_filter.', reason: 'must be an integer (Unix seconds)' },
    report_creation_time_filter: { enum: OPS, description: 'How to compare report_creation_time (default eq).', reason: OPS_PATTERN },
    updated: { enum: ['True', 'true', 'False', 'false'], reason: 'must be True or False' },
  },
  'report-query',
);

/**
 * GET /reports' query (checked by REPORT_QUERY). Where the original answered 500 (bad
 * last_id, unknown operator, `updated=true`) we answer 400 or accept the obvious spelling;
 * page_size 0 ("no limit" in the original) is capped at MAX_PAGE_SIZE so one call cannot
 * drain the store. A last_id must also be an id of this store.
 */
export function reportQuery(query: Record<string, string | undefined>, isId: (id: string) => boolean): ReportQuery {
  const out: ReportQuery = { pageSize: 10 };
  const size = query.page_size;
  if (size !== undefined && /^\d+$/.test(size)) {
    const n = Number(size);
    out.pageSize = n === 0 || n > MAX_PAGE_SIZE ? MAX_PAGE_SIZE : n;
  }
  const lastId = query.last_id;
  if (lastId !== undefined) {
    if (!isId(lastId)) throw badQuery('last_id', 'must be the last_id.$oid of a previous page');
    out.afterId = lastId;
  }
  if (query.hostname !== undefined) out.hostname = query.hostname;
  if (query.device_group !== undefined) out.deviceGroup = query.device_group;
  const time = query.report_creation_time;
  if (time !== undefined) out.creationTime = { op: (query.report_creation_time_filter ?? 'eq') as CreationTimeOp, value: Number(time) };
  const updated = query.updated;
  if (updated !== undefined) out.updated = updated === 'True' || updated === 'true';
  return out;
}

// ---------------------------------------------------------------------------------------
// The report a worker sends: every field of the original's report (existing consumers keep
// reading them), plus what an operator needs to tell whether a device is up to date.

/** Monotonic ids of a config: the group's own and each member's. */
export interface ConfigIds {
  device_group_id: number;
  prune_id: number;
  apps: Record<string, number>;
  cron_jobs: Record<string, number>;
}

export type AppStateName = 'running' | 'starting' | 'restarting' | 'failed' | 'stopped';

/** One app on the device, as the worker sees it when it reports. */
export interface AppState {
  state: AppStateName;
  /** The app_id of the config the device runs (0: none applied yet). */
  app_id: number;
  /** Containers running, and how many the config asks for (n/N). */
  running: number;
  desired: number;
  /** Why it failed (state "failed"). */
  reason?: string;
  /** Restarts seen: the engine's restart counts plus the worker's health-check restarts. */
  restarts?: number;
}

export interface Report {
  // --- the original's fields ---
  memory_usage: { total: number; used: number; free: number; available: number };
  root_disk_usage: { total: number; used: number; free: number };
  cpu_usage: { cores: number; used_percent: number };
  /** Raw Docker stats objects (one-shot) of the app containers. */
  apps_containers: unknown[];
  cron_jobs_containers: unknown[];
  /** The stored /info in the SDK wrapper shape, as the original; null before any config arrived. */
  current_device_group_config: { status_code: 200; reply: unknown } | null;
  device_group: string;
  /** Unix seconds. */
  report_creation_time: number;
  /** The device's name (--device-name, default the host's name), never a container's. */
  hostname: string;
  /** Did any monotonic id increase since the previous report? */
  updated: boolean;
  // --- ours ---
  /** Unique per report: ingestion is idempotent on it. */
  report_id: string;
  worker_version: string;
  /** What the device has applied, and what it was last told (null before any config). */
  applied: ConfigIds;
  desired: ConfigIds | null;
  apps_state: Record<string, AppState>;
  /** The most recent failure on the device, if any. */
  last_error: { at: number; message: string; app?: string } | null;
  /** Reports dropped from the worker's full spool since it was created (oldest first). */
  spool_dropped: number;
}

export const REPORT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A report received by a manager or a reporter, checked enough to be stored and indexed. */
export type IncomingReport = Record<string, unknown> & {
  report_id?: string;
  hostname: string;
  device_group: string;
  report_creation_time: number;
};

function invalid(field: string, reason: string): NebulaError {
  return new NebulaError('INVALID_REPORT', { field }, `${field}: ${reason}`);
}

/**
 * Checks what storing and indexing rely on; other fields are kept as sent. `requireId`:
 * reports over HTTP come from our workers and must carry a report_id; reports from Kafka
 * may come from original 2.x workers, which send none (they are stored, without dedup).
 */
export function validateReport(body: unknown, options: { requireId: boolean }): IncomingReport {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('report', 'must be a JSON object');
  const r = body as Record<string, unknown>;
  if (r.report_id !== undefined || options.requireId) {
    if (typeof r.report_id !== 'string' || !REPORT_ID_PATTERN.test(r.report_id)) {
      throw invalid('report_id', 'must be 1-128 letters, digits, ".", "_", ":" or "-"');
    }
  }
  if (typeof r.hostname !== 'string' || r.hostname.length === 0 || r.hostname.length > 255) {
    throw invalid('hostname', 'must be a string of 1-255 characters');
  }
  if (typeof r.device_group !== 'string' || r.device_group.length === 0 || r.device_group.length > 64) {
    throw invalid('device_group', 'must be a string of 1-64 characters');
  }
  if (typeof r.report_creation_time !== 'number' || !Number.isSafeInteger(r.report_creation_time) || r.report_creation_time < 0) {
    throw invalid('report_creation_time', 'must be a non-negative integer (Unix seconds)');
  }
  if (r.updated !== undefined && typeof r.updated !== 'boolean') throw invalid('updated', 'must be true or false');
  checkIndexedFields(r);
  return r as IncomingReport;
}

const APP_STATES: readonly string[] = ['running', 'starting', 'restarting', 'failed', 'stopped'] satisfies AppStateName[];

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isIdMap(v: unknown): v is Record<string, number> {
  return isPlainObject(v) && Object.values(v).every(isCount);
}

function isAppState(v: unknown): v is AppState {
  return (
    isPlainObject(v) &&
    typeof v.state === 'string' &&
    APP_STATES.includes(v.state) &&
    isCount(v.app_id) &&
    isCount(v.running) &&
    isCount(v.desired) &&
    (v.reason === undefined || typeof v.reason === 'string') &&
    (v.restarts === undefined || isCount(v.restarts))
  );
}

/**
 * Our fields, when present, must have the shape the device index and GET /devices read (an
 * original 2.x worker sends none of them). A report that has them malformed is refused
 * rather than indexed half-read.
 */
function checkIndexedFields(r: Record<string, unknown>): void {
  for (const field of ['applied', 'desired'] as const) {
    if (r[field] !== undefined && r[field] !== null && !isIds(r[field])) {
      throw invalid(field, 'must be {device_group_id, prune_id, apps: {name: id}, cron_jobs: {name: id}} with non-negative integer ids');
    }
  }
  if (r.apps_state !== undefined) {
    if (!isPlainObject(r.apps_state)) throw invalid('apps_state', 'must be an object of app states');
    for (const [app, state] of Object.entries(r.apps_state)) {
      if (!isAppState(state)) {
        throw invalid(`apps_state.${app.slice(0, 64)}`, `must be {state: ${APP_STATES.join('|')}, app_id, running, desired[, reason, restarts]}`);
      }
    }
  }
  const lastError = r.last_error;
  if (lastError !== undefined && lastError !== null) {
    if (!isPlainObject(lastError) || typeof lastError.message !== 'string' || !Number.isFinite(lastError.at) || (lastError.app !== undefined && typeof lastError.app !== 'string')) {
      throw invalid('last_error', 'must be null or {at, message[, app]}');
    }
  }
  if (r.spool_dropped !== undefined && !isCount(r.spool_dropped)) throw invalid('spool_dropped', 'must be a non-negative integer');
  if (r.worker_version !== undefined && typeof r.worker_version !== 'string') throw invalid('worker_version', 'must be a string');
}

// The same rules as a JSON Schema: what POST /api/v2/reports checks (validateReport above
// checks reports from Kafka, where original 2.x workers send no report_id; a test holds the
// two to the same answers). Fields not listed are kept as sent.

const COUNT = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const satisfies JsonSchema;
const ID_MAP = { type: 'object', additionalProperties: COUNT } as const satisfies JsonSchema;
const IDS_REASON = 'must be {device_group_id, prune_id, apps: {name: id}, cron_jobs: {name: id}} with non-negative integer ids';
const APP_STATE_REASON = `must be {state: ${APP_STATES.join('|')}, app_id, running, desired[, reason, restarts]}`;

export const CONFIG_IDS: JsonSchema = {
  type: 'object',
  description: 'The monotonic ids of a config: the group\'s own and each member\'s, by name.',
  properties: { device_group_id: COUNT, prune_id: COUNT, apps: ID_MAP, cron_jobs: ID_MAP },
  required: ['device_group_id', 'prune_id', 'apps', 'cron_jobs'],
};

export const APP_STATE: JsonSchema = {
  type: 'object',
  properties: {
    state: { enum: APP_STATES },
    app_id: { ...COUNT, description: 'The app_id of the config the device runs (0: none applied yet).' },
    running: { ...COUNT, description: 'Containers running.' },
    desired: { ...COUNT, description: 'Containers the config asks for.' },
    reason: { type: 'string', description: 'Why it failed.' },
    restarts: COUNT,
  },
  required: ['state', 'app_id', 'running', 'desired'],
};

const LAST_ERROR: JsonSchema = {
  type: ['object', 'null'],
  description: 'The most recent failure on the device, if any.',
  properties: { at: { type: 'number' }, message: { type: 'string' }, app: { type: 'string' } },
  required: ['at', 'message'],
};

const anything = (description: string): JsonSchema => ({ description });

/** Each field checked, in the order validateReport checks them; the others are kept as sent. */
const REPORT_FIELDS: Record<string, JsonSchema & { reason?: string }> = {
  report_id: { type: 'string', pattern: REPORT_ID_PATTERN.source, description: 'Unique per report: ingestion is idempotent on it.', reason: 'must be 1-128 letters, digits, ".", "_", ":" or "-"' },
  hostname: { type: 'string', minLength: 1, maxLength: 255, description: 'The device\'s name.', reason: 'must be a string of 1-255 characters' },
  device_group: { type: 'string', minLength: 1, maxLength: 64, reason: 'must be a string of 1-64 characters' },
  report_creation_time: { ...COUNT, description: 'Unix seconds.', reason: 'must be a non-negative integer (Unix seconds)' },
  updated: { type: 'boolean', description: 'Did any monotonic id increase since the previous report?', reason: 'must be true or false' },
  applied: { ...CONFIG_IDS, type: ['object', 'null'], description: 'What the device has applied.', reason: IDS_REASON },
  desired: { ...CONFIG_IDS, type: ['object', 'null'], description: 'What the device was last told (null before any config).', reason: IDS_REASON },
  apps_state: { type: 'object', additionalProperties: APP_STATE, description: 'Each app as the worker sees it.', reason: 'must be an object of app states' },
  last_error: { ...LAST_ERROR, reason: 'must be null or {at, message[, app]}' },
  spool_dropped: { ...COUNT, description: 'Reports dropped from the worker\'s full spool.', reason: 'must be a non-negative integer' },
  worker_version: { type: 'string', reason: 'must be a string' },
  memory_usage: anything('{total, used, free, available} bytes.'),
  root_disk_usage: anything('{total, used, free} bytes.'),
  cpu_usage: anything('{cores, used_percent}.'),
  apps_containers: anything('Raw Docker stats of the app containers.'),
  cron_jobs_containers: anything('Raw Docker stats of the cron job containers.'),
  current_device_group_config: anything('The stored /info in the SDK wrapper shape ({status_code, reply}); null before any config.'),
};

const reportReasons = Object.fromEntries(Object.entries(REPORT_FIELDS).map(([k, v]) => [k, v.reason ?? '']));

/** A report a worker sends over HTTP. */
export const REPORT: JsonSchema = {
  type: 'object',
  description: 'A device report: the original\'s fields, plus what tells whether the device is up to date. Other fields are kept as sent.',
  properties: Object.fromEntries(Object.entries(REPORT_FIELDS).map(([k, { reason: _reason, ...schema }]) => [k, schema])),
  required: ['report_id', 'hostname', 'device_group', 'report_creation_time'],
  'x-errors': 'report',
};

/** Most reports in one POST (a worker's spool sends batches of at most this many). */
export const MAX_REPORTS_PER_REQUEST = 500;

/** POST /api/v2/reports: one report or a list of them. */
export const REPORT_BATCH: JsonSchema = {
  description: `One report, or a list of at most ${MAX_REPORTS_PER_REQUEST}.`,
  oneOf: [REPORT, { type: 'array', maxItems: MAX_REPORTS_PER_REQUEST, items: REPORT }],
  'x-errors': 'report-batch',
};

defineRefusals({
  report: (r: Refusal) => {
    const [first, second] = r.names;
    if (first === undefined) return invalid('report', 'must be a JSON object');
    if (first === 'apps_state' && second !== undefined) return invalid(`apps_state.${second.slice(0, 64)}`, APP_STATE_REASON);
    return invalid(first, reportReasons[first] ?? 'invalid');
  },
});

defineRootRefusals({
  'report-batch': (all, data) => {
    const list = Array.isArray(data) ? data : [data];
    if (list.length > MAX_REPORTS_PER_REQUEST) {
      return new NebulaError('TOO_MANY_REPORTS', { max: MAX_REPORTS_PER_REQUEST, count: list.length }, `at most ${MAX_REPORTS_PER_REQUEST} reports per request, got ${list.length}`);
    }
    // Only the errors of the branch for what was sent: a list of reports, or one report.
    const branch = Array.isArray(data) ? '#/oneOf/1/' : '#/oneOf/0/';
    const first = all.find((r) => r.error.schemaPath.startsWith(branch));
    const index = Array.isArray(data) ? Number(first?.error.instancePath.split('/')[1] ?? 0) : 0;
    const err = first === undefined ? invalid('report', 'must be a JSON object') : tell(first, all);
    return new NebulaError(err.code, { ...err.details, index }, `report ${index}: ${err.message}`);
  },
});

// ---------------------------------------------------------------------------------------
// The device index: the latest state of every device, kept beside the reports so that
// GET /devices answers from it, never from a scan of the reports.

export interface DeviceRecord {
  hostname: string;
  device_group: string;
  /** report_creation_time of the latest report (Unix seconds). */
  last_seen: number;
  /** When the store received that report (Unix ms). */
  received_at: number;
  report_id: string | null;
  worker_version: string | null;
  /** Null when the report does not say (an original 2.x worker's: see summarizeReport). */
  applied: ConfigIds | null;
  desired: ConfigIds | null;
  apps_state: Record<string, AppState>;
  last_error: Report['last_error'];
  spool_dropped: number;
}

function idsOfInfo(reply: unknown): ConfigIds | null {
  if (typeof reply !== 'object' || reply === null) return null;
  const r = reply as Record<string, unknown>;
  if (!Number.isInteger(r.device_group_id) || !Number.isInteger(r.prune_id)) return null;
  const ids = (list: unknown, name: string, id: string): Record<string, number> => {
    const out: Record<string, number> = {};
    if (Array.isArray(list)) {
      for (const item of list) {
        const o = item as Record<string, unknown> | null;
        if (o && typeof o[name] === 'string' && Number.isInteger(o[id])) out[o[name] as string] = o[id] as number;
      }
    }
    return out;
  };
  return {
    device_group_id: r.device_group_id as number,
    prune_id: r.prune_id as number,
    apps: ids(r.apps, 'app_name', 'app_id'),
    cron_jobs: ids(r.cron_jobs, 'cron_job_name', 'cron_job_id'),
  };
}

function isIds(v: unknown): v is ConfigIds {
  return isPlainObject(v) && isCount(v.device_group_id) && isCount(v.prune_id) && isIdMap(v.apps) && isIdMap(v.cron_jobs);
}

/**
 * The index entry a report makes. An original 2.x worker applies what it fetched at once,
 * so its stored config (current_device_group_config.reply) stands for both applied and desired.
 */
export function summarizeReport(report: IncomingReport, receivedAt: number): DeviceRecord {
  const legacy = idsOfInfo((report.current_device_group_config as { reply?: unknown } | null | undefined)?.reply);
  const applied = isIds(report.applied) ? report.applied : legacy;
  const desired = report.desired === null || isIds(report.desired) ? (report.desired ?? null) : legacy;
  const lastError = report.last_error as Report['last_error'] | undefined;
  return {
    hostname: report.hostname,
    device_group: report.device_group,
    last_seen: report.report_creation_time,
    received_at: receivedAt,
    report_id: report.report_id ?? null,
    worker_version: typeof report.worker_version === 'string' ? report.worker_version : null,
    applied,
    desired: report.desired === undefined ? legacy : desired,
    apps_state: typeof report.apps_state === 'object' && report.apps_state !== null ? (report.apps_state as Record<string, AppState>) : {},
    last_error: typeof lastError === 'object' && lastError !== null ? lastError : null,
    spool_dropped: Number.isSafeInteger(report.spool_dropped) ? (report.spool_dropped as number) : 0,
  };
}

export interface DeviceQuery {
  pageSize: number;
  /** Only devices whose hostname sorts after this one (the previous page's last_id). */
  afterHostname?: string;
  deviceGroup?: string;
  /** Only devices of these groups (the groups a caller may read; absent: all). */
  inGroups?: readonly string[];
}
