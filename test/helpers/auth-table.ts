// The API's routes with what each one needs, for the authorization tests (auth-matrix,
// auth-leaks), and the check that a refused answer carries the error shape and nothing else.

import { catalogue, type ErrorCode } from '../../src/errors.ts';
import type { Reply } from './manager.ts';
import { uniq } from './fixtures.ts';
import type { Permissions } from '../../roles/manager/rbac.ts';

export type Level = 'ro' | 'rw';
export type Need = 'authenticated' | 'admin' | 'pruning' | { kind: 'apps' | 'device_groups' | 'cron_jobs'; level: Level };

export interface Route {
  method: string;
  /** Fastify syntax, so the table can be checked against the server's routes. */
  path: string;
  need: Need;
  body?: unknown | ((names: Names) => unknown);
  /** PATCH, an alias of a PUT already in the table. */
  alias?: boolean;
  /** Refused as 404 DEVICE_NOT_FOUND rather than 403, so that it does not tell what exists. */
  hidden?: boolean;
}

const app = (level: Level): Need => ({ kind: 'apps', level });
const dg = (level: Level): Need => ({ kind: 'device_groups', level });
const cron = (level: Level): Need => ({ kind: 'cron_jobs', level });
export const V2 = '/api/v2';
export const IMAGE = { docker_image: 'nginx:1' };
const CRON_BODY = { docker_image: 'busybox:1', schedule: '* * * * *' };

export const ROUTES: Route[] = [
  { method: 'GET', path: `${V2}/status`, need: 'authenticated' },
  // The caller's own permissions (new, not in the original): the matrix checks it is exactly its own.
  { method: 'GET', path: `${V2}/whoami`, need: 'authenticated' },
  // Prometheus metrics (roles/manager/routes/metrics.ts): any authenticated caller, no names in it.
  { method: 'GET', path: '/metrics', need: 'authenticated' },
  { method: 'GET', path: `${V2}/apps`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/apps/:app_name`, need: app('ro') },
  { method: 'POST', path: `${V2}/apps/:app_name`, need: app('rw'), body: IMAGE },
  { method: 'POST', path: `${V2}/apps/:app_name/stop`, need: app('rw') },
  { method: 'POST', path: `${V2}/apps/:app_name/start`, need: app('rw') },
  { method: 'POST', path: `${V2}/apps/:app_name/restart`, need: app('rw') },
  { method: 'POST', path: `${V2}/apps/:app_name/update`, need: app('rw'), body: IMAGE },
  { method: 'PUT', path: `${V2}/apps/:app_name/update`, need: app('rw'), body: { running: true } },
  { method: 'PATCH', path: `${V2}/apps/:app_name/update`, need: app('rw'), body: { running: true }, alias: true },
  { method: 'GET', path: `${V2}/device_groups`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/device_groups/:device_group`, need: dg('ro') },
  { method: 'GET', path: `${V2}/device_groups/:device_group/info`, need: dg('ro') },
  { method: 'POST', path: `${V2}/device_groups/:device_group`, need: dg('rw'), body: {} },
  { method: 'POST', path: `${V2}/device_groups/:device_group/update`, need: dg('rw'), body: {} },
  { method: 'PUT', path: `${V2}/device_groups/:device_group/update`, need: dg('rw'), body: { apps: [] } },
  { method: 'PATCH', path: `${V2}/device_groups/:device_group/update`, need: dg('rw'), body: { apps: [] }, alias: true },
  { method: 'POST', path: `${V2}/device_groups/:device_group/prune`, need: 'pruning' },
  { method: 'POST', path: `${V2}/prune`, need: 'pruning' },
  { method: 'GET', path: `${V2}/reports`, need: 'authenticated' },
  // Reporting for a device group takes what reading its /info takes.
  { method: 'POST', path: `${V2}/reports`, need: dg('ro'), body: (names: Names) => [deviceReport(names)] },
  // Lists only the devices of the groups the caller may read.
  { method: 'GET', path: `${V2}/devices`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/devices/:hostname`, need: dg('ro'), hidden: true },
  { method: 'GET', path: `${V2}/users`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/users/:user_name`, need: 'admin' },
  { method: 'POST', path: `${V2}/users/:user_name`, need: 'admin', body: { password: 'target-password' } },
  { method: 'PUT', path: `${V2}/users/:user_name/update`, need: 'admin', body: { password: 'target-password' } },
  { method: 'PATCH', path: `${V2}/users/:user_name/update`, need: 'admin', body: { password: 'target-password' }, alias: true },
  { method: 'POST', path: `${V2}/users/:user_name/refresh`, need: 'admin' },
  { method: 'GET', path: `${V2}/user_groups`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/user_groups/:user_group`, need: 'admin' },
  { method: 'POST', path: `${V2}/user_groups/:user_group`, need: 'admin', body: {} },
  { method: 'PUT', path: `${V2}/user_groups/:user_group/update`, need: 'admin', body: { admin: false } },
  { method: 'PATCH', path: `${V2}/user_groups/:user_group/update`, need: 'admin', body: { admin: false }, alias: true },
  { method: 'GET', path: `${V2}/cron_jobs`, need: 'authenticated' },
  { method: 'GET', path: `${V2}/cron_jobs/:cron_job`, need: cron('ro') },
  { method: 'POST', path: `${V2}/cron_jobs/:cron_job`, need: cron('rw'), body: CRON_BODY },
  { method: 'POST', path: `${V2}/cron_jobs/:cron_job/update`, need: cron('rw'), body: CRON_BODY },
  { method: 'PUT', path: `${V2}/cron_jobs/:cron_job/update`, need: cron('rw'), body: { running: true } },
  { method: 'PATCH', path: `${V2}/cron_jobs/:cron_job/update`, need: cron('rw'), body: { running: true }, alias: true },
  // Deletes last, so the other rows still find their objects.
  { method: 'DELETE', path: `${V2}/apps/:app_name`, need: app('rw') },
  { method: 'DELETE', path: `${V2}/device_groups/:device_group`, need: dg('rw') },
  { method: 'DELETE', path: `${V2}/users/:user_name`, need: 'admin' },
  { method: 'DELETE', path: `${V2}/user_groups/:user_group`, need: 'admin' },
  // rw rather than the original's admin-only: the manager's choice, see routes/cron-jobs.ts.
  { method: 'DELETE', path: `${V2}/cron_jobs/:cron_job`, need: cron('rw') },
];

/** The objects a principal's grants name, and the admin-only targets it may touch. */
export interface Names {
  app_name: string;
  device_group: string;
  cron_job: string;
  user_name: string;
  user_group: string;
  /** A device that has reported for device_group. */
  hostname: string;
}

export function deviceReport(names: Names, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    report_id: uniq('report'),
    hostname: names.hostname,
    device_group: names.device_group,
    report_creation_time: Math.floor(Date.now() / 1000),
    ...extra,
  };
}

export function bodyOf(route: Route, names: Names): { body?: unknown } {
  if (route.body === undefined) return {};
  return { body: typeof route.body === 'function' ? route.body(names) : route.body };
}

export function pathOf(route: Route, names: Names): string {
  return route.path.replace(/:(\w+)/g, (_all, key: string) => names[key as keyof Names]);
}

export interface Grants {
  admin?: boolean;
  pruning?: boolean;
  level?: Level;
}

/** What GET /whoami answers a caller: its name and its merged permissions. */
export type Whoami = { user_name: string } & Permissions;

/** The answer of a user in one group granting `grants` on `names` (null: in no group). */
export function whoamiOf(user_name: string, names: Names, grants: Grants | null): Whoami {
  const level = grants?.level;
  const on = (name: string): Record<string, Level> => (level ? { [name]: level } : {});
  return {
    user_name,
    admin: grants?.admin === true,
    pruning_allowed: grants?.pruning === true,
    apps: on(names.app_name),
    device_groups: on(names.device_group),
    cron_jobs: on(names.cron_job),
  };
}

/** The configured admin's answer: everything, and no grant listed. */
export function adminWhoami(user_name: string): Whoami {
  return { user_name, admin: true, pruning_allowed: true, apps: {}, device_groups: {}, cron_jobs: {} };
}

export function expectAllowed(grants: Grants, need: Need): boolean {
  if (grants.admin || need === 'authenticated') return true;
  if (need === 'admin') return false;
  if (need === 'pruning') return grants.pruning === true;
  return grants.level === 'rw' || (grants.level === 'ro' && need.level === 'ro');
}

/** A write to the admin data, which an edge manager refuses (every method but GET, except device reports). */
export function isAdminWrite(route: Route): boolean {
  return route.method !== 'GET' && route.path !== `${V2}/reports`;
}

/**
 * Body keys a refusal may carry besides code, message and its catalogued legacy keys: each
 * names something the caller sent itself (a string found in its request) or is `false`.
 */
const ECHOES: Partial<Record<ErrorCode, readonly string[]>> = {
  DEVICE_NOT_FOUND: ['hostname'],
  // POST /reports names the group refused; a device group write names the member refused.
  ACCESS_DENIED: ['device_group', 'name'],
  USER_NOT_FOUND: ['user_name'],
  APP_NOT_FOUND: ['name'],
  CRON_JOB_NOT_FOUND: ['name'],
};

/**
 * Why this answer is not a bare catalogued error (null: it is one): a JSON object of `code`,
 * the catalogue's own `message` and legacy keys, and at most echoes of `sent` (the request's
 * path and body); no ETag, cookie or caching header that would tell anything of an object.
 */
export function refusalProblem(reply: Reply, sent: string): string | null {
  const where = `${reply.status} ${reply.text}`;
  const body: unknown = reply.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return `not a JSON object: ${where}`;
  const fields = body as Record<string, unknown>;
  const code = fields.code as ErrorCode;
  if (typeof code !== 'string' || !Object.hasOwn(catalogue, code)) return `no catalogued code: ${where}`;
  const spec: { status: number; message: string; legacy?: Record<string, unknown> } = catalogue[code];
  if (spec.status !== reply.status) return `status ${reply.status} for ${code} (catalogued ${spec.status})`;
  if (fields.message !== spec.message) return `a message that is not the catalogue's: ${where}`;
  const legacy = spec.legacy ?? {};
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'code' || key === 'message') continue;
    if (Object.hasOwn(legacy, key)) {
      if (value !== legacy[key]) return `legacy key ${key} is ${JSON.stringify(value)}: ${where}`;
      continue;
    }
    if (!(ECHOES[code] ?? []).includes(key)) return `an extra key ${key}: ${where}`;
    if (value !== false && !(typeof value === 'string' && value.length > 0 && sent.includes(value))) {
      return `${key} is not an echo of the request: ${where}`;
    }
  }
  for (const header of ['etag', 'set-cookie', 'last-modified', 'x-powered-by']) {
    if (reply.headers.has(header)) return `a ${header} header on a refusal: ${where}`;
  }
  if (!/^application\/json/.test(reply.headers.get('content-type') ?? '')) return `content-type ${reply.headers.get('content-type')}: ${where}`;
  return null;
}

/** What a request sent (path and body), for refusalProblem's echo check. */
export function sentOf(path: string, body?: unknown): string {
  return body === undefined ? path : `${path} ${JSON.stringify(body)}`;
}
