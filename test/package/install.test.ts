// build/install.sh as users run it: `curl -fsSL <url>/install.sh | sh` inside a clean Debian 12
// root (chroot), against dist/ served on 127.0.0.1 by this test: what it installs, a corrupted
// download refused by its checksum, a second run (with wget) that keeps edited settings, the
// "latest" release resolved from SHA256SUMS, and its clear refusals (not root, unknown arch, no
// release, the .deb already installed).
// This file builds nothing: run `npm run test:package` (or `sh build/deb.sh` first). Needs root
// and what `npm run services` installs (test/services/packaging.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { appendFileSync, chmodSync, createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ROOT } from '../helpers/ports.ts';
import { CHROOT_ENV, ROLES, VERSION, chrootIn, removeTemp, requirePackageTools, run, show, unpackRoot, type Result } from '../helpers/debian.ts';

const DIST = join(ROOT, 'dist');
const TARBALL = `nebula-${VERSION}-linux-x64.tar.gz`;





let tmp: string;
let root: string;
let server: Server;
let base: string;
const requests: string[] = [];
const inRoot = (path: string) => join(root, path);
let chroot: (script: string) => Promise<Result>;
const mode = (path: string) => (lstatSync(inRoot(path)).mode & 0o7777).toString(8).padStart(4, '0');

/**
 * dist/ over HTTP: /<file> as built; /raw/install.sh is build/install.sh itself (no version:
 * it resolves "latest"); /bad/<file> is the same with the tarball corrupted (one byte flipped).
 */
function serve(): Promise<Server> {
  const files = new Set(['install.sh', 'SHA256SUMS', TARBALL]);
  const s = createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    const bad = url.startsWith('/bad/');
    const name = basename(url);
    if (url === '/raw/install.sh') return createReadStream(join(ROOT, 'build', 'install.sh')).pipe(res);
    if (!files.has(name) || !['/', '/bad/'].includes(url.slice(0, url.length - name.length))) {
      res.statusCode = 404;
      return res.end('not found\n');
    }
    if (bad && name === TARBALL) {
      const body = readFileSync(join(DIST, name));
      body[body.length >> 1]! ^= 0xff;
      return res.end(body);
    }
    createReadStream(join(DIST, name)).pipe(res);
  });
  s.listen(0, '127.0.0.1');
  return once(s, 'listening').then(() => s);
}

before(async () => {
  await requirePackageTools(['chroot', 'tar', 'systemctl'], 'chroot');
  for (const f of ['install.sh', 'SHA256SUMS', TARBALL, `nebula_${VERSION.replaceAll('-', '~')}_amd64.deb`]) {
    if (!existsSync(join(DIST, f))) throw new Error(`dist/${f} is missing: run \`sh build/deb.sh\` (npm run build:deb) first`);
  }
  tmp = mkdtempSync(join(tmpdir(), 'nebula-install-'));
  root = await unpackRoot(tmp);
  chroot = chrootIn(root);
  server = await serve();
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (!tmp) return;
  await removeTemp(tmp);
});

test('dist/install.sh defaults to this version; SHA256SUMS lists the release files', () => {
  assert.match(readFileSync(join(DIST, 'install.sh'), 'utf8'), new RegExp(`^DEFAULT_VERSION=${VERSION.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(readFileSync(join(ROOT, 'build', 'install.sh'), 'utf8'), /^DEFAULT_VERSION=latest$/m);
  const sums = readFileSync(join(DIST, 'SHA256SUMS'), 'utf8');
  for (const f of ['install.sh', TARBALL, `nebula-${VERSION}-linux-arm64.tar.gz`]) assert.match(sums, new RegExp(`^[0-9a-f]{64}  ${f.replace(/\./g, '\\.')}$`, 'm'));
});

test('a corrupted download fails the checksum, clearly, and installs nothing', async () => {
  const r = await chroot(`curl -fsSL ${base}/install.sh | NEBULA_BASE_URL=${base}/bad sh`);
  assert.notEqual(r.code, 0, show(r));
  assert.match(r.stderr, new RegExp(`error: checksum mismatch for ${TARBALL.replace(/\./g, '\\.')}: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}; nothing was installed`));
  assert.ok(!existsSync(inRoot('/usr/bin/nebula')));
  assert.ok(!existsSync(inRoot('/etc/nebula')));
  assert.equal((await chroot('getent passwd nebula')).code, 2, 'no user either');
});

test('curl | sh installs the binary, the units, the env files and the user; enables nothing', async () => {
  const r = await chroot(`curl -fsSL ${base}/install.sh | NEBULA_BASE_URL=${base} sh`);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, new RegExp(`installed /usr/bin/nebula \\(${VERSION.replace(/\./g, '\\.')}\\)`));
  assert.match(r.stdout, /Nothing is enabled or started/);
  assert.match(r.stdout, /systemctl enable --now nebula-<role>/);
  assert.ok(requests.includes(`/${TARBALL}`));

  assert.equal(mode('/usr/bin/nebula'), '0755');
  assert.equal((await chroot('/usr/bin/nebula --version')).stdout.trim(), VERSION);
  const unpacked = join(tmp, 'tarball');
  mkdirSync(unpacked);
  assert.equal((await run('tar', ['-C', unpacked, '-xzf', join(DIST, TARBALL)])).code, 0);
  const release = join(unpacked, `nebula-${VERSION}-linux-x64`);
  for (const role of ROLES) {
    const unit = `/lib/systemd/system/nebula-${role}.service`;
    assert.equal(mode(unit), '0644');
    assert.equal(readFileSync(inRoot(unit), 'utf8'), readFileSync(join(ROOT, 'systemd', `nebula-${role}.service`), 'utf8'));
    const env = `/etc/nebula/${role}.env`;
    assert.equal(mode(env), '0600');
    assert.equal(statSync(inRoot(env)).uid, 0);
    assert.equal(readFileSync(inRoot(env), 'utf8'), readFileSync(join(release, 'env', `${role}.env`), 'utf8'));
  }
  assert.ok(readFileSync(inRoot('/usr/bin/nebula')).equals(readFileSync(join(release, 'nebula'))), 'the binary of the release');
  const user = await chroot('getent passwd nebula');
  assert.equal(user.code, 0, show(user));
  assert.match(user.stdout, /^nebula:x:\d{3}:\d+:Nebula services:\/nonexistent:\/usr\/sbin\/nologin$/m);
  const enabled = await run('systemctl', [`--root=${root}`, 'is-enabled', 'nebula-manager.service', 'nebula-worker.service', 'nebula-reporter.service']);
  assert.deepEqual(enabled.stdout.trim().split('\n'), ['disabled', 'disabled', 'disabled']);
  assert.ok(!existsSync(inRoot('/var/lib/nebula')) && !existsSync(inRoot('/var/lib/nebula-worker')));
});

test('a second run (wget, systemd running) keeps edited env files and restarts only running services', async () => {
  appendFileSync(inRoot('/etc/nebula/worker.env'), 'DEVICE_GROUP=pos-eu\n');
  const edited = readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8');
  // No curl: install.sh falls back to wget. systemd "running": a stub systemctl logs its calls.
  renameSync(inRoot('/usr/bin/curl'), inRoot('/usr/bin/curl.away'));
  renameSync(inRoot('/usr/bin/systemctl'), inRoot('/usr/bin/systemctl.real'));
  writeFileSync(inRoot('/usr/bin/systemctl'), '#!/bin/sh\necho "$*" >>/tmp/systemctl.log\n');
  chmodSync(inRoot('/usr/bin/systemctl'), 0o755);
  mkdirSync(inRoot('/run/systemd/system'), { recursive: true });
  try {
    const r = await chroot(`wget -qO- ${base}/install.sh | NEBULA_BASE_URL=${base} sh`);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /kept \/etc\/nebula\/worker\.env/);
    assert.equal(readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8'), edited);
    assert.equal(mode('/etc/nebula/worker.env'), '0600');
    assert.deepEqual(readdirSync(inRoot('/etc/nebula')).sort(), ['manager.env', 'reporter.env', 'worker.env']);
    assert.doesNotMatch(r.stdout, /created the system user/, 'the user exists already');
    assert.match(r.stdout, new RegExp(`done: nebula ${VERSION.replace(/\./g, '\\.')} \\(was ${VERSION.replace(/\./g, '\\.')}\\); running services were restarted onto it`));
    assert.equal((await chroot('getent passwd nebula | wc -l')).stdout.trim(), '1');
    assert.deepEqual(readFileSync(inRoot('/tmp/systemctl.log'), 'utf8').trim().split('\n'), [
      'daemon-reload',
      'try-restart nebula-manager.service nebula-worker.service nebula-reporter.service',
    ]);
    assert.equal((await chroot('/usr/bin/nebula --version')).stdout.trim(), VERSION);
  } finally {
    renameSync(inRoot('/usr/bin/curl.away'), inRoot('/usr/bin/curl'));
    renameSync(inRoot('/usr/bin/systemctl.real'), inRoot('/usr/bin/systemctl'));
    rmSync(inRoot('/run/systemd/system'), { recursive: true, force: true });
  }
});

test('the script from the repository (no version) installs the latest release listed in SHA256SUMS', async () => {
  rmSync(inRoot('/usr/bin/nebula'));
  const r = await chroot(`curl -fsSL ${base}/raw/install.sh | NEBULA_BASE_URL=${base} sh`);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, new RegExp(`done: nebula ${VERSION.replace(/\./g, '\\.')}\\.`));
  assert.equal((await chroot('/usr/bin/nebula --version')).stdout.trim(), VERSION);
});

test('clear refusals: not root, an unknown architecture, no release at the URL, the .deb installed', async () => {
  writeFileSync(inRoot('/tmp/install.sh'), readFileSync(join(DIST, 'install.sh')));
  const user = await run('chroot', ['--userspec=65534:65534', root, '/bin/sh', '/tmp/install.sh'], CHROOT_ENV);
  assert.equal(user.code, 1, show(user));
  assert.match(user.stderr, /error: run as root/);

  mkdirSync(inRoot('/tmp/fake'), { recursive: true });
  writeFileSync(inRoot('/tmp/fake/uname'), '#!/bin/sh\nif [ "$1" = -m ]; then echo riscv64; else exec /usr/bin/uname "$@"; fi\n');
  chmodSync(inRoot('/tmp/fake/uname'), 0o755);
  const arch = await chroot('PATH=/tmp/fake:$PATH sh /tmp/install.sh');
  assert.equal(arch.code, 1, show(arch));
  assert.match(arch.stderr, /error: unsupported architecture riscv64: Nebula is built for x86_64 and aarch64/);

  const missing = await chroot(`NEBULA_BASE_URL=${base}/nothing-here sh /tmp/install.sh`);
  assert.equal(missing.code, 1, show(missing));
  assert.match(missing.stderr, new RegExp(`error: cannot download ${base}/nothing-here/SHA256SUMS`));

  // Moving to the .deb takes the files over; dpkg asks about edited env files (here: keep them).
  // Then install.sh leaves nebula to the package.
  const edited = readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8');
  writeFileSync(inRoot('/tmp/nebula.deb'), readFileSync(join(DIST, `nebula_${VERSION.replaceAll('-', '~')}_amd64.deb`)));
  const deb = await chroot('dpkg -i --force-confold /tmp/nebula.deb </dev/null');
  assert.equal(deb.code, 0, show(deb));
  assert.equal(readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8'), edited);
  const packaged = await chroot(`NEBULA_BASE_URL=${base} sh /tmp/install.sh`);
  assert.equal(packaged.code, 1, show(packaged));
  assert.match(packaged.stderr, /error: nebula is installed as a Debian package here: upgrade it with apt or dpkg -i instead/);
});
