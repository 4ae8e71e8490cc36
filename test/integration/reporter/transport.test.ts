// KafkaReportTransport, the worker's side, against the real broker: send() resolves once the
// broker has the reports (keyed by hostname, ASCII JSON), large batches are cut into
// requests the broker accepts, a report the broker can never take is refused as such, and
// neither a broker that is gone nor one that hangs can hold a send past its timeout.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { KafkaReportTransport } from '../../../src/reports/kafka.ts';
import { ReportTransportError } from '../../../src/reports/transport.ts';
import { freePort } from '../../helpers/process.ts';
import { createTopic, kafkaSettings, readTopic, requireBroker, testReport, uniqueName } from '../../helpers/kafka.ts';

before(async () => {
  await requireBroker();
});

test('send resolves once the broker has every report: key = hostname (one partition per device), value = ASCII JSON', async (t) => {
  const settings = kafkaSettings(uniqueName('nebula-transport'));
  await createTopic(settings, 4);
  const transport = new KafkaReportTransport(settings);
  t.after(() => transport.close());
  const reports = Array.from({ length: 30 }, (_, i) => testReport(`dev-${i % 5}`, { last_error: { at: 1, message: `échec n°${i} ✓` } }));

  const started = Date.now();
  await transport.send(reports.slice(0, 15));
  await transport.send(reports.slice(15));
  const sendMs = Date.now() - started;

  const messages = await readTopic(settings, 30);
  assert.equal(messages.length, 30);
  const partitionOf = new Map<string, Set<number>>();
  for (const m of messages) {
    const key = m.key!.toString();
    const value = m.value!;
    assert.ok(value.every((byte) => byte < 0x80), 'the value is ASCII');
    const report = JSON.parse(value.toString()) as { hostname: string };
    assert.equal(key, report.hostname);
    partitionOf.set(key, (partitionOf.get(key) ?? new Set()).add(m.partition));
  }
  for (const [host, partitions] of partitionOf) assert.equal(partitions.size, 1, `${host} stays in one partition`);
  // A device's reports arrive in the order they were sent.
  const byHost = messages.filter((m) => m.key!.toString() === 'dev-0').map((m) => (JSON.parse(m.value!.toString()) as { report_id: string }).report_id);
  assert.deepEqual(byHost, reports.filter((r) => r.hostname === 'dev-0').map((r) => r.report_id));
  const roundTrip = messages.map((m) => JSON.parse(m.value!.toString()) as { report_id: string });
  assert.deepEqual(roundTrip.find((r) => r.report_id === reports[7]!.report_id), reports[7], 'non-ASCII text survives the escaping');
  t.diagnostic(`2 sends of 15 reports: ${sendMs} ms`);
});

test('a batch larger than one request is cut into several; a report the broker can never take is refused as not retryable', async (t) => {
  const settings = kafkaSettings(uniqueName('nebula-transport-big'));
  await createTopic(settings, 1);
  const transport = new KafkaReportTransport(settings);
  t.after(() => transport.close());
  // Random (incompressible) 100 KiB per report: 2.4 MiB in one partition, over the broker's 1 MiB per request.
  const big = Array.from({ length: 24 }, () => testReport('big-device', { apps_containers: [randomBytes(75 * 1024).toString('base64')] }));
  await transport.send(big);
  assert.equal((await readTopic(settings, 24)).length, 24);

  const huge = testReport('big-device', { apps_containers: [randomBytes(1536 * 1024).toString('base64')] });
  const refused = await transport.send([huge]).then(
    () => assert.fail('a 2 MiB report was accepted'),
    (err: unknown) => err,
  );
  assert.ok(refused instanceof ReportTransportError);
  assert.equal(refused.retryable, false);
  assert.match(refused.message, /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/);
  // The transport still works for the next report.
  await transport.send([testReport('big-device')]);
  assert.equal((await readTopic(settings, 25)).length, 25);
});

test('no broker listening: send fails, retryable, before its timeout', async (t) => {
  const port = await freePort();
  const transport = new KafkaReportTransport(kafkaSettings('nebula-nowhere', [`127.0.0.1:${port}`]), { sendTimeoutMs: 5000 });
  t.after(() => transport.close());
  const started = Date.now();
  const err = await transport.send([testReport('lonely')]).then(
    () => assert.fail('sent without a broker'),
    (e: unknown) => e,
  );
  const ms = Date.now() - started;
  assert.ok(err instanceof ReportTransportError);
  assert.equal(err.retryable, true);
  assert.ok(ms < 5500, `failed after ${ms} ms`);
  t.diagnostic(`connection refused: failed after ${ms} ms`);
});

test('a broker that accepts connections and never answers (a hung broker) cannot hold a send past sendTimeoutMs', async (t) => {
  // The fault: a listener that takes connections and stays silent. A real broker cannot be
  // made to hang on demand, so this stands in for one (and says so).
  const sockets = new Set<Socket>();
  const hung = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  hung.listen(0, '127.0.0.1');
  await once(hung, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    hung.close();
  });
  const { port } = hung.address() as { port: number };
  const transport = new KafkaReportTransport(kafkaSettings('nebula-hung', [`127.0.0.1:${port}`]), { sendTimeoutMs: 1500 });
  t.after(() => transport.close());

  const started = Date.now();
  const err = await transport.send([testReport('patient')]).then(
    () => assert.fail('a silent listener acknowledged a report'),
    (e: unknown) => e,
  );
  const ms = Date.now() - started;
  assert.ok(err instanceof ReportTransportError);
  assert.equal(err.retryable, true);
  assert.match(err.message, /within 1500 ms/);
  assert.ok(ms >= 1400 && ms < 3000, `gave up after ${ms} ms`);
  assert.ok(sockets.size >= 1, 'the transport did connect');
  // A second send is bounded the same way (the stuck producer was dropped, not reused).
  const again = Date.now();
  await assert.rejects(transport.send([testReport('patient')]), ReportTransportError);
  assert.ok(Date.now() - again < 3000);
});

test('send after close is refused', async () => {
  const transport = new KafkaReportTransport(kafkaSettings(uniqueName('nebula-closed')));
  await transport.close();
  await assert.rejects(transport.send([testReport('late')]), ReportTransportError);
});
