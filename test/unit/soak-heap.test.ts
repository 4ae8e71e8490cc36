// The soak's heap-snapshot summary (test/soak/heap.ts) on real snapshots of this process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { heapGrowth, summarizeSnapshot } from '../soak/heap.ts';

class SoakHeapProbe {
  readonly payload: string;
  constructor(i: number) {
    this.payload = `probe-${i}-${'x'.repeat(64)}`;
  }
}

test('two snapshots: objects kept alive between them show up as the top growth, by constructor', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nebula-heap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const before = summarizeSnapshot(writeHeapSnapshot(join(dir, 'a.heapsnapshot')));
  const kept = Array.from({ length: 20_000 }, (_, i) => new SoakHeapProbe(i));
  const after = summarizeSnapshot(writeHeapSnapshot(join(dir, 'b.heapsnapshot')));
  assert.ok(kept.length === 20_000);

  assert.ok(before.totalBytes > 1e6 && before.objects > 10_000, 'a whole heap is summed');
  const probes = after.byKind.get('object:SoakHeapProbe');
  assert.ok(probes !== undefined && probes.count >= 20_000, `the probes are counted by constructor: ${JSON.stringify(probes)}`);
  assert.equal(before.byKind.get('object:SoakHeapProbe')?.count ?? 0, 0);
  assert.ok(after.totalBytes - before.totalBytes > 20_000 * 16, 'the total grew by at least the probes');

  const growth = heapGrowth(before, after, 40);
  const row = growth.find((g) => g.kind === 'object:SoakHeapProbe');
  assert.ok(row !== undefined && row.count >= 20_000, 'the probes are among the top growth');
  assert.deepEqual(
    growth.map((g) => g.bytes),
    [...growth.map((g) => g.bytes)].sort((a, b) => b - a),
    'largest growth first',
  );
});
