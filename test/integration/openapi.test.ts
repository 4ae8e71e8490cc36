// The API reference: GET /api/v2/openapi.json is a valid OpenAPI 3.1 document of every route,
// real answers match the response schemas it documents, what its request schemas refuse the
// API refuses with a catalogued code (and, for random bodies, accepts exactly what they
// accept), and GET /api/v2/docs renders it with swagger-ui's files, served by the manager.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { Validator } from '@seriousme/openapi-schema-validator';
import fc from 'fast-check';
import { catalogue } from '../../src/errors.ts';
import { REPORT } from '../../src/model/report.ts';
import { validateReport } from '../../src/model/report.ts';
import { SchemaChecker } from '../../src/model/schema-checker.ts';
import { NebulaError } from '../../src/errors.ts';
import { basic, call, managerSuite, type Reply, type TestManager } from '../helpers/manager.ts';
import { assertStatus, uniq } from '../helpers/fixtures.ts';

const V2 = '/api/v2';
let m: TestManager;
managerSuite((manager) => (m = manager));

type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };
type Operation = { security?: unknown[]; requestBody?: { required?: boolean; content: Record<string, { schema: object }> }; responses: Record<string, { content?: Record<string, { schema: object }> }> };

let doc: Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const compiled = new Map<object, ValidateFunction>();
const compile = (schema: object) => {
  let v = compiled.get(schema);
  if (v === undefined) compiled.set(schema, (v = ajv.compile(schema)));
  return v;
};

/** The document, fetched once per suite (public: no credentials). */
async function loadDoc(): Promise<void> {
  const reply = await call(m.url, 'GET', `${V2}/openapi.json`, { auth: null });
  assertStatus(reply, 200);
  doc = reply.body as Doc;
}

/** Fastify's route (`/apps/:app_name`) as the document names it (`/apps/{app_name}`). */
const openapiPath = (route: string) => route.replace(/:([A-Za-z_]+)/g, '{$1}');

/** Every route the server has, with its methods (HEAD, fastify's own duplicate of GET, left out). */
function serverRoutes(): Map<string, Set<string>> {
  const routes = new Map<string, Set<string>>();
  const stack: string[] = [];
  for (const line of m.manager.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (match === null) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    const methods = match[3]!.split(', ').filter((method) => method !== 'HEAD');
    routes.set(stack.join(''), new Set(methods));
  }
  return routes;
}

/** Asserts that an answer matches what the document says the route answers with its status. */
function assertDocumented(method: string, route: string, reply: Reply): void {
  const operation = doc.paths[openapiPath(route)]?.[method.toLowerCase()];
  assert.ok(operation, `${method} ${route} is documented`);
  const response = operation.responses[String(reply.status)] ?? operation.responses[`${String(reply.status)[0]}XX`];
  assert.ok(response, `${method} ${route}: status ${reply.status} is documented`);
  const schema = response.content?.['application/json']?.schema;
  assert.ok(schema, `${method} ${route} ${reply.status}: a JSON schema`);
  const validate = compile(schema);
  assert.ok(validate(reply.body), `${method} ${route} ${reply.status}: ${reply.text.slice(0, 300)}: ${JSON.stringify(validate.errors)}`);
}

async function documentedCall(method: string, route: string, params: Record<string, string>, body?: unknown, query = ''): Promise<Reply> {
  const path = route.replace(/:([A-Za-z_]+)/g, (_, name: string) => params[name]!);
  const reply = await call(m.url, method, `${path}${query}`, body === undefined ? {} : { body });
  assertDocumented(method, route, reply);
  return reply;
}

describe('the document', () => {
  before(loadDoc);

  test('is valid OpenAPI 3.1', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    assert.ok(result.valid, result.valid ? '' : JSON.stringify(result.errors).slice(0, 2000));
  });

  test('has every route the server has, with its methods', () => {
    const routes = serverRoutes();
    assert.ok(routes.size > 30, `found ${routes.size} routes`);
    for (const [route, methods] of routes) {
      // The dashboard's pages (roles/manager/dashboard.ts) hide themselves (schema.hide): not API.
      if (route === '/' || route === '/ui' || route.startsWith('/ui/')) continue;
      const item = doc.paths[openapiPath(route)];
      assert.ok(item, `${route} is in the document`);
      for (const method of methods) assert.ok(item[method.toLowerCase()], `${method} ${route} is in the document`);
    }
  });

  test('public routes need no credentials, the others basic or bearer', () => {
    for (const path of ['/healthz', '/readyz', `${V2}/openapi.json`, `${V2}/docs`]) assert.deepEqual(doc.paths[path]!.get!.security, [], path);
    const app = doc.paths[`${V2}/apps/{app_name}`]!.get!;
    assert.equal(app.security, undefined); // the document's default: basic or bearer
    assert.deepEqual((doc as unknown as { security: unknown }).security, [{ basic: [] }, { bearer: [] }]);
  });

  test('is public and answers the same bytes every time', async () => {
    const a = await call(m.url, 'GET', `${V2}/openapi.json`, { auth: null });
    const b = await call(m.url, 'GET', `${V2}/openapi.json`);
    assert.equal(a.text, b.text);
  });
});

describe('real answers match the documented response schemas', () => {
  before(loadDoc);

  test('create, get, list, update and delete of each kind', async () => {
    const app = uniq('oa-app');
    const cron = uniq('oa-cron');
    const group = uniq('oa-dg');
    const user = uniq('oa-user');
    const userGroup = uniq('oa-ug');
    const p = { app_name: app, cron_job: cron, device_group: group, user_name: user, user_group: userGroup, hostname: 'oa-host' };

    const A = `${V2}/apps/:app_name`;
    assertStatus(await documentedCall('POST', A, p, { docker_image: 'nginx:1', starting_ports: [81, { '8443': '443' }], env_vars: { A: 1 } }), 200);
    await documentedCall('GET', A, p);
    await documentedCall('GET', `${V2}/apps`, p);
    for (const action of ['stop', 'start', 'restart']) assertStatus(await documentedCall('POST', `${A}/${action}`, p), 202);
    assertStatus(await documentedCall('POST', `${A}/update`, p, { docker_image: 'nginx:2' }), 202);
    assertStatus(await documentedCall('PATCH', `${A}/update`, p, { running: false }), 202);
    assertStatus(await documentedCall('PUT', `${A}/update`, p, { containers_per: { cpu: 2 } }), 202);

    const C = `${V2}/cron_jobs/:cron_job`;
    assertStatus(await documentedCall('POST', C, p, { docker_image: 'busybox:1', schedule: '@hourly' }), 200);
    await documentedCall('GET', C, p);
    await documentedCall('GET', `${V2}/cron_jobs`, p);
    assertStatus(await documentedCall('POST', `${C}/update`, p, { docker_image: 'busybox:2', schedule: '* * * * *' }), 202);
    assertStatus(await documentedCall('PATCH', `${C}/update`, p, { privileged: true }), 202);

    const D = `${V2}/device_groups/:device_group`;
    assertStatus(await documentedCall('POST', D, p, { apps: [app] }), 200);
    await documentedCall('GET', D, p);
    await documentedCall('GET', `${V2}/device_groups`, p);
    assertStatus(await documentedCall('POST', `${D}/update`, p, { apps: [app], cron_jobs: [cron] }), 202);
    assertStatus(await documentedCall('PUT', `${D}/update`, p, { cron_jobs: [cron] }), 202);
    assertStatus(await documentedCall('POST', `${D}/prune`, p), 202);
    assertStatus(await documentedCall('POST', `${V2}/prune`, p), 202);
    const info = await documentedCall('GET', `${D}/info`, p);
    assertStatus(info, 200);
    const unchanged = await call(m.url, 'GET', `${V2}/device_groups/${group}/info`, { headers: { 'if-none-match': info.headers.get('etag')! } });
    assertStatus(unchanged, 304);
    assert.ok(doc.paths[openapiPath(`${D}/info`)]!.get!.responses['304']);

    const report = { report_id: uniq('r'), hostname: 'oa-host', device_group: group, report_creation_time: 1_700_000_000, updated: false };
    assertStatus(await documentedCall('POST', `${V2}/reports`, p, [report]), 200);
    await documentedCall('GET', `${V2}/reports`, p, undefined, `?device_group=${group}`);
    await documentedCall('GET', `${V2}/reports`, p, undefined, '?device_group=none-such-group');
    await documentedCall('GET', `${V2}/devices`, p, undefined, `?device_group=${group}`);
    await documentedCall('GET', `${V2}/devices/:hostname`, p);

    const U = `${V2}/users/:user_name`;
    assertStatus(await documentedCall('POST', U, p, { password: 'pw-1' }), 200);
    await documentedCall('GET', U, p);
    await documentedCall('GET', `${V2}/users`, p);
    assertStatus(await documentedCall('PATCH', `${U}/update`, p, { token: 'tok-1' }), 200);
    assertStatus(await documentedCall('POST', `${U}/refresh`, p), 200);

    const G = `${V2}/user_groups/:user_group`;
    assertStatus(await documentedCall('POST', G, p, { group_members: [user], apps: { [app]: 'ro' } }), 200);
    // GET /whoami as that user (its grants listed), then as the admin (documentedCall's default).
    const mine = await call(m.url, 'GET', `${V2}/whoami`, { auth: basic(user, 'pw-1') });
    assert.deepEqual(mine.body.apps, { [app]: 'ro' });
    assertDocumented('GET', `${V2}/whoami`, mine);
    await documentedCall('GET', `${V2}/whoami`, p);
    await documentedCall('GET', G, p);
    await documentedCall('GET', `${V2}/user_groups`, p);
    assertStatus(await documentedCall('PATCH', `${G}/update`, p, { admin: true }), 200);

    await documentedCall('GET', `${V2}/status`, p);
    await documentedCall('GET', '/healthz', p);
    await documentedCall('GET', '/readyz', p);

    for (const route of [G, U, D, C, A]) assertStatus(await documentedCall('DELETE', route, p), 200);
    // Errors are documented too.
    assert.equal((await documentedCall('GET', A, p)).status, 403);
  });
});

describe('what the documented request schemas refuse, the API refuses', () => {
  before(loadDoc);

  const bodySchema = (method: string, route: string) => doc.paths[openapiPath(route)]![method.toLowerCase()]!.requestBody!.content['application/json']!.schema;

  test('bodies the schema refuses get a 4xx with a catalogued code', async () => {
    const app = uniq('oa-refuse');
    assertStatus(await call(m.url, 'POST', `${V2}/apps/${app}`, { body: { docker_image: 'nginx:1' } }), 200);
    const x = uniq('oa-x');
    const cases: [string, string, string, unknown][] = [
      ['POST', `${V2}/apps/:app_name`, `${V2}/apps/${x}`, { running: true }],
      ['POST', `${V2}/apps/:app_name`, `${V2}/apps/${x}`, { docker_image: 'nginx', starting_ports: [70000] }],
      ['PATCH', `${V2}/apps/:app_name/update`, `${V2}/apps/${app}/update`, { starting_ports: [true] }],
      ['PATCH', `${V2}/apps/:app_name/update`, `${V2}/apps/${app}/update`, { app_id: 3 }],
      ['PATCH', `${V2}/apps/:app_name/update`, `${V2}/apps/${app}/update`, { nope: 3 }],
      ['PATCH', `${V2}/apps/:app_name/update`, `${V2}/apps/${app}/update`, {}],
      ['PATCH', `${V2}/apps/:app_name/update`, `${V2}/apps/${app}/update`, { networks: ['host', 'bridge'] }],
      ['PATCH', `${V2}/apps/:app_name/update`, `${V2}/apps/${app}/update`, { containers_per: { server: 1, cpu: 1 } }],
      ['POST', `${V2}/cron_jobs/:cron_job`, `${V2}/cron_jobs/${x}`, { docker_image: 'x', schedule: 'every minute' }],
      ['POST', `${V2}/device_groups/:device_group`, `${V2}/device_groups/${x}`, { apps: 'x' }],
      ['POST', `${V2}/user_groups/:user_group`, `${V2}/user_groups/${x}`, { apps: { x: 'rx' } }],
      ['POST', `${V2}/reports`, `${V2}/reports`, { hostname: 'h' }],
    ];
    for (const [method, route, path, body] of cases) {
      const schema = bodySchema(method, route);
      // The cron format is checked in code (cron-parser): the document names it.
      if (!route.includes('cron_jobs')) assert.equal(compile(schema)(body), false, `${method} ${route} ${JSON.stringify(body)}`);
      const reply = await call(m.url, method, path, { body });
      assert.ok(reply.status >= 400 && reply.status < 500, `${method} ${route} ${JSON.stringify(body)}: ${reply.status}`);
      assert.ok(Object.hasOwn(catalogue, reply.body?.code), `${method} ${route}: ${reply.text}`);
    }
  });

  test('a request body is documented as required exactly where leaving it out is refused', async () => {
    let optional = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (path === `${V2}/reports`) continue; // a device's: an empty body is no report either way (checked below)
      for (const [method, operation] of Object.entries(operations)) {
        const body = operation.requestBody as { required?: boolean } | undefined;
        if (body === undefined) continue;
        // Each on a fresh name: creates make it, updates find it missing only after the body check.
        const name = uniq('oa-empty');
        const url = path.replace(/\{[^}]+\}/, name);
        const reply = await call(m.url, method.toUpperCase(), url);
        const refusedForBody = reply.status === 400;
        assert.equal(body.required !== false, refusedForBody, `${method} ${path}: documented required=${body.required}, without a body ${reply.status} ${reply.text}`);
        if (body.required === false) optional += 1;
      }
    }
    assert.ok(optional >= 3, `some bodies are optional (device group, user, user group creates): ${optional}`);
    assertStatus(await call(m.url, 'POST', `${V2}/reports`), 400);
  });

  test('random partial app updates: the API accepts exactly what the documented schema accepts', async () => {
    const app = uniq('oa-prop');
    assertStatus(await call(m.url, 'POST', `${V2}/apps/${app}`, { body: { docker_image: 'nginx:1' } }), 200);
    const validate = compile(bodySchema('PATCH', `${V2}/apps/:app_name/update`));
    const port = fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.constant(1.5), fc.boolean(), fc.dictionary(fc.oneof(fc.constant('80'), fc.constant('x'), fc.constant('0')), fc.oneof(fc.constant('443'), fc.constant(99999), fc.constant(' 22 '))));
    const value = fc.oneof(fc.boolean(), fc.constant(null), fc.string({ maxLength: 3 }), fc.integer(), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.integer({ min: -1, max: 3 }), fc.string({ maxLength: 2 }))));
    const body = fc.record(
      {
        starting_ports: fc.array(port, { maxLength: 3 }),
        containers_per: fc.oneof(value, fc.record({ server: fc.integer({ min: 0, max: 3 }) }), fc.record({ cpu: fc.double({ min: -1, max: 2, noNaN: true }) })),
        env_vars: value,
        docker_image: fc.oneof(fc.constant('nginx:2'), fc.constant(''), fc.constant('a b'), value),
        running: value,
        networks: fc.oneof(fc.constant(['host']), fc.constant(['none', 'x']), value),
        volumes: value,
        rolling_restart: value,
        app_id: value,
        other: value,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, async (sent) => {
        const reply = await call(m.url, 'PATCH', `${V2}/apps/${app}/update`, { body: sent });
        assert.ok(reply.status === 202 || reply.status === 400, `${reply.status} ${reply.text}`);
        assert.equal(reply.status === 202, validate(sent), `${JSON.stringify(sent)} -> ${reply.text}`);
      }),
      { numRuns: 150 },
    );
  });

  test('reports: the schema and validateReport (Kafka) accept the same reports and name the same field', () => {
    const checker = new SchemaChecker();
    const field = fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.integer({ min: -2, max: 3 }), fc.string({ maxLength: 3 }), fc.constant({}), fc.constant({ device_group_id: 1, prune_id: 1, apps: { a: 1 }, cron_jobs: {} }));
    const report = fc.record({
      report_id: fc.oneof(fc.constant('r-1'), fc.constant('bad id'), field),
      hostname: fc.oneof(fc.constant('host'), field),
      device_group: fc.oneof(fc.constant('dg'), field),
      report_creation_time: fc.oneof(fc.constant(1_700_000_000), field),
      updated: field,
      applied: field,
      desired: field,
      apps_state: fc.oneof(field, fc.constant({ web: { state: 'running', app_id: 1, running: 1, desired: 1 } }), fc.constant({ web: { state: 'nope' } })),
      last_error: fc.oneof(field, fc.constant({ at: 1, message: 'x' })),
      spool_dropped: field,
      worker_version: field,
    });
    fc.assert(
      fc.property(report, (sent) => {
        const body = JSON.parse(JSON.stringify(sent)) as Record<string, unknown>;
        let expected: NebulaError | null = null;
        try {
          validateReport(body, { requireId: true });
        } catch (err) {
          expected = err as NebulaError;
        }
        const got = checker.refusal(REPORT, body);
        assert.equal(got === null, expected === null, `${JSON.stringify(body)}: ${expected?.message} / ${got?.message}`);
        if (got !== null && expected !== null) assert.deepEqual(got.toBody(), expected.toBody());
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the reference page', () => {
  before(loadDoc);

  test('answers HTML, and its scripts and styles load from this manager', async () => {
    const page = await fetch(`${m.url}${V2}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    assert.ok(assets.length >= 5, html);
    for (const asset of assets) {
      assert.doesNotMatch(asset, /^(https?:)?\/\//, 'no CDN');
      const reply = await fetch(new URL(asset, `${m.url}${V2}/docs`));
      assert.equal(reply.status, 200, asset);
      const body = Buffer.from(await reply.arrayBuffer());
      assert.ok(body.length > 0, asset);
      if (asset.endsWith('.js')) assert.match(reply.headers.get('content-type') ?? '', /javascript/);
    }
    const bundle = await fetch(`${m.url}${V2}/docs/static/swagger-ui-bundle.js`);
    assert.ok((await bundle.text()).includes('SwaggerUIBundle'));
    const missing = await call(m.url, 'GET', `${V2}/docs/static/nope.js`, { auth: null });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'ROUTE_NOT_FOUND');
  });
});
