/**
 * StreamLink: a FrameLink over a TCP or TLS socket, with the write batching of a stream: what a
 * link is sent in one event-loop turn goes to the socket in one write (docs/architecture.md,
 * Fan-out).
 */
import type net from 'node:net';
import { ErrorCode, TransportError, type ProtocolError } from '../errors.js';
import { Kind } from '../protocol/constants.js';
import { encodeKeepalive, headerLength, writeHeader, type Frame, type FrameInit } from '../protocol/frame.js';
import { FrameParser, HttpRequestOnTcpError, httpOnTcpAnswer, type FrameSink, type KeepaliveKind } from '../protocol/parser.js';
import { BaseLink, type LinkOptions } from './frame-link.js';
import type { EncodedHolder } from './link-api.js';
import { HeaderTemplate } from '../protocol/header-template.js';
import { RecyclingArena } from '../protocol/recycling-arena.js';
import { setAt } from '../protocol/bytes.js';

/**
 * Frames up to this size (header and payload) that a link sends on its own (not a fan-out's
 * shared encoding) are encoded whole, end to end, into the small-frame arena: the frames of a
 * turn then lie in one buffer and go to the socket as one piece. Larger payloads are written as
 * they are. The arena is the owning role's (LinkOptions.smallFrames): one for all its links, not
 * one per link (10,000 mostly idle links would otherwise hold 64 KiB each), and none shared
 * between the roles of a process. A link holds the arena buffer of each run it starts there until
 * the socket has taken the run's write (the write's callback), so a full buffer is written again
 * only when no socket needs its bytes (protocol/recycling-arena.ts).
 */
const SMALL_FRAME = 8 * 1024;

const LINK = Symbol('camwire.streamLink');
type LinkedSocket = net.Socket & { [LINK]: StreamLink };

function onData(this: LinkedSocket, c: Buffer): void {
  StreamLink.push(this[LINK], c);
}
function onDrain(this: LinkedSocket): void {
  this[LINK].emit('drain');
}
function onSocketError(this: LinkedSocket, err: Error): void {
  StreamLink.lose(this[LINK], new TransportError(ErrorCode.TRANSPORT_CLOSED, `connection error: ${err.message}`, { cause: err }));
}
function onClose(this: LinkedSocket): void {
  StreamLink.socketClosed(this[LINK], this);
  StreamLink.lose(this[LINK], new TransportError(ErrorCode.TRANSPORT_CLOSED, 'connection closed by the peer'));
}

/** Options of a StreamLink beyond those of every link. */
export interface StreamLinkOptions extends LinkOptions {
  /**
   * Called with the socket when it closes, before the link learns of it: an owner's bookkeeping
   * of its sockets (a listener's) in the link's own 'close' listener on the socket, so the socket
   * has one listener less (memory per idle channel: three listeners grow Node's list to 19 slots).
   */
  onSocketClose?: (sock: net.Socket) => void;
  /**
   * The transport the link reports: 'http' for a link on an HTTP connection upgraded to camwire's
   * framing (docs/protocol.md 6.6), which is otherwise a TCP link. @default 'tcp'
   */
  transport?: 'tcp' | 'http';
}
function onEnd(this: LinkedSocket): void {
  this.end();
}
/** The end of a turn in which `link` wrote (one shared function, given the link: no closure per link). */
function endTurn(link: StreamLink): void {
  StreamLink.endTurn(link);
}

/** A link over a TCP or TLS socket. */
export class StreamLink extends BaseLink implements FrameSink {
  readonly transport: 'tcp' | 'http';
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #sock: net.Socket;
  readonly #parser: FrameParser;
  /** Bytes written in this turn, gathered until the turn ends. */
  #turn = 0;
  /** True while the socket is corked for this turn (it has more than one piece to write). */
  #corked = false;
  /**
   * Pieces that lie end to end in one buffer (whole frames of a FrameArena), gathered as one
   * view: written as one piece (one iovec) when the next piece does not continue it, or at the
   * end of the turn. Its memory and where it starts and ends.
   */
  #run: ArrayBufferLike | undefined;
  #runStart = 0;
  #runEnd = 0;
  /** The run's only piece, while nothing continued it (written as it is, no new view). */
  #runPiece: Buffer | undefined;
  /** The arena buffer the run was last extended in by #appendRange, and where in it the run ends. */
  #runBuf: Buffer | undefined;
  #runBufEnd = 0;
  /** The run lies in the small-frame arena: releases its hold there once the socket took its write. */
  #runHold: (() => void) | undefined;
  /**
   * Headers of the frames this link sends on its own, encoded once and patched: undefined before
   * the link's first small frame, null after it (that one was encoded straight: most accepted
   * links send one frame of their own, their WELCOME), made at the second.
   */
  #tpl: HeaderTemplate | null | undefined;
  /** Where its small frames are encoded: the owner's arena, or (made on first use) the link's own. */
  #smallFrames: RecyclingArena | undefined;

  /** StreamLinkOptions.onSocketClose. */
  readonly #onSocketClose: ((sock: net.Socket) => void) | undefined;

  constructor(sock: net.Socket, o: StreamLinkOptions = {}) {
    super(o);
    this.transport = o.transport ?? 'tcp';
    this.#sock = sock;
    this.#onSocketClose = o.onSocketClose;
    this.#smallFrames = o.smallFrames;
    this.remoteAddress = sock.remoteAddress ?? '';
    this.remotePort = sock.remotePort ?? 0;
    // The link is its parser's sink, and the socket's listeners are shared functions that find
    // the link on the socket: no closures per link (less memory per idle channel).
    this.#parser = new FrameParser(this, { maxPayload: o.maxPayload });
    (sock as LinkedSocket)[LINK] = this;
    sock.on('data', onData);
    sock.on('drain', onDrain);
    sock.on('error', onSocketError);
    sock.on('close', onClose);
    sock.on('end', onEnd);
    this.startTimers();
  }

  /** @internal The parser's sink: a frame arrived, with its bytes (Frame.raw: a relay may forward it as it lies). */
  onFrame(f: Frame): void {
    this.receive(f);
  }

  /** @internal The parser's sink: a PING or PONG alone in a read (an idle link), no Frame made. */
  onKeepalive(kind: KeepaliveKind, timestamp: number): boolean {
    return this.keepaliveIn(kind, timestamp);
  }

  /**
   * A PING or PONG on a link with nothing else in this turn: its header encoded straight from the
   * link's tag and written at once, one plain write (no FrameInit, no cork, no end-of-turn work).
   */
  protected override sendKeepalive(kind: KeepaliveKind, timestamp: number): void {
    if (this.#turn !== 0 || this.closed || !this.#sock.writable) return super.sendKeepalive(kind, timestamp);
    const t = this.tag;
    const h = encodeKeepalive(kind, t.sessionKey ?? 0n, t.mediaType ?? 0, t.from, timestamp);
    this.wrote(h.length);
    this.#sock.write(h);
    this.watch();
  }

  /** @internal The parser's sink: the peer broke the protocol. */
  onError(e: ProtocolError): void {
    this.#failed(e);
  }

  /** @internal The end of a turn: what the turn gathered goes to the socket. */
  static endTurn(link: StreamLink): void {
    link.#turn = 0;
    link.#flushRun();
    if (link.#corked) {
      link.#corked = false;
      link.#sock.uncork();
    }
  }

  /** @internal The socket closed: the owner's bookkeeping first (StreamLinkOptions.onSocketClose). */
  static socketClosed(link: StreamLink, sock: net.Socket): void {
    link.#onSocketClose?.(sock);
  }

  /** @internal For the socket's shared listeners. */
  static push(link: StreamLink, c: Buffer): void {
    link.#parser.push(c);
  }

  /** @internal For the socket's shared listeners. */
  static lose(link: StreamLink, e: TransportError): void {
    link.lost(e);
  }

  /** A peer that spoke HTTP to this camwire TCP port gets its answer in HTTP, not a CLOSE frame it cannot read. */
  #failed(e: ProtocolError): void {
    if (e instanceof HttpRequestOnTcpError && this.#sock.writable) {
      this.#sock.write(httpOnTcpAnswer());
      this.finish({ code: e.closeCode, reason: e.message, error: e, byPeer: false }, true);
    } else this.fail(e);
  }

  get backlog(): number {
    return this.#sock.writableLength + this.#runEnd - this.#runStart;
  }

  override get turnBytes(): number {
    return this.#turn;
  }

  /**
   * Everything sent in one event-loop turn (a fan-out of every frame one read delivered, a
   * burst of small frames) goes to the socket as one write at the end of the turn
   * (process.nextTick). Pieces that continue each other in memory (frames a fan-out encoded end
   * to end in one arena buffer) are gathered as one piece: readers that get the same frames in
   * a turn all write the same bytes, with one plain write when that is all the turn holds; the
   * socket is corked only for a turn of several pieces, which then go as one writev.
   */
  protected write(h: Buffer, p: Buffer, f: FrameInit): void {
    if (!this.#sock.writable) return;
    // A keepalive on a link with nothing else in this turn: one plain write, no cork, no end-of-turn work.
    if (this.#turn === 0 && (f.kind === Kind.PING || f.kind === Kind.PONG) && p.length === 0) return void this.#sock.write(h);
    this.#startTurn(h.length + p.length || 1);
    const whole = f.shared?.whole(h);
    if (whole) return this.#append(whole);
    this.#cork();
    this.#flushRun();
    this.#sock.write(h);
    if (p.length) this.#sock.write(p);
  }

  /**
   * A small frame of the link's own (a push lane's video, audio, command, an ACK): its header (from
   * the link's HeaderTemplate) and payload are written whole into the role's arena, after the
   * link's previous frame when nothing else took the arena meanwhile, so a turn of them is one
   * piece, one write. Anything else goes the common way (BaseLink.send, then write()).
   */
  override send(f: FrameInit, sessionKey?: bigint): boolean {
    const p = f.payload;
    if (p === undefined || p.length > SMALL_FRAME || f.shared !== undefined || f.kind === Kind.PING || f.kind === Kind.PONG || this.closed || !this.#sock.writable) {
      return super.send(f, sessionKey);
    }
    const key = sessionKey ?? f.sessionKey;
    const tpl = this.#tpl === undefined ? undefined : (this.#tpl ??= new HeaderTemplate());
    const hl = tpl === undefined ? headerLength(f, f.prefix) : tpl.use(f, key);
    const total = hl + p.length;
    if (total > SMALL_FRAME) return super.send(f, sessionKey);
    const arena = (this.#smallFrames ??= new RecyclingArena());
    const at = arena.take(total);
    const buf = arena.buffer;
    if (tpl === undefined) {
      writeHeader(buf, at, f, p.length, f.prefix, key);
      this.#tpl = null;
    } else tpl.write(buf, at, f, p.length);
    setAt(buf, p, at + hl);
    this.wrote(total);
    this.#startTurn(total);
    this.#appendRange(buf, at, total);
    this.watch();
    return this.backlog < this.highWaterMark;
  }

  /** A payload in pieces (a relayed item as the reads it arrived in): header and pieces in one corked write. */
  protected override writeParts(h: Buffer, parts: readonly Buffer[], bytes: number): void {
    if (!this.#sock.writable) return;
    this.#startTurn(h.length + bytes);
    this.#cork();
    this.#flushRun();
    this.#sock.write(h);
    for (const piece of parts) if (piece.length) this.#sock.write(piece);
  }

  /**
   * Encoded frames (a fan-out's batch). When they are one piece and the link has nothing else in
   * this turn, they go to the socket at once, as one plain write (no cork, no end-of-turn work),
   * as a plain relay writes what it read; otherwise they join the turn.
   */
  writeEncoded(pieces: readonly Buffer[], bytes: number, holder?: EncodedHolder): boolean {
    if (this.closed) return false;
    this.wrote(bytes);
    if (!this.#sock.writable) return false;
    // Pieces in reused memory: each write holds it until the socket took the bytes (its callback).
    const release = holder?.hold();
    if (this.#turn === 0 && pieces.length === 1) {
      const ok = this.#sock.write(pieces[0], release);
      this.watch();
      return ok && this.backlog < this.highWaterMark;
    }
    this.#startTurn(bytes || 1);
    if (release !== undefined) {
      // After what the turn holds, in the same corked write; each piece written as it is.
      this.#cork();
      this.#flushRun();
      const last = pieces.length - 1;
      for (let i = 0; i < last; i++) this.#sock.write(pieces[i]);
      this.#sock.write(pieces[last], release);
      this.watch();
      return this.backlog < this.highWaterMark;
    }
    for (const piece of pieces) this.#append(piece);
    this.watch();
    return this.backlog < this.highWaterMark;
  }

  /** Counts `bytes` into this turn; the first write of a turn schedules its end. */
  #startTurn(bytes: number): void {
    if (this.#turn === 0) process.nextTick(endTurn, this);
    this.#turn += bytes;
  }

  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#sock.cork();
  }

  /** Adds a piece to the run when it continues it in memory, else writes the run and starts another. */
  #append(piece: Buffer): void {
    if (piece.buffer === this.#run && piece.byteOffset === this.#runEnd) {
      this.#runEnd += piece.length;
      this.#runPiece = undefined;
      this.#runBuf = undefined;
      return;
    }
    if (this.#run !== undefined) {
      this.#cork();
      this.#flushRun();
    }
    this.#runPiece = piece;
    this.#runBuf = undefined;
    this.#run = piece.buffer;
    this.#runStart = piece.byteOffset;
    this.#runEnd = piece.byteOffset + piece.length;
  }

  /** #append for `n` bytes at `buf[at..]`, without a view of them unless the run is written alone. */
  #appendRange(buf: Buffer, at: number, n: number): void {
    // The arena buffer the run lies in, compared as it is (cheaper than its ArrayBuffer).
    if (buf === this.#runBuf && at === this.#runBufEnd) {
      this.#runEnd += n;
      this.#runBufEnd += n;
      this.#runPiece = undefined;
      return;
    }
    const start = buf.byteOffset + at;
    if (buf.buffer === this.#run && start === this.#runEnd) {
      this.#runEnd += n;
      this.#runPiece = undefined;
    } else {
      if (this.#run !== undefined) {
        this.#cork();
        this.#flushRun();
      }
      this.#runPiece = undefined;
      this.#run = buf.buffer;
      this.#runStart = start;
      this.#runEnd = start + n;
      // A run in the small-frame arena holds its buffer until the socket took the run's write.
      const sf = this.#smallFrames;
      this.#runHold = sf !== undefined && buf === sf.buffer ? sf.hold() : undefined;
    }
    this.#runBuf = buf;
    this.#runBufEnd = at + n;
  }

  #flushRun(): void {
    const run = this.#run;
    if (run === undefined) return;
    this.#run = undefined;
    this.#runBuf = undefined;
    const release = this.#runHold;
    this.#runHold = undefined;
    if (this.#sock.writable) this.#sock.write(this.#runPiece ?? Buffer.from(run, this.#runStart, this.#runEnd - this.#runStart), release);
    else release?.();
    this.#runPiece = undefined;
    this.#runStart = this.#runEnd = 0;
  }

  protected teardown(graceful: boolean): void {
    if (graceful && this.#sock.writable) {
      this.#flushRun();
      this.#sock.end();
      // A peer that never reads must not keep the socket forever.
      setTimeout(() => this.#sock.destroy(), 2000).unref();
    } else {
      this.#sock.destroy();
    }
  }
}
