// `npm run bench`: the benchmarks side by side, one table, each figure next to its reference.
// Figures, not pass/fail: a target missed is printed as such, and the run still ends 0.
// So far: /info 200 and 304 against a bare node:http server (issue 7 a, b); the rest of issue 7
// (propagation, the seed's siege test, worker footprint, reporter ingest, start-up) is to come.

import { cpus } from 'node:os';
import { benchInfo, type WrkResult } from './info.bench.ts';

interface Row {
  figure: string;
  nebula: string;
  reference: string;
  ratio: string;
  target: string;
}

const fmt = (r: WrkResult) => `${Math.round(r.requestsPerSecond)} req/s, p99 ${r.p99Ms.toFixed(1)} ms${r.non2xx3xx || r.errors ? `, ${r.non2xx3xx} bad, ${r.errors} errors` : ''}`;

async function main(): Promise<void> {
  const rows: Row[] = [];
  const info = await benchInfo();
  rows.push({
    figure: `a. /info 200 (${info.bodyBytes} B, auth, 500 conns)`,
    nebula: fmt(info.ok.nebula),
    reference: `bare node:http ${fmt(info.ok.bare)}`,
    ratio: (info.ok.nebula.requestsPerSecond / info.ok.bare.requestsPerSecond).toFixed(2),
    target: '>= 0.85',
  });
  rows.push({
    figure: 'b. /info 304 (If-None-Match)',
    nebula: fmt(info.notModified.nebula),
    reference: `bare node:http ${fmt(info.notModified.bare)}`,
    ratio: (info.notModified.nebula.requestsPerSecond / info.notModified.bare.requestsPerSecond).toFixed(2),
    target: '>= 0.9',
  });
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}; load: wrk -t2 -c500 pinned to CPU 1, servers to CPU 0`);
  const widths = (['figure', 'nebula', 'reference', 'ratio', 'target'] as const).map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(['figure', 'nebula', 'reference', 'ratio', 'target']));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line([r.figure, r.nebula, r.reference, r.ratio, r.target]));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
