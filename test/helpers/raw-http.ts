// HTTP/1.1 over a raw TCP socket, for requests no HTTP client would send: bytes written
// exactly as given (invalid percent escapes, dot segments, latin1 or control bytes in the
// request line and headers, invalid UTF-8 bodies), sent in pieces with pauses, or cut short.
// The answer is parsed just enough to check it: status, headers, body (Content-Length,
// chunked, or up to the close).

import { connect, type Socket } from 'node:net';

export interface RawReply {
  status: number;
  /** Lower-case names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface RawOutcome {
  /** The first complete answer, or null when the server closed (or the timer ran out) first. */
  reply: RawReply | null;
  /** The server closed the connection (before the timer). */
  closed: boolean;
  /** The timer ran out: no complete answer and no close. */
  timedOut: boolean;
  ms: number;
  /** The client's port: the server sees it as the connection's remote port. */
  localPort: number;
}

/** A piece to write, or a pause in ms. */
export type Piece = Buffer | string | number;

export interface RawOptions {
  /** No answer and no close within this: timedOut. */
  timeoutMs: number;
  /** After the last piece, half-close (send FIN): the server sees the end of the request. */
  end?: boolean;
  /** After the last piece, half-close if this resolves true (given the client's port). */
  endIf?: (localPort: number) => Promise<boolean>;
  /** The request was a HEAD: its answer has no body whatever its Content-Length. */
  head?: boolean;
}

/** Where the head of an answer ends, its status and headers; null while incomplete. */
function parseHead(buf: Buffer): { status: number; headers: Record<string, string>; bodyStart: number } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, bodyStart: end + 4 };
}

/** The body of a chunked answer once complete, else null. */
function dechunk(buf: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    if (buf.length < eol + 2 + size + 2) return null;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** The first complete answer in `buf` (skipping 1xx interim answers), or null. */
export function parseAnswer(buf: Buffer, options: { head?: boolean; closed: boolean }): RawReply | null {
  let rest = buf;
  for (;;) {
    const head = parseHead(rest);
    if (head === null) return null;
    const after = rest.subarray(head.bodyStart);
    if (head.status >= 100 && head.status < 200) {
      rest = after;
      continue;
    }
    let body: Buffer | null;
    if (options.head || head.status === 204 || head.status === 304) body = Buffer.alloc(0);
    else if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) body = dechunk(after);
    else if (head.headers['content-length'] !== undefined) {
      const length = Number(head.headers['content-length']);
      body = after.length >= length ? after.subarray(0, length) : null;
    } else body = options.closed ? after : null;
    if (body === null) return null;
    const text = body.toString('utf8');
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: head.status, headers: head.headers, body, text, json };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes `pieces` to a new connection (pausing on numbers) and waits for the first complete
 * answer, the server's close, or the timeout; then destroys the socket.
 */
export function rawExchange(url: string, pieces: Piece[], options: RawOptions): Promise<RawOutcome> {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  return new Promise<RawOutcome>((resolve) => {
    const socket: Socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let settled = false;
    let localPort = 0;
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const reply = parseAnswer(Buffer.concat(chunks), { head: options.head ?? false, closed });
      socket.destroy();
      resolve({ reply, closed, timedOut: timedOut && reply === null, ms: Date.now() - started, localPort });
    };
    const timer = setTimeout(() => finish(false, true), options.timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (parseAnswer(Buffer.concat(chunks), { head: options.head ?? false, closed: false }) !== null) finish(false, false);
    });
    // A reset (the server refused the rest of a body it had answered) ends the exchange too.
    socket.on('error', () => finish(true, false));
    socket.on('close', () => finish(true, false));
    socket.once('connect', async () => {
      localPort = socket.localPort ?? 0;
      for (const piece of pieces) {
        if (settled || socket.destroyed) return;
        if (typeof piece === 'number') await sleep(piece);
        else if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r).once('close', r));
      }
      const end = options.end || (options.endIf !== undefined && (await options.endIf(localPort)));
      if (end && !settled && !socket.destroyed) socket.end();
    });
  });
}

/** A request's bytes: request line, `Name: value` headers, a blank line and the body. */
export function rawRequest(method: string, target: string, headers: [string, string][], body?: Buffer | string): Buffer {
  const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : (body ?? Buffer.alloc(0))]);
}
