/**
 * HTTP transport, client side: POST a byte body and read the byte response, directly or through
 * an HTTP proxy (absolute-form requests; CONNECT tunnels for TLS). The server side is
 * http-server.ts. Knows nothing about frames or media types.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ErrorCode, TransportError } from '../errors.js';
import type { TlsOptions } from './tcp.js';

/** Where an HttpPoster sends its requests. */
export interface HttpPosterOptions {
  host: string;
  port: number;
  tls?: TlsOptions;
  /** An HTTP proxy URL, `http://[user:pass@]host:port`. */
  proxy?: string;
  /** Sockets kept open per poster (one long poll plus uploads). @default 4 */
  maxSockets?: number;
}

/** A finished HTTP exchange. */
export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface ProxyInfo {
  host: string;
  port: number;
  auth?: string;
}

function parseProxy(url: string): ProxyInfo {
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

function hostHeader(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An https.Agent whose sockets are TLS inside a CONNECT tunnel through an HTTP proxy. */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: ProxyInfo,
    opts: https.AgentOptions,
  ) {
    super(opts);
  }
  override createConnection(options: http.ClientRequestArgs, cb?: (err: Error | null, s: Duplex) => void): Duplex | undefined {
    const done = (err: Error | null, s?: Duplex): void => cb?.(err, s as Duplex);
    const target = hostHeader(String(options.host), Number(options.port));
    const req = http.request({
      host: this.proxy.host,
      port: this.proxy.port,
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...(this.proxy.auth ? { 'proxy-authorization': this.proxy.auth } : {}) },
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        done(new TransportError(ErrorCode.TRANSPORT_PROXY, `proxy refused CONNECT ${target}: ${res.statusCode}`));
        return;
      }
      const t = tls.connect({ ...(options as tls.ConnectionOptions), socket });
      t.once('secureConnect', () => done(null, t));
      t.once('error', (err) => done(err));
    });
    req.once('error', (err) => done(new TransportError(ErrorCode.TRANSPORT_PROXY, `proxy ${this.proxy.host}:${this.proxy.port}: ${err.message}`, { cause: err })));
    req.end();
    return undefined;
  }
}

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
  readonly #agent: http.Agent;
  readonly #proxy: ProxyInfo | undefined;
  readonly #target: string;

  constructor(o: HttpPosterOptions) {
    this.#o = o;
    this.#proxy = o.proxy ? parseProxy(o.proxy) : undefined;
    this.#target = hostHeader(o.host, o.port);
    const agentOpts = { keepAlive: true, maxSockets: o.maxSockets ?? 4, keepAliveMsecs: 5000 };
    if (o.tls) {
      const tlsOpts = { ...agentOpts, cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, rejectUnauthorized: o.tls.rejectUnauthorized ?? true, servername: o.tls.servername };
      this.#agent = this.#proxy ? new TunnelAgent(this.#proxy, tlsOpts) : new https.Agent(tlsOpts);
    } else {
      this.#agent = new http.Agent(agentOpts);
    }
  }

  /**
   * POSTs `body` to `path`; resolves with the response, whose size is bounded by `maxResponse`.
   * A request that fails on a reused keep-alive socket the other end had already closed (proxies
   * often do) never reached the server, so it is sent again once on a fresh socket.
   */
  async post(path: string, body: Buffer[], o: PostOptions): Promise<HttpResult> {
    try {
      return await this.#post(path, body, o);
    } catch (err) {
      if (!(err instanceof StaleSocketError)) throw err;
      return this.#post(path, body, o);
    }
  }

  /** Request options for a POST to `path`: direct, or through the proxy. */
  #options(path: string, headers: http.OutgoingHttpHeaders, signal?: AbortSignal): http.RequestOptions {
    const plainProxy = this.#proxy && !this.#o.tls;
    headers = { host: this.#target, 'content-type': 'application/x-camwire', ...headers };
    if (plainProxy && this.#proxy!.auth) headers['proxy-authorization'] = this.#proxy!.auth;
    return {
      method: 'POST',
      agent: this.#agent,
      headers,
      host: plainProxy ? this.#proxy!.host : this.#o.host,
      port: plainProxy ? this.#proxy!.port : this.#o.port,
      // Through a plain proxy the request line carries the absolute URL (RFC 9112, 3.2.2).
      path: plainProxy ? `http://${this.#target}${path}` : path,
      signal,
    };
  }

  #where(path: string): string {
    return `HTTP POST ${path} to ${this.#target}${this.#proxy ? ` via proxy ${this.#proxy.host}:${this.#proxy.port}` : ''}`;
  }

  /**
   * Starts a POST whose body is written as it comes (chunked) and ended later: a streaming
   * upload. The response may arrive before the body ends (`answered`).
   */
  openStream(path: string, headers: Record<string, string>): HttpStream {
    const mod = this.#o.tls ? https : http;
    const req = mod.request(this.#options(path, headers));
    return new HttpStream(req, this.#where(path));
  }

  #post(path: string, body: Buffer[], o: PostOptions): Promise<HttpResult> {
    const length = body.reduce((n, b) => n + b.length, 0);
    const options = this.#options(path, { 'content-length': length, ...o.headers }, o.signal);
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
                `${this.#where(path)}: ${err.message}`,
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
        () => fail(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `HTTP POST ${path} timed out after ${o.timeoutMs} ms`)),
        o.timeoutMs,
      );
      req.on('error', fail);
      for (const b of body) req.write(b);
      req.end();
    });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }
}

/**
 * One streaming upload (HttpPoster.openStream): a POST with a chunked body written frame by
 * frame. `answered` resolves when the response head arrives (the server answers a stream as soon
 * as its first bytes reach it, so an early answer shows that the path does not hold the body
 * back); `done` settles when the whole exchange ends.
 */
export class HttpStream {
  readonly #req: http.ClientRequest;
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
    req.flushHeaders();
  }

  /** Bytes written and not yet taken by the socket. */
  get pending(): number {
    return this.#req.writableLength;
  }

  /** Writes bytes of the body; false when the socket is backed up (wait for 'drain'). */
  write(b: Buffer): boolean {
    return this.#req.write(b);
  }

  onDrain(fn: () => void): void {
    this.#req.on('drain', fn);
  }

  /** Ends the body; `done` then settles with the answer. */
  end(): void {
    this.#req.end();
  }

  /** Abandons the exchange. */
  destroy(): void {
    this.#req.destroy();
  }
}
