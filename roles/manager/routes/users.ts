// /api/v2/users: database principals. Secrets are hashed before they are stored, and a
// token is shown in clear only once: in the reply to its creation or its refresh.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { publicUser, userSecretsFromBody, type UserRecord } from '../../../src/model/user.ts';
import { bodyObject, checkPrincipalName } from '../../../src/model/validate.ts';
import { generateSecret, hashSecret, tokenLookup } from '../../../src/secrets.ts';
import type { ManagerContext } from '../context.ts';
import { ADMIN, V2, collectionRoutes, param, written } from './common.ts';

export function userRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('USER_NOT_FOUND');
  // The original answers update and refresh of a missing user with {"user_name": false}.
  const notFoundOnWrite = () => new NebulaError('USER_NOT_FOUND', { user_name: false });

  async function tokenFields(token: string): Promise<Pick<UserRecord, 'token' | 'token_lookup'>> {
    return { token: await hashSecret(token), token_lookup: tokenLookup(token) };
  }

  collectionRoutes(app, ctx, { kind: 'users', param: 'user_name', read: ADMIN, remove: ADMIN, notFound, view: publicUser });

  app.post(`${V2}/users/:user_name`, ADMIN, async (request) => {
    const name = param(request, 'user_name');
    checkPrincipalName(name);
    const secrets = userSecretsFromBody(bodyObject(request.body), 'create');
    const token = secrets.token ?? generateSecret();
    const record: UserRecord = {
      user_name: name,
      password: await hashSecret(secrets.password ?? generateSecret()),
      ...(await tokenFields(token)),
    };
    written(await ctx.store.create('users', record), { exists: 'USER_EXISTS' });
    await ctx.changed();
    return { ...publicUser(record), token };
  });

  app.route({
    method: ['PUT', 'PATCH'],
    url: `${V2}/users/:user_name/update`,
    ...ADMIN,
    handler: async (request) => {
      const secrets = userSecretsFromBody(bodyObject(request.body), 'update');
      const set: Partial<UserRecord> = {};
      if (secrets.password !== undefined) set.password = await hashSecret(secrets.password);
      if (secrets.token !== undefined) Object.assign(set, await tokenFields(secrets.token));
      const doc = written(await ctx.store.update('users', param(request, 'user_name'), set), { missing: notFoundOnWrite() });
      await ctx.changed();
      return { _id: doc._id, ...publicUser(doc) };
    },
  });

  app.post(`${V2}/users/:user_name/refresh`, ADMIN, async (request) => {
    const token = generateSecret();
    const result = await ctx.store.update('users', param(request, 'user_name'), await tokenFields(token));
    written(result, { missing: notFoundOnWrite() });
    await ctx.changed();
    return { token };
  });
}
