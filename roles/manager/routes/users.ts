// /api/v2/users: database principals. Secrets are hashed before they are stored, and a
// token is shown in clear only once: in the reply to its creation or its refresh.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import { USER_CREATE, USER_DOC, USER_UPDATE, publicUser, userSecrets, type UserRecord } from '../../../src/model/user.ts';
import { withOid } from '../../../src/model/responses.ts';
import { nameParams, type JsonObject } from '../../../src/model/validate.ts';
import { generateSecret, hashSecret, tokenLookup } from '../../../src/secrets.ts';
import type { ManagerContext } from '../context.ts';
import { ADMIN, V2, collectionRoutes, creation, documented, param, written } from './common.ts';

const tag = 'users';
const params = nameParams('user_name');

export function userRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('USER_NOT_FOUND');
  // The original answers update and refresh of a missing user with {"user_name": false}.
  const notFoundOnWrite = () => new NebulaError('USER_NOT_FOUND', { user_name: false });

  async function tokenFields(token: string): Promise<Pick<UserRecord, 'token' | 'token_lookup'>> {
    return { token: await hashSecret(token), token_lookup: tokenLookup(token) };
  }

  collectionRoutes(app, ctx, { kind: 'users', param: 'user_name', read: ADMIN, remove: ADMIN, notFound, view: publicUser, tag, noun: 'user', doc: USER_DOC });

  const create = creation(tag, 'Create a user (the reply shows its token, once)', 'user_name', 'principal', USER_CREATE, USER_DOC);
  app.post(`${V2}/users/:user_name`, { ...ADMIN, ...create }, async (request) => {
    const name = param(request, 'user_name');
    const secrets = userSecrets(request.body as JsonObject);
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
    ...documented({ tag, summary: 'Change a user\'s password or token', params, body: USER_UPDATE, response: { 200: withOid(USER_DOC) } }),
    handler: async (request) => {
      const secrets = userSecrets(request.body as JsonObject);
      const set: Partial<UserRecord> = {};
      if (secrets.password !== undefined) set.password = await hashSecret(secrets.password);
      if (secrets.token !== undefined) Object.assign(set, await tokenFields(secrets.token));
      const doc = written(await ctx.store.update('users', param(request, 'user_name'), set), { missing: notFoundOnWrite() });
      await ctx.changed();
      return { _id: doc._id, ...publicUser(doc) };
    },
  });

  const refresh = documented({
    tag,
    summary: 'Give a user a new random token (shown once)',
    params,
    response: { 200: { type: 'object', properties: { token: { type: 'string' } }, required: ['token'], additionalProperties: false } },
  });
  app.post(`${V2}/users/:user_name/refresh`, { ...ADMIN, ...refresh }, async (request) => {
    const token = generateSecret();
    const result = await ctx.store.update('users', param(request, 'user_name'), await tokenFields(token));
    written(result, { missing: notFoundOnWrite() });
    await ctx.changed();
    return { token };
  });
}
