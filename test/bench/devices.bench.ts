// The dashboard's devices and reports pages on a fleet of 100,000 devices: a real manager (from
// source, SQLite, auth on, pinned to CPU 0) whose store holds 100,000 devices in 20 groups, and
// the requests /ui/ makes — GET /api/v2/devices (first page and a deep page, 50 and 250 a page,
// by group, behind=true), GET /api/v2/devices/<hostname>, GET /api/v2/reports (hostname filter,
// and the other filters of the reports page) — each timed in a bounded sequential loop from this
// process over one keep-alive connection on 127.0.0.1. Latency, not throughput: one operator
// paging, so each request is timed alone. The store is seeded in-process through its own write
// path (SqliteStore.insertReports, what POST /reports and the reporter call: a report stored and
// its device's index entry moved), in transactions of SEED_BATCH reports, while the manager runs.
// The SQL each query runs is the store's own (its functions called on a recording database),
// and its plan is asked of SQLite (EXPLAIN QUERY PLAN) on the seeded file.
//
// Alone: node test/bench/devices.bench.ts [--devices 100000] [--requests 200]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Database } from 'better-sqlite3';
import { idsOfInfo } from '../../src/model/device.ts';
import type { Info } from '../../src/model/info.ts';
import type { ConfigIds, DeviceQuery, IncomingReport, ReportQuery } from '../../src/model/report.ts';
import { openDatabase } from '../../src/store/sqlite/database.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { getDevice, listDevices, queryReports } from '../../src/store/sqlite/reports.ts';
import { AUTH_HEADER, call, seedGroup, startManager, type Bench, type Row } from './lib.ts';

const GROUPS = 20;
const APPS = ['web', 'metrics', 'agent'];
/** Devices with a history of reports (the rest have one each): HISTORY reports apiece. */
const HISTORY_DEVICES = 1000;
const HISTORY = 10;
const SEED_BATCH = 2000;
/** Each case stops after this long even when its requests are not all done. */
const CASE_BUDGET_MS = 12_000;
const WARM_UP = 10;

interface Options {
  devices: number;
  requests: number;
}

const DEFAULTS: Options = {
  devices: Number(process.env.BENCH_DEVICES ?? 100_000),
  requests: Number(process.env.BENCH_DEVICE_REQUESTS ?? 200),
};

const hostOf = (i: number) => `dev-${String(i).padStart(6, '0')}`;
/** Groups interleave in hostname order (dev-000000 in group-00, dev-000001 in group-01, …). */
const groupOf = (i: number) => `group-${String(i % GROUPS).padStart(2, '0')}`;
/** One device in 10 has not applied its group's latest config; one in 100 has an app restarting. */
const isBehind = (i: number) => i % 10 === 0;
const isFailing = (i: number) => i % 100 === 1;

/** A user who is not admin, reading half the groups (through a user group). */
const OPERATOR = { user: 'operator', password: 'operator-password' };
const OPERATOR_HEADER = `Basic ${Buffer.from(`${OPERATOR.user}:${OPERATOR.password}`).toString('base64')}`;
const OPERATOR_GROUPS = Array.from({ length: GROUPS / 2 }, (_, g) => groupOf(g));

/** Report `n` (0 = the oldest) of device `i`: the worker's report, without the Docker stats. */
function deviceReport(i: number, n: number, ids: ConfigIds, baseTime: number): IncomingReport {
  const applied = isBehind(i) ? { ...ids, device_group_id: ids.device_group_id - 1 } : ids;
  const appsState = Object.fromEntries(
    Object.entries(ids.apps).map(([app, id]) => [app, isFailing(i) && app === 'web' ? { state: 'restarting', app_id: id, running: 0, desired: 1, restarts: 4 } : { state: 'running', app_id: id, running: 1, desired: 1 }]),
  );
  return {
    memory_usage: { total: 1987, used: 612 + (i % 100), free: 803, available: 1375 },
    root_disk_usage: { total: 29_742, used: 8_311, free: 19_880 },
    cpu_usage: { cores: 2, used_percent: (i % 1000) / 10 },
    apps_containers: [],
    cron_jobs_containers: [],
    device_group: groupOf(i),
    report_creation_time: baseTime + n * 30,
    hostname: hostOf(i),
    updated: n === 0,
    report_id: `bench-${i}-${n}`,
    worker_version: '0.1.0',
    applied,
    desired: ids,
    apps_state: appsState,
    last_error: null,
    spool_dropped: 0,
  };
}

/** 20 groups of the same three apps, created over the API; their current ids as /info serves them. */
async function seedGroups(url: string): Promise<Map<string, ConfigIds>> {
  const ids = new Map<string, ConfigIds>();
  for (let g = 0; g < GROUPS; g++) {
    const group = groupOf(g);
    if (g === 0) await seedGroup(url, group, APPS);
    else await call(url, 'POST', `/api/v2/device_groups/${group}`, { apps: APPS });
    const info = (await (await call(url, 'GET', `/api/v2/device_groups/${group}/info`)).json()) as Info;
    ids.set(group, idsOfInfo(info));
  }
  await call(url, 'POST', `/api/v2/users/${OPERATOR.user}`, { password: OPERATOR.password });
  await call(url, 'POST', '/api/v2/user_groups/operators', { group_members: [OPERATOR.user], device_groups: Object.fromEntries(OPERATOR_GROUPS.map((g) => [g, 'ro'])) });
  return ids;
}

/** Every device's reports through the store's write path; returns the reports stored and the time taken. */
async function seedDevices(file: string, devices: number, ids: Map<string, ConfigIds>): Promise<{ reports: number; ms: number }> {
  const store = SqliteStore.open(file);
  const started = performance.now();
  const baseTime = Math.floor(Date.now() / 1000) - HISTORY * 30;
  let reports = 0;
  try {
    let batch: IncomingReport[] = [];
    const flush = async () => {
      reports += (await store.insertReports(batch, new Date())).inserted;
      batch = [];
    };
    for (let i = 0; i < devices; i++) {
      const history = i < HISTORY_DEVICES ? HISTORY : 1;
      for (let n = 0; n < history; n++) batch.push(deviceReport(i, HISTORY - history + n, ids.get(groupOf(i))!, baseTime));
      if (batch.length >= SEED_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
  } finally {
    await store.close();
  }
  return { reports, ms: performance.now() - started };
}

// ---- the requests ---------------------------------------------------------------------------

interface Case {
  name: string;
  path: string;
  /** Authorization header: the bench's admin unless given. */
  auth?: string;
  /** The store call the route makes, to ask SQLite for its plan; undefined: no SQL of its own. */
  sql?: (db: Database) => void;
}

function cases(devices: number, reportId: string): Case[] {
  const middle = hostOf(Math.floor(devices / 2));
  const group = groupOf(7);
  const out: Case[] = [];
  const listings: { label: string; query: string; store: Omit<DeviceQuery, 'pageSize'> }[] = [
    { label: '', query: '', store: {} },
    { label: `device_group=${group}, `, query: `&device_group=${group}`, store: { deviceGroup: group } },
    { label: 'behind=true, ', query: '&behind=true', store: {} },
  ];
  for (const { label, query, store } of listings) {
    for (const size of [50, 250]) {
      for (const deep of [false, true]) {
        out.push({
          name: `/devices ${label}${deep ? `deep page (last_id ${middle})` : 'first page'}, ${size}`,
          path: `/api/v2/devices?page_size=${size}${query}${deep ? `&last_id=${middle}` : ''}`,
          sql: (db) => listDevices(db, { pageSize: size, ...store, ...(deep ? { afterHostname: middle } : {}) }),
        });
      }
    }
  }
  const host = hostOf(3);
  out.push({ name: `/devices/${middle}`, path: `/api/v2/devices/${middle}`, sql: (db) => getDevice(db, middle) });
  const reports: { label: string; query: string; store: Omit<ReportQuery, 'pageSize'> }[] = [
    { label: 'first page', query: '', store: {} },
    { label: `hostname=${host} (${HISTORY} reports), first page`, query: `&hostname=${host}`, store: { hostname: host } },
    { label: `hostname=${host}, next page (last_id)`, query: `&hostname=${host}&last_id=${reportId}`, store: { hostname: host, afterId: reportId } },
    { label: `device_group=${group}, first page`, query: `&device_group=${group}`, store: { deviceGroup: group } },
    {
      label: `device_group=${group} + since (report_creation_time gte), first page`,
      query: `&device_group=${group}&report_creation_time=0&report_creation_time_filter=gte`,
      store: { deviceGroup: group, creationTime: { op: 'gte', value: 0 } },
    },
  ];
  for (const { label, query, store } of reports) {
    out.push({ name: `/reports ${label}, 50`, path: `/api/v2/reports?page_size=50${query}`, sql: (db) => queryReports(db, { pageSize: 50, ...store }) });
  }
  // A user who is not admin sees only the groups it may read: the store filters on that list.
  const inGroups = OPERATOR_GROUPS;
  const who = `as ${OPERATOR.user} (reads ${inGroups.length} of ${GROUPS} groups)`;
  out.push(
    { name: `/devices ${who}, first page, 50`, path: '/api/v2/devices?page_size=50', auth: OPERATOR_HEADER, sql: (db) => listDevices(db, { pageSize: 50, inGroups }) },
    { name: `/devices ${who}, deep page (last_id ${middle}), 50`, path: `/api/v2/devices?page_size=50&last_id=${middle}`, auth: OPERATOR_HEADER, sql: (db) => listDevices(db, { pageSize: 50, inGroups, afterHostname: middle }) },
    { name: `/reports ${who}, first page, 50`, path: '/api/v2/reports?page_size=50', auth: OPERATOR_HEADER, sql: (db) => queryReports(db, { pageSize: 50, inGroups }) },
  );
  return out;
}

/** The SQL and parameters a store function runs, caught by a database that records and answers nothing. */
function recordedSql(run: (db: Database) => void): { sql: string; params: unknown[] }[] {
  const seen: { sql: string; params: unknown[] }[] = [];
  const statement = (sql: string) => {
    const s = {
      pluck: () => s,
      all: (...params: unknown[]) => (seen.push({ sql, params }), []),
      get: (...params: unknown[]) => (seen.push({ sql, params }), undefined),
    };
    return s;
  };
  run({ prepare: statement } as unknown as Database);
  return seen;
}

/** SQLite's plan of each case's query: its lines, and whether one of them scans a table without an index. */
function plans(file: string, list: Case[]): Map<string, { lines: string[]; sorts: boolean }> {
  const db = openDatabase(file);
  try {
    db.pragma('query_only = ON');
    const out = new Map<string, { lines: string[]; sorts: boolean }>();
    for (const c of list) {
      if (!c.sql) continue;
      const lines: string[] = [];
      for (const { sql, params } of recordedSql(c.sql)) {
        const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
        lines.push(...rows.map((r) => r.detail));
      }
      // "SCAN devices" alone on a WITHOUT ROWID table walks its primary key (hostname) in order
      // and stops at LIMIT; "SCAN reports" alone walks the rowid (id) likewise. A temp B-tree for
      // ORDER BY comes with an IN list (the groups a user who is not admin may read): each group's
      // index range is in order, and SQLite stops reading one once its rows no longer make the
      // LIMIT, so it sorts about groups × page_size rows, not every matching row.
      const sorts = lines.some((l) => l.includes('USE TEMP B-TREE FOR ORDER BY'));
      out.set(c.name, { lines, sorts });
    }
    return out;
  } finally {
    db.close();
  }
}

interface Timing {
  p50: number;
  p99: number;
  n: number;
  bytes: number;
  items: number;
}

/** `requests` GETs of `path` one after another (after a warm-up), or as many as fit in CASE_BUDGET_MS. */
async function time(url: string, path: string, auth: string, requests: number): Promise<Timing> {
  const get = async () => {
    const response = await fetch(`${url}${path}`, { headers: { authorization: auth } });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${body.slice(0, 300)}`);
    return body;
  };
  let body = '';
  for (let i = 0; i < WARM_UP; i++) body = await get();
  const ms: number[] = [];
  const deadline = performance.now() + CASE_BUDGET_MS;
  while (ms.length < requests && performance.now() < deadline) {
    const started = performance.now();
    await get();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  const at = (p: number) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)]!;
  const parsed = JSON.parse(body) as { data?: unknown[] | null };
  const items = Array.isArray(parsed.data) ? parsed.data.length : parsed.data === undefined ? 1 : 0;
  return { p50: at(0.5), p99: at(0.99), n: ms.length, bytes: Buffer.byteLength(body), items };
}

const kb = (bytes: number) => (bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(0)} KiB`);

/** Seeds, plans, times; one row per case plus the seeding and the plans' verdict. */
async function measure(options: Options): Promise<Row[]> {
  const manager = await startManager();
  try {
    const ids = await seedGroups(manager.url);
    const file = join(manager.dir, 'nebula.db');
    const seeded = await seedDevices(file, options.devices, ids);
    // The id of the first report of the history device's listing: the deep-page cursor of its reports.
    const firstOfHost = (await (await call(manager.url, 'GET', `/api/v2/reports?page_size=1&hostname=${hostOf(3)}`)).json()) as { last_id: { $oid: string } };
    const list = cases(options.devices, firstOfHost.last_id.$oid);
    const planOf = plans(file, list);
    const fleet = `${options.devices.toLocaleString('en-US')} devices`;
    const rows: Row[] = [
      {
        figure: `devices: seed ${fleet} in ${GROUPS} groups (store's insertReports, ${SEED_BATCH} a transaction)`,
        nebula: `${seeded.reports.toLocaleString('en-US')} reports in ${(seeded.ms / 1000).toFixed(1)} s (${Math.round(seeded.reports / (seeded.ms / 1000)).toLocaleString('en-US')}/s)`,
        reference: '',
        ratio: '',
        target: '',
        verdict: '',
      },
    ];
    for (const c of list) {
      const t = await time(manager.url, c.path, c.auth ?? AUTH_HEADER, options.requests);
      const plan = planOf.get(c.name);
      rows.push({
        figure: `devices: GET ${c.name} (${fleet})`,
        nebula: `p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms (${t.n} requests; ${t.items} items, ${kb(t.bytes)})`,
        reference: plan ? `plan: ${plan.lines.join('; ')}` : '',
        ratio: '',
        target: '',
        verdict: '',
      });
      console.error(`  ${c.name}: p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms, ${t.items} items${plan?.sorts ? ' — temp B-tree for ORDER BY' : ''}`);
    }
    const scans = list.filter((c) => planOf.get(c.name)?.sorts).map((c) => c.name);
    rows.push({
      figure: 'devices: SQL plans (EXPLAIN QUERY PLAN)',
      nebula:
        'no full scan: every query reads an index range in ORDER BY order and stops at LIMIT' +
        (scans.length === 0 ? '' : `; a temp B-tree merges the index ranges of the groups the user reads (about groups × page_size rows): ${scans.join('; ')}`),
      reference: '',
      ratio: '',
      target: '',
      verdict: '',
    });
    return rows;
  } finally {
    await manager.stop();
  }
}

export const bench: Bench = {
  name: 'devices',
  order: 9,
  method:
    `The manager from source (SQLite, Basic auth, taskset -c 0) with ${DEFAULTS.devices.toLocaleString('en-US')} devices (BENCH_DEVICES) in ${GROUPS} groups of three apps, hostnames interleaving the groups; ` +
    `one device in 10 behind its group's config, one in 100 with an app restarting; each device one report, the first ${HISTORY_DEVICES} ${HISTORY} reports each (without Docker stats). ` +
    `Seeded in this process through SqliteStore.insertReports (the write path of POST /reports and the reporter) in transactions of ${SEED_BATCH}, the manager running. ` +
    `Each request the dashboard's devices and reports pages make is timed alone, one after another over a keep-alive connection from this process (not pinned): ${WARM_UP} warm-up requests, then ${DEFAULTS.requests} (BENCH_DEVICE_REQUESTS) or ${CASE_BUDGET_MS / 1000} s, whichever ends first; ` +
    `p50 and p99 of the time to the whole body. The SQL is the store's own (its functions called on a recording database) and its plan is SQLite's EXPLAIN QUERY PLAN on the seeded file.`,
  run: () => measure(DEFAULTS),
};

if (import.meta.main) {
  const { values } = parseArgs({ options: { devices: { type: 'string' }, requests: { type: 'string' } } });
  const rows = await measure({ devices: Number(values.devices ?? DEFAULTS.devices), requests: Number(values.requests ?? DEFAULTS.requests) });
  console.log('| figure | p50, p99 | SQL plan |');
  console.log('| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.figure} | ${r.nebula} | ${r.reference} |`);
}
