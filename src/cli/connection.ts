// Where the admin CLI finds its manager and credentials, in this order:
//   1. flags: --manager-url, --user/--password or --token, --manager-ca-file
//   2. the worker's environment names: NEBULA_MANAGER_URI (or NEBULA_MANAGER_HOST, _PORT,
//      _PROTOCOL), NEBULA_MANAGER_AUTH_USER/_PASSWORD/_TOKEN, NEBULA_MANAGER_CA_FILE
//   3. the file `nebula login` writes: $XDG_CONFIG_HOME/nebula/cli.json, else
//      ~/.config/nebula/cli.json (or --config / NEBULA_CLI_CONFIG), mode 0600
// The manager's address is taken whole from the first source that names one, and so are the
// credentials (a token, or a user and password; a lone half of the pair may come from a later
// source: a user saved by `login` with the password in the environment).

import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { ManagerAuth } from '../client/manager.ts';
import { managerAuthOf, managerUrlOf, readManagerCa } from '../config/connection.ts';
import { readConfigFile, resolve, type OptionDef, type Settings } from '../config/options.ts';

export const CONNECTION_OPTIONS: readonly OptionDef[] = [
  { key: 'manager_url', flag: 'manager-url', env: ['NEBULA_MANAGER_URI'], type: 'string', describe: 'the manager base URL, e.g. https://nebula.example.com:8080' },
  { key: 'manager_host', flag: 'manager-host', env: ['NEBULA_MANAGER_HOST'], type: 'string', describe: 'the manager host (with --manager-port and --manager-protocol; --manager-url wins)' },
  { key: 'manager_port', flag: 'manager-port', env: ['NEBULA_MANAGER_PORT'], type: 'int', min: 1, max: 65535, describe: 'the manager port [default 80]' },
  { key: 'manager_protocol', flag: 'manager-protocol', env: ['NEBULA_MANAGER_PROTOCOL'], type: 'enum', choices: ['http', 'https'], describe: 'the manager protocol [default http]' },
  { key: 'user', flag: 'user', env: ['NEBULA_MANAGER_AUTH_USER'], type: 'string', describe: 'basic-auth user' },
  { key: 'password', flag: 'password', env: ['NEBULA_MANAGER_AUTH_PASSWORD'], type: 'string', secret: true, describe: 'basic-auth password (prefer the environment: flags show in ps)' },
  { key: 'token', flag: 'token', env: ['NEBULA_MANAGER_AUTH_TOKEN'], type: 'string', secret: true, describe: 'bearer token; wins over --user/--password (prefer the environment)' },
  { key: 'manager_ca_file', flag: 'manager-ca-file', env: ['NEBULA_MANAGER_CA_FILE'], type: 'string', describe: "CA certificate(s) (PEM) to verify an https:// manager against, instead of the system's" },
  { key: 'request_timeout', flag: 'request-timeout', env: ['NEBULA_MANAGER_REQUEST_TIMEOUT'], type: 'int', min: 1, max: 3600, describe: 'seconds to wait for each answer [default 30]' },
];

export interface Connection {
  managerUrl: string;
  auth: ManagerAuth;
  ca?: Buffer;
  /** The CA file's absolute path, as given (what `login` saves). */
  caFile?: string;
  requestTimeoutMs: number;
  /** The settings file that was read, if any. */
  file?: string;
}

/** The settings file: --config, NEBULA_CLI_CONFIG, $XDG_CONFIG_HOME/nebula/cli.json or ~/.config/nebula/cli.json. */
export function configPathOf(flag: unknown, env: NodeJS.ProcessEnv): { path: string; explicit: boolean } {
  if (typeof flag === 'string' && flag !== '') return { path: flag, explicit: true };
  if (env.NEBULA_CLI_CONFIG) return { path: env.NEBULA_CLI_CONFIG, explicit: true };
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return { path: join(base, 'nebula', 'cli.json'), explicit: false };
}

function layers(flags: Record<string, unknown>, env: NodeJS.ProcessEnv, file: Record<string, unknown> | undefined): Settings[] {
  const out = [resolve(CONNECTION_OPTIONS, { flags, env: {} }), resolve(CONNECTION_OPTIONS, { flags: {}, env })];
  if (file) out.push(resolve(CONNECTION_OPTIONS, { flags: {}, env: {}, file }));
  return out;
}

const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));

export function loadConnection(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): Connection {
  const { path, explicit } = configPathOf(flags.config, env);
  let file: Record<string, unknown> | undefined;
  if (explicit || existsSync(path)) file = readConfigFile(path, CONNECTION_OPTIONS);
  const all = layers(flags, env, file);
  const first = (key: string): unknown => all.find((l) => l[key] !== undefined)?.[key];

  const where = all.find((l) => l.manager_url !== undefined || l.manager_host !== undefined);
  if (where === undefined) {
    throw new ConfigError('manager_url', 'set the manager: --manager-url, NEBULA_MANAGER_URI (or NEBULA_MANAGER_HOST), or run "nebula login"');
  }
  const managerUrl =
    where.manager_url !== undefined
      ? managerUrlOf(String(where.manager_url), 'manager_url')
      : managerUrlOf(`${String(where.manager_protocol ?? 'http')}://${String(where.manager_host)}:${String(where.manager_port ?? 80)}`, 'manager_host');

  const who = all.find((l) => l.token !== undefined || l.user !== undefined || l.password !== undefined);
  const auth: ManagerAuth =
    who === undefined
      ? null
      : who.token !== undefined
        ? { token: String(who.token) }
        : managerAuthOf(str(who.user ?? first('user')), str(who.password ?? first('password')), undefined, { user: 'user', password: 'password' });

  const caFile = str(first('manager_ca_file'));
  const ca = caFile !== undefined ? readManagerCa(caFile, managerUrl) : undefined;
  const timeout = first('request_timeout');
  return {
    managerUrl,
    auth,
    ...(ca ? { ca, caFile: resolvePath(caFile!) } : {}),
    requestTimeoutMs: (timeout === undefined ? 30 : Number(timeout)) * 1000,
    ...(file ? { file: path } : {}),
  };
}

/**
 * Writes the settings file for later commands (mode 0600, its directory 0700): the manager, the
 * CA file and the user; the password or token only with `saveSecret`.
 */
export function saveConnection(path: string, connection: Connection, saveSecret: boolean): Record<string, unknown> {
  const saved: Record<string, unknown> = { manager_url: connection.managerUrl };
  if (connection.caFile) saved.manager_ca_file = connection.caFile;
  const auth = connection.auth;
  if (auth && 'user' in auth) {
    saved.user = auth.user;
    if (saveSecret) saved.password = auth.password;
  } else if (auth && saveSecret) saved.token = auth.token;
  if (connection.requestTimeoutMs !== 30_000) saved.request_timeout = connection.requestTimeoutMs / 1000;
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600); // whatever the umask
  renameSync(tmp, path);
  return saved;
}
