/**
 * The HTTP upgrade to camwire's byte stream (docs/protocol.md 6.6): a dialler over HTTP with a
 * direct connection or a CONNECT tunnel to its peer asks `GET /camwire/v1/upgrade` with
 * `upgrade: camwire/1`; on `101` both ends speak the TCP framing (sections 2-5) on that socket,
 * as a StreamLink. Anything else is a fallback to the request-based link (sections 6.1-6.5).
 *
 * Here: the request and the answer as bytes, the server's test of a request, a bounded parser of
 * the answer's head (pure: bytes in, a result or a typed error out), and the dialler's exchange.
 * Knows no frames and no media types.
 */
import type http from 'node:http';
import type net from 'node:net';
import { ErrorCode, TransportError, type CamwireError } from '../errors.js';
import { hostHeader, HttpsTunnelAgent, HttpTunnelAgent, parseProxy, TUNNEL_MS, TunnelError, type ProxyTunnel } from '../transport/http-tunnel.js';
import { clientTlsOptions, connectStream, type TlsOptions } from '../transport/tcp.js';
import { HTTP_PREFIX, requestPath } from './http-wire.js';

/** The path of the upgrade request. */
export const UPGRADE_PATH = `${HTTP_PREFIX}upgrade`;
/** The protocol token of the `upgrade` header. */
export const UPGRADE_PROTOCOL = 'camwire/1';
/** The largest answer head (status line and headers, CRLF CRLF included) a dialler reads. */
export const MAX_UPGRADE_HEAD = 8 * 1024;
/** A dialler waits at most this long (or half its connect timeout, if less) for the answer. */
export const UPGRADE_PROBE_MS = 3000;

/** The server's answer that switches the connection to camwire's framing. */
export const UPGRADE_ANSWER = `HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${UPGRADE_PROTOCOL}\r\n\r\n`;

/** The dialler's request for `target` (`host:port`, the `host` header). No proxy credentials: in a tunnel the proxy is already passed. */
export function upgradeRequest(target: string): string {
  return `GET ${UPGRADE_PATH} HTTP/1.1\r\nhost: ${target}\r\nconnection: upgrade\r\nupgrade: ${UPGRADE_PROTOCOL}\r\n\r\n`;
}

/** True when `value` (a header value, comma-separated tokens) lists `token`, in any case. */
function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const all = Array.isArray(value) ? value.join(',') : value;
  return all.split(',').some((t) => t.trim().toLowerCase() === token);
}

/** Server side: true for a request to upgrade to camwire's framing (path and `upgrade` token; an absolute-form URL counts by its path). */
export function isCamwireUpgrade(req: http.IncomingMessage): boolean {
  const path = requestPath(req.url ?? '').split('?')[0];
  return path === UPGRADE_PATH && req.method === 'GET' && hasToken(req.headers.upgrade, UPGRADE_PROTOCOL);
}

/** Why an upgrade did not happen. */
export type UpgradeFailure = 'status' | 'malformed' | 'too-large' | 'closed' | 'timeout';

/** An upgrade that did not happen: the dialler falls back to requests (never seen by a user). */
export class UpgradeError extends TransportError {
  readonly reason: UpgradeFailure;
  /** The answer's status when it was not 101. */
  readonly status: number | undefined;
  constructor(reason: UpgradeFailure, message: string, status?: number) {
    super(reason === 'timeout' ? ErrorCode.TRANSPORT_TIMEOUT : ErrorCode.TRANSPORT_CONNECT, message);
    this.reason = reason;
    this.status = status;
  }
}

const PREFIX = Buffer.from('HTTP/1.', 'latin1');
const END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Reads the answer to an upgrade request from bytes split anywhere. `push` returns undefined
 * while the head is incomplete, the bytes after the head (frames already, possibly none) once it
 * is a valid `101` naming camwire/1, and throws an UpgradeError for anything else as soon as it
 * can tell: bytes that do not start like an HTTP/1.x answer, a status other than 101 (at the end
 * of the status line), a malformed header line, a missing `upgrade`/`connection` token, or a head
 * past MAX_UPGRADE_HEAD. Holds at most MAX_UPGRADE_HEAD bytes.
 */
export class UpgradeAnswerParser {
  #held: Buffer = Buffer.alloc(0);
  #statusChecked = false;
  #done = false;

  push(chunk: Buffer): Buffer | undefined {
    if (this.#done) throw new TypeError('UpgradeAnswerParser: the answer is already complete');
    const from = Math.max(0, this.#held.length - 3);
    const bytes = this.#held.length ? Buffer.concat([this.#held, chunk]) : chunk;
    const n = Math.min(bytes.length, PREFIX.length);
    if (bytes.compare(PREFIX, 0, n, 0, n) !== 0) throw new UpgradeError('malformed', `the answer to the upgrade is not HTTP: ${printable(bytes)}`);
    if (!this.#statusChecked) {
      const eol = bytes.indexOf(0x0a);
      if (eol >= 0 && eol < MAX_UPGRADE_HEAD) {
        this.#statusChecked = true;
        checkStatusLine(bytes.toString('latin1', 0, eol).replace(/\r$/, ''));
      }
    }
    const end = bytes.indexOf(END, from);
    if (end < 0 || end + END.length > MAX_UPGRADE_HEAD) {
      if (bytes.length >= MAX_UPGRADE_HEAD) throw new UpgradeError('too-large', `the answer to the upgrade has a head over ${MAX_UPGRADE_HEAD} bytes`);
      this.#held = Buffer.from(bytes);
      return undefined;
    }
    this.#done = true;
    this.#held = Buffer.alloc(0);
    checkHead(bytes.toString('latin1', 0, end));
    // The rest may be a view of the caller's chunk: the caller owns it.
    return bytes.subarray(end + END.length);
  }
}

/** Throws unless `line` is `HTTP/1.x 101 ...`. */
function checkStatusLine(line: string): void {
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(line);
  if (!m) throw new UpgradeError('malformed', `the answer to the upgrade has a bad status line: ${printable(Buffer.from(line, 'latin1'))}`);
  const status = Number(m[1]);
  if (status !== 101) throw new UpgradeError('status', `the upgrade was answered ${status}, not 101`, status);
}

/** Throws unless the head's header lines are well formed and name the upgrade. */
function checkHead(head: string): void {
  const lines = head.split('\r\n');
  let upgrade = false;
  let connection = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    // No folded lines (RFC 9112 5.2), no empty names, no control characters.
    if (colon <= 0 || /^[ \t]/.test(line) || /[\x00-\x08\x0a-\x1f\x7f]/.test(line)) {
      throw new UpgradeError('malformed', `the answer to the upgrade has a bad header line: ${printable(Buffer.from(line, 'latin1'))}`);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1);
    if (name === 'upgrade' && hasToken(value, UPGRADE_PROTOCOL)) upgrade = true;
    if (name === 'connection' && hasToken(value, 'upgrade')) connection = true;
  }
  if (!upgrade || !connection) throw new UpgradeError('malformed', `the 101 answer does not name ${!upgrade ? `upgrade: ${UPGRADE_PROTOCOL}` : 'connection: upgrade'}`);
}

/** The first bytes of `b`, readable in a message. */
function printable(b: Buffer): string {
  return JSON.stringify(b.toString('latin1', 0, Math.min(b.length, 40)));
}

/** Where a dialler's upgrade goes. */
export interface UpgradeTarget {
  host: string;
  port: number;
  tls?: TlsOptions;
  /** An HTTP proxy URL: the upgrade goes inside a CONNECT tunnel through it. */
  proxy?: string;
  proxyTunnel?: ProxyTunnel;
}

/** Whether a link to `t` may try the upgrade: directly or in a tunnel, never as requests to a proxy ('never'). */
export function upgradeRoute(t: UpgradeTarget): 'direct' | 'tunnel' | undefined {
  if (!t.proxy) return 'direct';
  return !t.tls && t.proxyTunnel === 'never' ? undefined : 'tunnel';
}

/** The key of an UpgradeMemory entry for `t`: scheme, host, port and proxy. */
export function upgradeKey(t: UpgradeTarget): string {
  return `${t.tls ? 'https' : 'http'}|${hostHeader(t.host, t.port)}|${t.proxy ?? ''}`;
}

/**
 * How an upgrade attempt ended: a socket that speaks camwire's framing now (the bytes after the
 * 101 put back in front of its next reads, the socket paused), or the error that makes the link
 * fall back. `remember`: the peer (or the path) answered and did not upgrade, so the role's next
 * links to it skip the attempt. `proxyTunnel`: how the request-based link passes the proxy (a
 * refused CONNECT in 'auto' is settled: requests to the proxy, as 'auto' does after it).
 */
export type UpgradeResult =
  | { socket: net.Socket; error?: undefined }
  | { socket?: undefined; error: CamwireError; remember: boolean; proxyTunnel?: ProxyTunnel };

/** Options of {@link openUpgraded}. */
export interface UpgradeDialOptions extends UpgradeTarget {
  /** The whole connect's time left (a CONNECT is bounded by it). */
  timeoutMs: number;
  /** The attempt's bound: connect (and CONNECT), request and answer. */
  probeMs: number;
  signal?: AbortSignal;
}

/**
 * Connects (directly, or in a CONNECT tunnel through the proxy, TLS when `tls`), asks for the
 * upgrade and reads the answer, within `probeMs`. Resolves with the upgraded socket or a
 * fallback; rejects only when the connect is aborted, or when 'always' gets no tunnel from the
 * proxy (CW_ERR_TRANSPORT_PROXY, as the request-based link would). Never leaves a socket open
 * on a fallback.
 */
export function openUpgraded(o: UpgradeDialOptions): Promise<UpgradeResult> {
  const route = upgradeRoute(o);
  if (!route) throw new TypeError('openUpgraded: absolute-form requests to a proxy do not upgrade');
  const mode = o.proxyTunnel ?? 'auto';
  const target = hostHeader(o.host, o.port);
  return new Promise<UpgradeResult>((resolve, reject) => {
    let sock: net.Socket | undefined;
    let settled = false;
    const parser = new UpgradeAnswerParser();
    const finish = (r: UpgradeResult | CamwireError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (sock) {
        sock.off('data', onData);
        sock.off('end', onEnd);
        sock.off('close', onEnd);
        sock.off('error', onError);
      }
      if (!(r instanceof Error) && r.socket) return resolve(r);
      sock?.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const fallback = (error: CamwireError, remember: boolean, proxyTunnel?: ProxyTunnel): void => finish({ error, remember, proxyTunnel });
    const onData = (chunk: Buffer): void => {
      let rest: Buffer | undefined;
      try {
        rest = parser.push(chunk);
      } catch (err) {
        return fallback(err as UpgradeError, true);
      }
      if (rest === undefined) return;
      const s = sock!;
      // Paused before its 'data' listener goes: no byte is lost between here and the StreamLink.
      s.pause();
      if (rest.length) s.unshift(rest);
      finish({ socket: s });
    };
    const onEnd = (): void => fallback(new UpgradeError('closed', `${target} closed the connection instead of answering the upgrade`), true);
    const onError = (err: Error): void => fallback(new UpgradeError('closed', `${target}: ${err.message} instead of an answer to the upgrade`), true);
    const onAbort = (): void => finish(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'connect aborted'));
    const onSocket = (s: net.Socket): void => {
      if (settled) return void s.destroy();
      sock = s;
      s.setNoDelay(true);
      s.on('data', onData);
      s.on('end', onEnd);
      s.on('close', onEnd);
      s.on('error', onError);
      s.write(upgradeRequest(target));
    };
    const timer = setTimeout(() => {
      const what = sock ? 'an answer to the upgrade' : route === 'tunnel' ? 'a CONNECT tunnel' : 'a connection';
      const err = new UpgradeError('timeout', `no ${what} from ${target} within ${o.probeMs} ms`);
      // A CONNECT not answered in time settles 'auto' on requests to the proxy (docs/protocol.md 6.3).
      fallback(err, sock !== undefined, !sock && route === 'tunnel' && mode === 'auto' && !o.tls ? 'never' : undefined);
    }, o.probeMs);
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (route === 'direct') {
      connectStream({ host: o.host, port: o.port, tls: o.tls, timeoutMs: o.probeMs, signal: o.signal }).then(onSocket, (err: CamwireError) => fallback(err, false));
      return;
    }
    const proxy = parseProxy(o.proxy!);
    const agent = o.tls ? new HttpsTunnelAgent(proxy, {}) : new HttpTunnelAgent(proxy, {});
    const tlsOpts = o.tls ? clientTlsOptions(o.host, o.tls) : {};
    const options = { host: o.host, port: o.port, ...tlsOpts, [TUNNEL_MS]: Math.max(1, o.timeoutMs) } as unknown as http.ClientRequestArgs;
    agent.createConnection(options, (err, s) => {
      if (settled) return void s?.destroy();
      if (!err) return onSocket(s as net.Socket);
      if (!(err instanceof TunnelError)) return fallback(new TransportError(ErrorCode.TRANSPORT_CONNECT, `${target} in a tunnel: ${err.message}`, { cause: err }), false);
      // 'always' (and HTTPS) needs the tunnel: its refusal is the link's error, as for requests.
      if (mode === 'always' || o.tls) return finish(err);
      fallback(err, false, 'never');
    });
  });
}
