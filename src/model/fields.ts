// Field schemas shared by apps and cron jobs (both describe containers), and how a refusal
// of each is told (the original's codes and bodies).

import { NebulaError } from '../errors.ts';
import { defineRefusals, type JsonSchema, type Refusal } from './schema.ts';

export type PortMapping = number | Record<string, string | number>;
export type EnvVars = Record<string, string | number | boolean> | [];
export type ContainersPer = Partial<Record<'server' | 'instance' | 'cpu' | 'memory' | 'mem', number>>;

export function invalid(field: string, reason: string): NebulaError {
  return new NebulaError('INVALID_PARAMETER', { [field]: reason }, `${field}: ${reason}`);
}

/** A port written as a string: an integer, spaces around allowed ("type" if not). */
const PORT_STRING = '^\\s*-?\\d+\\s*$';
/** ... and from 1 to 65535 ("range" if not). */
const PORT_RANGE = '^\\s*0*([1-9]\\d{0,3}|[1-5]\\d{4}|6[0-4]\\d{3}|65[0-4]\\d{2}|655[0-2]\\d|6553[0-5])\\s*$';
const PORT_TEXT: JsonSchema = { allOf: [{ pattern: PORT_STRING }, { pattern: PORT_RANGE, 'x-errors': 'port-range' }] };

/**
 * `starting_ports`: ints, or {"host": "container"} objects, as in the original. Unlike the
 * original, booleans are not ports, a non-list is a 400 rather than a 500, and a wrong
 * element type is a 400 rather than a 403 (bad input, not a permission problem).
 */
export const PORTS: JsonSchema = {
  type: 'array',
  description: 'Host ports: 80 (same port in the container), or {"8080": "80"} (host: container); ports are 1-65535, as numbers or strings of digits.',
  maxItems: 1024,
  items: {
    type: ['integer', 'object'],
    minimum: 1,
    maximum: 65535,
    minProperties: 1,
    propertyNames: PORT_TEXT,
    additionalProperties: { type: ['integer', 'string'], minimum: 1, maximum: 65535, ...PORT_TEXT },
  },
  examples: [[80, { '8443': '443' }]],
  'x-errors': 'ports',
};

const CONTAINERS_PER_KEYS = 'server, instance, cpu, memory or mem';
const WHOLE = { type: 'integer', minimum: 1, maximum: 1_000_000 } as const satisfies JsonSchema;
const FRACTION = { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 } as const satisfies JsonSchema;

/** `containers_per`: exactly one of server/instance (count), cpu (per core), memory/mem (MB each). */
export const CONTAINERS_PER: JsonSchema = {
  type: 'object',
  description: 'How many containers per device: {"server": n} or {"instance": n}, {"cpu": n} per core, {"memory": MB} or {"mem": MB} each.',
  minProperties: 1,
  maxProperties: 1,
  properties: { server: WHOLE, instance: WHOLE, cpu: FRACTION, memory: FRACTION, mem: FRACTION },
  additionalProperties: false,
  examples: [{ server: 1 }],
  'x-errors': 'containers-per',
};

/** `env_vars`: {"NAME": value}; the original's POST update stores `[]`, which stays valid. */
export const ENV_VARS: JsonSchema = {
  type: ['object', 'array'],
  description: 'Environment variables {"NAME": value}; [] (what a full replace stores) means none.',
  maxItems: 0,
  maxProperties: 1024,
  propertyNames: { minLength: 1, maxLength: 1024, pattern: '^[^=\\u0000]*$' },
  additionalProperties: { type: ['string', 'number', 'boolean'] },
  'x-errors': 'env-vars',
};

export const DOCKER_IMAGE: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 512,
  pattern: '^\\S*$',
  examples: ['registry.example.com/pos/web:1.4'],
  'x-errors': 'docker-image',
};

export const BOOL: JsonSchema = { type: 'boolean', 'x-errors': 'bool' };

/** A list of non-empty strings (volumes, devices). */
export function stringList(max: number, description: string): JsonSchema {
  return { type: 'array', description, maxItems: max, items: { type: 'string', minLength: 1, maxLength: 4096 }, 'x-errors': `list-${max}` };
}

/** `networks`: names of Docker networks; "host" and "none" must stand alone. */
export const NETWORKS: JsonSchema = {
  ...stringList(64, 'Docker networks to attach; "host" or "none" must be the only one.'),
  if: { contains: { enum: ['host', 'none'] } },
  then: { maxItems: 1 },
};

/** The fields apps and cron jobs share, in the order the API checks them. */
export const CONTAINER_FIELDS = {
  env_vars: ENV_VARS,
  docker_image: DOCKER_IMAGE,
  running: BOOL,
  networks: NETWORKS,
  volumes: stringList(256, 'Volumes, as docker run -v takes them: "/host:/container[:ro]".'),
  devices: stringList(256, 'Host devices, as docker run --device takes them: "/dev/ttyUSB0".'),
  privileged: BOOL,
} as const satisfies Record<string, JsonSchema>;

const containersPerReason = (r: Refusal): string => {
  if (r.names.length === 1 && r.keyword === 'type') return 'must be an object such as {"server": 1}';
  if (r.keyword === 'additionalProperties') return `unknown key "${String(r.value)}": use ${CONTAINERS_PER_KEYS}`;
  if (r.names.length === 1) return `must have exactly one key: ${CONTAINERS_PER_KEYS}`;
  const key = r.names[1]!;
  return key === 'server' || key === 'instance' ? `${key} must be a whole number of at least 1` : `${key} must be a number above 0`;
};

const envReason = (r: Refusal): string => {
  if (r.names.length === 1) return r.keyword === 'maxProperties' ? 'must have at most 1024 variables' : 'must be an object of NAME: value';
  if (r.error.propertyName !== undefined) return 'names must be non-empty and contain no "=" or NUL';
  return `the value of ${r.names[1]!} must be a string, number or boolean`;
};

const listRefusal = (max: number) => (r: Refusal) => {
  const field = r.names[0]!;
  if (r.error.schemaPath.includes('/then/')) return invalid(field, '"host" and "none" must be the only network');
  if (r.depth === 1) {
    return invalid(field, `must be a list of at most ${max} strings`);
  }
  return invalid(field, 'must contain only non-empty strings');
};

defineRefusals({
  ports: (r) => new NebulaError(r.keyword === 'minimum' || r.keyword === 'maximum' ? 'INVALID_PORT' : 'INVALID_PORT_TYPE'),
  'port-range': () => new NebulaError('INVALID_PORT'),
  'containers-per': (r) => invalid(r.names[0]!, containersPerReason(r)),
  'env-vars': (r) => invalid(r.names[0]!, envReason(r)),
  'docker-image': (r) => invalid(r.names[0]!, 'must be an image reference such as registry/name:tag'),
  bool: (r) => invalid(r.names.at(-1)!, 'must be true or false'),
  'list-64': listRefusal(64),
  'list-256': listRefusal(256),
});

/** Copies the given keys of a checked body, leaving out absent ones and, on create and full replace, nulls ("use the default"). */
export function pickFields<T>(body: Record<string, unknown>, keys: readonly (keyof T & string)[], dropNulls: boolean): Partial<T> {
  const out: Partial<T> = {};
  for (const key of keys) {
    const value = body[key];
    if (value === undefined || (dropNulls && value === null)) continue;
    out[key] = value as T[typeof key];
  }
  return out;
}
