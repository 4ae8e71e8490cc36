// Small helpers shared by the integration tests: unique names, error assertions and
// one-line creation of the objects the API manages.

import assert from 'node:assert/strict';
import { call, type Reply } from './manager.ts';

let counter = 0;

/** A fresh, valid object name (letters, digits, "-"), unique within this process. */
export function uniq(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/**
 * Asserts a catalogued error: its status, its `code` and `message` strings, and the
 * original's legacy keys (each one compared exactly).
 */
export function assertError(reply: Reply, status: number, code: string, legacy: Record<string, unknown> = {}): void {
  const where = `${status} ${code}, got ${reply.status} ${reply.text}`;
  assert.equal(reply.status, status, where);
  assert.ok(reply.body !== null && typeof reply.body === 'object', `a JSON object body: ${where}`);
  assert.equal(reply.body.code, code, where);
  assert.equal(typeof reply.body.message, 'string', where);
  for (const [key, value] of Object.entries(legacy)) assert.deepEqual(reply.body[key], value, `${key}: ${where}`);
}

/** Asserts a success status, showing the body when it is not. */
export function assertStatus(reply: Reply, status: number): void {
  assert.equal(reply.status, status, `expected ${status}, got ${reply.status} ${reply.text}`);
}

/** An `_id` as update-style replies carry it: {$oid: 24 hex}. */
export function assertOid(value: unknown): void {
  assert.ok(value !== null && typeof value === 'object', `an _id object, got ${JSON.stringify(value)}`);
  assert.match((value as { $oid: unknown }).$oid as string, /^[0-9a-f]{24}$/);
}

const API = '/api/v2';

export async function createApp(url: string, name: string, body: Record<string, unknown> = {}, auth?: string): Promise<Reply> {
  const reply = await call(url, 'POST', `${API}/apps/${name}`, { body: { docker_image: 'nginx:1', ...body }, auth });
  assertStatus(reply, 200);
  return reply;
}

export async function createCronJob(url: string, name: string, body: Record<string, unknown> = {}): Promise<Reply> {
  const reply = await call(url, 'POST', `${API}/cron_jobs/${name}`, {
    body: { docker_image: 'busybox:1', schedule: '*/5 * * * *', ...body },
  });
  assertStatus(reply, 200);
  return reply;
}

export async function createDeviceGroup(url: string, name: string, body: Record<string, unknown> = {}): Promise<Reply> {
  const reply = await call(url, 'POST', `${API}/device_groups/${name}`, { body });
  assertStatus(reply, 200);
  return reply;
}

/** Creates a DB user with this password and token; returns the reply (which shows the token). */
export async function createUser(url: string, name: string, password: string, token: string): Promise<Reply> {
  const reply = await call(url, 'POST', `${API}/users/${name}`, { body: { password, token } });
  assertStatus(reply, 200);
  return reply;
}

export async function createUserGroup(url: string, name: string, body: Record<string, unknown> = {}): Promise<Reply> {
  const reply = await call(url, 'POST', `${API}/user_groups/${name}`, { body });
  assertStatus(reply, 200);
  return reply;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}
