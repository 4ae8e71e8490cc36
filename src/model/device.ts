// A device as an operator sees it: its index entry (the latest report's summary) set against
// the manager's current config for its group, saying whether it is behind and why (pure).

import type { Info } from './info.ts';
import type { JsonSchema } from './schema.ts';
import { APP_STATE, CONFIG_IDS, querySchema, type AppStateName, type ConfigIds, type DeviceQuery, type DeviceRecord } from './report.ts';

export interface FailingApp {
  app: string;
  state: AppStateName;
  reason?: string;
  running: number;
  desired: number;
  restarts?: number;
}

export interface DeviceView extends DeviceRecord {
  /** Seconds since the latest report was made (by the device's clock; never negative). */
  seconds_since_seen: number;
  /** The manager's ids for the device's group now; null when the group does not exist. */
  current: ConfigIds | null;
  /** True when behind_reasons is not empty. */
  behind: boolean;
  /** One line per difference, each naming what differs and how. */
  behind_reasons: string[];
  /** Apps that should run but do not run fully: failed, starting or restarting. */
  failing_apps: FailingApp[];
}

/** The monotonic ids of a group's current config (what GET /info would serve). */
export function idsOfInfo(info: Info): ConfigIds {
  return {
    device_group_id: info.device_group_id,
    prune_id: info.prune_id,
    apps: Object.fromEntries(info.apps.map((a) => [a.app_name, a.app_id])),
    cron_jobs: Object.fromEntries(info.cron_jobs.map((c) => [c.cron_job_name, c.cron_job_id])),
  };
}

/**
 * A stopped app is not failing: the worker reports "stopped" only when the config it applied
 * says running: false. Whether that config is the current one shows in the app_id reason.
 */
function failingApps(record: DeviceRecord): FailingApp[] {
  const out: FailingApp[] = [];
  for (const name of Object.keys(record.apps_state).sort()) {
    const s = record.apps_state[name]!;
    if (s.state === 'running' || s.state === 'stopped') continue;
    out.push({
      app: name,
      state: s.state,
      ...(s.reason !== undefined ? { reason: s.reason } : {}),
      running: s.running,
      desired: s.desired,
      ...(s.restarts !== undefined ? { restarts: s.restarts } : {}),
    });
  }
  return out;
}

/** Members (apps or cron jobs) whose applied id differs from the current one, or that only one side has. */
function memberReasons(label: string, idName: string, applied: Record<string, number>, current: Record<string, number>): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of new Set([...Object.keys(current), ...Object.keys(applied)])) {
    // Own keys only: an app named "constructor" must not find Object.prototype's.
    const a = Object.hasOwn(applied, name) ? applied[name] : undefined;
    const c = Object.hasOwn(current, name) ? current[name] : undefined;
    if (a === undefined) out.set(name, `${label} ${name}: not applied yet`);
    else if (c === undefined) out.set(name, `${label} ${name}: applied, no longer in the device group`);
    else if (a !== c) out.set(name, `${label} ${name}: ${idName} ${a} applied, ${c} current`);
  }
  return out;
}

function stateReason(f: FailingApp): string {
  if (f.state === 'failed') return `app ${f.app}: failed${f.reason ? `: ${f.reason}` : ''}`;
  return `app ${f.app}: ${f.state}, ${f.running}/${f.desired} containers running`;
}

/**
 * Why the device is not running the current config. The device's applied ids are compared
 * with `current` one by one (equal means up to date: an id that is higher on the device, as
 * after a group was re-created, is a difference too); apps that do not run fully are added.
 * An unknown applied config (a device that has applied nothing yet, or an original 2.x
 * worker before its first config) counts as behind whenever the group exists. A device of a
 * group that no longer exists is behind, with that one reason beside its apps' failures.
 */
function behindReasons(record: DeviceRecord, current: ConfigIds | null, failing: FailingApp[]): string[] {
  const reasons: string[] = [];
  const { applied, desired } = record;
  const appReasons = new Map<string, string[]>();
  const addApp = (name: string, reason: string) => appReasons.set(name, [...(appReasons.get(name) ?? []), reason]);
  let cronReasons = new Map<string, string>();

  if (current === null) {
    reasons.push('the device group no longer exists');
  } else if (applied === null) {
    reasons.push(`the device reports no applied config (device_group_id ${current.device_group_id} current)`);
  } else {
    if (applied.device_group_id !== current.device_group_id) {
      reasons.push(`device_group_id ${applied.device_group_id} applied, ${current.device_group_id} current`);
    }
    if (applied.prune_id !== current.prune_id) reasons.push(`prune_id ${applied.prune_id} applied, ${current.prune_id} current`);
    for (const [name, reason] of memberReasons('app', 'app_id', applied.apps, current.apps)) addApp(name, reason);
    cronReasons = memberReasons('cron job', 'cron_job_id', applied.cron_jobs, current.cron_jobs);
  }
  // The device was told a config it has not applied (it fails to, or is still at it).
  if (applied !== null && desired !== null && desired.device_group_id !== applied.device_group_id) {
    reasons.push(`the device has config ${desired.device_group_id} but applied ${applied.device_group_id}`);
  }
  for (const f of failing) addApp(f.app, stateReason(f));
  for (const name of [...appReasons.keys()].sort()) reasons.push(...appReasons.get(name)!);
  for (const name of [...cronReasons.keys()].sort()) reasons.push(cronReasons.get(name)!);
  return reasons;
}

/** The record with what an operator needs: how long ago, the current ids, behind and why. */
export function deviceView(record: DeviceRecord, current: ConfigIds | null, nowMs: number): DeviceView {
  const failing = failingApps(record);
  const reasons = behindReasons(record, current, failing);
  return {
    ...record,
    seconds_since_seen: Math.max(0, Math.floor(nowMs / 1000) - record.last_seen),
    current,
    behind: reasons.length > 0,
    behind_reasons: reasons,
    failing_apps: failing,
  };
}

// ---------------------------------------------------------------------------------------
// GET /devices' query.

export const DEVICE_PAGE_SIZE = 100;
export const MAX_DEVICE_PAGE_SIZE = 1000;

export interface DeviceListQuery {
  /** What the store scans; the caller adds inGroups (the groups it may read). */
  store: DeviceQuery;
  /** Keep only devices behind (true) or up to date (false), among those scanned. */
  behind?: boolean;
}

/** GET /devices' query, checked by DEVICE_QUERY. */
export const DEVICE_QUERY = querySchema(
  {
    page_size: {
      pattern: `^(?=\\d{1,7}$)0*([1-9]\\d{0,2}|1000)$`,
      description: `Devices per page: 1 to ${MAX_DEVICE_PAGE_SIZE} (default ${DEVICE_PAGE_SIZE}).`,
      reason: `must be an integer from 1 to ${MAX_DEVICE_PAGE_SIZE}`,
    },
    last_id: { minLength: 1, maxLength: 255, description: 'The last_id (a hostname) of the previous page.', reason: 'must be the last_id (a hostname) of a previous page' },
    device_group: { minLength: 1, maxLength: 64, reason: 'must be a device group name' },
    behind: { enum: ['true', 'True', 'false', 'False'], description: 'Only devices behind (true) or up to date (false): the page is filled by scanning on, up to 20,000 devices a request.', reason: 'must be true or false' },
  },
  'device-query',
);

/** Parses GET /devices' query (checked by DEVICE_QUERY): page_size (1-1000, default 100), last_id, device_group, behind. */
export function deviceQuery(query: Record<string, string | undefined>): DeviceListQuery {
  const out: DeviceListQuery = { store: { pageSize: DEVICE_PAGE_SIZE } };
  if (query.page_size !== undefined) out.store.pageSize = Number(query.page_size);
  if (query.last_id !== undefined) out.store.afterHostname = query.last_id;
  if (query.device_group !== undefined) out.store.deviceGroup = query.device_group;
  if (query.behind !== undefined) out.behind = query.behind === 'true' || query.behind === 'True';
  return out;
}

const NULLABLE_IDS: JsonSchema = { ...CONFIG_IDS, type: ['object', 'null'] };
const COUNT = { type: 'integer', minimum: 0 } as const satisfies JsonSchema;

/** A device as GET /devices and /devices/<hostname> answer it. */
export const DEVICE_VIEW: JsonSchema = {
  type: 'object',
  properties: {
    hostname: { type: 'string' },
    device_group: { type: 'string' },
    last_seen: { ...COUNT, description: 'report_creation_time of the latest report (Unix seconds).' },
    received_at: { ...COUNT, description: 'When the store received it (Unix ms).' },
    report_id: { type: ['string', 'null'] },
    worker_version: { type: ['string', 'null'] },
    applied: { ...NULLABLE_IDS, description: 'What the device has applied (null: it does not say).' },
    desired: { ...NULLABLE_IDS, description: 'What the device was last told.' },
    apps_state: { type: 'object', additionalProperties: APP_STATE },
    last_error: {
      type: ['object', 'null'],
      properties: { at: { type: 'number' }, message: { type: 'string' }, app: { type: 'string' } },
      required: ['at', 'message'],
    },
    spool_dropped: COUNT,
    seconds_since_seen: { ...COUNT, description: 'Since the latest report was made, by the device\'s clock.' },
    current: { ...NULLABLE_IDS, description: 'The group\'s current ids; null when the group does not exist.' },
    behind: { type: 'boolean', description: 'True when behind_reasons is not empty.' },
    behind_reasons: { type: 'array', items: { type: 'string' }, description: 'One line per difference.' },
    failing_apps: {
      type: 'array',
      description: 'Apps that should run but do not run fully.',
      items: {
        type: 'object',
        properties: {
          app: { type: 'string' },
          state: APP_STATE.properties!.state!,
          reason: { type: 'string' },
          running: COUNT,
          desired: COUNT,
          restarts: COUNT,
        },
        required: ['app', 'state', 'running', 'desired'],
        additionalProperties: false,
      },
    },
  },
  required: [
    'hostname', 'device_group', 'last_seen', 'received_at', 'report_id', 'worker_version', 'applied', 'desired', 'apps_state',
    'last_error', 'spool_dropped', 'seconds_since_seen', 'current', 'behind', 'behind_reasons', 'failing_apps',
  ],
  additionalProperties: false,
};
