/**
 * HTTP through a proxy's CONNECT tunnel: agents whose sockets are a `CONNECT host:port` exchange
 * with the proxy, then plain bytes (HTTP) or TLS (HTTPS) inside it. Requests over such a socket
 * are ordinary origin-form requests to the target, as if there were no proxy. Knows nothing
 * about frames.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ErrorCode, TransportError } from '../errors.js';

/** An HTTP proxy: where it listens and the credentials it gets. */
export interface ProxyInfo {
  host: string;
  port: number;
  /** The `proxy-authorization` header value. */
  auth?: string;
}

/** How a link's requests pass an HTTP proxy (docs/api.md, `proxyTunnel`). */
export type ProxyTunnel = 'auto' | 'always' | 'never';

export function parseProxy(url: string): ProxyInfo {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`proxy must be a URL like http://host:port, got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:') throw new TypeError(`proxy must use http://, got ${u.protocol}`);
  const info: ProxyInfo = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
  if (u.username) {
    info.auth = 'Basic ' + Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
  }
  return info;
}

export function hostHeader(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A CONNECT exchange that did not give a tunnel: the proxy refused it (any status other than
 * 2xx), answered something that is not HTTP, closed, or did not answer in time. A client in
 * 'auto' mode then sends its requests to the proxy instead (absolute-form).
 */
export class TunnelError extends TransportError {
  /** The proxy, `host:port`. */
  readonly proxy: string;
  /** What the CONNECT asked for, `host:port`. */
  readonly target: string;
  /** The proxy's answer to the CONNECT when it refused one (a status outside 2xx). */
  readonly status: number | undefined;

  constructor(message: string, o: { proxy: string; target: string; status?: number; cause?: unknown }) {
    super(ErrorCode.TRANSPORT_PROXY, message, o.cause === undefined ? undefined : { cause: o.cause });
    this.proxy = o.proxy;
    this.target = o.target;
    this.status = o.status;
  }
}

/** The request option that bounds a tunnel's CONNECT exchange, in ms (read by the agents). */
export const TUNNEL_MS = 'camwireTunnelMs';
/** Without TUNNEL_MS on the request, a CONNECT exchange gets this long. */
const DEFAULT_TUNNEL_MS = 10000;

/**
 * Opens a `CONNECT target` tunnel through `proxy`; calls back once with the raw socket (the
 * proxy has answered 2xx) or a TunnelError. Bounded by `ms`: the exchange is abandoned after it.
 */
function connectTunnel(proxy: ProxyInfo, host: string, port: number, ms: number, cb: (err: TunnelError | null, s?: net.Socket) => void): void {
  const target = hostHeader(host, port);
  const at = { proxy: hostHeader(proxy.host, proxy.port), target };
  const where = `proxy ${at.proxy}`;
  let settled = false;
  const done = (err: TunnelError | null, s?: net.Socket): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    cb(err, s);
  };
  const req = http.request({
    host: proxy.host,
    port: proxy.port,
    method: 'CONNECT',
    path: target,
    agent: false,
    headers: { host: target, ...(proxy.auth ? { 'proxy-authorization': proxy.auth } : {}) },
  });
  const timer = setTimeout(() => {
    req.destroy();
    done(new TunnelError(`${where} did not answer CONNECT ${target} within ${ms} ms`, at));
  }, ms);
  // Node hands every answer to a CONNECT to 'connect', whatever its status.
  req.once('connect', (res, socket, head) => {
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      socket.destroy();
      done(new TunnelError(`${where} refused CONNECT ${target}: ${status}`, { ...at, status }));
      return;
    }
    if (settled) {
      socket.destroy();
      return;
    }
    // Bytes the proxy passed on behind its answer belong to the tunnel.
    if (head.length) socket.unshift(head);
    done(null, socket);
  });
  req.once('error', (err) => done(new TunnelError(`${where}, CONNECT ${target}: ${err.message}`, { ...at, cause: err })));
  req.end();
}

function tunnelMs(options: http.ClientRequestArgs): number {
  const ms = Number((options as Record<string, unknown>)[TUNNEL_MS]);
  return ms > 0 ? ms : DEFAULT_TUNNEL_MS;
}

/** An http.Agent whose sockets are CONNECT tunnels through an HTTP proxy: plain HTTP inside. */
export class HttpTunnelAgent extends http.Agent {
  constructor(
    private readonly proxy: ProxyInfo,
    opts: http.AgentOptions,
  ) {
    super(opts);
  }
  override createConnection(options: http.ClientRequestArgs, cb?: (err: Error | null, s: Duplex) => void): Duplex | undefined {
    connectTunnel(this.proxy, String(options.host), Number(options.port), tunnelMs(options), (err, s) => cb?.(err, s as Duplex));
    return undefined;
  }
}

/** An https.Agent whose sockets are TLS inside a CONNECT tunnel through an HTTP proxy. */
export class HttpsTunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: ProxyInfo,
    opts: https.AgentOptions,
  ) {
    super(opts);
  }
  override createConnection(options: http.ClientRequestArgs, cb?: (err: Error | null, s: Duplex) => void): Duplex | undefined {
    const done = (err: Error | null, s?: Duplex): void => cb?.(err, s as Duplex);
    connectTunnel(this.proxy, String(options.host), Number(options.port), tunnelMs(options), (err, socket) => {
      if (err) return done(err);
      const t = tls.connect({ ...(options as tls.ConnectionOptions), socket });
      t.once('secureConnect', () => done(null, t));
      t.once('error', (e) => done(e));
    });
    return undefined;
  }
}
