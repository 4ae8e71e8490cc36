// The report a simulated device sends: the real worker's shape (roles/worker/report.ts,
// src/model/report.ts) for a device that runs every app of its config, one container each,
// with a one-shot Docker stats object per container the size the engine returns (~2.3 KB on
// cgroup v2). The JSON is built once per config and per `updated` flag; each report then only
// splices in its hostname, report_id and time, so the simulator spends its core on sockets.

import { randomUUID } from 'node:crypto';

type Json = Record<string, unknown>;

/** What Docker's /containers/<id>/stats?stream=false answers (cgroup v2), trimmed of nothing. */
function dockerStats(name: string, n: number): Json {
  const cpu = (total: number) => ({
    cpu_usage: { total_usage: total, usage_in_kernelmode: Math.round(total * 0.2), usage_in_usermode: Math.round(total * 0.8) },
    system_cpu_usage: 123_456_780_000_000 + total,
    online_cpus: 2,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  });
  const memory: Record<string, number> = {};
  for (const key of [
    'active_anon', 'active_file', 'anon', 'anon_thp', 'file', 'file_dirty', 'file_mapped', 'file_writeback', 'inactive_anon', 'inactive_file',
    'kernel_stack', 'pgactivate', 'pgdeactivate', 'pgfault', 'pglazyfree', 'pglazyfreed', 'pgmajfault', 'pgrefill', 'pgscan', 'pgsteal',
    'shmem', 'slab', 'slab_reclaimable', 'slab_unreclaimable', 'sock', 'thp_collapse_alloc', 'thp_fault_alloc', 'unevictable',
    'workingset_activate', 'workingset_nodereclaim', 'workingset_refault',
  ]) {
    memory[key] = (key.length * 7919 * (n + 3)) % 50_000_000;
  }
  return {
    read: '2025-01-01T00:00:00.000000000Z',
    preread: '0001-01-01T00:00:00Z',
    pids_stats: { current: 5 + n, limit: 38_169 },
    blkio_stats: {
      io_service_bytes_recursive: [
        { major: 254, minor: 0, op: 'read', value: 4_096_000 + n },
        { major: 254, minor: 0, op: 'write', value: 8192 * n },
      ],
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(51_234_000 + n * 1000),
    precpu_stats: cpu(51_000_000 + n * 1000),
    memory_stats: { usage: 10_485_760 + n * 4096, stats: memory, limit: 25_275_486_208 },
    name: `/${name}-1`,
    id: `${name}${n}`.padEnd(8, '0').slice(0, 8).replace(/[^0-9a-f]/g, 'e').repeat(8),
    networks: { eth0: { rx_bytes: 1_234_567, rx_packets: 12_345, rx_errors: 0, rx_dropped: 0, tx_bytes: 7_654_321, tx_packets: 54_321, tx_errors: 0, tx_dropped: 0 } },
  };
}

interface ConfigIds {
  device_group_id: number;
  prune_id: number;
  apps: Record<string, number>;
  cron_jobs: Record<string, number>;
}

function idsOf(info: Json): ConfigIds {
  const apps = (info.apps as Json[] | undefined) ?? [];
  const cron = (info.cron_jobs as Json[] | undefined) ?? [];
  return {
    device_group_id: Number(info.device_group_id ?? 0),
    prune_id: Number(info.prune_id ?? 0),
    apps: Object.fromEntries(apps.map((a) => [String(a.app_name), Number(a.app_id)])),
    cron_jobs: Object.fromEntries(cron.map((c) => [String(c.cron_job_name), Number(c.cron_job_id)])),
  };
}

const HOST = '@@sim-host@@';
const ID = '@@sim-report-id@@';
const TIME = 1234567890123;

/** Splices per-report fields into a JSON text built once. */
export class ReportTemplate {
  private readonly parts: string[];
  readonly bytes: number;

  constructor(report: Json) {
    const json = JSON.stringify(report);
    // hostname, report_id and report_creation_time, in the order JSON.stringify wrote them.
    const re = new RegExp(`${HOST}|${ID}|${TIME}`, 'g');
    this.parts = json.split(re);
    const order = [...json.matchAll(re)].map((m) => m[0]);
    if (order.join(',') !== [TIME, HOST, ID].join(',')) {
      throw new Error(`unexpected report field order: ${order.join(',')}`);
    }
    this.bytes = Buffer.byteLength(json);
  }

  /** One report as JSON: hostname and a fresh report_id (a UUID, as the worker's). */
  render(hostname: string, nowMs: number): string {
    const p = this.parts;
    return p[0]! + Math.floor(nowMs / 1000) + p[1]! + hostname + p[2]! + randomUUID() + p[3]!;
  }
}

/**
 * The report template of a device that runs `info` (the /info body it got; null before any
 * config, as a worker that has none yet reports). `updated`: an id rose since the last report.
 */
export function reportTemplate(group: string, info: Json | null, updated: boolean): ReportTemplate {
  const ids = info ? idsOf(info) : null;
  const apps = info ? ((info.apps as Json[] | undefined) ?? []) : [];
  const appsState = Object.fromEntries(apps.map((a) => [String(a.app_name), { state: 'running', app_id: Number(a.app_id), running: 1, desired: 1 }]));
  return new ReportTemplate({
    memory_usage: { total: 1987, used: 612, free: 803, available: 1375 },
    root_disk_usage: { total: 29_742, used: 8_311, free: 19_880 },
    cpu_usage: { cores: 2, used_percent: 7.5 },
    apps_containers: apps.map((a, i) => dockerStats(String(a.app_name), i)),
    cron_jobs_containers: [],
    current_device_group_config: info ? { status_code: 200, reply: info } : null,
    device_group: group,
    report_creation_time: TIME,
    hostname: HOST,
    updated,
    report_id: ID,
    worker_version: '0.1.0',
    applied: ids ?? { device_group_id: 0, prune_id: 0, apps: {}, cron_jobs: {} },
    desired: ids,
    apps_state: appsState,
    last_error: null,
    spool_dropped: 0,
  });
}
