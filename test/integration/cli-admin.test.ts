// The admin CLI's cron, user, user-group, reports and devices commands, as child processes
// against a real manager in this process: tables for people, --output json equal to the API's
// answer, secrets read from stdin and never echoed, tokens printed once, exit codes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { call } from '../helpers/manager.ts';
import { cliSuite, json, ok, refused, runCli, type Run } from '../helpers/cli.ts';
import { testReport } from '../helpers/kafka.ts';

const cli = cliSuite();

/** `nebula <args>` as the admin (or with `env` instead), no settings file; `stdin` piped in. */
const nebula = (args: string[], env: Record<string, string> = cli.env, stdin?: string) => runCli(args, { HOME: cli.home, XDG_CONFIG_HOME: join(cli.home, 'none'), ...env }, stdin);

/** Exit code 2 (a wrong command line), the message, and no request's answer on stdout. */
function usage(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 2, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.match(run.stderr, pattern);
  assert.equal(run.stdout, '');
}

const api = async (path: string) => (await call(cli.url, 'GET', `/api/v2${path}`)).body;

test('a cron job from create to delete; the schedule checked by the manager', async () => {
  const created = json(
    await nebula(['cron', 'create', 'backup', '--image', 'busybox:1.36', '--schedule', '*/5 * * * *', '--env', 'TARGET=s3://b/x?a=b', '--volume', '/srv:/data:ro', '--no-running', '-o', 'json']),
  );
  const stored = await api('/cron_jobs/backup');
  assert.deepEqual(created, stored);
  assert.deepEqual([stored.docker_image, stored.schedule, stored.env_vars, stored.volumes, stored.running], ['busybox:1.36', '*/5 * * * *', { TARGET: 's3://b/x?a=b' }, ['/srv:/data:ro'], false]);

  const [badSchedule, noSchedule, list, listJson, get, exists] = await Promise.all([
    nebula(['cron', 'create', 'bad', '--image', 'busybox', '--schedule', '61 * * * *']),
    nebula(['cron', 'create', 'bad', '--image', 'busybox']),
    nebula(['cron', 'list']),
    nebula(['cron', 'list', '-o', 'json']),
    nebula(['cron', 'get', 'backup']),
    nebula(['cron', 'create', 'backup', '--image', 'busybox', '--schedule', '@daily']),
  ]);
  refused(badSchedule, 'INVALID_SCHEDULE');
  usage(noSchedule, /--schedule are required/);
  assert.equal(ok(list).stdout, 'CRON JOB\nbackup\n');
  assert.deepEqual(json(listJson), await api('/cron_jobs'));
  assert.match(ok(get).stdout, /^schedule\s+\*\/5 \* \* \* \*$/m);
  refused(exists, 'CRON_JOB_EXISTS');

  const partial = json(await nebula(['cron', 'update', 'backup', '--schedule', '@hourly', '-o', 'json']));
  assert.deepEqual([partial.schedule, partial.docker_image, partial.env_vars, partial.cron_job_id], ['@hourly', 'busybox:1.36', stored.env_vars, stored.cron_job_id + 1]);
  const replaced = json(await nebula(['cron', 'update', 'backup', '--replace', '--image', 'busybox:1.37', '--schedule', '0 3 * * *', '-o', 'json']));
  assert.deepEqual([replaced.docker_image, replaced.schedule, replaced.env_vars, replaced.volumes, replaced.running], ['busybox:1.37', '0 3 * * *', {}, [], true]);
  usage(await nebula(['cron', 'update', 'backup', '--replace', '--image', 'x']), /--image and --schedule are required/);

  assert.match(ok(await nebula(['cron', 'delete', 'backup'])).stdout, /cron job backup deleted/);
  refused(await nebula(['cron', 'get', 'backup']), 'CRON_JOB_NOT_FOUND');
});

test('users: the password from stdin or the environment, never echoed; the token printed once on create and refresh, and it authenticates', async () => {
  const password = 'pw with spaces=and:colons';
  const [created, bobCreated] = await Promise.all([
    nebula(['user', 'create', 'alice', '--password-stdin'], cli.env, `${password}\n`),
    nebula(['user', 'create', 'bob', '--user-token', 'bob-token-123', '-o', 'json']),
  ]);
  const token = /shown this once\):\n(\S+)\n$/.exec(ok(created).stdout)?.[1];
  assert.ok(token, created.stdout);
  assert.ok(!created.stdout.includes(password));
  assert.deepEqual(json(bobCreated), { user_name: 'bob', password: '<hidden>', token: 'bob-token-123' });

  const [byToken, byPassword, bobToken, list, listJson, get, getJson, exists] = await Promise.all([
    nebula(['status', '--token', token]),
    nebula(['status', '--user', 'alice', '--password', password]),
    nebula(['status', '--token', 'bob-token-123']),
    nebula(['user', 'list']),
    nebula(['user', 'list', '-o', 'json']),
    nebula(['user', 'get', 'alice']),
    nebula(['user', 'get', 'alice', '-o', 'json']),
    nebula(['user', 'create', 'alice']),
  ]);
  assert.match(ok(byToken).stdout, /authenticated as\s+a token/);
  assert.match(ok(byPassword).stdout, /authenticated as\s+user alice/);
  ok(bobToken);
  assert.match(ok(list).stdout, /^USER\n(.*\n)*alice\n/);
  assert.deepEqual(json(listJson), await api('/users'));
  assert.match(ok(get).stdout, /^token\s+<hidden>$/m);
  assert.deepEqual(json(getJson), await api('/users/alice'));
  refused(exists, 'USER_EXISTS');

  // refresh: a new token, printed once; the old one no longer works.
  const [refreshed, bobRefreshed] = await Promise.all([nebula(['user', 'refresh', 'alice']), nebula(['user', 'refresh', 'bob', '-o', 'json'])]);
  const fresh = /shown this once; the old one no longer works\):\n(\S+)\n$/.exec(ok(refreshed).stdout)?.[1];
  assert.ok(fresh && fresh !== token, refreshed.stdout);
  const refreshedJson = json(bobRefreshed);
  assert.deepEqual(Object.keys(refreshedJson), ['token']);
  // update: the password from the environment, the token from stdin.
  const updated = await nebula(['user', 'update', 'alice', '--token-stdin'], { ...cli.env, NEBULA_USER_PASSWORD: 'second-pw' }, 'alice-token-2\n');
  assert.equal(ok(updated).stdout, 'user alice: password and token changed\n');
  const [oldToken, refreshedToken, newPassword, newToken, bobOld, bobNew] = await Promise.all([
    nebula(['status', '--token', token]),
    nebula(['status', '--token', fresh]),
    nebula(['status', '--user', 'alice', '--password', 'second-pw']),
    nebula(['status', '--token', 'alice-token-2']),
    nebula(['status', '--token', 'bob-token-123']),
    nebula(['status', '--token', refreshedJson.token]),
  ]);
  refused(oldToken, 'UNAUTHORIZED');
  refused(refreshedToken, 'UNAUTHORIZED');
  ok(newPassword);
  ok(newToken);
  refused(bobOld, 'UNAUTHORIZED');
  ok(bobNew);

  // Secrets given two ways, both from stdin, or none: refused before any request.
  const [twoWays, bothStdin, emptyStdin, nothing, missing] = await Promise.all([
    nebula(['user', 'update', 'alice', '--user-password', 'x', '--password-stdin'], cli.env, 'y\n'),
    nebula(['user', 'create', 'carol', '--password-stdin', '--token-stdin'], cli.env, 'y\n'),
    nebula(['user', 'create', 'carol', '--password-stdin'], cli.env, ''),
    nebula(['user', 'update', 'alice']),
    nebula(['user', 'refresh', 'nobody']),
  ]);
  usage(twoWays, /give the password one way/);
  usage(bothStdin, /stdin holds one secret/);
  usage(emptyStdin, /one non-empty line/);
  usage(nothing, /nothing to change/);
  refused(missing, 'USER_NOT_FOUND');
  assert.equal((await call(cli.url, 'GET', '/api/v2/users/carol')).status, 403, 'carol was not created');

  const [deleted, deletedBob] = await Promise.all([nebula(['user', 'delete', 'alice']), nebula(['user', 'delete', 'bob', '-o', 'json'])]);
  assert.match(ok(deleted).stdout, /user alice deleted/);
  assert.equal(ok(deletedBob).stdout, '{}\n');
  refused(await nebula(['user', 'get', 'alice']), 'USER_NOT_FOUND');
});

test('user groups: members and permissions as typed options; a member acts within them', async () => {
  const created = json(
    await nebula([
      'user-group', 'create', 'ops', '--member', 'viewer', '--member', 'bob,carol', '--app', 'web=rw', '--device-group', 'pos-cli=ro',
      '--cron-job', 'backup=ro,cleanup=rw', '--pruning-allowed', '-o', 'json',
    ]),
  );
  assert.deepEqual(created, await api('/user_groups/ops'));
  assert.deepEqual(created, {
    user_group: 'ops',
    group_members: ['viewer', 'bob', 'carol'],
    pruning_allowed: true,
    apps: { web: 'rw' },
    device_groups: { 'pos-cli': 'ro' },
    admin: false,
    cron_jobs: { backup: 'ro', cleanup: 'rw' },
  });
  ok(await nebula(['user', 'create', 'viewer', '--user-password', 'viewer-pw']));
  const asViewer = { ...cli.env, NEBULA_MANAGER_AUTH_USER: 'viewer', NEBULA_MANAGER_AUTH_PASSWORD: 'viewer-pw' };
  const [list, listJson, get, badLevel, nothing, missing, denied, allowed] = await Promise.all([
    nebula(['user-group', 'list']),
    nebula(['user-group', 'list', '-o', 'json']),
    nebula(['user-group', 'get', 'ops']),
    nebula(['user-group', 'create', 'x', '--app', 'web=admin']),
    nebula(['user-group', 'update', 'ops']),
    nebula(['user-group', 'get', 'nope']),
    nebula(['cron', 'create', 'other', '--image', 'busybox', '--schedule', '@daily'], asViewer),
    nebula(['cron', 'list'], asViewer),
  ]);
  assert.equal(ok(list).stdout, 'USER GROUP\nops\n');
  assert.deepEqual(json(listJson), await api('/user_groups'));
  assert.match(ok(get).stdout, /^apps\s+web=rw$/m);
  assert.match(get.stdout, /^group_members\s+viewer, bob, carol$/m);
  usage(badLevel, /--app web=admin: use NAME=ro/);
  usage(nothing, /nothing to change/);
  refused(missing, 'USER_GROUP_NOT_FOUND');
  assert.equal(denied.code, 1, denied.stderr);
  assert.match(denied.stderr, /error \w+: .*\(HTTP 403\)/);
  ok(allowed);

  // A map given replaces that map; what is not given stays.
  const updated = json(await nebula(['user-group', 'update', 'ops', '--app', '', '--admin', '--member', 'viewer', '-o', 'json']));
  assert.deepEqual([updated.apps, updated.admin, updated.group_members, updated.cron_jobs], [{}, true, ['viewer'], { backup: 'ro', cleanup: 'rw' }]);
  ok(await nebula(['cron', 'create', 'other', '--image', 'busybox', '--schedule', '@daily'], asViewer));

  await Promise.all([nebula(['user', 'delete', 'viewer']), nebula(['cron', 'delete', 'other'])]);
  assert.match(ok(await nebula(['user-group', 'delete', 'ops'])).stdout, /user group ops deleted/);
  refused(await nebula(['user-group', 'delete', 'ops']), 'USER_GROUP_NOT_FOUND');
});

test('reports and devices after devices report: filters, pages, json as the API answers', async () => {
  assert.equal((await call(cli.url, 'POST', '/api/v2/device_groups/pos-cli', { body: {} })).status, 200);
  const upToDate = { device_group: 'pos-cli', applied: { device_group_id: 1, prune_id: 1, apps: {}, cron_jobs: {} } };
  const reports = [
    testReport('cli-dev-1', { ...upToDate, report_creation_time: 1_800_000_000 }),
    testReport('cli-dev-1', { ...upToDate, report_creation_time: 1_800_000_100, updated: true }),
    testReport('cli-dev-2', { ...upToDate, applied: { device_group_id: 0, prune_id: 1, apps: {}, cron_jobs: {} }, report_creation_time: 1_800_000_050 }),
  ];
  const posted = await call(cli.url, 'POST', '/api/v2/reports', { body: reports });
  assert.equal(posted.status, 200, posted.text);

  const [table, asJson, page1, since, updated, badOp, badLastId, none] = await Promise.all([
    nebula(['reports', '--device-group', 'pos-cli']),
    nebula(['reports', '--hostname', 'cli-dev-1', '-o', 'json']),
    nebula(['reports', '--device-group', 'pos-cli', '--page-size', '1', '-o', 'json']),
    nebula(['reports', '--device-group', 'pos-cli', '--created', '1800000050', '--created-op', 'gte', '-o', 'json']),
    nebula(['reports', '--hostname', 'cli-dev-1', '--updated', '-o', 'json']),
    nebula(['reports', '--created-op', 'after']),
    nebula(['reports', '--last-id', 'not-an-id']),
    nebula(['reports', '--hostname', 'nobody']),
  ]);
  assert.match(ok(table).stdout, /^CREATED\s+HOSTNAME\s+DEVICE GROUP\s+UPDATED\s+REPORT_ID\n/);
  assert.match(table.stdout, new RegExp(`^2027-01-15T08:00:00.000Z\\s+cli-dev-1\\s+pos-cli\\s+false\\s+${reports[0]!.report_id}$`, 'm'));
  assert.equal(table.stdout.trimEnd().split('\n').length, 5, table.stdout);
  assert.match(table.stdout, /^next page \(if any\): --last-id [0-9a-f]+$/m);
  assert.equal(asJson.stdout, `${(await call(cli.url, 'GET', '/api/v2/reports?hostname=cli-dev-1')).text}\n`);
  assert.deepEqual(json(asJson).data.map((r: { report_id: string }) => r.report_id), [reports[0]!.report_id, reports[1]!.report_id]);
  const first = json(page1);
  assert.equal(first.data.length, 1);
  const page2 = json(await nebula(['reports', '--device-group', 'pos-cli', '--page-size', '1', '--last-id', first.last_id.$oid, '-o', 'json']));
  assert.deepEqual(page2.data.map((r: { report_id: string }) => r.report_id), [reports[1]!.report_id]);
  assert.deepEqual(json(since).data.map((r: { hostname: string }) => r.hostname).sort(), ['cli-dev-1', 'cli-dev-2']);
  assert.deepEqual(json(updated).data.map((r: { report_id: string }) => r.report_id), [reports[1]!.report_id]);
  usage(badOp, /created-op/);
  refused(badLastId, 'INVALID_QUERY');
  assert.equal(ok(none).stdout, 'no reports\n');

  const seenless = (body: { data?: unknown[] } & Record<string, unknown>) => JSON.stringify(body).replace(/"seconds_since_seen":\d+/g, '');
  const [devices, devicesJson, behind, upToDateOnly, device, deviceJson, unknown, badSize] = await Promise.all([
    nebula(['devices']),
    nebula(['devices', '--device-group', 'pos-cli', '-o', 'json']),
    nebula(['devices', '--behind', '-o', 'json']),
    nebula(['devices', '--no-behind', '--device-group', 'pos-cli']),
    nebula(['devices', 'get', 'cli-dev-2']),
    nebula(['devices', 'get', 'cli-dev-1', '-o', 'json']),
    nebula(['devices', 'get', 'nobody']),
    nebula(['devices', '--page-size', '5000']),
  ]);
  assert.match(ok(devices).stdout, /^HOSTNAME\s+DEVICE GROUP\s+SEEN\s+BEHIND\s+WHY\n/);
  assert.match(devices.stdout, /^cli-dev-1\s+pos-cli\s+\d+s ago\s+no\s+-$/m);
  assert.match(devices.stdout, /^cli-dev-2\s+pos-cli\s+\d+s ago\s+yes\s+device_group_id 0 applied, 1 current$/m);
  assert.equal(seenless(json(devicesJson)), seenless((await call(cli.url, 'GET', '/api/v2/devices?device_group=pos-cli')).body));
  assert.deepEqual(json(devicesJson).data.map((d: { hostname: string }) => d.hostname), ['cli-dev-1', 'cli-dev-2']);
  assert.deepEqual(json(behind).data.map((d: { hostname: string }) => d.hostname), ['cli-dev-2']);
  assert.doesNotMatch(ok(upToDateOnly).stdout, /^cli-dev-2/m);
  assert.match(upToDateOnly.stdout, /^cli-dev-1\s/m);
  assert.match(ok(device).stdout, /^behind\s+true$/m);
  assert.match(device.stdout, /^applied\s+device_group_id=0, prune_id=1, apps=\{\}, cron_jobs=\{\}$/m);
  assert.equal(seenless(json(deviceJson)), seenless((await call(cli.url, 'GET', '/api/v2/devices/cli-dev-1')).body));
  refused(unknown, 'DEVICE_NOT_FOUND');
  usage(badSize, /--page-size 5000/);
});
