// Device groups: the apps and cron jobs every device of the group runs (pure).

import { NebulaError } from '../errors.ts';
import { OBJECT_NAME_SCHEMA, orderKeys, type JsonObject } from './validate.ts';
import { defineRefusals, nullable, patchBody, type JsonSchema } from './schema.ts';
import { APP_DOC } from './app.ts';
import { CRON_JOB_DOC } from './cronJob.ts';
import { querySchema } from './report.ts';

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

/** Member names; a name that cannot exist is told the way the original tells an unknown member. */
function members(kind: 'apps' | 'cron_jobs', description: string): JsonSchema {
  return { type: 'array', description, maxItems: 4096, items: OBJECT_NAME_SCHEMA, 'x-errors': `members-${kind}` };
}

function memberRefusal(kind: 'apps' | 'cron_jobs') {
  return (r: { depth: number; value: unknown }) => {
    if (r.depth === 1) return new NebulaError(kind === 'apps' ? 'APPS_NOT_LIST' : 'CRON_JOBS_NOT_LIST');
    // JSON, not String(): a member such as {"toString": 1} makes String() throw (a 500).
    const shown = typeof r.value === 'string' ? r.value : JSON.stringify(r.value);
    return new NebulaError(kind === 'apps' ? 'APP_NOT_FOUND' : 'CRON_JOB_NOT_FOUND', { name: shown });
  };
}

defineRefusals({ 'members-apps': memberRefusal('apps'), 'members-cron_jobs': memberRefusal('cron_jobs') });

/** The order of checks is the original's: cron_jobs, then apps. Null counts as absent. */
const FIELD_SCHEMAS = {
  cron_jobs: nullable(members('cron_jobs', 'The cron jobs every device of the group runs (each must exist).')),
  apps: nullable(members('apps', 'The apps every device of the group runs (each must exist).')),
} satisfies Record<keyof DeviceGroupFields, JsonSchema>;

/** Create and full replace (POST): a list left out becomes []. Other keys are ignored. */
export const DEVICE_GROUP_BODY: JsonSchema = {
  type: 'object',
  description: 'A device group; a list left out or null becomes []. Other keys are ignored.',
  properties: FIELD_SCHEMAS,
  'x-errors': 'body',
};

/** Partial update (PUT/PATCH): only `apps` and `cron_jobs` can be set. */
export const DEVICE_GROUP_PATCH: JsonSchema = patchBody(FIELD_SCHEMAS, READ_ONLY, 'The lists to change; names and ids are managed by Nebula.');

const ID = { type: 'integer', minimum: 1, readOnly: true } as const satisfies JsonSchema;

/** A device group as stored and answered (update-style replies add its _id). */
export const DEVICE_GROUP_DOC: JsonSchema = {
  type: 'object',
  properties: {
    device_group_id: { ...ID, description: 'Bumped by every change of the group.' },
    device_group: { ...OBJECT_NAME_SCHEMA, readOnly: true },
    apps: { type: 'array', items: OBJECT_NAME_SCHEMA },
    prune_id: { ...ID, description: 'Bumped by every prune: devices then remove unused images.' },
    cron_jobs: { type: 'array', items: OBJECT_NAME_SCHEMA },
  },
  required: ['device_group_id', 'device_group', 'apps', 'prune_id', 'cron_jobs'],
  additionalProperties: false,
};

function pick(body: JsonObject): Partial<DeviceGroupFields> {
  const out: Partial<DeviceGroupFields> = {};
  for (const kind of ['cron_jobs', 'apps'] as const) {
    const list = body[kind];
    if (list !== undefined && list !== null) out[kind] = [...new Set(list as string[])];
  }
  return out;
}

/** Create and full replace from a checked body: a list left out becomes []. */
export function deviceGroupFields(body: JsonObject): DeviceGroupFields {
  return { apps: [], cron_jobs: [], ...pick(body) };
}

/** The lists a checked partial update sets. */
export function deviceGroupPatch(body: JsonObject): Partial<DeviceGroupFields> {
  return pick(body);
}

export function orderDeviceGroup<T extends Partial<DeviceGroupDoc>>(doc: T): T {
  return orderKeys(doc, ['device_group_id', 'device_group', 'apps', 'prune_id', 'cron_jobs']);
}

export function newDeviceGroup(name: string, fields: DeviceGroupFields): DeviceGroupDoc {
  return orderDeviceGroup({ device_group_id: 1, device_group: name, apps: fields.apps, prune_id: 1, cron_jobs: fields.cron_jobs });
}

/** What GET /device_groups/<dg>/info answers: the original's shape (info.ts). */
export const INFO: JsonSchema = {
  type: 'object',
  properties: {
    apps: { type: 'array', items: APP_DOC },
    apps_list: { type: 'array', items: { type: 'string' } },
    prune_id: { type: 'integer', minimum: 1 },
    cron_jobs: { type: 'array', items: CRON_JOB_DOC },
    cron_jobs_list: { type: 'array', items: { type: 'string' } },
    device_group_id: { type: 'integer', minimum: 1 },
  },
  required: ['apps', 'apps_list', 'prune_id', 'cron_jobs', 'cron_jobs_list', 'device_group_id'],
  additionalProperties: false,
};

/** GET /device_groups/<dg>/info's query: `?wait=<seconds>`, a long-poll. */
export const INFO_QUERY = querySchema(
  {
    wait: {
      pattern: '^\\d{1,6}(\\.\\d{1,3})?$',
      description: 'Hold the request until the config differs from the ETag in If-None-Match, for at most this many seconds (capped at long_poll_max_wait).',
      reason: 'must be a number of seconds',
      once: 'must be a number of seconds',
    },
  },
  'info-query',
);
