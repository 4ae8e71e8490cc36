// Helpers shared by the route modules.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NebulaError, type ErrorCode } from '../../../src/errors.ts';
import type { Docs, Kind, WriteResult } from '../../../src/store/types.ts';
import type { ManagerContext } from '../context.ts';
import type { Level } from '../../../src/model/user.ts';
import type { Access, ObjectKind } from '../rbac.ts';
import type { JsonSchema } from '../../../src/model/schema.ts';
import { nameParams } from '../../../src/model/validate.ts';
import { EMPTY, ERROR_BODY, namesList } from '../../../src/model/responses.ts';

export const V2 = '/api/v2';

export function param(request: FastifyRequest, key: string): string {
  return (request.params as Record<string, string>)[key] ?? '';
}

export function access(access: Access): { config: { access: Access } } {
  return { config: { access } };
}

export function objectAccess(kind: ObjectKind, level: Level, paramName: string): { config: { access: Access } } {
  return access({ type: 'object', kind, level, param: paramName });
}

export const AUTHENTICATED = access({ type: 'authenticated' });
export const ADMIN = access({ type: 'admin' });
export const PRUNING = access({ type: 'pruning' });
export const PUBLIC = access({ type: 'public' });

/** A response that is not JSON (metrics, the reference page and its assets). */
export function content(type: string, description: string, schema: JsonSchema = { type: 'string' }): JsonSchema {
  return { description, content: { [type]: { schema } } } as JsonSchema;
}

export interface RouteDoc {
  tag: string;
  summary: string;
  description?: string;
  params?: JsonSchema;
  body?: JsonSchema;
  querystring?: JsonSchema;
  /** The answers by status; every route may also answer a catalogued error (4xx, 5xx). */
  response: Record<number, JsonSchema>;
  /** No credentials needed (health checks, the API reference). */
  public?: boolean;
}

/**
 * A route's schema: what validates its request (the manager's validator compiler checks the
 * params, body and query string against it, after authentication) and what the OpenAPI
 * document says of it. Replies are serialized as before, whatever the response schema says.
 */
export function documented(doc: RouteDoc): { schema: Record<string, unknown> } {
  return {
    schema: {
      tags: [doc.tag],
      summary: doc.summary,
      ...(doc.description !== undefined ? { description: doc.description } : {}),
      ...(doc.public === true ? { security: [] } : {}),
      ...(doc.params !== undefined ? { params: doc.params } : {}),
      ...(doc.body !== undefined ? { body: doc.body } : {}),
      ...(doc.querystring !== undefined ? { querystring: doc.querystring } : {}),
      response: { ...doc.response, '4xx': ERROR_BODY, '5xx': ERROR_BODY },
    },
  };
}

/** A create route's schema: the new object's name must be valid (INVALID_NAME), its body checked; it answers the document. */
export function creation(tag: string, summary: string, param: string, name: 'object' | 'principal', body: JsonSchema, doc: JsonSchema): { schema: Record<string, unknown> } {
  return documented({ tag, summary, params: nameParams(param, name), body, response: { 200: doc } });
}

export interface WriteErrors {
  missing?: NebulaError;
  exists?: ErrorCode;
  precondition?: ErrorCode;
}

/** The document of a successful write, or the catalogued error for why it failed. */
export function written<T>(result: WriteResult<T>, errors: WriteErrors): T & { _id: { $oid: string } } {
  if (result.ok) return result.doc;
  switch (result.reason) {
    case 'missing':
      throw errors.missing ?? new NebulaError('INTERNAL');
    case 'exists':
      throw new NebulaError(errors.exists ?? 'INTERNAL');
    case 'precondition':
      throw new NebulaError(errors.precondition ?? 'INTERNAL');
    case 'missing_ref':
      throw new NebulaError(result.kind === 'apps' ? 'APP_NOT_FOUND' : 'CRON_JOB_NOT_FOUND', { name: result.name });
  }
}

/** Create and GET replies carry no _id, as in the original. */
export function withoutOid<T extends { _id?: unknown }>(doc: T): Omit<T, '_id'> {
  const { _id: _ignored, ...rest } = doc;
  return rest;
}

type RouteAccess = { config: { access: Access } };

export interface CollectionSpec<K extends Kind> {
  kind: K;
  /** The path parameter naming one object, e.g. "app_name". */
  param: string;
  read: RouteAccess;
  remove: RouteAccess;
  notFound: () => NebulaError;
  /** What a GET shows of a stored document (default: all of it). */
  view?: (doc: Docs[K]) => unknown;
  /** The OpenAPI tag, the object's name in summaries, and what GET answers. */
  tag: string;
  noun: string;
  doc: JsonSchema;
}

/** The three routes every kind has alike: list names, get one, delete one. */
export function collectionRoutes<K extends Kind>(app: FastifyInstance, ctx: ManagerContext, spec: CollectionSpec<K>): void {
  const base = `${V2}/${spec.kind}`;
  const { tag, noun } = spec;
  const params = nameParams(spec.param);
  const list = documented({ tag, summary: `List the ${noun}s' names`, response: { 200: namesList(spec.kind) } });
  app.get(base, { ...AUTHENTICATED, ...list }, async () => ({ [spec.kind]: await ctx.store.listNames(spec.kind) }));

  const get = documented({ tag, summary: `Get a ${noun}`, params, response: { 200: spec.doc } });
  app.get(`${base}/:${spec.param}`, { ...spec.read, ...get }, async (request) => {
    const doc = await ctx.store.get(spec.kind, param(request, spec.param));
    if (!doc) throw spec.notFound();
    return spec.view ? spec.view(doc) : doc;
  });

  const remove = documented({ tag, summary: `Delete a ${noun}`, params, response: { 200: EMPTY } });
  app.delete(`${base}/:${spec.param}`, { ...spec.remove, ...remove }, async (request) => {
    if (!(await ctx.store.delete(spec.kind, param(request, spec.param)))) throw spec.notFound();
    await ctx.changed();
    return {};
  });
}
