// Device groups: the apps and cron jobs every device of the group runs (pure).

import { NebulaError } from '../errors.ts';
import { checkKeys, isObjectName, orderKeys, type JsonObject } from './validate.ts';

export interface DeviceGroupFields {
  apps: string[];
  cron_jobs: string[];
}

export interface DeviceGroupDoc extends DeviceGroupFields {
  device_group_id: number;
  device_group: string;
  prune_id: number;
}

const READ_ONLY = ['device_group_id', 'device_group', 'prune_id'];

/** Checks a list of member names; the order of checks is the original's: cron_jobs, then apps. */
function checkMembers(field: 'apps' | 'cron_jobs', value: unknown): string[] {
  const code = field === 'apps' ? 'APPS_NOT_LIST' : 'CRON_JOBS_NOT_LIST';
  if (!Array.isArray(value) || value.length > 4096) throw new NebulaError(code);
  for (const name of value) {
    // A name that cannot exist is reported the way the original reports an unknown member.
    if (!isObjectName(name)) {
      // JSON, not String(): a member such as {"toString": 1} makes String() throw (a 500).
      const shown = typeof name === 'string' ? name : JSON.stringify(name);
      throw new NebulaError(field === 'apps' ? 'APP_NOT_FOUND' : 'CRON_JOB_NOT_FOUND', { name: shown });
    }
  }
  return [...new Set(value as string[])];
}

function pick(body: JsonObject): Partial<DeviceGroupFields> {
  const out: Partial<DeviceGroupFields> = {};
  if (body.cron_jobs !== undefined && body.cron_jobs !== null) out.cron_jobs = checkMembers('cron_jobs', body.cron_jobs);
  if (body.apps !== undefined && body.apps !== null) out.apps = checkMembers('apps', body.apps);
  return out;
}

/** Create and full replace (POST): a list left out becomes []. Other keys are ignored. */
export function deviceGroupFieldsFromBody(body: JsonObject): DeviceGroupFields {
  return { apps: [], cron_jobs: [], ...pick(body) };
}

/** Partial update (PUT/PATCH): only `apps` and `cron_jobs` can be set. */
export function deviceGroupPatchFromBody(body: JsonObject): Partial<DeviceGroupFields> {
  if (Object.keys(body).length === 0) throw new NebulaError('MISSING_PARAMETERS');
  checkKeys(body, ['apps', 'cron_jobs'], READ_ONLY);
  return pick(body);
}

export function orderDeviceGroup<T extends Partial<DeviceGroupDoc>>(doc: T): T {
  return orderKeys(doc, ['device_group_id', 'device_group', 'apps', 'prune_id', 'cron_jobs']);
}

export function newDeviceGroup(name: string, fields: DeviceGroupFields): DeviceGroupDoc {
  return orderDeviceGroup({ device_group_id: 1, device_group: name, apps: fields.apps, prune_id: 1, cron_jobs: fields.cron_jobs });
}
