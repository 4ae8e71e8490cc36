// Heap snapshots of the worker during a soak (`npm run soak -- --heap-snapshots`): a snapshot is
// taken after a full collection, so two of them, at the end of the warm-up and at the end of the
// run, tell whether what the worker keeps alive grows — which its RSS alone cannot tell from a
// heap that V8 simply has not collected yet. The summary groups live objects by constructor
// (V8's node name for objects, the node type otherwise) and lists what grew most.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What `--heapsnapshot-signal` writes: a JSON of flat node arrays described by its meta. */
interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  file: string;
  totalBytes: number;
  objects: number;
  /** Bytes and count by constructor (objects) or by node type (strings, code, arrays…). */
  byKind: Map<string, { bytes: number; count: number }>;
}

export function summarizeSnapshot(file: string): HeapSummary {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byKind = new Map<string, { bytes: number; count: number }>();
  let totalBytes = 0;
  let objects = 0;
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + typeAt]!] ?? 'unknown';
    const size = raw.nodes[i + sizeAt]!;
    const kind = type === 'object' || type === 'closure' ? `${type}:${raw.strings[raw.nodes[i + nameAt]!] ?? '?'}` : type;
    const entry = byKind.get(kind) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count += 1;
    byKind.set(kind, entry);
    totalBytes += size;
    objects += 1;
  }
  return { file, totalBytes, objects, byKind };
}

/** The kinds that grew most between two snapshots, by bytes. */
export function heapGrowth(before: HeapSummary, after: HeapSummary, top = 15): { kind: string; bytes: number; count: number }[] {
  const kinds = new Set([...before.byKind.keys(), ...after.byKind.keys()]);
  return [...kinds]
    .map((kind) => {
      const a = before.byKind.get(kind) ?? { bytes: 0, count: 0 };
      const b = after.byKind.get(kind) ?? { bytes: 0, count: 0 };
      return { kind, bytes: b.bytes - a.bytes, count: b.count - a.count };
    })
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, top);
}

/** Signals `pid` to write a snapshot into `dir` and waits (bounded) until the file is complete. */
export async function takeSnapshot(pid: number, dir: string, timeoutMs = 120_000): Promise<string> {
  const before = new Set(snapshotsIn(dir));
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + timeoutMs;
  let last = -1;
  while (performance.now() < deadline) {
    await sleep(1000);
    const file = snapshotsIn(dir).find((f) => !before.has(f));
    if (file === undefined) continue;
    const size = statSync(file).size;
    // Complete once it parses: the writer ends the JSON last.
    if (size === last) {
      try {
        JSON.parse(readFileSync(file, 'utf8'));
        return file;
      } catch {
        // still being written
      }
    }
    last = size;
  }
  throw new Error(`no heap snapshot of pid ${pid} in ${dir} within ${timeoutMs / 1000} s`);
}

function snapshotsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.heapsnapshot'))
    .map((f) => join(dir, f));
}
