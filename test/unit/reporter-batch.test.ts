// The reporter's batching rules, as pure functions: when a batch is due, what its messages
// hold (malformed ones described without their content), which offsets committing it moves.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchCollector, decodeBatch, lastPerPartition, type BatchMessage } from '../../roles/reporter/batch.ts';

const msg = (partition: number, offset: number, value: unknown): BatchMessage => ({
  partition,
  offset: BigInt(offset),
  value: value === undefined ? undefined : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
});

const report = (hostname: string, extra: Record<string, unknown> = {}) => ({ hostname, device_group: 'pos', report_creation_time: 1_700_000_000, ...extra });

describe('BatchCollector', () => {
  test('due when full', () => {
    const batch = new BatchCollector<number>(3, 1000);
    batch.add(1, 0);
    batch.add(2, 1);
    assert.equal(batch.ready(2), false);
    batch.add(3, 2);
    assert.equal(batch.full(), true);
    assert.equal(batch.ready(2), true);
    assert.deepEqual(batch.take(), [1, 2, 3]);
    assert.equal(batch.size, 0);
  });

  test('due when the first message has waited maxWaitMs, however few there are', () => {
    const batch = new BatchCollector<string>(500, 200);
    assert.equal(batch.dueAt(), null);
    assert.equal(batch.ready(1_000_000), false, 'an empty batch is never due');
    batch.add('a', 1000);
    batch.add('b', 1150);
    assert.equal(batch.dueAt(), 1200, 'the wait counts from the first message, not the last');
    assert.equal(batch.ready(1199), false);
    assert.equal(batch.ready(1200), true);
  });

  test('take() starts a new batch with a new wait', () => {
    const batch = new BatchCollector<string>(10, 100);
    batch.add('a', 0);
    batch.take();
    assert.equal(batch.dueAt(), null);
    batch.add('b', 500);
    assert.equal(batch.dueAt(), 600);
  });

  test('a zero wait makes every non-empty batch due at once', () => {
    const batch = new BatchCollector<string>(10, 0);
    batch.add('a', 5);
    assert.equal(batch.ready(5), true);
  });

  test('maxSize must be a positive integer', () => {
    assert.throws(() => new BatchCollector(0, 100), RangeError);
    assert.throws(() => new BatchCollector(1.5, 100), RangeError);
  });
});

describe('decodeBatch', () => {
  test('reports with and without report_id (2.x workers send none) are kept as sent', () => {
    const ours = report('till-1', { report_id: 'till-1-42', apps_state: { web: { state: 'running', app_id: 3, running: 1, desired: 1 } } });
    const legacy = report('till-2');
    const { reports, malformed } = decodeBatch([msg(0, 0, ours), msg(1, 7, legacy)]);
    assert.deepEqual(reports, [ours, legacy]);
    assert.deepEqual(malformed, []);
  });

  test('malformed messages are described by partition, offset and reason, never by content', () => {
    const secret = 'PASSWORD=hunter2';
    const { reports, malformed } = decodeBatch([
      msg(2, 10, `{"hostname": "${secret}`),
      msg(2, 11, [secret]),
      msg(2, 12, report('', { note: secret })),
      msg(2, 13, report('h', { report_creation_time: '1700000000' })),
      msg(2, 14, report('h', { report_id: 'bad id with spaces' })),
      msg(2, 15, undefined),
      msg(2, 16, 'null'),
      msg(2, 17, report('ok')),
    ]);
    assert.deepEqual(reports, [report('ok')]);
    assert.deepEqual(
      malformed.map((m) => [m.partition, Number(m.offset), m.reason]),
      [
        [2, 10, 'not valid JSON'],
        [2, 11, 'report: must be a JSON object'],
        [2, 12, 'hostname: must be a string of 1-255 characters'],
        [2, 13, 'report_creation_time: must be a non-negative integer (Unix seconds)'],
        [2, 14, 'report_id: must be 1-128 letters, digits, ".", "_", ":" or "-"'],
        [2, 15, 'empty message'],
        [2, 16, 'report: must be a JSON object'],
      ],
    );
    assert.ok(!JSON.stringify(malformed, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes('hunter2'));
  });
});

describe('lastPerPartition', () => {
  test('the highest offset of each partition, whatever the order in the batch', () => {
    const batch = [msg(1, 5, 'a'), msg(0, 9, 'b'), msg(1, 7, 'c'), msg(0, 3, 'd'), msg(3, 0, 'e'), msg(1, 6, 'f')];
    assert.deepEqual(
      lastPerPartition(batch).map((m) => [m.partition, Number(m.offset)]),
      [
        [0, 9],
        [1, 7],
        [3, 0],
      ],
    );
  });

  test('an empty batch commits nothing', () => {
    assert.deepEqual(lastPerPartition([]), []);
  });
});
