// Apps: long-running containers. Defaults, validation and the document shape (pure).

import { orderKeys, OBJECT_NAME_SCHEMA, type JsonObject } from './validate.ts';
import { BOOL, CONTAINERS_PER, CONTAINER_FIELDS, PORTS, pickFields, type ContainersPer, type EnvVars, type PortMapping } from './fields.ts';
import { documentSchema, fullBody, patchBody, type JsonSchema } from './schema.ts';

export interface AppFields {
  starting_ports: PortMapping[];
  containers_per: ContainersPer;
  env_vars: EnvVars;
  docker_image: string;
  running: boolean;
  networks: string[];
  volumes: string[];
  devices: string[];
  privileged: boolean;
  rolling_restart: boolean;
}

export interface AppDoc extends AppFields {
  app_id: number;
  app_name: string;
}

export const APP_FIELDS = [
  'starting_ports',
  'containers_per',
  'env_vars',
  'docker_image',
  'running',
  'networks',
  'volumes',
  'devices',
  'privileged',
  'rolling_restart',
] as const satisfies readonly (keyof AppFields)[];

const READ_ONLY = ['app_id', 'app_name'];

/** Each field's schema, in the order the API checks them. */
const FIELD_SCHEMAS = {
  starting_ports: PORTS,
  containers_per: CONTAINERS_PER,
  ...CONTAINER_FIELDS,
  rolling_restart: BOOL,
} satisfies Record<keyof AppFields, JsonSchema>;

/**
 * Create (POST /apps/<name>) and full replace (POST /apps/<name>/update). As in the
 * original, fields left out (or null) take their defaults, and keys that are no app field
 * are ignored, as the original ignored them on these two calls.
 */
export const APP_BODY: JsonSchema = fullBody(
  FIELD_SCHEMAS,
  ['docker_image'],
  'An app; fields left out or null take their defaults (a full replace resets env_vars to []). Other keys are ignored.',
);

/** Partial update (PUT/PATCH /apps/<name>/update): only the app's own fields, at least one. */
export const APP_PATCH: JsonSchema = patchBody(FIELD_SCHEMAS, READ_ONLY, 'The fields to change; names and app_id are managed by Nebula.');

/** An app as stored and answered (update-style replies add its _id). */
export const APP_DOC: JsonSchema = documentSchema('app_id', 'Bumped by every change: devices apply an app only when it grew.', ['app_name', OBJECT_NAME_SCHEMA], FIELD_SCHEMAS);

function defaults(): Omit<AppFields, 'docker_image'> {
  return {
    starting_ports: [],
    containers_per: { server: 1 },
    env_vars: {},
    running: true,
    networks: ['nebula', 'bridge'],
    volumes: [],
    devices: [],
    privileged: false,
    rolling_restart: false,
  };
}

/** A full set of fields from a checked create or full-replace body (APP_BODY): a full replace resets env_vars to [] (the original's SDK tests assert that quirk). */
export function appFields(body: JsonObject, mode: 'create' | 'replace'): AppFields {
  const given = pickFields<AppFields>(body, APP_FIELDS, true);
  const fields = { ...defaults(), ...(mode === 'replace' ? { env_vars: [] as EnvVars } : {}), ...given };
  return orderApp(fields as AppFields);
}

/** The fields a checked partial update (APP_PATCH) sets. */
export function appPatch(body: JsonObject): Partial<AppFields> {
  return pickFields<AppFields>(body, APP_FIELDS, false);
}

const APP_ORDER = ['app_id', 'app_name', ...APP_FIELDS];

/** One field order everywhere, so equal apps serialize to equal bytes (and equal ETags). */
export function orderApp<T extends Partial<AppDoc>>(doc: T): T {
  return orderKeys(doc, APP_ORDER);
}

export function newApp(name: string, fields: AppFields): AppDoc {
  return orderApp({ app_id: 1, app_name: name, ...fields });
}
