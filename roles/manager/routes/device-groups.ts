// /api/v2/device_groups (incl. the device-facing /info with ETag and long-poll) and /prune.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NebulaError } from '../../../src/errors.ts';
import {
  DEVICE_GROUP_BODY,
  DEVICE_GROUP_DOC,
  DEVICE_GROUP_PATCH,
  INFO,
  INFO_QUERY,
  deviceGroupFields,
  deviceGroupPatch,
  newDeviceGroup,
  type DeviceGroupDoc,
  type DeviceGroupFields,
} from '../../../src/model/deviceGroup.ts';
import { etagMatches } from '../../../src/model/info.ts';
import { withOid } from '../../../src/model/responses.ts';
import { nameParams, type JsonObject } from '../../../src/model/validate.ts';
import type { UpdateOptions } from '../../../src/store/types.ts';
import type { ManagerContext } from '../context.ts';
import type { InfoEntry } from '../info-cache.ts';
import { isAllowed } from '../rbac.ts';
import { PRUNING, V2, collectionRoutes, creation, documented, objectAccess, param, withoutOid, written } from './common.ts';

const RW = objectAccess('device_groups', 'rw', 'device_group');
const RO = objectAccess('device_groups', 'ro', 'device_group');

/** Who may read a group's /info (the fast path in info-fast-path.ts checks the same). */
export const INFO_ACCESS = RO.config.access;

const tag = 'device groups';
const params = nameParams('device_group');
const changed = { 202: withOid(DEVICE_GROUP_DOC) };

/** `?wait=<seconds>` (checked by INFO_QUERY): absent is 0; capped at the configured maximum. */
function waitSeconds(query: unknown, max: number): number {
  const raw = (query as Record<string, string | undefined>).wait;
  return raw === undefined ? 0 : Math.min(Number(raw), max);
}

export function deviceGroupRoutes(app: FastifyInstance, ctx: ManagerContext): void {
  const notFound = () => new NebulaError('DEVICE_GROUP_NOT_FOUND');

  async function change(name: string, set: Partial<DeviceGroupFields>, options: UpdateOptions<DeviceGroupDoc>) {
    const doc = written(await ctx.store.update('device_groups', name, set, options), { missing: notFound() });
    await ctx.changed();
    return doc;
  }

  /**
   * A group's /info shows its members' whole config (env values included): a caller may put
   * into a group only the apps and cron jobs it may read, or those already in it (the original
   * let rw on a group pull in any app, and so read it).
   */
  async function checkMembersReadable(request: FastifyRequest, name: string, fields: Partial<DeviceGroupFields>): Promise<void> {
    const principal = request.principal;
    if (principal === undefined) throw new NebulaError('INTERNAL');
    if (principal.type === 'admin' || principal.permissions.admin) return;
    let current: DeviceGroupDoc | null | undefined;
    for (const kind of ['apps', 'cron_jobs'] as const) {
      for (const member of fields[kind] ?? []) {
        if (isAllowed(principal, { type: 'object', kind, level: 'ro', param: '' }, member)) continue;
        if (current === undefined) current = await ctx.store.get('device_groups', name);
        if (!current?.[kind].includes(member)) throw new NebulaError('ACCESS_DENIED', { name: member });
      }
    }
  }

  const refsOf = (fields: Partial<DeviceGroupFields>) => ({
    ...(fields.cron_jobs ? { cron_jobs: fields.cron_jobs } : {}),
    ...(fields.apps ? { apps: fields.apps } : {}),
  });

  collectionRoutes(app, ctx, { kind: 'device_groups', param: 'device_group', read: RO, remove: RW, notFound, tag, noun: 'device group', doc: DEVICE_GROUP_DOC });

  const create = creation(tag, 'Create a device group', 'device_group', 'object', DEVICE_GROUP_BODY, DEVICE_GROUP_DOC);
  app.post(`${V2}/device_groups/:device_group`, { ...RW, ...create }, async (request) => {
    const name = param(request, 'device_group');
    const fields = deviceGroupFields(request.body as JsonObject);
    await checkMembersReadable(request, name, fields);
    const result = await ctx.store.create('device_groups', newDeviceGroup(name, fields), refsOf(fields));
    const doc = written(result, { exists: 'DEVICE_GROUP_EXISTS' });
    await ctx.changed();
    return withoutOid(doc);
  });

  // Full replace: apps and cron_jobs both set, a missing one becomes [].
  const replace = documented({ tag, summary: 'Replace a device group\'s lists (a list left out becomes [])', params, body: DEVICE_GROUP_BODY, response: changed });
  app.post(`${V2}/device_groups/:device_group/update`, { ...RW, ...replace }, async (request, reply) => {
    const fields = deviceGroupFields(request.body as JsonObject);
    await checkMembersReadable(request, param(request, 'device_group'), fields);
    const doc = await change(param(request, 'device_group'), fields, { bump: 'device_group_id', refs: refsOf(fields) });
    return reply.code(202).send(doc);
  });

  app.route({
    method: ['PUT', 'PATCH'],
    url: `${V2}/device_groups/:device_group/update`,
    ...RW,
    ...documented({ tag, summary: 'Change a device group\'s apps or cron jobs', params, body: DEVICE_GROUP_PATCH, response: changed }),
    handler: async (request, reply) => {
      const set = deviceGroupPatch(request.body as JsonObject);
      await checkMembersReadable(request, param(request, 'device_group'), set);
      const doc = await change(param(request, 'device_group'), set, { bump: 'device_group_id', refs: refsOf(set) });
      return reply.code(202).send(doc);
    },
  });

  const prune = documented({ tag, summary: 'Prune unused images on the devices of a group (bumps prune_id)', params, response: changed });
  app.post(`${V2}/device_groups/:device_group/prune`, { ...PRUNING, ...prune }, async (request, reply) => {
    return reply.code(202).send(await change(param(request, 'device_group'), {}, { bump: 'prune_id' }));
  });

  const pruneAll = documented({
    tag,
    summary: 'Prune unused images on every device (bumps every group\'s prune_id)',
    response: { 202: { type: 'object', properties: { prune_ids: { type: 'object', additionalProperties: { type: 'integer' } } }, required: ['prune_ids'], additionalProperties: false } },
  });
  app.post(`${V2}/prune`, { ...PRUNING, ...pruneAll }, async (_request, reply) => {
    const pruneIds = await ctx.store.pruneAll();
    await ctx.changed();
    return reply.code(202).send({ prune_ids: pruneIds });
  });

  function answerInfo(reply: FastifyReply, entry: InfoEntry, ifNoneMatch: string | undefined): FastifyReply {
    if (entry.body === null) throw notFound();
    reply.header('ETag', entry.etag).header('Cache-Control', 'no-cache');
    if (etagMatches(ifNoneMatch, entry.etag)) return reply.code(304).send();
    return reply.code(200).type('application/json; charset=utf-8').send(entry.body);
  }

  /** Hold until the device's config really differs from what it has, the wait ends or it goes away. */
  async function longPoll(name: string, reply: FastifyReply, ifNoneMatch: string | undefined, wait: number): Promise<FastifyReply> {
    let entry = await ctx.cache.get(name);
    if (entry.body !== null && wait > 0 && etagMatches(ifNoneMatch, entry.etag)) {
      // Held, it does not count as in flight; too many held already: shed (503, Retry-After).
      const release = ctx.load.hold();
      if (release === false) throw new NebulaError('SERVER_OVERLOADED');
      const deadline = Date.now() + wait * 1000;
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.once('close', onClose);
      try {
        while (entry.body !== null && etagMatches(ifNoneMatch, entry.etag) && !ctx.isShuttingDown()) {
          const left = deadline - Date.now();
          if (left <= 0 || (await ctx.cache.wait(name, entry, left, gone.signal)) !== 'changed') break;
          entry = await ctx.cache.get(name);
        }
      } finally {
        reply.raw.off('close', onClose);
        release();
      }
    }
    return answerInfo(reply, entry, ifNoneMatch);
  }

  // What devices poll. Authorized like every route (ro on the group) before the cache is read.
  // The hot path — the group cached and nothing to wait for — answers synchronously with the
  // body and ETag computed once per change.
  const info = documented({
    tag,
    summary: 'What every device of the group runs (devices poll it)',
    description:
      'Strong ETag on every reply; If-None-Match answers 304 when unchanged; ?wait=<seconds> holds the request until the config changes (long-poll, at most long_poll_max_wait).',
    params,
    querystring: INFO_QUERY,
    response: { 200: INFO, 304: { description: 'Not modified: the ETag in If-None-Match is current.', type: 'null' } },
  });
  app.get(`${V2}/device_groups/:device_group/info`, { ...RO, ...info }, (request, reply) => {
    const name = param(request, 'device_group');
    const wait = waitSeconds(request.query, ctx.longPollMaxWaitSeconds);
    const ifNoneMatch = request.headers['if-none-match'];
    const entry = ctx.cache.peek(name);
    if (entry !== undefined && (wait === 0 || entry.body === null || !etagMatches(ifNoneMatch, entry.etag))) {
      answerInfo(reply, entry, ifNoneMatch);
      return undefined; // sent: a value here would be sent again
    }
    return longPoll(name, reply, ifNoneMatch, wait);
  });
}
