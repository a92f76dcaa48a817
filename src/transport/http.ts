/**
 * HTTP transport, client side: POST a byte body and read the byte response, directly or through
 * an HTTP proxy (a CONNECT tunnel, http-tunnel.ts, or absolute-form requests). The server side is
 * http-server.ts. Knows nothing about frames or media types.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { ErrorCode, TransportError } from '../errors.js';
import { hostHeader, HttpsTunnelAgent, HttpTunnelAgent, parseProxy, TUNNEL_MS, TunnelError, type ProxyInfo, type ProxyTunnel } from './http-tunnel.js';
import type { TlsOptions } from './tcp.js';

export { TunnelError, type ProxyTunnel } from './http-tunnel.js';

/** Where an HttpPoster sends its requests. */
export interface HttpPosterOptions {
  host: string;
  port: number;
  tls?: TlsOptions;
  /** An HTTP proxy URL, `http://[user:pass@]host:port`. */
  proxy?: string;
  /**
   * Plain HTTP through `proxy`: 'always' tunnels (CONNECT), 'never' sends absolute-form requests
   * to the proxy, 'auto' tries a tunnel first and falls back for good when the proxy refuses it.
   * HTTPS always tunnels. @default 'auto'
   */
  proxyTunnel?: ProxyTunnel;
  /** Sockets kept open per poster (one long poll plus uploads). @default 4 */
  maxSockets?: number;
}

/** A finished HTTP exchange. */
export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * How requests reach the target: straight, through a CONNECT tunnel, or as absolute-form
 * requests to the proxy. 'untested': 'auto' before its first request has settled it.
 */
type Route = 'direct' | 'tunnel' | 'proxied' | 'untested';

/** In 'auto', a proxy that has not answered a CONNECT this soon is taken as refusing it. */
const TUNNEL_PROBE_MS = 3000;

/** Options of one POST. */
export interface PostOptions {
  timeoutMs: number;
  /** Largest response body accepted. */
  maxResponse: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** A request failed on a keep-alive socket that was already closed: safe to send again. */
class StaleSocketError extends Error {}

/** HttpPoster sends POST requests with byte bodies over keep-alive connections. */
export class HttpPoster {
  readonly #o: HttpPosterOptions;
  readonly #proxy: ProxyInfo | undefined;
  readonly #target: string;
  readonly #agentOpts: http.AgentOptions;
  /** Agents by route, made when first used. */
  readonly #agents = new Map<Route, http.Agent>();
  #route: Route;
  /** In 'auto': the first request, which settles the route; others wait for it. */
  #probe: Promise<unknown> | undefined;

  constructor(o: HttpPosterOptions) {
    this.#o = o;
    this.#proxy = o.proxy ? parseProxy(o.proxy) : undefined;
    this.#target = hostHeader(o.host, o.port);
    const mode = o.proxyTunnel ?? 'auto';
    if (this.#proxy && o.tls && mode === 'never') throw new TypeError("HTTPS through a proxy needs a CONNECT tunnel: proxyTunnel 'never' cannot apply");
    this.#route = !this.#proxy ? 'direct' : o.tls || mode === 'always' ? 'tunnel' : mode === 'never' ? 'proxied' : 'untested';
    this.#agentOpts = { keepAlive: true, maxSockets: o.maxSockets ?? 4, keepAliveMsecs: 5000 };
  }

  #agent(route: Exclude<Route, 'untested'>): http.Agent {
    let agent = this.#agents.get(route);
    if (agent) return agent;
    const o = this.#o;
    if (o.tls) {
      const tlsOpts = { ...this.#agentOpts, cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, rejectUnauthorized: o.tls.rejectUnauthorized ?? true, servername: o.tls.servername };
      agent = route === 'tunnel' ? new HttpsTunnelAgent(this.#proxy!, tlsOpts) : new https.Agent(tlsOpts);
    } else {
      agent = route === 'tunnel' ? new HttpTunnelAgent(this.#proxy!, this.#agentOpts) : new http.Agent(this.#agentOpts);
    }
    this.#agents.set(route, agent);
    return agent;
  }

  /**
   * POSTs `body` to `path`; resolves with the response, whose size is bounded by `maxResponse`.
   * A request that fails on a reused keep-alive socket the other end had already closed (proxies
   * often do) never reached the server, so it is sent again once on a fresh socket.
   *
   * In 'auto' the first request tries a CONNECT tunnel (for at most TUNNEL_PROBE_MS, or half its
   * time); if the proxy does not give one, it and every later request go to the proxy as
   * absolute-form requests. Requests made meanwhile wait for that answer.
   */
  async post(path: string, body: Buffer[], o: PostOptions): Promise<HttpResult> {
    while (this.#route === 'untested' && this.#probe) await this.#probe.catch(() => {});
    if (this.#route !== 'untested') return this.#postOn(this.#route, path, body, o);
    const started = Date.now();
    const tunnelled = this.#postOn('tunnel', path, body, { ...o, tunnelMs: Math.max(1, Math.min(TUNNEL_PROBE_MS, o.timeoutMs / 2)) });
    this.#probe = tunnelled;
    try {
      const res = await tunnelled;
      this.#route = 'tunnel';
      return res;
    } catch (err) {
      if (!(err instanceof TunnelError) || this.#route !== 'untested') throw err;
      this.#route = 'proxied';
      return this.#postOn('proxied', path, body, { ...o, timeoutMs: Math.max(1, o.timeoutMs - (Date.now() - started)) });
    } finally {
      this.#probe = undefined;
    }
  }

  async #postOn(route: Exclude<Route, 'untested'>, path: string, body: Buffer[], o: PostOptions & { tunnelMs?: number }): Promise<HttpResult> {
    try {
      return await this.#post(route, path, body, o);
    } catch (err) {
      if (!(err instanceof StaleSocketError)) throw err;
      return this.#post(route, path, body, o);
    }
  }

  /** Request options for a POST to `path` on `route`. */
  #options(route: Exclude<Route, 'untested'>, path: string, headers: http.OutgoingHttpHeaders, o: { signal?: AbortSignal; tunnelMs?: number }): http.RequestOptions {
    const proxied = route === 'proxied';
    headers = { host: this.#target, 'content-type': 'application/x-camwire', ...headers };
    if (proxied && this.#proxy!.auth) headers['proxy-authorization'] = this.#proxy!.auth;
    return {
      method: 'POST',
      agent: this.#agent(route),
      headers,
      host: proxied ? this.#proxy!.host : this.#o.host,
      port: proxied ? this.#proxy!.port : this.#o.port,
      // To a proxy the request line carries the absolute URL (RFC 9112, 3.2.2).
      path: proxied ? `http://${this.#target}${path}` : path,
      signal: o.signal,
      // Read by the tunnel agents: how long a new tunnel's CONNECT may take.
      ...(route === 'tunnel' && o.tunnelMs ? { [TUNNEL_MS]: o.tunnelMs } : {}),
    };
  }

  #where(route: Route, path: string): string {
    const via = !this.#proxy ? '' : ` ${route === 'tunnel' ? 'through a CONNECT tunnel of' : 'via'} proxy ${this.#proxy.host}:${this.#proxy.port}`;
    return `HTTP POST ${path} to ${this.#target}${via}`;
  }

  /**
   * Starts a POST whose body is written as it comes (chunked) and ended later: a streaming
   * upload. The response may arrive before the body ends (`answered`). Streams come after a
   * link's first request, which has settled the route; should one come first, it goes to the
   * proxy (absolute-form), which every proxy takes.
   *
   * To a proxy (absolute-form) a stream goes on a connection of its own, closed after it. A proxy
   * may close its client connection after each answer without saying so (tinyproxy drops the
   * `connection: close` of the answer), and the next stream of a link starts the moment the last
   * one is answered: on the pooled socket it would be written into a connection already closed,
   * and, unlike a POST, a stream cannot be sent again (docs/protocol.md, 6.5).
   */
  openStream(path: string, headers: Record<string, string>): HttpStream {
    const route = this.#route === 'untested' ? 'proxied' : this.#route;
    const mod = this.#o.tls ? https : http;
    const options = this.#options(route, path, headers, {});
    if (route === 'proxied') options.agent = false;
    const req = mod.request(options);
    return new HttpStream(req, this.#where(route, path));
  }

  #post(route: Exclude<Route, 'untested'>, path: string, body: Buffer[], o: PostOptions & { tunnelMs?: number }): Promise<HttpResult> {
    const length = body.reduce((n, b) => n + b.length, 0);
    const options = this.#options(route, path, { 'content-length': length, ...o.headers }, { signal: o.signal, tunnelMs: o.tunnelMs ?? o.timeoutMs });
    const mod = this.#o.tls ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      let gotResponse = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        const code = (err as NodeJS.ErrnoException).code;
        if (req.reusedSocket && !gotResponse && (code === 'ECONNRESET' || code === 'EPIPE')) {
          reject(new StaleSocketError(err.message));
          return;
        }
        reject(
          err instanceof TransportError
            ? err
            : new TransportError(
                err.name === 'AbortError' ? ErrorCode.TRANSPORT_CLOSED : ErrorCode.TRANSPORT_CONNECT,
                `${this.#where(route, path)}: ${err.message}`,
                { cause: err },
              ),
        );
      };
      const req = mod.request(options, (res) => {
        gotResponse = true;
        const chunks: Buffer[] = [];
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > o.maxResponse) {
            fail(new TransportError(ErrorCode.TRANSPORT_CLOSED, `HTTP response larger than ${o.maxResponse} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, n) });
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'HTTP response aborted')));
      });
      const timer = setTimeout(
        () =>
          fail(
            // Still without a socket through a tunnel: the proxy has not given the tunnel.
            route === 'tunnel' && !req.socket
              ? new TunnelError(`proxy ${hostHeader(this.#proxy!.host, this.#proxy!.port)} gave no CONNECT tunnel to ${this.#target} within ${o.timeoutMs} ms`, { proxy: hostHeader(this.#proxy!.host, this.#proxy!.port), target: this.#target })
              : new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `HTTP POST ${path} timed out after ${o.timeoutMs} ms`),
          ),
        o.timeoutMs,
      );
      req.on('error', fail);
      for (const b of body) req.write(b);
      req.end();
    });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
  }
}

/** Ends a chunk of a chunked body. */
const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * One streaming upload (HttpPoster.openStream): a POST with a chunked body written frame by
 * frame. `answered` resolves when the response head arrives (the server answers a stream as soon
 * as its first bytes reach it, so an early answer shows that the path does not hold the body
 * back); `done` settles when the whole exchange ends.
 *
 * Everything written in one event-loop turn goes out as one chunk of the body, in one write, at
 * the end of the turn: the chunk's size line, the pieces as they are (no copy), its CRLF. Node's
 * own chunked encoding would make a chunk of every piece, four socket writes each (size, CRLF,
 * piece, CRLF): a frame's header and payload became two chunks, eight writes, and at the receiver
 * three body pieces per frame. The request writes its head and, at end(), the last chunk; the
 * chunks in between go straight to its socket once the head is on it.
 */
export class HttpStream {
  readonly #req: http.ClientRequest;
  /** The request's socket, once the request head is on it. */
  #sock: Duplex | undefined;
  /** Pieces of the chunk this turn is gathering. */
  #turn: Buffer[] = [];
  #turnBytes = 0;
  /** Chunks gathered before the socket came, in order. */
  #early: Buffer[][] = [];
  #earlyBytes = 0;
  /** end() came before the socket: end once the early chunks are written. */
  #ending = false;
  readonly #drainFns: (() => void)[] = [];
  readonly #onDrain = (): void => {
    for (const fn of this.#drainFns) fn();
  };
  readonly answered: Promise<{ status: number; headers: http.IncomingHttpHeaders }>;
  readonly done: Promise<HttpResult>;

  constructor(req: http.ClientRequest, where: string) {
    this.#req = req;
    let answer!: (a: { status: number; headers: http.IncomingHttpHeaders }) => void;
    this.answered = new Promise((r) => (answer = r));
    this.done = new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        req.destroy();
        reject(err instanceof TransportError ? err : new TransportError(ErrorCode.TRANSPORT_CLOSED, `${where}: ${err.message}`, { cause: err }));
      };
      req.on('response', (res) => {
        answer({ status: res.statusCode ?? 0, headers: res.headers });
        const chunks: Buffer[] = [];
        let n = 0;
        res.on('data', (c: Buffer) => {
          // The answer to a stream has an empty body; a little is read, more is an error.
          n += c.length;
          if (n > 64 * 1024) fail(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'HTTP stream answer larger than 64 KiB'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, n) }));
        res.on('error', fail);
        res.on('aborted', () => fail(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'HTTP response aborted')));
      });
      req.on('error', fail);
    });
    this.done.catch(() => {});
    // Node emits 'socket' and then writes the request head onto it, in the same tick: the body's
    // chunks may follow from the next tick on.
    req.once('socket', (sock) => process.nextTick(() => this.#attach(sock)));
    const release = (): void => void this.#sock?.off('drain', this.#onDrain);
    this.done.then(release, release);
    req.flushHeaders();
  }

  #attach(sock: Duplex): void {
    if (this.#req.destroyed || sock.destroyed) return;
    this.#sock = sock;
    sock.on('drain', this.#onDrain);
    const early = this.#early;
    this.#early = [];
    this.#earlyBytes = 0;
    for (const pieces of early) this.#chunk(pieces);
    if (this.#ending) this.#req.end();
  }

  /** Writes `pieces` as one chunk, in one write. */
  #chunk(pieces: Buffer[]): void {
    const sock = this.#sock!;
    let n = 0;
    for (const b of pieces) n += b.length;
    sock.cork();
    sock.write(Buffer.from(`${n.toString(16)}\r\n`, 'latin1'));
    for (const b of pieces) sock.write(b);
    sock.write(CRLF);
    sock.uncork();
  }

  /** The end of the turn: what it gathered goes as one chunk (or waits for the socket). */
  readonly #flush = (): void => {
    const pieces = this.#turn;
    if (pieces.length === 0) return;
    this.#turn = [];
    const n = this.#turnBytes;
    this.#turnBytes = 0;
    if (this.#req.destroyed) return;
    if (this.#sock) this.#chunk(pieces);
    else {
      this.#early.push(pieces);
      this.#earlyBytes += n;
    }
  };

  /** Bytes written and not yet taken by the socket. */
  get pending(): number {
    return (this.#sock?.writableLength ?? 0) + this.#turnBytes + this.#earlyBytes;
  }

  /** Writes bytes of the body (kept, not copied: do not change them); false when the socket is backed up (wait for 'drain'). */
  write(b: Buffer): boolean {
    if (b.length === 0) return true;
    if (this.#turn.length === 0) process.nextTick(this.#flush);
    this.#turn.push(b);
    this.#turnBytes += b.length;
    return this.#sock !== undefined && !this.#sock.writableNeedDrain;
  }

  /** `fn` runs when the socket has taken what was backed up. */
  onDrain(fn: () => void): void {
    this.#drainFns.push(fn);
  }

  /** Ends the body; `done` then settles with the answer. */
  end(): void {
    this.#flush();
    if (this.#sock || this.#req.destroyed) this.#req.end();
    else this.#ending = true;
  }

  /** Abandons the exchange. */
  destroy(): void {
    this.#turn = [];
    this.#early = [];
    this.#req.destroy();
  }
}
