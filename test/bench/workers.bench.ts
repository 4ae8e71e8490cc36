// `nebula manager --workers N` (issue 7 point 3): /info 200 throughput with N serving processes
// sharing the port (SO_REUSEPORT) against the same manager with one, in the same conditions —
// nothing pinned, wrk sharing the machine's cores with the manager. On a 2-core machine wrk needs
// one of them, so the gain shown here is a floor; on a manager host with more cores than wrk
// needs it grows with the cores.

import { cpus } from 'node:os';
import { AUTH_HEADER, fmtWrk, seedGroup, startManager, wrk, type Bench, type Row, type WrkResult } from './lib.ts';

const WORKERS = Number(process.env.BENCH_WORKERS ?? Math.max(2, cpus().length));
const PATH = '/api/v2/device_groups/pos-eu/info';
const ALL_CPUS = cpus().map((_, i) => i).join(',');

async function measure(workers: number): Promise<WrkResult> {
  const manager = await startManager({ cpus: '', args: ['--workers', String(workers)] });
  try {
    await seedGroup(manager.url);
    // Every serving process reads the group into its cache before the measure.
    for (let i = 0; i < 20; i++) await fetch(`${manager.url}${PATH}`, { headers: { authorization: AUTH_HEADER, connection: 'close' } }).then((r) => r.arrayBuffer());
    return await wrk(`${manager.url}${PATH}`, { Authorization: AUTH_HEADER }, { cpus: ALL_CPUS });
  } finally {
    await manager.stop();
  }
}

export const bench: Bench = {
  name: 'workers',
  order: 2.5,
  method: `wrk -t2 -c500 against \`nebula manager --workers ${WORKERS}\` and against the same manager with --workers 1, nothing pinned (${cpus().length} cores shared by wrk and the manager), same group and auth as a.`,
  async run(): Promise<Row[]> {
    const one = await measure(1);
    const many = await measure(WORKERS);
    return [
      {
        figure: `a'. /info 200 with --workers ${WORKERS} (${cpus().length} cores, shared with wrk)`,
        nebula: fmtWrk(many),
        reference: `--workers 1 ${fmtWrk(one)}`,
        ratio: (many.requestsPerSecond / one.requestsPerSecond).toFixed(2),
        target: '',
        verdict: '',
      },
    ];
  },
};
