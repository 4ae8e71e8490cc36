// The admin CLI as people and scripts run it: `node src/main.ts app create …` (or the binary in
// NEBULA_BINARY) as a child process, against a real manager in this process. Checks what it
// prints (tables, and --output json equal to the API's own answer), its exit codes and stderr,
// and where it finds its settings (flags > the worker's env names > the file `login` writes).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ADMIN_PASSWORD, ADMIN_TOKEN, ADMIN_USER, call, startManager } from '../helpers/manager.ts';
import { cliSuite, json, ok, refused, runCli } from '../helpers/cli.ts';
import { spawn } from 'node:child_process';
import { ROOT, freePort, nebulaBinary } from '../helpers/process.ts';
import { makeTestCa, type TestCa } from '../helpers/tls.ts';

const cli = cliSuite();

/** `nebula <args>`, with HOME and XDG_CONFIG_HOME in a temp dir (no settings file unless a test writes one). */
const nebula = (args: string[], env: Record<string, string> = cli.env, configHome = join(cli.home, 'none')) => runCli(args, { HOME: cli.home, XDG_CONFIG_HOME: configHome, ...env });

test('status, help, and usage errors', async () => {
  const [table, asJson, help, appHelp, none, noManager] = await Promise.all([
    nebula(['status']),
    nebula(['status', '-o', 'json']),
    nebula(['--help']),
    nebula(['app', '--help']),
    nebula(['app']),
    nebula(['app', 'list'], {}),
  ]);
  assert.match(ok(table).stdout, /api_available\s+true/);
  assert.match(table.stdout, new RegExp(`user ${ADMIN_USER}`));
  assert.equal(asJson.stdout, (await call(cli.url, 'GET', '/api/v2/status')).text + '\n');
  for (const word of ['manager', 'worker', 'reporter', 'status', 'login', 'app', 'group', 'prune']) assert.match(ok(help).stdout, new RegExp(`nebula ${word}\\b`));
  for (const word of ['create', 'list', 'get', 'update', 'start', 'stop', 'restart', 'delete']) assert.match(ok(appHelp).stdout, new RegExp(`nebula app ${word}\\b`));
  assert.equal(none.code, 2);
  assert.match(none.stderr, /name an app command/);
  assert.equal(noManager.code, 2);
  assert.match(noManager.stderr, /manager_url/);
});

test('an app from create to delete: ports, env values with "=" and ":", booleans; json equals the API', async () => {
  const env = ['URL=postgres://u:p@db:5432/x?sslmode=require', 'EMPTY=', 'EQ==a=b'];
  const created = json(
    await nebula([
      'app', 'create', 'web', '--image', 'nginx:1.27', '--port', '81:80', '--port', '8080',
      ...env.flatMap((e) => ['--env', e]),
      '--containers-per', 'server=2', '--volume', '/srv/web:/data:ro', '--device', '/dev/ttyUSB0',
      '--network', 'nebula', '--privileged', '--no-rolling-restart', '-o', 'json',
    ]),
  );
  const stored = (await call(cli.url, 'GET', '/api/v2/apps/web')).body;
  assert.deepEqual(created, stored);
  assert.deepEqual(stored.starting_ports, [{ '81': '80' }, 8080]);
  assert.deepEqual(stored.env_vars, { URL: 'postgres://u:p@db:5432/x?sslmode=require', EMPTY: '', EQ: '=a=b' });
  assert.deepEqual(stored.containers_per, { server: 2 });
  assert.deepEqual([stored.volumes, stored.devices, stored.networks], [['/srv/web:/data:ro'], ['/dev/ttyUSB0'], ['nebula']]);
  assert.deepEqual([stored.privileged, stored.rolling_restart, stored.running], [true, false, true]);

  // Reading: tables for people, the API's answer for scripts. A name of digits stays a string.
  assert.equal(json(await nebula(['app', 'create', '007', '--image', 'busybox', '-o', 'json'])).app_name, '007');
  const [list, listJson, get, getJson] = await Promise.all([
    nebula(['app', 'list']),
    nebula(['app', 'list', '-o', 'json']),
    nebula(['app', 'get', 'web']),
    nebula(['app', 'get', 'web', '--output', 'json']),
  ]);
  assert.match(ok(list).stdout, /^APP\n/);
  assert.equal(list.stdout, 'APP\n007\nweb\n');
  assert.deepEqual(json(listJson), (await call(cli.url, 'GET', '/api/v2/apps')).body);
  assert.match(ok(get).stdout, /^starting_ports\s+81:80, 8080$/m);
  assert.match(get.stdout, /^env_vars\s+URL=postgres:\/\/u:p@db:5432\/x\?sslmode=require, EMPTY=, EQ==a=b$/m);
  assert.match(get.stdout, /^privileged\s+true$/m);
  assert.deepEqual(json(getJson), stored);

  // A partial update (PUT) changes only what is given.
  const updated = json(await nebula(['app', 'update', 'web', '--image', 'nginx:1.28', '--no-privileged', '--rolling-restart', '-o', 'json']));
  assert.equal(updated.app_id, stored.app_id + 1);
  assert.deepEqual([updated.docker_image, updated.privileged, updated.rolling_restart], ['nginx:1.28', false, true]);
  assert.deepEqual(updated.env_vars, stored.env_vars);
  assert.deepEqual(updated.starting_ports, stored.starting_ports);
  // --replace (POST) sets the whole app: what is not given takes its default (env_vars: []).
  const replaced = json(await nebula(['app', 'update', 'web', '--replace', '--image', 'nginx:1.29', '--port', '80', '-o', 'json']));
  assert.deepEqual([replaced.docker_image, replaced.starting_ports, replaced.env_vars, replaced.volumes, replaced.rolling_restart], ['nginx:1.29', [80], [], [], false]);

  // stop, restart refused while stopped, start, restart
  const stopped = await nebula(['app', 'stop', 'web']);
  assert.match(ok(stopped).stdout, /app web stopped/);
  assert.equal((await call(cli.url, 'GET', '/api/v2/apps/web')).body.running, false);
  refused(await nebula(['app', 'restart', 'web']), 'APP_NOT_RUNNING');
  assert.equal(json(await nebula(['app', 'start', 'web', '-o', 'json'])).running, true);
  const restarted = json(await nebula(['app', 'restart', 'web', '-o', 'json']));
  assert.equal(restarted.app_id, (await call(cli.url, 'GET', '/api/v2/apps/web')).body.app_id);

  const [deleted, deleted2] = await Promise.all([nebula(['app', 'delete', 'web']), nebula(['app', 'delete', '007', '-o', 'json'])]);
  assert.match(ok(deleted).stdout, /app web deleted/);
  assert.equal(ok(deleted2).stdout, '{}\n');
  const [gone, goneJson] = await Promise.all([nebula(['app', 'get', 'web']), nebula(['app', 'get', 'web', '-o', 'json'])]);
  refused(gone, 'APP_NOT_FOUND');
  refused(goneJson, 'APP_NOT_FOUND');
  assert.match(gone.stderr, /\(HTTP 403\)/);
});

test('exit codes: 401, a bad option before any request (2), a value the API refuses (1), unreachable (3), 5xx (3)', async () => {
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  // A manager that fails: 500 and 503 are "try later" (3), not "refused" (1).
  const broken: Server = createServer((req, res) => {
    res.writeHead(req.url?.includes('status') ? 503 : 500, { 'content-type': 'application/json' });
    res.end('{"code":"INTERNAL","message":"internal error"}');
  });
  broken.listen(0, '127.0.0.1');
  await once(broken, 'listening');
  const brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
  try {
    const runs = await Promise.all([
      nebula(['app', 'list'], { ...cli.env, NEBULA_MANAGER_AUTH_PASSWORD: 'wrong' }),
      nebula(['app', 'list', '--password', 'wrong']),
      // Bad options against an unreachable manager: 2, so no request was tried.
      nebula(['app', 'create', 'x', '--image', 'nginx', '--port', '70000'], { ...cli.env, NEBULA_MANAGER_URI: nowhere }),
      nebula(['app', 'create', 'x', '--image', 'nginx', '--env', 'NOVALUE'], { ...cli.env, NEBULA_MANAGER_URI: nowhere }),
      nebula(['app', 'create', 'x', '--image', 'a', '--image', 'b'], { ...cli.env, NEBULA_MANAGER_URI: nowhere }),
      nebula(['app', 'create', 'x', '--port', '80'], { ...cli.env, NEBULA_MANAGER_URI: nowhere }),
      nebula(['app', 'update', 'x'], { ...cli.env, NEBULA_MANAGER_URI: nowhere }),
      nebula(['app', 'create', 'x', '--image', 'nginx', '--network', 'host,bridge']),
      nebula(['app', 'create', 'bad.name', '--image', 'nginx']),
      nebula(['app', 'list'], { ...cli.env, NEBULA_MANAGER_URI: nowhere }),
      nebula(['app', 'list'], { ...cli.env, NEBULA_MANAGER_URI: brokenUrl }),
      nebula(['status'], { ...cli.env, NEBULA_MANAGER_URI: brokenUrl }),
    ]);
    const [wrongEnv, wrongFlag, badPort, badEnv, twice, noImage, nothing, refusedValue, badName, unreachable, failing, unavailable] = runs;
    refused(wrongEnv!, 'UNAUTHORIZED');
    refused(wrongFlag!, 'UNAUTHORIZED');
    assert.match(wrongEnv!.stderr, /HTTP 401/);
    for (const [run, pattern] of [[badPort, /--port 70000: 70000 is out of range/], [badEnv, /--env NOVALUE: use KEY=VALUE/], [twice, /--image is given 2 times/], [noImage, /--image is required/], [nothing, /nothing to change/]] as const) {
      assert.equal(run!.code, 2, run!.stderr);
      assert.match(run!.stderr, pattern);
      assert.equal(run!.stdout, '');
    }
    refused(refusedValue!, 'INVALID_PARAMETER');
    assert.match(refusedValue!.stderr, /networks/);
    refused(badName!, 'INVALID_NAME');
    for (const run of [unreachable, failing, unavailable]) {
      assert.equal(run!.code, 3, run!.stderr);
      assert.equal(run!.stdout, '');
    }
    assert.match(unreachable!.stderr, /cannot reach the manager/);
    assert.match(failing!.stderr, /answered 500 \(INTERNAL\)/);
    assert.match(unavailable!.stderr, /answered 503/);
    assert.equal((await call(cli.url, 'GET', '/api/v2/apps/x')).status, 403, 'nothing was created');
  } finally {
    broken.close();
  }
});

test('device groups: create, list, get, update (partial and replace), prune, delete; prune everything', async () => {
  await Promise.all([
    call(cli.url, 'POST', '/api/v2/apps/g-web', { body: { docker_image: 'nginx' } }),
    call(cli.url, 'POST', '/api/v2/apps/g-cache', { body: { docker_image: 'redis' } }),
  ]);
  const created = json(await nebula(['group', 'create', 'pos-eu', '--apps', 'g-web,g-cache', '-o', 'json']));
  assert.deepEqual(created, (await call(cli.url, 'GET', '/api/v2/device_groups/pos-eu')).body);
  assert.deepEqual([created.apps, created.cron_jobs], [['g-web', 'g-cache'], []]);

  ok(await nebula(['group', 'create', 'empty']));
  const [list, listJson, get, missingMember, missingGroup] = await Promise.all([
    nebula(['group', 'list']),
    nebula(['group', 'list', '-o', 'json']),
    nebula(['group', 'get', 'pos-eu']),
    nebula(['group', 'create', 'pos-us', '--apps', 'g-web,nope']),
    nebula(['group', 'get', 'nope']),
  ]);
  assert.match(ok(list).stdout, /^DEVICE GROUP\nempty\npos-eu\n$/);
  assert.deepEqual(json(listJson), (await call(cli.url, 'GET', '/api/v2/device_groups')).body);
  assert.match(ok(get).stdout, /^apps\s+g-web, g-cache$/m);
  refused(missingMember, 'APP_NOT_FOUND');
  assert.match(missingMember.stderr, /nope/);
  refused(missingGroup, 'DEVICE_GROUP_NOT_FOUND');

  const partial = json(await nebula(['group', 'update', 'pos-eu', '--apps', 'g-web', '-o', 'json']));
  assert.deepEqual([partial.apps, partial.device_group_id], [['g-web'], created.device_group_id + 1]);
  const cleared = json(await nebula(['group', 'update', 'pos-eu', '--apps', '', '-o', 'json']));
  assert.deepEqual(cleared.apps, []);
  const replaced = json(await nebula(['group', 'update', 'pos-eu', '--replace', '--apps', 'g-cache', '-o', 'json']));
  assert.deepEqual([replaced.apps, replaced.cron_jobs], [['g-cache'], []]);

  const pruned = json(await nebula(['group', 'prune', 'pos-eu', '-o', 'json']));
  assert.equal(pruned.prune_id, created.prune_id + 1);
  const [all, allJson] = [await nebula(['prune']), await nebula(['prune', '-o', 'json'])];
  assert.match(ok(all).stdout, /^DEVICE GROUP\s+PRUNE_ID\n/);
  assert.match(all.stdout, new RegExp(`^pos-eu\\s+${created.prune_id + 2}$`, 'm'));
  assert.deepEqual(json(allJson).prune_ids, { 'pos-eu': created.prune_id + 3, empty: 3 });

  const [deleted, deleted2] = await Promise.all([nebula(['group', 'delete', 'pos-eu']), nebula(['group', 'delete', 'empty'])]);
  assert.match(ok(deleted).stdout, /device group pos-eu deleted/);
  ok(deleted2);
  refused(await nebula(['group', 'delete', 'pos-eu']), 'DEVICE_GROUP_NOT_FOUND');
});

test('login writes a 0600 file later commands use; flags and env win over it', async () => {
  const configHome = mkdtempSync(join(cli.home, 'xdg-'));
  const file = join(configHome, 'nebula', 'cli.json');
  const port = new URL(cli.url).port;

  // Without --save-secret the password stays out of the file: it comes from the environment.
  const login = await nebula(['login', '--manager-url', cli.url, '--user', ADMIN_USER, '--password', ADMIN_PASSWORD], {}, configHome);
  assert.match(ok(login).stdout, /Logged in/);
  assert.match(login.stdout, /password was not saved/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { manager_url: cli.url, user: ADMIN_USER });
  const [noPassword, withPassword, wrongLogin] = await Promise.all([
    nebula(['status'], {}, configHome),
    nebula(['app', 'list'], { NEBULA_MANAGER_AUTH_PASSWORD: ADMIN_PASSWORD }, configHome),
    nebula(['login', '--manager-url', cli.url, '--token', 'wrong-token'], {}, join(cli.home, 'never-written')),
  ]);
  assert.equal(noPassword.code, 2);
  assert.match(noPassword.stderr, /password/);
  assert.match(ok(withPassword).stdout, /^APP\n/);
  refused(wrongLogin, 'UNAUTHORIZED');
  assert.throws(() => statSync(join(cli.home, 'never-written', 'nebula', 'cli.json')), /ENOENT/);

  // With --save-secret (and NEBULA_MANAGER_HOST/PORT, the worker's names) the token is kept.
  ok(await nebula(['login', '--save-secret'], { NEBULA_MANAGER_HOST: '127.0.0.1', NEBULA_MANAGER_PORT: port, NEBULA_MANAGER_AUTH_TOKEN: ADMIN_TOKEN }, configHome));
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { manager_url: `http://127.0.0.1:${port}`, token: ADMIN_TOKEN });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const [fromFile, flagWins, envWins, envCredentialsWin] = await Promise.all([
    nebula(['status'], {}, configHome),
    nebula(['status', '--manager-url', nowhere], {}, configHome),
    nebula(['status'], { NEBULA_MANAGER_URI: nowhere }, configHome),
    nebula(['status'], { NEBULA_MANAGER_AUTH_USER: ADMIN_USER, NEBULA_MANAGER_AUTH_PASSWORD: 'wrong' }, configHome),
  ]);
  assert.match(ok(fromFile).stdout, /authenticated as\s+a token/);
  assert.equal(flagWins.code, 3);
  assert.equal(envWins.code, 3);
  refused(envCredentialsWin, 'UNAUTHORIZED');
});

test('login asks for the password at a terminal (not echoed) and reads it with --password-stdin; a script without either fails at once', async () => {
  const configHome = mkdtempSync(join(cli.home, 'xdg-prompt-'));
  // A real pseudo-terminal: script(1) runs the CLI with its stdin and stdout on a pty.
  const binary = nebulaBinary();
  const command = [...(binary ? [binary] : [process.execPath, 'src/main.ts']), 'login', '--manager-url', cli.url, '--user', ADMIN_USER]
    .map((w) => `'${w.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const tty = spawn('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: cli.home, XDG_CONFIG_HOME: configHome, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let seen = '';
  const prompted = new Promise<void>((resolve) => {
    tty.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(`Password for ${ADMIN_USER}: `)) resolve();
    });
  });
  const exited = once(tty, 'exit');
  await Promise.race([prompted, exited]);
  tty.stdin.write(`${ADMIN_PASSWORD}\r`);
  const [code] = await exited;
  assert.equal(code, 0, seen);
  assert.match(seen, /Logged in/);
  assert.ok(!seen.includes(ADMIN_PASSWORD), `the password is not echoed: ${seen}`);
  assert.deepEqual(JSON.parse(readFileSync(join(configHome, 'nebula', 'cli.json'), 'utf8')), { manager_url: cli.url, user: ADMIN_USER });

  const [piped, wrongPiped, noTerminal] = await Promise.all([
    runCli(['login', '--manager-url', cli.url, '--user', ADMIN_USER, '--password-stdin', '--save-secret', '-o', 'json'], { HOME: cli.home, XDG_CONFIG_HOME: join(cli.home, 'xdg-piped') }, `${ADMIN_PASSWORD}\n`),
    runCli(['login', '--manager-url', cli.url, '--user', ADMIN_USER, '--password-stdin'], { HOME: cli.home, XDG_CONFIG_HOME: join(cli.home, 'xdg-wrong') }, 'not-the-password\n'),
    nebula(['login', '--manager-url', cli.url, '--user', ADMIN_USER], {}, join(cli.home, 'xdg-none')),
  ]);
  assert.equal(json(piped).saved.password, '<saved>');
  assert.equal(JSON.parse(readFileSync(join(cli.home, 'xdg-piped', 'nebula', 'cli.json'), 'utf8')).password, ADMIN_PASSWORD);
  refused(wrongPiped, 'UNAUTHORIZED');
  assert.equal(noTerminal.code, 2, 'no terminal, no password: a usage error, not a hang');
  assert.match(noTerminal.stderr, /password/);
});

test('an https manager with a private CA: --manager-ca-file (or NEBULA_MANAGER_CA_FILE)', async (t) => {
  const ca: TestCa = makeTestCa();
  const tls = await startManager({}, { tls: { cert: ca.cert, key: ca.key } });
  t.after(async () => {
    await tls.close();
    ca.remove();
  });
  const auth = { NEBULA_MANAGER_AUTH_TOKEN: ADMIN_TOKEN };
  const [flag, env, unverified, notHttps] = await Promise.all([
    nebula(['app', 'list', '--manager-url', tls.url, '--manager-ca-file', ca.caFile], auth),
    nebula(['status'], { ...auth, NEBULA_MANAGER_URI: tls.url, NEBULA_MANAGER_CA_FILE: ca.caFile }),
    nebula(['status', '--manager-url', tls.url], auth),
    nebula(['status', '--manager-url', cli.url, '--manager-ca-file', ca.caFile], auth),
  ]);
  assert.match(ok(flag).stdout, /^APP\n/);
  ok(env);
  assert.equal(unverified.code, 3, 'a certificate it cannot verify: no answer taken');
  assert.match(unverified.stderr, /certificate/);
  assert.equal(notHttps.code, 2);
  assert.match(notHttps.stderr, /manager_ca_file/);
});
