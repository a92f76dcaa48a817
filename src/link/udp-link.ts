/**
 * Frame links over UDP (docs/protocol.md, section 5). A UdpEndpoint owns one datagram socket,
 * fragments outgoing frames and reassembles incoming ones; a UdpLink is the conversation with
 * one peer for one purpose (a key the owner chooses), carried by an endpoint.
 */
import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
// Imported, not the global: the global `performance` is a getter, looked up on every datagram the pacer counts.
import { performance } from 'node:perf_hooks';
import type { CamwireError, ProtocolError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../protocol/constants.js';
import { decodeFrame, HeaderCache, type Frame, type FrameInit } from '../protocol/frame.js';
import { Flag, Kind } from '../protocol/constants.js';
import { DEFAULT_DATAGRAM_SIZE, fragmentFrame, Reassembler, singleDatagram, writeFragmentHeader } from '../protocol/fragment.js';
import { DATAGRAM_HEADER_SIZE } from '../protocol/constants.js';
import { HeaderTemplate } from '../protocol/header-template.js';
import { view } from '../protocol/bytes.js';
import { FrameArena } from '../protocol/fan-encoding.js';
import { bindDatagram, type DatagramOptions } from '../transport/udp.js';
import { BaseLink, type LinkOptions } from './frame-link.js';

/** Events of a UdpEndpoint. */
export interface UdpEndpointEvents {
  frame: [frame: Frame, address: string, port: number];
  /** A datagram or reassembled frame was malformed; it was dropped and counted. */
  badInput: [error: CamwireError, address: string, port: number];
  /** The pacer's queue emptied: links may send more. */
  drain: [];
}

/** Options of a UdpEndpoint. */
export interface UdpEndpointOptions extends DatagramOptions {
  /** Largest datagram sent. @default 1472 */
  datagramSize?: number;
  maxPayload?: number;
  /** Reassembly memory bound across all peers. @default 32 MiB */
  reassemblyBytes?: number;
  /** Incomplete frames are dropped after this long. @default 2000 */
  reassemblyTimeoutMs?: number;
  /**
   * Most bytes a second handed to the socket (a token bucket that holds `sendBurst` bytes); what
   * exceeds it waits in the endpoint and counts as the links' backlog, so a burst of frames waits
   * in the sender's latest-wins queue (where drops are counted) instead of overflowing the
   * receiver's socket buffer. 0 = no pacing. @default 125000000 (1 Gbit/s)
   */
  sendRate?: number;
  /** Bytes the bucket holds: sent at once after a pause. @default 262144 */
  sendBurst?: number;
}

export const DEFAULT_UDP_SEND_RATE = 125_000_000;
export const DEFAULT_UDP_SEND_BURST = 256 * 1024;

/** Counters of a UdpEndpoint. */
export interface UdpStats {
  datagramsIn: number;
  datagramsOut: number;
  framesIn: number;
  framesOut: number;
  /** Incomplete frames dropped (a fragment never came). */
  incomplete: number;
  /** Datagrams or frames dropped as malformed. */
  corrupt: number;
}

/** UdpEndpoint: one bound datagram socket with fragmentation and bounded reassembly. */
export class UdpEndpoint extends EventEmitter<UdpEndpointEvents> {
  readonly #sock: dgram.Socket;
  readonly #reasm: Reassembler;
  readonly #datagramSize: number;
  readonly #maxPayload: number;
  readonly #timer: NodeJS.Timeout;
  #frameId = (Math.random() * 0xffffffff) >>> 0;
  /** Headers of reliable frames of several fragments reassembled recently, by reassembly key. */
  readonly #answered = new Map<string, Frame>();
  #closed = false;
  readonly #stats = { datagramsIn: 0, datagramsOut: 0, framesIn: 0, framesOut: 0 };
  /** The pacer: bytes a second, the bucket's size, its tokens and when they were counted. */
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #tokensAt = performance.now();
  /** Datagrams waiting for tokens, oldest first, and their bytes. */
  #queue: Array<{ d: Buffer | Buffer[]; n: number; port: number; address: string }> = [];
  #queueHead = 0;
  #queued = 0;
  #pacerTimer: NodeJS.Timeout | undefined;

  private constructor(sock: dgram.Socket, o: UdpEndpointOptions) {
    super();
    this.setMaxListeners(0);
    this.#rate = o.sendRate ?? DEFAULT_UDP_SEND_RATE;
    this.#burst = Math.max(o.sendBurst ?? DEFAULT_UDP_SEND_BURST, 65536);
    this.#tokens = this.#burst;
    this.#sock = sock;
    this.#datagramSize = o.datagramSize ?? DEFAULT_DATAGRAM_SIZE;
    this.#maxPayload = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#reasm = new Reassembler({
      maxFrame: this.#maxPayload + 1024,
      maxBytes: o.reassemblyBytes,
      timeoutMs: o.reassemblyTimeoutMs,
    });
    sock.on('message', (d, rinfo) => this.#onDatagram(d, rinfo.address, rinfo.port));
    // ICMP errors surface here on some systems; a datagram socket survives them.
    sock.on('error', () => {});
    this.#timer = setInterval(() => this.#reasm.expire(Date.now()), 500);
    this.#timer.unref();
  }

  /** Binds a socket and returns the endpoint. */
  static async open(o: UdpEndpointOptions): Promise<UdpEndpoint> {
    return new UdpEndpoint(await bindDatagram(o), o);
  }

  get port(): number {
    return this.#sock.address().port;
  }

  /** The IP version of the socket: the only one its peers' addresses may have. */
  get family(): 4 | 6 {
    return this.#sock.address().family === 'IPv6' ? 6 : 4;
  }

  get stats(): UdpStats {
    const r = this.#reasm.stats;
    return { ...this.#stats, incomplete: r.incomplete, corrupt: r.corrupt };
  }

  /** Bytes held by incomplete frames. */
  get reassemblyBytes(): number {
    return this.#reasm.bytes;
  }

  /** The last frame's session key and ids (decodeFrame reuses them when the bytes are the same). */
  readonly #headers = new HeaderCache();
  /** The reassembly source of the last datagram's peer (a string made once per peer in a row). */
  #source = { address: '', port: -1, key: '' };

  #onDatagram(d: Buffer, address: string, port: number): void {
    this.#stats.datagramsIn++;
    const s = this.#source;
    if (s.address !== address || s.port !== port) this.#source = { address, port, key: `${address}|${port}` };
    const source = this.#source.key;
    let whole: Buffer | undefined;
    try {
      whole = this.#reasm.push(source, d, Date.now);
    } catch (err) {
      this.emit('badInput', err as ProtocolError, address, port);
      return;
    }
    if (!whole) {
      // The first fragment of a reliable frame completed before: the sender did not hear the
      // answer and sent it again. Hand on its header so the receiver can answer again.
      const again = this.#reasm.repeat && this.#answered.get(this.#reasm.repeat);
      if (again) this.emit('frame', { ...again }, address, port);
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(whole, this.#maxPayload, this.#headers);
    } catch (err) {
      this.#reasm.stats.corrupt++;
      this.emit('badInput', err as ProtocolError, address, port);
      return;
    }
    this.#stats.framesIn++;
    const key = this.#reasm.completed;
    if (key && frame.kind === Kind.DATA && (frame.flags & Flag.ACK_REQUESTED) !== 0) {
      this.#answered.set(key, { ...frame, payload: Buffer.alloc(0), repeat: true });
      if (this.#answered.size > 256) this.#answered.delete(this.#answered.keys().next().value as string);
    }
    this.emit('frame', frame, address, port);
  }

  /** The most frame bytes (header and payload) one datagram carries after its fragment header. */
  get singleRoom(): number {
    return this.#datagramSize - DATAGRAM_HEADER_SIZE;
  }

  /** The fragment frameId of a frame's send: a new one, or (`wire`) the one of its first send. */
  #nextId(wire: { udpFrameId?: number } | undefined): number {
    let id = wire?.udpFrameId;
    if (id === undefined) {
      id = this.#frameId;
      this.#frameId = (this.#frameId + 1) >>> 0;
      if (wire) wire.udpFrameId = id;
    }
    return id;
  }

  /**
   * Sends one encoded frame (whole, or as its parts) to a peer, fragmented as needed. `wire`, when
   * given, makes a retransmission reuse the frameId of the frame's first send.
   */
  sendEncoded(frame: Buffer | readonly Buffer[], address: string, port: number, wire?: { udpFrameId?: number }): void {
    if (this.#closed) return;
    const id = this.#nextId(wire);
    this.#stats.framesOut++;
    // A frame that fits one datagram goes as its pieces, gathered by the socket (no copy).
    const single = singleDatagram(frame, id, this.#datagramSize);
    if (single) {
      let n = 0;
      for (const b of single) n += b.length;
      this.#sendDatagram(single, n, address, port);
      return;
    }
    const parts = fragmentFrame(frame, id, this.#datagramSize);
    this.#stats.datagramsOut += parts.length;
    if (this.#rate === 0) {
      for (const p of parts) this.#sock.send(p, port, address);
      return;
    }
    for (const d of parts) this.#queue.push({ d, n: d.length, port, address });
    for (const d of parts) this.#queued += d.length;
    this.#pace();
  }

  /**
   * Sends a frame that fits one datagram (at most singleRoom bytes) as two pieces: `head`, whose
   * first DATAGRAM_HEADER_SIZE bytes are left for the fragment header (written here) and whose
   * rest is the frame's header, then `payload` as it is (no copy). `frameLength`: the frame's
   * bytes (head without its fragment header, and payload).
   */
  sendSingle(head: Buffer, payload: Buffer, frameLength: number, address: string, port: number, wire?: { udpFrameId?: number }): void {
    if (this.#closed) return;
    writeFragmentHeader(head, this.#nextId(wire), 0, 1, frameLength, 0);
    this.#stats.framesOut++;
    this.#sendDatagram(payload.length ? [head, payload] : [head], frameLength + DATAGRAM_HEADER_SIZE, address, port);
  }

  /** One datagram of `n` bytes, given as its pieces: out now when the bucket holds it and nothing waits, else queued. */
  #sendDatagram(d: Buffer[], n: number, address: string, port: number): void {
    this.#stats.datagramsOut++;
    if (this.#rate === 0) return void this.#sock.send(d, port, address);
    if (this.#queueHead >= this.#queue.length && this.#refill() >= n) {
      // Nothing waits and the bucket holds it: out now.
      this.#tokens -= n;
      this.#sock.send(d, port, address);
      return;
    }
    this.#queue.push({ d, n, port, address });
    this.#queued += n;
    this.#pace();
  }

  /** Sends what the tokens allow, in order; schedules the rest. */
  /** Adds the tokens earned since they were last counted; returns the tokens. */
  #refill(): number {
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#tokensAt) * this.#rate) / 1000);
    this.#tokensAt = now;
    return this.#tokens;
  }

  #pace(): void {
    if (this.#closed) return;
    this.#refill();
    const q = this.#queue;
    while (this.#queueHead < q.length && this.#tokens >= q[this.#queueHead].n) {
      const { d, n, port, address } = q[this.#queueHead++];
      this.#tokens -= n;
      this.#queued -= n;
      this.#sock.send(d, port, address);
    }
    if (this.#queueHead >= q.length) {
      this.#queue = [];
      this.#queueHead = 0;
      if (this.#pacerTimer) {
        clearTimeout(this.#pacerTimer);
        this.#pacerTimer = undefined;
        this.emit('drain');
      }
      return;
    }
    if (this.#queueHead > 1024) {
      this.#queue = q.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    if (!this.#pacerTimer) {
      const wait = ((this.#queue[this.#queueHead].n - this.#tokens) * 1000) / this.#rate;
      this.#pacerTimer = setTimeout(() => {
        this.#pacerTimer = undefined;
        this.#pace();
        // Emptied by this run: tell the links.
        if (this.#queued === 0) this.emit('drain');
      }, Math.max(1, Math.ceil(wait)));
    }
  }

  /** Bytes waiting for the pacer or queued in the socket, not yet sent. */
  get backlog(): number {
    return this.#queued + this.#sock.getSendQueueSize();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#pacerTimer);
    this.#queue = [];
    this.#queued = 0;
    this.#sock.close();
  }
}

/** A UdpLink: the frames exchanged with one peer address for one key, over an endpoint. */
export class UdpLink extends BaseLink {
  readonly transport = 'udp' as const;
  override readonly reliable = false;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #ep: UdpEndpoint;
  readonly #onGone: () => void;
  /**
   * Where its single-datagram frames' headers are written: the owner's arena (LinkContext), or
   * one of the link's own made on first use. A used byte there is never written again, so a
   * datagram waiting in the pacer's queue or the socket keeps its header as it was.
   */
  #heads: FrameArena | undefined;

  /**
   * @param onGone called once when the link closes, so the owner can forget it.
   * Liveness: `deadMs` closes a link that hears nothing (the idle close of a push receiver).
   */
  constructor(ep: UdpEndpoint, address: string, port: number, o: LinkOptions, onGone: () => void) {
    super(o);
    this.#ep = ep;
    this.remoteAddress = address;
    this.remotePort = port;
    this.#onGone = onGone;
    this.#heads = o.datagramHeads;
    this.#onDrain = () => this.emit('drain');
    ep.on('drain', this.#onDrain);
    this.startTimers();
  }

  readonly #onDrain: () => void;

  get backlog(): number {
    return this.#ep.backlog;
  }

  /** Hands a frame the endpoint received from this peer. */
  deliver(f: Frame): void {
    this.receive(f);
  }

  protected write(h: Buffer, p: Buffer, f: FrameInit): void {
    this.#ep.sendEncoded(p.length ? [h, p] : h, this.remoteAddress, this.remotePort, f.wire);
  }

  /** Headers of the frames this link sends on its own, encoded once and patched (made on first use). */
  #tpl: HeaderTemplate | undefined;

  /**
   * A frame of the link's own that fits one datagram (a push lane's small video or audio frame, a
   * command, an ACK): its fragment header and frame header (from the link's HeaderTemplate) are
   * written into one piece of the owner's header arena, and the datagram goes as that piece and the
   * payload as it is: no header allocated per frame, no copy of the payload. The bytes on the wire
   * are those of BaseLink.send (docs/protocol.md, 5.1). Anything else goes the common way.
   */
  override send(f: FrameInit, sessionKey?: bigint): boolean {
    const p = f.payload;
    const room = this.#ep.singleRoom;
    if (p === undefined || p.length >= room || f.shared !== undefined || f.kind === Kind.PING || f.kind === Kind.PONG || this.closed) {
      return super.send(f, sessionKey);
    }
    const tpl = (this.#tpl ??= new HeaderTemplate());
    const hl = tpl.use(f, sessionKey ?? f.sessionKey);
    const total = hl + p.length;
    if (total > room) return super.send(f, sessionKey);
    const n = DATAGRAM_HEADER_SIZE + hl;
    const heads = (this.#heads ??= new FrameArena());
    const at = heads.take(n);
    const head = view(heads.buffer, at, at + n);
    tpl.write(head, DATAGRAM_HEADER_SIZE, f, p.length);
    this.wrote(total);
    this.#ep.sendSingle(head, p, total, this.remoteAddress, this.remotePort, f.wire);
    this.watch();
    return this.backlog < this.highWaterMark;
  }

  protected teardown(): void {
    this.#ep.off('drain', this.#onDrain);
    this.#onGone();
  }
}

