// What the package tests (test/package/{deb,units,install}.test.ts) share: the release's names,
// commands run with their output kept, and a fresh Debian 12 root unpacked from the tarball
// `npm run services` caches (test/services/packaging.sh).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './ports.ts';

export const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
export const DEB_VERSION = VERSION.replaceAll('-', '~');
export const debFile = (arch: 'amd64' | 'arm64') => join(ROOT, 'dist', `nebula_${DEB_VERSION}_${arch}.deb`);
export const ROOT_TAR = join(ROOT, '.cache', 'debian-bookworm-root.tar');
export const SERVICES = 'run `npm run services` (test/services/packaging.sh) first';
export const ROLES = ['manager', 'worker', 'reporter'] as const;
export const UNITS = ROLES.map((r) => `nebula-${r}.service`);

/** The environment of commands run inside the Debian root. */
export const CHROOT_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root', DEBIAN_FRONTEND: 'noninteractive' };
// chroot, useradd and friends live in sbin, which a non-login PATH may lack.
export const HOST_ENV = { PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/local/sbin:/usr/sbin:/sbin`, LANG: 'C.UTF-8' };

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], env: Record<string, string> = HOST_ENV): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export const show = (r: Result) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Fails (never skips) without root, a tool or the cached Debian root, saying what to run. */
export async function requirePackageTools(tools: readonly string[], why: string): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error(`the package tests need root (${why})`);
  for (const tool of tools) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) throw new Error(`${tool} is missing: ${SERVICES}`);
  }
  if (!existsSync(ROOT_TAR)) throw new Error(`${ROOT_TAR} is missing: ${SERVICES}`);
}

/** A fresh Debian root at `dir`/root; returns its path. */
export async function unpackRoot(dir: string): Promise<string> {
  const root = join(dir, 'root');
  mkdirSync(root);
  const untar = await run('tar', ['-C', root, '--numeric-owner', '-xf', ROOT_TAR]);
  assert.equal(untar.code, 0, show(untar));
  return root;
}

/** A shell script run in the Debian root as root. */
export const chrootIn = (root: string) => (script: string) => run('chroot', [root, '/bin/sh', '-c', script], CHROOT_ENV);

/** Removes a test's temp dir, after unmounting anything a failed run left mounted under it. */
export async function removeTemp(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) await run('umount', ['-l', m]);
  rmSync(dir, { recursive: true, force: true });
}
