// /api/v2/user_groups: who may do what (see rbac.ts).

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { orderUserGroup, userGroupFieldsFromBody, userGroupPatchFromBody } from '../../../src/model/user.ts';
import { bodyObject, checkPrincipalName } from '../../../src/model/validate.ts';
import type { ManagerContext } from '../context.ts';
import { ADMIN, V2, collectionRoutes, param, withoutOid, written } from './common.ts';

export function userGroupRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('USER_GROUP_NOT_FOUND');

  collectionRoutes(app, ctx, { kind: 'user_groups', param: 'user_group', read: ADMIN, remove: ADMIN, notFound });

  app.post(`${V2}/user_groups/:user_group`, ADMIN, async (request) => {
    const name = param(request, 'user_group');
    checkPrincipalName(name);
    const fields = userGroupFieldsFromBody(bodyObject(request.body));
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
    handler: async (request) => {
      const set = userGroupPatchFromBody(bodyObject(request.body));
      const doc = written(await ctx.store.update('user_groups', param(request, 'user_group'), set), { missing: notFound() });
      await ctx.changed();
      return doc;
    },
  });
}
