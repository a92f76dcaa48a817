/**
 * Frame links over HTTP (docs/protocol.md, section 6): every exchange is an ordinary POST,
 * so links pass HTTP proxies. A link is opened by POST /camwire/v1/open and named by the
 * x-camwire-link response header; frames go up in request bodies and come down in response
 * bodies; one long-poll request per link waits for frames to come down.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { CamwireError, CloseCode, ErrorCode, ProtocolError, TransportError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, Kind } from '../protocol/constants.js';
import { encodeFrameBuffer, type Frame, type FrameInit } from '../protocol/frame.js';
import { encodeReason } from '../protocol/messages.js';
import { FrameParser } from '../protocol/parser.js';
import { HttpPoster, readBody, requestTimedOut, type HttpPosterOptions, type HttpResult } from '../transport/http.js';
import { BaseLink, type LinkOptions } from './frame-link.js';

/** Path prefix of every camwire HTTP request. */
export const HTTP_PREFIX = '/camwire/v1/';
/** Response header naming the link. */
export const LINK_HEADER = 'x-camwire-link';
/** Request header: the number of an upload (its repeat is ignored). */
export const UP_HEADER = 'x-camwire-up';
/** Response header: the number of the batch of frames in the body. */
export const DOWN_HEADER = 'x-camwire-down';
/** Request header: the last batch the client received. */
export const DOWN_ACK_HEADER = 'x-camwire-down-ack';
/** Most bytes of frames put in one request or response body (at least one frame always fits). */
const MAX_BATCH = 4 * 1024 * 1024;
/** Upload requests in flight at once per link (the poster keeps one more socket for the long poll). */
const MAX_UPLOADS = 3;
/** Uploads that arrived ahead of a missing one, held until it comes (beyond: the link fails). */
const MAX_EARLY_UPLOADS = 16;

/** Parses a body holding whole frames; throws a ProtocolError on garbage or a cut-off frame. */
export function parseBody(body: Buffer, maxPayload: number): Frame[] {
  const frames: Frame[] = [];
  let error: ProtocolError | undefined;
  const parser = new FrameParser({ onFrame: (f) => frames.push(f), onError: (e) => (error = e) }, { maxPayload });
  parser.push(body);
  if (error) throw error;
  if (parser.buffered > 0) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, 'request body ends inside a frame');
  return frames;
}

/** Options of an HTTP client link. */
export interface HttpClientLinkOptions extends LinkOptions {
  /** How long a long-poll request waits on the server for frames. @default 20000 */
  pollMs?: number;
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

  private constructor(poster: HttpPoster, id: string, host: string, port: number, o: HttpClientLinkOptions) {
    super({ ...o, keepaliveMs: 0, deadMs: 0 });
    this.#poster = poster;
    this.#id = id;
    this.remoteAddress = host;
    this.remotePort = port;
    this.#maxPayload = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#pollMs = o.pollMs ?? 20000;
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
    return this.#queue.bytes + this.#inflight;
  }

  protected write(h: Buffer, p: Buffer): void {
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
    // A graceful close has queued a CLOSE frame: let the uploads send it, then release sockets.
    if (!graceful || !this.#queue.length) {
      if (this.#uploads === 0) this.#poster.close();
    }
  }
}

/** Encoded frames waiting for a request body or response body to carry them. */
class FrameQueue {
  #items: Buffer[][] = [];
  bytes = 0;
  get length(): number {
    return this.#items.length;
  }
  push(h: Buffer, p: Buffer): void {
    this.#items.push(p.length ? [h, p] : [h]);
    this.bytes += h.length + p.length;
  }
  /** Takes whole frames, up to MAX_BATCH bytes but at least one frame. */
  take(): { body: Buffer[]; bytes: number } {
    const body: Buffer[] = [];
    let bytes = 0;
    let n = 0;
    while (n < this.#items.length) {
      const item = this.#items[n];
      const len = item.length === 1 ? item[0].length : item[0].length + item[1].length;
      if (n > 0 && bytes + len > MAX_BATCH) break;
      body.push(...item);
      bytes += len;
      n++;
    }
    this.#items.splice(0, n);
    this.bytes -= bytes;
    return { body, bytes };
  }
}

function asCamwire(err: unknown): CamwireError {
  return err instanceof CamwireError
    ? err
    : new TransportError(ErrorCode.TRANSPORT_CLOSED, err instanceof Error ? err.message : String(err), { cause: err });
}

// ---------------------------------------------------------------- server side

interface Waiter {
  res: http.ServerResponse;
  timer: NodeJS.Timeout | undefined;
  /** A long poll: its frames form a numbered batch the next poll acknowledges. */
  batched: boolean;
}

/** Server side of an HTTP link: frames to the client wait in a queue for a long poll to carry them. */
export class HttpServerLink extends BaseLink {
  readonly transport = 'http' as const;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly id = randomBytes(18).toString('base64url');
  readonly #queue = new FrameQueue();
  #waiter: Waiter | undefined;
  #flushScheduled = false;
  #lastRequest = Date.now();
  #expiry: NodeJS.Timeout;
  #lastUp = 0;
  readonly #early = new Map<number, Frame[]>();
  #downSeq = 0;
  /** The last batch sent on a poll, kept until the next poll acknowledges it. */
  #unacked: { seq: number; body: Buffer[]; bytes: number } | undefined;
  readonly #onGone: (link: HttpServerLink) => void;

  constructor(remoteAddress: string, remotePort: number, o: LinkOptions & { expireMs: number }, onGone: (l: HttpServerLink) => void) {
    super({ ...o, keepaliveMs: 0, deadMs: 0 });
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.#onGone = onGone;
    this.#expiry = setInterval(() => {
      if (!this.#waiter && Date.now() - this.#lastRequest > o.expireMs) {
        this.lost(new TransportError(ErrorCode.TRANSPORT_IDLE, `HTTP client sent no request for ${o.expireMs} ms`));
      }
    }, Math.max(100, Math.floor(o.expireMs / 4)));
    this.#expiry.unref();
    this.startTimers();
  }

  /** Queued plus sent-but-unacknowledged bytes. */
  get backlog(): number {
    return this.#queue.bytes + (this.#unacked?.bytes ?? 0);
  }

  /** Takes the frames of a request body; `up` numbers uploads so a repeated one is ignored. */
  accept(frames: Frame[], up = 0): void {
    this.#lastRequest = Date.now();
    if (up === 0) {
      for (const f of frames) this.receive(f);
      return;
    }
    // Concurrent uploads may arrive out of order: deliver them in upload order, once each.
    if (up <= this.#lastUp || this.#early.has(up)) return;
    if (up > this.#lastUp + 1) {
      if (this.#early.size >= MAX_EARLY_UPLOADS) {
        this.fail(new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `upload ${this.#lastUp + 1} never came`, CloseCode.UNEXPECTED_MESSAGE));
        return;
      }
      this.#early.set(up, frames);
      return;
    }
    this.#lastUp = up;
    for (const f of frames) this.receive(f);
    for (let next = this.#early.get(this.#lastUp + 1); next; next = this.#early.get(this.#lastUp + 1)) {
      this.#early.delete(++this.#lastUp);
      for (const f of next) this.receive(f);
    }
  }

  protected write(h: Buffer, p: Buffer): void {
    this.#queue.push(h, p);
    if (this.#waiter && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        if (this.#waiter && !this.#unacked) this.#answer(this.#waiter);
      });
    }
  }

  /** Answers an upload at once; frames for the client travel on long polls only. */
  respondUpload(res: http.ServerResponse): void {
    this.#lastRequest = Date.now();
    res.writeHead(200, { 'content-length': 0, [LINK_HEADER]: this.id }).end();
  }

  /**
   * Answers a long poll (or the open request, `downAck` undefined): at once when frames are
   * queued, otherwise when frames come or the wait ends. A poll that has not acknowledged the
   * last batch gets that batch again. A second waiting poll releases the first one empty.
   */
  respond(res: http.ServerResponse, waitMs: number, downAck?: number): void {
    this.#lastRequest = Date.now();
    if (this.#waiter) this.#release(this.#waiter);
    const w: Waiter = { res, timer: undefined, batched: downAck !== undefined };
    if (downAck !== undefined && this.#unacked) {
      if (downAck >= this.#unacked.seq) {
        this.#unacked = undefined;
        if (!this.closed && this.#queue.bytes < this.highWaterMark) this.emit('drain');
      } else {
        this.#send(w, this.#unacked.seq, this.#unacked.body, this.#unacked.bytes);
        return;
      }
    }
    if (this.#queue.bytes > 0 || waitMs <= 0 || this.closed) {
      this.#answer(w);
      return;
    }
    w.timer = setTimeout(() => this.#answer(w), waitMs);
    this.#waiter = w;
    res.once('close', () => {
      if (this.#waiter === w) {
        clearTimeout(w.timer);
        this.#waiter = undefined;
        this.#lastRequest = Date.now();
      }
    });
  }

  #release(w: Waiter): void {
    clearTimeout(w.timer);
    if (this.#waiter === w) this.#waiter = undefined;
    this.#send(w, 0, [], 0);
  }

  #answer(w: Waiter): void {
    clearTimeout(w.timer);
    if (this.#waiter === w) this.#waiter = undefined;
    const { body, bytes } = this.#queue.take();
    let seq = 0;
    if (w.batched && bytes > 0) {
      seq = ++this.#downSeq;
      this.#unacked = { seq, body, bytes };
    }
    this.#send(w, seq, body, bytes);
    if (!w.batched && !this.closed && this.#queue.bytes < this.highWaterMark && bytes > 0) this.emit('drain');
    if (this.closed && this.#queue.bytes === 0) this.#onGone(this);
  }

  #send(w: Waiter, seq: number, body: Buffer[], bytes: number): void {
    this.#lastRequest = Date.now();
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/x-camwire', 'content-length': bytes, [LINK_HEADER]: this.id };
    if (seq > 0) headers[DOWN_HEADER] = String(seq);
    w.res.writeHead(200, headers);
    for (const b of body) w.res.write(b);
    w.res.end();
  }

  protected teardown(graceful: boolean): void {
    clearInterval(this.#expiry);
    if (this.#waiter && !this.#unacked) this.#answer(this.#waiter);
    if (!graceful || this.backlog === 0) {
      this.#onGone(this);
      return;
    }
    // Keep the CLOSE frame a little while for the client's next poll to collect.
    setTimeout(() => this.#onGone(this), 5000).unref();
  }
}

/** Options of an HttpLinkServer. */
export interface HttpLinkServerOptions extends LinkOptions {
  /** Longest wait a long poll may ask for. @default 30000 */
  maxPollMs?: number;
  /** A link with no request for this long is closed. @default 45000 */
  expireMs?: number;
  /** An open request waits this long for the role to answer the HELLO. @default 10000 */
  handshakeMs?: number;
}

/** Callbacks of an HttpLinkServer, supplied by the role that owns it. */
export interface HttpLinkServerHandler {
  /** A new link; its HELLO (and any frames after it) follow as soon as this returns. */
  onLink(link: HttpServerLink): void;
  /** A request carried bad input; it was answered 4xx and closed. */
  onBadRequest(err: CamwireError, remoteAddress: string, remotePort: number): void;
}

/** HttpLinkServer turns camwire HTTP requests into HttpServerLinks. Mount `handle` on any http.Server. */
export class HttpLinkServer {
  readonly #links = new Map<string, HttpServerLink>();
  readonly #o: Required<Pick<HttpLinkServerOptions, 'maxPollMs' | 'expireMs' | 'handshakeMs'>> & LinkOptions;
  readonly #h: HttpLinkServerHandler;
  readonly #maxPayload: number;

  constructor(o: HttpLinkServerOptions, h: HttpLinkServerHandler) {
    this.#o = { ...o, maxPollMs: o.maxPollMs ?? 30000, expireMs: o.expireMs ?? 45000, handshakeMs: o.handshakeMs ?? 10000 };
    this.#h = h;
    this.#maxPayload = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** Open links. */
  get size(): number {
    return this.#links.size;
  }

  /** Handles a request if its path is a camwire path; returns false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = req.url ?? '';
    // Proxies may forward the absolute form: keep only the path.
    const path = url.startsWith('http') ? url.replace(/^https?:\/\/[^/]+/, '') : url;
    if (!path.startsWith(HTTP_PREFIX)) return false;
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', connection: 'close' }).end();
      return true;
    }
    void this.#serve(req, res, path.slice(HTTP_PREFIX.length));
    return true;
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse, rest: string): Promise<void> {
    const addr = req.socket.remoteAddress ?? '';
    const port = req.socket.remotePort ?? 0;
    let link: HttpServerLink | undefined;
    try {
      const [route, query = ''] = rest.split('?', 2);
      if (route !== 'open' && !route.startsWith('links/')) {
        res.writeHead(404, { connection: 'close' }).end();
        return;
      }
      if (route.startsWith('links/')) {
        link = this.#links.get(route.slice(6));
        if (!link) {
          req.resume();
          res.writeHead(404, { 'content-length': 0 }).end();
          return;
        }
      }
      const body = await readBody(req, this.#maxPayload + MAX_BATCH + 1024);
      const frames = body.length ? parseBody(body, this.#maxPayload) : [];
      if (route === 'open') {
        if (frames.length === 0 || frames[0].kind !== Kind.HELLO) {
          throw new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, 'an HTTP open request must start with a HELLO frame', CloseCode.UNEXPECTED_MESSAGE);
        }
        const l = new HttpServerLink(addr, port, { ...this.#o }, (gone) => {
          if (this.#links.get(gone.id) === gone) this.#links.delete(gone.id);
        });
        link = l;
        this.#links.set(l.id, l);
        this.#h.onLink(l);
        l.accept(frames);
        l.respond(res, this.#o.handshakeMs);
        return;
      }
      const up = Number(req.headers[UP_HEADER] ?? 0) || 0;
      if (up > 0 || frames.length > 0) {
        link!.accept(frames, up);
        link!.respondUpload(res);
        return;
      }
      const wait = Math.min(Math.max(Number(/(?:^|&)wait=(\d+)/.exec(query)?.[1] ?? 0), 0), this.#o.maxPollMs);
      link!.respond(res, wait, Number(req.headers[DOWN_ACK_HEADER] ?? 0) || 0);
    } catch (err) {
      const e = err instanceof CamwireError ? err : new TransportError(ErrorCode.TRANSPORT_CLOSED, String(err));
      if (requestTimedOut(req) === e) {
        // The listener ended the request at a time limit, answered it (408) and reported it.
        link?.fail(e, CloseCode.TIMEOUT);
        return;
      }
      const tooLarge = e.code === ErrorCode.TRANSPORT_BODY_TOO_LARGE || e.code === ErrorCode.PROTOCOL_FRAME_TOO_LARGE;
      const code = e instanceof ProtocolError ? e.closeCode : tooLarge ? CloseCode.FRAME_TOO_LARGE : CloseCode.PROTOCOL_ERROR;
      const closeFrame = encodeFrameBuffer({ kind: Kind.CLOSE, payload: encodeReason(code, e.message) });
      if (!res.headersSent) {
        const status = tooLarge ? 413 : 400;
        res.writeHead(status, { 'content-type': 'application/x-camwire', 'content-length': closeFrame.length, connection: 'close' });
        res.end(closeFrame);
      }
      req.socket.once('finish', () => req.socket.destroy());
      // A link that fails reports itself (onProtocolFailure); a request without one is reported here.
      if (link && !link.closed && e instanceof ProtocolError) link.fail(e);
      else {
        link?.fail(e, code);
        this.#h.onBadRequest(e, addr, port);
      }
    }
  }

  /** Closes every link. */
  closeAll(code: number, reason: string): void {
    for (const l of [...this.#links.values()]) l.close(code, reason);
  }
}

