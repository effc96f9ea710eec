// The connection level of the API server, below fastify's routes: requests
// node's HTTP parser refuses ('clientError'), CONNECT, and closing a socket so
// that the client reads the answer instead of a reset. Every answer here is a
// Kubernetes Status with `Connection: close`: after a parse error the parser
// cannot find where the next request starts, so the connection cannot go on.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Status } from '../../api/index.js';
import { quoteValue } from '../../api/quote.js';
import { failureStatus } from './status.js';

/**
 * Request line plus headers: Go's net/http limit that kube-apiserver keeps
 * (1 MiB, DefaultMaxHeaderBytes) with the 4 KiB of slack Go allows on top.
 */
export const MAX_HEADER_BYTES = (1 << 20) + 4096;

/**
 * After an answer that closes the connection, what is left of the client's
 * request is read and dropped for this long (or this many bytes) first: closing
 * a socket with unread data makes the kernel send a reset, which can discard
 * the answer before the client reads it. Go's server does the same
 * (closeWriteAndWait).
 */
const LINGER_MS = 3000;
const LINGER_BYTES = 64 * 1024 * 1024;

/** A whole HTTP/1.1 response carrying a Status, for writing straight to a socket. */
export function rawStatusResponse(st: Status): string {
  const body = JSON.stringify(st);
  return (
    `HTTP/1.1 ${st.code} ${STATUS_CODES[st.code ?? 500] ?? 'Error'}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-cache, private\r\n' +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * Ends our side once what was written is flushed, reads and drops the rest of
 * the client's bytes until it closes (bounded in time and size), then closes.
 */
export function lingerClose(socket: Duplex): void {
  if (socket.destroyed) return;
  let seen = 0;
  const done = () => socket.destroy();
  const timer = setTimeout(done, LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', done);
  socket.on('data', (d: Buffer) => {
    seen += d.length;
    if (seen > LINGER_BYTES) done();
  });
  socket.end();
  socket.resume();
}

/** Writes a Status answer and closes the connection cleanly. */
export function answerAndClose(socket: Duplex, st: Status): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.write(rawStatusResponse(st));
  lingerClose(socket);
}

interface ParserError extends Error {
  code?: string;
  reason?: string;
  rawPacket?: Buffer;
}

/** The Status for what node's HTTP parser refused. */
export function clientErrorStatus(err: ParserError): Status {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      // kube-apiserver has no reason of its own for 431; this is the size reason clients know
      return failureStatus(431, 'RequestEntityTooLarge', `Request Header Fields Too Large: the request line and headers may have at most ${MAX_HEADER_BYTES} bytes`);
    case 'HPE_INVALID_METHOD': {
      const method = /^[^ \r\n]*/.exec(err.rawPacket?.toString('latin1') ?? '')?.[0] ?? '';
      return failureStatus(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (method ${quoteValue(method, 32)})`);
    }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return failureStatus(408, 'Timeout', 'the request was not received in time');
    default:
      return failureStatus(400, 'BadRequest', `malformed HTTP request: ${err.reason ?? err.message}${err.code ? ` (${err.code})` : ''}`);
  }
}

/**
 * The server's 'clientError' listener. Node may report the same broken
 * connection more than once (each chunk read after the error), so only the first
 * report answers.
 */
export function makeClientErrorHandler(onAnswer?: (st: Status) => void): (err: ParserError, socket: Duplex) => void {
  const answered = new WeakSet<Duplex>();
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
    answered.add(socket);
    const inflight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    // A later, pipelined request is broken while an answer to a complete one is
    // still to come: that answer goes out, says Connection: close, and ends the connection.
    if (inflight && inflight.req?.complete) {
      if (!inflight.headersSent) inflight.setHeader('connection', 'close');
      let closing = false;
      const close = () => {
        if (!closing) lingerClose(socket);
        closing = true;
      };
      if (inflight.writableFinished) close();
      else inflight.once('finish', close).once('close', close);
      return;
    }
    // Otherwise the broken request is the one being read (its body, or a new
    // request): it is answered here; a handler still waiting on its body writes nowhere.
    const st = clientErrorStatus(err);
    onAnswer?.(st);
    answerAndClose(socket, st);
  };
}

/** The server's 'connect' listener: the API server is no proxy. */
export function refuseConnect(req: IncomingMessage, socket: Duplex): void {
  answerAndClose(
    socket,
    failureStatus(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (CONNECT ${quoteValue(req.url ?? '', 256)})`),
  );
}
