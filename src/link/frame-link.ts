/**
 * FrameLink: one conversation with one peer that carries frames, whatever the transport.
 * Roles (Sender, Receiver) talk to links only; links talk to transports and the codec. The
 * contract, options and constants are in link-api.ts (re-exported here); this file is BaseLink,
 * the part every transport's link shares.
 */
import { EventEmitter } from 'node:events';
import { CamwireError, CloseCode, ErrorCode, ProtocolError, RemoteCloseError, TransportError } from '../errors.js';
import { Kind } from '../protocol/constants.js';
import { encodeFrame, encodeHeader, partsLength, type Frame, type FrameInit } from '../protocol/frame.js';
import { decodeReason, encodeReason } from '../protocol/messages.js';
import { LinkClock, NOT_ON_CLOCK, tickFor, type Clocked } from './link-clock.js';
import type { Liveness, LivenessMember } from './liveness.js';
import type { KeepaliveKind } from '../protocol/parser.js';
import { DEFAULT_HIGH_WATER_MARK, PUMP_BACKLOG, pingAfter, type CloseInfo, type FrameLink, type FrameLinkEvents, type LinkOptions, type TransportName } from './link-api.js';

export * from './link-api.js';

/**
 * Shared behaviour of links: the close-once guard, PING/PONG/CLOSE handling and liveness.
 * Subclasses move bytes.
 */
export abstract class BaseLink extends EventEmitter<FrameLinkEvents> implements FrameLink, Clocked, LivenessMember {
  abstract readonly transport: TransportName;
  abstract readonly remoteAddress: string;
  abstract readonly remotePort: number;
  readonly reliable: boolean = true;
  #closed = false;
  /**
   * When the peer was last heard: the clock's coarse time of the tick after the arrival (no
   * clock read per frame; liveness is judged at most one tick late, never early).
   */
  #lastRx = Date.now();
  /** -Infinity (never): a time is a double, and a field that starts as a small integer would change every link's shape at its first PING. */
  #lastPing = -Infinity;
  /** Bytes waited at a write since the last check found none: checked on every tick (the stall check). */
  #watched = false;
  #held: Frame[] | undefined;
  /** Bytes handed to write(); minus the backlog, the bytes the transport has taken. */
  #written = 0;
  #flushed = 0;
  #progressAt = Date.now();
  /**
   * Fail the link when bytes wait to be sent and the transport takes none for this long
   * (the per-type timeout of docs/behaviour.md, section 6); 0 disables.
   */
  stallMs = 0;
  /** The owner's clock, or (from startTimers) one of the link's own. */
  #clock: LinkClock | undefined;
  /** @internal Where the link waits on its clock (Clocked; written by the clock only). */
  clockSlot = NOT_ON_CLOCK;
  /** @internal */
  clockPos = 0;
  /** The session's shared keepalive and dead timer, when the link is in one (joinLiveness): then it runs none of its own. */
  #live: Liveness | undefined;
  /**
   * Fields stamped on the frames the link makes itself (PING, PONG, CLOSE), so a peer that
   * demultiplexes by session key and media type (UDP) can route them.
   */
  tag: { sessionKey?: bigint; mediaType?: number; from?: string } = {};
  protected readonly keepaliveMs: number;
  protected readonly deadMs: number;
  /** Silence after which the link pings (pingAfter). */
  readonly #pingAfter: number;
  protected readonly highWaterMark: number;

  constructor(o: LinkOptions) {
    super();
    this.keepaliveMs = o.keepaliveMs ?? 5000;
    this.deadMs = o.deadMs ?? 15000;
    this.#pingAfter = pingAfter(this.keepaliveMs, this.deadMs, o.accepted ?? false);
    this.highWaterMark = o.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.#clock = o.clock;
  }

  abstract get backlog(): number;
  protected abstract write(header: Buffer, payload: Buffer, f: FrameInit): void;
  /**
   * Links that write a payload in pieces (FrameInit.parts) as they are: the header, then the
   * `bytes` of `parts` in order. Without it, send() joins the pieces.
   */
  protected writeParts?(header: Buffer, parts: readonly Buffer[], bytes: number): void;
  /** Releases the transport; called once, after 'close' bookkeeping. */
  protected abstract teardown(graceful: boolean): void;

  get closed(): boolean {
    return this.#closed;
  }

  /** PUMP_BACKLOG; links whose round trips are long (HTTP uploads) allow more. */
  get pumpBacklog(): number {
    return PUMP_BACKLOG;
  }

  /** Starts keepalive and liveness checks, on the owner's clock or one of the link's own. */
  protected startTimers(): void {
    if (this.#closed) return;
    this.#clock ??= new LinkClock(tickFor(this.keepaliveMs, this.deadMs));
    this.#clock.add(this);
  }

  /** The clock's check: stall, dead, keepalive. Returns when the link needs its next check. */
  tick(now: number): number | void {
    const backlog = this.backlog;
    const flushed = this.#written - backlog;
    if (backlog === 0 || flushed > this.#flushed) this.#progressAt = now;
    this.#flushed = flushed;
    if (this.stallMs && now - this.#progressAt > this.stallMs) {
      this.fail(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `the peer took no data for ${this.stallMs} ms`), CloseCode.TIMEOUT);
      return;
    }
    // In a session's group, the group runs the dead and keepalive checks (liveness.ts).
    const own = this.#live === undefined;
    if (own && this.deadMs && now - this.#lastRx > this.deadMs) {
      this.expire(this.deadMs);
      return;
    }
    // Ping when the peer has been silent (a stream of video gets no answers), at most once per period.
    const ka = this.keepaliveMs;
    if (own && ka && now - this.#lastRx >= this.#pingAfter && now - this.#lastPing >= ka) this.keepalive(now);
    // Bytes waiting: check again at the next tick (stall).
    if (this.stallMs && this.backlog > 0) {
      this.#watched = true;
      return;
    }
    this.#watched = false;
    if (!own) return Infinity;
    let next = Infinity;
    if (this.deadMs) next = this.#lastRx + this.deadMs + 1;
    if (ka) next = Math.min(next, Math.max(this.#lastRx + this.#pingAfter, this.#lastPing + ka));
    return next;
  }

  /**
   * A frame the link makes itself (PING, PONG, CLOSE), stamped with the link's tag: one literal of
   * fixed shape (no spread of the tag, whose own shape varies by link).
   */
  #control(kind: Kind, timestamp: number, payload: Buffer | undefined): FrameInit {
    const t = this.tag;
    return { kind, sessionKey: t.sessionKey, mediaType: t.mediaType, from: t.from, timestamp, payload };
  }

  /** @internal Sends a PING stamped `now` (the link's keepalive, or its group's turn). */
  keepalive(now: number): void {
    this.#lastPing = now;
    this.sendKeepalive(Kind.PING, now);
  }

  /** Sends a PING or PONG stamped with the link's tag; links that can write one more cheaply do (StreamLink). */
  protected sendKeepalive(kind: KeepaliveKind, timestamp: number): void {
    this.send(this.#control(kind, timestamp, undefined));
  }

  /**
   * A PING or PONG the transport's parser handed over without a Frame (FrameSink.onKeepalive):
   * handled as receive() handles one. False while the link holds its frames (then it comes as a
   * frame, in order).
   */
  protected keepaliveIn(kind: KeepaliveKind, timestamp: number): boolean {
    if (this.#closed) return true;
    if (this.#held) return false;
    this.#heard();
    if (kind === Kind.PING) this.sendKeepalive(Kind.PONG, timestamp);
    return true;
  }

  /** The peer was heard: life for the link, or for every link of its session when it shares its liveness. */
  #heard(): void {
    const clock = this.#clock;
    const t = clock ? clock.now + clock.tickMs : Date.now();
    if (this.#live) this.#live.lastRx = t;
    else this.#lastRx = t;
  }

  /** @internal Nothing heard for `deadMs` (from the peer, or on any link of its session): closes 1300. */
  expire(deadMs: number): void {
    const what = this.#live ? 'on any channel of its session' : '';
    this.fail(new TransportError(ErrorCode.TRANSPORT_IDLE, `no data from the peer ${what}${what ? ' ' : ''}for ${deadMs} ms`), CloseCode.TIMEOUT);
  }

  joinLiveness(g: Liveness): boolean {
    if (this.#closed || (!this.keepaliveMs && !this.deadMs)) return false;
    if (this.#live === g) return true;
    this.#live?.remove(this);
    this.#live = g;
    g.add(this, this.#lastRx, this.#lastPing);
    return true;
  }

  /**
   * After a write: if bytes wait (the transport did not take them all at once), the link is
   * checked from the next tick on (stall), and the stall period starts now. A write the
   * transport took whole (a PONG on an idle link) costs the clock nothing.
   */
  protected watch(): void {
    if (this.#watched || !this.stallMs || this.backlog === 0) return;
    this.#watched = true;
    this.#progressAt = this.#clock ? this.#clock.now : Date.now();
    this.#clock?.wake(this);
  }

  /** 0: most links hand each frame to the transport at once. */
  get turnBytes(): number {
    return 0;
  }

  send(f: FrameInit, sessionKey?: bigint): boolean {
    if (this.#closed) return false;
    if (f.parts && f.payload === undefined && this.writeParts) {
      // A payload in pieces goes as they are, after a header of its own (no join, no copy).
      const bytes = partsLength(f.parts);
      const h = encodeHeader(f, bytes, f.prefix, sessionKey ?? f.sessionKey);
      this.#written += h.length + bytes;
      this.writeParts(h, f.parts, bytes);
      return this.backlog < this.highWaterMark;
    }
    // A fanned-out frame carries its shared encoding: its header is encoded once for every link.
    const [h, p] = encodeFrame(f, sessionKey ?? f.sessionKey);
    this.#written += h.length + p.length;
    this.write(h, p, f);
    if (!this.#watched) this.watch();
    return this.backlog < this.highWaterMark;
  }

  /** For subclasses that write encoded bytes themselves: counts them as handed to the transport. */
  protected wrote(bytes: number): void {
    this.#written += bytes;
  }

  hold(): void {
    this.#held ??= [];
  }

  release(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held) for (const f of held) this.receive(f);
  }

  /** Called by subclasses for every frame that arrives. */
  protected receive(f: Frame): void {
    if (this.#closed) return;
    if (this.#held) {
      // Between the handshake and the owner attaching its listeners (dial's promise resolving).
      this.#held.push(f);
      return;
    }
    this.#heard();
    switch (f.kind) {
      case Kind.PING:
        this.sendKeepalive(Kind.PONG, f.timestamp);
        return;
      case Kind.PONG:
        return;
      case Kind.CLOSE: {
        let code: number = CloseCode.NORMAL;
        let reason = '';
        try {
          ({ code, reason } = decodeReason(f.payload));
        } catch {
          code = CloseCode.PROTOCOL_ERROR;
        }
        const normal = code === CloseCode.NORMAL || code === CloseCode.GOING_AWAY || code === CloseCode.IDLE;
        this.finish({ code, reason, byPeer: true, error: normal ? undefined : new RemoteCloseError(code, reason) }, true);
        return;
      }
      default:
        this.emit('frame', f);
    }
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.#closed) return;
    this.send(this.#control(Kind.CLOSE, 0, encodeReason(code, reason)));
    this.finish({ code, reason, byPeer: false }, true);
  }

  /** Ends the link because of an error; a protocol error tells the peer its close code first. */
  fail(error: CamwireError, code?: number): void {
    if (this.#closed) return;
    const c = code ?? (error instanceof ProtocolError ? error.closeCode : CloseCode.INTERNAL);
    this.send(this.#control(Kind.CLOSE, 0, encodeReason(c, error.message)));
    this.finish({ code: c, reason: error.message, error, byPeer: false }, true);
  }

  /** The transport went away underneath us. */
  protected lost(error: CamwireError): void {
    this.finish({ code: CloseCode.GOING_AWAY, reason: error.message, error, byPeer: true }, false);
  }

  protected finish(info: CloseInfo, graceful: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock?.delete(this);
    this.#live?.remove(this);
    this.teardown(graceful);
    this.emit('close', info);
  }
}
