/**
 * Incremental frame parser: an explicit state machine that accepts the byte stream
 * split at any boundary and hands each complete frame to a sink (docs/protocol.md, section 2).
 * It never allocates more than one frame's header plus `maxPayload` bytes.
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, DEFAULT_PORTS, FIXED_HEADER_SIZE, Kind, MAX_PAYLOAD_CEILING } from './constants.js';
import { checkHeader, HeaderCache, readFrame, type Frame } from './frame.js';
import { getF64, view } from './bytes.js';

const EMPTY = Buffer.alloc(0);
/** Chunks smaller than this are gathered into one staging buffer, so a peer that trickles single bytes costs linear time and few objects. */
const SMALL_CHUNK = 1024;
const STAGING_SIZE = 16 * 1024;
const GET_HEADER = 0;
const GET_REST = 1;
const FAILED = 2;

/**
 * Frames from this size that span reads are handed as views of the reads (Frame.raw), their
 * payload joined only when it is read: a relay forwards them without a copy.
 */
const SPAN_VIEWS = 16 * 1024;

/**
 * A frame whose payload spanned reads: joined from `raw` (the frame's bytes, header `hl` bytes)
 * on first read. The accessor is the class's, shared by every such frame: an accessor defined on
 * each frame object would give each its own hidden class, allocated in the old space, and a
 * stream of large frames would then cost a full GC every few hundred frames.
 */
class SpannedFrame implements Frame {
  kind: Frame['kind'];
  mediaType: number;
  flags: number;
  mediaIndex: number;
  seq: number;
  sessionKey: bigint;
  timestamp: number;
  from: string;
  to: string;
  group: string;
  /** Same fields, in the same order, as readFrame's frames. */
  repeat: boolean;
  raw: readonly Buffer[];
  readonly #raw: readonly Buffer[];
  readonly #total: number;
  readonly #hl: number;
  #payload: Buffer | undefined;

  constructor(h: Frame, raw: readonly Buffer[], total: number, hl: number) {
    this.kind = h.kind;
    this.mediaType = h.mediaType;
    this.flags = h.flags;
    this.mediaIndex = h.mediaIndex;
    this.seq = h.seq;
    this.sessionKey = h.sessionKey;
    this.timestamp = h.timestamp;
    this.from = h.from;
    this.to = h.to;
    this.group = h.group;
    this.repeat = false;
    this.raw = raw;
    this.#raw = raw;
    this.#total = total;
    this.#hl = hl;
  }

  get payload(): Buffer {
    return (this.#payload ??= Buffer.concat(this.#raw, this.#total).subarray(this.#hl));
  }

  set payload(v: Buffer) {
    this.#payload = v;
  }
}

/** What a camwire TCP port answers an HTTP request with (text/plain body). */
export const HTTP_ON_TCP_PORT = `this is a camwire TCP port; use --protocol tcp or port ${DEFAULT_PORTS.http} for http`;

/** A complete HTTP/1.1 answer carrying HTTP_ON_TCP_PORT, for a peer that spoke HTTP to a camwire TCP port. */
export function httpOnTcpAnswer(): string {
  const body = `${HTTP_ON_TCP_PORT}\n`;
  return `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nx-camwire-error: ${ErrorCode.WRONG_PROTOCOL}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** An HTTP request arrived where camwire frames were expected: the link answers it in HTTP (httpOnTcpAnswer). */
export class HttpRequestOnTcpError extends ProtocolError {}

/**
 * A stream that begins with HTTP where camwire frames were expected (docs/errors.md,
 * CW_ERR_WRONG_PROTOCOL): a request means an HTTP client dialled a camwire TCP port; an answer
 * means this side dialled an HTTP port over TCP. Undefined for anything else.
 */
export function wrongProtocol(head: Buffer): ProtocolError | undefined {
  const text = head.toString('latin1', 0, Math.min(head.length, 16));
  if (/^HTTP\/\d/.test(text)) {
    return new ProtocolError(ErrorCode.WRONG_PROTOCOL, `the peer answered in HTTP: this is an HTTP port, not a camwire TCP port; use --protocol http, or port ${DEFAULT_PORTS.tcp} for tcp`);
  }
  if (/^(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) \S/.test(text)) {
    return new HttpRequestOnTcpError(ErrorCode.WRONG_PROTOCOL, `an HTTP request came to a camwire TCP port (${HTTP_ON_TCP_PORT})`);
  }
  return undefined;
}

/** PING or PONG. */
export type KeepaliveKind = typeof Kind.PING | typeof Kind.PONG;

/** Receives what the parser produces. */
export interface FrameSink {
  /** A frame; its bytes, in one piece or as views of the reads it spanned, are Frame.raw. */
  onFrame(frame: Frame): void;
  onError(err: ProtocolError): void;
  /**
   * Optional: a PING or PONG that came alone in a read (an idle link's keepalive, docs/protocol.md
   * 3.4), as its kind and timestamp instead of a Frame (no object, no session key decoded). Returns
   * false to have it delivered through onFrame after all.
   */
  onKeepalive?(kind: KeepaliveKind, timestamp: number): boolean;
}

/**
 * True when `b` (FIXED_HEADER_SIZE bytes) is one valid PING or PONG with no ids and no payload:
 * checkHeader's checks, with no payload allowed. Anything else goes the common way, which
 * reports what is wrong with it.
 */
function isBareKeepalive(b: Buffer): boolean {
  if ((b[3] !== Kind.PING && b[3] !== Kind.PONG) || (b[32] | b[33] | b[34]) !== 0) return false;
  try {
    return checkHeader(b, 0, 0) === 0;
  } catch {
    return false;
  }
}

/** Options of a FrameParser. */
export interface FrameParserOptions {
  /** Largest payload accepted; a larger length field is a protocol error. @default 8 MiB */
  maxPayload?: number;
}

/** FrameParser turns a byte stream into frames. After an error it ignores further input. */
export class FrameParser {
  readonly #sink: FrameSink;
  readonly #maxPayload: number;
  #chunks: Buffer[] = [];
  /** Index of the first live chunk in #chunks (consumed chunks are skipped, not shifted). */
  #head = 0;
  /** Bytes of the first live chunk already consumed (frames are cut from it without a view of the rest). */
  #off = 0;
  #buffered = 0;
  #staging: Buffer | undefined;
  #stagingLength = 0;
  #state = GET_HEADER;
  #need = FIXED_HEADER_SIZE;
  #idsLength = 0;
  /** The last frame's session key and ids (readFrame compares instead of decoding them again). */
  readonly #cache = new HeaderCache();
  /** Set by #consume: where the frame starts in the buffer it returns, and the frame's payload. */
  #at = 0;
  #payload: Buffer = EMPTY;

  constructor(sink: FrameSink, options: FrameParserOptions = {}) {
    this.#sink = sink;
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!(this.#maxPayload >= 0 && this.#maxPayload <= MAX_PAYLOAD_CEILING)) {
      throw new RangeError(`maxPayload must be within 0..${MAX_PAYLOAD_CEILING}`);
    }
  }

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** True once a protocol error was reported. */
  get failed(): boolean {
    return this.#state === FAILED;
  }

  /** Feeds bytes; calls the sink for each complete frame. */
  push(chunk: Buffer): void {
    if (this.#state === FAILED || chunk.length === 0) return;
    // A keepalive alone in its read, nothing else pending: the sink may take it without a Frame.
    if (this.#buffered === 0 && chunk.length === FIXED_HEADER_SIZE && this.#sink.onKeepalive !== undefined && isBareKeepalive(chunk)) {
      if (this.#sink.onKeepalive(chunk[3] as KeepaliveKind, getF64(chunk, 24))) return;
    }
    this.#buffered += chunk.length;
    // Trickled bytes that do not yet finish what we wait for are gathered; anything else is kept
    // as given, so whole frames are delivered as views of the socket's chunks.
    if (chunk.length < SMALL_CHUNK && this.#buffered < this.#need) this.#stage(chunk);
    else {
      this.#flushStaging();
      this.#chunks.push(chunk);
    }
    while (this.#buffered >= this.#need && this.#state !== FAILED) {
      if (this.#state === GET_HEADER) {
        const head = this.#peek(FIXED_HEADER_SIZE);
        const at = this.#off;
        let payloadLength;
        try {
          payloadLength = checkHeader(head, at, this.#maxPayload);
        } catch (err) {
          this.#fail(wrongProtocol(head.subarray(at)) ?? (err as ProtocolError));
          return;
        }
        const idsLength = head[at + 32] + head[at + 33] + head[at + 34];
        this.#idsLength = idsLength;
        this.#need = FIXED_HEADER_SIZE + idsLength + payloadLength;
        this.#state = GET_REST;
      } else {
        const need = this.#need;
        const hl = FIXED_HEADER_SIZE + this.#idsLength;
        this.#state = GET_HEADER;
        this.#need = FIXED_HEADER_SIZE;
        const avail = this.#chunks[this.#head].length - this.#off;
        if (need >= SPAN_VIEWS && avail < need && avail >= hl) {
          // A large frame that spans reads: views of them, its payload joined on first use.
          const raw = this.#take(need);
          this.#sink.onFrame(new SpannedFrame(readFrame(raw[0], 0, EMPTY, this.#cache), raw, need, hl));
          continue;
        }
        // The whole frame in one piece (its payload a view when it sits in one chunk, else in one
        // copy), so a relay can forward it as it lies (Frame.raw, made from the payload's memory
        // only when read: a receiver makes no second view per frame).
        const raw = this.#consume(need, hl);
        // The parser keeps no view of the frame it handed on: an idle link's last frame (its HELLO)
        // would keep its read's memory alive.
        const payload = this.#payload;
        this.#payload = EMPTY;
        this.#sink.onFrame(readFrame(raw, this.#at, payload, this.#cache, hl));
      }
    }
  }

  /** Copies a small chunk into the staging buffer; a full staging buffer becomes one chunk. */
  #stage(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      this.#staging ??= Buffer.allocUnsafe(STAGING_SIZE);
      const n = chunk.copy(this.#staging, this.#stagingLength, off);
      this.#stagingLength += n;
      off += n;
      if (this.#stagingLength === STAGING_SIZE) this.#flushStaging();
    }
  }

  #flushStaging(): void {
    if (!this.#staging || this.#stagingLength === 0) return;
    this.#chunks.push(this.#staging.subarray(0, this.#stagingLength));
    this.#staging = undefined;
    this.#stagingLength = 0;
  }

  #fail(err: ProtocolError): void {
    this.#state = FAILED;
    this.#chunks = [];
    this.#head = 0;
    this.#off = 0;
    this.#staging = undefined;
    this.#stagingLength = 0;
    this.#buffered = 0;
    this.#sink.onError(err);
  }

  #drop(): void {
    // The consumed chunk must not stay referenced until the array is compacted: a stream whose
    // frames span reads would keep up to 1024 reads (64 MiB) alive.
    this.#chunks[this.#head] = EMPTY;
    this.#head++;
    this.#off = 0;
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * The chunk that holds the first n buffered bytes from #off on, without consuming them: the
   * first chunk itself when they sit in it, else a merge of the chunks they span (then #off is 0).
   */
  #peek(n: number): Buffer {
    const first = this.#chunks[this.#head];
    if (first.length - this.#off >= n) return first;
    // Merge only as many chunks as the n bytes span.
    let end = this.#head + 1;
    let have = first.length - this.#off;
    while (have < n) have += this.#chunks[end++].length;
    const parts = this.#chunks.slice(this.#head, end);
    parts[0] = first.subarray(this.#off);
    const merged = Buffer.concat(parts, have);
    this.#chunks.splice(this.#head, end - this.#head, merged);
    this.#off = 0;
    return merged;
  }

  /** Removes the first n buffered bytes and returns them as views of the chunks they sit in. */
  #take(n: number): Buffer[] {
    this.#buffered -= n;
    const out: Buffer[] = [];
    let o = 0;
    while (o < n) {
      const c = this.#chunks[this.#head];
      const off = this.#off;
      const take = Math.min(c.length - off, n - o);
      o += take;
      if (take === c.length - off) {
        out.push(off === 0 ? c : c.subarray(off));
        this.#drop();
      } else {
        out.push(c.subarray(off, off + take));
        this.#off = off + take;
      }
    }
    return out;
  }

  /**
   * Removes the first n buffered bytes (a frame, its header `hl` bytes) and returns the buffer
   * that holds them, from #at on: the chunk itself when they sit in it (no view), else one copy.
   * #payload is set to a view of the frame's payload.
   */
  #consume(n: number, hl: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[this.#head];
    const off = this.#off;
    const avail = first.length - off;
    if (n <= avail) {
      if (n === avail) this.#drop();
      else this.#off = off + n;
      this.#at = off;
      this.#payload = view(first, off + hl, off + n);
      return first;
    }
    this.#at = 0;
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[this.#head];
      const at = this.#off;
      const take = Math.min(c.length - at, n - o);
      c.copy(out, o, at, at + take);
      o += take;
      if (take === c.length - at) this.#drop();
      else this.#off = at + take;
    }
    this.#payload = view(out, hl);
    return out;
  }
}
