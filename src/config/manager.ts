// The manager's settings.

import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { readConfigFile, resolve, type OptionDef, type Settings, type Sources } from './options.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const READ_PREFERENCES = ['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest'] as const;
export type ReadPreference = (typeof READ_PREFERENCES)[number];

/** Where the store is and how long reports are kept: the manager's and the reporter's. */
export const STORE_OPTIONS: readonly OptionDef[] = [
  { key: 'data_dir', flag: 'data-dir', env: ['NEBULA_DATA_DIR'], type: 'string', default: '/var/lib/nebula', describe: 'directory of the embedded SQLite store' },
  { key: 'schema_name', flag: 'schema-name', env: ['SCHEMA_NAME'], type: 'string', default: 'nebula', describe: 'database name (MongoDB database, or SQLite file <data-dir>/<schema-name>.db)' },
  { key: 'mongo_url', flag: 'mongo-url', env: ['MONGO_URL'], type: 'string', secret: true, describe: 'MongoDB URI: use MongoDB (replica set or sharded cluster) instead of the embedded SQLite store' },
  { key: 'reports_mongo_url', flag: 'reports-mongo-url', env: ['REPORTS_MONGO_URL'], type: 'string', secret: true, describe: 'a separate MongoDB for reports and the device index (keeps an edge region\'s telemetry local); its database is the URL\'s path, else schema_name; default: mongo_url' },
  { key: 'mongo_max_pool_size', flag: 'mongo-max-pool-size', env: ['MONGO_MAX_POOL_SIZE'], type: 'int', min: 1, max: 10000, default: 25, describe: 'MongoDB connection pool size' },
  { key: 'mongo_read_preference', flag: 'mongo-read-preference', env: ['MONGO_READ_PREFERENCE'], type: 'enum', choices: READ_PREFERENCES, describe: 'MongoDB read preference for device-facing reads (default: primary; nearest in edge mode); writes always go to the primary' },
  { key: 'report_ttl', flag: 'report-ttl', env: ['NEBULA_REPORT_TTL', 'MONGO_REPORT_TTL'], type: 'int', min: 60, max: 10 * 365 * 86400, default: 3600, describe: 'seconds a device report is kept' },
];

export interface MongoConfig {
  url: string;
  reportsUrl?: string;
  /** Unset: the role's default (primary; nearest for an edge manager). */
  readPreference?: ReadPreference;
  maxPoolSize: number;
}

export interface StoreConfig {
  dataDir: string;
  /** The database name: schema_name. */
  schemaName: string;
  databaseFile: string;
  reportTtlSeconds: number;
  /** Set: the MongoDB store; unset: the embedded SQLite file. */
  mongo?: MongoConfig;
}

function checkMongoUrl(key: string, url: string): string {
  if (!/^mongodb(\+srv)?:\/\/[^/?#]+/.test(url)) throw new ConfigError(key, 'must be a mongodb:// or mongodb+srv:// URI');
  return url;
}

export function storeConfigOf(s: Settings): StoreConfig {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(String(s.schema_name))) {
    throw new ConfigError('schema_name', 'must be 1-64 letters, digits, "_" or "-"');
  }
  const dataDir = String(s.data_dir);
  const schemaName = String(s.schema_name);
  const config: StoreConfig = { dataDir, schemaName, databaseFile: join(dataDir, `${schemaName}.db`), reportTtlSeconds: Number(s.report_ttl) };
  if (s.mongo_url !== undefined) {
    const mongo: MongoConfig = { url: checkMongoUrl('mongo_url', String(s.mongo_url)), maxPoolSize: Number(s.mongo_max_pool_size) };
    if (s.reports_mongo_url !== undefined) mongo.reportsUrl = checkMongoUrl('reports_mongo_url', String(s.reports_mongo_url));
    if (s.mongo_read_preference !== undefined) mongo.readPreference = s.mongo_read_preference as ReadPreference;
    config.mongo = mongo;
  } else if (s.reports_mongo_url !== undefined) {
    throw new ConfigError('reports_mongo_url', 'needs mongo_url: a separate reports database is a MongoDB deployment option');
  }
  return config;
}

export const MODES = ['single', 'control', 'edge'] as const;
export type Mode = (typeof MODES)[number];

export const MANAGER_OPTIONS: readonly OptionDef[] = [
  { key: 'mode', flag: 'mode', env: ['NEBULA_MODE'], type: 'enum', choices: MODES, default: 'single', describe: 'single (one region), control (takes admin writes) or edge (serves devices, refuses admin writes)' },
  { key: 'host', flag: 'host', env: ['NEBULA_HOST'], type: 'string', default: '0.0.0.0', describe: 'address to listen on' },
  { key: 'port', flag: 'port', env: ['NEBULA_PORT'], type: 'int', min: 0, max: 65535, default: 80, describe: 'port to listen on (0: any free port)' },
  { key: 'log_level', flag: 'log-level', env: ['NEBULA_LOG_LEVEL', 'LOG_LEVEL'], type: 'enum', choices: LOG_LEVELS, default: 'info', describe: 'log level' },
  { key: 'auth_enabled', flag: 'auth-enabled', env: ['AUTH_ENABLED'], type: 'bool', default: true, describe: 'false turns authentication off (only behind an authenticating proxy)' },
  { key: 'basic_auth_user', flag: 'basic-auth-user', env: ['BASIC_AUTH_USER'], type: 'string', describe: 'the admin user name (basic auth)' },
  { key: 'basic_auth_password', flag: 'basic-auth-password', env: ['BASIC_AUTH_PASSWORD'], type: 'string', secret: true, describe: 'the admin password (prefer the environment)' },
  { key: 'auth_token', flag: 'auth-token', env: ['AUTH_TOKEN'], type: 'string', secret: true, describe: 'the admin bearer token (prefer the environment)' },
  { key: 'cache_time', flag: 'cache-time', env: ['CACHE_TIME'], type: 'int', min: 0, max: 86400, default: 10, describe: 'seconds a device group info stays cached (0: no cache)' },
  { key: 'cache_max_size', flag: 'cache-max-size', env: ['CACHE_MAX_SIZE'], type: 'int', min: 1, max: 10_000_000, default: 1024, describe: 'most device groups kept in the info cache' },
  { key: 'workers', flag: 'workers', env: ['NEBULA_WORKERS'], type: 'int', min: 1, max: 256, default: 1, describe: 'serving processes sharing the port (SO_REUSEPORT), for a manager on several cores; 1: this process serves' },
  { key: 'max_event_loop_delay', flag: 'max-event-loop-delay', env: ['NEBULA_MAX_EVENT_LOOP_DELAY'], type: 'int', min: 0, max: 60_000, default: 1000, describe: 'shed requests (503 + Retry-After) while the mean event-loop delay exceeds this many ms (0: never)' },
  { key: 'max_in_flight', flag: 'max-in-flight', env: ['NEBULA_MAX_IN_FLIGHT'], type: 'int', min: 0, max: 1_000_000, default: 1024, describe: 'shed requests (503 + Retry-After) while this many are being worked on at once, held long-polls aside (0: no limit)' },
  { key: 'max_long_polls', flag: 'max-long-polls', env: ['NEBULA_MAX_LONG_POLLS'], type: 'int', min: 0, max: 10_000_000, default: 100_000, describe: 'most long-polls held at once per serving process; more are shed with 503 + Retry-After (0: no limit)' },
  { key: 'auth_failures_per_minute', flag: 'auth-failures-per-minute', env: ['NEBULA_AUTH_FAILURES_PER_MINUTE'], type: 'int', min: 0, max: 1_000_000, default: 30, describe: 'failed authentications a client address may make per minute before it gets 429 + Retry-After (0: no limit)' },
  { key: 'request_timeout', flag: 'request-timeout', env: ['NEBULA_REQUEST_TIMEOUT'], type: 'int', min: 1, max: 3600, default: 30, describe: 'seconds a client may take to send a whole request (half of it for the headers); slower senders get 408 (a long-poll\'s wait does not count)' },
  { key: 'tls_cert_file', flag: 'tls-cert-file', env: ['NEBULA_TLS_CERT_FILE'], type: 'string', describe: 'serve HTTPS with this certificate chain (PEM); needs tls_key_file' },
  { key: 'tls_key_file', flag: 'tls-key-file', env: ['NEBULA_TLS_KEY_FILE'], type: 'string', describe: 'the private key (PEM) of tls_cert_file' },
  { key: 'long_poll_max_wait', flag: 'long-poll-max-wait', env: ['NEBULA_LONG_POLL_MAX_WAIT'], type: 'int', min: 0, max: 3600, default: 60, describe: 'longest ?wait= a device may ask of /info, in seconds' },
  ...STORE_OPTIONS,
];

/** When the manager sheds load (roles/manager/overload.ts). */
export interface OverloadConfig {
  /** Mean event-loop delay (ms) above which requests are shed; 0: never. */
  maxEventLoopDelayMs: number;
  /** Requests worked on at once (held long-polls excluded) above which requests are shed; 0: no limit. */
  maxInFlight: number;
  /** Long-polls held at once above which a new one is shed; 0: no limit. */
  maxLongPolls: number;
  /** Failed authentications per address per minute before that address gets 429; 0: no limit. */
  authFailuresPerMinute: number;
}

export interface ManagerConfig extends StoreConfig {
  mode: Mode;
  host: string;
  port: number;
  logLevel: (typeof LOG_LEVELS)[number];
  authEnabled: boolean;
  basicAuthUser?: string;
  basicAuthPassword?: string;
  authToken?: string;
  cacheTimeSeconds: number;
  cacheMaxSize: number;
  longPollMaxWaitSeconds: number;
  /** Seconds a client may take to send a whole request. */
  requestTimeoutSeconds: number;
  /** Serving processes; above 1 this process supervises them (roles/manager/supervisor.ts). */
  workers: number;
  overload: OverloadConfig;
  /** Set: serve HTTPS with this certificate and key (PEM, read at start). */
  tls?: { certFile: string; keyFile: string };
}

/** Resolves and checks the manager's settings; throws ConfigError naming the setting. */
export function loadManagerConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): ManagerConfig {
  const configPath = (flags.config as string | undefined) ?? env.NEBULA_CONFIG;
  const sources: Sources = { flags, env };
  if (configPath) sources.file = readConfigFile(configPath, MANAGER_OPTIONS);
  const s = resolve(MANAGER_OPTIONS, sources);

  if ((s.basic_auth_user === undefined) !== (s.basic_auth_password === undefined)) {
    const given = s.basic_auth_user === undefined ? 'basic_auth_password' : 'basic_auth_user';
    throw new ConfigError(given, 'basic_auth_user and basic_auth_password go together: set both or neither');
  }
  const config: ManagerConfig = {
    ...storeConfigOf(s),
    mode: s.mode as Mode,
    host: String(s.host),
    port: Number(s.port),
    logLevel: s.log_level as ManagerConfig['logLevel'],
    authEnabled: Boolean(s.auth_enabled),
    cacheTimeSeconds: Number(s.cache_time),
    cacheMaxSize: Number(s.cache_max_size),
    longPollMaxWaitSeconds: Number(s.long_poll_max_wait),
    requestTimeoutSeconds: Number(s.request_timeout),
    workers: Number(s.workers),
    overload: {
      maxEventLoopDelayMs: Number(s.max_event_loop_delay),
      maxInFlight: Number(s.max_in_flight),
      maxLongPolls: Number(s.max_long_polls),
      authFailuresPerMinute: Number(s.auth_failures_per_minute),
    },
  };
  if ((s.tls_cert_file === undefined) !== (s.tls_key_file === undefined)) {
    throw new ConfigError(s.tls_cert_file === undefined ? 'tls_cert_file' : 'tls_key_file', 'is missing: tls_cert_file and tls_key_file go together, set both or neither');
  }
  if (s.tls_cert_file !== undefined) config.tls = { certFile: String(s.tls_cert_file), keyFile: String(s.tls_key_file) };
  if (config.workers > 1 && config.port === 0) {
    throw new ConfigError('workers', 'workers above 1 need a fixed port (the serving processes share it): set port');
  }
  if (s.basic_auth_user !== undefined) config.basicAuthUser = String(s.basic_auth_user);
  if (s.basic_auth_password !== undefined) config.basicAuthPassword = String(s.basic_auth_password);
  if (s.auth_token !== undefined) config.authToken = String(s.auth_token);
  return config;
}
