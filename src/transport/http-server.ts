/**
 * HTTP transport, server side: a listening HTTP(S) server whose every request phase is bounded
 * (headers, body idle, whole body, keep-alive; docs/limits.md, HTTP and WebSocket), and bounded
 * body reading. The client side is http.ts. Knows nothing about frames or media types.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ErrorCode, TransportError } from '../errors.js';
import { listen, type TlsOptions } from './tcp.js';

import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './http-limits.js';
import { markTimedOut, readBody, requestTimedOut } from './http-body.js';

export { DEFAULT_HTTP_LIMITS, type HttpLimits };
export { readBody, requestTimedOut };

/** Options of an HTTP listener. */
export interface HttpListenOptions {
  host?: string;
  port: number;
  tls?: TlsOptions;
  /** Time limits; missing ones take DEFAULT_HTTP_LIMITS. */
  limits?: Partial<HttpLimits>;
  /**
   * Requests whose bodies stream for as long as the peer likes (an ingest upload): exempt from
   * `requestTimeoutMs`, still bound by `bodyIdleTimeoutMs`. @default none
   */
  streaming?: (req: http.IncomingMessage) => boolean;
  /**
   * A connection was closed at a time limit (headers, body idle, whole request) with a
   * TransportError `CW_ERR_TRANSPORT_TIMEOUT`. Not called for idle keep-alive connections, nor
   * for a connection that never sent a byte (a browser's unused preconnect): those close quietly.
   */
  onTimeout?: (err: TransportError, socket: net.Socket) => void;
  /**
   * Bytes that are not HTTP at all arrived first: return the answer to write before closing (a
   * camwire CLOSE frame for a camwire client that dialled this HTTP port), or undefined for a bare 400.
   */
  notHttp?: (raw: Buffer, socket: net.Socket) => Buffer | undefined;
}

/** Set on a request that a time limit ended; readBody rejects with it. */

/** The raw bytes of a bare answer that also closes the connection. */
function bareAnswer(status: number): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

/** True when no response (or part of one) is on its way on `sock`, other than `mine`'s unsent one. */
function nothingInFlight(sock: Duplex, mine?: http.ServerResponse): boolean {
  const current = (sock as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage;
  if (current && current !== mine) return false;
  return sock.writable && !sock.destroyed && sock.writableLength === 0 && !mine?.headersSent;
}

/**
 * Answers a request that never got past its headers with a bare `status`, then closes. The
 * HTTP server allows half-open sockets, so end() alone would wait for the peer forever: the
 * socket is destroyed once the answer is flushed, or after 1 s.
 */
function closeWithStatus(sock: Duplex, status: number): void {
  if (!nothingInFlight(sock)) {
    sock.destroy();
    return;
  }
  const destroy = (): void => void sock.destroy();
  setTimeout(destroy, 1000).unref();
  sock.end(bareAnswer(status), destroy);
}

/**
 * Starts an HTTP (or HTTPS) server with time limits on every phase of a request: headers
 * (Node's headersTimeout, checked often enough to be accurate), body idle and whole request
 * (one timer per request with a body, below), keep-alive idle (Node's keepAliveTimeout). Long
 * polls are not limited here: their bodies are small, and their wait is bounded by whoever
 * answers them.
 */
export async function listenHttp(o: HttpListenOptions, handler: http.RequestListener): Promise<http.Server> {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...o.limits };
  const serverOpts: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node's own whole-request timeout is per server; ours is per request (streams are exempt).
    requestTimeout: 0,
    // Node checks headersTimeout on this interval (default 30 s): make the limit accurate.
    connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(limits.headersTimeoutMs / 4))),
  };
  const guarded: http.RequestListener = (req, res) => {
    guardBody(req, res, limits, o.streaming?.(req) ?? false, o.onTimeout);
    handler(req, res);
  };
  const server: http.Server = o.tls
    ? https.createServer(
        {
          ...serverOpts,
          cert: o.tls.cert,
          key: o.tls.key,
          ca: o.tls.ca,
          requestCert: o.tls.requestCert ?? false,
          rejectUnauthorized: o.tls.requestCert ?? false,
          handshakeTimeout: limits.headersTimeoutMs,
        },
        guarded,
      )
    : http.createServer(serverOpts, guarded);
  server.on('clientError', (err: NodeJS.ErrnoException, sock: Duplex) => {
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const s = sock as net.Socket;
    // Headers that never completed; a connection that never sent a byte closes quietly.
    if (timeout && s.bytesRead > 0) {
      o.onTimeout?.(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `HTTP request headers not complete within ${limits.headersTimeoutMs} ms`), s);
    }
    const raw = (err as NodeJS.ErrnoException & { rawPacket?: Buffer }).rawPacket;
    const answer = !timeout && raw && s.bytesRead === raw.length ? o.notHttp?.(raw, s) : undefined;
    if (answer && nothingInFlight(sock)) {
      const destroy = (): void => void sock.destroy();
      setTimeout(destroy, 1000).unref();
      sock.end(answer, destroy);
      return;
    }
    closeWithStatus(sock, timeout ? 408 : 400);
  });
  return listen(server, o.host, o.port);
}

/**
 * Watches one request's body: no byte for bodyIdleTimeoutMs, or (unless streaming) a body not
 * complete within requestTimeoutMs, ends the request (408 when possible) and its connection.
 * One timer per request with a body, re-armed at the nearest deadline (not per chunk); a
 * request without a body costs nothing. Time the handler holds the body back (its buffer is
 * full) does not count as idle.
 */
function guardBody(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  limits: HttpLimits,
  streaming: boolean,
  onTimeout: HttpListenOptions['onTimeout'],
): void {
  const cl = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (cl === undefined || Number(cl) === 0)) return;
  const sock = req.socket;
  const idleMs = limits.bodyIdleTimeoutMs;
  const start = performance.now();
  const deadline = streaming ? Infinity : start + limits.requestTimeoutMs;
  let last = start;
  let bytesRead = sock.bytesRead;
  let timer: NodeJS.Timeout | undefined;
  // The HTTP parser hands each body chunk to push() (null at the end): note the time, nothing more.
  const push = req.push;
  const done = (): void => {
    clearTimeout(timer);
    timer = undefined;
    req.push = push;
  };
  req.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) done();
    else last = performance.now();
    return push.call(this, chunk, encoding);
  };
  const expire = (message: string): void => {
    done();
    const err = new TransportError(ErrorCode.TRANSPORT_TIMEOUT, message);
    markTimedOut(req, err);
    onTimeout?.(err, sock);
    // The handler sees what it sees when a client goes away (the request aborts); the 408 is
    // written on the socket directly, so a handler that answers afterwards writes to nothing.
    if (nothingInFlight(sock, res)) sock.write(bareAnswer(408));
    sock.destroy();
  };
  const check = (): void => {
    timer = undefined;
    if (req.complete || req.destroyed) return done();
    const now = performance.now();
    // Bytes the parser took but did not push (a body discarded after the answer) are progress too.
    if (sock.bytesRead !== bytesRead) {
      bytesRead = sock.bytesRead;
      if (now - last >= idleMs) last = now;
    }
    // A full buffer means the handler is not reading: the peer is waiting for us, not stalled.
    if (req.readableLength >= req.readableHighWaterMark) last = now;
    if (now >= deadline) return expire(`HTTP request body not complete within ${limits.requestTimeoutMs} ms`);
    if (now - last >= idleMs) return expire(`HTTP request body sent nothing for ${idleMs} ms`);
    timer = setTimeout(check, Math.max(1, Math.ceil(Math.min(last + idleMs, deadline) - now)));
  };
  timer = setTimeout(check, Math.ceil(Math.min(idleMs, deadline - start)));
  req.once('close', done);
}

