// Kafka settings, under the original Nebula's names (KAFKA_*), shared by the worker (which
// produces reports) and the reporter (which consumes them).

import { ConfigError } from '../errors.ts';
import type { OptionDef, Settings } from './options.ts';

const s = (key: string, describe: string, extra: Partial<OptionDef> = {}): OptionDef => ({
  key,
  flag: key.replaceAll('_', '-'),
  env: [key.toUpperCase()],
  type: 'string',
  describe,
  ...extra,
});

export const KAFKA_OPTIONS: readonly OptionDef[] = [
  s('kafka_bootstrap_servers', 'Kafka brokers, comma-separated host:port'),
  s('kafka_security_protocol', 'PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL', {
    type: 'enum',
    choices: ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'],
    default: 'PLAINTEXT',
  }),
  s('kafka_sasl_mechanism', 'PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512'),
  s('kafka_sasl_plain_username', 'Kafka SASL user'),
  s('kafka_sasl_plain_password', 'Kafka SASL password (prefer the environment)', { secret: true }),
  s('kafka_ssl_keyfile', 'Kafka TLS client key file (PEM)'),
  s('kafka_ssl_password', 'password of the TLS client key', { secret: true }),
  s('kafka_ssl_certfile', 'Kafka TLS client certificate file (PEM)'),
  s('kafka_ssl_cafile', 'Kafka TLS CA file (PEM)'),
  s('kafka_ssl_crlfile', 'Kafka TLS certificate revocation list (PEM)'),
  s('kafka_sasl_kerberos_service_name', 'accepted for compatibility (Kerberos/GSSAPI is not supported)', { default: 'kafka' }),
  s('kafka_sasl_kerberos_domain_name', 'accepted for compatibility (Kerberos/GSSAPI is not supported)', { default: 'kafka' }),
  s('kafka_topic', 'the topic of device reports', { default: 'nebula-reports' }),
];

export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

export interface KafkaSettings {
  brokers: string[];
  topic: string;
  securityProtocol: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  sasl: { mechanism: (typeof SASL_MECHANISMS)[number]; username: string; password: string } | null;
  /** TLS (SSL, SASL_SSL): files are read when the client connects. */
  tls: { caFile?: string; certFile?: string; keyFile?: string; keyPassword?: string; crlFile?: string } | null;
}

/** Checks the resolved KAFKA_* settings; null when no bootstrap servers are set. */
export function kafkaSettingsOf(v: Settings): KafkaSettings | null {
  if (v.kafka_bootstrap_servers === undefined) return null;
  const brokers = String(v.kafka_bootstrap_servers)
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  if (brokers.length === 0 || !brokers.every((b) => /^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b))) {
    throw new ConfigError('kafka_bootstrap_servers', 'must be a comma-separated list of host:port');
  }
  const topic = String(v.kafka_topic);
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) throw new ConfigError('kafka_topic', 'must be 1-249 letters, digits, ".", "_" or "-"');
  const securityProtocol = v.kafka_security_protocol as KafkaSettings['securityProtocol'];
  let sasl: KafkaSettings['sasl'] = null;
  if (securityProtocol === 'SASL_PLAINTEXT' || securityProtocol === 'SASL_SSL') {
    const mechanism = String(v.kafka_sasl_mechanism ?? 'PLAIN').toUpperCase();
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new ConfigError('kafka_sasl_mechanism', `must be one of ${SASL_MECHANISMS.join(', ')} (Kerberos/GSSAPI is not supported)`);
    }
    if (v.kafka_sasl_plain_username === undefined || v.kafka_sasl_plain_password === undefined) {
      throw new ConfigError('kafka_sasl_plain_username', `${securityProtocol} needs kafka_sasl_plain_username and kafka_sasl_plain_password`);
    }
    sasl = {
      mechanism: mechanism as (typeof SASL_MECHANISMS)[number],
      username: String(v.kafka_sasl_plain_username),
      password: String(v.kafka_sasl_plain_password),
    };
  }
  let tls: KafkaSettings['tls'] = null;
  if (securityProtocol === 'SSL' || securityProtocol === 'SASL_SSL') {
    tls = {};
    if (v.kafka_ssl_cafile !== undefined) tls.caFile = String(v.kafka_ssl_cafile);
    if (v.kafka_ssl_certfile !== undefined) tls.certFile = String(v.kafka_ssl_certfile);
    if (v.kafka_ssl_keyfile !== undefined) tls.keyFile = String(v.kafka_ssl_keyfile);
    if (v.kafka_ssl_password !== undefined) tls.keyPassword = String(v.kafka_ssl_password);
    if (v.kafka_ssl_crlfile !== undefined) tls.crlFile = String(v.kafka_ssl_crlfile);
    if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
      throw new ConfigError('kafka_ssl_certfile', 'kafka_ssl_certfile and kafka_ssl_keyfile go together');
    }
  }
  return { brokers, topic, securityProtocol, sasl, tls };
}
