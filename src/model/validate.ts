// Small, pure validators shared by every model. Each one throws a catalogued NebulaError
// whose body names the offending field, so a client always learns what to fix.

import { NebulaError } from '../errors.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Object names (apps, device groups, cron jobs) become container names and Mongo keys: no dots. */
const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** User and user-group names may look like e-mail addresses; they are never used as keys. */
const PRINCIPAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

export function checkObjectName(name: string): void {
  if (!OBJECT_NAME.test(name)) throw new NebulaError('INVALID_NAME', { name });
}

export function checkPrincipalName(name: string): void {
  if (!PRINCIPAL_NAME.test(name)) {
    throw new NebulaError(
      'INVALID_NAME',
      { name },
      'invalid name: use 1-128 letters, digits, "_", "-", "." or "@", starting with a letter or digit',
    );
  }
}

export function isObjectName(name: unknown): name is string {
  return typeof name === 'string' && OBJECT_NAME.test(name);
}

function invalid(field: string, reason: string): NebulaError {
  return new NebulaError('INVALID_PARAMETER', { [field]: reason }, `${field}: ${reason}`);
}

export function checkBool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(field, 'must be true or false');
  return value;
}

export function checkString(field: string, value: unknown, max = 1024): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw invalid(field, `must be a non-empty string of at most ${max} characters`);
  }
  return value;
}

export function checkStringList(field: string, value: unknown, max = 256): string[] {
  if (!Array.isArray(value) || value.length > max) throw invalid(field, `must be a list of at most ${max} strings`);
  for (const item of value) {
    if (typeof item !== 'string' || item.length === 0 || item.length > 4096) {
      throw invalid(field, 'must contain only non-empty strings');
    }
  }
  return value as string[];
}

/** The body of a write: absent or null counts as empty; anything but an object is refused. */
export function bodyObject(body: unknown): JsonObject {
  if (body === undefined || body === null) return {};
  if (!isObject(body)) throw new NebulaError('INVALID_BODY');
  return body;
}

/**
 * Refuses keys the object does not have, and keys Nebula manages itself (names, monotonic
 * ids). The original stored any key sent by PUT, which let a client rename an object or
 * lower a counter; we answer 400 instead.
 */
export function checkKeys(body: JsonObject, allowed: readonly string[], readOnly: readonly string[]): void {
  const keys = Object.keys(body);
  const managed = keys.filter((k) => readOnly.includes(k));
  if (managed.length > 0) {
    throw new NebulaError('READ_ONLY_PARAMETER', { read_only_parameters: managed });
  }
  const unknown = keys.filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new NebulaError('UNKNOWN_PARAMETERS', { unknown_parameters: unknown });
}

/** Applies `checkers` to the fields present in `body`, returning a typed partial object. */
export function pickValid<T>(body: JsonObject, checkers: { [K in keyof T]: (field: string, value: unknown) => T[K] }): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(checkers) as (keyof T & string)[]) {
    if (body[key] !== undefined) out[key] = checkers[key](key, body[key]);
  }
  return out;
}

/** A partial update body: not empty, only the object's own fields, each checked. */
export function patchFromBody<T>(
  body: JsonObject,
  allowed: readonly string[],
  readOnly: readonly string[],
  checkers: { [K in keyof T]: (field: string, value: unknown) => T[K] },
): Partial<T> {
  if (Object.keys(body).length === 0) throw new NebulaError('MISSING_PARAMETERS');
  checkKeys(body, allowed, readOnly);
  return pickValid<T>(body, checkers);
}

/** The same fields in one fixed order, so equal documents serialize to equal bytes (and ETags). */
export function orderKeys<T extends object>(doc: T, keys: readonly string[]): T {
  const source = doc as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out as T;
}
