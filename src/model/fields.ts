// Field checkers shared by apps and cron jobs (both describe containers).

import { NebulaError } from '../errors.ts';
import { checkStringList, isObject } from './validate.ts';

export type PortMapping = number | Record<string, string | number>;
export type EnvVars = Record<string, string | number | boolean> | [];
export type ContainersPer = Partial<Record<'server' | 'instance' | 'cpu' | 'memory' | 'mem', number>>;

function invalid(field: string, reason: string): NebulaError {
  return new NebulaError('INVALID_PARAMETER', { [field]: reason }, `${field}: ${reason}`);
}

function portNumber(value: unknown): number | 'type' | 'range' {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) n = Number(value);
  else return 'type';
  if (!Number.isInteger(n)) return 'type';
  return n >= 1 && n <= 65535 ? n : 'range';
}

/**
 * `starting_ports`: ints, or {"host": "container"} objects, as in the original. Unlike the
 * original, booleans are not ports, a non-list is a 400 rather than a 500, and a wrong
 * element type is a 400 rather than a 403 (bad input, not a permission problem).
 */
export function checkPorts(_field: string, value: unknown): PortMapping[] {
  if (!Array.isArray(value) || value.length > 1024) throw new NebulaError('INVALID_PORT_TYPE');
  for (const item of value) {
    if (typeof item === 'number') {
      const n = portNumber(item);
      if (n === 'type') throw new NebulaError('INVALID_PORT_TYPE');
      if (n === 'range') throw new NebulaError('INVALID_PORT');
    } else if (isObject(item) && Object.keys(item).length > 0) {
      for (const [host, container] of Object.entries(item)) {
        for (const n of [portNumber(host), portNumber(container)]) {
          if (n === 'type') throw new NebulaError('INVALID_PORT_TYPE');
          if (n === 'range') throw new NebulaError('INVALID_PORT');
        }
      }
    } else {
      throw new NebulaError('INVALID_PORT_TYPE');
    }
  }
  return value as PortMapping[];
}

const CONTAINERS_PER_KEYS = ['server', 'instance', 'cpu', 'memory', 'mem'] as const;

/** `containers_per`: exactly one of server/instance (count), cpu (per core), memory/mem (MB each). */
export function checkContainersPer(field: string, value: unknown): ContainersPer {
  if (!isObject(value)) throw invalid(field, 'must be an object such as {"server": 1}');
  const entries = Object.entries(value);
  const [entry] = entries;
  if (entries.length !== 1 || entry === undefined) {
    throw invalid(field, 'must have exactly one key: server, instance, cpu, memory or mem');
  }
  const [key, n] = entry;
  if (!(CONTAINERS_PER_KEYS as readonly string[]).includes(key)) {
    throw invalid(field, `unknown key "${key}": use server, instance, cpu, memory or mem`);
  }
  const whole = key === 'server' || key === 'instance';
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || (whole && !Number.isInteger(n)) || n > 1_000_000) {
    throw invalid(field, whole ? `${key} must be a whole number of at least 1` : `${key} must be a number above 0`);
  }
  return value as ContainersPer;
}

/** `env_vars`: {"NAME": value}; the original's POST update stores `[]`, which stays valid. */
export function checkEnvVars(field: string, value: unknown): EnvVars {
  if (Array.isArray(value) && value.length === 0) return [];
  if (!isObject(value)) throw invalid(field, 'must be an object of NAME: value');
  const entries = Object.entries(value);
  if (entries.length > 1024) throw invalid(field, 'must have at most 1024 variables');
  for (const [name, v] of entries) {
    if (name.length === 0 || name.length > 1024 || name.includes('=') || name.includes('\0')) {
      throw invalid(field, 'names must be non-empty and contain no "=" or NUL');
    }
    const ok = typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
    if (!ok) throw invalid(field, `the value of ${name} must be a string, number or boolean`);
  }
  return value as EnvVars;
}

/** `networks`: names of Docker networks; "host" and "none" must stand alone. */
export function checkNetworks(field: string, value: unknown): string[] {
  const list = checkStringList(field, value, 64);
  if ((list.includes('host') || list.includes('none')) && list.length > 1) {
    throw invalid(field, '"host" and "none" must be the only network');
  }
  return list;
}

export function checkDockerImage(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512 || /\s/.test(value)) {
    throw invalid(field, 'must be an image reference such as registry/name:tag');
  }
  return value;
}

/** Required fields absent from `body` (a null value counts as absent). */
export function missing(body: Record<string, unknown>, required: readonly string[]): string[] {
  return required.filter((key) => body[key] === undefined || body[key] === null);
}

/** A copy without null values: on create and full replace, null means "use the default". */
export function withoutNulls<T extends Record<string, unknown>>(body: T): T {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null)) as T;
}
