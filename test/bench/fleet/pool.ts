// A small pool of keep-alive connections that many simulated devices share, FIFO.
//
// Reports (and, in the capacity run, every check-in) go through it. A real worker keeps a
// second socket to the manager for its reports (undici keeps it alive ~70 s, past the 30 s
// report interval); ten thousand devices × two sockets would pass the 20,000 descriptors one
// process may hold, on both sides. The manager's work per request is the same over a shared
// connection; what it saves is the accept and the idle socket, which the propagation and storm
// runs exercise through the one long-poll socket per device.
// A request's latency is counted from the moment it was queued, so time spent waiting for a free
// connection (the client falling behind a slow manager) is part of it.

import { Connection, type ConnectionOwner, type HttpResponse, type SocketCounters } from './http.ts';

export interface Job {
  /** The bytes, or a function that makes them when a connection takes the job (a long queue then holds no bodies). */
  request: string | Buffer | (() => string | Buffer);
  queuedAt: number;
  /** Response, or null and the error code. */
  done(response: HttpResponse | null, code: string | null): void;
}

class Slot implements ConnectionOwner {
  readonly conn: Connection;
  job: Job | null = null;
  deadline = 0;
  private readonly pool: Pool;

  constructor(pool: Pool, host: string, port: number, counters: SocketCounters) {
    this.pool = pool;
    this.conn = new Connection(host, port, this, counters);
  }

  onResponse(response: HttpResponse): void {
    const job = this.job!;
    this.job = null;
    job.done(response, null);
    this.pool.next(this);
  }

  onError(code: string): void {
    const job = this.job!;
    this.job = null;
    job.done(null, code);
    this.pool.next(this);
  }
}

export class Pool {
  readonly counters: SocketCounters = { connects: 0, open: 0 };
  private readonly slots: Slot[] = [];
  private readonly free: Slot[] = [];
  private queue: Job[] = [];
  private head = 0;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(host: string, port: number, size: number, timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    for (let i = 0; i < size; i++) {
      const slot = new Slot(this, host, port, this.counters);
      this.slots.push(slot);
      this.free.push(slot);
    }
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  get busy(): number {
    return this.slots.length - this.free.length;
  }

  submit(job: Job): void {
    if (this.closed) {
      job.done(null, 'CLOSED');
      return;
    }
    const slot = this.free.pop();
    if (slot) this.start(slot, job);
    else this.queue.push(job);
  }

  /** Called by a slot whose job ended: take the next queued job, or rest. */
  next(slot: Slot): void {
    if (this.head < this.queue.length && !this.closed) {
      const job = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Job;
      if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.start(slot, job);
    } else {
      this.free.push(slot);
    }
  }

  private start(slot: Slot, job: Job): void {
    slot.job = job;
    slot.deadline = performance.now() + this.timeoutMs;
    slot.conn.send(typeof job.request === 'function' ? job.request() : job.request);
  }

  /** Fails the requests that have waited past the timeout (called by the owner's sweep). */
  sweep(now: number): void {
    for (const slot of this.slots) if (slot.job !== null && slot.deadline < now) slot.conn.destroy('TIMEOUT');
  }

  /** Drops what is queued (each job hears 'DROPPED'). */
  dropQueued(): number {
    const dropped = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    for (const job of dropped) job.done(null, 'DROPPED');
    return dropped.length;
  }

  close(): void {
    this.closed = true;
    this.dropQueued();
    for (const slot of this.slots) slot.conn.destroy('CLOSED');
  }
}
