// Helpers of the settings tests: config files in a temp dir of the test file's own, and the
// setting a ConfigError names.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ConfigError } from '../../src/errors.ts';

/** A temp dir removed when the test file ends; configFile writes a file in it (an object as JSON, a string as it is). */
export function configFiles(prefix: string): { dir: string; configFile: (content: unknown) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  return {
    dir,
    configFile(content) {
      const path = join(dir, `config-${++files}.json`);
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
      return path;
    },
  };
}

/** The setting the ConfigError `fn` throws names; fails when it throws none, or another error. */
export function settingOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.setting;
  }
  assert.fail('expected a ConfigError');
}
