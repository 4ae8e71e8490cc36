// The fleet simulator by hand, against any manager:
//
//   taskset -c 1 node_modules/.bin/node test/bench/fleet/cli.ts --url http://127.0.0.1:8080 \
//     --group pos-eu --devices 5000 --interval 30 --duration 120
//
// Credentials as the worker takes them: --user/--password or --token, else the environment
// (NEBULA_MANAGER_AUTH_USER / NEBULA_MANAGER_AUTH_PASSWORD / NEBULA_MANAGER_AUTH_TOKEN).
// Modes: `longpoll` (default: every device long-polls over its own socket and reports, like the
// worker; prints counts every --every seconds) and `checkins` (capacity: devices as timers over
// --connections pooled sockets, one conditional /info and one report per device and interval;
// prints the latency of each). Everything stops after --duration seconds.

import { parseArgs } from 'node:util';
import { CheckinLoad } from './checkins.ts';
import { Fleet } from './fleet.ts';
import { fmtCount, fmtMs, numberOption, type LatencySummary } from './stats.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.NEBULA_MANAGER_URI ?? 'http://127.0.0.1:8080' },
    user: { type: 'string', default: process.env.NEBULA_MANAGER_AUTH_USER },
    password: { type: 'string', default: process.env.NEBULA_MANAGER_AUTH_PASSWORD },
    token: { type: 'string', default: process.env.NEBULA_MANAGER_AUTH_TOKEN },
    group: { type: 'string', default: 'pos-eu' },
    mode: { type: 'string', default: 'longpoll' },
    devices: { type: 'string', default: '1000' },
    interval: { type: 'string', default: '30' },
    wait: { type: 'string', default: '30' },
    ramp: { type: 'string', default: '10' },
    apply: { type: 'string', default: '2' },
    duration: { type: 'string', default: '60' },
    every: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    prefix: { type: 'string', default: 'sim-' },
    'no-reports': { type: 'boolean', default: false },
    fresh: { type: 'boolean', default: false },
    'ignore-retry-after': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(`usage: node test/bench/fleet/cli.ts [--url U] [--user U --password P | --token T] [--group G]
  [--mode longpoll|checkins] [--devices N] [--interval S] [--wait S] [--ramp S] [--apply S] [--duration S]
  [--every S] [--connections K] [--prefix P] [--no-reports] [--fresh] [--ignore-retry-after]
  --fresh: devices start with no config (fetch, apply, report); default: they already have the current one.
`);
  process.exit(0);
}

const num = (name: keyof typeof values, min: number, max: number): number => numberOption(values, name, min, max);

const authorization = values.token
  ? `Bearer ${values.token}`
  : values.user !== undefined
    ? `Basic ${Buffer.from(`${values.user}:${values.password ?? ''}`).toString('base64')}`
    : null;
const url = values.url.replace(/\/$/, '');
const group = values.group;
const devices = num('devices', 1, 1_000_000);
const intervalS = num('interval', 1, 86_400);
const durationS = num('duration', 1, 86_400);
const everyS = num('every', 1, 3600);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lat = (l: LatencySummary) => (l.count === 0 ? '-' : `p50 ${fmtMs(l.p50)} p99 ${fmtMs(l.p99)} max ${fmtMs(l.max)} (${fmtCount(l.count)})`);

async function currentInfo(): Promise<{ etag: string; body: string }> {
  const response = await fetch(`${url}/api/v2/device_groups/${encodeURIComponent(group)}/info`, { headers: authorization ? { authorization } : {} });
  const body = await response.text();
  const etag = response.headers.get('etag');
  if (response.status !== 200 || !etag) throw new Error(`GET /info answered ${response.status}: ${body.slice(0, 300)}`);
  return { etag, body };
}

async function longpoll(): Promise<void> {
  const known = values.fresh ? null : await currentInfo();
  const fleet = new Fleet({
    url,
    group,
    authorization,
    devices,
    hostnamePrefix: values.prefix,
    waitSeconds: num('wait', 0, 3600),
    checkInMs: intervalS * 1000,
    rampMs: num('ramp', 0, 3600) * 1000,
    applyMs: num('apply', 0, 3600) * 1000,
    reports: !values['no-reports'],
    reportConnections: num('connections', 1, 10_000),
    honourRetryAfter: !values['ignore-retry-after'],
    known,
  });
  fleet.start();
  const started = Date.now();
  const stopAt = started + durationS * 1000;
  const stop = () => void fleet.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (Date.now() < stopAt) {
    await sleep(Math.min(everyS * 1000, stopAt - Date.now()));
    const s = fleet.stats();
    const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
    process.stdout.write(
      `${t}s started ${fmtCount(s.started)} parked ${fmtCount(s.parked)} backoff ${s.inBackoff} | info ${JSON.stringify(s.info.byStatus)} errors ${JSON.stringify(s.info.byError)} ` +
        `| reports stored ${fmtCount(s.reports.stored)} spooled ${s.reports.spooled} ${JSON.stringify(s.reports.byStatus)} ${JSON.stringify(s.reports.byError)} ${lat(s.reports.latency)} ` +
        `| sockets ${s.sockets.deviceOpen} open, ${s.sockets.deviceConnects} connects | sim cpu ${(s.loopUtilization * 100).toFixed(0)} %\n`,
    );
    fleet.resetStats();
  }
  await fleet.stop();
}

async function checkins(): Promise<void> {
  const known = await currentInfo();
  const load = new CheckinLoad({
    url,
    group,
    authorization,
    etag: known.etag,
    info: JSON.parse(known.body) as Record<string, unknown>,
    connections: num('connections', 1, 10_000),
    hostnamePrefix: values.prefix,
  });
  process.stdout.write(`${fmtCount(devices)} devices every ${intervalS} s: ${((2 * devices) / intervalS).toFixed(0)} requests/s (reports of ${fmtCount(load.reportBytes)} B) for ${durationS} s\n`);
  const r = await load.step(devices, intervalS, durationS, Math.min(5, durationS / 5));
  process.stdout.write(
    `answered ${r.answered.toFixed(0)}/s, unfinished ${r.unfinished}\n  /info 304: ${lat(r.info.latency)} ${JSON.stringify(r.info.byStatus)} ${JSON.stringify(r.info.byError)}\n` +
      `  reports:   ${lat(r.reports.latency)} ${JSON.stringify(r.reports.byStatus)} ${JSON.stringify(r.reports.byError)}\n  all:       ${lat(r.all)}\n  simulator cpu ${(r.loopUtilization * 100).toFixed(0)} %\n`,
  );
  load.close();
}

(values.mode === 'checkins' ? checkins() : values.mode === 'longpoll' ? longpoll() : Promise.reject(new Error('--mode: longpoll or checkins'))).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
