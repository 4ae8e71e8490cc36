// /api/v2/cron_jobs: create, read, list, delete, full and partial update.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { cronJobFieldsFromBody, cronJobPatchFromBody, newCronJob, type CronJobFields } from '../../../src/model/cronJob.ts';
import { bodyObject, checkObjectName } from '../../../src/model/validate.ts';
import type { ManagerContext } from '../context.ts';
import { V2, collectionRoutes, objectAccess, param, withoutOid, written } from './common.ts';

const RW = objectAccess('cron_jobs', 'rw', 'cron_job');
const RO = objectAccess('cron_jobs', 'ro', 'cron_job');

export function cronJobRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('CRON_JOB_NOT_FOUND');

  async function change(name: string, set: Partial<CronJobFields>) {
    const result = await ctx.store.update('cron_jobs', name, set, { bump: 'cron_job_id' });
    const doc = written(result, { missing: notFound() });
    await ctx.changed();
    return doc;
  }

  // The original required admin to delete while every other cron call needs rw: we use rw.
  collectionRoutes(app, ctx, { kind: 'cron_jobs', param: 'cron_job', read: RO, remove: RW, notFound });

  app.post(`${V2}/cron_jobs/:cron_job`, RW, async (request) => {
    const name = param(request, 'cron_job');
    checkObjectName(name);
    const fields = cronJobFieldsFromBody(bodyObject(request.body), 'create');
    const doc = written(await ctx.store.create('cron_jobs', newCronJob(name, fields)), { exists: 'CRON_JOB_EXISTS' });
    await ctx.changed();
    return withoutOid(doc);
  });

  app.post(`${V2}/cron_jobs/:cron_job/update`, RW, async (request, reply) => {
    const fields = cronJobFieldsFromBody(bodyObject(request.body), 'replace');
    return reply.code(202).send(await change(param(request, 'cron_job'), fields));
  });

  app.route({
    method: ['PUT', 'PATCH'],
    url: `${V2}/cron_jobs/:cron_job/update`,
    ...RW,
    handler: async (request, reply) => {
      const set = cronJobPatchFromBody(bodyObject(request.body));
      return reply.code(202).send(await change(param(request, 'cron_job'), set));
    },
  });
}
