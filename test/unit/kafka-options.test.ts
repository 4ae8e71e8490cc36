// KAFKA_* settings -> @platformatic/kafka client options (no broker needed), and the
// helpers the transport and reporter rely on.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MultipleErrors, ProtocolError } from '@platformatic/kafka';
import { kafkaSettingsOf, KAFKA_OPTIONS } from '../../src/config/kafka.ts';
import { loadReporterConfig } from '../../src/config/reporter.ts';
import { resolve } from '../../src/config/options.ts';
import { ConfigError } from '../../src/errors.ts';
import { asciiJson, describeKafkaError, kafkaConnectionOptions, KafkaReportTransport, reporterConsumerOptions } from '../../src/reports/kafka.ts';

function settingsFrom(env: Record<string, string>) {
  const settings = kafkaSettingsOf(resolve(KAFKA_OPTIONS, { flags: {}, env }));
  assert.ok(settings);
  return settings;
}

describe('kafkaConnectionOptions', () => {
  test('PLAINTEXT: brokers only, no SASL, no TLS', () => {
    const options = kafkaConnectionOptions(settingsFrom({ KAFKA_BOOTSTRAP_SERVERS: 'k1:9092, k2:9093' }));
    assert.deepEqual(options.bootstrapBrokers, ['k1:9092', 'k2:9093']);
    assert.equal(options.sasl, undefined);
    assert.equal(options.tls, undefined);
    assert.ok(options.connectTimeout! > 0 && options.requestTimeout! > 0);
  });

  for (const mechanism of ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    test(`SASL_PLAINTEXT ${mechanism}: SASL without TLS`, () => {
      const options = kafkaConnectionOptions(
        settingsFrom({
          KAFKA_BOOTSTRAP_SERVERS: 'k:9092',
          KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
          KAFKA_SASL_MECHANISM: mechanism.toLowerCase(),
          KAFKA_SASL_PLAIN_USERNAME: 'nebula',
          KAFKA_SASL_PLAIN_PASSWORD: 'pw',
        }),
      );
      assert.deepEqual(options.sasl, { mechanism, username: 'nebula', password: 'pw' });
      assert.equal(options.tls, undefined);
    });
  }

  test('SSL with no files: TLS with the system CAs', () => {
    const options = kafkaConnectionOptions(settingsFrom({ KAFKA_BOOTSTRAP_SERVERS: 'k:9093', KAFKA_SECURITY_PROTOCOL: 'SSL' }));
    assert.deepEqual(options.tls, {});
    assert.equal(options.sasl, undefined);
  });

  test('SASL_SSL with CA, client certificate, key password and CRL: the PEM files are read', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nebula-kafka-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const files = { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM', crl: 'CRL PEM' };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, `${name}.pem`), content);
    const options = kafkaConnectionOptions(
      settingsFrom({
        KAFKA_BOOTSTRAP_SERVERS: 'k:9093',
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_PLAIN_USERNAME: 'u',
        KAFKA_SASL_PLAIN_PASSWORD: 'p',
        KAFKA_SSL_CAFILE: join(dir, 'ca.pem'),
        KAFKA_SSL_CERTFILE: join(dir, 'cert.pem'),
        KAFKA_SSL_KEYFILE: join(dir, 'key.pem'),
        KAFKA_SSL_PASSWORD: 'key-secret',
        KAFKA_SSL_CRLFILE: join(dir, 'crl.pem'),
      }),
    );
    assert.equal(options.sasl?.mechanism, 'SCRAM-SHA-512');
    const tls = options.tls!;
    assert.equal(String(tls.ca), 'CA PEM');
    assert.equal(String(tls.cert), 'CERT PEM');
    assert.equal(String(tls.key), 'KEY PEM');
    assert.equal(String(tls.crl), 'CRL PEM');
    assert.equal(tls.passphrase, 'key-secret');
  });

  test('an unreadable TLS file is a ConfigError naming its setting (and the transport refuses to start)', () => {
    const settings = settingsFrom({ KAFKA_BOOTSTRAP_SERVERS: 'k:9093', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CAFILE: '/nonexistent/ca.pem' });
    assert.throws(
      () => kafkaConnectionOptions(settings),
      (err: unknown) => err instanceof ConfigError && err.setting === 'kafka_ssl_cafile' && /ENOENT/.test(err.message),
    );
    assert.throws(() => new KafkaReportTransport(settings), ConfigError);
  });

  test('files are read through the given reader, each time options are made', () => {
    const settings = settingsFrom({ KAFKA_BOOTSTRAP_SERVERS: 'k:9093', KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CAFILE: '/etc/kafka/ca.pem' });
    const reads: string[] = [];
    const read = (path: string) => {
      reads.push(path);
      return Buffer.from(`rotated ${reads.length}`);
    };
    assert.equal(String(kafkaConnectionOptions(settings, read).tls!.ca), 'rotated 1');
    assert.equal(String(kafkaConnectionOptions(settings, read).tls!.ca), 'rotated 2');
    assert.deepEqual(reads, ['/etc/kafka/ca.pem', '/etc/kafka/ca.pem']);
  });
});

describe('reporterConsumerOptions', () => {
  test('manual commits, endless retries, short session; onRetry hears each retry', () => {
    const settings = settingsFrom({ KAFKA_BOOTSTRAP_SERVERS: 'k:9092' });
    const heard: string[] = [];
    const options = reporterConsumerOptions(settings, { groupId: 'g', clientId: 'c', onRetry: (op, attempt) => heard.push(`${op}#${attempt}`) });
    assert.equal(options.groupId, 'g');
    assert.equal(options.clientId, 'c');
    assert.equal(options.autocommit, false);
    assert.equal(options.retries, true);
    assert.ok('sessionTimeout' in options && options.sessionTimeout! <= 10_000);
    assert.ok(options.rebalanceTimeout! >= options.sessionTimeout!, 'the library requires rebalanceTimeout >= sessionTimeout');
    assert.ok(options.heartbeatInterval! < options.sessionTimeout!);
    assert.deepEqual(options.bootstrapBrokers, ['k:9092']);
    const delay = options.retryDelay as (client: object, op: string, attempt: number, retries: number, err: Error) => number;
    const first = delay({}, 'fetch', 1, Infinity, new Error('x'));
    const late = delay({}, 'fetch', 30, Infinity, new Error('x'));
    assert.ok(first >= 125 && first <= 250, `first retry after ${first} ms`);
    assert.ok(late >= 2500 && late <= 5000, `retries back off to at most 5 s (${late} ms)`);
    assert.deepEqual(heard, ['fetch#1', 'fetch#30']);
  });
});

describe('reporter settings', () => {
  test('defaults: the original group and offset reset, 6 partitions, batches of 500 / 500 ms', () => {
    const config = loadReporterConfig({}, { KAFKA_BOOTSTRAP_SERVERS: 'k:9092' });
    assert.equal(config.groupId, 'nebula-reporter-group');
    assert.equal(config.autoOffsetReset, 'earliest');
    assert.equal(config.topicPartitions, 6);
    assert.equal(config.batchSize, 500);
    assert.equal(config.batchWaitMs, 500);
    assert.equal(config.kafka.topic, 'nebula-reports');
  });

  test('flags and the original environment names', () => {
    const config = loadReporterConfig(
      { 'kafka-topic-partitions': '12', 'batch-size': '100' },
      { KAFKA_BOOTSTRAP_SERVERS: 'k:9092', KAFKA_GROUP_ID: 'mine', KAFKA_AUTO_OFFSET_RESET: 'latest', KAFKA_TOPIC: 'reports-eu', NEBULA_REPORTER_BATCH_WAIT_MS: '50' },
    );
    assert.equal(config.topicPartitions, 12);
    assert.equal(config.batchSize, 100);
    assert.equal(config.batchWaitMs, 50);
    assert.equal(config.groupId, 'mine');
    assert.equal(config.autoOffsetReset, 'latest');
    assert.equal(config.kafka.topic, 'reports-eu');
  });

  test('no brokers: a ConfigError naming kafka_bootstrap_servers', () => {
    assert.throws(() => loadReporterConfig({}, {}), (err: unknown) => err instanceof ConfigError && err.setting === 'kafka_bootstrap_servers');
  });
});

describe('helpers', () => {
  test('asciiJson escapes every non-ASCII character and parses back to the same value', () => {
    const value = { msg: 'échec ✓ 日本 😀', n: 1, nested: ['ü'] };
    const text = asciiJson(value);
    assert.ok([...Buffer.from(text)].every((b) => b < 0x80), text);
    assert.deepEqual(JSON.parse(text), value);
  });

  test('describeKafkaError names the broker error codes inside nested library errors', () => {
    const inner = new ProtocolError('MESSAGE_TOO_LARGE');
    const err = new MultipleErrors('Producing messages failed.', [new MultipleErrors('Received response with error', [inner])]);
    assert.match(describeKafkaError(err), /^MESSAGE_TOO_LARGE: /);
    assert.equal(describeKafkaError(new Error('plain')), 'plain');
  });
});
