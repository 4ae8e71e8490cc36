// The device-facing view of a device group: what GET /device_groups/<dg>/info answers.

import { createHash } from 'node:crypto';
import { orderApp, type AppDoc } from './app.ts';
import { orderCronJob, type CronJobDoc } from './cronJobDoc.ts';
import type { DeviceGroupDoc } from './deviceGroup.ts';

export interface Info {
  apps: AppDoc[];
  apps_list: string[];
  prune_id: number;
  cron_jobs: CronJobDoc[];
  cron_jobs_list: string[];
  device_group_id: number;
}

/**
 * Builds the original's reply shape. Members that no longer exist are skipped, as in the
 * original (our store also removes them from the group when they are deleted).
 */
export function buildInfo(group: DeviceGroupDoc, apps: AppDoc[], cronJobs: CronJobDoc[]): Info {
  const appsByName = new Map(apps.map((a) => [a.app_name, a]));
  const cronByName = new Map(cronJobs.map((c) => [c.cron_job_name, c]));
  const listedApps = group.apps.map((n) => appsByName.get(n)).filter((a): a is AppDoc => a !== undefined);
  const listedCron = group.cron_jobs.map((n) => cronByName.get(n)).filter((c): c is CronJobDoc => c !== undefined);
  return {
    apps: listedApps.map((a) => orderApp(a)),
    apps_list: listedApps.map((a) => a.app_name),
    prune_id: group.prune_id,
    cron_jobs: listedCron.map((c) => orderCronJob(c)),
    cron_jobs_list: listedCron.map((c) => c.cron_job_name),
    device_group_id: group.device_group_id,
  };
}

/** A strong ETag over the exact bytes served: equal configs give equal tags on every manager. */
export function etagOf(body: string | Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** Does an If-None-Match header name this ETag? Handles lists, `*` and weak prefixes. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch === etag) return true; // what workers send: one tag, as we gave it
  return ifNoneMatch.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}
