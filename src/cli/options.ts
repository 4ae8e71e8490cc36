// The admin CLI's typed options, parsed before any request (pure): a value that cannot be right
// is a UsageError (exit code 2) naming the option, never a request the manager has to refuse.
//
// The original CLI's parsing bugs this avoids: ports are whole numbers from 1 to 65535 on both
// sides of "host:container"; an env value is split on its first "=" only (it may hold "=" and
// ":"); a volume may hold ":" (and ","); booleans are real flags (--privileged / --no-privileged);
// a value given twice for a single-valued option is an error, not "the last one silently wins".

import type { AppFields } from '../model/app.ts';
import type { DeviceGroupFields } from '../model/deviceGroup.ts';
import type { ContainersPer, PortMapping } from '../model/fields.ts';

/** A wrong command line: exit code 2, before any request. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The values of a repeatable option (yargs gives a string, a list, or nothing). */
export function valuesOf(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  return (Array.isArray(raw) ? raw : [raw]).map(String);
}

/** A single-valued option: given twice is an error. */
export function single<T>(raw: T | T[] | undefined, option: string): T | undefined {
  if (!Array.isArray(raw)) return raw;
  if (raw.length > 1) throw new UsageError(`--${option} is given ${raw.length} times: give it once`);
  return raw[0];
}

function portNumber(text: string, option: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new UsageError(`--${option} ${whole}: "${text}" is not a port (a whole number from 1 to 65535)`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new UsageError(`--${option} ${whole}: ${n} is out of range (1 to 65535)`);
  return n;
}

/** "80" is the same port on host and container; "81:80" maps host port 81 to container port 80. */
export function parsePort(raw: string, option = 'port'): PortMapping {
  const parts = raw.trim().split(':');
  if (parts.length === 1) return portNumber(parts[0]!, option, raw);
  if (parts.length === 2) {
    const host = portNumber(parts[0]!, option, raw);
    const container = portNumber(parts[1]!, option, raw);
    return { [String(host)]: String(container) };
  }
  throw new UsageError(`--${option} ${raw}: use PORT or HOST_PORT:CONTAINER_PORT`);
}

/** KEY=VALUE, split on the first "=": the value keeps any further "=" and ":". */
export function parseEnv(values: readonly string[], option = 'env'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of values) {
    const at = item.indexOf('=');
    if (at < 0) throw new UsageError(`--${option} ${item}: use KEY=VALUE (an empty value is KEY=)`);
    const key = item.slice(0, at);
    if (key.length === 0 || key.includes('\0') || /\s/.test(key)) throw new UsageError(`--${option} ${item}: the name before "=" must be non-empty, without spaces`);
    if (Object.hasOwn(env, key)) throw new UsageError(`--${option} ${key} is given twice`);
    env[key] = item.slice(at + 1);
  }
  return env;
}

const PER_KEYS = ['server', 'instance', 'cpu', 'memory', 'mem'] as const;

/** server=N or instance=N (containers per device), cpu=N (per core), memory=MB (one per MB of memory). */
export function parseContainersPer(raw: string, option = 'containers-per'): ContainersPer {
  const m = /^\s*([a-z]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(raw);
  const key = m?.[1] as (typeof PER_KEYS)[number] | undefined;
  if (!m || key === undefined || !PER_KEYS.includes(key)) {
    throw new UsageError(`--${option} ${raw}: use server=N, cpu=N or memory=MB (also instance=N, mem=MB)`);
  }
  const n = Number(m[2]);
  const whole = key === 'server' || key === 'instance';
  if (n <= 0 || (whole && !Number.isInteger(n)) || n > 1_000_000) {
    throw new UsageError(`--${option} ${raw}: ${key} must be ${whole ? 'a whole number of at least 1' : 'a number above 0'}`);
  }
  return { [key]: n };
}

/** Names given as "a,b" and/or repeated; "" is the empty list (to clear it). */
export function parseNames(raw: unknown, option: string): string[] {
  const names: string[] = [];
  for (const value of valuesOf(raw)) {
    for (const part of value.split(',')) {
      const name = part.trim();
      if (name === '') continue;
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(name)) throw new UsageError(`--${option}: "${name}" is not a name (1-64 letters, digits, "_" or "-")`);
      if (!names.includes(name)) names.push(name);
    }
  }
  return names;
}

function bool(raw: unknown, option: string): boolean | undefined {
  const value = single(raw as boolean | boolean[] | undefined, option);
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new UsageError(`--${option} is a flag: --${option} or --no-${option}`);
  return value;
}

function nonEmpty(raw: unknown, option: string): string | undefined {
  const value = single(raw as string | string[] | undefined, option);
  if (value === undefined) return undefined;
  const s = String(value);
  if (s.trim() === '') throw new UsageError(`--${option} must not be empty`);
  return s;
}

/** The app fields the options set (only those given: a partial update changes nothing else). */
export function appFieldsOf(argv: Record<string, unknown>): Partial<AppFields> {
  const fields: Partial<AppFields> = {};
  const image = nonEmpty(argv.image, 'image');
  if (image !== undefined) {
    if (/\s/.test(image)) throw new UsageError(`--image ${image}: an image reference has no spaces`);
    fields.docker_image = image;
  }
  if (argv.port !== undefined) fields.starting_ports = valuesOf(argv.port).map((p) => parsePort(p));
  if (argv.env !== undefined) fields.env_vars = parseEnv(valuesOf(argv.env));
  const per = nonEmpty(argv['containers-per'], 'containers-per');
  if (per !== undefined) fields.containers_per = parseContainersPer(per);
  if (argv.network !== undefined) {
    fields.networks = valuesOf(argv.network).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  }
  if (argv.volume !== undefined) fields.volumes = valuesOf(argv.volume).filter((v) => v !== '');
  if (argv.device !== undefined) fields.devices = valuesOf(argv.device).filter((v) => v !== '');
  const flags = [
    ['running', 'running'],
    ['privileged', 'privileged'],
    ['rolling-restart', 'rolling_restart'],
  ] as const;
  for (const [option, field] of flags) {
    const value = bool(argv[option], option);
    if (value !== undefined) fields[field] = value;
  }
  return fields;
}

/** A device group's lists the options set: --apps a,b and --cron-jobs x,y ("" clears one). */
export function groupFieldsOf(argv: Record<string, unknown>): Partial<DeviceGroupFields> {
  const fields: Partial<DeviceGroupFields> = {};
  if (argv.apps !== undefined) fields.apps = parseNames(argv.apps, 'apps');
  if (argv['cron-jobs'] !== undefined) fields.cron_jobs = parseNames(argv['cron-jobs'], 'cron-jobs');
  return fields;
}
