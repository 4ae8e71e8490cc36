// /api/v2/cron_jobs: create, read, list, delete, full and partial update.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import {
  CRON_JOB_CREATE,
  CRON_JOB_DOC,
  CRON_JOB_PATCH,
  CRON_JOB_REPLACE,
  cronJobFields,
  cronJobPatch,
  newCronJob,
  type CronJobFields,
} from '../../../src/model/cronJob.ts';
import { withOid } from '../../../src/model/responses.ts';
import { nameParams, type JsonObject } from '../../../src/model/validate.ts';
import type { ManagerContext } from '../context.ts';
import { V2, collectionRoutes, creation, documented, objectAccess, param, withoutOid, written } from './common.ts';

const RW = objectAccess('cron_jobs', 'rw', 'cron_job');
const RO = objectAccess('cron_jobs', 'ro', 'cron_job');
const tag = 'cron jobs';
const params = nameParams('cron_job');
const changed = { 202: withOid(CRON_JOB_DOC) };

export function cronJobRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('CRON_JOB_NOT_FOUND');

  async function change(name: string, set: Partial<CronJobFields>) {
    const result = await ctx.store.update('cron_jobs', name, set, { bump: 'cron_job_id' });
    const doc = written(result, { missing: notFound() });
    await ctx.changed();
    return doc;
  }

  // The original required admin to delete while every other cron call needs rw: we use rw.
  collectionRoutes(app, ctx, { kind: 'cron_jobs', param: 'cron_job', read: RO, remove: RW, notFound, tag, noun: 'cron job', doc: CRON_JOB_DOC });

  const create = creation(tag, 'Create a cron job', 'cron_job', 'object', CRON_JOB_CREATE, CRON_JOB_DOC);
  app.post(`${V2}/cron_jobs/:cron_job`, { ...RW, ...create }, async (request) => {
    const name = param(request, 'cron_job');
    const fields = cronJobFields(request.body as JsonObject);
    const doc = written(await ctx.store.create('cron_jobs', newCronJob(name, fields)), { exists: 'CRON_JOB_EXISTS' });
    await ctx.changed();
    return withoutOid(doc);
  });

  const replace = documented({ tag, summary: 'Replace a cron job (fields left out take their defaults)', params, body: CRON_JOB_REPLACE, response: changed });
  app.post(`${V2}/cron_jobs/:cron_job/update`, { ...RW, ...replace }, async (request, reply) => {
    return reply.code(202).send(await change(param(request, 'cron_job'), cronJobFields(request.body as JsonObject)));
  });

  app.route({
    method: ['PUT', 'PATCH'],
    url: `${V2}/cron_jobs/:cron_job/update`,
    ...RW,
    ...documented({ tag, summary: 'Change some fields of a cron job', params, body: CRON_JOB_PATCH, response: changed }),
    handler: async (request, reply) => {
      return reply.code(202).send(await change(param(request, 'cron_job'), cronJobPatch(request.body as JsonObject)));
    },
  });
}
