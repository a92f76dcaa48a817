/**
 * Client side of an HTTP link (docs/protocol.md, section 6): opens the link, uploads frames
 * in request bodies and long-polls for frames coming down.
 */
import { CamwireError, ErrorCode, ProtocolError, TransportError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, FRAME_MAGIC } from '../protocol/constants.js';
import { encodeFrameBuffer, type Frame, type FrameInit } from '../protocol/frame.js';
import { HttpPoster, type HttpPosterOptions, type HttpResult, type HttpStream } from '../transport/http.js';
import { hostHeader, parseProxy } from '../transport/http-tunnel.js';
import { BaseLink, type LinkOptions } from './frame-link.js';
import { DOWN_ACK_HEADER, DOWN_HEADER, FrameQueue, HTTP_PREFIX, LINK_HEADER, MAX_BATCH, parseBody, STREAM_IDLE_HEADER, STREAM_SEEN_HEADER, STREAM_SUFFIX, UP_HEADER } from './http-wire.js';

/** Upload requests in flight at once per link (the poster keeps one more socket for the long poll). */
const MAX_UPLOADS = 3;

/** A stream whose answer has not come this soon is held back by something on the path: the link uploads in POSTs from then on. */
const STREAM_PROBE_MS = 1000;
/** A stream ends after this long without frames, and at this age or size; the next frames start another. */
const STREAM_IDLE_MS = 2000;
const STREAM_MAX_MS = 20000;
const STREAM_MAX_BYTES = 64 * 1024 * 1024;

/** Options of an HTTP client link. */
export interface HttpClientLinkOptions extends LinkOptions {
  /** How long a long-poll request waits on the server for frames. @default 20000 */
  pollMs?: number;
  /**
   * Upload in streams (one long chunked POST at a time, frames written as they come), falling
   * back to one POST per batch when the path holds a stream back (docs/protocol.md, 6.5).
   * @default true
   */
  streamUploads?: boolean;
}

/** The upload stream in use. */
interface Upstream {
  http: HttpStream;
  bytes: number;
  started: number;
  /** When frames last went in. */
  last: number;
  idle: NodeJS.Timeout | undefined;
  ending: boolean;
}

/** Client side of an HTTP link. */
export class HttpClientLink extends BaseLink {
  readonly transport = 'http' as const;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #poster: HttpPoster;
  readonly #id: string;
  readonly #maxPayload: number;
  readonly #pollMs: number;
  readonly #abort = new AbortController();
  #early: Frame[] = [];
  readonly #queue = new FrameQueue();
  #inflight = 0;
  #uploads = 0;
  #uploadScheduled = false;
  #upSeq = 0;
  #downAck = 0;
  /** Streaming uploads: untested until the first stream is answered early ('ok'), or not ('posts'). */
  #streams: 'untested' | 'ok' | 'posts';
  #up: Upstream | undefined;
  /** End a stream after this long without frames (the server's answer may ask for less). */
  #streamIdleMs = STREAM_IDLE_MS;

  private constructor(poster: HttpPoster, id: string, host: string, port: number, o: HttpClientLinkOptions) {
    super({ ...o, keepaliveMs: 0, deadMs: 0 });
    this.#poster = poster;
    this.#id = id;
    this.remoteAddress = host;
    this.remotePort = port;
    this.#maxPayload = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#pollMs = o.pollMs ?? 20000;
    this.#streams = o.streamUploads === false ? 'posts' : 'untested';
    this.startTimers();
  }

  /**
   * Opens a link: POSTs the HELLO and returns the link with the frames the server answered
   * (a WELCOME, or a CLOSE when it refused). Rejects with a TransportError when unreachable.
   */
  static async open(
    target: HttpPosterOptions,
    hello: FrameInit,
    o: HttpClientLinkOptions & { timeoutMs: number; signal?: AbortSignal },
  ): Promise<{ link: HttpClientLink | undefined; first: Frame | undefined }> {
    const poster = new HttpPoster(target);
    const maxPayload = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    try {
      const res = await poster.post(`${HTTP_PREFIX}open`, [encodeFrameBuffer(hello)], {
        timeoutMs: o.timeoutMs,
        maxResponse: maxPayload + MAX_BATCH,
        signal: o.signal,
      });
      // A camwire TCP port that got this request says so in plain text (protocol/parser.ts, httpOnTcpAnswer).
      if (res.status !== 200 && res.headers['x-camwire-error'] === ErrorCode.WRONG_PROTOCOL) {
        throw new TransportError(ErrorCode.WRONG_PROTOCOL, `${target.host}:${target.port} answered: ${res.body.toString('utf8').trim()}`);
      }
      // A refusal that is not camwire's (a proxy's or another server's error page) says what it is:
      // a 4xx no retry fixes (403, 404, 407: CW_ERR_WRONG_PROTOCOL), a 5xx, 408 or 429 may pass
      // (a reverse proxy's 502 while the server restarts: CW_ERR_TRANSPORT_CONNECT, retried).
      if (res.status !== 200 && res.body.length > 0 && !(res.body.length >= 2 && res.body.readUInt16BE(0) === FRAME_MAGIC)) {
        const lasting = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
        throw new TransportError(lasting ? ErrorCode.WRONG_PROTOCOL : ErrorCode.TRANSPORT_CONNECT, foreignRefusal(target, res.status, res.body));
      }
      const frames = res.body.length ? parseBody(res.body, maxPayload) : [];
      const id = res.headers[LINK_HEADER];
      if (res.status !== 200 || typeof id !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
        poster.close();
        if (frames.length) return { link: undefined, first: frames[0] };
        throw new TransportError(ErrorCode.TRANSPORT_CONNECT, `HTTP open refused with status ${res.status}`);
      }
      const link = new HttpClientLink(poster, id, target.host, target.port, o);
      link.#early = frames.slice(1);
      return { link, first: frames[0] };
    } catch (err) {
      poster.close();
      throw err;
    }
  }

  /** Starts the long-poll loop and hands over frames that came after the WELCOME in the open response. */
  start(): void {
    const early = this.#early;
    this.#early = [];
    for (const f of early) this.receive(f);
    void this.#pollLoop();
  }

  get backlog(): number {
    return this.#queue.bytes + this.#inflight + (this.#up?.http.pending ?? 0);
  }

  protected write(h: Buffer, p: Buffer): void {
    const up = this.#up;
    if (up && !up.ending) {
      up.http.write(h);
      if (p.length) up.http.write(p);
      up.bytes += h.length + p.length;
      this.#streamActive(up);
      return;
    }
    this.#queue.push(h, p);
    // Batch what is written in this tick into one body.
    if (!this.#uploadScheduled) {
      this.#uploadScheduled = true;
      queueMicrotask(() => {
        this.#uploadScheduled = false;
        this.#upload();
      });
    }
  }

  /** Frames may queue this far ahead: several uploads are in flight at once. */
  override get pumpBacklog(): number {
    return MAX_UPLOADS * 128 * 1024;
  }

  /**
   * Sends queued frames in up to MAX_UPLOADS concurrent requests (one request per round trip
   * would cap throughput at one body per RTT). Each body carries an upload number; the server
   * delivers bodies in that order, and ignores a repeat (a body whose answer was lost is sent
   * again with the same number; docs/protocol.md, section 6.3).
   */
  #upload(): void {
    if (this.#up) return; // frames queued while a stream ends go on after it
    if (this.#streams !== 'posts' && !this.closed && this.#uploads === 0 && this.#queue.length) {
      this.#openStream();
      return;
    }
    while (this.#uploads < MAX_UPLOADS && this.#queue.length) {
      const { body, bytes } = this.#queue.take();
      this.#inflight += bytes;
      this.#uploads++;
      const up = String(++this.#upSeq);
      this.#retry(() =>
        this.#poster.post(`${HTTP_PREFIX}links/${this.#id}`, body, {
          timeoutMs: 30000,
          maxResponse: this.#maxPayload + MAX_BATCH,
          headers: { [UP_HEADER]: up },
        }),
      ).then(
        (res) => {
          this.#inflight -= bytes;
          this.#uploads--;
          this.#handle(res.status, res.headers[DOWN_HEADER], res.body);
          // After close() the queue holds only the CLOSE frame: keep going so it is sent.
          if (!this.closed && this.backlog < this.highWaterMark) this.emit('drain');
          this.#upload();
          if (this.closed && this.#uploads === 0 && !this.#queue.length) this.#poster.close();
        },
        (err) => {
          this.#inflight -= bytes;
          this.#uploads--;
          if (!this.closed) this.lost(asCamwire(err));
          if (this.#uploads === 0) this.#poster.close();
        },
      );
    }
  }

  /**
   * Opens a streaming upload with the next upload number and writes what is queued into it; later
   * frames go straight into it (write). The first stream of a link is a probe: a path that holds
   * it back (no early answer within STREAM_PROBE_MS) gets POSTs from then on.
   */
  #openStream(): void {
    const http = this.#poster.openStream(`${HTTP_PREFIX}links/${this.#id}${STREAM_SUFFIX}`, { [UP_HEADER]: String(++this.#upSeq) });
    const up: Upstream = { http, bytes: 0, started: Date.now(), last: 0, idle: undefined, ending: false };
    this.#up = up;
    while (this.#queue.length) {
      const { body, bytes } = this.#queue.take();
      for (const b of body) http.write(b);
      up.bytes += bytes;
    }
    http.onDrain(() => {
      if (!this.closed && this.backlog < this.highWaterMark) this.emit('drain');
    });
    let probe: NodeJS.Timeout | undefined;
    if (this.#streams === 'untested') {
      probe = setTimeout(() => {
        if (this.#streams !== 'untested') return;
        this.#streams = 'posts';
        this.#endStream(up);
      }, STREAM_PROBE_MS);
    }
    void http.answered.then(({ status, headers }) => {
      clearTimeout(probe);
      if (status === 200 && this.#streams === 'untested') this.#streams = 'ok';
      const idle = Number(headers[STREAM_IDLE_HEADER]);
      if (idle >= 10 && idle < this.#streamIdleMs) {
        this.#streamIdleMs = idle;
        if (!up.ending) {
          clearTimeout(up.idle);
          up.idle = undefined;
          this.#streamActive(up);
        }
      }
    });
    http.done.then(
      (res) => {
        clearTimeout(up.idle);
        if (this.#up === up) this.#up = undefined;
        this.#handle(res.status, undefined, res.body);
        if (!this.closed && this.backlog < this.highWaterMark) this.emit('drain');
        this.#upload();
        if (this.closed && this.#uploads === 0 && !this.#queue.length && !this.#up) this.#poster.close();
      },
      (err) => {
        clearTimeout(up.idle);
        if (this.#up === up) this.#up = undefined;
        if (!this.closed) this.lost(asCamwire(err));
        if (this.#uploads === 0) this.#poster.close();
      },
    );
    this.#streamActive(up);
  }

  /** Frames went into `up`: it ends after a quiet spell, or now when it is old or large enough. One timer, re-armed lazily. */
  #streamActive(up: Upstream): void {
    const now = Date.now();
    up.last = now;
    if (up.bytes >= STREAM_MAX_BYTES || now - up.started >= STREAM_MAX_MS) {
      this.#endStream(up);
      return;
    }
    if (up.idle) return;
    const check = (): void => {
      up.idle = undefined;
      const quiet = Date.now() - up.last;
      if (quiet >= this.#streamIdleMs) this.#endStream(up);
      else if (!up.ending) up.idle = setTimeout(check, this.#streamIdleMs - quiet);
    };
    up.idle = setTimeout(check, this.#streamIdleMs);
  }

  /** Ends the body of `up`; frames written meanwhile queue for the next upload. */
  #endStream(up: Upstream): void {
    if (up.ending) return;
    up.ending = true;
    clearTimeout(up.idle);
    up.http.end();
  }

  /** Long-polls for frames; each answer names its batch and the next poll acknowledges it. */
  async #pollLoop(): Promise<void> {
    while (!this.closed) {
      try {
        const res = await this.#retry(() =>
          this.#poster.post(`${HTTP_PREFIX}links/${this.#id}?wait=${this.#pollMs}`, [], {
            timeoutMs: this.#pollMs + 15000,
            maxResponse: this.#maxPayload + MAX_BATCH,
            signal: this.#abort.signal,
            headers: { [DOWN_ACK_HEADER]: String(this.#downAck) },
          }),
        );
        this.#handle(res.status, res.headers[DOWN_HEADER], res.body);
        // A path that passes a stream's bytes but holds its early answer back (tinyproxy answers
        // only after the body ends): the poll says the stream got through.
        if (this.#streams === 'untested' && this.#up && Number(res.headers[STREAM_SEEN_HEADER]) === this.#upSeq) this.#streams = 'ok';
      } catch (err) {
        if (!this.closed) this.lost(asCamwire(err));
        return;
      }
    }
  }

  /** Runs a request; a transport failure is retried twice (proxies drop connections). */
  async #retry(fn: () => Promise<HttpResult>): Promise<HttpResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= 3 || this.closed || this.#abort.signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  #handle(status: number, down: string | string[] | undefined, body: Buffer): void {
    const batch = typeof down === 'string' ? Number(down) : 0;
    // A batch we already have (its acknowledgement was lost on the way) is not delivered twice.
    if (batch > 0 && batch <= this.#downAck) return;
    let frames: Frame[] = [];
    try {
      frames = body.length ? parseBody(body, this.#maxPayload) : [];
    } catch (err) {
      this.fail(err as ProtocolError);
      return;
    }
    if (batch > 0) this.#downAck = batch;
    for (const f of frames) this.receive(f);
    if (status === 404 && !this.closed) {
      this.lost(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'the server no longer knows this HTTP link'));
    } else if (status !== 200 && !this.closed) {
      this.lost(new TransportError(ErrorCode.TRANSPORT_CLOSED, `HTTP status ${status}`));
    }
  }

  protected teardown(graceful: boolean): void {
    this.#abort.abort();
    // A graceful close wrote its CLOSE frame into the open stream: end the stream after it (its
    // answer then releases the sockets).
    if (this.#up) {
      if (graceful) this.#endStream(this.#up);
      else this.#up.http.destroy();
      return;
    }
    // A graceful close has queued a CLOSE frame: let the uploads send it, then release sockets.
    if (!graceful || !this.#queue.length) {
      if (this.#uploads === 0) this.#poster.close();
    }
  }
}

function asCamwire(err: unknown): CamwireError {
  return err instanceof CamwireError
    ? err
    : new TransportError(ErrorCode.TRANSPORT_CLOSED, err instanceof Error ? err.message : String(err), { cause: err });
}

/**
 * The error of an HTTP open answered with a status other than 200 and a body that is not camwire
 * frames: the status and the body's first line (at most 200 characters), and who answered.
 */
function foreignRefusal(target: HttpPosterOptions, status: number, body: Buffer): string {
  const text = body.subarray(0, 4096).toString('utf8').replace(/<[^>]*>/g, ' ');
  const line = text.split(/\r?\n/).map((l) => l.replace(/\s+/g, ' ').trim()).find((l) => l.length > 0) ?? '';
  const what = line.length > 200 ? `${line.slice(0, 200)}...` : line;
  const p = target.proxy ? parseProxy(target.proxy) : undefined;
  const who = p ? `the proxy ${hostHeader(p.host, p.port)} (or what stands behind it)` : hostHeader(target.host, target.port);
  const hint = p ? ': check that the proxy allows this client and this port' : '';
  return `${who} refused the HTTP open with status ${status}, not as camwire does${what ? ` ("${what}")` : ''}${hint}`;
}
