// Schemas of the answers every kind shares: errors, ids, lists of names, an empty reply.

import { catalogue } from '../errors.ts';
import type { JsonSchema } from './schema.ts';

/** Every error: a catalogued code and a message, beside the original's own keys (e.g. {"app_exists": false}). */
export const ERROR_BODY: JsonSchema = {
  type: 'object',
  description: 'A catalogued error (src/errors.ts): code and message, plus the original Nebula 2.7 keys of that error and details naming what to fix.',
  properties: {
    code: { enum: Object.keys(catalogue) },
    message: { type: 'string' },
  },
  required: ['code', 'message'],
};

export const OID: JsonSchema = {
  type: 'object',
  properties: { $oid: { type: 'string', pattern: '^[0-9a-f]{24}$' } },
  required: ['$oid'],
  additionalProperties: false,
};

/** A document as update-style replies answer it: with its _id. */
export function withOid(doc: JsonSchema): JsonSchema {
  return { ...doc, properties: { _id: OID, ...doc.properties }, required: ['_id', ...(doc.required ?? [])] };
}

/** GET /api/v2/<kind>: the names. */
export function namesList(kind: string): JsonSchema {
  return { type: 'object', properties: { [kind]: { type: 'array', items: { type: 'string' } } }, required: [kind], additionalProperties: false };
}

/** What a delete answers. */
export const EMPTY: JsonSchema = { type: 'object', maxProperties: 0 };
