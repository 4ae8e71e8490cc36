// The reporter's settings: the original reporter's names (KAFKA_*, MONGO_REPORT_TTL, ...)
// plus where our store is and how batches are made.

import { ConfigError } from '../errors.ts';
import { KAFKA_OPTIONS, kafkaSettingsOf, type KafkaSettings } from './kafka.ts';
import { LOG_LEVELS, STORE_OPTIONS, storeConfigOf, type StoreConfig } from './manager.ts';
import { readConfigFile, resolve, type OptionDef, type Sources } from './options.ts';
import { METRICS_OPTIONS, metricsListenOf } from './metrics.ts';
import type { MetricsListen } from '../metrics/server.ts';

export const REPORTER_OPTIONS: readonly OptionDef[] = [
  ...KAFKA_OPTIONS,
  { key: 'kafka_group_id', flag: 'kafka-group-id', env: ['KAFKA_GROUP_ID'], type: 'string', default: 'nebula-reporter-group', describe: 'the consumer group reporters share' },
  { key: 'kafka_auto_offset_reset', flag: 'kafka-auto-offset-reset', env: ['KAFKA_AUTO_OFFSET_RESET'], type: 'enum', choices: ['earliest', 'latest'], default: 'earliest', describe: 'where a new consumer group starts' },
  { key: 'kafka_topic_partitions', flag: 'kafka-topic-partitions', env: ['NEBULA_KAFKA_TOPIC_PARTITIONS'], type: 'int', min: 0, max: 10_000, default: 6, describe: 'partitions of the reports topic if the reporter has to create it; at most this many reporters share the work (0: never create the topic)' },
  { key: 'batch_size', flag: 'batch-size', env: ['NEBULA_REPORTER_BATCH_SIZE'], type: 'int', min: 1, max: 100_000, default: 500, describe: 'most reports stored in one write' },
  { key: 'batch_wait_ms', flag: 'batch-wait-ms', env: ['NEBULA_REPORTER_BATCH_WAIT_MS'], type: 'int', min: 0, max: 60_000, default: 500, describe: 'longest a report waits for its batch to fill, in milliseconds' },
  { key: 'log_level', flag: 'log-level', env: ['NEBULA_LOG_LEVEL', 'LOG_LEVEL'], type: 'enum', choices: LOG_LEVELS, default: 'info', describe: 'log level' },
  ...STORE_OPTIONS,
  ...METRICS_OPTIONS,
];

export interface ReporterConfig extends StoreConfig {
  kafka: KafkaSettings;
  groupId: string;
  autoOffsetReset: 'earliest' | 'latest';
  /** Partitions to create the topic with when it is missing; 0: leave creating it to the operator. */
  topicPartitions: number;
  batchSize: number;
  batchWaitMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  /** Set: serve Prometheus metrics there (GET /metrics). */
  metrics?: MetricsListen;
}

export function loadReporterConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): ReporterConfig {
  const configPath = (flags.config as string | undefined) ?? env.NEBULA_CONFIG;
  const sources: Sources = { flags, env };
  if (configPath) sources.file = readConfigFile(configPath, REPORTER_OPTIONS);
  const v = resolve(REPORTER_OPTIONS, sources);
  const kafka = kafkaSettingsOf(v);
  if (kafka === null) throw new ConfigError('kafka_bootstrap_servers', 'is required: the reporter reads the reports from Kafka (--kafka-bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS)');
  const groupId = String(v.kafka_group_id);
  if (groupId.length === 0 || groupId.length > 255) throw new ConfigError('kafka_group_id', 'must be 1-255 characters');
  const metrics = metricsListenOf(v);
  return {
    ...storeConfigOf(v),
    kafka,
    groupId,
    autoOffsetReset: v.kafka_auto_offset_reset as ReporterConfig['autoOffsetReset'],
    topicPartitions: Number(v.kafka_topic_partitions),
    batchSize: Number(v.batch_size),
    batchWaitMs: Number(v.batch_wait_ms),
    logLevel: v.log_level as ReporterConfig['logLevel'],
    ...(metrics ? { metrics } : {}),
  };
}
