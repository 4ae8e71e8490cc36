// What the MongoDB store's modules share: error classes of the driver, and documents as
// Nebula hands them out (no _id, keys as they were sent).

import { MongoError, MongoServerError, ObjectId, type Document } from 'mongodb';
import type { UserRecord } from '../../model/user.ts';
import { fromStored } from './keys.ts';

export const DUPLICATE_KEY = 11000;

export type Raw = Document;

export function isDuplicate(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

/** Errors of the connection itself (a socket the server closed, refused, reset, timed out). */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof MongoError) return true;
  if (!(err instanceof Error)) return false;
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return true;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^(EPIPE|ECONNRESET|ECONNREFUSED|ECONNABORTED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTCONN)$/.test(code);
}

/** A document without its _id, keys as sent. */
export function plain<T>(doc: Raw | null): T | null {
  if (doc === null) return null;
  const { _id, ...rest } = doc;
  return fromStored(rest) as T;
}

/** A document as update-style replies show it: its _id as {"$oid": ...}. */
export function withOid<T>(doc: Raw): T & { _id: { $oid: string } } {
  const { _id, ...rest } = doc;
  const oid = _id instanceof ObjectId ? _id.toHexString() : String(_id);
  return { _id: { $oid: oid }, ...(fromStored(rest) as T) };
}

/** 2.7's user documents have no token_lookup. */
export function normalizeUser(doc: UserRecord): UserRecord {
  return doc.token_lookup === undefined ? { ...doc, token_lookup: null } : doc;
}
