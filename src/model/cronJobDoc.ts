// The cron job document: its fields and their order (pure). Apart from cronJob.ts (defaults and
// validation of admin input) so that what only reads cron jobs — the worker, through info.ts —
// does not load cron-parser and luxon (350 KiB, ~5 MB of memory) on a device that has none.

import { orderKeys } from './validate.ts';
import type { EnvVars } from './fields.ts';

export interface CronJobFields {
  schedule: string;
  env_vars: EnvVars;
  docker_image: string;
  running: boolean;
  networks: string[];
  volumes: string[];
  devices: string[];
  privileged: boolean;
}

export interface CronJobDoc extends CronJobFields {
  cron_job_id: number;
  cron_job_name: string;
}

export const CRON_JOB_FIELDS = [
  'schedule',
  'env_vars',
  'docker_image',
  'running',
  'networks',
  'volumes',
  'devices',
  'privileged',
] as const satisfies readonly (keyof CronJobFields)[];

const CRON_JOB_ORDER = ['cron_job_id', 'cron_job_name', ...CRON_JOB_FIELDS];

export function orderCronJob<T extends Partial<CronJobDoc>>(doc: T): T {
  return orderKeys(doc, CRON_JOB_ORDER);
}
