// Watches the store's change sequence, so that a change written through any manager
// reaches the long-polls held by this one within about a second.

import type { Store } from '../../src/store/types.ts';

export class ChangeWatcher {
  private readonly store: Store;
  private readonly onChange: (seq: number) => Promise<void>;
  private readonly onError: (err: unknown) => void;
  private readonly intervalMs: number;
  private readonly onRead: () => void;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private last = -1;

  /**
   * `onError` gets every failed read (the store down: the next tick tries again); `onRead`
   * every successful one, changed or not (the store is reachable).
   */
  constructor(store: Store, onChange: (seq: number) => Promise<void>, onError: (err: unknown) => void, intervalMs = 250, onRead: () => void = () => undefined) {
    this.store = store;
    this.onChange = onChange;
    this.onError = onError;
    this.intervalMs = intervalMs;
    this.onRead = onRead;
  }

  start(): void {
    this.timer = setInterval(() => void this.poke(), this.intervalMs);
    this.timer.unref();
    void this.poke();
  }

  /** Checks now (after a write through this manager); overlapping calls coalesce. */
  poke(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          const seq = await this.store.changeSeq();
          this.onRead();
          if (seq !== this.last) {
            this.last = seq;
            await this.onChange(seq);
          }
        } while (this.again);
      } catch (err) {
        this.onError(err);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
