/**
 * ConnectionWatch: how the CLI decides that a dialling `send` or `receive` cannot succeed. A
 * refusal that no retry fixes (a wrong login, a port that speaks another protocol) ends the
 * command at once; a peer not reached within `--connect-timeout`, or lost and not back within
 * it, ends it too. Each ends with one sentence naming the cause (docs/cli.md, "Failing fast").
 */
import { CamwireError, CloseCode, ErrorCode, ProtocolError, RemoteCloseError, type ConnectionEvent } from '../index.js';
import { TunnelError } from '../transport/http-tunnel.js';

/** Why a command gave up; the CLI prints `error: <message>` and exits 3. */
export class GiveUpError extends CamwireError {}

/** The sentence for an error that no retry fixes, or undefined when retrying may help. `proxy`: `--proxy`, when given. */
export function fatalReason(err: Error | undefined, target: string, proxy?: string): GiveUpError | undefined {
  if (!err) return undefined;
  // A certificate this client does not accept: the same on every attempt.
  const cert = tlsFailure(err);
  if (cert) {
    const why = cert.message;
    if (cert.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new GiveUpError(ErrorCode.TRANSPORT_CONNECT, `${target}: the server's certificate is not for this name (${why}): connect by a name it holds, or give --insecure for testing`);
    if (cert.code === 'CERT_HAS_EXPIRED' || cert.code === 'CERT_NOT_YET_VALID') return new GiveUpError(ErrorCode.TRANSPORT_CONNECT, `${target}: the server's certificate is out of date (${why}): renew it on the server, or give --insecure for testing`);
    return new GiveUpError(ErrorCode.TRANSPORT_CONNECT, `${target}: the server's certificate is not trusted (${why}): give --tls-ca with its CA (or the certificate itself) in PEM, or --insecure for testing`);
  }
  // A proxy that refuses the tunnel for good (403, 405, 407, ...; not 408 or 429): retrying cannot help.
  const refused = err instanceof TunnelError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429 ? err : undefined;
  if (refused) {
    const who = `proxy ${refused.proxy}`;
    const to = refused.target;
    const status = refused.status;
    if (status === 407) return new GiveUpError(ErrorCode.TRANSPORT_PROXY, `${who} asks for a login (407): give it in --proxy http://USER:PASSWORD@HOST:PORT`);
    const port = /:(\d+)$/.exec(to)?.[1] ?? '';
    const plain = /^https:/i.test(target) ? '' : ', or give --proxy-tunnel auto to send plain proxied requests instead';
    return new GiveUpError(ErrorCode.TRANSPORT_PROXY, `${who} refused CONNECT to ${to} (${status}): let it tunnel to port ${port} (tinyproxy: ConnectPort ${port}; squid: SSL_ports)${plain}`);
  }
  if (err instanceof RemoteCloseError && err.closeCode === CloseCode.AUTH_FAILED) {
    const reason = err.message.replace(/^peer closed the connection: \d+ /, '');
    if (/wrong user name or password|credentials not accepted/.test(reason)) return new GiveUpError(ErrorCode.AUTH_FAILED, `wrong user name or password for ${target}`);
    if (/credentials required/.test(reason)) return new GiveUpError(ErrorCode.AUTH_FAILED, `${target} requires a login: give --user and --password`);
    return new GiveUpError(ErrorCode.AUTH_FAILED, `${target} refused the login: ${reason}`);
  }
  // Another client came with the same id and took the session over; this one does not fight back (docs/behaviour.md).
  if (err instanceof RemoteCloseError && err.closeCode === CloseCode.DUPLICATE_ID) {
    return new GiveUpError(ErrorCode.SERVER_REFUSED, `${target}: ${err.message.replace(/^peer closed the connection: \d+ /, '')}, and took over this one: give each client its own --id`);
  }
  if ((err as CamwireError).code === ErrorCode.WRONG_PROTOCOL) return new GiveUpError(ErrorCode.WRONG_PROTOCOL, `${target}: ${err.message.replace(/^\S+ answered: /, '')}`);
  if (err instanceof RemoteCloseError && (err.closeCode === CloseCode.PROTOCOL_ERROR || err.closeCode === CloseCode.UNSUPPORTED_VERSION)) {
    return new GiveUpError(ErrorCode.WRONG_PROTOCOL, `${target}: ${err.message.replace(/^peer closed the connection: \d+ /, '')}`);
  }
  if (err instanceof ProtocolError && err.code === ErrorCode.PROTOCOL_BAD_MAGIC) {
    // Through a proxy, what answered may be the proxy itself (tinyproxy's "Access denied" page is a 403 with HTML).
    if (proxy) return new GiveUpError(ErrorCode.WRONG_PROTOCOL, `no camwire answer from ${target} through proxy ${proxyHost(proxy)}: the proxy may have refused the request itself (check that it allows this client and that port), or ${target} is not a camwire HTTP port`);
    return new GiveUpError(ErrorCode.WRONG_PROTOCOL, `${target} does not speak camwire on this port (check --protocol and the port)`);
  }
  return undefined;
}

/** Node's codes for a server certificate that fails verification (OpenSSL's, and the name check's). */
const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The certificate failure behind `err` (its cause chain), if that is what it is. */
function tlsFailure(err: Error): { code: string; message: string } | undefined {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && CERT_CODES.has(code)) return { code, message: e.message.replace(/:\s*$/, '') };
  }
  return undefined;
}

/** `--proxy` as `host:port`, without the credentials it may carry. */
function proxyHost(proxy: string): string {
  try {
    return new URL(proxy).host;
  } catch {
    return proxy.replace(/^[a-z]+:\/\/[^@/]*@/i, '');
  }
}

/** What a watch listens to: a Sender in push mode or a Receiver in pull mode. */
export interface Watched {
  on(name: 'connected' | 'connectError' | 'disconnect' | 'sessionConnected' | 'sessionDisconnected', fn: (ev: ConnectionEvent) => void): unknown;
}

/** Options of a ConnectionWatch. */
export interface WatchOptions {
  /** The peer as the user named it (`--server`, `--from`). */
  target: string;
  /** Give up when the peer is not reached (or not back) within this long; 0 = never. */
  connectTimeoutMs: number;
  /** 'links': up while any link is open (a push Sender). 'session': up between sessionConnected and sessionDisconnected (a pull Receiver). */
  mode: 'links' | 'session';
  /** `--proxy`, when given: names the proxy in the messages of failures it may have caused. */
  proxy?: string;
  /** The command dials with TLS; without it, a peer that hangs up at once may be a TLS port (said in the give-up message). */
  tls?: boolean;
  /** Added to a "cannot reach" message (e.g. what to check over UDP, where silence is all one learns). */
  hint?: string;
}

/** ConnectionWatch: resolves `gaveUp` with the reason once the command should stop. */
export class ConnectionWatch {
  readonly gaveUp: Promise<GiveUpError>;
  readonly #o: WatchOptions;
  #give: (e: GiveUpError) => void = () => {};
  #open = new Set<string>();
  #ever = false;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(o: WatchOptions) {
    this.#o = o;
    this.gaveUp = new Promise((r) => (this.#give = r));
    this.#arm();
  }

  /** True while the peer is reached. */
  get connected(): boolean {
    return this.#open.size > 0;
  }

  /** The reason to report when the command ends (e.g. at --duration) without ever reaching the peer. */
  neverReached(): GiveUpError | undefined {
    if (this.#ever) return undefined;
    return new GiveUpError(ErrorCode.TRANSPORT_CONNECT, `never reached ${this.#o.target}${this.#lastError ? `: ${this.#lastError}` : this.#o.hint ? ` (${this.#o.hint})` : ''}`);
  }

  /** The last connection failure's message, if any. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  attach(w: Watched): void {
    const key = (ev: ConnectionEvent): string => ev.mediaTypes.join(',');
    w.on('connectError', (ev) => this.#failure(ev.error));
    if (this.#o.mode === 'links') {
      w.on('connected', (ev) => this.#up(key(ev)));
      w.on('disconnect', (ev) => this.#down(key(ev), ev.error));
    } else {
      w.on('sessionConnected', () => this.#up('session'));
      w.on('sessionDisconnected', (ev) => this.#down('session', ev.error ?? new Error('session ended')));
    }
  }

  /** Races `p` with the watch: rejects with the GiveUpError if the watch gives up first. */
  race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.gaveUp.then((e) => Promise.reject(e))]);
  }

  /** Stops the timer (the command ends for another reason). */
  stop(): void {
    this.#done = true;
    clearTimeout(this.#timer);
  }

  #failure(err: Error | undefined): void {
    if (err) this.#lastError = err.message;
    const fatal = fatalReason(err, this.#o.target, this.#o.proxy);
    if (fatal) this.#end(fatal);
  }

  #up(key: string): void {
    this.#open.add(key);
    this.#ever = true;
    this.#lastError = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #down(key: string, err: Error | undefined): void {
    this.#open.delete(key);
    this.#failure(err);
    // A link that closed cleanly (idle) is no loss: it opens again when there is something to send.
    if (err && this.#open.size === 0) this.#arm();
  }

  #arm(): void {
    const ms = this.#o.connectTimeoutMs;
    if (this.#done || ms <= 0 || this.#timer) return;
    this.#timer = setTimeout(() => {
      const s = `${Math.round(ms / 100) / 10} s`;
      // A TLS port hangs up on a plain HELLO without a word: the likeliest cause of that, said as such.
      const tlsHint = !this.#o.tls && this.#lastError && /(connection closed by the peer|socket hang up)$/.test(this.#lastError) ? ' (if the server uses TLS, add --tls or dial https://)' : '';
      const why = this.#lastError ? `: ${this.#lastError}${tlsHint}` : this.#o.hint ? ` (${this.#o.hint})` : '';
      this.#end(new GiveUpError(ErrorCode.TRANSPORT_TIMEOUT, this.#ever ? `lost ${this.#o.target} and it did not come back within ${s}${why}` : `cannot reach ${this.#o.target} within ${s}${why}`));
    }, ms);
  }

  #end(e: GiveUpError): void {
    if (this.#done) return;
    this.stop();
    this.#give(e);
  }
}
