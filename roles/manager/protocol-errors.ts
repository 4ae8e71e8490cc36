// Errors met before a request reaches a route, answered like every other error: the catalogued
// JSON body with its status. Fastify's and Node's own answers carry no catalogued code (or no
// body at all), which a client reading `code` cannot tell apart from a proxy's page:
// - the router cannot use the URL: an invalid percent-encoding (400), a path parameter longer
//   than maxParamLength (414) — fastify's frameworkErrors;
// - Node's HTTP parser refuses the bytes: malformed HTTP (400), headers too large (431), chunk
//   extensions too large (413), a request that did not arrive in time (408) — clientError;
// - an Expect header other than 100-continue (417) — checkExpectation;
// - an HTTP/1.1 request without a Host header (400) — Node's requireHostHeader, turned off for
//   refuseWithoutHost to give the same answer.

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { NebulaError, type ErrorCode } from '../../src/errors.ts';

const JSON_TYPE = 'application/json; charset=utf-8';

/** fastify's `frameworkErrors`: the router could not route the URL. */
export function frameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const code: ErrorCode = err.code === 'FST_ERR_BAD_URL' ? 'BAD_REQUEST' : err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'URI_TOO_LONG' : 'INTERNAL';
  const error = new NebulaError(code);
  void reply.code(error.status).type(JSON_TYPE).send(error.toBody());
}

function parserErrorCode(code: string | undefined): ErrorCode {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'HEADERS_TOO_LARGE';
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 'BODY_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'REQUEST_TIMEOUT';
    default:
      return 'BAD_REQUEST';
  }
}

/**
 * fastify's `clientErrorHandler`: what Node (and fastify's default) does — a raw answer, then
 * the connection is destroyed (its parser cannot go on) — with the catalogued body. When an
 * earlier request of the connection is still being answered (pipelined bytes after it were
 * refused), its answer goes first: the refusal is not taken for that request's answer.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  // (Only when that request was received whole: when the refused bytes are its own, no answer
  // will come for it, and the refusal is its answer.)
  if (inFlight && !inFlight.writableFinished && inFlight.req.complete) {
    inFlight.once('close', () => clientError(err, socket));
    return;
  }
  if (socket.writable && !inFlight?.headersSent) {
    const error = new NebulaError(parserErrorCode(err.code));
    const body = JSON.stringify(error.toBody());
    socket.write(
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** The server's `checkExpectation` (an Expect other than 100-continue): 417, as Node answers it. */
export function expectationFailed(_request: IncomingMessage, response: ServerResponse): void {
  const error = new NebulaError('EXPECTATION_FAILED');
  response.writeHead(error.status, { 'content-type': JSON_TYPE, connection: 'close' });
  response.end(JSON.stringify(error.toBody()));
}

/**
 * Answers an HTTP/1.1 request without a Host header (true), as Node's requireHostHeader would
 * (400, the connection closed), but with the catalogued body; false: anything else.
 */
export function refuseWithoutHost(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.headers.host || request.httpVersion !== '1.1') return false;
  const error = new NebulaError('BAD_REQUEST', {}, 'an HTTP/1.1 request needs a Host header');
  response.writeHead(error.status, { 'content-type': JSON_TYPE, connection: 'close' });
  response.end(JSON.stringify(error.toBody()));
  return true;
}
