// /api/v2/user_groups: who may do what (see rbac.ts).

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { USER_GROUP_CREATE, USER_GROUP_DOC, USER_GROUP_PATCH, orderUserGroup, userGroupFields, userGroupPatch } from '../../../src/model/user.ts';
import { withOid } from '../../../src/model/responses.ts';
import { nameParams, type JsonObject } from '../../../src/model/validate.ts';
import type { ManagerContext } from '../context.ts';
import { ADMIN, V2, collectionRoutes, creation, documented, param, withoutOid, written } from './common.ts';

const tag = 'user groups';

export function userGroupRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('USER_GROUP_NOT_FOUND');

  collectionRoutes(app, ctx, { kind: 'user_groups', param: 'user_group', read: ADMIN, remove: ADMIN, notFound, tag, noun: 'user group', doc: USER_GROUP_DOC });

  const create = creation(tag, 'Create a user group', 'user_group', 'principal', USER_GROUP_CREATE, USER_GROUP_DOC);
  app.post(`${V2}/user_groups/:user_group`, { ...ADMIN, ...create }, async (request) => {
    const name = param(request, 'user_group');
    const fields = userGroupFields(request.body as JsonObject);
    const doc = written(await ctx.store.create('user_groups', orderUserGroup({ user_group: name, ...fields })), {
      exists: 'USER_GROUP_EXISTS',
    });
    await ctx.changed();
    return withoutOid(doc);
  });

  // The original answered 200 `null` for a missing group (it tested the name, not the lookup).
  app.route({
    method: ['PUT', 'PATCH'],
    url: `${V2}/user_groups/:user_group/update`,
    ...ADMIN,
    ...documented({
      tag,
      summary: 'Change some fields of a user group',
      params: nameParams('user_group'),
      body: USER_GROUP_PATCH,
      response: { 200: withOid(USER_GROUP_DOC) },
    }),
    handler: async (request) => {
      const set = userGroupPatch(request.body as JsonObject);
      const doc = written(await ctx.store.update('user_groups', param(request, 'user_group'), set), { missing: notFound() });
      await ctx.changed();
      return doc;
    },
  });
}
