// The seed's own load test, for history (issue 7 d): siege (Debian's), 500 concurrent clients ×
// 100 requests each to a device group's /info with no delay — what seed 001 ran against the
// original manager and reported as 778 transactions/s. Siege's defaults as the seed used them
// (a new connection per request), with its user cap raised to 500 in a private rc file. As the
// seed noted, siege itself is the bottleneck (a thread per client): this figure measures siege
// as much as the manager, which is why a and b use wrk against a bare server.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_HEADER, seedGroup, startManager, type Bench, type Row } from './lib.ts';

const CLIENTS = 500;
const REPS = 100;
const SEED_RATE = 778.33;

interface SiegeResult {
  transactions: number;
  availability: number;
  transaction_rate: number;
  failed_transactions: number;
  longest_transaction: number;
  response_time: number;
}

export const bench: Bench = {
  name: 'siege',
  order: 4,
  method: `siege 4 (Debian) -c ${CLIENTS} -r ${REPS} -b, one new connection per request as siege does by default, pinned to CPU 1, against the manager from source (SQLite, auth on, CPU 0) on a three-app group; the seed's 778 trans/s were measured the same way on the original manager (its hardware unknown).`,
  async run(): Promise<Row[]> {
    const manager = await startManager();
    const dir = mkdtempSync(join(tmpdir(), 'nebula-siege-'));
    try {
      await seedGroup(manager.url);
      const rc = join(dir, 'siegerc');
      writeFileSync(rc, `limit = ${CLIENTS}\nshow-logfile = false\nlogging = false\nparser = false\nprotocol = HTTP/1.1\n`);
      const child = spawn('taskset', ['-c', '1', 'siege', `--rc=${rc}`, '-q', '-j', '-b', '-c', String(CLIENTS), '-r', String(REPS), '-H', `Authorization: ${AUTH_HEADER}`, `${manager.url}/api/v2/device_groups/pos-eu/info`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await once(child, 'exit');
      const json = out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1);
      let r: SiegeResult;
      try {
        r = JSON.parse(json) as SiegeResult;
      } catch {
        throw new Error(`cannot read siege's output:\n${out}\n${err.slice(-2000)}`);
      }
      return [
        {
          figure: `d. seed's test: siege ${CLIENTS} clients × ${REPS} requests to /info`,
          nebula: `${Math.round(r.transaction_rate)} trans/s, ${r.transactions} ok, ${r.failed_transactions} failed, availability ${r.availability} %, longest ${r.longest_transaction} s`,
          reference: `seed 001 (original manager): ${SEED_RATE} trans/s, 0 failed, longest 12.54 s`,
          ratio: (r.transaction_rate / SEED_RATE).toFixed(1),
          target: '',
          verdict: '',
        },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await manager.stop();
    }
  },
};
