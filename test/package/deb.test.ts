// The Debian packages (sh build/deb.sh): contents, lintian, and a whole life cycle in a clean
// Debian 12 root (install, reinstall, upgrade, remove, purge) with `chroot <root> dpkg`.
// Inside the root, systemctl is a stub that logs its arguments and /run/systemd/system exists,
// so the maintainer scripts take their "systemd is running" branches and the test sees every
// systemctl call they make (none may enable or start anything).
// This file builds nothing: run `npm run test:package` (or `sh build/deb.sh` first). Needs root
// and what `npm run services` installs (test/services/packaging.sh).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, appendFileSync, chmodSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/ports.ts';
import { DEB_VERSION, ROLES, UNITS, VERSION, chrootIn, debFile, removeTemp, requirePackageTools, run, show, unpackRoot, type Result } from '../helpers/debian.ts';
import { MANAGER_OPTIONS } from '../../src/config/manager.ts';
import { WORKER_OPTIONS } from '../../src/config/worker.ts';
import { REPORTER_OPTIONS } from '../../src/config/reporter.ts';

const DEB = { amd64: debFile('amd64'), arm64: debFile('arm64') };
const OPTIONS = { manager: MANAGER_OPTIONS, worker: WORKER_OPTIONS, reporter: REPORTER_OPTIONS };






let tmp: string;
let root: string;
let lintian: Record<'amd64' | 'arm64', Promise<Result>>;

/** A shell script run in the Debian root as root. */
let chroot: (script: string) => Promise<Result>;
const inRoot = (path: string) => join(root, path);
const systemctlLog = () => (existsSync(inRoot('/tmp/systemctl.log')) ? readFileSync(inRoot('/tmp/systemctl.log'), 'utf8') : '');

before(async () => {
  await requirePackageTools(['dpkg-deb', 'lintian', 'chroot', 'tar', 'systemctl', 'objdump'], 'chroot, dpkg in a Debian root');
  for (const deb of Object.values(DEB)) {
    if (!existsSync(deb)) throw new Error(`${deb} is missing: run \`sh build/deb.sh\` (npm run build:deb) first`);
  }
  tmp = mkdtempSync(join(tmpdir(), 'nebula-deb-'));
  // Lintian takes ~40 s per package: both run while the other tests do.
  const lint = (deb: string) => run('lintian', ['--display-level', '>=pedantic', '--display-info', deb]);
  lintian = { amd64: lint(DEB.amd64), arm64: lint(DEB.arm64) };

  root = await unpackRoot(tmp);
  chroot = chrootIn(root);
  // systemd "running": a stub systemctl that logs its calls (deb-systemd-invoke calls it too).
  renameSync(inRoot('/usr/bin/systemctl'), inRoot('/usr/bin/systemctl.real'));
  writeFileSync(inRoot('/usr/bin/systemctl'), '#!/bin/sh\necho "$*" >>/tmp/systemctl.log\n');
  chmodSync(inRoot('/usr/bin/systemctl'), 0o755);
  mkdirSync(inRoot('/run/systemd/system'), { recursive: true });
  writeFileSync(inRoot('/tmp/nebula.deb'), readFileSync(DEB.amd64));
});

after(async () => {
  if (!tmp) return;
  await Promise.allSettled(Object.values(lintian ?? {}));
  await removeTemp(tmp);
});

function mode(path: string): string {
  return (lstatSync(inRoot(path)).mode & 0o7777).toString(8).padStart(4, '0');
}

function owner(path: string): string {
  const s = lstatSync(inRoot(path));
  return `${s.uid}:${s.gid}`;
}

test('the package holds the binary, the units, the env files, docs, and nothing else (both arches alike)', async () => {
  const listing = async (deb: string) => {
    const r = await run('dpkg-deb', ['--contents', deb]);
    assert.equal(r.code, 0, show(r));
    // mode owner size date time path: keep mode, owner and path.
    return r.stdout.trim().split('\n').map((l) => {
      const f = l.split(/\s+/);
      return `${f[0]} ${f[1]} ${f.slice(5).join(' ')}`;
    });
  };
  const amd64 = await listing(DEB.amd64);
  assert.deepEqual(amd64.filter((l) => !l.startsWith('d')), [
    '-rw------- root/root ./etc/nebula/manager.env',
    '-rw------- root/root ./etc/nebula/reporter.env',
    '-rw------- root/root ./etc/nebula/worker.env',
    '-rw-r--r-- root/root ./lib/systemd/system/nebula-manager.service',
    '-rw-r--r-- root/root ./lib/systemd/system/nebula-reporter.service',
    '-rw-r--r-- root/root ./lib/systemd/system/nebula-worker.service',
    '-rwxr-xr-x root/root ./usr/bin/nebula',
    '-rw-r--r-- root/root ./usr/share/doc/nebula/changelog.gz',
    '-rw-r--r-- root/root ./usr/share/doc/nebula/copyright',
    '-rw-r--r-- root/root ./usr/share/lintian/overrides/nebula',
    '-rw-r--r-- root/root ./usr/share/man/man1/nebula.1.gz',
  ]);
  assert.deepEqual(await listing(DEB.arm64), amd64);

  for (const [arch, deb] of Object.entries(DEB)) {
    const control = await run('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Architecture', 'Depends']);
    assert.equal(control.code, 0, show(control));
    assert.match(control.stdout, new RegExp(`^Package: nebula\nVersion: ${DEB_VERSION.replace(/[.+~]/g, '\\$&')}\nArchitecture: ${arch}\n`));
    assert.match(control.stdout, /Depends: .*passwd/);
  }
});

test('the package is reproducible: one timestamp (SOURCE_DATE_EPOCH) on every file, root owners', async () => {
  const r = await run('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -tv --full-time --numeric-owner`, 'sh', DEB.amd64]);
  assert.equal(r.code, 0, show(r));
  const lines = r.stdout.trim().split('\n');
  const stamps = new Set(lines.map((l) => l.split(/\s+/).slice(3, 5).join(' ')));
  assert.equal(stamps.size, 1, `more than one mtime in the package: ${[...stamps].join(', ')}`);
  assert.ok(lines.every((l) => l.split(/\s+/)[1] === '0/0'), 'every file is owned by 0/0');
});

test('Depends covers every library the binary links (libc6, libgcc-s1, libstdc++6)', async () => {
  const extracted = join(tmp, 'x64');
  const x = await run('dpkg-deb', ['-x', DEB.amd64, extracted]);
  assert.equal(x.code, 0, show(x));
  const r = await run('objdump', ['-p', join(extracted, 'usr/bin/nebula')]);
  assert.equal(r.code, 0, show(r));
  const needed = [...r.stdout.matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]!);
  const covered = /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|ld-linux-x86-64\.so\.2|libgcc_s\.so\.1|libstdc\+\+\.so\.6)$/;
  assert.deepEqual(needed.filter((lib) => !covered.test(lib)), [], 'a new shared library: add its package to build/debian/control.in Depends');
  rmSync(extracted, { recursive: true, force: true });
});

test('dpkg -i in a clean Debian 12: files, modes, owners, conffiles, the user; nothing enabled or started', async () => {
  const r = await chroot('dpkg -i /tmp/nebula.deb </dev/null');
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /no service is enabled or started/);
  assert.match(r.stdout, /edit \/etc\/nebula\/<role>\.env/);
  assert.match(r.stdout, /systemctl enable --now nebula-<role>/);

  assert.equal(mode('/usr/bin/nebula'), '0755');
  assert.equal(owner('/usr/bin/nebula'), '0:0');
  for (const role of ROLES) {
    const unit = `/lib/systemd/system/nebula-${role}.service`;
    assert.equal(mode(unit), '0644');
    assert.equal(owner(unit), '0:0');
    assert.equal(readFileSync(inRoot(unit), 'utf8'), readFileSync(join(ROOT, 'systemd', `nebula-${role}.service`), 'utf8'), `${unit} differs from systemd/: rebuild the package`);
    const env = `/etc/nebula/${role}.env`;
    assert.equal(mode(env), '0600', `${env} must be root-only (secrets)`);
    assert.equal(owner(env), '0:0');
    const text = readFileSync(inRoot(env), 'utf8');
    // Every setting the role reads is there, commented out; secrets say so.
    for (const def of OPTIONS[role]) {
      assert.match(text, new RegExp(`^#${def.env[0]}=`, 'm'), `${env} lacks ${def.env[0]}: rebuild the package (npm run build:deb)`);
      if (def.secret) assert.match(text, new RegExp(`# SECRET[^\\n]*\\n(#[^\\n]*\\n)*#${def.env[0]}=\\n`), `${def.env[0]} is not marked secret`);
    }
    assert.doesNotMatch(text, /^[A-Z]/m, `${env}: every setting commented out`);
  }
  assert.equal(mode('/etc/nebula'), '0755');
  for (const doc of ['/usr/share/doc/nebula/copyright', '/usr/share/doc/nebula/changelog.gz', '/usr/share/man/man1/nebula.1.gz']) assert.equal(mode(doc), '0644');

  const conffiles = await chroot("dpkg-query -W -f='${Conffiles}' nebula");
  assert.deepEqual(
    conffiles.stdout.trim().split('\n').map((l) => l.trim().split(' ')[0]).sort(),
    ['/etc/nebula/manager.env', '/etc/nebula/reporter.env', '/etc/nebula/worker.env'],
  );

  const user = await chroot('getent passwd nebula; getent group nebula; id -nG nebula');
  assert.equal(user.code, 0, show(user));
  const [passwd, group] = user.stdout.trim().split('\n');
  const [, , uid, gid, , home, shell] = passwd!.split(':');
  assert.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid: ${passwd}`);
  assert.equal(group!.split(':')[2], gid, 'primary group nebula');
  assert.equal(home, '/nonexistent');
  assert.equal(shell, '/usr/sbin/nologin');

  const version = await chroot('/usr/bin/nebula --version');
  assert.equal(version.code, 0, show(version));
  assert.equal(version.stdout.trim(), VERSION);

  // Only daemon-reload, and nothing enabled.
  assert.deepEqual(systemctlLog().trim().split('\n'), ['--system daemon-reload']);
  for (const unit of UNITS) {
    const enabled = await run('systemctl', [`--root=${root}`, 'is-enabled', unit]);
    assert.equal(enabled.stdout.trim(), 'disabled', `${unit}: ${show(enabled)}`);
  }
  assert.ok(!existsSync(inRoot('/var/lib/nebula')) && !existsSync(inRoot('/var/lib/nebula-worker')), 'no state directory before a service runs');
});

test('dpkg -i again (reinstall) and an upgrade keep an edited env file and restart only running services', async () => {
  appendFileSync(inRoot('/etc/nebula/worker.env'), 'DEVICE_GROUP=pos-eu\n');
  const edited = readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8');
  writeFileSync(inRoot('/tmp/systemctl.log'), '');

  const again = await chroot('dpkg -i /tmp/nebula.deb </dev/null');
  assert.equal(again.code, 0, show(again));
  assert.equal(readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8'), edited);
  assert.doesNotMatch(again.stdout, /no service is enabled/, 'the first-install message is for the first install');
  assert.deepEqual(systemctlLog().trim().split('\n'), ['--system daemon-reload', `try-restart ${UNITS.join(' ')}`]);

  // The same package as the next version.
  const unpacked = join(tmp, 'upgrade');
  assert.equal((await run('dpkg-deb', ['-R', DEB.amd64, unpacked])).code, 0);
  const control = join(unpacked, 'DEBIAN', 'control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${DEB_VERSION}+1`));
  const built = await run('dpkg-deb', ['--root-owner-group', '-Znone', '--build', unpacked, inRoot('/tmp/nebula-next.deb')]);
  assert.equal(built.code, 0, show(built));
  rmSync(unpacked, { recursive: true, force: true });

  writeFileSync(inRoot('/tmp/systemctl.log'), '');
  const upgrade = await chroot('dpkg -i /tmp/nebula-next.deb </dev/null');
  assert.equal(upgrade.code, 0, show(upgrade));
  assert.match(upgrade.stdout, new RegExp(`Unpacking nebula \\(${DEB_VERSION}\\+1\\) over \\(${DEB_VERSION}\\)`));
  assert.equal(readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8'), edited, 'the edited env file survives the upgrade');
  assert.equal(mode('/etc/nebula/worker.env'), '0600');
  // prerm upgrade stops nothing; postinst restarts what was running.
  assert.deepEqual(systemctlLog().trim().split('\n'), ['--system daemon-reload', `try-restart ${UNITS.join(' ')}`]);
  assert.equal((await chroot("dpkg-query -W -f='${Version}' nebula")).stdout, `${DEB_VERSION}+1`);
});

test('dpkg -r stops the services and keeps state and settings; purge removes /etc/nebula, keeps /var/lib', async () => {
  // State as the services would leave it, and an enabled unit.
  for (const dir of ['/var/lib/nebula', '/var/lib/nebula-worker']) mkdirSync(inRoot(dir), { recursive: true });
  writeFileSync(inRoot('/var/lib/nebula/nebula.db'), 'store');
  writeFileSync(inRoot('/var/lib/nebula-worker/worker.db'), 'state');
  const enable = await run('systemctl', [`--root=${root}`, 'enable', 'nebula-worker.service']);
  assert.equal(enable.code, 0, show(enable));
  const wants = '/etc/systemd/system/multi-user.target.wants/nebula-worker.service';
  assert.ok(lstatSync(inRoot(wants)).isSymbolicLink());
  writeFileSync(inRoot('/tmp/systemctl.log'), '');

  const remove = await chroot('dpkg -r nebula </dev/null');
  assert.equal(remove.code, 0, show(remove));
  assert.deepEqual(systemctlLog().trim().split('\n'), [`stop ${UNITS.join(' ')}`, '--system daemon-reload']);
  assert.ok(!existsSync(inRoot('/usr/bin/nebula')));
  for (const unit of UNITS) assert.ok(!existsSync(inRoot(`/lib/systemd/system/${unit}`)));
  assert.match(readFileSync(inRoot('/etc/nebula/worker.env'), 'utf8'), /^DEVICE_GROUP=pos-eu$/m, 'settings survive a remove');
  assert.equal(readFileSync(inRoot('/var/lib/nebula/nebula.db'), 'utf8'), 'store');
  assert.equal(readFileSync(inRoot('/var/lib/nebula-worker/worker.db'), 'utf8'), 'state');
  assert.match((await chroot("dpkg-query -W -f='${db:Status-Abbrev}' nebula")).stdout, /^rc/);

  const purge = await chroot('dpkg --purge nebula </dev/null');
  assert.equal(purge.code, 0, show(purge));
  assert.ok(!existsSync(inRoot('/etc/nebula')), '/etc/nebula is gone');
  assert.throws(() => lstatSync(inRoot(wants)), 'the enablement link is gone');
  assert.equal(readFileSync(inRoot('/var/lib/nebula/nebula.db'), 'utf8'), 'store', 'purge keeps the store');
  assert.equal(readFileSync(inRoot('/var/lib/nebula-worker/worker.db'), 'utf8'), 'state', 'purge keeps the worker state');
  assert.match(purge.stdout, /kept \/var\/lib\/nebula \(/);
  assert.match(purge.stdout, /kept \/var\/lib\/nebula-worker \(/);
  assert.equal((await chroot('getent passwd nebula')).code, 0, 'the user stays (it owns the kept state)');
  assert.equal((await chroot('dpkg-query -W nebula')).code, 1, 'no trace in the dpkg database');

  // And the package installs again over the kept user and state.
  const reinstall = await chroot('dpkg -i /tmp/nebula.deb </dev/null');
  assert.equal(reinstall.code, 0, show(reinstall));
  assert.equal(mode('/etc/nebula/worker.env'), '0600');
  assert.deepEqual(readdirSync(inRoot('/etc/nebula')).sort(), ['manager.env', 'reporter.env', 'worker.env']);
});

test('lintian: no errors, no warnings (overrides in build/debian/lintian-overrides, each with its reason)', async () => {
  for (const [arch, pending] of Object.entries(lintian)) {
    const r = await pending;
    const tags = r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
    assert.deepEqual(tags.filter((l) => /^[EW]: /.test(l)), [], `lintian ${arch}:\n${show(r)}`);
    assert.equal(r.code, 0, `lintian ${arch}:\n${show(r)}`);
    if (tags.length) console.log(`lintian ${arch} (info/pedantic):\n${tags.join('\n')}`);
  }
});
