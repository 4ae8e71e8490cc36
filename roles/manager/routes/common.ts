// Helpers shared by the route modules.

import type { FastifyRequest } from 'fastify';
import { NebulaError, type ErrorCode } from '../../../src/errors.ts';
import type { WriteResult } from '../../../src/store/types.ts';
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
