/**
 * Options shared by Sender and Receiver, their defaults (one place), and validation.
 * Every option is documented with its default in docs/api.md.
 */
import { parsePeerAddress } from './address.js';
import { ConfigError, ErrorCode } from './errors.js';
import { DEFAULT_MAX_PAYLOAD, MAX_ID_BYTES, MAX_PAYLOAD_CEILING, MEDIA_TYPES, type MediaTypeName } from './protocol/constants.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './transport/http-limits.js';
import { resolveConnectionLimits, type ConnectionLimits } from './transport/connection-limits.js';
import type { TlsOptions } from './transport/tcp.js';
import type { ProxyTunnel } from './transport/http-tunnel.js';

/** The software name sent in handshakes. */
export const AGENT = 'camwire/0.1';

/** A structured logger; pino's instances fit. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (the default). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Transport protocol. */
export type Protocol = 'udp' | 'tcp' | 'http';
/** Whether an HTTP dialler asks to upgrade its connection to camwire's byte stream (docs/protocol.md 6.6). */
export type HttpUpgrade = 'auto' | 'never';
/** Who opens connections: the sender (push, mode A) or the receiver (pull, mode B). */
export type ConnectionMode = 'sender-to-receiver' | 'receiver-to-sender';

/** Automatic reconnection with exponential backoff. */
export interface ReconnectOptions {
  /** First delay. @default 250 */
  initialDelayMs?: number;
  /** Longest delay. @default 10000 */
  maxDelayMs?: number;
}

/** Credentials sent in the handshake, for servers that check them. */
export interface Credentials {
  user?: string;
  password?: string;
  token?: string;
}

/** Options shared by Sender and Receiver. */
export interface CommonOptions {
  /** @default 'tcp' */
  protocol?: Protocol;
  /** @default 'sender-to-receiver' */
  connection?: ConnectionMode;
  /**
   * The address this component connects to when it initiates, or binds to when it accepts.
   * @default '127.0.0.1' to connect, '::' (all addresses) to listen
   */
  host?: string;
  /** Port to connect to, or to listen on (0 = any free port). @default 0 */
  port?: number;
  /**
   * The peer to dial as one address, instead of `protocol`, `host` and `port`:
   * `tcp://host:port`, `udp://host:port`, `http://host:port`, `https://host:port` (TLS on, with
   * the system CAs unless `tls` says otherwise) or `host:port` (then `protocol` applies). A host
   * without a port takes the protocol's default server port: tcp 7700, udp 7701, http(s) 7780.
   * A Receiver given `server` pulls from it (its `connection` defaults to receiver-to-sender).
   */
  server?: string;
  /** This component's client id. @default '' */
  clientId?: string;
  /** Credentials sent in every HELLO. */
  auth?: Credentials;
  /** TLS for TCP and HTTP: certificate and key to accept, CA to verify. */
  tls?: TlsOptions;
  /** HTTP only: an HTTP proxy, `http://[user:pass@]host:port`. */
  proxy?: string;
  /**
   * HTTP only, with `proxy`: how plain HTTP passes the proxy. 'auto' first asks the proxy for a
   * CONNECT tunnel to the peer and speaks HTTP inside it; if the proxy refuses (any status other
   * than 2xx, an answer that is not HTTP, or no answer within 3 s), the link sends its requests
   * to the proxy instead, for the rest of its life. 'always': tunnel or fail
   * (`CW_ERR_TRANSPORT_PROXY`); 'never': requests to the proxy. HTTPS always tunnels.
   * @default 'auto'
   */
  proxyTunnel?: ProxyTunnel;
  /**
   * HTTP only, when dialling: 'auto' first asks to upgrade a direct or tunnelled connection to
   * camwire's byte stream (docs/protocol.md 6.6), as fast as TCP, and falls back to requests when
   * the path or the peer does not upgrade (remembered per target for 10 minutes); 'never' always
   * uses requests. Requests to a proxy (proxyTunnel 'never', or a refused CONNECT) never upgrade.
   * @default 'auto'
   */
  httpUpgrade?: HttpUpgrade;
  /** Per-type timeouts in ms. @default { video: 3000, audio: 3000, command: 15000, file: 10000, data: 10000 } */
  timeouts?: Partial<Record<MediaTypeName, number>>;
  /** Connect plus handshake must finish within this. @default 10000 */
  connectTimeoutMs?: number;
  /** Ping a silent peer after this long. @default 5000 */
  keepaliveMs?: number;
  /** Close a link that hears nothing for this long. @default 15000 */
  deadMs?: number;
  /** Largest frame payload accepted or sent. @default 8 MiB */
  maxPayload?: number;
  /** Reconnect after a failure, with backoff and a new session key. @default true */
  reconnect?: boolean | ReconnectOptions;
  /** HTTP only: how long a long poll waits on the other side. @default 20000 */
  pollMs?: number;
  /**
   * HTTP only, when listening (push Receiver, pull Sender): time limits of every request on the
   * port (docs/limits.md). @default { headersTimeoutMs: 10000, bodyIdleTimeoutMs: 10000, requestTimeoutMs: 30000, keepAliveTimeoutMs: 5000 }
   */
  http?: Partial<HttpLimits>;
  /**
   * When listening (push Receiver, pull Sender): connections in total, per remote address and in
   * their handshake; on UDP, peers in total and per address (docs/limits.md, Connections). A
   * connection beyond them is refused at once. @default { maxConnections: from `ulimit -n`,
   * maxConnectionsPerIp: 256, maxPendingPerIp: 32, maxPending: 1024 }
   */
  limits?: Partial<ConnectionLimits>;
  /** UDP only: largest datagram, 576-65507. @default 1472 */
  datagramSize?: number;
  /**
   * UDP only: most bytes a second handed to the socket (paced; a burst beyond 256 KiB waits, as
   * backlog, so video skips ahead in the sender's latest-wins slot). 0 = no pacing.
   * @default 125000000 (1 Gbit/s)
   */
  udpSendRate?: number;
  /** Structured logger (pino-compatible). @default silent */
  logger?: Logger;
}

/** Default per-type timeouts (docs/behaviour.md, section 1). */
export const DEFAULT_TIMEOUTS: Readonly<Record<MediaTypeName, number>> = {
  video: 3000,
  audio: 3000,
  command: 15000,
  file: 10000,
  data: 10000,
};

/** Common options with every default filled in. */
export interface ResolvedCommon {
  protocol: Protocol;
  connection: ConnectionMode;
  host: string | undefined;
  port: number;
  clientId: string;
  auth: Credentials | undefined;
  tls: TlsOptions | undefined;
  proxy: string | undefined;
  proxyTunnel: ProxyTunnel;
  httpUpgrade: HttpUpgrade;
  timeouts: Record<MediaTypeName, number>;
  connectTimeoutMs: number;
  keepaliveMs: number;
  deadMs: number;
  maxPayload: number;
  reconnect: Required<ReconnectOptions> | undefined;
  pollMs: number;
  http: HttpLimits;
  limits: ConnectionLimits;
  datagramSize: number;
  udpSendRate: number;
  logger: Logger;
}

export function invalid(option: string, message: string): ConfigError {
  return new ConfigError(ErrorCode.CONFIG_INVALID, `option ${option}: ${message}`);
}

function num(o: Record<string, unknown>, name: string, def: number, min: number, max: number): number {
  const v = o[name];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw invalid(name, `must be a number in ${min}..${max}, got ${String(v)}`);
  return v;
}

/** Checks a client id (or group id) against the wire limit. */
export function checkId(option: string, v: unknown): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw invalid(option, 'must be a string');
  if (Buffer.byteLength(v) > MAX_ID_BYTES) throw invalid(option, `must be at most ${MAX_ID_BYTES} bytes`);
  return v;
}

/**
 * Validates the `http` time limits of a listening HTTP port (docs/limits.md) and fills in the
 * defaults: each a whole number of ms from 1 to 3 600 000; unknown names are refused.
 */
export function resolveHttpLimits(v: unknown, option = 'http'): HttpLimits {
  const out: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  if (v === undefined) return out;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(option, 'must be an object of time limits in ms');
  for (const [k, x] of Object.entries(v)) {
    if (!Object.hasOwn(DEFAULT_HTTP_LIMITS, k)) {
      throw invalid(option, `unknown limit ${JSON.stringify(k)} (use ${Object.keys(DEFAULT_HTTP_LIMITS).join(', ')})`);
    }
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 3_600_000) {
      throw invalid(`${option}.${k}`, `must be a whole number of ms in 1..3600000, got ${String(x)}`);
    }
    out[k as keyof HttpLimits] = x;
  }
  return out;
}

/** Validates and fills the common options; never mutates the caller's object. */
export function resolveCommon(options: CommonOptions): ResolvedCommon {
  const o = withServer(options);
  const r = o as Record<string, unknown>;
  const protocol = o.protocol ?? 'tcp';
  if (!['udp', 'tcp', 'http'].includes(protocol)) throw invalid('protocol', `must be udp, tcp or http, got ${String(protocol)}`);
  const connection = o.connection ?? 'sender-to-receiver';
  if (connection !== 'sender-to-receiver' && connection !== 'receiver-to-sender') {
    throw invalid('connection', `must be sender-to-receiver or receiver-to-sender, got ${String(connection)}`);
  }
  if (protocol === 'udp' && connection === 'receiver-to-sender') {
    throw invalid('protocol', 'udp works only sender-to-receiver (push); pull needs tcp or http');
  }
  if (o.proxy !== undefined && protocol !== 'http') throw invalid('proxy', 'only applies to protocol http');
  if (o.proxy !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.proxy);
    } catch {
      u = undefined;
    }
    if (!u || u.protocol !== 'http:' || !u.hostname) throw invalid('proxy', `must be a URL like http://host:port, got ${JSON.stringify(o.proxy)}`);
  }
  const proxyTunnel = o.proxyTunnel ?? 'auto';
  if (o.proxyTunnel !== undefined && protocol !== 'http') throw invalid('proxyTunnel', 'only applies to protocol http');
  if (!['auto', 'always', 'never'].includes(proxyTunnel)) throw invalid('proxyTunnel', `must be auto, always or never, got ${String(proxyTunnel)}`);
  if (proxyTunnel === 'never' && o.tls !== undefined && o.proxy !== undefined) throw invalid('proxyTunnel', 'HTTPS (tls) through a proxy always tunnels: never cannot apply');
  const httpUpgrade = o.httpUpgrade ?? 'auto';
  if (o.httpUpgrade !== undefined && protocol !== 'http') throw invalid('httpUpgrade', 'only applies to protocol http');
  if (httpUpgrade !== 'auto' && httpUpgrade !== 'never') throw invalid('httpUpgrade', `must be auto or never, got ${String(httpUpgrade)}`);
  if (o.tls !== undefined && protocol === 'udp') throw invalid('tls', 'applies to tcp and http, not udp');
  if (o.http !== undefined && protocol !== 'http') throw invalid('http', 'only applies to protocol http');
  const timeouts = { ...DEFAULT_TIMEOUTS };
  for (const [k, v] of Object.entries(o.timeouts ?? {})) {
    if (!MEDIA_TYPES.includes(k as MediaTypeName)) throw invalid('timeouts', `unknown media type ${k}`);
    if (typeof v !== 'number' || !(v > 0)) throw invalid(`timeouts.${k}`, 'must be a positive number of ms');
    timeouts[k as MediaTypeName] = v;
  }
  let reconnect: Required<ReconnectOptions> | undefined;
  if (o.reconnect !== false) {
    const rc = typeof o.reconnect === 'object' ? o.reconnect : {};
    reconnect = { initialDelayMs: rc.initialDelayMs ?? 250, maxDelayMs: rc.maxDelayMs ?? 10000 };
  }
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '')) throw invalid('host', 'must be a non-empty string');
  return {
    protocol,
    connection,
    host: o.host,
    port: num(r, 'port', 0, 0, 65535),
    clientId: checkId('clientId', o.clientId),
    auth: o.auth,
    tls: o.tls,
    proxy: o.proxy,
    proxyTunnel,
    httpUpgrade,
    timeouts,
    connectTimeoutMs: num(r, 'connectTimeoutMs', 10000, 1, 600000),
    keepaliveMs: num(r, 'keepaliveMs', 5000, 0, 3600000),
    deadMs: num(r, 'deadMs', 15000, 0, 3600000),
    maxPayload: num(r, 'maxPayload', DEFAULT_MAX_PAYLOAD, 1024, MAX_PAYLOAD_CEILING),
    reconnect,
    pollMs: num(r, 'pollMs', 20000, 100, 120000),
    http: resolveHttpLimits(o.http),
    limits: connectionLimits(o.limits),
    datagramSize: num(r, 'datagramSize', 1472, 576, 65507),
    udpSendRate: num(r, 'udpSendRate', 125_000_000, 0, 100_000_000_000),
    logger: o.logger ?? silentLogger,
  };
}

/** The connection limits of a listening port, defaults filled in; a bad one is a ConfigError naming it. */
export function connectionLimits(v: unknown): ConnectionLimits {
  try {
    return resolveConnectionLimits(v as Partial<ConnectionLimits> | undefined);
  } catch (err) {
    throw invalid('limits', (err as Error).message.replace(/^limits:? /, ''));
  }
}

/** `server` spelled out as protocol, host, port (and TLS for https); a contradiction is a ConfigError. */
function withServer(o: CommonOptions): CommonOptions {
  if (o.server === undefined) return o;
  const a = parsePeerAddress(o.server, o.protocol ?? 'tcp', 'server');
  if (o.protocol !== undefined && o.protocol !== a.protocol) throw invalid('server', `${o.server} says ${a.protocol}, but protocol is ${o.protocol}: give one`);
  if (o.host !== undefined || o.port !== undefined) throw invalid('server', 'give either server or host and port, not both');
  return { ...o, protocol: a.protocol, host: a.host, port: a.port, tls: o.tls ?? (a.tls ? {} : undefined) };
}

/** Backoff delay for the n-th consecutive failure (n >= 1), with ±20% jitter. */
export function backoffDelay(rc: Required<ReconnectOptions>, n: number): number {
  const base = Math.min(rc.maxDelayMs, rc.initialDelayMs * 2 ** Math.min(20, n - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** A new random non-zero 64-bit session key (docs/behaviour.md, section 2). */
export function newSessionKey(): bigint {
  const b = new BigUint64Array(1);
  do crypto.getRandomValues(b);
  while (b[0] === 0n);
  return b[0];
}
