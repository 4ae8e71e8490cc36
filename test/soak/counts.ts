// What the soak counts between two samples: every answer the manager gave, by who asked (the
// simulated fleet's /info and reports, the admin changes, the real worker through its counting
// proxy) and by status, and the failures that got no answer. Every client of the manager is the
// soak's, so these are the manager's own request counts. Also: the warn/error lines of a
// process's pino log, written to a file as they come.

import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';

export type Source = 'fleet /info' | 'fleet reports' | 'admin' | 'worker';

/** Statuses each source expects; a 5xx is a failure of the soak, anything else unexpected is an error. */
const EXPECTED: Record<Source, number[]> = {
  'fleet /info': [200, 304],
  'fleet reports': [200],
  admin: [200, 202],
  worker: [200, 304],
};

export interface Tallies {
  /** source → status → count. */
  byStatus: Record<string, Record<string, number>>;
  /** source → error code → count (no answer: refused, reset, timed out). */
  byError: Record<string, Record<string, number>>;
}

export class Counts {
  private window: Tallies = { byStatus: {}, byError: {} };
  readonly total: Tallies = { byStatus: {}, byError: {} };

  status(source: Source, status: number, n = 1): void {
    for (const t of [this.window, this.total]) {
      const m = (t.byStatus[source] ??= {});
      m[status] = (m[status] ?? 0) + n;
    }
  }

  error(source: Source, code: string, n = 1): void {
    for (const t of [this.window, this.total]) {
      const m = (t.byError[source] ??= {});
      m[code] = (m[code] ?? 0) + n;
    }
  }

  /** The window's tallies; starts a new window. */
  take(): Tallies {
    const w = this.window;
    this.window = { byStatus: {}, byError: {} };
    return w;
  }
}

export interface Summary {
  answered: number;
  fiveXX: number;
  /** Unexpected statuses other than 5xx, plus requests that got no answer. */
  errors: number;
}

export function summarize(t: Tallies): Summary {
  let answered = 0;
  let fiveXX = 0;
  let errors = 0;
  for (const [source, statuses] of Object.entries(t.byStatus)) {
    for (const [status, n] of Object.entries(statuses)) {
      answered += n;
      const code = Number(status);
      if (code >= 500) fiveXX += n;
      else if (!(EXPECTED[source as Source] ?? []).includes(code)) errors += n;
    }
  }
  for (const codes of Object.values(t.byError)) for (const n of Object.values(codes)) errors += n;
  return { answered, fiveXX, errors };
}

/** Copies a child's stdout and stderr to a file and counts its pino lines at warn (40) and above. */
export class LogTap {
  readonly levels = { warn: 0, error: 0, fatal: 0 };
  /** The last lines at error or above (for the summary). */
  readonly lastErrors: string[] = [];
  private readonly file: WriteStream;
  private partial = '';
  private closed = false;

  constructor(path: string, streams: (Readable | null | undefined)[]) {
    this.file = createWriteStream(path, { flags: 'a' });
    for (const s of streams) s?.on('data', (d: Buffer) => this.write(d.toString()));
  }

  private write(text: string): void {
    if (this.closed) return;
    this.file.write(text);
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > 100_000) this.partial = '';
    for (const line of lines) {
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0);
      if (level >= 60) this.levels.fatal += 1;
      else if (level >= 50) this.levels.error += 1;
      else if (level >= 40) this.levels.warn += 1;
      if (level >= 50) {
        this.lastErrors.push(line.slice(0, 1000));
        if (this.lastErrors.length > 5) this.lastErrors.shift();
      }
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => this.file.end(resolve));
  }
}
