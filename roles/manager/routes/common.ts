// Helpers shared by the route modules.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NebulaError, type ErrorCode } from '../../../src/errors.ts';
import type { Docs, Kind, WriteResult } from '../../../src/store/types.ts';
import type { ManagerContext } from '../context.ts';
import type { Level } from '../../../src/model/user.ts';
import type { Access, ObjectKind } from '../rbac.ts';

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
}

/** The three routes every kind has alike: list names, get one, delete one. */
export function collectionRoutes<K extends Kind>(app: FastifyInstance, ctx: ManagerContext, spec: CollectionSpec<K>): void {
  const base = `${V2}/${spec.kind}`;
  app.get(base, AUTHENTICATED, async () => ({ [spec.kind]: await ctx.store.listNames(spec.kind) }));

  app.get(`${base}/:${spec.param}`, spec.read, async (request) => {
    const doc = await ctx.store.get(spec.kind, param(request, spec.param));
    if (!doc) throw spec.notFound();
    return spec.view ? spec.view(doc) : doc;
  });

  app.delete(`${base}/:${spec.param}`, spec.remove, async (request) => {
    if (!(await ctx.store.delete(spec.kind, param(request, spec.param)))) throw spec.notFound();
    await ctx.changed();
    return {};
  });
}
