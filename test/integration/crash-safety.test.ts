// Crash safety of the manager and its store: several admin clients write (apps, cron jobs,
// device groups, users) while the manager process is SIGKILLed at random moments and started
// again on the same data dir (or, under NEBULA_TEST_STORE=mongo, the same database). Every
// write that got a 2xx answer survives with its content, no id ever goes backwards, a write
// that got no answer is either wholly there or not at all, and the store opens clean.
//
// Each client owns its objects and writes them one request at a time, so the state of an
// object is always known: the last acknowledged (or observed) one, or — after a request that
// got no answer — that one or the one the request would have made. One app is written by
// every client at once, to catch lost updates of its app_id.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { APP_FIELDS } from '../../src/model/app.ts';
import { CRON_JOB_FIELDS } from '../../src/model/cronJob.ts';
import { basic } from '../helpers/manager.ts';
import { startManagerProcess, stopProcess, type ManagerProcess } from '../helpers/process.ts';
import { TEST_STORE, dropTestStore } from '../helpers/store.ts';

const ENV = { BASIC_AUTH_USER: 'admin', BASIC_AUTH_PASSWORD: 'pw', NEBULA_LOG_LEVEL: 'warn' };
const ADMIN = basic('admin', 'pw');
const API = '/api/v2';
const CLIENTS = 4;
const KILLS = 6;
const HOT = 'hot';

/** A small seeded PRNG (mulberry32): a failing run can be replayed with NEBULA_CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SEED = Number(process.env.NEBULA_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const random = prng(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;

type Kind = 'apps' | 'cron_jobs' | 'device_groups' | 'users';
/** What a test compares of an object: a projection of its document (users: the password that logs in). */
type View = Record<string, unknown>;

interface Tracked {
  kind: Kind;
  name: string;
  /** The last acknowledged or observed state; null: not there. */
  known: View | null;
  /** After a request that got no answer: the state it would have made (the object may be in either). */
  pending?: View;
}

const ID_OF: Record<Exclude<Kind, 'users'>, string[]> = {
  apps: ['app_id'],
  cron_jobs: ['cron_job_id'],
  device_groups: ['device_group_id', 'prune_id'],
};

function project(kind: Exclude<Kind, 'users'>, doc: Record<string, unknown>): View {
  // A whole document: every field of its kind is there (no half-written object).
  const fields: readonly string[] = kind === 'apps' ? APP_FIELDS : kind === 'cron_jobs' ? CRON_JOB_FIELDS : ['apps', 'cron_jobs'];
  for (const field of [...fields, ...ID_OF[kind]]) assert.ok(field in doc, `${kind} document without ${field}: ${JSON.stringify(doc)}`);
  const keys =
    kind === 'apps'
      ? ['app_id', 'app_name', 'docker_image', 'env_vars', 'running', 'containers_per']
      : kind === 'cron_jobs'
        ? ['cron_job_id', 'cron_job_name', 'schedule', 'docker_image', 'env_vars']
        : ['device_group_id', 'device_group', 'apps', 'cron_jobs', 'prune_id'];
  return Object.fromEntries(keys.map((k) => [k, doc[k]]));
}

interface Answer {
  status: number;
  body: any;
}

/** One request; null when it got no answer (connection refused or cut, timeout, 429/5xx). */
async function send(url: string, method: string, path: string, body?: unknown, auth = ADMIN): Promise<Answer | null> {
  try {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (response.status === 429 || response.status >= 500) return null;
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  } catch {
    return null;
  }
}

/** A write: its request and what it does to the object's view. */
interface Write {
  method: string;
  path: string;
  body?: unknown;
  status: number;
  next: (before: View | null) => View;
}

const bump = (view: View, field: string): View => ({ ...view, [field]: (view[field] as number) + 1 });

class Harness {
  manager!: ManagerProcess;
  readonly objects: Tracked[] = [];
  /** app_ids the shared app's updates were acknowledged with, and how many got no answer. */
  readonly hotAcked: number[] = [];
  hotUnanswered = 0;
  acked = 0;
  unanswered = 0;
  /** Unanswered writes found applied (the process died after the commit, before the answer). */
  appliedUnanswered = 0;
  paused = false;
  parked = 0;
  private release: () => void = () => undefined;
  private resumed: Promise<void> = Promise.resolve();
  stopping = false;
  readonly failures: string[] = [];
  /** The first assertion a client failed (its checks run inside it). */
  clientError: unknown = undefined;

  get url(): string {
    return this.manager.url;
  }

  pause(): void {
    this.paused = true;
    this.resumed = new Promise((resolve) => (this.release = resolve));
  }

  resume(): void {
    this.paused = false;
    this.release();
  }

  /** Clients wait here while the manager is down and being checked. */
  async checkpoint(): Promise<void> {
    while (this.paused) {
      this.parked += 1;
      await this.resumed;
      this.parked -= 1;
    }
  }

  /**
   * Reads the object and checks it against what is known of it: the acknowledged state, or
   * after an unanswered write that state or the one the write would have made (ids included:
   * never below an acknowledged one). Then what was read becomes what is known. False when the
   * read itself got no answer.
   */
  async resync(obj: Tracked): Promise<boolean> {
    const observed = await this.observe(obj);
    if (observed === undefined) return false;
    const candidates = [obj.known, ...(obj.pending !== undefined ? [obj.pending] : [])];
    const where = `${obj.kind}/${obj.name} (seed ${SEED})`;
    assert.ok(
      // Same fields and values; key order aside (a state the test models from a request body
      // lists them in the body's order, the manager in its own).
      candidates.some((c) => isDeepStrictEqual(c, observed)),
      `${where}: read ${JSON.stringify(observed)}, expected one of ${JSON.stringify(candidates)}`,
    );
    if (obj.kind !== 'users' && obj.known !== null && observed !== null) {
      for (const id of ID_OF[obj.kind]) assert.ok((observed[id] as number) >= (obj.known[id] as number), `${where}: ${id} went backwards`);
    }
    if (obj.known !== null) assert.notEqual(observed, null, `${where}: an acknowledged object is gone`);
    if (obj.pending !== undefined && !isDeepStrictEqual(observed, obj.known)) this.appliedUnanswered += 1;
    obj.known = observed;
    delete obj.pending;
    return true;
  }

  /** The object's view as the manager has it now (null: not there); undefined: no answer. */
  private async observe(obj: Tracked): Promise<View | null | undefined> {
    if (obj.kind === 'users') {
      const reply = await send(this.url, 'GET', `${API}/users/${obj.name}`);
      if (reply === null) return undefined;
      if (reply.status === 403) return null;
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      // Which of the passwords it may have logs in (exactly one).
      const candidates = [obj.known, obj.pending].filter((c): c is View => c !== null && c !== undefined);
      const works: View[] = [];
      for (const c of candidates) {
        const answer = await send(this.url, 'GET', `${API}/status`, undefined, basic(obj.name, c.password as string));
        if (answer === null) return undefined;
        if (answer.status === 200) works.push(c);
      }
      assert.equal(works.length, 1, `user ${obj.name}: ${works.length} of the candidate passwords log in (seed ${SEED})`);
      return works[0];
    }
    const reply = await send(this.url, 'GET', `${API}/${obj.kind}/${obj.name}`);
    if (reply === null) return undefined;
    if (reply.status === 403) return null;
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return project(obj.kind, reply.body);
  }

  /** The shared app: its id counts every acknowledged update (none lost) and no more than were sent. */
  async checkHot(): Promise<void> {
    const reply = await send(this.url, 'GET', `${API}/apps/${HOT}`);
    assert.ok(reply !== null && reply.status === 200, `the shared app: ${JSON.stringify(reply)}`);
    const id = reply.body.app_id as number;
    const max = Math.max(1, ...this.hotAcked);
    assert.ok(id >= max, `the shared app's app_id ${id} is below the acknowledged ${max} (seed ${SEED})`);
    assert.ok(id >= 1 + this.hotAcked.length, `the shared app's app_id ${id}: ${this.hotAcked.length} acknowledged updates, some lost (seed ${SEED})`);
    assert.ok(id <= 1 + this.hotAcked.length + this.hotUnanswered, `the shared app's app_id ${id} counts more updates than were sent (seed ${SEED})`);
    assert.equal(new Set(this.hotAcked).size, this.hotAcked.length, `two updates of the shared app were acknowledged with one app_id (seed ${SEED})`);
  }

  /** Sends a write; records it as acknowledged (checking the answer) or as pending. */
  async write(obj: Tracked, write: Write): Promise<void> {
    const expected = write.next(obj.known);
    const reply = await send(this.url, write.method, write.path, write.body);
    if (reply === null) {
      obj.pending = expected;
      this.unanswered += 1;
      return;
    }
    if (reply.status !== write.status) {
      this.failures.push(`${write.method} ${write.path}: ${reply.status} ${JSON.stringify(reply.body)} (known ${JSON.stringify(obj.known)})`);
      obj.pending = expected; // unexpected: settle it by reading
      return;
    }
    const got = obj.kind === 'users' ? expected : project(obj.kind, reply.body);
    assert.deepEqual(got, expected, `${write.method} ${write.path} was acknowledged with ${JSON.stringify(reply.body)} (seed ${SEED})`);
    obj.known = got;
    this.acked += 1;
  }
}

/** The writes a client may make next to one of its objects. */
function nextWrite(client: number, obj: Tracked, n: number, own: Tracked[]): Write {
  const path = `${API}/${obj.kind}/${obj.name}`;
  const known = obj.known;
  switch (obj.kind) {
    case 'apps': {
      if (known === null) {
        const body = { docker_image: `img-${client}:${n}`, env_vars: { N: String(n) }, containers_per: { server: 1 + (n % 3) } };
        return { method: 'POST', path, body, status: 200, next: () => ({ app_id: 1, app_name: obj.name, ...body, running: true }) };
      }
      if (random() < 0.25) {
        const action = known.running ? 'stop' : 'start';
        return { method: 'POST', path: `${path}/${action}`, status: 202, next: (b) => ({ ...bump(b!, 'app_id'), running: action === 'start' }) };
      }
      const body = { docker_image: `img-${client}:${n}`, env_vars: { N: String(n), PAD: 'x'.repeat(n % 500) } };
      return { method: 'PUT', path: `${path}/update`, body, status: 202, next: (b) => ({ ...bump(b!, 'app_id'), ...body }) };
    }
    case 'cron_jobs': {
      const body = { docker_image: `job-${client}:${n}`, env_vars: { N: String(n) }, schedule: `${n % 60} * * * *` };
      if (known === null) return { method: 'POST', path, body, status: 200, next: () => ({ cron_job_id: 1, cron_job_name: obj.name, ...body }) };
      return { method: 'PUT', path: `${path}/update`, body, status: 202, next: (b) => ({ ...bump(b!, 'cron_job_id'), ...body }) };
    }
    case 'device_groups': {
      const present = (kind: Kind) => own.filter((o) => o.kind === kind && o.known !== null && o.pending === undefined).map((o) => o.name);
      const body = { apps: present('apps').filter(() => random() < 0.6), cron_jobs: present('cron_jobs').filter(() => random() < 0.6) };
      if (known === null) {
        return { method: 'POST', path, body, status: 200, next: () => ({ device_group_id: 1, device_group: obj.name, ...body, prune_id: 1 }) };
      }
      if (random() < 0.2) return { method: 'POST', path: `${path}/prune`, status: 202, next: (b) => bump(b!, 'prune_id') };
      return { method: 'PUT', path: `${path}/update`, body, status: 202, next: (b) => ({ ...bump(b!, 'device_group_id'), ...body }) };
    }
    case 'users': {
      const password = `pw-${client}-${n}`;
      if (known === null) {
        return { method: 'POST', path, body: { password, token: `token-${obj.name}` }, status: 200, next: () => ({ password }) };
      }
      return { method: 'PUT', path: `${path}/update`, body: { password }, status: 200, next: () => ({ password }) };
    }
  }
}

/** One admin client: writes its own objects (and the shared app) as fast as answers come. */
async function client(h: Harness, id: number): Promise<void> {
  const own: Tracked[] = [
    { kind: 'apps', name: `c${id}-app-a`, known: null },
    { kind: 'apps', name: `c${id}-app-b`, known: null },
    { kind: 'cron_jobs', name: `c${id}-job`, known: null },
    { kind: 'device_groups', name: `c${id}-group`, known: null },
    // Users cost two slow hashes each: one client in two has one.
    ...(id % 2 === 0 ? [{ kind: 'users' as const, name: `c${id}-user`, known: null }] : []),
  ];
  h.objects.push(...own);
  for (let n = 1; !h.stopping; n++) {
    await h.checkpoint();
    if (h.stopping) break;
    // Settle what an unanswered write left uncertain before writing on (the group's members too).
    const uncertain = own.filter((o) => o.pending !== undefined);
    if (uncertain.length > 0) {
      for (const obj of uncertain) if (!(await h.resync(obj))) break;
      continue;
    }
    if (random() < 0.15) {
      const reply = await send(h.url, 'PUT', `${API}/apps/${HOT}/update`, { env_vars: { LAST: `${id}-${n}` } });
      if (reply === null) h.hotUnanswered += 1;
      else if (reply.status === 202) h.hotAcked.push(reply.body.app_id as number);
      else h.failures.push(`PUT the shared app: ${reply.status} ${JSON.stringify(reply.body)}`);
      continue;
    }
    // Members first: a group lists only what exists.
    const missing = own.find((o) => o.known === null);
    const obj = missing ?? pick(own);
    await h.write(obj, nextWrite(id, obj, n, own));
  }
}

async function waitUntil(h: Harness, check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (h.clientError !== undefined) throw h.clientError;
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test(`admin writes survive ${KILLS} SIGKILLs of the manager (${TEST_STORE} store)`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-crash-'));
  const h = new Harness();
  t.after(async () => {
    h.stopping = true;
    h.resume();
    if (h.manager) await stopProcess(h.manager);
    await dropTestStore(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  t.diagnostic(`seed ${SEED}`);

  h.manager = await startManagerProcess(dir, ENV);
  const created = await send(h.url, 'POST', `${API}/apps/${HOT}`, { docker_image: 'hot:1' });
  assert.equal(created?.status, 200);

  const clients = Array.from({ length: CLIENTS }, (_, i) =>
    client(h, i).catch((err: unknown) => {
      h.clientError ??= err;
      h.stopping = true;
    }),
  );
  const restarts: number[] = [];
  for (let kill = 1; kill <= KILLS; kill++) {
    await new Promise((resolve) => setTimeout(resolve, 300 + random() * 2200));
    h.pause();
    assert.equal(await stopProcess(h.manager, 'SIGKILL'), 'SIGKILL', h.manager.output());
    // In-flight requests fail as the process dies; every client then waits at the checkpoint.
    await waitUntil(h, () => h.parked === CLIENTS, 35_000, 'every client to notice the kill');
    const started = Date.now();
    h.manager = await startManagerProcess(dir, ENV);
    restarts.push(Date.now() - started);
    // Before anyone writes again: everything acknowledged is there, ids did not go back.
    for (const obj of h.objects) assert.ok(await h.resync(obj), `${obj.kind}/${obj.name}: no answer after the restart`);
    await h.checkHot();
    // The restarted manager writes at once: nothing its killed predecessor held (MongoDB's
    // admin write lock) is waited out.
    const writeStarted = Date.now();
    const first = await send(h.url, 'PUT', `${API}/apps/${HOT}/update`, { env_vars: { LAST: `restart-${kill}` } });
    assert.equal(first?.status, 202, `the first write after restart ${kill}: ${JSON.stringify(first)}\n${h.manager.output()}`);
    h.hotAcked.push(first.body.app_id as number);
    assert.ok(Date.now() - writeStarted < 8000, `the first write after restart ${kill} took ${Date.now() - writeStarted} ms`);
    h.resume();
  }
  // The last incarnation runs a little, then the clients stop (their last writes answered).
  await new Promise((resolve) => setTimeout(resolve, 500));
  h.stopping = true;
  await Promise.all(clients);
  if (h.clientError !== undefined) throw h.clientError;
  assert.deepEqual(h.failures, [], `unexpected answers (seed ${SEED})`);
  for (const obj of h.objects) assert.ok(await h.resync(obj));
  await h.checkHot();
  t.diagnostic(
    `${h.acked} writes acknowledged, ${h.unanswered} unanswered (${h.appliedUnanswered} of them applied), ` +
      `${h.hotAcked.length} shared-app updates; restarts took ${restarts.join(', ')} ms`,
  );
  assert.ok(h.acked >= 50, `only ${h.acked} writes were acknowledged`);

  // Nothing but what the clients made; each group's /info lists its members as they are.
  for (const kind of ['apps', 'cron_jobs', 'device_groups'] as const) {
    const listed = (await send(h.url, 'GET', `${API}/${kind}`))?.body[kind] as string[];
    const expected = h.objects.filter((o) => o.kind === kind && o.known !== null).map((o) => o.name);
    if (kind === 'apps') expected.push(HOT);
    assert.deepEqual([...listed].sort(), expected.sort(), kind);
  }
  for (const group of h.objects.filter((o) => o.kind === 'device_groups' && o.known !== null)) {
    const info = (await send(h.url, 'GET', `${API}/device_groups/${group.name}/info`))?.body;
    assert.equal(info.device_group_id, group.known!.device_group_id);
    assert.equal(info.prune_id, group.known!.prune_id);
    const appIds = Object.fromEntries(h.objects.filter((o) => o.kind === 'apps' && o.known !== null).map((o) => [o.name, o.known!.app_id]));
    assert.deepEqual(
      (info.apps as { app_name: string; app_id: number }[]).map((a) => [a.app_name, a.app_id]).sort(),
      (group.known!.apps as string[]).map((name) => [name, appIds[name]]).sort(),
    );
  }

  // A last crash, then the file itself: SQLite finds no corruption.
  await stopProcess(h.manager, 'SIGKILL');
  if (TEST_STORE === 'sqlite') {
    const db = new Database(join(dir, 'nebula.db'), { readonly: true, fileMustExist: true });
    try {
      assert.deepEqual(db.pragma('integrity_check', { simple: false }), [{ integrity_check: 'ok' }]);
      const apps = db.prepare("SELECT COUNT(*) FROM docs WHERE kind = 'apps'").pluck().get();
      assert.equal(apps, h.objects.filter((o) => o.kind === 'apps' && o.known !== null).length + 1);
    } finally {
      db.close();
    }
  } else {
    h.manager = await startManagerProcess(dir, ENV);
    for (const obj of h.objects) assert.ok(await h.resync(obj));
    await stopProcess(h.manager, 'SIGKILL');
  }
});
