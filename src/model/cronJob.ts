// Cron jobs: containers started on a schedule. Defaults and validation of what the admin API
// accepts (pure); the document's shape is in cronJobDoc.ts, re-exported here.

import { CronExpressionParser } from 'cron-parser';
import { NebulaError } from '../errors.ts';
import { OBJECT_NAME_SCHEMA, type JsonObject } from './validate.ts';
import { CONTAINER_FIELDS, pickFields } from './fields.ts';
import { defineFormat, defineRefusals, documentSchema, fullBody, patchBody, type JsonSchema } from './schema.ts';
import { CRON_JOB_FIELDS, orderCronJob, type CronJobDoc, type CronJobFields } from './cronJobDoc.ts';

export { CRON_JOB_FIELDS, orderCronJob, type CronJobDoc, type CronJobFields } from './cronJobDoc.ts';

const READ_ONLY = ['cron_job_id', 'cron_job_name'];

const ALIASES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** Standard 5-field cron, an optional leading seconds field, or an @alias. */
export function isValidSchedule(schedule: string): boolean {
  const trimmed = schedule.trim();
  if (ALIASES.includes(trimmed)) return true;
  const fields = trimmed.split(/\s+/).length;
  if (trimmed.length === 0 || trimmed.length > 256 || fields < 5 || fields > 6) return false;
  try {
    CronExpressionParser.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}

defineFormat('cron', isValidSchedule);
defineRefusals({ schedule: () => new NebulaError('INVALID_SCHEDULE') });

/** Each field's schema, in the order the API checks them. */
const FIELD_SCHEMAS = {
  schedule: {
    type: 'string',
    format: 'cron',
    description: 'When to start the container: 5 cron fields (minute hour day month weekday), an optional leading seconds field, or @hourly, @daily, @weekly, @monthly, @yearly (@annually), @midnight. Spaces around it are trimmed.',
    examples: ['*/5 * * * *'],
    'x-errors': 'schedule',
  },
  ...CONTAINER_FIELDS,
} satisfies Record<keyof CronJobFields, JsonSchema>;

// The original answered a full replace without a required key with `true`, a create with the list.
const bodySchema = (missing: 'list' | 'flag', description: string): JsonSchema => fullBody(FIELD_SCHEMAS, ['docker_image', 'schedule'], description, missing);

/** Create (POST /cron_jobs/<name>): fields left out or null take their defaults; other keys are ignored. */
export const CRON_JOB_CREATE: JsonSchema = bodySchema('list', 'A cron job; fields left out or null take their defaults. Other keys are ignored.');
/** Full replace (POST /cron_jobs/<name>/update). */
export const CRON_JOB_REPLACE: JsonSchema = bodySchema('flag', 'The whole cron job; fields left out or null take their defaults. Other keys are ignored.');

/** Partial update (PUT/PATCH /cron_jobs/<name>/update). */
export const CRON_JOB_PATCH: JsonSchema = patchBody(FIELD_SCHEMAS, READ_ONLY, 'The fields to change; names and cron_job_id are managed by Nebula.');

/** A cron job as stored and answered (update-style replies add its _id). */
export const CRON_JOB_DOC: JsonSchema = documentSchema('cron_job_id', 'Bumped by every change.', ['cron_job_name', OBJECT_NAME_SCHEMA], FIELD_SCHEMAS);

/**
 * Defaults for create and full replace. The original stored `networks: []` on create, which
 * its worker could not start; we use the documented ["nebula", "bridge"] for both.
 */
function defaults(): Omit<CronJobFields, 'docker_image' | 'schedule'> {
  return { env_vars: {}, running: true, networks: ['nebula', 'bridge'], volumes: [], devices: [], privileged: false };
}

/** A full set of fields from a checked create or full-replace body; the schedule trimmed. */
export function cronJobFields(body: JsonObject): CronJobFields {
  const fields = { ...defaults(), ...pickFields<CronJobFields>(body, CRON_JOB_FIELDS, true) } as CronJobFields;
  return orderCronJob({ ...fields, schedule: fields.schedule.trim() });
}

/** The fields a checked partial update sets; the schedule trimmed. */
export function cronJobPatch(body: JsonObject): Partial<CronJobFields> {
  const set = pickFields<CronJobFields>(body, CRON_JOB_FIELDS, false);
  if (set.schedule !== undefined) set.schedule = set.schedule.trim();
  return set;
}

export function newCronJob(name: string, fields: CronJobFields): CronJobDoc {
  return orderCronJob({ cron_job_id: 1, cron_job_name: name, ...fields });
}
