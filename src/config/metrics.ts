// The metrics listener's settings, the worker's and the reporter's (the manager serves /metrics
// on its own port): off unless a port is given, on 127.0.0.1 unless a host is.

import { isIP } from 'node:net';
import { ConfigError } from '../errors.ts';
import type { OptionDef, Settings } from './options.ts';
import type { MetricsListen } from '../metrics/server.ts';

export const METRICS_OPTIONS: readonly OptionDef[] = [
  { key: 'metrics_port', flag: 'metrics-port', env: ['NEBULA_METRICS_PORT'], type: 'int', min: 0, max: 65535, describe: 'serve Prometheus metrics at GET /metrics on this port (0: any free port, told in the log; default: no metrics listener)' },
  { key: 'metrics_host', flag: 'metrics-host', env: ['NEBULA_METRICS_HOST'], type: 'string', default: '127.0.0.1', describe: 'address the metrics listener binds (it has no authentication: keep it local or firewalled)' },
];

/** A hostname: dot-separated labels of letters, digits and "-". */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Where the metrics listener listens; null when it is off (no metrics_port). */
export function metricsListenOf(v: Settings): MetricsListen | null {
  const host = String(v.metrics_host);
  if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new ConfigError('metrics_host', 'must be an IP address or a host name');
  if (v.metrics_port === undefined) return null;
  return { host, port: Number(v.metrics_port) };
}
