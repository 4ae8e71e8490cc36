// JSON Schemas: the one definition of what the API accepts. Requests are validated against
// them (Ajv, strict: no coercion, no defaults, nothing removed), the OpenAPI document is
// generated from them, and a refusal is told with the catalogued NebulaError the API has
// always answered (src/errors.ts) — same code, same body — so clients see no difference.
//
// How a refusal is told is written in the schema itself: `x-errors` names a refusal mapper
// (defined beside the schema with defineRefusals), the deepest one along the failing path
// wins. Where a body has several errors, the one reported is the first in the order the
// API has always checked: the body itself, missing fields, read-only then unknown keys, then
// fields in the schema's `properties` order, each one's elements in the order they were
// sent, a container before its elements, a map key before its value.

import type { ErrorObject } from 'ajv/dist/2020.js';
import { NebulaError } from '../errors.ts';

export type JsonType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

/** The JSON Schema (2020-12, as OpenAPI 3.1 uses it) keywords this project writes. */
export interface JsonSchema {
  type?: JsonType | readonly JsonType[];
  title?: string;
  description?: string;
  examples?: readonly unknown[];
  readOnly?: boolean;
  properties?: Readonly<Record<string, JsonSchema>>;
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  required?: readonly string[];
  minProperties?: number;
  maxProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  contains?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  enum?: readonly unknown[];
  const?: unknown;
  allOf?: readonly JsonSchema[];
  oneOf?: readonly JsonSchema[];
  anyOf?: readonly JsonSchema[];
  if?: JsonSchema;
  then?: JsonSchema;
  /** The refusal mapper (defineRefusals) that tells an error at or below this node. */
  'x-errors'?: string;
  /** Keys a body refuses as READ_ONLY_PARAMETER (Nebula manages them), not UNKNOWN_PARAMETERS. */
  'x-read-only'?: readonly string[];
  /** How a missing required field is told: the list (default) or, as the original's full cron replace, `true`. */
  'x-missing'?: 'list' | 'flag';
}

/** One error of a refused value, located. */
export interface Refusal {
  error: ErrorObject;
  keyword: string;
  /** Property names and map keys from the root to the error, in order. */
  names: string[];
  /** How deep in the value the error is (0: the value itself; a key's error: its object's depth). */
  depth: number;
  /** The value the error is about (a key, for a key's error). */
  value: unknown;
  /** The whole value validated. */
  data: unknown;
}

export type RefusalMapper = (refusal: Refusal, all: Refusal[]) => NebulaError;
export type RootMapper = (refusals: Located[], data: unknown, schema: JsonSchema) => NebulaError;

const mappers = new Map<string, RefusalMapper>();
export const roots = new Map<string, RootMapper>();
/** Read by the checker (schema-checker.ts): compiling a schema needs its formats. */
export const formats = new Map<string, (value: string) => boolean>();

/** Registers how refusals under a node marked `x-errors: <id>` are told. */
export function defineRefusals(table: Record<string, RefusalMapper>): void {
  for (const [id, mapper] of Object.entries(table)) mappers.set(id, mapper);
}

/** Registers how a whole refused value whose root is marked `x-errors: <id>` is told. */
export function defineRootRefusals(table: Record<string, RootMapper>): void {
  for (const [id, mapper] of Object.entries(table)) roots.set(id, mapper);
}

/** A string format checked in code (a cron schedule), known to Ajv under `name`. */
export function defineFormat(name: string, check: (value: string) => boolean): void {
  formats.set(name, check);
}

/** A copy of a schema where null is accepted too (on create, null means "the default"). */
export function nullable(schema: JsonSchema): JsonSchema {
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type as JsonType];
  return { ...schema, type: [...types, 'null'] };
}

/** Create or full replace: required fields as they are, the others may be null ("use the default"); other keys are ignored. */
export function fullBody(fields: Readonly<Record<string, JsonSchema>>, required: readonly string[], description: string, missing: 'list' | 'flag' = 'list'): JsonSchema {
  const properties = Object.fromEntries(Object.entries(fields).map(([key, schema]) => [key, required.includes(key) ? schema : nullable(schema)]));
  return { type: 'object', description, properties, required, ...(missing === 'flag' ? { 'x-missing': missing } : {}), 'x-errors': 'body' };
}

/** Partial update: only the object's own fields, at least one; the keys Nebula manages are refused as read-only. */
export function patchBody(fields: Readonly<Record<string, JsonSchema>>, readOnly: readonly string[], description: string): JsonSchema {
  return { type: 'object', description, properties: fields, additionalProperties: false, minProperties: 1, 'x-read-only': readOnly, 'x-errors': 'body' };
}

/** A stored document: its monotonic id and its name (both managed by Nebula), then its fields, all present. */
export function documentSchema(id: string, idDescription: string, name: [string, JsonSchema], fields: Readonly<Record<string, JsonSchema>>): JsonSchema {
  return {
    type: 'object',
    properties: { [id]: { type: 'integer', minimum: 1, readOnly: true, description: idDescription }, [name[0]]: { ...name[1], readOnly: true }, ...fields },
    required: [id, name[0], ...Object.keys(fields)],
    additionalProperties: false,
  };
}

// ---------------------------------------------------------------------------------------
// Locating an error: where it sits in the order the API checks, and what it is about.

const SIZE_KEYWORDS = new Set(['minItems', 'maxItems', 'minProperties', 'maxProperties', 'minLength', 'maxLength']);
/** Ajv's summary of errors it also reports one by one. */
const SUMMARIES = new Set(['propertyNames', 'if', 'oneOf', 'anyOf', 'allOf']);

export interface Located extends Refusal {
  position: number[];
  mapper: string | undefined;
  /** The schema's root handler saw this error (false: the error is below the root node). */
  atRoot: boolean;
}

function decode(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** A property of a value that may be anything (a refused value need not have the shape expected). */
function child(value: unknown, key: string | number): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string | number, unknown>)[key] : undefined;
}

function keyIndex(value: unknown, key: string): number {
  return value !== null && typeof value === 'object' ? Object.keys(value).indexOf(key) : 0;
}

function locate(error: ErrorObject, root: JsonSchema, data: unknown): Located {
  const tokens = error.schemaPath.replace(/^#\/?/, '').split('/').filter((t) => t !== '').map(decode);
  const segments = error.instancePath.split('/').slice(1).map(decode);
  let node: JsonSchema = root;
  let value: unknown = data;
  let mapper = root['x-errors'];
  const position: number[] = [];
  const names: string[] = [];
  let depth = 0;
  const keyword = tokens.at(-1) ?? error.keyword;
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i]!;
    const propCount = Object.keys(node.properties ?? {}).length;
    if (token === 'properties') {
      const name = tokens[++i]!;
      position.push(Object.keys(node.properties ?? {}).indexOf(name), 1);
      names.push(name);
      node = node.properties?.[name] ?? {};
      value = child(value, segments[depth++]!);
    } else if (token === 'additionalProperties') {
      const key = segments[depth++]!;
      position.push(propCount + keyIndex(value, key), 1);
      names.push(key);
      node = typeof node.additionalProperties === 'object' ? node.additionalProperties : {};
      value = child(value, key);
    } else if (token === 'propertyNames') {
      const key = error.propertyName ?? '';
      position.push(propCount + keyIndex(value, key), 0);
      names.push(key);
      node = node.propertyNames ?? {};
      value = key;
    } else if (token === 'items') {
      const index = Number(segments[depth++]);
      position.push(index, 1);
      node = node.items ?? {};
      value = child(value, index);
    } else if (token === 'then') {
      position.push(Number.POSITIVE_INFINITY); // a rule over the whole list: after its elements
      node = node.then ?? {};
    } else if (token === 'allOf' || token === 'oneOf' || token === 'anyOf') {
      node = node[token]?.[Number(tokens[++i])] ?? {};
    } else {
      node = (node as Record<string, JsonSchema | undefined>)[token] ?? {};
    }
    if (node['x-errors'] !== undefined) mapper = node['x-errors'];
  }
  if (keyword === 'required') {
    // A missing property is told where the property would be checked.
    const missing = (error.params as { missingProperty: string }).missingProperty;
    position.push(Object.keys(node.properties ?? {}).indexOf(missing), 1);
    names.push(missing);
    value = undefined;
  } else if (keyword === 'type') position.push(-1, 0);
  else if (SIZE_KEYWORDS.has(keyword)) position.push(-1, 1);
  else if (keyword === 'additionalProperties') {
    // additionalProperties: false — an unknown key, told before the values (as containers_per's).
    const key = (error.params as { additionalProperty: string }).additionalProperty;
    position.push(-1, 2);
    names.push(key);
    value = key;
  } else position.push(-1, 3);
  return { error, keyword, names, depth: segments.length, value, data, position, mapper, atRoot: names.length === 0 };
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}

/** Every error of a refused value, located, without Ajv's summaries, first checked first (stable). */
export function locateAll(errors: readonly ErrorObject[], schema: JsonSchema, data: unknown, prefix = ''): Located[] {
  return errors
    .filter((e) => !SUMMARIES.has(e.keyword) && e.schemaPath.startsWith(prefix))
    .map((e) => locate(e, schema, data))
    .sort((a, b) => compare(a.position, b.position));
}

/** Tells one located error with the mapper of its node. */
export function tell(refusal: Located, all: Refusal[]): NebulaError {
  const mapper = refusal.mapper === undefined ? undefined : mappers.get(refusal.mapper);
  if (mapper === undefined) return new NebulaError('BAD_REQUEST', {}, `${refusal.names.join('.') || 'value'}: ${refusal.error.message ?? 'invalid'}`);
  return mapper(refusal, all);
}

/**
 * A request body (an object; absent or null counts as {}): the body itself, then missing
 * required fields, then an empty partial update, then read-only and unknown keys, then fields.
 */
function bodyRefusal(refusals: Located[], data: unknown, schema: JsonSchema): NebulaError {
  const body = data as Record<string, unknown>;
  if (refusals.some((r) => r.atRoot && r.keyword === 'type')) return new NebulaError('INVALID_BODY');
  const absent = (schema.required ?? []).filter((key) => body[key] === undefined || body[key] === null);
  if (absent.length > 0) {
    return new NebulaError('MISSING_PARAMETERS', schema['x-missing'] === 'flag' ? { missing_parameters: true, missing: absent } : { missing_parameters: absent });
  }
  if (refusals.some((r) => r.atRoot && r.keyword === 'minProperties')) return new NebulaError('MISSING_PARAMETERS');
  if (schema.additionalProperties === false) {
    const declared = schema.properties ?? {};
    const extra = Object.keys(body).filter((key) => !Object.hasOwn(declared, key));
    const readOnly = extra.filter((key) => schema['x-read-only']?.includes(key));
    if (readOnly.length > 0) return new NebulaError('READ_ONLY_PARAMETER', { read_only_parameters: readOnly });
    if (extra.length > 0) return new NebulaError('UNKNOWN_PARAMETERS', { unknown_parameters: extra });
  }
  const first = refusals.find((r) => !r.atRoot);
  return first === undefined ? new NebulaError('INVALID_BODY') : tell(first, refusals);
}

defineRootRefusals({ body: bodyRefusal });

/** A request body as checked: absent or null counts as an empty object. */
export function bodyValue(body: unknown): unknown {
  return body === undefined || body === null ? {} : body;
}
