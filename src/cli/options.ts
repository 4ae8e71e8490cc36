// The admin CLI's typed options, parsed before any request (pure): a value that cannot be right
// is a UsageError (exit code 2) naming the option, never a request the manager has to refuse.
//
// The original CLI's parsing bugs this avoids: ports are whole numbers from 1 to 65535 on both
// sides of "host:container"; an env value is split on its first "=" only (it may hold "=" and
// ":"); a volume may hold ":" (and ","); booleans are real flags (--privileged / --no-privileged);
// a value given twice for a single-valued option is an error, not "the last one silently wins".

import type { AppFields } from '../model/app.ts';
import type { CronJobFields } from '../model/cronJobDoc.ts';
import type { DeviceGroupFields } from '../model/deviceGroup.ts';
import type { Level, UserGroupFields } from '../model/user.ts';
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

/** A repeatable option whose values may also be a,b: the items, trimmed, empty ones dropped. */
export function commaList(raw: unknown): string[] {
  return valuesOf(raw)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
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

/** The fields apps and cron jobs share: image, env, networks, volumes, devices, running, privileged. */
function containerFieldsOf(argv: Record<string, unknown>): Partial<AppFields & CronJobFields> {
  const fields: Partial<AppFields & CronJobFields> = {};
  const image = nonEmpty(argv.image, 'image');
  if (image !== undefined) {
    if (/\s/.test(image)) throw new UsageError(`--image ${image}: an image reference has no spaces`);
    fields.docker_image = image;
  }
  if (argv.env !== undefined) fields.env_vars = parseEnv(valuesOf(argv.env));
  if (argv.network !== undefined) fields.networks = commaList(argv.network);
  if (argv.volume !== undefined) fields.volumes = valuesOf(argv.volume).filter((v) => v !== '');
  if (argv.device !== undefined) fields.devices = valuesOf(argv.device).filter((v) => v !== '');
  for (const option of ['running', 'privileged'] as const) {
    const value = bool(argv[option], option);
    if (value !== undefined) fields[option] = value;
  }
  return fields;
}

/** The app fields the options set (only those given: a partial update changes nothing else). */
export function appFieldsOf(argv: Record<string, unknown>): Partial<AppFields> {
  const fields: Partial<AppFields> = containerFieldsOf(argv);
  if (argv.port !== undefined) fields.starting_ports = valuesOf(argv.port).map((p) => parsePort(p));
  const per = nonEmpty(argv['containers-per'], 'containers-per');
  if (per !== undefined) fields.containers_per = parseContainersPer(per);
  const rolling = bool(argv['rolling-restart'], 'rolling-restart');
  if (rolling !== undefined) fields.rolling_restart = rolling;
  return fields;
}

/** The cron job fields the options set; the schedule is checked by the manager (INVALID_SCHEDULE). */
export function cronJobFieldsOf(argv: Record<string, unknown>): Partial<CronJobFields> {
  const fields: Partial<CronJobFields> = containerFieldsOf(argv);
  const schedule = nonEmpty(argv.schedule, 'schedule');
  if (schedule !== undefined) fields.schedule = schedule;
  return fields;
}

/** A device group's lists the options set: --apps a,b and --cron-jobs x,y ("" clears one). */
export function groupFieldsOf(argv: Record<string, unknown>): Partial<DeviceGroupFields> {
  const fields: Partial<DeviceGroupFields> = {};
  if (argv.apps !== undefined) fields.apps = parseNames(argv.apps, 'apps');
  if (argv['cron-jobs'] !== undefined) fields.cron_jobs = parseNames(argv['cron-jobs'], 'cron-jobs');
  return fields;
}

/** NAME=ro or NAME=rw, repeated and/or as a,b; "" is the empty map (no permission of this kind). */
export function parsePermissions(raw: unknown, option: string): Record<string, Level> {
  const permissions: Record<string, Level> = {};
  for (const item of commaList(raw)) {
    const m = /^(.*)=(ro|rw)$/.exec(item);
    if (!m) throw new UsageError(`--${option} ${item}: use NAME=ro (read) or NAME=rw (read and write)`);
    const [name] = parseNames(m[1], option);
    if (name === undefined) throw new UsageError(`--${option} ${item}: the name before "=" is missing`);
    if (Object.hasOwn(permissions, name)) throw new UsageError(`--${option} ${name} is given twice`);
    permissions[name] = m[2] as Level;
  }
  return permissions;
}

/** User names as a,b and/or repeated; "" is the empty list. The manager checks each name. */
export function parseMembers(raw: unknown): string[] {
  return [...new Set(commaList(raw))];
}

/** A user group's fields the options set: --member, --admin, --pruning-allowed, --app/--device-group/--cron-job NAME=ro|rw. */
export function userGroupFieldsOf(argv: Record<string, unknown>): Partial<UserGroupFields> {
  const fields: Partial<UserGroupFields> = {};
  if (argv.member !== undefined) fields.group_members = parseMembers(argv.member);
  for (const [option, field] of [['admin', 'admin'], ['pruning-allowed', 'pruning_allowed']] as const) {
    const value = bool(argv[option], option);
    if (value !== undefined) fields[field] = value;
  }
  for (const [option, field] of [['app', 'apps'], ['device-group', 'device_groups'], ['cron-job', 'cron_jobs']] as const) {
    if (argv[option] !== undefined) fields[field] = parsePermissions(argv[option], option);
  }
  return fields;
}

/** Where a user's secret may come from: --user-password, --password-stdin or NEBULA_USER_PASSWORD (and the token's alike). */
const SECRETS = [
  { field: 'password', flag: 'user-password', stdin: 'password-stdin', env: 'NEBULA_USER_PASSWORD' },
  { field: 'token', flag: 'user-token', stdin: 'token-stdin', env: 'NEBULA_USER_TOKEN' },
] as const;

/** The first line of what was piped in (a trailing newline is not part of the secret). */
export function secretOfStdin(text: string, option: string): string {
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '' || secret.includes('\n')) throw new UsageError(`--${option}: give the secret as one non-empty line on stdin`);
  return secret;
}

/**
 * A user's new password and/or token: each from its flag, from stdin (--password-stdin /
 * --token-stdin, like docker login: not in ps or the shell history), or from the environment
 * (NEBULA_USER_PASSWORD, NEBULA_USER_TOKEN), the first of these given. stdin is read only when asked.
 */
export async function userSecretsOf(argv: Record<string, unknown>, env: NodeJS.ProcessEnv, readStdin: () => Promise<string>): Promise<{ password?: string; token?: string }> {
  const secrets: { password?: string; token?: string } = {};
  const fromStdin = SECRETS.filter((s) => bool(argv[s.stdin], s.stdin) === true);
  if (fromStdin.length > 1) throw new UsageError('--password-stdin and --token-stdin: stdin holds one secret, give the other by its flag or env');
  for (const s of SECRETS) {
    const flag = single(argv[s.flag] as string | string[] | undefined, s.flag);
    const stdin = fromStdin.includes(s);
    if (flag !== undefined && stdin) throw new UsageError(`--${s.flag} and --${s.stdin}: give the ${s.field} one way`);
    const value = stdin ? secretOfStdin(await readStdin(), s.stdin) : (flag ?? env[s.env]);
    if (value === undefined) continue;
    if (String(value) === '') throw new UsageError(`--${s.flag} must not be empty`);
    secrets[s.field] = String(value);
  }
  return secrets;
}

function wholeNumber(raw: unknown, option: string, min: number, max: number): number | undefined {
  const value = single(raw as string | string[] | undefined, option);
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = /^-?\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${option} ${String(value)}: a whole number from ${min} to ${max}`);
  return n;
}

/** The paging options reports and devices share: --page-size 1-1000, --last-id (the previous page's). */
function pageQueryOf(argv: Record<string, unknown>): { page_size?: number; last_id?: string } {
  const query: { page_size?: number; last_id?: string } = {};
  const size = wholeNumber(argv['page-size'], 'page-size', 1, 1000);
  if (size !== undefined) query.page_size = size;
  const last = nonEmpty(argv['last-id'], 'last-id');
  if (last !== undefined) query.last_id = last;
  return query;
}

export const TIME_OPS = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte'] as const;

/** GET /reports' query: --hostname, --device-group, --created UNIX [--created-op gte], --updated/--no-updated, paging. */
export function reportQueryOf(argv: Record<string, unknown>): Record<string, string | number | undefined> {
  const query: Record<string, string | number | undefined> = {
    ...pageQueryOf(argv),
    hostname: nonEmpty(argv.hostname, 'hostname'),
    device_group: nonEmpty(argv['device-group'], 'device-group'),
  };
  const created = wholeNumber(argv.created, 'created', -1e15, 1e15);
  const op = single(argv['created-op'] as string | string[] | undefined, 'created-op');
  if (op !== undefined && !(TIME_OPS as readonly string[]).includes(op)) throw new UsageError(`--created-op ${op}: one of ${TIME_OPS.join(', ')}`);
  if (op !== undefined && created === undefined) throw new UsageError('--created-op goes with --created UNIX_SECONDS');
  if (created !== undefined) {
    query.report_creation_time = created;
    query.report_creation_time_filter = op;
  }
  const updated = bool(argv.updated, 'updated');
  if (updated !== undefined) query.updated = updated ? 'True' : 'False';
  return query;
}

/** GET /devices' query: --device-group, --behind/--no-behind, paging. */
export function deviceQueryOf(argv: Record<string, unknown>): Record<string, string | number | undefined> {
  const behind = bool(argv.behind, 'behind');
  return {
    ...pageQueryOf(argv),
    device_group: nonEmpty(argv['device-group'], 'device-group'),
    behind: behind === undefined ? undefined : String(behind),
  };
}
