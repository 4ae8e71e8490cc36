// The device view (pure): a device's index entry against the current config of its group,
// behind or not and why, failing apps; GET /devices' query; and the report fields it reads.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NebulaError } from '../../src/errors.ts';
import { deviceView, idsOfInfo, type DeviceView } from '../../src/model/device.ts';
import { buildInfo } from '../../src/model/info.ts';
import { newApp } from '../../src/model/app.ts';
import { newCronJob } from '../../src/model/cronJob.ts';
import { appFieldsFromBody, cronJobFieldsFromBody, parseDeviceQuery } from '../../src/model/bodies.ts';
import { newDeviceGroup } from '../../src/model/deviceGroup.ts';
import { summarizeReport, validateReport, type AppState, type ConfigIds, type DeviceRecord } from '../../src/model/report.ts';

const NOW_MS = 1_700_000_100_000;

const ids = (dg: number, apps: Record<string, number> = {}, cron: Record<string, number> = {}, prune = 1): ConfigIds => ({
  device_group_id: dg,
  prune_id: prune,
  apps,
  cron_jobs: cron,
});

const running = (appId: number, extra: Partial<AppState> = {}): AppState => ({ state: 'running', app_id: appId, running: 1, desired: 1, ...extra });

function record(applied: ConfigIds | null, extra: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    hostname: 'till-1',
    device_group: 'pos',
    last_seen: 1_700_000_000,
    received_at: 1_700_000_001_000,
    report_id: 'r1',
    worker_version: '3.0.0',
    applied,
    desired: applied,
    apps_state: Object.fromEntries(Object.entries(applied?.apps ?? {}).map(([name, id]) => [name, running(id)])),
    last_error: null,
    spool_dropped: 0,
    ...extra,
  };
}

const view = (r: DeviceRecord, current: ConfigIds | null): DeviceView => deviceView(r, current, NOW_MS);

describe('deviceView', () => {
  test('up to date: the record, how long ago, the current ids, not behind', () => {
    const applied = ids(3, { web: 2, api: 5 }, { nightly: 1 });
    const r = record(applied);
    const v = view(r, ids(3, { api: 5, web: 2 }, { nightly: 1 }));
    assert.deepEqual(v, {
      ...r,
      seconds_since_seen: 100,
      current: ids(3, { api: 5, web: 2 }, { nightly: 1 }),
      behind: false,
      behind_reasons: [],
      failing_apps: [],
    });
  });

  test('seconds_since_seen is never negative (a device clock ahead of the manager)', () => {
    assert.equal(deviceView(record(ids(1)), ids(1), 1_699_999_000_000).seconds_since_seen, 0);
  });

  test('each id that differs is one reason naming it, applied against current', () => {
    const applied = ids(3, { web: 2, api: 5, old: 1 }, { nightly: 1, gone: 4 }, 1);
    const current = ids(5, { web: 4, api: 5, fresh: 1 }, { nightly: 2, added: 1 }, 2);
    const v = view(record(applied), current);
    assert.equal(v.behind, true);
    assert.deepEqual(v.behind_reasons, [
      'device_group_id 3 applied, 5 current',
      'prune_id 1 applied, 2 current',
      'app fresh: not applied yet',
      'app old: applied, no longer in the device group',
      'app web: app_id 2 applied, 4 current',
      'cron job added: not applied yet',
      'cron job gone: applied, no longer in the device group',
      'cron job nightly: cron_job_id 1 applied, 2 current',
    ]);
    assert.deepEqual(v.failing_apps, []);
  });

  test('an id higher on the device than on the manager (a re-created group) is a difference too', () => {
    const v = view(record(ids(9, { web: 7 })), ids(1, { web: 1 }));
    assert.deepEqual(v.behind_reasons, ['device_group_id 9 applied, 1 current', 'app web: app_id 7 applied, 1 current']);
  });

  test('a config the device was told but has not applied is named', () => {
    const v = view(record(ids(4, { web: 2 }), { desired: ids(5, { web: 2 }) }), ids(5, { web: 2 }));
    assert.deepEqual(v.behind_reasons, ['device_group_id 4 applied, 5 current', 'the device has config 5 but applied 4']);
  });

  test('failed, starting and restarting apps are failing, with their reason; stopped and running ones are not', () => {
    const applied = ids(2, { web: 3, api: 1, cache: 1, off: 1, ok: 1 });
    const r = record(applied, {
      apps_state: {
        web: { state: 'failed', app_id: 2, running: 0, desired: 2, reason: 'pull 127.0.0.1:5000/web:3: not found', restarts: 4 },
        api: { state: 'starting', app_id: 1, running: 1, desired: 3 },
        cache: { state: 'restarting', app_id: 1, running: 0, desired: 1, restarts: 12 },
        off: { state: 'stopped', app_id: 1, running: 0, desired: 0 },
        ok: running(1),
      },
    });
    const v = view(r, applied);
    assert.equal(v.behind, true, 'ids all match, but apps do not run');
    assert.deepEqual(v.failing_apps, [
      { app: 'api', state: 'starting', running: 1, desired: 3 },
      { app: 'cache', state: 'restarting', running: 0, desired: 1, restarts: 12 },
      { app: 'web', state: 'failed', reason: 'pull 127.0.0.1:5000/web:3: not found', running: 0, desired: 2, restarts: 4 },
    ]);
    assert.deepEqual(v.behind_reasons, [
      'app api: starting, 1/3 containers running',
      'app cache: restarting, 0/1 containers running',
      'app web: failed: pull 127.0.0.1:5000/web:3: not found',
    ]);
  });

  test("an app's id reason and its failure are listed together, in app order", () => {
    const r = record(ids(1, { a: 1, b: 1 }), {
      apps_state: { a: running(1), b: { state: 'failed', app_id: 0, running: 0, desired: 1 } },
    });
    assert.deepEqual(view(r, ids(1, { a: 2, b: 2 })).behind_reasons, [
      'app a: app_id 1 applied, 2 current',
      'app b: app_id 1 applied, 2 current',
      'app b: failed',
    ]);
  });

  test('the device group no longer exists: behind, with that reason (and its failing apps)', () => {
    const r = record(ids(2, { web: 1 }), { apps_state: { web: { state: 'failed', app_id: 1, running: 0, desired: 1, reason: 'oom' } } });
    const v = view(r, null);
    assert.equal(v.current, null);
    assert.equal(v.behind, true);
    assert.deepEqual(v.behind_reasons, ['the device group no longer exists', 'app web: failed: oom']);
  });

  test('applied ids unknown: behind while the group exists, saying so; only the group reason when it does not', () => {
    const unknown = record(null, { desired: null, apps_state: {} });
    const v = view(unknown, ids(4));
    assert.equal(v.behind, true);
    assert.deepEqual(v.behind_reasons, ['the device reports no applied config (device_group_id 4 current)']);
    assert.deepEqual(view(unknown, null).behind_reasons, ['the device group no longer exists']);
  });

  test("an original 2.x worker's report: its stored config stands for applied and desired", () => {
    const group = { ...newDeviceGroup('pos', { apps: ['web'], cron_jobs: [] }), device_group_id: 2 };
    const web = { ...newApp('web', appFieldsFromBody({ docker_image: 'web:1' }, 'create')), app_id: 3 };
    const info = buildInfo(group, [web], []);
    const legacy = summarizeReport(
      { hostname: 'old-till', device_group: 'pos', report_creation_time: 1_700_000_000, current_device_group_config: { status_code: 200, reply: info } },
      NOW_MS,
    );
    assert.equal(view(legacy, idsOfInfo(info)).behind, false);
    assert.deepEqual(view(legacy, { ...idsOfInfo(info), apps: { web: 4 } }).behind_reasons, ['app web: app_id 3 applied, 4 current']);
  });
});

describe('idsOfInfo', () => {
  test('the ids of the members /info serves', () => {
    const group = { ...newDeviceGroup('pos', { apps: ['web', 'missing'], cron_jobs: ['nightly'] }), device_group_id: 7, prune_id: 3 };
    const web = { ...newApp('web', appFieldsFromBody({ docker_image: 'web:1' }, 'create')), app_id: 5 };
    const nightly = newCronJob('nightly', cronJobFieldsFromBody({ docker_image: 'job:1', schedule: '@daily' }, 'create'));
    assert.deepEqual(idsOfInfo(buildInfo(group, [web], [nightly])), ids(7, { web: 5 }, { nightly: 1 }, 3));
  });
});

describe('parseDeviceQuery', () => {
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof NebulaError);
      return err.code;
    }
    return 'none';
  };

  test('defaults and every parameter', () => {
    assert.deepEqual(parseDeviceQuery({}), { store: { pageSize: 100 } });
    assert.deepEqual(parseDeviceQuery({ page_size: '1000', last_id: 'till-9', device_group: 'pos', behind: 'true' }), {
      store: { pageSize: 1000, afterHostname: 'till-9', deviceGroup: 'pos' },
      behind: true,
    });
    assert.equal(parseDeviceQuery({ behind: 'false' }).behind, false);
    assert.equal(parseDeviceQuery({ behind: 'False' }).behind, false);
    assert.equal(parseDeviceQuery({ page_size: '1' }).store.pageSize, 1);
  });

  test('bad values are 400 INVALID_QUERY', () => {
    for (const query of [
      { page_size: '0' },
      { page_size: '1001' },
      { page_size: '-1' },
      { page_size: 'ten' },
      { page_size: '1.5' },
      { page_size: '99999999999999999999' },
      { page_size: ['10', '20'] },
      { last_id: '' },
      { last_id: 'x'.repeat(256) },
      { device_group: '' },
      { behind: 'yes' },
      { behind: '1' },
    ]) {
      assert.equal(code(() => parseDeviceQuery(query)), 'INVALID_QUERY', JSON.stringify(query));
    }
  });
});

describe('validateReport: the fields the device index reads', () => {
  const base = { report_id: 'r1', hostname: 'till-1', device_group: 'pos', report_creation_time: 1_700_000_000 };
  const field = (body: Record<string, unknown>): string => {
    try {
      validateReport(body, { requireId: true });
    } catch (err) {
      assert.ok(err instanceof NebulaError && err.code === 'INVALID_REPORT', String(err));
      return String(err.details.field);
    }
    return 'none';
  };

  test("well-formed, or absent (an original 2.x worker's report), is accepted", () => {
    assert.equal(field(base), 'none');
    assert.equal(
      field({
        ...base,
        applied: ids(2, { web: 1 }),
        desired: null,
        apps_state: { web: { state: 'failed', app_id: 0, running: 0, desired: 1, reason: 'x', restarts: 3 } },
        last_error: { at: 1_700_000_000_000, message: 'pull failed', app: 'web' },
        spool_dropped: 0,
        worker_version: '3.0.0',
      }),
      'none',
    );
  });

  test('malformed, each is refused naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ applied: { device_group_id: 1 } }, 'applied'],
      [{ applied: { ...ids(1), apps: { web: '2' } } }, 'applied'],
      [{ applied: { ...ids(1), prune_id: -1 } }, 'applied'],
      [{ desired: [] }, 'desired'],
      [{ apps_state: [] }, 'apps_state'],
      [{ apps_state: { web: null } }, 'apps_state.web'],
      [{ apps_state: { web: { state: 'dancing', app_id: 1, running: 1, desired: 1 } } }, 'apps_state.web'],
      [{ apps_state: { web: { state: 'running', app_id: 1, running: '1', desired: 1 } } }, 'apps_state.web'],
      [{ apps_state: { web: { state: 'failed', app_id: 1, running: 0, desired: 1, reason: 5 } } }, 'apps_state.web'],
      [{ last_error: 'boom' }, 'last_error'],
      [{ last_error: { at: 'now', message: 'x' } }, 'last_error'],
      [{ spool_dropped: -1 }, 'spool_dropped'],
      [{ worker_version: 3 }, 'worker_version'],
    ];
    for (const [extra, expected] of cases) assert.equal(field({ ...base, ...extra }), expected, JSON.stringify(extra));
  });

  test('an app named like an Object.prototype member is compared as any other', () => {
    const r = record(ids(1, { constructor: 1 }), { apps_state: {} });
    assert.deepEqual(view(r, ids(1)).behind_reasons, ['app constructor: applied, no longer in the device group']);
    assert.deepEqual(view(record(ids(1), { apps_state: {} }), ids(1, { toString: 2 })).behind_reasons, ['app toString: not applied yet']);
  });
});
