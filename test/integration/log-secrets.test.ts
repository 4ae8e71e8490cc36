// Credentials and app env values never reach the manager's log. `nebula manager` runs as a
// real process at --log-level trace (every request logged), with a marked admin password and
// token; requests carry marked passwords, tokens, bearer headers, env values, failed logins
// (up to the auth throttle's 429s) and malformed bodies full of secrets. Then no marker,
// no Authorization header value, no generated token and no hash may be anywhere in its output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basic, call, type Reply } from '../helpers/manager.ts';
import { bearer } from '../helpers/fixtures.ts';
import { logLines, startManagerProcess, stopProcess } from '../helpers/process.ts';
import { dropTestStore } from '../helpers/store.ts';

const MARK = `log-secret-${process.pid}-${Date.now().toString(36)}`;
const m = (what: string) => `${MARK}-${what}`;
const ADMIN = 'log-admin';
const V2 = '/api/v2';

test('at trace level, the manager logs requests but no credential, token, hash or env value', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-log-secrets-'));
  t.after(async () => {
    await dropTestStore(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  const proc = await startManagerProcess(dir, { BASIC_AUTH_USER: ADMIN, BASIC_AUTH_PASSWORD: m('admin-password'), AUTH_TOKEN: m('admin-token') }, ['--log-level', 'trace']);
  t.after(() => stopProcess(proc));

  /** Every Authorization header sent, and every secret the manager answered: none may be logged. */
  const secrets: string[] = [];
  const send = async (method: string, path: string, options: { auth?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<Reply> => {
    const auth = options.auth === undefined ? basic(ADMIN, m('admin-password')) : options.auth;
    if (auth !== null) secrets.push(auth);
    return call(proc.url, method, `${V2}${path}`, { ...options, auth });
  };
  const expect = (reply: Reply, status: number, what: string) => assert.equal(reply.status, status, `${what}: ${reply.status} ${reply.text}`);
  const admin = bearer(m('admin-token'));

  // Apps and cron jobs with marked env values: created, replaced, patched, read, and refused.
  expect(await send('POST', '/apps/logged-app', { body: { docker_image: 'nginx:1', env_vars: { DB_PASSWORD: m('env-create') } } }), 200, 'create app');
  expect(await send('PUT', '/apps/logged-app/update', { auth: admin, body: { env_vars: { DB_PASSWORD: m('env-patch') } } }), 202, 'patch app');
  expect(await send('POST', '/apps/logged-app/update', { body: { docker_image: 'nginx:2', env_vars: { API_KEY: m('env-replace') } } }), 202, 'replace app');
  expect(await send('GET', '/apps/logged-app'), 200, 'read app');
  expect(await send('POST', '/apps/bad-env', { body: { docker_image: 'nginx:1', env_vars: { N: { nested: true }, S: m('env-invalid') } } }), 400, 'invalid env');
  expect(await send('POST', '/apps/bad-env', { body: { docker_image: 'nginx:1', env_vars: m('env-not-object') } }), 400, 'env not an object');
  expect(await send('PATCH', '/apps/logged-app/update', { body: { [m('unknown-key')]: m('unknown-value') } }), 400, 'unknown key');
  expect(await send('POST', '/apps/bad-env', { rawBody: `{"docker_image": "nginx:1", "env_vars": {"K": "${m('env-truncated')}"` }), 400, 'malformed JSON');
  expect(await send('POST', '/apps/bad-env', { rawBody: `env_vars=${m('env-text')}`, headers: { 'content-type': 'text/plain' } }), 415, 'text body');
  const huge = JSON.stringify({ docker_image: 'nginx:1', env_vars: { BIG: `${m('env-huge')}${'x'.repeat(1024 * 1024)}` } });
  expect(await send('POST', '/apps/bad-env', { rawBody: huge }), 413, 'body too large');
  const cron = { docker_image: 'busybox:1', schedule: '* * * * *', env_vars: { TOKEN: m('cron-env') } };
  expect(await send('POST', '/cron_jobs/logged-cron', { body: cron }), 200, 'create cron job');
  expect(await send('POST', '/cron_jobs/logged-cron/update', { body: { ...cron, env_vars: { TOKEN: m('cron-env-2') } } }), 202, 'replace cron job');
  expect(await send('POST', '/device_groups/logged-dg', { body: { apps: ['logged-app'], cron_jobs: ['logged-cron'] } }), 200, 'create group');

  // What devices read and report: the config with its env values, both ways.
  const info = await send('GET', '/device_groups/logged-dg/info', { auth: admin });
  expect(info, 200, 'info');
  assert.ok(info.text.includes(m('env-replace')));
  expect(await send('GET', '/device_groups/logged-dg/info', { auth: admin }), 200, 'info again (fast path)');
  expect(await send('GET', '/device_groups/logged-dg/info?wait=1', { auth: admin, headers: { 'if-none-match': info.headers.get('etag') ?? '' } }), 304, 'long-poll');
  const report = {
    report_id: `r-${process.pid}`,
    hostname: 'logged-device',
    device_group: 'logged-dg',
    report_creation_time: Math.floor(Date.now() / 1000),
    current_device_group_config: { status_code: 200, reply: info.body },
    last_error: { at: Date.now(), message: `pull failed: ${m('report-error')}` },
  };
  expect(await send('POST', '/reports', { body: [report] }), 200, 'report');
  expect(await send('POST', '/reports', { body: [{ ...report, report_id: 'r-bad', hostname: 5, extra: m('report-invalid') }] }), 400, 'bad report');
  expect(await send('GET', '/reports'), 200, 'reports');
  expect(await send('GET', '/devices'), 200, 'devices');

  // Users: marked passwords and tokens, set, changed, refreshed, generated, used and refused.
  expect(await send('POST', '/users/logged-user', { body: { password: m('user-password'), token: m('user-token') } }), 200, 'create user');
  expect(await send('POST', '/user_groups/logged-group', { body: { group_members: ['logged-user'], device_groups: { 'logged-dg': 'ro' } } }), 200, 'create group');
  expect(await send('GET', '/status', { auth: basic('logged-user', m('user-password')) }), 200, 'user basic');
  expect(await send('GET', '/device_groups/logged-dg/info', { auth: bearer(m('user-token')) }), 200, 'user bearer');
  expect(await send('PUT', '/users/logged-user/update', { body: { password: m('user-password-2') } }), 200, 'change password');
  expect(await send('PATCH', '/users/logged-user/update', { body: { token: m('user-token-2') } }), 200, 'change token');
  const refreshed = await send('POST', '/users/logged-user/refresh');
  expect(refreshed, 200, 'refresh');
  secrets.push(refreshed.body.token);
  const generated = await send('POST', '/users/generated-user', { body: {} });
  expect(generated, 200, 'generated token');
  secrets.push(generated.body.token);
  expect(await send('GET', '/status', { auth: bearer(refreshed.body.token) }), 200, 'refreshed token');
  expect(await send('POST', '/users/bad-user', { body: { password: 5, token: m('user-token-invalid') } }), 400, 'invalid password type');
  expect(await send('POST', '/users/bad-user', { body: { password: m('user-password-unknown-key'), admin: true } }), 400, 'unknown user key');

  // Failed logins of every kind (fewer than the throttle's 30 a minute)...
  const failures: (string | null)[] = [
    basic('logged-user', m('user-password')), // the old password
    bearer(m('user-token-2')), // the old token
    basic('logged-user', m('wrong-password')),
    basic('nobody-at-all', m('wrong-password-2')),
    basic(ADMIN, m('wrong-admin-password')),
    bearer(m('wrong-token')),
    `Basic ${m('not-base64')}`,
    `Bearer ${m('token')} ${m('two-words')}`,
    `Digest ${m('digest')}`,
    `${m('bare-header')}`,
  ];
  for (const auth of failures) expect(await send('GET', '/apps', { auth }), 401, `failed login ${auth}`);
  // ...then past it: 429 for this address, whatever it tries.
  const statuses = new Set<number>();
  for (let i = 0; i < 30; i++) statuses.add((await send('GET', '/status', { auth: basic('logged-user', m(`guess-${i}`)) })).status);
  assert.ok(statuses.has(429), `throttled: ${[...statuses].join(', ')}`);

  assert.equal(await stopProcess(proc, 'SIGTERM'), 0);
  const output = proc.output();
  const lines = logLines(output);
  // The log is there and at trace level: each request routed through fastify is a line.
  const requests = lines.filter((l) => l.msg === 'request');
  assert.ok(requests.length >= 60, `${requests.length} request lines:\n${output.slice(0, 4000)}`);
  assert.ok(requests.some((l) => l.status === 401) && requests.some((l) => l.status === 413) && requests.some((l) => l.status === 429));
  const problems: string[] = [];
  if (output.includes(MARK)) problems.push(`a marker: ${output.split('\n').filter((l) => l.includes(MARK)).join('\n')}`);
  for (const secret of secrets) if (output.includes(secret)) problems.push(`a credential: ${secret}`);
  for (const secret of secrets) {
    const value = secret.replace(/^\S+\s+/, '');
    if (value.length >= 16 && output.includes(value)) problems.push(`a credential's value: ${value}`);
  }
  if (output.includes('$scrypt$')) problems.push('a password or token hash');
  assert.deepEqual(problems, []);
});
