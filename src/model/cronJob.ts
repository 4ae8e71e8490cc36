// Cron jobs: containers started on a schedule. Defaults and validation of what the admin API
// accepts (pure); the document's shape is in cronJobDoc.ts, re-exported here.

import { CronExpressionParser } from 'cron-parser';
import { NebulaError } from '../errors.ts';
import { checkBool, checkStringList, patchFromBody, pickValid, type JsonObject } from './validate.ts';
import { checkDockerImage, checkEnvVars, checkNetworks, missing, withoutNulls } from './fields.ts';
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

function checkSchedule(_field: string, value: unknown): string {
  if (typeof value !== 'string' || !isValidSchedule(value)) throw new NebulaError('INVALID_SCHEDULE');
  return value.trim();
}

const checkers = {
  schedule: checkSchedule,
  env_vars: checkEnvVars,
  docker_image: checkDockerImage,
  running: checkBool,
  networks: checkNetworks,
  volumes: (f: string, v: unknown) => checkStringList(f, v),
  devices: (f: string, v: unknown) => checkStringList(f, v),
  privileged: checkBool,
};

/**
 * Defaults for create and full replace. The original stored `networks: []` on create, which
 * its worker could not start; we use the documented ["nebula", "bridge"] for both.
 */
function defaults(): Omit<CronJobFields, 'docker_image' | 'schedule'> {
  return { env_vars: {}, running: true, networks: ['nebula', 'bridge'], volumes: [], devices: [], privileged: false };
}

/** A full set of fields from a create or a full-replace (POST .../update) body. */
export function cronJobFieldsFromBody(body: JsonObject, mode: 'create' | 'replace'): CronJobFields {
  const given = withoutNulls(body);
  const absent = missing(given, ['docker_image', 'schedule']);
  if (absent.length > 0) {
    // The original answered a full replace without a required key with `true`, a create with the list.
    throw new NebulaError('MISSING_PARAMETERS', { missing_parameters: mode === 'create' ? absent : true, missing: absent });
  }
  return orderCronJob({ ...defaults(), ...pickValid<CronJobFields>(given, checkers) } as CronJobFields);
}

export function cronJobPatchFromBody(body: JsonObject): Partial<CronJobFields> {
  return patchFromBody<CronJobFields>(body, CRON_JOB_FIELDS, READ_ONLY, checkers);
}

export function newCronJob(name: string, fields: CronJobFields): CronJobDoc {
  return orderCronJob({ cron_job_id: 1, cron_job_name: name, ...fields });
}
