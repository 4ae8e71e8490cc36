// Names, and the schemas of the path parameters that carry them. Bodies and query strings
// are checked against their JSON Schemas (schema.ts); what is left here is shared by them.

import { NebulaError } from '../errors.ts';
import { defineRootRefusals, type JsonSchema } from './schema.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Object names (apps, device groups, cron jobs) become container names and Mongo keys: no dots. */
const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** User and user-group names may look like e-mail addresses; they are never used as keys. */
const PRINCIPAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

export const OBJECT_NAME_SCHEMA = { type: 'string', pattern: OBJECT_NAME.source, description: '1-64 letters, digits, "_" or "-", starting with a letter or digit.' } as const satisfies JsonSchema;
export const PRINCIPAL_NAME_SCHEMA = {
  type: 'string',
  pattern: PRINCIPAL_NAME.source,
  description: '1-128 letters, digits, "_", "-", "." or "@", starting with a letter or digit.',
} as const satisfies JsonSchema;

const PRINCIPAL_NAME_MESSAGE = 'invalid name: use 1-128 letters, digits, "_", "-", "." or "@", starting with a letter or digit';

/**
 * The path parameters of a route: `param` names the object. Where the object is created,
 * its name must be valid (INVALID_NAME); elsewhere any name is looked up (a name that cannot
 * exist is not found, as in the original).
 */
export function nameParams(param: string, name: 'object' | 'principal' | 'any' = 'any'): JsonSchema {
  const value = name === 'object' ? OBJECT_NAME_SCHEMA : name === 'principal' ? PRINCIPAL_NAME_SCHEMA : { type: 'string' as const };
  return {
    type: 'object',
    properties: { [param]: value },
    required: [param],
    ...(name === 'any' ? {} : { 'x-errors': `${name}-name` }),
  };
}

const nameOf = (data: unknown) => String(Object.values(data as Record<string, unknown>)[0] ?? '');

defineRootRefusals({
  'object-name': (_refusals, data) => new NebulaError('INVALID_NAME', { name: nameOf(data) }),
  'principal-name': (_refusals, data) => new NebulaError('INVALID_NAME', { name: nameOf(data) }, PRINCIPAL_NAME_MESSAGE),
});

export function isObjectName(name: unknown): name is string {
  return typeof name === 'string' && OBJECT_NAME.test(name);
}

/** The same fields in one fixed order, so equal documents serialize to equal bytes (and ETags). */
export function orderKeys<T extends object>(doc: T, keys: readonly string[]): T {
  const source = doc as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out as T;
}
