// Reading Prometheus text exposition in tests, strictly: every line a comment, blank or a
// sample, every family with its # HELP and # TYPE first (the manager's, the worker's and the
// reporter's metrics tests).

import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  text: string;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;

/** The family a sample belongs to (a histogram's _bucket/_sum/_count are its own). */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (types.get(base) === 'histogram' || types.get(base) === 'summary') return base;
    }
  }
  return undefined;
}

/** Parses the text format strictly: every line a comment, blank or `name{labels} value`; every family with # HELP and # TYPE first. */
export function parse(text: string): Exposition {
  const helps = new Set<string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line);
      assert.ok(m, `line ${i + 1}: a comment that is neither # HELP nor # TYPE: ${line}`);
      assert.match(m[2]!, NAME, `line ${i + 1}: metric name`);
      if (m[1] === 'HELP') helps.add(m[2]!);
      else {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!), `line ${i + 1}: type ${m[3]}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `line ${i + 1}: not "name{labels} value": ${line}`);
    const [, name, rawLabels, rawValue] = m;
    // prom-client writes NaN as "Nan" (the event-loop stats before a sample): Prometheus reads floats with Go's ParseFloat, case-insensitive.
    const isNaN = /^nan$/i.test(rawValue!);
    const value = isNaN ? NaN : rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    assert.ok(isNaN || !Number.isNaN(value), `line ${i + 1}: value ${rawValue}`);
    const labels: Record<string, string> = {};
    if (rawLabels !== undefined && rawLabels !== '') {
      LABEL.lastIndex = 0;
      let consumed = 0;
      for (let l = LABEL.exec(rawLabels); l !== null; l = LABEL.exec(rawLabels)) {
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
        consumed = LABEL.lastIndex;
      }
      assert.equal(consumed, rawLabels.length, `line ${i + 1}: labels ${rawLabels}`);
    }
    const family = familyOf(name!, types);
    assert.ok(family !== undefined, `line ${i + 1}: ${name} has no # TYPE before it`);
    assert.ok(helps.has(family), `line ${i + 1}: ${family} has no # HELP`);
    samples.push({ name: name!, labels, value });
  }
  for (const name of types.keys()) assert.ok(helps.has(name), `${name}: # TYPE without # HELP`);
  return { samples, types, text };
}

/** The value of the sample with exactly these labels (0 when absent: a counter not yet moved). */
export function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const keys = Object.keys(labels);
  const found = e.samples.filter((s) => s.name === name && Object.keys(s.labels).length === keys.length && keys.every((k) => s.labels[k] === labels[k]));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value ?? 0;
}


/** GET `url` (a metrics listener's /metrics): 200 in the text format, parsed strictly. */
export async function scrapeUrl(url: string): Promise<Exposition> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parse(text);
}
