// Runs the admin CLI as people and scripts do: `nebula <args>` as a child process (src/main.ts,
// or the binary in NEBULA_BINARY), its exit code and output captured; and the checks on them.

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, ADMIN_USER, startManager, type TestManager } from './manager.ts';
import { spawnNebula } from './process.ts';

/** A CLI test file's manager (its URL), temp HOME, and the admin's basic auth in the worker's env names. */
export interface CliSuite {
  url: string;
  home: string;
  env: Record<string, string>;
}

/** Starts a manager before the file's tests and stops it after them; the fields are set once it runs. */
export function cliSuite(): CliSuite {
  const suite: CliSuite = { url: '', home: '', env: {} };
  let m: TestManager | undefined;
  before(async () => {
    m = await startManager();
    suite.url = m.url;
    suite.home = mkdtempSync(join(tmpdir(), 'nebula-cli-home-'));
    suite.env = { NEBULA_MANAGER_URI: m.url, NEBULA_MANAGER_AUTH_USER: ADMIN_USER, NEBULA_MANAGER_AUTH_PASSWORD: ADMIN_PASSWORD };
  });
  after(async () => {
    await m?.close();
    if (suite.home !== '') rmSync(suite.home, { recursive: true, force: true });
  });
  return suite;
}

export interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** `nebula <args>` in the environment `env` only (set HOME and XDG_CONFIG_HOME there); `stdin` is piped in. */
export async function runCli(args: string[], env: Record<string, string>, stdin?: string): Promise<Run> {
  const [command, ...rest] = args;
  const proc = spawnNebula(command!, rest, env, { stdin: stdin !== undefined });
  if (stdin !== undefined) proc.child.stdin?.end(stdin);
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await proc.exited;
  return { code, stdout, stderr };
}

/** Exit code 0 and nothing on stderr. */
export function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.equal(run.stderr, '');
  return run;
}

/** The manager refused: `error CODE: ` on stderr, nothing on stdout, exit code 1 (or `exit`). */
export function refused(run: Run, code: string, exit = 1): void {
  assert.equal(run.code, exit, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.match(run.stderr, new RegExp(`error ${code}: `));
  assert.equal(run.stdout, '');
}

/** stdout of a successful run, parsed. */
export const json = (run: Run) => JSON.parse(ok(run).stdout) as any;
