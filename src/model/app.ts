// Apps: long-running containers. Defaults, validation and the document shape (pure).

import { NebulaError } from '../errors.ts';
import { checkBool, checkStringList, orderKeys, patchFromBody, pickValid, type JsonObject } from './validate.ts';
import {
  checkContainersPer,
  checkDockerImage,
  checkEnvVars,
  checkNetworks,
  checkPorts,
  missing,
  withoutNulls,
  type ContainersPer,
  type EnvVars,
  type PortMapping,
} from './fields.ts';

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

const checkers = {
  starting_ports: checkPorts,
  containers_per: checkContainersPer,
  env_vars: checkEnvVars,
  docker_image: checkDockerImage,
  running: checkBool,
  networks: checkNetworks,
  volumes: (f: string, v: unknown) => checkStringList(f, v),
  devices: (f: string, v: unknown) => checkStringList(f, v),
  privileged: checkBool,
  rolling_restart: checkBool,
};

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

/**
 * A full set of fields from a create (POST /apps/<name>) or a full replace (POST
 * /apps/<name>/update) body. As in the original, fields left out take their defaults, and
 * a full replace resets env_vars to [] (its SDK tests assert that quirk); keys that are no
 * app field are ignored, as the original ignored them on these two calls.
 */
export function appFieldsFromBody(body: JsonObject, mode: 'create' | 'replace'): AppFields {
  const given = withoutNulls(body);
  const absent = missing(given, ['docker_image']);
  if (absent.length > 0) throw new NebulaError('MISSING_PARAMETERS', { missing_parameters: absent });
  const fields = { ...defaults(), ...(mode === 'replace' ? { env_vars: [] as EnvVars } : {}), ...pickValid<AppFields>(given, checkers) };
  return orderApp(fields as AppFields);
}

/** The fields a partial update (PUT/PATCH /apps/<name>/update) sets. */
export function appPatchFromBody(body: JsonObject): Partial<AppFields> {
  return patchFromBody<AppFields>(body, APP_FIELDS, READ_ONLY, checkers);
}

const APP_ORDER = ['app_id', 'app_name', ...APP_FIELDS];

/** One field order everywhere, so equal apps serialize to equal bytes (and equal ETags). */
export function orderApp<T extends Partial<AppDoc>>(doc: T): T {
  return orderKeys(doc, APP_ORDER);
}

export function newApp(name: string, fields: AppFields): AppDoc {
  return orderApp({ app_id: 1, app_name: name, ...fields });
}
