// Opens a better-sqlite3 database file: the one place that loads the native addon.
//
// Run from source, better-sqlite3 finds its prebuild in node_modules. In the single executable
// (@yao-pkg/pkg), the addon is inside the executable and has to be written to a real file before
// it can be loaded; pkg would write it under ~/.cache, which a service user may not have (no home,
// read-only home, ProtectHome). So it goes next to the database instead — the data or state
// directory, which has to be writable anyway — unless PKG_NATIVE_CACHE_PATH names a place.
// (The tmp fallback needs a tmp mounted exec; the units' PrivateTmp is.)

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database, { type Database as Db } from 'better-sqlite3';

const NATIVE_DIR = '.native';
const PREFIX = 'better_sqlite3-';

/** True inside the single executable built by build/binaries.sh. */
function inSingleExecutable(): boolean {
  return (process as { pkg?: unknown }).pkg !== undefined;
}

/**
 * The addon copied out of the executable into `dir`/.native — or, where that directory cannot
 * take it (a full or read-only disk: the store then reports its own error), into a new private
 * temporary directory. Once per build: the file name carries its hash, and it is written to a temporary
 * name and renamed, so a half-written file is never loaded; copies of other builds are removed.
 * Undefined where better-sqlite3 finds its own (run from source, or PKG_NATIVE_CACHE_PATH set).
 */
function nativeBindingFor(dir: string): string | undefined {
  if (!inSingleExecutable() || process.env.PKG_NATIVE_CACHE_PATH) return undefined;
  const binding = createRequire(import.meta.url)('better-sqlite3/lib/binding.js') as { getPrebuildPath(): string | null };
  const source = binding.getPrebuildPath();
  if (source === null) return undefined;
  const content = readFileSync(source);
  const name = `${PREFIX}${createHash('sha256').update(content).digest('hex').slice(0, 16)}.node`;
  try {
    return copyInto(join(dir, NATIVE_DIR), name, content);
  } catch (err) {
    try {
      // A fresh private directory (0700): a shared /tmp must not let another user put a file
      // where this process will load code from.
      return copyInto(mkdtempSync(join(tmpdir(), 'nebula-native-')), name, content);
    } catch {
      throw err;
    }
  }
}

function copyInto(nativeDir: string, name: string, content: Buffer): string {
  const target = join(nativeDir, name);
  try {
    if (statSync(target).size === content.length) return target;
  } catch {
    // not there yet
  }
  mkdirSync(nativeDir, { recursive: true, mode: 0o700 });
  const partial = `${target}.${process.pid}.tmp`;
  try {
    writeFileSync(partial, content, { mode: 0o500 });
    renameSync(partial, target);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  // Copies of earlier builds go (not another process's .tmp: it may be renaming it now).
  for (const old of readdirSync(nativeDir)) {
    if (old !== name && old.startsWith(PREFIX) && old.endsWith('.node')) rmSync(join(nativeDir, old), { force: true });
  }
  return target;
}

/** Opens (creating the directory if needed) a database file; ':memory:' for a private one. */
export function openDatabase(file: string): Db {
  if (file === ':memory:') return new Database(file);
  mkdirSync(dirname(file), { recursive: true });
  const nativeBinding = nativeBindingFor(dirname(file));
  return new Database(file, nativeBinding === undefined ? {} : { nativeBinding });
}
