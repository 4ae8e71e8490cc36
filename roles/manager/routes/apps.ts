// /api/v2/apps: create, read, list, delete, start, stop, restart, full and partial update.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { APP_BODY, APP_DOC, APP_PATCH, appFields, appPatch, newApp, type AppFields } from '../../../src/model/app.ts';
import { withOid } from '../../../src/model/responses.ts';
import { nameParams, type JsonObject } from '../../../src/model/validate.ts';
import type { UpdateOptions } from '../../../src/store/types.ts';
import type { AppDoc } from '../../../src/model/app.ts';
import type { ManagerContext } from '../context.ts';
import { V2, collectionRoutes, creation, documented, objectAccess, param, withoutOid, written } from './common.ts';

const RW = objectAccess('apps', 'rw', 'app_name');
const RO = objectAccess('apps', 'ro', 'app_name');
const tag = 'apps';
const params = nameParams('app_name');
const changed = { 202: withOid(APP_DOC) };

export function appRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('APP_NOT_FOUND');

  /** Every change to an app bumps its app_id, in the same atomic write. */
  async function change(name: string, set: Partial<AppFields>, options: UpdateOptions<AppDoc> = {}) {
    const result = await ctx.store.update('apps', name, set, { bump: 'app_id', ...options });
    const doc = written(result, { missing: notFound(), precondition: 'APP_NOT_RUNNING' });
    await ctx.changed();
    return doc;
  }

  collectionRoutes(app, ctx, { kind: 'apps', param: 'app_name', read: RO, remove: RW, notFound, tag, noun: 'app', doc: APP_DOC });

  const create = creation(tag, 'Create an app', 'app_name', 'object', APP_BODY, APP_DOC);
  app.post(`${V2}/apps/:app_name`, { ...RW, ...create }, async (request) => {
    const name = param(request, 'app_name');
    const fields = appFields(request.body as JsonObject, 'create');
    const doc = written(await ctx.store.create('apps', newApp(name, fields)), { exists: 'APP_EXISTS' });
    await ctx.changed();
    return withoutOid(doc);
  });

  const stop = documented({ tag, summary: 'Stop an app (running: false) on every device', params, response: changed });
  app.post(`${V2}/apps/:app_name/stop`, { ...RW, ...stop }, async (request, reply) => {
    return reply.code(202).send(await change(param(request, 'app_name'), { running: false }));
  });

  const start = documented({ tag, summary: 'Start an app (running: true) on every device', params, response: changed });
  app.post(`${V2}/apps/:app_name/start`, { ...RW, ...start }, async (request, reply) => {
    return reply.code(202).send(await change(param(request, 'app_name'), { running: true }));
  });

  const restart = documented({ tag, summary: 'Restart a running app on every device', params, response: changed });
  app.post(`${V2}/apps/:app_name/restart`, { ...RW, ...restart }, async (request, reply) => {
    const doc = await change(param(request, 'app_name'), {}, { expect: { running: true } });
    return reply.code(202).send(doc);
  });

  const replace = documented({ tag, summary: 'Replace an app (fields left out take their defaults)', params, body: APP_BODY, response: changed });
  app.post(`${V2}/apps/:app_name/update`, { ...RW, ...replace }, async (request, reply) => {
    const fields = appFields(request.body as JsonObject, 'replace');
    return reply.code(202).send(await change(param(request, 'app_name'), fields));
  });

  app.route({
    method: ['PUT', 'PATCH'],
    url: `${V2}/apps/:app_name/update`,
    ...RW,
    ...documented({ tag, summary: 'Change some fields of an app', params, body: APP_PATCH, response: changed }),
    handler: async (request, reply) => {
      return reply.code(202).send(await change(param(request, 'app_name'), appPatch(request.body as JsonObject)));
    },
  });
}
