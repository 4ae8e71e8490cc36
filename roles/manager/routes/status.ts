// /api/v2/status (authenticated, as in the original), /api/v2/whoami (authenticated, the
// caller's own permissions: new, not in the original), /healthz and /readyz (public, for
// load balancers and systemd). Reports and devices: routes/reports.ts.

import type { FastifyInstance } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import type { ManagerContext } from '../context.ts';
import type { JsonSchema } from '../../../src/model/schema.ts';
import type { Permissions, Principal } from '../rbac.ts';
import { AUTHENTICATED, PUBLIC, V2, documented } from './common.ts';

const tag = 'status';
const grants = (kind: string): JsonSchema => ({
  type: 'object',
  description: `The ${kind} the caller may read ("ro") or change ("rw"), by name: the strongest grant of its groups.`,
  additionalProperties: { enum: ['ro', 'rw'] },
});
const WHOAMI: JsonSchema = {
  type: 'object',
  properties: {
    user_name: { type: 'string', description: 'The user (or the configured admin) the credentials authenticate.' },
    admin: { type: 'boolean', description: 'May do everything, whatever the other fields say.' },
    pruning_allowed: { type: 'boolean', description: 'May prune images (POST /prune, /device_groups/<dg>/prune).' },
    apps: grants('apps'),
    device_groups: grants('device groups'),
    cron_jobs: grants('cron jobs'),
  },
  required: ['user_name', 'admin', 'pruning_allowed', 'apps', 'device_groups', 'cron_jobs'],
  additionalProperties: false,
};

/** The caller's own permissions; the configured admin (or anyone while auth is off) may do all. */
function whoami(principal: Principal): { user_name: string } & Permissions {
  if (principal.type === 'admin') return { user_name: principal.name, admin: true, pruning_allowed: true, apps: {}, device_groups: {}, cron_jobs: {} };
  const { admin, pruning_allowed, apps, device_groups, cron_jobs } = principal.permissions;
  return { user_name: principal.name, admin, pruning_allowed, apps, device_groups, cron_jobs };
}

const status = (value: string): JsonSchema => ({ type: 'object', properties: { status: { const: value } }, required: ['status'], additionalProperties: false });

export function statusRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const api = documented({
    tag,
    summary: 'Is the API available (authenticated, as in the original)',
    response: { 200: { type: 'object', properties: { api_available: { const: true } }, required: ['api_available'], additionalProperties: false } },
  });
  app.get(`${V2}/status`, { ...AUTHENTICATED, ...api }, async () => ({ api_available: true }));

  const me = documented({
    tag,
    summary: "The caller's own permissions (any authenticated caller; new, not in the original)",
    description: 'What the credentials authenticate and what they may do: the merged grants of the user\'s groups. No secret, no other user.',
    response: { 200: WHOAMI },
  });
  app.get(`${V2}/whoami`, { ...AUTHENTICATED, ...me }, async (request) => {
    // Always set on an authenticated route (server.ts admits it before the handler runs).
    if (request.principal === undefined) throw new NebulaError('INTERNAL');
    return whoami(request.principal);
  });

  const health = documented({ tag, summary: 'Liveness, for load balancers and systemd (no credentials)', public: true, response: { 200: status('ok') } });
  app.get('/healthz', { ...PUBLIC, ...health }, async () => ({ status: 'ok' }));

  const ready = documented({ tag, summary: 'Readiness: the store answers and the manager is not shutting down (no credentials)', public: true, response: { 200: status('ready') } });
  app.get('/readyz', { ...PUBLIC, ...ready }, async () => {
    if (ctx.isShuttingDown()) throw new NebulaError('SHUTTING_DOWN');
    if (ctx.isStoreDown()) throw new NebulaError('STORE_UNAVAILABLE');
    try {
      await ctx.store.ping();
    } catch {
      throw new NebulaError('STORE_UNAVAILABLE');
    }
    return { status: 'ready' };
  });
}
