// One HTTP/1.1 client connection over a raw TCP socket, one request at a time, kept alive.
//
// Why not node:http's Agent or fetch: the simulator holds ten thousand long-polls in one
// process on one core and must not be what the propagation and capacity figures measure. A raw
// socket costs one net.Socket and this small object per device; node:http adds an
// IncomingMessage stream, a ClientRequest and an Agent's bookkeeping per request, and when ten
// thousand answers arrive in the same 100 ms its parsing would delay the time we stamp on the
// last of them. The parser here reads only what a worker looks at (status, ETag, Retry-After,
// Connection, the body's length) and hands the body over as bytes.
//
// The requests are the real worker's (src/client/manager.ts uses fetch, i.e. undici): the same
// method, path, query and headers, including the ones undici adds (user-agent: node,
// accept-encoding, accept-language, sec-fetch-mode), so the manager parses what it would parse.

import { connect, type Socket } from 'node:net';

export interface HttpResponse {
  status: number;
  etag: string | undefined;
  retryAfter: string | undefined;
  /** The server said Connection: close (or spoke HTTP/1.0): this socket is done. */
  close: boolean;
  body: Buffer;
}

export interface ConnectionOwner {
  /** The TCP connection is established (the manager's kernel accepted it). */
  onConnect?(): void;
  /** A complete response to the request in flight. */
  onResponse(response: HttpResponse): void;
  /**
   * The request in flight failed: `code` is the socket's error code (ECONNREFUSED, ECONNRESET,
   * EPIPE, …), 'CLOSED' (the server closed the connection before answering), 'TIMEOUT' (the
   * owner gave up) or 'BAD_RESPONSE'.
   */
  onError(code: string): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** Counters every connection of one simulator adds to. */
export interface SocketCounters {
  connects: number;
  open: number;
}

export class Connection {
  private readonly host: string;
  private readonly port: number;
  private readonly owner: ConnectionOwner;
  private readonly counters: SocketCounters;
  private socket: Socket | null = null;
  private inFlight = false;
  /** Bytes of the response head received so far (until the blank line). */
  private head: Buffer | null = null;
  private response: HttpResponse | null = null;
  private bodyLeft = 0;
  private chunked = false;
  private untilClose = false;
  private body: Buffer[] = [];
  private chunkState: Buffer | null = null;

  constructor(host: string, port: number, owner: ConnectionOwner, counters: SocketCounters) {
    this.host = host;
    this.port = port;
    this.owner = owner;
    this.counters = counters;
  }

  get busy(): boolean {
    return this.inFlight;
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  /** Sends one request (opening the socket first if there is none); the owner hears the outcome. */
  send(request: string | Buffer): void {
    if (this.inFlight) throw new Error('one request at a time on a connection');
    this.inFlight = true;
    this.head = null;
    this.response = null;
    this.body = [];
    this.chunkState = null;
    if (this.socket === null) this.open();
    this.socket!.write(request);
  }

  /** Closes the socket; a request in flight fails with `code` (the owner hears it). */
  destroy(code = 'CLOSED'): void {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    this.counters.open -= 1;
    socket.destroy();
    this.fail(code);
  }

  private open(): void {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    this.counters.connects += 1;
    this.counters.open += 1;
    socket.on('connect', () => this.owner.onConnect?.());
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.counters.open -= 1;
      this.fail(err.code ?? 'ERROR');
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.counters.open -= 1;
      this.fail(this.untilClose && this.response ? 'EOF' : 'CLOSED');
    });
  }

  private fail(code: string): void {
    if (!this.inFlight) return;
    if (code === 'EOF' && this.response) {
      // A body delimited by the end of the connection: complete now.
      this.finish();
      return;
    }
    this.inFlight = false;
    this.owner.onError(code);
  }

  private onData(data: Buffer): void {
    if (!this.inFlight) return; // nothing asked: ignore (a server must not send unasked)
    if (this.response === null) {
      const head = this.head === null ? data : Buffer.concat([this.head, data]);
      const end = head.indexOf(HEAD_END);
      if (end < 0) {
        this.head = head;
        return;
      }
      this.head = null;
      if (!this.parseHead(head.toString('latin1', 0, end))) {
        this.destroy('BAD_RESPONSE');
        return;
      }
      data = head.subarray(end + 4);
    }
    if (this.chunked) this.readChunked(data);
    else if (this.untilClose) {
      if (data.length > 0) this.body.push(data);
    } else {
      if (data.length > 0) this.body.push(data.length > this.bodyLeft ? data.subarray(0, this.bodyLeft) : data);
      this.bodyLeft -= Math.min(this.bodyLeft, data.length);
      if (this.bodyLeft === 0) this.finish();
    }
  }

  private parseHead(head: string): boolean {
    const lines = head.split('\r\n');
    const statusLine = lines[0] ?? '';
    const status = Number(statusLine.slice(9, 12));
    if (!statusLine.startsWith('HTTP/1.') || !Number.isInteger(status)) return false;
    const response: HttpResponse = { status, etag: undefined, retryAfter: undefined, close: statusLine.startsWith('HTTP/1.0'), body: Buffer.alloc(0) };
    let length: number | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'etag') response.etag = value;
      else if (name === 'retry-after') response.retryAfter = value;
      else if (name === 'connection') response.close = value.toLowerCase() === 'close';
      else if (name === 'transfer-encoding') this.chunked = value.toLowerCase().includes('chunked');
    }
    this.response = response;
    this.untilClose = false;
    if (status === 304 || status === 204 || (status >= 100 && status < 200)) {
      this.chunked = false;
      this.bodyLeft = 0;
    } else if (this.chunked) {
      this.chunkState = Buffer.alloc(0);
    } else if (length !== undefined && Number.isSafeInteger(length) && length >= 0) {
      this.bodyLeft = length;
    } else {
      this.untilClose = true;
      response.close = true;
    }
    // A response without a body (a 304) completes in onData, right after its head.
    return true;
  }

  private readChunked(data: Buffer): void {
    let buf = this.chunkState && this.chunkState.length > 0 ? Buffer.concat([this.chunkState, data]) : data;
    for (;;) {
      const eol = buf.indexOf('\r\n');
      if (eol < 0) break;
      const size = parseInt(buf.toString('latin1', 0, eol), 16);
      if (!Number.isInteger(size) || size < 0) {
        this.destroy('BAD_RESPONSE');
        return;
      }
      if (size === 0) {
        // The last chunk (no trailers expected): "0\r\n\r\n".
        this.chunkState = null;
        this.chunked = false;
        this.finish();
        return;
      }
      if (buf.length < eol + 2 + size + 2) break;
      this.body.push(buf.subarray(eol + 2, eol + 2 + size));
      buf = buf.subarray(eol + 2 + size + 2);
    }
    this.chunkState = buf;
  }

  private finish(): void {
    const response = this.response!;
    response.body = this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body);
    this.response = null;
    this.body = [];
    this.chunked = false;
    this.untilClose = false;
    this.inFlight = false;
    if (response.close && this.socket !== null) {
      const socket = this.socket;
      this.socket = null;
      this.counters.open -= 1;
      socket.destroy();
    }
    this.owner.onResponse(response);
  }
}

/** The request line and headers the real worker's fetch sends (see the file's comment). */
export function requestHead(method: string, path: string, host: string, authorization: string | null, extra: string): string {
  return (
    `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n` +
    (authorization ? `authorization: ${authorization}\r\n` : '') +
    'accept: application/json\r\naccept-language: *\r\nsec-fetch-mode: cors\r\nuser-agent: node\r\naccept-encoding: gzip, deflate\r\n' +
    extra
  );
}
