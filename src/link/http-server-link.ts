/**
 * Server side of an HTTP link (docs/protocol.md, section 6): HttpLinkServer turns camwire
 * requests into HttpServerLinks, which queue frames for the client's long polls.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { CamwireError, CloseCode, ErrorCode, ProtocolError, TransportError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, Kind } from '../protocol/constants.js';
import { encodeFrameBuffer, type Frame } from '../protocol/frame.js';
import { encodeReason } from '../protocol/messages.js';
import { FrameParser } from '../protocol/parser.js';
import { readBody, requestTimedOut } from '../transport/http-body.js';
import { BaseLink, type LinkOptions } from './frame-link.js';
import { DOWN_ACK_HEADER, DOWN_HEADER, FrameQueue, HTTP_PREFIX, LINK_HEADER, MAX_BATCH, isStreamUpload, parseBody, requestPath, STREAM_IDLE_HEADER, STREAM_SEEN_HEADER, STREAM_SUFFIX, UP_HEADER } from './http-wire.js';

/** Uploads that arrived ahead of a missing one, held until it comes (beyond: the link fails). */
const MAX_EARLY_UPLOADS = 16;

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
  /** A streaming upload is being read (docs/protocol.md, 6.5). */
  #streaming = false;
  /** The newest stream whose bytes arrived; polls report it, for clients whose path holds the stream's early answer back. */
  #streamSeen = 0;
  /** The #streamSeen an answer last carried: a poll that comes after a stream's first bytes is answered at once. */
  #streamSeenSent = 0;
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
    if (up > this.#lastUp + 1 || this.#streaming) {
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

  /**
   * Takes a streaming upload: answers at once (so the client sees the path carries a stream),
   * then hands over each frame as its bytes arrive. It is upload number `up` and must be the next
   * one; uploads numbered after it wait until it ends (accept keeps them).
   */
  acceptStream(req: http.IncomingMessage, res: http.ServerResponse, o: { up: number; maxPayload: number; idleMs: number }, onBad: (err: ProtocolError) => void): void {
    const { up, maxPayload } = o;
    this.#lastRequest = Date.now();
    const answer = (): void => void res.writeHead(200, { 'content-length': 0, [LINK_HEADER]: this.id }).end();
    if (up > 0 && up <= this.#lastUp) {
      // A repeat of an upload already taken (a stream is never repeated by camwire; tolerate it).
      req.resume();
      req.once('end', answer);
      return;
    }
    if (up !== this.#lastUp + 1 || this.#streaming) {
      onBad(new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `streaming upload ${up} is not the next upload (${this.#lastUp + 1})`, CloseCode.UNEXPECTED_MESSAGE));
      return;
    }
    this.#streaming = true;
    res.writeHead(200, { [LINK_HEADER]: this.id, 'content-type': 'application/x-camwire', [STREAM_IDLE_HEADER]: String(o.idleMs) });
    res.flushHeaders();
    let failed = false;
    const parser = new FrameParser(
      {
        onFrame: (f) => this.receive(f),
        onError: (err) => {
          failed = true;
          this.#streaming = false;
          onBad(err);
        },
      },
      { maxPayload },
    );
    req.on('data', (d: Buffer) => {
      this.#lastRequest = Date.now();
      if (this.#streamSeen < up) {
        // Bytes of this stream got through: tell the client on the waiting poll now.
        this.#streamSeen = up;
        if (this.#waiter && !this.#unacked) this.#answer(this.#waiter);
      }
      parser.push(d);
    });
    req.once('end', () => {
      if (failed) return;
      this.#streaming = false;
      this.#lastRequest = Date.now();
      if (parser.buffered > 0) {
        onBad(new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, 'streaming upload ends inside a frame'));
        return;
      }
      res.end();
      this.accept([], up);
    });
    req.once('close', () => {
      // Cut off before its end: frames in it may be lost, so the link cannot go on.
      if (!req.complete && !failed && !this.closed) {
        this.#streaming = false;
        this.lost(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'the streaming upload was cut off'));
      }
    });
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
    // A stream's bytes arrived before this poll did (the two requests race through a proxy): the
    // client, probing whether streams get through (protocol.md 6.5), learns it now, not in `wait` ms.
    if (this.#queue.bytes > 0 || waitMs <= 0 || this.closed || this.#streamSeen > this.#streamSeenSent) {
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
    if (this.#streamSeen > 0) {
      headers[STREAM_SEEN_HEADER] = String(this.#streamSeen);
      this.#streamSeenSent = this.#streamSeen;
    }
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
  /** Clients end a streaming upload after this long without frames (told in its answer). @default 2000 */
  streamIdleMs?: number;
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
  readonly #o: Required<Pick<HttpLinkServerOptions, 'maxPollMs' | 'expireMs' | 'handshakeMs' | 'streamIdleMs'>> & LinkOptions;
  readonly #h: HttpLinkServerHandler;
  readonly #maxPayload: number;

  constructor(o: HttpLinkServerOptions, h: HttpLinkServerHandler) {
    this.#o = { ...o, maxPollMs: o.maxPollMs ?? 30000, expireMs: o.expireMs ?? 45000, handshakeMs: o.handshakeMs ?? 10000, streamIdleMs: o.streamIdleMs ?? 2000 };
    this.#h = h;
    this.#maxPayload = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** Open links. */
  get size(): number {
    return this.#links.size;
  }

  /** Handles a request if its path is a camwire path; returns false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const path = requestPath(req.url ?? '');
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
      const stream = isStreamUpload(HTTP_PREFIX + route);
      if (route.startsWith('links/')) {
        link = this.#links.get(route.slice(6, stream ? -STREAM_SUFFIX.length : undefined));
        if (!link) {
          req.resume();
          res.writeHead(404, { 'content-length': 0 }).end();
          return;
        }
      }
      if (stream) {
        const l = link!;
        const up = Number(req.headers[UP_HEADER] ?? 0) || 0;
        l.acceptStream(req, res, { up, maxPayload: this.#maxPayload, idleMs: this.#o.streamIdleMs }, (err) => this.#refuse(req, res, l, err));
        return;
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
      this.#refuse(req, res, link, e);
    }
  }

  /** Answers a request that carried bad input (4xx with a CLOSE frame, when still possible), closes it, and fails its link. */
  #refuse(req: http.IncomingMessage, res: http.ServerResponse, link: HttpServerLink | undefined, e: CamwireError): void {
    const addr = req.socket.remoteAddress ?? '';
    const port = req.socket.remotePort ?? 0;
    const tooLarge = e.code === ErrorCode.TRANSPORT_BODY_TOO_LARGE || e.code === ErrorCode.PROTOCOL_FRAME_TOO_LARGE;
    const code = e instanceof ProtocolError ? e.closeCode : tooLarge ? CloseCode.FRAME_TOO_LARGE : CloseCode.PROTOCOL_ERROR;
    const closeFrame = encodeFrameBuffer({ kind: Kind.CLOSE, payload: encodeReason(code, e.message) });
    if (!res.headersSent) {
      const status = tooLarge ? 413 : 400;
      res.writeHead(status, { 'content-type': 'application/x-camwire', 'content-length': closeFrame.length, connection: 'close' });
      res.end(closeFrame);
      req.socket.once('finish', () => req.socket.destroy());
    } else req.socket.destroy();
    // A link that fails reports itself (onProtocolFailure); a request without one is reported here.
    if (link && !link.closed && e instanceof ProtocolError) link.fail(e);
    else {
      link?.fail(e, code);
      this.#h.onBadRequest(e, addr, port);
    }
  }

  /** Closes every link. */
  closeAll(code: number, reason: string): void {
    for (const l of [...this.#links.values()]) l.close(code, reason);
  }
}
