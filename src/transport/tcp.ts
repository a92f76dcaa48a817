/**
 * TCP and TLS byte streams: connect and listen. Knows nothing about frames or media types.
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import type tlsModule from 'node:tls';
import { AddressInUseError, ErrorCode, TransportError } from '../errors.js';

/** Node's TLS module, loaded on first use: a process that never speaks TLS does not carry it. */
const requireBuiltin = createRequire(import.meta.url);
let tlsLoaded: typeof tlsModule | undefined;
const tls = (): typeof tlsModule => (tlsLoaded ??= requireBuiltin('node:tls') as typeof tlsModule);

/** TLS settings shared by clients and servers. PEM strings or Buffers. */
export interface TlsOptions {
  /** Certificate chain (server: required; client: for mutual TLS). */
  cert?: string | Buffer;
  /** Private key matching `cert`. */
  key?: string | Buffer;
  /** Trusted CA certificates; the system store when omitted. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client: the name to check the server certificate against. @default the host */
  servername?: string;
  /** Client: verify the server certificate. @default true */
  rejectUnauthorized?: boolean;
  /** Server: ask clients for a certificate and require a valid one. @default false */
  requestCert?: boolean;
}

/** Where and how to connect a stream. */
export interface StreamConnectOptions {
  host: string;
  port: number;
  tls?: TlsOptions;
  /** Give up when the connection (and TLS handshake) is not up within this time. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * The client side of `t` for a connection to `host`: the certificate checked (unless told not to)
 * against `servername`, or the host's name when it is one (an IP address sends no SNI).
 */
export function clientTlsOptions(host: string, t: TlsOptions): tlsModule.ConnectionOptions {
  return {
    cert: t.cert,
    key: t.key,
    ca: t.ca,
    servername: t.servername ?? (net.isIP(host) ? undefined : host),
    rejectUnauthorized: t.rejectUnauthorized ?? true,
  };
}

/** Opens a TCP (or TLS) connection; resolves once it is usable. Rejects with a TransportError. */
export function connectStream(o: StreamConnectOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock: net.Socket = o.tls ? tls().connect({ host: o.host, port: o.port, ...clientTlsOptions(o.host, o.tls) }) : net.connect({ host: o.host, port: o.port });
    const readyEvent = o.tls ? 'secureConnect' : 'connect';
    const fail = (err: Error): void => {
      cleanup();
      sock.destroy();
      reject(
        err instanceof TransportError
          ? err
          : new TransportError(ErrorCode.TRANSPORT_CONNECT, `cannot connect to ${o.host}:${o.port}: ${err.message}`, { cause: err }),
      );
    };
    const onTimeout = (): void =>
      fail(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `connect to ${o.host}:${o.port} timed out after ${o.timeoutMs} ms`));
    const onAbort = (): void => fail(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'connect aborted'));
    const timer = setTimeout(onTimeout, o.timeoutMs);
    const onReady = (): void => {
      cleanup();
      sock.setNoDelay(true);
      resolve(sock);
    };
    function cleanup(): void {
      clearTimeout(timer);
      sock.off('error', fail);
      sock.off(readyEvent, onReady);
      o.signal?.removeEventListener('abort', onAbort);
    }
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    sock.once('error', fail);
    sock.once(readyEvent, onReady);
  });
}

/** Options of a stream listener. */
export interface StreamListenOptions {
  host?: string;
  port: number;
  tls?: TlsOptions;
}

/** Listens for TCP (or TLS) connections; resolves with the bound server. */
export function listenStream(o: StreamListenOptions, onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server: net.Server = o.tls
    ? tls().createServer(
        { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, requestCert: o.tls.requestCert ?? false, rejectUnauthorized: o.tls.requestCert ?? false },
        onSocket,
      )
    : net.createServer({ noDelay: true }, onSocket);
  // A client that fails the TLS handshake must not disturb anyone: swallow it at the socket.
  server.on('tlsClientError', (_err, sock) => sock.destroy());
  return listen(server, o.host, o.port);
}

/** Binds any net/http server, rejecting with a TransportError (e.g. port in use). */
export function listen<S extends net.Server>(server: S, host: string | undefined, port: number): Promise<S> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE') {
        reject(new AddressInUseError(host ?? '*', port, 'port', { cause: err }));
        return;
      }
      reject(new TransportError(ErrorCode.TRANSPORT_CONNECT, `cannot listen on ${host ?? '*'}:${port}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/** The port a listening server is bound to. */
export function boundPort(server: net.Server): number {
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}
