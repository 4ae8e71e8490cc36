// `npm run bench [-- name …]`: every test/bench/*.bench.ts side by side, one table, each figure next
// to its reference and target. Figures, not pass/fail: a target missed is printed as such and the
// run still ends 0; it ends 1 only when a bench cannot measure at all.
// A full run (no names) rewrites docs/benchmarks.md with the machine, the method and the table.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, DURATION_S, type Bench, type Row } from './lib.ts';

const COLUMNS = ['figure', 'nebula', 'reference', 'ratio', 'target', 'verdict'] as const;

function table(rows: Row[]): string[] {
  const cells = rows.map((r) => COLUMNS.map((k) => (r[k] ?? '').replaceAll('|', '\\|')));
  const widths = COLUMNS.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}

function machine(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    // not a checkout
  }
  return `${cpus().length} × ${model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}, commit ${commit}`;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const dir = join(ROOT, 'test', 'bench');
  const benches: Bench[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { bench?: Bench };
    if (mod.bench) benches.push(mod.bench);
  }
  benches.sort((a, b) => a.order - b.order);
  const unknown = only.filter((n) => !benches.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`no bench named ${unknown.join(', ')} (there are: ${benches.map((b) => b.name).join(', ')})`);
  const selected = only.length === 0 ? benches : benches.filter((b) => only.includes(b.name));
  const rows: Row[] = [];
  const failures: string[] = [];
  for (const b of selected) {
    const started = Date.now();
    console.error(`bench ${b.name}: running…`);
    try {
      const got = await b.run();
      rows.push(...got);
      console.error(`bench ${b.name}: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      for (const line of table(got)) console.error(`  ${line}`);
    } catch (err) {
      failures.push(`${b.name}: ${err instanceof Error ? err.message : String(err)}`);
      rows.push({ figure: b.name, nebula: 'could not measure (see the run output)', reference: '', ratio: '', target: '', verdict: 'missed' });
      console.error(`bench ${b.name} failed:`, err);
    }
  }
  const header = `machine: ${machine()}`;
  console.log(header);
  for (const line of table(rows)) console.log(line);
  if (only.length === 0) {
    const doc = [
      '# Benchmarks',
      '',
      `Written by \`npm run bench\` (test/bench/run.ts) on ${new Date().toISOString().slice(0, 10)}; do not edit by hand — run it again.`,
      '',
      `Machine: ${machine()}.`,
      '',
      readFileSync(join(dir, 'README.md'), 'utf8').trim(),
      '',
      '## Results',
      '',
      `Duration of each wrk run: ${DURATION_S} s (BENCH_SECONDS).`,
      '',
      ...table(rows),
      '',
      '## Method, per benchmark',
      '',
      ...selected.map((b) => `- **${b.name}**: ${b.method}`),
      '',
    ].join('\n');
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    writeFileSync(join(ROOT, 'docs', 'benchmarks.md'), doc);
    console.log('wrote docs/benchmarks.md');
  }
  if (failures.length > 0) {
    console.error(`could not measure: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
