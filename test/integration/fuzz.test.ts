// Hostile input, property-based (fast-check): every route of the API with random and malformed
// paths, query strings, headers, JSON bodies, raw bytes, oversize bodies, broken HTTP and slow
// clients. For every request: never a 5xx; every 4xx a JSON body with a catalogued code (and
// that code's status); an answer (or a close) within a bound; a rejected request leaves the
// store as it was; and at the end the manager is alive, nothing fatal was reported and no
// prototype was polluted.
//
// Replay: a failure prints fast-check's `seed` and `path`; run again with NEBULA_FUZZ_SEED=<seed>
// (the seed is fixed, so every run tries the same cases). NEBULA_FUZZ_RUNS=<factor> scales the
// number of cases (e.g. 10 for a long hunt).
//
// What it found, fixed in the source:
// - POST/PUT of a device group whose apps or cron_jobs list held an object with a "toString"
//   or "valueOf" key, e.g. {"apps": [{"toString": 1}]}, answered 500: the refusal quoted the
//   member with String(), which threw (src/model/deviceGroup.ts).
// - Refusals made before any route carried no catalogued code: an invalid percent-encoding in
//   the path (fastify's 400 FST_ERR_BAD_URL), a path segment over 256 characters (414
//   FST_ERR_MAX_PARAM_LENGTH), bytes Node's HTTP parser refuses and headers over 16 KiB
//   (fastify's 400/431 {"error": ..., "statusCode": ...}), an Expect other than 100-continue
//   (Node's 417 with no body), an HTTP/1.1 request without Host (Node's 400 with an empty body).
//   Now each is its catalogued error (roles/manager/protocol-errors.ts; URI_TOO_LONG,
//   HEADERS_TOO_LARGE, REQUEST_TIMEOUT and EXPECTATION_FAILED in src/errors.ts). A refusal of
//   bytes pipelined after a request still being answered waits for that answer, so that it is
//   not taken for that request's answer.

import { after, before, test } from 'node:test';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { catalogue } from '../../src/errors.ts';
import { BODY_LIMIT } from '../../roles/manager/server.ts';
import { REPORTS_BODY_LIMIT } from '../../roles/manager/routes/reports.ts';
import { ADMIN_AUTH, ADMIN_TOKEN, basic, call, startManager, type TestManager } from '../helpers/manager.ts';
import { assertStatus, bearer, createApp, createCronJob, createDeviceGroup, createUser, createUserGroup, uniq } from '../helpers/fixtures.ts';
import { ROUTES, V2, deviceReport, type Names, type Route } from '../helpers/auth-table.ts';
import { rawExchange, rawRequest, type Piece, type RawOutcome } from '../helpers/raw-http.ts';

const SEED = Number(process.env.NEBULA_FUZZ_SEED ?? 20_240_611);
// MongoDB (FerretDB here) costs about three times more per case: fewer cases there, to stay
// within about a minute on a small machine (still thousands).
const SCALE = Number(process.env.NEBULA_FUZZ_RUNS ?? 1) * (process.env.NEBULA_TEST_STORE === 'mongo' ? 0.6 : 1);
/** Every answer comes within this (long-polls are capped at 1 s below). */
const ANSWER_MS = 5_000;
const KINDS = ['apps', 'device_groups', 'cron_jobs', 'users', 'user_groups'] as const;

let m: TestManager;
/** Objects that exist; the fuzzer re-creates any a successful request deleted. */
let fx: Names;
/** A DB user with "ro" on the fixtures, never a target of the fuzzed paths. */
const reader = { user: uniq('fz-reader'), password: 'reader-password-x', group: uniq('fz-readers') };
let cases = 0;
/** What the prototypes hold before any request: compared at the end. */
const PROTOTYPES = [Object.prototype, Array.prototype, Function.prototype].map((proto) => Object.getOwnPropertyNames(proto).sort());

function runs(n: number): number {
  return Math.max(1, Math.round(n * SCALE));
}

/**
 * Runs `predicate` on `numRuns` values of `arbitrary` (after the `examples`: the cases a past
 * run found, tried first every time). No shrinking by default (each case is an HTTP exchange):
 * NEBULA_FUZZ_SHRINK=1 with the printed seed to get the smallest failing case.
 */
async function check<T>(arbitrary: fc.Arbitrary<T>, numRuns: number, predicate: (value: T) => Promise<void>, examples: T[] = []): Promise<void> {
  await watch.reset(); // each property on its own, whatever the one before did
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      cases += 1;
      await predicate(value);
    }),
    { seed: SEED, numRuns: runs(numRuns), examples: examples.map((e) => [e]), endOnFailure: process.env.NEBULA_FUZZ_SHRINK !== '1' },
  );
}

// ---------------------------------------------------------------------------------------------
// The store, before and after: admin data in full, and the device index.

async function snapshot(): Promise<string> {
  const store = m.manager.store;
  const docs = await Promise.all(
    KINDS.map(async (kind) => {
      const names = (await store.listNames(kind)).sort();
      return [kind, await Promise.all(names.map((name) => store.get(kind, name)))];
    }),
  );
  return JSON.stringify({ ...Object.fromEntries(docs), devices: await store.listDevices({ pageSize: 1000 }) });
}

/**
 * Watches the store across requests. After a success the snapshot is taken again (the store may
 * have changed, and fixtures a request deleted are re-created). After a refusal the change
 * sequence must not have moved, and the full snapshot must be unchanged (compared after every
 * refusal on SQLite; on MongoDB, whose round trips cost more, after every 16th).
 */
const watch = {
  snapshot: '',
  seq: 0,
  refusals: 0,
  every: process.env.NEBULA_TEST_STORE === 'mongo' ? 16 : 1,
  resets: 0,
  async reset(deleted = true): Promise<void> {
    this.resets += 1;
    if (deleted) await ensureFixtures();
    [this.snapshot, this.seq] = await Promise.all([snapshot(), m.manager.store.changeSeq()]);
  },
  async after(status: number, method: string, what: string): Promise<void> {
    if (status < 400) {
      // '*': bytes whose method is not known (broken HTTP).
      if (method !== 'GET' && method !== 'HEAD') await this.reset(method === 'DELETE' || method === '*');
      return;
    }
    const seq = await m.manager.store.changeSeq();
    assert.equal(seq, this.seq, `a refused request (${status}) moved the change sequence: ${what}`);
    this.refusals += 1;
    if (this.refusals % this.every === 0) assert.equal(await snapshot(), this.snapshot, `a refused request (${status}) changed the store: ${what}`);
  },
};

async function ensureFixtures(): Promise<void> {
  const store = m.manager.store;
  const missing = async (kind: (typeof KINDS)[number], name: string) => (await store.get(kind, name)) === null;
  if (await missing('apps', fx.app_name)) await createApp(m.url, fx.app_name);
  if (await missing('cron_jobs', fx.cron_job)) await createCronJob(m.url, fx.cron_job);
  if (await missing('device_groups', fx.device_group)) {
    await createDeviceGroup(m.url, fx.device_group, { apps: [fx.app_name], cron_jobs: [fx.cron_job] });
  }
  if (await missing('users', fx.user_name)) await createUser(m.url, fx.user_name, 'target-password', uniq('target-token'));
  if (await missing('user_groups', fx.user_group)) await createUserGroup(m.url, fx.user_group);
}

before(async () => {
  // Long-polls end within a second, so that every answer has one bound.
  m = await startManager({ longPollMaxWaitSeconds: 1 });
  fx = {
    app_name: uniq('fz-app'),
    device_group: uniq('fz-dg'),
    cron_job: uniq('fz-cron'),
    user_name: uniq('fz-user'),
    user_group: uniq('fz-group'),
    hostname: uniq('fz-device'),
  };
  await ensureFixtures();
  await createUser(m.url, reader.user, reader.password, uniq('reader-token'));
  const ro = { [fx.app_name]: 'ro', [fx.device_group]: 'ro', [fx.cron_job]: 'ro' };
  await createUserGroup(m.url, reader.group, { group_members: [reader.user], apps: ro, device_groups: ro, cron_jobs: ro });
  assertStatus(await call(m.url, 'POST', `${V2}/reports`, { body: deviceReport(fx) }), 200);
  await watch.reset();
});

after(async () => {
  await m?.close();
});

// ---------------------------------------------------------------------------------------------
// What every answer must be.

/** Why this answer breaks the rules (null: it keeps them). */
function answerProblem(outcome: RawOutcome | { status: number; body: unknown; text: string }, method: string): string | null {
  let status: number;
  let body: unknown;
  let text: string;
  if ('reply' in outcome) {
    if (outcome.timedOut) return `no answer and no close within ${ANSWER_MS} ms`;
    if (outcome.reply === null) return null; // closed without an answer: allowed for broken HTTP only (see there)
    ({ status, json: body, text } = outcome.reply);
  } else ({ status, body, text } = outcome);
  if (!(status >= 100 && status < 500)) return `status ${status}: ${text.slice(0, 300)}`;
  if (status < 400 || method === 'HEAD') return null;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return `a ${status} without a JSON object body: ${JSON.stringify(text.slice(0, 300))}`;
  const { code, message } = body as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !Object.hasOwn(catalogue, code)) return `a ${status} without a catalogued code: ${text.slice(0, 300)}`;
  const spec: { status: number } = catalogue[code as keyof typeof catalogue];
  if (spec.status !== status) return `${code} answered ${status}, catalogued ${spec.status}`;
  if (typeof message !== 'string') return `${code} without a message`;
  return null;
}

/** Sends one raw request, checks the answer and the store; returns the outcome. */
async function exchange(
  method: string,
  pieces: Piece[],
  what: string,
  options: { timeoutMs?: number; end?: boolean; endIf?: (port: number) => Promise<boolean>; mayClose?: boolean } = {},
): Promise<RawOutcome> {
  // `end`: a FIN after the bytes, for a request whose framing promises more than is sent (the
  // server then sees it end). Not by default: Node drops the answers still pending on a socket
  // its client half-closed (no httpAllowHalfOpen), which would count as "closed without an answer".
  const outcome = await rawExchange(m.url, pieces, {
    timeoutMs: options.timeoutMs ?? ANSWER_MS,
    end: options.end ?? false,
    ...(options.endIf ? { endIf: options.endIf } : {}),
    head: method === 'HEAD',
  });
  const problem = answerProblem(outcome, method) ?? (outcome.reply === null && !options.mayClose ? 'closed without an answer' : null);
  assert.equal(problem, null, `${problem}\n  request: ${what}`);
  await watch.after(outcome.reply?.status ?? 400, method, what);
  return outcome;
}

const show = (bytes: Buffer | string) => JSON.stringify(Buffer.from(bytes).toString('latin1').slice(0, 600));

// ---------------------------------------------------------------------------------------------
// Arbitraries: names, query strings, credentials, headers, bodies.

const latin1 = (maxLength: number, min = 0x20) =>
  fc.string({ unit: fc.integer({ min, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength });

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'toJSON', 'hasOwnProperty', 'then'];
const FRESH = ['fz-new-1', 'fz-new-2', 'fz-new-3'];

/** A path segment as sent on the wire: a fixture's name (EXISTING), a fresh name, or garbage. */
const EXISTING = '\u0000existing';
const segment = fc.oneof(
  { arbitrary: fc.constant(EXISTING), weight: 5 },
  { arbitrary: fc.constantFrom(...FRESH), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeURIComponent), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      ...['%', '%z', '%zz', '%%', '%E0%A4%A', '%C0%AF', '%FF', '%ED%A0%80', '%F4%90%80%80', '%00', '%0A', '%0D%0A', '%2F', '%5C', '%25'],
      ...['.', '..', '...', '%2e', '%2e%2e', '.%2E', '', '~', '@', ':', 'a;b', 'a,b', '*', '$where', '$gt', 'a.b', 'a%20b'],
      ...PROTO_KEYS,
    ),
    weight: 3,
  },
  { arbitrary: fc.constantFrom(63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 8000).map((n) => 'n'.repeat(n)), weight: 1 },
  { arbitrary: latin1(16, 0x21).map((s) => s.replace(/[/?]/g, '')), weight: 1 },
);

function resolveSegment(choice: string, param: keyof Names): string {
  return choice === EXISTING ? encodeURIComponent(fx[param]) : choice;
}

const queryKey = fc.oneof(
  fc.constantFrom('wait', 'page_size', 'last_id', 'hostname', 'device_group', 'report_creation_time', 'report_creation_time_filter', 'updated', 'behind'),
  fc.constantFrom(...PROTO_KEYS, '__proto__[admin]', 'constructor[prototype][admin]', 'a[b][c]', 'a[]', '', '%zz', '%00', '$where'),
  fc.string({ maxLength: 8 }).map(encodeURIComponent),
);
const queryValue = fc.oneof(
  fc.constantFrom('0', '1', '-1', '0.5', '1e3', '1.0001', '999999', '99999999999999999999', 'NaN', 'Infinity', 'True', 'false', 'maybe', ''),
  fc.constantFrom('gt', 'lt', 'eq', 'ne', '$where', '%zz', '%', '%00', '0123456789abcdef01234567', 'z'.repeat(24), 'x'.repeat(5000)),
  fc.string({ maxLength: 10 }).map(encodeURIComponent),
);
const query = fc.oneof(
  { arbitrary: fc.constant(''), weight: 3 },
  { arbitrary: fc.constantFrom('?', '??', '?&&', '?=', '?==', '?&=&', '?%', '?#x', '?wait', '?wait=1&wait=2'), weight: 1 },
  {
    arbitrary: fc
      .array(fc.tuple(queryKey, fc.option(queryValue, { nil: undefined })), { minLength: 1, maxLength: 5 })
      .map((pairs) => `?${pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&')}`),
    weight: 3,
  },
);

type AuthChoice = 'admin' | 'admin-bearer' | 'reader' | 'none' | { raw: string };
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const garbageAuth: fc.Arbitrary<AuthChoice> = fc
  .oneof(
    latin1(60),
    fc.constantFrom('Basic', 'Basic ', 'Bearer', 'Bearer ', 'Basic =', 'Basic ====', 'Basic !!!', `Basic ${b64('nebula')}`, `Basic ${b64(':')}`, 'Negotiate x'),
    fc.constantFrom(`Basic ${b64('nebula:nebula-secret')} extra`, `basic ${b64('nebula:wrong')}`, `Bearer ${ADMIN_TOKEN}x`, `Bearer  ${ADMIN_TOKEN} `),
    fc
      .tuple(fc.constantFrom('Basic', 'basic', 'BASIC', 'Bearer', 'bearer', 'Digest', 'Token', ''), fc.constantFrom(' ', '  ', '\t'), latin1(40, 0x21))
      .map(([scheme, space, value]) => `${scheme}${space}${value}`),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => `Basic ${Buffer.from(bytes).toString('base64')}`),
    fc.tuple(fc.constantFrom('', 'nobody', 'nebula', ':', 'a:b'), latin1(20)).map(([user, password]) => `Basic ${b64(`${user}:${password}`)}`),
    fc.integer({ min: 4_000, max: 14_000 }).map((n) => `Bearer ${'t'.repeat(n)}`),
  )
  .map((raw) => ({ raw }));
const auth: fc.Arbitrary<AuthChoice> = fc.oneof(
  { arbitrary: fc.constant<AuthChoice>('admin'), weight: 8 },
  { arbitrary: fc.constantFrom<AuthChoice>('admin-bearer', 'reader', 'none'), weight: 3 },
  { arbitrary: garbageAuth, weight: 2 },
);

function authHeader(choice: AuthChoice): string | null {
  if (choice === 'admin') return ADMIN_AUTH;
  if (choice === 'admin-bearer') return bearer(ADMIN_TOKEN);
  if (choice === 'reader') return basic(reader.user, reader.password);
  if (choice === 'none') return null;
  return choice.raw;
}

const contentType = fc.oneof(
  fc.constantFrom(
    ...['application/json', 'APPLICATION/JSON', 'application/json; charset=utf-8', 'application/json;charset=latin1', 'application/json; charset=utf-16'],
    ...['application/json ; x=y', 'application/json, text/plain', 'application/jsonx', 'application/vnd.api+json', 'application/*', '*/*', 'text/plain'],
    ...['text/json', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '', ';', 'application/json; charset="', ' application/json'],
    `application/json; boundary=${'x'.repeat(2000)}`,
  ),
  latin1(30),
);
const HEADER_NAMES = ['X-Fuzz', 'Accept', 'Accept-Encoding', 'Accept-Charset', 'If-None-Match', 'If-Match', 'Range', 'Origin', 'Cookie', 'X-Forwarded-For', 'Content-Encoding', 'Content-Language', 'Expect', 'Upgrade', 'Connection', 'TE', 'Trailer', 'Proxy-Authorization', 'Host'];
const headerLine: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(fc.constantFrom(...HEADER_NAMES), fc.oneof(latin1(40), fc.constantFrom('*', 'W/"x"', '"a", "b"', 'gzip, br, *', '100-continue', 'banana', 'close', 'keep-alive', 'Upgrade', 'websocket', 'bytes=0-1', '', 'chunked'))),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/), latin1(40)),
  fc.integer({ min: 8_000, max: 20_000 }).map((n): [string, string] => ['X-Big', 'b'.repeat(n)]),
);

/** JSON text with hostile values in the fields the API knows, and in keys it does not. */
const FIELDS = [
  ...['docker_image', 'starting_ports', 'containers_per', 'env_vars', 'running', 'networks', 'volumes', 'devices', 'privileged', 'rolling_restart'],
  ...['schedule', 'apps', 'cron_jobs', 'password', 'token', 'group_members', 'pruning_allowed', 'admin', 'device_groups'],
  ...['app_id', 'app_name', 'device_group_id', 'device_group', 'prune_id', 'cron_job_id', 'cron_job_name', 'user_name', 'user_group'],
  ...['report_id', 'hostname', 'report_creation_time', 'updated', 'apps_state', 'applied'],
];
/** Raw JSON tokens JSON.stringify never writes. */
const RAW_NUMBERS = ['1e400', '-1e400', '-0', '1e-400', '123456789012345678901234567890', '0.1e1', '1E+2', '-9007199254740993'];
const key = fc.oneof(fc.constantFrom(...FIELDS), fc.constantFrom(...PROTO_KEYS, '$set', '$where', 'a.b', '.', '$', '', 'x'.repeat(2000)), fc.string({ maxLength: 8 }));
const leaf = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(...RAW_NUMBERS).map((n) => ({ $raw: n })),
  fc.constantFrom('', ' ', '\u0000', 'a=b', '\ud800', 'x'.repeat(5000), '* * * * *', '@daily', '61 25 32 13 8', 'nginx:1', 'host', 'none', 'ro', 'rw'),
  fc.constantFrom(0, -1, 1, 65535, 65536, 0.5, 1e6, 1e7, Number.MAX_SAFE_INTEGER, true, false, null),
  fc.dictionary(fc.constantFrom(...PROTO_KEYS, 'server', 'cpu', 'memory', '80', '$x', 'a.b'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);
const hostile: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('list'), tie('object')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 5 }),
})).value;
const deep = fc.tuple(fc.constantFrom(100, 1_000, 10_000, 50_000), fc.constantFrom('[', '{"a":', '{"__proto__":', '[{"x":')).map(([depth, open]) => {
  const close = open === '[' ? ']' : open === '[{"x":' ? '}]' : '}';
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
});
const hugeArray = fc.tuple(fc.constantFrom(1_000, 50_000, 200_000), fc.constantFrom('1', '"a"', '{}', 'null', '[]')).map(([n, item]) => `[${`${item},`.repeat(n - 1)}${item}]`);

function toJson(value: unknown): string {
  // Placeholders for raw tokens, swapped in after JSON.stringify.
  const raws: string[] = [];
  const text = JSON.stringify(value, (_k, v) => {
    if (v !== null && typeof v === 'object' && typeof (v as { $raw?: unknown }).$raw === 'string' && Object.keys(v).length === 1) {
      raws.push((v as { $raw: string }).$raw);
      return `\u0001raw${raws.length - 1}\u0001`;
    }
    return v;
  });
  return (text ?? 'null').replace(/"\\u0001raw(\d+)\\u0001"/g, (_all, i: string) => raws[Number(i)]!);
}

const jsonBody: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.dictionary(key, hostile, { maxKeys: 6 }).map(toJson), weight: 6 },
  { arbitrary: hostile.map(toJson), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom(...FIELDS), fc.oneof(deep, hugeArray)).map(([k, v]) => `{"${k}": ${v}}`), weight: 1 },
  { arbitrary: fc.oneof(deep, hugeArray), weight: 1 },
  { arbitrary: fc.constantFrom('', ' ', 'null', '{', '}', '{"a":1,}', '{a:1}', "{'a':1}", '{"a":1}{"b":2}', '{"a":1} x', '\u0000', '{"a":"\\ud800"}', '{"a":"\\u00"}', 'NaN', '[1,2', '"'), weight: 1 },
  { arbitrary: fc.string({ maxLength: 30 }), weight: 1 },
);

/** Values that are not what a field takes, with keys that break String() and template strings. */
const conversions = fc.constantFrom<unknown>(
  { toString: 1 },
  { valueOf: {} },
  { toString: null, valueOf: null },
  { toJSON: 1 },
  { toString: 'x', valueOf: 'y' },
  [{ toString: 1 }],
  { '80': { toString: 1 } },
  { server: { valueOf: 1 } },
  { ro: { toString: 1 } },
);
const wrongValue = fc.oneof(leaf, conversions, fc.array(fc.oneof(leaf, conversions), { minLength: 1, maxLength: 3 }), hostile);
const FIELDS_OF: Record<string, string[]> = {
  apps: FIELDS.slice(0, 10).concat('app_id', 'app_name'),
  cron_jobs: ['schedule', ...FIELDS.slice(0, 10).filter((f) => !['starting_ports', 'containers_per', 'rolling_restart'].includes(f)), 'cron_job_id', 'cron_job_name'],
  device_groups: ['apps', 'cron_jobs', 'device_group_id', 'device_group', 'prune_id'],
  users: ['password', 'token', 'user_name'],
  user_groups: ['group_members', 'pruning_allowed', 'apps', 'device_groups', 'admin', 'cron_jobs', 'user_group'],
  reports: ['report_id', 'hostname', 'device_group', 'report_creation_time', 'updated', 'apps_state', 'applied', 'desired', 'last_error', 'worker_version', 'spool_dropped'],
  prune: ['x'],
};
/** A body: one field of the route's object given a wrong value (the rest valid), or any text. */
type BodyShape = { field: number; value: unknown } | { text: string };
const bodyShape: fc.Arbitrary<BodyShape> = fc.oneof(
  { arbitrary: fc.record({ field: fc.nat(), value: wrongValue }), weight: 1 },
  { arbitrary: fc.record({ text: jsonBody }), weight: 1 },
);

/** The JSON text of `shape` for `route`. */
function bodyText(route: Route, shape: BodyShape): string {
  if ('text' in shape) return shape.text;
  const kind = route.path.split('/')[3] ?? '';
  const fields = FIELDS_OF[kind] ?? FIELDS;
  const field = fields[shape.field % fields.length]!;
  const sample = typeof route.body === 'function' ? route.body(fx) : route.body;
  if (Array.isArray(sample)) return toJson(sample.map((report) => ({ ...(report as object), [field]: shape.value })));
  return toJson({ ...((sample as object | undefined) ?? {}), [field]: shape.value });
}

/** Routes that read a body (fetch sends none with GET or HEAD). */
const BODY_ROUTES = ROUTES.filter((r) => r.method !== 'GET');
const paramsOf = (route: Route) => [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1] as keyof Names);

function targetOf(route: Route, choices: string[]): string {
  let i = 0;
  return route.path.replace(/:(\w+)/g, (_all, param: string) => resolveSegment(choices[i++] ?? EXISTING, param as keyof Names));
}

function headersOf(authChoice: AuthChoice, extra: [string, string][] = []): [string, string][] {
  const value = authHeader(authChoice);
  return [['Host', '127.0.0.1'], ...(value === null ? [] : [['Authorization', value] as [string, string]]), ...extra];
}

// ---------------------------------------------------------------------------------------------
// The properties.

test('every route: hostile path segments, query strings and credentials', async () => {
  const routeCase = fc.record({
    route: fc.integer({ min: 0, max: ROUTES.length - 1 }),
    method: fc.oneof({ arbitrary: fc.constant(''), weight: 6 }, { arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'), weight: 1 }),
    segments: fc.array(segment, { minLength: 1, maxLength: 1 }),
    query,
    auth,
    withBody: fc.boolean(),
  });
  await check(routeCase, 900, async (c) => {
    const route = ROUTES[c.route]!;
    const method = c.method || route.method;
    const target = `${targetOf(route, c.segments)}${c.query}`;
    const sample = route.body === undefined ? undefined : typeof route.body === 'function' ? route.body(fx) : route.body;
    const body = c.withBody && sample !== undefined ? JSON.stringify(sample) : undefined;
    const headers = headersOf(c.auth, body === undefined ? [] : [['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(body))]]);
    const bytes = rawRequest(method, target, headers, body);
    await exchange(method, [bytes], show(bytes));
  });
});

test('random paths and methods', async () => {
  const pathCase = fc.record({
    method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
    prefix: fc.constantFrom('', '/api', '/api/v2', '/api/v1', '/API/V2', '//api/v2', '/api/v2/', '/api/./v2', '/api/v2/../v2', '/healthz', '/readyz'),
    segments: fc.array(
      fc.oneof(fc.constantFrom('apps', 'device_groups', 'cron_jobs', 'users', 'user_groups', 'reports', 'devices', 'info', 'update', 'prune', 'stop', 'refresh', 'status'), segment),
      { maxLength: 5 },
    ),
    trailing: fc.constantFrom('', '/', '//', '/.', '/..', '%2F'),
    query,
    auth,
  });
  await check(pathCase, 600, async (c) => {
    const path = `${c.prefix}${c.segments.map((s) => `/${s === EXISTING ? encodeURIComponent(fx.app_name) : s}`).join('')}${c.trailing}` || '/';
    const bytes = rawRequest(c.method, `${path.startsWith('/') ? '' : '/'}${path}${c.query}`, headersOf(c.auth));
    await exchange(c.method, [bytes], show(bytes));
  });
});

test('hostile JSON bodies on every route', async () => {
  const bodyCase = fc.record({
    route: fc.integer({ min: 0, max: BODY_ROUTES.length - 1 }),
    segments: fc.array(fc.oneof({ arbitrary: fc.constant(EXISTING), weight: 3 }, fc.constantFrom(...FRESH)), { minLength: 1, maxLength: 1 }),
    body: bodyShape,
    reports: fc.boolean(),
    auth: fc.oneof({ arbitrary: fc.constant<AuthChoice>('admin'), weight: 6 }, fc.constantFrom<AuthChoice>('reader', 'admin-bearer')),
  });
  const createGroup = BODY_ROUTES.findIndex((r) => r.method === 'POST' && r.path === `${V2}/device_groups/:device_group`);
  // Found by this property: a member {"toString": 1} was a 500 (see the top of the file).
  const found: (typeof bodyCase extends fc.Arbitrary<infer T> ? T : never)[] = [
    { route: createGroup, segments: [FRESH[0]!], body: { text: '{"apps": [{"toString": 1}]}' }, reports: false, auth: 'admin' },
    { route: createGroup, segments: [FRESH[0]!], body: { text: '{"cron_jobs": [[{"valueOf": {}}]]}' }, reports: false, auth: 'admin' },
  ];
  await check(bodyCase, 900, async (c) => {
    const route = BODY_ROUTES[c.route]!;
    const path = targetOf(route, c.segments);
    const text = bodyText(route, c.body);
    // Reports: the hostile value inside a batch too, next to a valid report.
    const rawBody = route.path === `${V2}/reports` && c.reports ? `[${JSON.stringify(deviceReport(fx))}, ${text || 'null'}]` : text;
    const reply = await call(m.url, route.method, path, { rawBody, auth: authHeader(c.auth) });
    const what = `${route.method} ${path} ${JSON.stringify(rawBody.slice(0, 400))}`;
    assert.equal(answerProblem(reply, route.method), null, `${answerProblem(reply, route.method)}\n  request: ${what}`);
    await watch.after(reply.status, route.method, what);
  }, found);
  assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype polluted');
});

test('raw bytes in bodies: invalid UTF-8, BOMs, NULs, other charsets', async () => {
  const BAD_BYTES = [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xc3], [0x00], [0xef, 0xbb, 0xbf]];
  const bytesCase = fc.record({
    route: fc.integer({ min: 0, max: BODY_ROUTES.length - 1 }),
    template: fc.constantFrom('{"docker_image":"@","schedule":"* * * * *"}', '{"@":1}', '{"apps":["@"]}', '{"password":"@","token":"@"}', '{"env_vars":{"@":"@"}}', '@{}', '{"a":1}@', '[@]'),
    bad: fc.array(fc.constantFrom(...BAD_BYTES), { minLength: 1, maxLength: 4 }),
    random: fc.uint8Array({ maxLength: 16 }),
    encoding: fc.constantFrom('utf8', 'utf16le', 'latin1'),
    type: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=iso-8859-1'),
  });
  await check(bytesCase, 400, async (c) => {
    const route = BODY_ROUTES[c.route]!;
    const insert = Buffer.concat([...c.bad.map((b) => Buffer.from(b)), Buffer.from(c.random)]);
    const parts = c.template.split('@').map((part) => Buffer.from(part, c.encoding as BufferEncoding));
    const body = Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [part] : [insert, part])));
    const target = targetOf(route, [FRESH[0]!]);
    const bytes = rawRequest(route.method, target, headersOf('admin', [['Content-Type', c.type], ['Content-Length', String(body.length)]]), body);
    await exchange(route.method, [bytes], show(bytes));
  });
});

test('hostile headers: Content-Type, Authorization, framing, huge and many headers', async () => {
  const FRAMINGS = ['length', 'none', 'short', 'long', 'twice', 'negative', 'garbage', 'chunked', 'bad-chunks', 'both'] as const;
  const headerCase = fc.record({
    route: fc.integer({ min: 0, max: ROUTES.length - 1 }),
    auth: fc.oneof(auth, garbageAuth),
    type: fc.option(contentType, { nil: undefined }),
    extra: fc.array(headerLine, { maxLength: 4 }),
    many: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, fc.integer({ min: 50, max: 3_000 })),
    framing: fc.constantFrom(...FRAMINGS),
  });
  await check(headerCase, 600, async (c) => {
    const route = ROUTES[c.route]!;
    const body = route.method === 'GET' && c.framing === 'none' ? '' : JSON.stringify(typeof route.body === 'function' ? route.body(fx) : (route.body ?? {}));
    const length = Buffer.byteLength(body);
    const framing: Record<(typeof FRAMINGS)[number], [string, string][]> = {
      length: [['Content-Length', String(length)]],
      none: [],
      short: [['Content-Length', String(Math.max(0, length - 1))]],
      long: [['Content-Length', String(length + 5)]],
      twice: [['Content-Length', String(length)], ['Content-Length', String(length + 1)]],
      negative: [['Content-Length', '-1']],
      garbage: [['Content-Length', `${length}x`]],
      chunked: [['Transfer-Encoding', 'chunked']],
      'bad-chunks': [['Transfer-Encoding', 'chunked']],
      both: [['Content-Length', String(length)], ['Transfer-Encoding', 'chunked']],
    };
    const wire = c.framing === 'chunked' || c.framing === 'both' ? `${length.toString(16)}\r\n${body}\r\n0\r\n\r\n` : c.framing === 'bad-chunks' ? `zz\r\n${body}\r\n` : body;
    const many: [string, string][] = Array.from({ length: c.many }, (_, i) => [`X-Many-${i}`, 'v']);
    const headers = headersOf(c.auth, [...(c.type === undefined ? [] : [['Content-Type', c.type] as [string, string]]), ...framing[c.framing], ...c.extra, ...many]);
    const bytes = rawRequest(route.method, targetOf(route, [EXISTING]), headers, wire);
    await exchange(route.method, [bytes], show(bytes), { end: c.framing === 'long' });
  });
});

test('oversize bodies are 413 BODY_TOO_LARGE', async () => {
  const oversize = fc.record({
    route: fc.integer({ min: 0, max: BODY_ROUTES.length - 1 }),
    extra: fc.integer({ min: 1, max: BODY_LIMIT / 2 }),
    chunked: fc.boolean(),
  });
  const send = async (method: string, target: string, size: number, chunked: boolean) => {
    const body = Buffer.alloc(size, 0x20);
    body.write('{"docker_image":"x","pad":"', 0);
    body.write('"}', size - 2);
    const framing: [string, string] = chunked ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(size)];
    const head = rawRequest(method, target, headersOf('admin', [['Content-Type', 'application/json'], framing]));
    const pieces: Piece[] = chunked ? [head, `${size.toString(16)}\r\n`, body, '\r\n0\r\n\r\n'] : [head, body];
    const outcome = await exchange(method, pieces, `${method} ${target} ${chunked ? 'chunked' : 'Content-Length'} ${size} bytes`, { timeoutMs: 30_000 });
    assert.ok(outcome.reply !== null, `${method} ${target}: closed without an answer`);
    assert.equal(outcome.reply.status, 413, outcome.reply.text);
    assert.equal((outcome.reply.json as { code?: string }).code, 'BODY_TOO_LARGE');
  };
  await check(oversize, 24, async (c) => {
    const route = BODY_ROUTES[c.route]!;
    const limit = route.path === `${V2}/reports` ? REPORTS_BODY_LIMIT : BODY_LIMIT;
    // Reports take 16 MiB: only just over their limit, to keep the run short.
    await send(route.method, targetOf(route, [EXISTING]), limit + (limit === BODY_LIMIT ? c.extra : 1), c.chunked);
  });
});

test('broken HTTP: garbage, mutated requests, odd request lines and header lines', async () => {
  const valid = () => rawRequest('POST', `${V2}/apps/${FRESH[1]}/update`, headersOf('admin', [['Content-Type', 'application/json'], ['Content-Length', '24']]), '{"docker_image":"x:1"}  ');
  const mutation = fc.record({
    at: fc.nat(),
    kind: fc.constantFrom('insert', 'replace', 'delete', 'duplicate'),
    bytes: fc.oneof(fc.constantFrom('\r', '\n', '\r\n', '\0', ' ', ':', '\t', '%', '\x7f', '\xff', '\r\n\r\n', '\r\n ', 'HTTP/1.1'), latin1(4, 0)),
  });
  const brokenCase = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ bytes: Buffer.concat([Buffer.from(bytes), Buffer.from('\r\n\r\n')]), mutations: [] as never[] })),
    fc.array(mutation, { minLength: 1, maxLength: 4 }).map((mutations) => ({ bytes: valid(), mutations })),
    fc
      .tuple(
        fc.constantFrom('GET', 'get', 'FOO', 'G ET', 'CONNECT', 'PRI', 'M-SEARCH', 'PROPFIND', '', ' GET'),
        fc.constantFrom(`${V2}/status`, `http://evil${V2}/status`, '*', 'evil:80', `${V2}/status#frag`, `${V2}/st atus`, '', `${V2}/\u00e9`),
        fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1x', 'http/1.1', '', 'HTTP/1.1 extra'),
        fc.constantFrom('Host: x', 'Bad Header', ' folded: x', 'X-A : b', 'X-\u0000: b', 'X-A: \u0000', ': empty-name', 'X-A:\u00ff'),
        fc.constantFrom('\r\n', '\n'),
      )
      .map(([method, target, version, header, eol]) => ({
        bytes: Buffer.from(`${method} ${target} ${version}${eol}${header}${eol}Authorization: ${ADMIN_AUTH}${eol}${eol}`, 'latin1'),
        mutations: [] as never[],
      })),
    fc.constantFrom(`GET ${V2}/status HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n`, `GET ${V2}/status HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN_AUTH}\r\n\r\nGET ${V2}/apps HTTP/1.1\r\n\r\n`).map((s) => ({ bytes: Buffer.from(s, 'latin1'), mutations: [] as never[] })),
  );
  // The server's side of each connection, and the last request it began on it, by client port:
  // to send a FIN only when the server holds an incomplete request (a complete one is answered,
  // and a FIN would make Node drop that answer while the request still runs).
  const server = m.manager.app.server;
  const sockets = new Map<number, Socket>();
  const requests = new Map<number, IncomingMessage>();
  const onConnection = (socket: Socket) => sockets.set(socket.remotePort ?? 0, socket);
  const onRequest = (request: IncomingMessage) => requests.set(request.socket.remotePort ?? 0, request);
  const incomplete = async (port: number, length: number): Promise<boolean> => {
    const deadline = Date.now() + ANSWER_MS;
    // The server parses what it reads at once: once it has read every byte, it knows what it got.
    while (!(sockets.get(port)?.destroyed || (sockets.get(port)?.bytesRead ?? 0) >= length) && Date.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    return requests.get(port)?.complete !== true;
  };
  server.on('connection', onConnection).on('request', onRequest);
  try {
    await check(brokenCase, 500, async (c) => {
      let bytes = c.bytes;
      for (const mu of c.mutations as { at: number; kind: string; bytes: string }[]) {
        const at = mu.at % (bytes.length + 1);
        const insert = Buffer.from(mu.bytes, 'latin1');
        if (mu.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(at)]);
        else if (mu.kind === 'replace') bytes = Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(at + insert.length)]);
        else if (mu.kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + (mu.at % 7))]);
        else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + 1 + (mu.at % 9)), bytes.subarray(at)]);
      }
      // Garbage may be answered with a catalogued 4xx or just closed; it may not hang or be a 5xx.
      await exchange('*', [bytes], show(bytes), { endIf: (port) => incomplete(port, bytes.length), mayClose: true });
    });
  } finally {
    server.off('connection', onConnection).off('request', onRequest);
  }
});

test('slow clients: byte by byte, stalled and cut midway; others are served meanwhile', async () => {
  // The server's end of each slow client's connection, by the client's port.
  const serverSide = new Map<number, Socket>();
  const onConnection = (socket: Socket) => serverSide.set(socket.remotePort ?? 0, socket);
  m.manager.app.server.on('connection', onConnection);
  const clientPorts: number[] = [];
  const slowCase = fc.record({
    kind: fc.constantFrom('trickle', 'stall-then-end', 'stall-then-drop'),
    get: fc.boolean(),
    cut: fc.double({ min: 0, max: 1, noNaN: true }),
    piece: fc.integer({ min: 1, max: 8 }),
    pause: fc.integer({ min: 0, max: 3 }),
  });
  await check(slowCase, 20, async (c) => {
    const body = c.get ? undefined : '{"running":true}';
    const bytes = rawRequest(
      c.get ? 'GET' : 'PUT',
      c.get ? `${V2}/device_groups/${fx.device_group}/info` : `${V2}/apps/${fx.app_name}/update`,
      headersOf('admin', body === undefined ? [] : [['Content-Type', 'application/json'], ['Content-Length', String(body.length)]]),
      body,
    );
    const cutAt = Math.min(bytes.length - 1, Math.floor(c.cut * bytes.length));
    const pieces: Piece[] = [];
    const upTo = c.kind === 'trickle' ? bytes.length : cutAt;
    for (let i = 0; i < upTo; i += c.piece) pieces.push(bytes.subarray(i, Math.min(upTo, i + c.piece)), c.pause);
    // Timers fire a millisecond or more late: the trickle takes about this long.
    const writeMs = (pieces.length / 2) * (c.pause + 2);
    const slow = rawExchange(m.url, c.kind === 'stall-then-drop' ? [...pieces, 400] : pieces, {
      timeoutMs: c.kind === 'stall-then-drop' ? writeMs + 500 : writeMs + ANSWER_MS,
      // A FIN only where the request stops short (a whole request's answer would be dropped).
      end: c.kind === 'stall-then-end',
    });
    // Stalled (the rest never comes) or trickling: meanwhile other requests are answered at once.
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      assertStatus(await call(m.url, 'GET', `${V2}/apps/${fx.app_name}`), 200);
      assert.ok(Date.now() - started < ANSWER_MS, 'another request waited for the slow client');
    }
    const outcome = await slow;
    clientPorts.push(outcome.localPort);
    const what = `${c.kind} ${show(bytes.subarray(0, upTo))}`;
    if (c.kind === 'stall-then-drop') {
      // We gave up: nothing may have been answered to a request the server has not fully received.
      assert.equal(outcome.reply, null, `answered a request it never received whole: ${outcome.reply?.text} (${what})`);
    } else {
      assert.equal(answerProblem(outcome, 'GET'), null, `${answerProblem(outcome, 'GET')} (${what})`);
      assert.ok(outcome.reply !== null || outcome.closed, `neither answered nor closed: ${what}`);
      if (c.kind === 'trickle') assert.ok(outcome.reply !== null && outcome.reply.status < 400, `a whole request, sent slowly, refused: ${outcome.reply?.text} (${what})`);
    }
    await watch.after(outcome.reply?.status ?? 400, c.get ? 'GET' : 'PUT', what);
  });
  // No connection of a client that went away is kept open.
  m.manager.app.server.off('connection', onConnection);
  const open = () => clientPorts.filter((port) => serverSide.get(port)?.destroyed === false);
  const deadline = Date.now() + ANSWER_MS;
  while (open().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(open(), [], 'the server kept the connections of clients that went away');
  assert.equal(clientPorts.filter((port) => !serverSide.has(port)).length, 0, 'a slow client was not seen by the server');
});

test('after all of it: alive, nothing fatal, no prototype polluted, the reader still only reads', async () => {
  assert.deepEqual(m.fatal, []);
  assertStatus(await call(m.url, 'GET', '/healthz', { auth: null }), 200);
  assertStatus(await call(m.url, 'GET', '/readyz', { auth: null }), 200);
  assertStatus(await call(m.url, 'GET', `${V2}/status`), 200);
  const now = [Object.prototype, Array.prototype, Function.prototype].map((proto) => Object.getOwnPropertyNames(proto).sort());
  assert.deepEqual(now, PROTOTYPES);
  for (const name of ['admin', 'access_allowed', 'x', 'a', 'b', 'c', 'polluted']) {
    assert.equal(({} as Record<string, unknown>)[name], undefined, `Object.prototype.${name}`);
    assert.equal(([] as unknown as Record<string, unknown>)[name], undefined, `Array.prototype.${name}`);
  }
  const group = await m.manager.store.get('user_groups', reader.group);
  assert.equal(group?.admin, false);
  const asReader = await call(m.url, 'GET', `${V2}/users`, { auth: basic(reader.user, reader.password) });
  assertStatus(asReader, 200);
  assert.equal((await call(m.url, 'DELETE', `${V2}/apps/${fx.app_name}`, { auth: basic(reader.user, reader.password) })).status, 403);
  // About 4,000 cases in a whole run (the numRuns above); printed for the record.
  process.stdout.write(`# fuzz: ${cases} cases, seed ${SEED}, ${watch.refusals} refusals checked against the store, ${watch.resets} snapshots after writes\n`);
});
