// Options: one definition per setting, resolved as flags > environment > config file > default.
// The original Nebula's names (BASIC_AUTH_USER, CACHE_TIME, ... and the snake_case file
// keys) are accepted, so an existing deployment's settings keep working.

import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

export interface OptionDef {
  /** The config-file key (snake_case, as the original's). */
  key: string;
  /** The command-line flag, without dashes. */
  flag: string;
  /** Environment names, first one wins. */
  env: readonly string[];
  type: 'string' | 'int' | 'bool' | 'enum';
  choices?: readonly string[];
  min?: number;
  max?: number;
  default?: string | number | boolean;
  /** Never printed, never logged. */
  secret?: boolean;
  describe: string;
}

export type Settings = Record<string, string | number | boolean | undefined>;

function parseValue(def: OptionDef, raw: unknown, source: string): string | number | boolean {
  const fail = (why: string): never => {
    const shown = def.secret ? '' : ` (got ${JSON.stringify(raw)} from ${source})`;
    throw new ConfigError(def.key, `${why}${shown}`);
  };
  // An object or a list (a config file's) is no setting, and String() of one may even throw
  // ({"toString": 1}): refused here, before any conversion.
  if (typeof raw === 'object' && raw !== null) return fail('must be a single value, not an object or a list');
  switch (def.type) {
    case 'bool': {
      if (typeof raw === 'boolean') return raw;
      const s = String(raw).trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      return fail('must be true or false');
    }
    case 'int': {
      const s = typeof raw === 'number' ? String(raw) : String(raw).trim();
      if (!/^-?\d+$/.test(s)) return fail('must be a whole number');
      const n = Number(s);
      if (def.min !== undefined && n < def.min) return fail(`must be at least ${def.min}`);
      if (def.max !== undefined && n > def.max) return fail(`must be at most ${def.max}`);
      return n;
    }
    case 'enum': {
      const s = String(raw).trim();
      if (!def.choices?.includes(s)) return fail(`must be one of ${def.choices?.join(', ')}`);
      return s;
    }
    case 'string': {
      if (typeof raw !== 'string' && typeof raw !== 'number') return fail('must be a string');
      const s = String(raw);
      if (s.length === 0) return fail('must not be empty');
      return s;
    }
  }
}

/** Reads a JSON config file: an object of the options' keys. Unknown keys are refused (typos). */
export function readConfigFile(path: string, defs: readonly OptionDef[]): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('config', `cannot read ${path} as JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('config', `${path} must hold a JSON object`);
  }
  const known = new Set(defs.map((d) => d.key));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ConfigError(key, `unknown key in ${path}`);
  }
  return parsed as Record<string, unknown>;
}

export interface Sources {
  /** Parsed command-line flags, keyed by flag name; absent when not given. */
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  /** The config file's contents, if one was given. */
  file?: Record<string, unknown>;
}

export function resolve(defs: readonly OptionDef[], sources: Sources): Settings {
  const settings: Settings = {};
  for (const def of defs) {
    const flag = sources.flags[def.flag];
    const envName = def.env.find((name) => sources.env[name] !== undefined && sources.env[name] !== '');
    const fileValue = sources.file?.[def.key];
    if (flag !== undefined) settings[def.key] = parseValue(def, flag, `--${def.flag}`);
    else if (envName !== undefined) settings[def.key] = parseValue(def, sources.env[envName], envName);
    else if (fileValue !== undefined && fileValue !== null) settings[def.key] = parseValue(def, fileValue, 'the config file');
    else settings[def.key] = def.default;
  }
  return settings;
}
