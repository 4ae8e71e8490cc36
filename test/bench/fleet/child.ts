// The simulator as a child process the benches drive over IPC (remote.ts starts it with
// `taskset -c 1`, so it never shares the manager's core). One request at a time from the
// parent: {id, op, args} -> {id, result} or {id, error}.

import { CheckinLoad, type CheckinOptions } from './checkins.ts';
import { Fleet, type FleetOptions } from './fleet.ts';

let fleet: Fleet | null = null;
let load: CheckinLoad | null = null;

function needFleet(): Fleet {
  if (!fleet) throw new Error('no fleet: start one first');
  return fleet;
}

const ops: Record<string, (args: any) => unknown> = {
  startFleet(options: FleetOptions) {
    if (fleet) throw new Error('a fleet is running');
    fleet = new Fleet(options);
    fleet.start();
    return { devices: options.devices };
  },
  fleetStats: () => needFleet().stats(),
  resetStats: () => needFleet().resetStats(),
  beginEpoch: () => needFleet().beginEpoch(),
  backStats: () => needFleet().backStats(),
  timeline: () => needFleet().timelineSeconds(),
  changeStats: () => needFleet().changeStats(),
  /**
   * The admin write, sent from here so that one clock times it and the devices: t0 is taken
   * just before the request is written; `needle` is what the new config contains.
   */
  async write(args: { url: string; path: string; body: unknown; authorization: string; needle: string }) {
    const f = needFleet();
    const t0 = performance.now();
    f.markChange(args.needle, t0);
    const response = await fetch(`${args.url}${args.path}`, {
      method: 'POST',
      headers: { authorization: args.authorization, 'content-type': 'application/json' },
      body: JSON.stringify(args.body),
    });
    const text = await response.text();
    const answeredMs = performance.now() - t0;
    return { status: response.status, body: text.slice(0, 500), answeredMs };
  },
  async stopFleet() {
    await fleet?.stop();
    fleet = null;
  },
  startLoad(options: CheckinOptions) {
    load?.close();
    load = new CheckinLoad(options);
    return { reportBytes: load.reportBytes };
  },
  async step(args: { devices: number; intervalS: number; seconds: number; warmupSeconds: number }) {
    if (!load) throw new Error('no load: startLoad first');
    return load.step(args.devices, args.intervalS, args.seconds, args.warmupSeconds);
  },
  stopLoad() {
    load?.close();
    load = null;
  },
  memory: () => process.memoryUsage(),
};

process.on('message', (message: { id: number; op: string; args: unknown }) => {
  const { id, op, args } = message;
  void (async () => {
    try {
      const fn = ops[op];
      if (!fn) throw new Error(`unknown op ${op}`);
      const result = await fn(args);
      process.send!({ id, result: result ?? null });
    } catch (err) {
      process.send!({ id, error: err instanceof Error ? err.stack ?? err.message : String(err) });
    }
  })();
});

// The parent went away, or asks us to stop: nothing is worth finishing.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.send!({ ready: true });
