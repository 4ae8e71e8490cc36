// Hostile input to the worker, property-based (fast-check): what a manager answers to /info
// (parseInfo, and the client reading a whole HTTP answer), what the planner makes of any answer
// parseInfo lets through (plan, and the report built from it), and the worker's settings
// (flags, environment, config file). Malformed input is refused with the module's own error
// (ManagerUnavailableError, ConfigError) — never a TypeError, never a crash — and valid input
// round-trips.
//
// Replay: a failure prints fast-check's `seed` and `path`; NEBULA_FUZZ_SEED=<seed> runs the same
// cases again, NEBULA_FUZZ_RUNS=<factor> runs more of them.
//
// What it found, fixed in the source:
// - plan() threw a TypeError on an answer whose app has no `networks` list (parseInfo does not
//   require it), outside the executor's per-app isolation: the worker ended, and came back to the
//   same saved answer (src/diff/containers.ts, networkPlan).
// - An app or cron job named "constructor", "toString", … (valid names) that left the group kept
//   its containers, or stayed scheduled: the planner's lookups found Object.prototype's
//   (src/diff/plan.ts).
// - A config file value that is an object such as {"toString": 1} threw a TypeError instead of
//   a ConfigError (src/config/options.ts).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ManagerClient, ManagerUnavailableError, parseInfo } from '../../src/client/manager.ts';
import { loadWorkerConfig, WORKER_OPTIONS } from '../../src/config/worker.ts';
import { ConfigError } from '../../src/errors.ts';
import { plan } from '../../src/diff/plan.ts';
import { EMPTY_APPLIED, type AppliedState, type Step } from '../../src/diff/types.ts';
import { newApp, type AppDoc } from '../../src/model/app.ts';
import { newCronJob, type CronJobDoc } from '../../src/model/cronJob.ts';
import { appFieldsFromBody, cronJobFieldsFromBody } from '../../src/model/bodies.ts';
import type { Info } from '../../src/model/info.ts';
import { buildAppStates, idsOfInfo } from '../../roles/worker/report.ts';
import { container, host, info } from '../helpers/diff-builders.ts';

const SEED = Number(process.env.NEBULA_FUZZ_SEED ?? 20_240_611);
const SCALE = Number(process.env.NEBULA_FUZZ_RUNS ?? 1);
const settings = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)) });

/** Runs `fn`; the error it throws, or null. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return null;
  } catch (err) {
    return err;
  }
}

// ---------------------------------------------------------------------------------------------
// Valid documents, as the manager makes them.

const objectName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/);
/** Names the manager accepts that are also keys every object inherits. */
const INHERITED = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'toLocaleString'];
const name = fc.oneof({ arbitrary: objectName, weight: 4 }, fc.constantFrom(...INHERITED));
const id = fc.integer({ min: 1, max: 1_000_000 });
const image = fc.stringMatching(/^[a-z0-9]{1,10}(\/[a-z0-9]{1,10})?:[a-z0-9.]{1,6}$/);
const networks = fc.oneof(
  fc.constant<string[]>(['nebula', 'bridge']),
  fc.constantFrom<string[]>(['host'], ['none'], [], ['nebula'], ['bridge'], ['mynet', 'nebula']),
  fc.array(objectName, { minLength: 1, maxLength: 3 }),
);
const containersPer = fc.oneof(
  fc.integer({ min: 1, max: 4 }).map((n) => ({ server: n })),
  fc.integer({ min: 1, max: 4 }).map((n) => ({ instance: n })),
  fc.double({ min: 0.1, max: 2, noNaN: true }).map((n) => ({ cpu: n })),
  fc.integer({ min: 256, max: 4096 }).map((n) => ({ memory: n })),
);
const envVars = fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/), fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean()), {
  maxKeys: 3,
  noNullPrototype: true,
});
const port = fc.integer({ min: 1, max: 65535 });

const appFields = fc.record(
  {
    docker_image: image,
    starting_ports: fc.array(fc.oneof(port, fc.tuple(port, port).map(([h, c]) => ({ [String(h)]: String(c) }))), { maxLength: 3 }),
    containers_per: containersPer,
    env_vars: envVars,
    running: fc.boolean(),
    networks,
    volumes: fc.array(fc.constantFrom('/tmp:/tmp', '/data:/data:ro'), { maxLength: 2 }),
    devices: fc.array(fc.constantFrom('/dev/null', '/dev/zero:/dev/z:r'), { maxLength: 2 }),
    privileged: fc.boolean(),
    rolling_restart: fc.boolean(),
  },
  { requiredKeys: ['docker_image'], noNullPrototype: true },
);
const validApp: fc.Arbitrary<AppDoc> = fc
  .tuple(name, id, appFields)
  .map(([appName, appId, fields]) => ({ ...newApp(appName, appFieldsFromBody(fields, 'create')), app_id: appId }));

const SCHEDULES = ['* * * * *', '*/5 * * * *', '0 3 * * 1', '@daily', '@hourly', '30 * * * * *'];
const cronFields = fc.record(
  { docker_image: image, schedule: fc.constantFrom(...SCHEDULES), env_vars: envVars, running: fc.boolean(), networks, privileged: fc.boolean() },
  { requiredKeys: ['docker_image', 'schedule'], noNullPrototype: true },
);
const validCron: fc.Arbitrary<CronJobDoc> = fc
  .tuple(name, id, cronFields)
  .map(([jobName, jobId, fields]) => ({ ...newCronJob(jobName, cronJobFieldsFromBody(fields, 'create')), cron_job_id: jobId }));

const validInfo: fc.Arbitrary<Info> = fc
  .record({
    device_group_id: id,
    prune_id: id,
    apps: fc.uniqueArray(validApp, { maxLength: 4, selector: (a) => a.app_name }),
    cron_jobs: fc.uniqueArray(validCron, { maxLength: 3, selector: (c) => c.cron_job_name }),
  })
  .map((parts) => info(parts));

// ---------------------------------------------------------------------------------------------
// Answers parseInfo lets through although they are not what the manager sends: every field it
// does not check may be missing or of any type, names may be anything, ids any integer.

const anyJson = fc.jsonValue({ maxDepth: 3 });
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty'];
const oddName = fc.oneof(name, fc.constantFrom('', ' ', '__proto__', 'prototype', 'a.b', '$x', 'web-1', '../x', 'x'.repeat(300)), fc.string({ maxLength: 8 }));
const anyInteger = fc.oneof(fc.integer(), fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e300, -1e300));

/** A document with its required fields given, and each other field dropped, kept or replaced. */
function loosen<T extends Record<string, unknown>>(doc: fc.Arbitrary<T>, required: string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(doc, fc.array(fc.tuple(fc.nat(), fc.constantFrom('drop', 'replace', 'keep'), anyJson), { maxLength: 4 }), fc.dictionary(fc.constantFrom(...PROTO_KEYS, 'extra'), anyJson, { maxKeys: 2 }))
    .map(([d, edits, extra]) => {
      const out: Record<string, unknown> = { ...d };
      const optional = Object.keys(d).filter((k) => !required.includes(k));
      for (const [at, what, value] of edits) {
        const key = optional[at % Math.max(1, optional.length)];
        if (key === undefined || what === 'keep') continue;
        if (what === 'drop') delete out[key];
        else out[key] = value;
      }
      for (const [k, v] of Object.entries(extra)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      return out;
    });
}

const looseApp = fc
  .tuple(loosen(validApp as unknown as fc.Arbitrary<Record<string, unknown>>, ['app_name', 'app_id', 'docker_image']), oddName, anyInteger, fc.oneof(image, fc.string({ maxLength: 5 })))
  .map(([doc, appName, appId, dockerImage]) => ({ ...doc, app_name: appName, app_id: appId, docker_image: dockerImage }));
const looseCron = fc
  .tuple(loosen(validCron as unknown as fc.Arbitrary<Record<string, unknown>>, ['cron_job_name', 'cron_job_id', 'schedule']), oddName, anyInteger, fc.oneof(fc.constantFrom(...SCHEDULES), fc.string({ maxLength: 12 })))
  .map(([doc, jobName, jobId, schedule]) => ({ ...doc, cron_job_name: jobName, cron_job_id: jobId, schedule }));
/** The JSON of an answer parseInfo accepts (apps_list and the like may be anything, too). */
const looseAnswer = fc
  .record({
    device_group_id: anyInteger,
    prune_id: anyInteger,
    apps: fc.array(fc.oneof(looseApp, validApp as unknown as fc.Arbitrary<Record<string, unknown>>), { maxLength: 5 }),
    cron_jobs: fc.array(looseCron, { maxLength: 3 }),
    apps_list: anyJson,
    cron_jobs_list: anyJson,
  })
  .map((answer) => JSON.parse(JSON.stringify(answer)) as unknown);

/** Anything JSON.parse may give, and near misses of a valid answer. */
const anyAnswer = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.anything({ maxDepth: 3 }),
  fc.tuple(looseAnswer, fc.constantFrom('apps', 'cron_jobs', 'device_group_id', 'prune_id'), anyJson).map(([answer, key, value]) => ({ ...(answer as object), [key]: value })),
  fc
    .tuple(looseAnswer, fc.constantFrom('app_name', 'app_id', 'docker_image'), anyJson)
    .map(([answer, key, value]) => {
      const apps = (answer as { apps: Record<string, unknown>[] }).apps;
      return { ...(answer as object), apps: [...apps, { app_name: 'x', app_id: 1, docker_image: 'x', [key]: value }] };
    }),
);

// ---------------------------------------------------------------------------------------------
// The host as the worker observes it: containers of the answer's apps and of others.

function hostFor(names: string[], picks: [number, number, number, boolean, number][], cores: number, memory: number, orphans = ['orphan', 'constructor', 'toString']) {
  const pool = [...names, ...orphans];
  const containers = picks.map(([which, index, appId, running, config]) =>
    container(pool[which % pool.length]!, index, { appId, running, config: ['', 'stale-config-hash'][config % 2]! }),
  );
  return host({ containers, cpuCores: cores, memoryMb: memory });
}
const hostPicks = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.nat()), { maxLength: 6 });

/** What the worker persists: applied states go through JSON in its SQLite file. */
const persisted = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

// ---------------------------------------------------------------------------------------------

describe('parseInfo', () => {
  test('anything that is not a usable answer is a ManagerUnavailableError, never another error', () => {
    fc.assert(
      fc.property(anyAnswer, (answer) => {
        const err = thrown(() => parseInfo(answer));
        assert.ok(err === null || err instanceof ManagerUnavailableError, `${(err as Error)?.name}: ${(err as Error)?.message}`);
      }),
      settings(3_000),
    );
  });

  test('what the manager sends comes back as it was sent (through JSON)', () => {
    fc.assert(
      fc.property(validInfo, (desired) => {
        assert.deepEqual(parseInfo(JSON.parse(JSON.stringify(desired))), desired);
      }),
      settings(1_000),
    );
  });
});

describe('what the worker makes of any answer parseInfo accepts', () => {
  const accepted = fc.oneof(validInfo as fc.Arbitrary<unknown>, looseAnswer, anyAnswer).filter((answer) => thrown(() => parseInfo(answer)) === null);
  const situation = fc.record({
    previous: fc.option(fc.oneof(validInfo as fc.Arbitrary<unknown>, looseAnswer), { nil: null }),
    desired: accepted,
    picks: hostPicks,
    cores: fc.integer({ min: 1, max: 64 }),
    memory: fc.integer({ min: 64, max: 65_536 }),
    scheduled: fc.dictionary(oddName, anyInteger, { maxKeys: 3 }),
  });

  test('plan never throws, and its next state survives being persisted and planned again', () => {
    fc.assert(
      fc.property(situation, (s) => {
        const desired = parseInfo(s.desired);
        // What a previous answer left applied (through the state file), or nothing yet.
        const previous = s.previous === null ? null : thrown(() => parseInfo(s.previous)) === null ? parseInfo(s.previous) : null;
        const facts = hostFor(desired.apps.map((a) => a.app_name), s.picks, s.cores, s.memory);
        const applied: AppliedState = previous === null ? persisted(EMPTY_APPLIED) : persisted(plan(EMPTY_APPLIED, previous, facts).next);
        const first = plan(applied, desired, facts, s.scheduled);
        const again = plan(persisted(first.next), desired, facts, s.scheduled);
        plan(persisted(again.next), null, facts);
        // The report of what the device runs, from the same state.
        idsOfInfo(desired);
        buildAppStates(first.next, { containers: facts.containers, restarting: new Set(), restarts: {} }, new Map(), facts);
      }),
      {
        ...settings(2_000),
        // Found: a running app without `networks` (see the top of the file).
        examples: [[{ previous: null, desired: { device_group_id: 1, prune_id: 0, apps: [{ app_id: 1, app_name: 'web', docker_image: 'web:1', running: true, containers_per: { server: 1 } }], cron_jobs: [] }, picks: [], cores: 1, memory: 64, scheduled: {} }]],
      },
    );
  });

  test("an app's name changes nothing but the names in the plan (even a name every object inherits)", () => {
    fc.assert(
      fc.property(validInfo, hostPicks, fc.constantFrom(...INHERITED), (desired, picks, inherited) => {
        const [first] = desired.apps;
        // (The name nowhere else, so that only this app's name differs.)
        if (first === undefined || JSON.stringify(desired).includes(inherited)) return;
        const renamed = info({ ...desired, apps: [{ ...first, app_name: inherited }, ...desired.apps.slice(1)] });
        const other = info({ ...desired, apps: [{ ...first, app_name: 'renamed-app' }, ...desired.apps.slice(1)] });
        const factsOf = (n: string) => hostFor([n, ...desired.apps.slice(1).map((a) => a.app_name)], picks, 4, 4096, ['orphan']);
        // Apps are planned in name order: compare the steps, not their order.
        const summary = (steps: Step[], n: string) => steps.map((step) => JSON.stringify(step).replaceAll(n, 'NAME')).sort();
        const a = plan(persisted(EMPTY_APPLIED), renamed, factsOf(inherited));
        const b = plan(persisted(EMPTY_APPLIED), other, factsOf('renamed-app'));
        assert.deepEqual(summary(a.steps, inherited), summary(b.steps, 'renamed-app'), `first config: an app named ${inherited}`);
        const again = plan(persisted(a.next), renamed, factsOf(inherited));
        const otherAgain = plan(persisted(b.next), other, factsOf('renamed-app'));
        assert.deepEqual(summary(again.steps, inherited), summary(otherAgain.steps, 'renamed-app'), `same config again: an app named ${inherited}`);
      }),
      settings(500),
    );
  });
});

describe('what the group no longer lists goes, whatever its name', () => {
  // Found by this property: containers of an app named "constructor" (or "toString", …: names
  // the manager accepts) were never removed, and a cron job of that name never unscheduled, once
  // the group stopped listing it — the planner's lookups found Object.prototype's (src/diff/plan.ts).
  test('its containers are removed and its cron job unscheduled', () => {
    fc.assert(
      fc.property(validInfo, name, fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }), (desired, gone, indexes) => {
        if (desired.apps.some((a) => a.app_name === gone) || desired.cron_jobs.some((c) => c.cron_job_name === gone)) return;
        const facts = host({ containers: indexes.map((index, i) => container(gone, index, { id: `c${i}` })) });
        const { steps } = plan(persisted(EMPTY_APPLIED), desired, facts, { [gone]: 1 });
        const removed = steps.filter((step) => step.type === 'remove' && step.app === gone).map((step) => (step as { containerId: string }).containerId);
        assert.deepEqual(removed.sort(), indexes.map((_, i) => `c${i}`).sort(), `the containers of ${gone}`);
        assert.ok(steps.some((step) => step.type === 'unschedule-cron' && step.cronJob === gone), `the cron job ${gone}`);
      }),
      { ...settings(500), examples: [[info({ device_group_id: 1 }), 'constructor', [1]]] },
    );
  });
});

describe('the client reading whole answers from a hostile manager', () => {
  let server: Server;
  let answer: { status: number; headers: Record<string, string>; body: Buffer; destroy?: boolean };
  let client: ManagerClient;

  before(async () => {
    server = createServer((_req, res) => {
      if (answer.destroy) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(answer.status, { 'content-length': String(answer.body.length), ...answer.headers });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    client = new ManagerClient({ baseUrl: `http://127.0.0.1:${port}`, auth: { token: 't' }, requestTimeoutMs: 2_000 });
  });
  after(async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const httpAnswer = fc.record({
    status: fc.constantFrom(200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503),
    headers: fc.dictionary(fc.constantFrom('etag', 'retry-after', 'content-type', 'x-any'), fc.oneof(fc.constantFrom('"abc"', 'W/"x"', '5', '-1', 'Wed, 21 Oct 2015 07:28:00 GMT', '99999999999', '', 'application/json'), fc.stringMatching(/^[ -~]{0,20}$/)), { maxKeys: 3 }),
    body: fc.oneof(
      anyAnswer.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      looseAnswer.map((v) => Buffer.from(JSON.stringify(v))),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      fc.constantFrom('', '{', 'null', '[]', '{"device_group_exists": false}', '{"code": 5}', '\ufeff{}').map((s) => Buffer.from(s)),
    ),
    destroy: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, fc.constant(true)),
  });

  test('info() and postReports() resolve or fail with ManagerUnavailableError', async () => {
    await fc.assert(
      fc.asyncProperty(httpAnswer, async (a) => {
        answer = a;
        for (const call of [() => client.info('pos-eu', { etag: '"e"', waitSeconds: 0 }), () => client.postReports([{ a: 1 }])]) {
          const err = await call().then(
            () => null,
            (e: unknown) => e,
          );
          assert.ok(err === null || err instanceof ManagerUnavailableError, `${(err as Error)?.name}: ${(err as Error)?.message}`);
        }
      }),
      settings(300),
    );
  });
});

describe('the worker settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-worker-fuzz-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const text = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', ' ', '0', '-1', '1e3', '65536', '99999999999999999999', 'true', 'no', 'http', 'https', 'debug', 'kafka', 'SASL_SSL', 'skip', 'http://h:1', 'ftp://x', 'h:1,h2:2'));
  const defs = WORKER_OPTIONS;
  /** Values as yargs hands flags over (strings, arrays for repeated flags) and as JSON files hold them. */
  const flagValue = fc.oneof(text, fc.array(text, { minLength: 2, maxLength: 2 }), fc.boolean(), fc.integer());
  const fileValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), text, fc.constantFrom<unknown>({ toString: 1 }, { valueOf: null, toString: null }, ['info'], [true]));
  const pick = <T>(values: fc.Arbitrary<T>) => fc.dictionary(fc.constantFrom(...defs.map((d) => d.flag)), values, { maxKeys: 6 });
  const sources = fc.record({
    flags: pick(flagValue),
    env: fc.dictionary(fc.constantFrom(...defs.flatMap((d) => d.env), 'NEBULA_CONFIG', 'UNRELATED'), text, { maxKeys: 6 }),
    file: fc.option(
      fc.oneof(
        fc.dictionary(fc.constantFrom(...defs.map((d) => d.key), ...PROTO_KEYS, 'typo'), fileValue, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
        fc.constantFrom('', '{', 'null', '[]', '"x"', '{"__proto__": {"device_group": "x"}}', '{"device_group": {"toString": 1}}', '{"log_level": {"toString": 1}}'),
      ),
      { nil: undefined },
    ),
    base: fc.boolean(),
  });

  test('any flags, environment and config file: a WorkerConfig or a ConfigError, never another error', () => {
    let files = 0;
    fc.assert(
      fc.property(sources, (s) => {
        const flags: Record<string, unknown> = { ...s.flags };
        // Half the cases start from a working setup, so the fuzzed values reach the later checks.
        const env: NodeJS.ProcessEnv = s.base ? { DEVICE_GROUP: 'pos-eu', NEBULA_MANAGER_URI: 'http://manager:8080', ...s.env } : { ...s.env };
        if (s.file !== undefined) {
          const path = join(dir, `config-${files++}.json`);
          writeFileSync(path, s.file);
          flags.config = path;
        }
        const err = thrown(() => loadWorkerConfig(flags, env));
        assert.ok(err === null || err instanceof ConfigError, `${(err as Error)?.name}: ${(err as Error)?.message}`);
      }),
      // Found: an object value in the config file (see the top of the file).
      { ...settings(2_000), examples: [[{ flags: {}, env: {}, file: '{"nebula_manager_port": {"toString": 1}}', base: false }]] },
    );
  });

  test('valid settings round-trip: the file, the environment or a flag, each gives the same config', () => {
    const valid = fc.record({
      device_group: objectName,
      nebula_manager_uri: fc.constantFrom('http://manager:8080', 'https://nebula.example.com', 'http://127.0.0.1:9'),
      nebula_manager_check_in_time: fc.integer({ min: 1, max: 86_400 }),
      long_poll_wait: fc.integer({ min: 0, max: 3600 }),
      log_level: fc.constantFrom('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
      report_on_update_only: fc.boolean(),
      device_name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/),
    });
    let files = 0;
    fc.assert(
      fc.property(valid, (v) => {
        const byKey = (key: string) => defs.find((d) => d.key === key)!;
        const path = join(dir, `valid-${files++}.json`);
        writeFileSync(path, JSON.stringify(v));
        const fromFile = loadWorkerConfig({ config: path }, {});
        const fromEnv = loadWorkerConfig({}, Object.fromEntries(Object.entries(v).map(([k, value]) => [byKey(k).env[0]!, String(value)])));
        const fromFlags = loadWorkerConfig(Object.fromEntries(Object.entries(v).map(([k, value]) => [byKey(k).flag, String(value)])), {});
        assert.deepEqual(fromEnv, fromFile);
        assert.deepEqual(fromFlags, fromFile);
        assert.equal(fromFile.deviceGroup, v.device_group);
        assert.equal(fromFile.checkInSeconds, v.nebula_manager_check_in_time);
        assert.equal(fromFile.longPollWaitSeconds, v.long_poll_wait);
        assert.equal(fromFile.logLevel, v.log_level);
        assert.equal(fromFile.reporting.onUpdateOnly, v.report_on_update_only);
        assert.equal(fromFile.deviceName, v.device_name);
      }),
      settings(300),
    );
  });
});
