// /api/v2/apps: create, read, list, delete, start, stop, restart, full and partial update.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { appFieldsFromBody, appPatchFromBody, newApp, type AppFields } from '../../../src/model/app.ts';
import { bodyObject, checkObjectName } from '../../../src/model/validate.ts';
import type { UpdateOptions } from '../../../src/store/types.ts';
import type { AppDoc } from '../../../src/model/app.ts';
import type { ManagerContext } from '../context.ts';
import { V2, collectionRoutes, objectAccess, param, withoutOid, written } from './common.ts';

const RW = objectAccess('apps', 'rw', 'app_name');
const RO = objectAccess('apps', 'ro', 'app_name');

export function appRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('APP_NOT_FOUND');

  /** Every change to an app bumps its app_id, in the same atomic write. */
  async function change(name: string, set: Partial<AppFields>, options: UpdateOptions<AppDoc> = {}) {
    const result = await ctx.store.update('apps', name, set, { bump: 'app_id', ...options });
    const doc = written(result, { missing: notFound(), precondition: 'APP_NOT_RUNNING' });
    await ctx.changed();
    return doc;
  }

  collectionRoutes(app, ctx, { kind: 'apps', param: 'app_name', read: RO, remove: RW, notFound });

  app.post(`${V2}/apps/:app_name`, RW, async (request) => {
    const name = param(request, 'app_name');
    checkObjectName(name);
    const fields = appFieldsFromBody(bodyObject(request.body), 'create');
    const doc = written(await ctx.store.create('apps', newApp(name, fields)), { exists: 'APP_EXISTS' });
    await ctx.changed();
    return withoutOid(doc);
  });

  app.post(`${V2}/apps/:app_name/stop`, RW, async (request, reply) => {
    return reply.code(202).send(await change(param(request, 'app_name'), { running: false }));
  });

  app.post(`${V2}/apps/:app_name/start`, RW, async (request, reply) => {
    return reply.code(202).send(await change(param(request, 'app_name'), { running: true }));
  });

  app.post(`${V2}/apps/:app_name/restart`, RW, async (request, reply) => {
    const doc = await change(param(request, 'app_name'), {}, { expect: { running: true } });
    return reply.code(202).send(doc);
  });

  app.post(`${V2}/apps/:app_name/update`, RW, async (request, reply) => {
    const fields = appFieldsFromBody(bodyObject(request.body), 'replace');
    return reply.code(202).send(await change(param(request, 'app_name'), fields));
  });

  app.route({
    method: ['PUT', 'PATCH'],
    url: `${V2}/apps/:app_name/update`,
    ...RW,
    handler: async (request, reply) => {
      const set = appPatchFromBody(bodyObject(request.body));
      return reply.code(202).send(await change(param(request, 'app_name'), set));
    },
  });
}
