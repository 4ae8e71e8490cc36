// The systemd units (systemd/*.service): what they must say, `systemd-analyze verify` and
// `security` on a Debian 12 root with the package installed, and the real thing: that root
// booted under systemd (systemd-nspawn, private network), the three services enabled, to see
// the sandbox let each of them work: the manager binds port 80 as user nebula with only
// CAP_NET_BIND_SERVICE and writes its store, the worker reaches the Docker socket (a fake
// engine bound at /run/docker.sock) through SupplementaryGroups=docker, the reporter opens the
// shared store, and a killed service comes back.
// This file builds nothing: run `npm run test:package` (or `sh build/deb.sh` first). Needs root
// and what `npm run services` installs (test/services/packaging.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/ports.ts';
import { HOST_ENV, ROLES, UNITS, chrootIn, debFile, removeTemp, requirePackageTools, run, show, unpackRoot, type Result } from '../helpers/debian.ts';

const DEB = debFile('amd64');



const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The unit's settings: section.key -> values, in order. */
function parseUnit(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1)]);
  }
  return settings;
}

const unitText = (role: string) => readFileSync(join(ROOT, 'systemd', `nebula-${role}.service`), 'utf8');

test('each unit: the binary, its env file, user nebula, its state directory, always restarted, hardened', () => {
  for (const role of ROLES) {
    const u = parseUnit(unitText(role));
    const one = (key: string) => {
      const values = u.get(key);
      assert.ok(values?.length === 1, `nebula-${role}.service: ${key} is set once (${JSON.stringify(values)})`);
      return values[0];
    };
    assert.equal(one('Service.ExecStart'), `/usr/bin/nebula ${role}`);
    assert.equal(one('Service.EnvironmentFile'), `/etc/nebula/${role}.env`, 'required (no "-"): the package ships it');
    assert.equal(one('Service.User'), 'nebula');
    assert.equal(one('Service.Group'), 'nebula');
    assert.equal(u.get('Service.DynamicUser'), undefined, 'a static user, created by the package');
    assert.equal(one('Service.StateDirectory'), role === 'worker' ? 'nebula-worker' : 'nebula');
    const environment = one('Service.Environment')!.split(/\s+/);
    assert.equal(environment[0], role === 'worker' ? 'NEBULA_STATE_DIR=/var/lib/nebula-worker' : 'NEBULA_DATA_DIR=/var/lib/nebula');
    if (role === 'worker') assert.deepEqual(environment.slice(1), ['MALLOC_ARENA_MAX=2', 'NODE_OPTIONS=--max-semi-space-size=1'], 'the device footprint settings');
    assert.equal(one('Service.Restart'), 'always');
    assert.ok(Number(one('Service.RestartSec')) <= 5, 'comes back quickly');
    assert.equal(one('Unit.StartLimitIntervalSec'), '0', 'never gives up restarting');
    for (const [key, value] of Object.entries({
      NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes', ProtectControlGroups: 'yes',
      RestrictSUIDSGID: 'yes', LockPersonality: 'yes', RestrictNamespaces: 'yes', SystemCallArchitectures: 'native',
      UMask: '0077', RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    })) {
      assert.equal(one(`Service.${key}`), value, `nebula-${role}.service: ${key}`);
    }
    assert.equal(u.get('Service.MemoryDenyWriteExecute'), undefined, "V8's JIT needs W+X memory");
    if (role === 'manager') {
      assert.equal(one('Service.AmbientCapabilities'), 'CAP_NET_BIND_SERVICE', 'port 80 by default');
      assert.equal(one('Service.CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
    } else {
      assert.equal(one('Service.CapabilityBoundingSet'), '', 'no capability at all');
      assert.equal(u.get('Service.AmbientCapabilities'), undefined);
    }
    if (role === 'worker') {
      assert.equal(one('Service.SupplementaryGroups'), 'docker', 'the Docker socket is root:docker 0660');
      assert.match(one('Unit.After')!, /\bdocker\.service\b/);
    }
    assert.equal(one('Install.WantedBy'), 'multi-user.target');
  }
});

let tmp: string;
let root: string;
const inRoot = (path: string) => join(root, path);
let chroot: (script: string) => Promise<Result>;

before(async () => {
  await requirePackageTools(['systemd-analyze', 'systemctl', 'systemd-nspawn', 'nsenter', 'chroot', 'tar'], 'chroot, systemd-nspawn');
  if (!existsSync(DEB)) throw new Error(`${DEB} is missing: run \`sh build/deb.sh\` (npm run build:deb) first`);
  tmp = mkdtempSync(join(tmpdir(), 'nebula-units-'));
  root = await unpackRoot(tmp);
  chroot = chrootIn(root);
  writeFileSync(inRoot('/tmp/nebula.deb'), readFileSync(DEB));
  const install = await chroot('dpkg -i /tmp/nebula.deb </dev/null && rm /tmp/nebula.deb');
  assert.equal(install.code, 0, show(install));
});

let container: ChildProcess | undefined;
let engine: Server | undefined;

after(async () => {
  if (container && container.exitCode === null && container.signalCode === null) {
    const exited = once(container, 'exit');
    container.kill('SIGTERM'); // nspawn: an orderly shutdown of the container
    const timer = setTimeout(() => container?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  if (engine) await new Promise((resolve) => engine!.close(resolve));
  if (!tmp) return;
  // nspawn's mounts live in its own namespace; still, never delete through a leftover mount.
  await removeTemp(tmp);
});

test('systemd-analyze verify: every unit loads cleanly (no warning) with the package installed', async () => {
  const r = await run('systemd-analyze', ['verify', `--root=${root}`, ...UNITS]);
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stderr.trim(), '', `warnings:\n${r.stderr}`);
  // And it does check: without the binary, verify fails.
  const bin = inRoot('/usr/bin/nebula');
  const moved = `${bin}.away`;
  await run('mv', [bin, moved]);
  try {
    const missing = await run('systemd-analyze', ['verify', `--root=${root}`, 'nebula-manager.service']);
    assert.notEqual(missing.code, 0, show(missing));
    assert.match(missing.stderr, /\/usr\/bin\/nebula/);
  } finally {
    await run('mv', [moved, bin]);
  }
});

test('systemd-analyze security: every unit is rated OK (exposure below 2.5 of 10)', async () => {
  for (const unit of UNITS) {
    const r = await run('systemd-analyze', ['security', '--offline=yes', `--root=${root}`, '--no-pager', unit]);
    const level = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
    assert.ok(level, show(r));
    assert.ok(Number(level[1]) < 2.5, `${unit}: exposure ${level[1]}\n${r.stdout}`);
  }
});

/** The fake Docker engine: answers what the worker asks first, records every request. */
async function startEngine(socket: string, requests: string[]): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').replace(/^\/v[\d.]+/, '').replace(/\?.*$/, '');
    requests.push(`${req.method} ${path}`);
    res.setHeader('content-type', 'application/json');
    if (path === '/version') res.end(JSON.stringify({ ApiVersion: '1.41', MinAPIVersion: '1.12', Version: '20.10.24', Os: 'linux', Arch: 'amd64' }));
    else if (path === '/_ping') res.end('OK');
    else if (req.method === 'GET' && /^\/(containers|networks|images)\/json$|^\/networks$/.test(path)) res.end('[]');
    else {
      res.statusCode = 404;
      res.end(JSON.stringify({ message: 'not in the fake engine' }));
    }
  });
  server.listen(socket);
  await once(server, 'listening');
  return server;
}

test('booted under systemd: all three run sandboxed as nebula, do their job, and come back when killed', async () => {
  // Settings as an operator would write them.
  appendFileSync(inRoot('/etc/nebula/manager.env'), 'BASIC_AUTH_USER=admin\nBASIC_AUTH_PASSWORD=units-test\n');
  appendFileSync(inRoot('/etc/nebula/worker.env'), 'DEVICE_GROUP=units-test\nNEBULA_MANAGER_URI=http://127.0.0.1:80\nNEBULA_MANAGER_AUTH_USER=admin\nNEBULA_MANAGER_AUTH_PASSWORD=units-test\n');
  // No broker: the reporter opens the store, then retries Kafka without ending.
  appendFileSync(inRoot('/etc/nebula/reporter.env'), 'KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1\n');
  const enable = await run('systemctl', [`--root=${root}`, 'enable', ...UNITS]);
  assert.equal(enable.code, 0, show(enable));

  // The Docker socket: root:docker 0660, as docker.io makes it.
  const group = await chroot('groupadd --system docker && getent group docker');
  assert.equal(group.code, 0, show(group));
  const dockerGid = Number(group.stdout.split(':')[2]);
  const socket = join(tmp, 'engine', 'docker.sock');
  mkdirSync(join(tmp, 'engine'));
  const requests: string[] = [];
  engine = await startEngine(socket, requests);
  chownSync(socket, 0, dockerGid);
  chmodSync(socket, 0o660);

  let log = '';
  container = spawn(
    'systemd-nspawn',
    ['--quiet', `--directory=${root}`, `--machine=nebula-units-${process.pid}`, '--register=no', '--keep-unit', '--private-network', `--bind=${socket}:/run/docker.sock`, '--boot', '--console=pipe'],
    { env: HOST_ENV, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  container.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  container.stderr!.on('data', (d: Buffer) => (log += d.toString()));

  // Commands inside the container: its namespaces, its files, its systemd.
  let leader = 0;
  const inside = (...args: string[]) => run('nsenter', [`--target=${leader}`, '--all', '--', ...args]);
  const journal = async () => (await inside('journalctl', '--no-pager', '-o', 'cat', ...UNITS.flatMap((u) => ['-u', u]))).stdout;
  const prop = async (unit: string, name: string) => (await inside('systemctl', 'show', '--value', '-p', name, unit)).stdout.trim();
  const status = async (pid: string) => (await inside('cat', `/proc/${pid}/status`)).stdout;
  const waitFor = async (what: string, check: () => Promise<boolean>, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (container!.exitCode !== null) assert.fail(`the container ended while waiting for ${what}:\n${log}`);
      if (await check()) return;
      await sleep(200);
    }
    assert.fail(`timed out waiting for ${what}\n--- container\n${log}\n--- journal\n${leader ? await journal() : ''}`);
  };
  await waitFor('the container', async () => {
    const children = (() => {
      try {
        return readFileSync(`/proc/${container!.pid}/task/${container!.pid}/children`, 'utf8').trim();
      } catch {
        return '';
      }
    })();
    leader = Number(children.split(' ')[0] || 0);
    return leader > 0 && (await run('nsenter', [`--target=${leader}`, '--all', '--', 'systemctl', 'is-system-running'])).stdout.trim() !== '';
  });
  const curl = (...args: string[]) => inside('curl', '-s', '-m', '5', '-u', 'admin:units-test', '-w', '\n%{http_code}', ...args);

  // The manager: port 80 (ambient CAP_NET_BIND_SERVICE), user nebula, store in /var/lib/nebula.
  await waitFor('the manager on port 80', async () => (await curl('http://127.0.0.1:80/healthz')).stdout.endsWith('\n200'));
  const created = await curl('-X', 'POST', '-H', 'content-type: application/json', '-d', '{"docker_image": "127.0.0.1:5000/busybox:1"}', 'http://127.0.0.1:80/api/v2/apps/web');
  assert.ok(created.stdout.endsWith('\n200'), show(created));
  const nebulaUid = Number((await chroot('id -u nebula')).stdout.trim());
  const managerPid = await prop('nebula-manager.service', 'MainPID');
  const managerStatus = await status(managerPid);
  assert.match(managerStatus, new RegExp(`^Uid:\\s+${nebulaUid}\\s+${nebulaUid}\\s+${nebulaUid}\\s+${nebulaUid}$`, 'm'));
  assert.match(managerStatus, /^CapEff:\s+0000000000000400$/m, 'only CAP_NET_BIND_SERVICE');
  assert.match(managerStatus, /^CapBnd:\s+0000000000000400$/m);
  assert.match(managerStatus, /^NoNewPrivs:\s+1$/m);
  assert.match(managerStatus, /^Seccomp:\s+2$/m, 'SystemCallFilter is on');
  const db = statSync(inRoot('/var/lib/nebula/nebula.db'));
  assert.equal(db.uid, nebulaUid, 'the store belongs to nebula');
  assert.equal(db.mode & 0o777, 0o600, 'UMask=0077');
  assert.equal(statSync(inRoot('/var/lib/nebula')).mode & 0o777, 0o700);

  // The worker: reached the engine's socket through the sandbox, with the docker group.
  await waitFor('the worker to call the engine', async () => requests.some((r) => r === 'GET /version'));
  await waitFor('the worker to start', async () => /nebula worker started/.test(await journal()));
  assert.match(await journal(), /connected to the Docker engine/);
  const workerPid = await prop('nebula-worker.service', 'MainPID');
  const workerStatus = await status(workerPid);
  assert.match(workerStatus, new RegExp(`^Uid:\\s+${nebulaUid}\\b`, 'm'));
  assert.match(workerStatus, new RegExp(`^Groups:.*\\b${dockerGid}\\b`, 'm'), 'SupplementaryGroups=docker');
  assert.match(workerStatus, /^CapEff:\s+0000000000000000$/m);
  assert.equal(await prop('nebula-worker.service', 'NRestarts'), '0', await journal());
  assert.ok(existsSync(inRoot('/var/lib/nebula-worker')), 'the worker state directory');
  assert.equal(statSync(inRoot('/var/lib/nebula-worker')).uid, nebulaUid);

  // The reporter: opened the shared SQLite store and keeps retrying Kafka.
  await waitFor('the reporter to start', async () => /nebula reporter started/.test(await journal()));
  assert.equal(await prop('nebula-reporter.service', 'ActiveState'), 'active');
  assert.equal(await prop('nebula-reporter.service', 'NRestarts'), '0', await journal());

  // Nothing the sandbox refused.
  assert.doesNotMatch(await journal(), /EPERM|EACCES|EROFS|Operation not permitted|Permission denied|Read-only file system/, await journal());

  // Restart=always: a killed manager is back within a few seconds, with its data.
  const kill = await inside('sh', '-c', `kill -9 ${managerPid}`);
  assert.equal(kill.code, 0, show(kill));
  await waitFor('the manager to come back', async () => {
    const pid = await prop('nebula-manager.service', 'MainPID');
    return pid !== '0' && pid !== managerPid && (await curl('http://127.0.0.1:80/readyz')).stdout.endsWith('\n200');
  });
  assert.equal(await prop('nebula-manager.service', 'NRestarts'), '1');
  const app = await curl('http://127.0.0.1:80/api/v2/apps/web');
  assert.ok(app.stdout.endsWith('\n200') && app.stdout.includes('127.0.0.1:5000/busybox:1'), show(app));
});
