// The worker's settings: every setting of the original worker under its original name,
// plus the flags and settings of our own (state dir, Docker socket, long-poll).

import { hostname } from 'node:os';
import { ConfigError } from '../errors.ts';
import { readConfigFile, resolve, type OptionDef, type Sources } from './options.ts';
import { LOG_LEVELS } from './manager.ts';
import { managerAuthOf, managerUrlOf, readManagerCa } from './connection.ts';
import { KAFKA_OPTIONS, kafkaSettingsOf, type KafkaSettings } from './kafka.ts';
import { METRICS_OPTIONS, metricsListenOf } from './metrics.ts';
import type { MetricsListen } from '../metrics/server.ts';

const s = (key: string, flag: string, env: string[], describe: string, extra: Partial<OptionDef> = {}): OptionDef => ({
  key,
  flag,
  env,
  type: 'string',
  describe,
  ...extra,
});

export const WORKER_OPTIONS: readonly OptionDef[] = [
  s('device_group', 'device-group', ['DEVICE_GROUP'], 'the device group this device belongs to (required)'),
  s('nebula_manager_uri', 'manager-url', ['NEBULA_MANAGER_URI'], 'the manager base URL, e.g. https://nebula.example.com:8080 (overrides host/port/protocol)'),
  s('nebula_manager_host', 'manager-host', ['NEBULA_MANAGER_HOST'], 'the manager host'),
  { key: 'nebula_manager_port', flag: 'manager-port', env: ['NEBULA_MANAGER_PORT'], type: 'int', min: 1, max: 65535, default: 80, describe: 'the manager port' },
  { key: 'nebula_manager_protocol', flag: 'manager-protocol', env: ['NEBULA_MANAGER_PROTOCOL'], type: 'enum', choices: ['http', 'https'], default: 'http', describe: 'the manager protocol' },
  s('nebula_manager_auth_user', 'manager-user', ['NEBULA_MANAGER_AUTH_USER'], 'basic-auth user for the manager'),
  s('nebula_manager_auth_password', 'manager-password', ['NEBULA_MANAGER_AUTH_PASSWORD'], 'basic-auth password for the manager (prefer the environment)', { secret: true }),
  s('nebula_manager_auth_token', 'manager-token', ['NEBULA_MANAGER_AUTH_TOKEN'], 'bearer token for the manager; wins over basic auth (prefer the environment)', { secret: true }),
  s('manager_ca_file', 'manager-ca-file', ['NEBULA_MANAGER_CA_FILE'], "CA certificate(s) (PEM) to verify an https:// manager against, instead of the system's (a private CA)"),
  { key: 'nebula_manager_request_timeout', flag: 'request-timeout', env: ['NEBULA_MANAGER_REQUEST_TIMEOUT'], type: 'int', min: 1, max: 3600, default: 60, describe: 'seconds per request to the manager' },
  { key: 'nebula_manager_check_in_time', flag: 'check-in-time', env: ['NEBULA_MANAGER_CHECK_IN_TIME'], type: 'int', min: 1, max: 86400, default: 30, describe: 'seconds between polls (managers without long-poll) and between local checks' },
  { key: 'long_poll_wait', flag: 'long-poll-wait', env: ['NEBULA_LONG_POLL_WAIT'], type: 'int', min: 0, max: 3600, default: 30, describe: 'seconds a long-poll may be held by the manager (0: plain polling)' },
  s('registry_auth_user', 'registry-user', ['REGISTRY_AUTH_USER'], 'registry user ("skip": none)'),
  s('registry_auth_password', 'registry-password', ['REGISTRY_AUTH_PASSWORD'], 'registry password ("skip": none)', { secret: true }),
  s('registry_host', 'registry-host', ['REGISTRY_HOST'], 'the registry those credentials are for', { default: 'https://index.docker.io/v1/' }),
  { key: 'max_restart_wait_in_seconds', flag: 'max-restart-wait', env: ['MAX_RESTART_WAIT_IN_SECONDS'], type: 'int', min: 0, max: 86400, default: 0, describe: 'random wait of 0..N seconds before a changed app restarts (spreads a fleet)' },
  { key: 'rolling_settle_seconds', flag: 'rolling-settle', env: ['NEBULA_ROLLING_SETTLE_SECONDS'], type: 'int', min: 0, max: 3600, default: 5, describe: 'seconds a rolling restart waits after each replaced container' },
  { key: 'health_check_interval', flag: 'health-interval', env: ['NEBULA_HEALTH_CHECK_INTERVAL'], type: 'int', min: 1, max: 3600, default: 10, describe: 'seconds between checks for unhealthy containers' },
  s('state_dir', 'state-dir', ['NEBULA_STATE_DIR'], 'directory of the worker state (SQLite)', { default: '/var/lib/nebula-worker' }),
  s('docker_socket', 'docker-socket', ['NEBULA_DOCKER_SOCKET'], 'the Docker engine socket', { default: '/var/run/docker.sock' }),
  { key: 'log_level', flag: 'log-level', env: ['NEBULA_LOG_LEVEL', 'LOG_LEVEL'], type: 'enum', choices: LOG_LEVELS, default: 'info', describe: 'log level' },
  s('device_name', 'device-name', ['NEBULA_DEVICE_NAME'], "this device's name in reports (default: the host's name)"),
  { key: 'report_transport', flag: 'report-transport', env: ['NEBULA_REPORT_TRANSPORT'], type: 'enum', choices: ['http', 'kafka', 'none'], describe: 'how reports travel: http (to the manager), kafka, or none (default: kafka when KAFKA_BOOTSTRAP_SERVERS is set, else http)' },
  { key: 'report_on_update_only', flag: 'report-on-update-only', env: ['REPORT_ON_UPDATE_ONLY'], type: 'bool', default: false, describe: 'report only after a change (new config applied, or an app changed state), not every check-in' },
  { key: 'report_min_interval', flag: 'report-min-interval', env: ['NEBULA_REPORT_MIN_INTERVAL'], type: 'int', min: 0, max: 86400, default: 5, describe: 'fewest seconds between two reports' },
  { key: 'report_spool_max', flag: 'report-spool-max', env: ['NEBULA_REPORT_SPOOL_MAX'], type: 'int', min: 1, max: 1_000_000, default: 1000, describe: 'most reports kept on the device while they cannot be sent (the oldest are dropped first)' },
  { key: 'reporting_fail_hard', flag: 'reporting-fail-hard', env: ['REPORTING_FAIL_HARD'], type: 'bool', default: true, describe: 'end the worker when the reporting transport cannot be set up at start (sending failures are spooled, never fatal)' },
  ...KAFKA_OPTIONS,
  ...METRICS_OPTIONS,
];

export interface RegistryCredentials {
  username: string;
  password: string;
  /** Host part of the registry, e.g. "127.0.0.1:5001" or "index.docker.io". */
  host: string;
}

export interface WorkerConfig {
  deviceGroup: string;
  managerUrl: string;
  /** PEM CA certificate(s) the https:// manager's certificate must chain to (unset: the system's). */
  managerCa?: Buffer;
  auth: { token: string } | { user: string; password: string } | null;
  requestTimeoutSeconds: number;
  checkInSeconds: number;
  longPollWaitSeconds: number;
  registry: RegistryCredentials | null;
  maxRestartWaitSeconds: number;
  rollingSettleSeconds: number;
  healthIntervalSeconds: number;
  stateDir: string;
  dockerSocket: string;
  logLevel: (typeof LOG_LEVELS)[number];
  /** The device's name in reports. */
  deviceName: string;
  reporting: ReportingConfig;
  /** Set: serve Prometheus metrics there (GET /metrics). */
  metrics?: MetricsListen;
}

export interface ReportingConfig {
  transport: 'http' | 'kafka' | 'none';
  onUpdateOnly: boolean;
  minIntervalSeconds: number;
  spoolMax: number;
  failHard: boolean;
  /** Set when the transport is kafka. */
  kafka: KafkaSettings | null;
}

/** "https://index.docker.io/v1/" → "index.docker.io"; "127.0.0.1:5001" stays. */
export function registryHostOf(value: string): string {
  return value.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
}

export function loadWorkerConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): WorkerConfig {
  const configPath = (flags.config as string | undefined) ?? env.NEBULA_CONFIG;
  const sources: Sources = { flags, env };
  if (configPath) sources.file = readConfigFile(configPath, WORKER_OPTIONS);
  const v = resolve(WORKER_OPTIONS, sources);

  const deviceGroup = v.device_group as string | undefined;
  if (deviceGroup === undefined) throw new ConfigError('device_group', 'is required (--device-group or DEVICE_GROUP)');
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(deviceGroup)) {
    throw new ConfigError('device_group', 'must be 1-64 letters, digits, "_" or "-", starting with a letter or digit');
  }
  let managerUrl: string;
  if (v.nebula_manager_uri !== undefined) {
    managerUrl = managerUrlOf(String(v.nebula_manager_uri), 'nebula_manager_uri');
  } else if (v.nebula_manager_host !== undefined) {
    managerUrl = `${String(v.nebula_manager_protocol)}://${String(v.nebula_manager_host)}:${String(v.nebula_manager_port)}`;
  } else {
    throw new ConfigError('nebula_manager_uri', 'set the manager: --manager-url (NEBULA_MANAGER_URI) or NEBULA_MANAGER_HOST');
  }

  const managerCa = v.manager_ca_file !== undefined ? readManagerCa(String(v.manager_ca_file), managerUrl) : undefined;
  const auth = managerAuthOf(v.nebula_manager_auth_user as string | undefined, v.nebula_manager_auth_password as string | undefined, v.nebula_manager_auth_token as string | undefined);

  const ru = v.registry_auth_user as string | undefined;
  const rp = v.registry_auth_password as string | undefined;
  const registry =
    ru !== undefined && rp !== undefined && ru !== 'skip' && rp !== 'skip'
      ? { username: ru, password: rp, host: registryHostOf(String(v.registry_host)) }
      : null;

  const deviceName = String(v.device_name ?? hostname());
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(deviceName)) {
    throw new ConfigError('device_name', 'must be 1-253 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  const kafka = kafkaSettingsOf(v);
  const transport = (v.report_transport as ReportingConfig['transport'] | undefined) ?? (kafka ? 'kafka' : 'http');
  if (transport === 'kafka' && kafka === null) {
    throw new ConfigError('kafka_bootstrap_servers', 'is required when reports travel over Kafka (--report-transport kafka)');
  }

  const metrics = metricsListenOf(v);

  return {
    deviceGroup,
    managerUrl,
    ...(managerCa ? { managerCa } : {}),
    auth,
    requestTimeoutSeconds: Number(v.nebula_manager_request_timeout),
    checkInSeconds: Number(v.nebula_manager_check_in_time),
    longPollWaitSeconds: Number(v.long_poll_wait),
    registry,
    maxRestartWaitSeconds: Number(v.max_restart_wait_in_seconds),
    rollingSettleSeconds: Number(v.rolling_settle_seconds),
    healthIntervalSeconds: Number(v.health_check_interval),
    stateDir: String(v.state_dir),
    dockerSocket: String(v.docker_socket),
    logLevel: v.log_level as WorkerConfig['logLevel'],
    deviceName,
    reporting: { transport, onUpdateOnly: Boolean(v.report_on_update_only), minIntervalSeconds: Number(v.report_min_interval), spoolMax: Number(v.report_spool_max), failHard: Boolean(v.reporting_fail_hard), kafka },
    ...(metrics ? { metrics } : {}),
  };
}
