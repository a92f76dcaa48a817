/**
 * Frame codec: the common envelope of every camwire message (docs/protocol.md, section 2).
 * Pure functions over Buffers.
 */
import { CloseCode, ErrorCode, ProtocolError } from '../errors.js';
import {
  DEFAULT_MAX_PAYLOAD,
  FIXED_HEADER_SIZE,
  FRAME_MAGIC,
  KNOWN_FLAGS,
  MAX_ID_BYTES,
  MAX_KIND,
  PROTOCOL_VERSION,
  type Kind,
} from './constants.js';
import type { SharedEncoding } from './fan-encoding.js';

/** One decoded frame. */
export interface Frame {
  kind: Kind;
  /** Media type code, 0 if none. */
  mediaType: number;
  flags: number;
  mediaIndex: number;
  seq: number;
  /** The sending component's session key (64-bit, 0n when unknown). */
  sessionKey: bigint;
  /** Sender's clock in ms since the Unix epoch (fractional). */
  timestamp: number;
  from: string;
  to: string;
  group: string;
  payload: Buffer;
  /**
   * UDP only, never on the wire: the header of a reliable DATA frame the receiver already
   * reassembled, seen again (its first fragment) because the sender retransmitted it. The payload
   * is empty: a receiver only answers it again, from what it remembers (docs/protocol.md, 5.3).
   */
  repeat?: boolean;
  /**
   * Never on the wire: the frame's bytes as a stream parser read them (header, ids, payload):
   * one Buffer that `payload` is the tail of, or, for a large frame that spanned reads, views of
   * those reads in order (then `payload` is joined from them on first use). The header bytes are
   * not read again after parsing: a relay may overwrite them with the header it forwards the frame
   * with (same length) and send the frame as it lies (SharedEncoding).
   */
  raw?: Buffer | readonly Buffer[];
}

const EMPTY = Buffer.alloc(0);

/**
 * Fields of a frame to encode; omitted fields take 0 or ''. `prefix`, when set, is a media
 * header that goes on the wire before `payload` (both count as the frame payload), so a large
 * payload is never copied to prepend a few bytes. `shared`, when set, holds the frame's encoding
 * for every link that sends it (a fan-out); such a frame must not change afterwards.
 */
export type FrameInit = Partial<Frame> & {
  kind: Kind;
  prefix?: Buffer;
  /**
   * Instead of `payload` (which is then unset): the payload as pieces written in order, never
   * joined by a link that writes pieces (a stream link); others join them (encodeFrame). A relay
   * forwards a large acknowledged item this way, as the views of the reads it arrived in.
   */
  parts?: readonly Buffer[];
  readonly shared?: SharedEncoding;
  /**
   * Not on the wire. UDP: holds the fragment frameId of a reliable item's first send on a link;
   * its retransmissions on that link reuse it, so the receiver's reassembly completes the frame
   * from the fragments of all copies (docs/protocol.md, section 5.3).
   */
  wire?: { udpFrameId?: number };
};

/**
 * A copy of `f` with `seq`, `flags` and `shared` set: every field written out, so every copy has
 * one shape. An object spread (`{ ...f, seq }`) costs about 3 µs per copy here (Node 20), more
 * than a whole small frame's send; this costs tens of nanoseconds.
 */
export function copyInit(f: FrameInit, seq = f.seq, flags = f.flags, shared = f.shared): FrameInit {
  return {
    kind: f.kind,
    mediaType: f.mediaType,
    flags,
    mediaIndex: f.mediaIndex,
    seq,
    sessionKey: f.sessionKey,
    timestamp: f.timestamp,
    from: f.from,
    to: f.to,
    group: f.group,
    payload: f.payload,
    prefix: f.prefix,
    parts: f.parts,
    shared,
    wire: f.wire,
    repeat: f.repeat,
    raw: f.raw,
  };
}

/** UTF-8 length of an id, checked against the limit (no allocation: ids are written in place). */
function idLength(id: string | undefined, field: string): number {
  if (!id) return 0;
  const n = Buffer.byteLength(id, 'utf8');
  if (n > MAX_ID_BYTES) throw new RangeError(`${field} id is ${n} bytes, the limit is ${MAX_ID_BYTES}`);
  return n;
}

function checkRange(v: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} ${v} is outside ${min}..${max}`);
}

/** Bytes of the header (fixed part, ids, prefix) of `f`; checks the ids against their limit. */
export function headerLength(f: FrameInit, prefix?: Buffer): number {
  return FIXED_HEADER_SIZE + idLength(f.from, 'from') + idLength(f.to, 'to') + idLength(f.group, 'group') + (prefix?.length ?? 0);
}

/**
 * Encodes a frame header for a payload of `payloadLength` bytes. A `prefix` (a media header that
 * counts as the start of the payload) is appended to the header in the same allocation.
 * The payload itself is not copied: write the header and the payload together (cork or writev).
 */
export function encodeHeader(f: FrameInit, payloadLength: number, prefix?: Buffer, sessionKey = f.sessionKey): Buffer {
  const h = Buffer.allocUnsafe(headerLength(f, prefix));
  writeHeader(h, 0, f, payloadLength, prefix, sessionKey);
  return h;
}

/** Writes the header of `f` (see encodeHeader) into `h` at `at`; `h` must have headerLength() bytes there. */
export function writeHeader(
  h: Buffer,
  at: number,
  f: FrameInit,
  payloadLength: number,
  prefix: Buffer | undefined,
  sessionKey: bigint | undefined,
  /** `sessionKey` already encoded (8 bytes), when the caller has it. */
  keyBytes?: Buffer,
): void {
  checkRange(f.kind, 1, MAX_KIND, 'kind');
  checkRange(f.mediaType ?? 0, 0, 5, 'media type');
  checkRange(f.flags ?? 0, 0, KNOWN_FLAGS, 'flags');
  if (((f.flags ?? 0) & ~KNOWN_FLAGS) !== 0) throw new RangeError(`unknown flags ${f.flags}`);
  checkRange(f.mediaIndex ?? 0, 0, 0xffff, 'media index');
  const a = idLength(f.from, 'from');
  const b = idLength(f.to, 'to');
  const c = idLength(f.group, 'group');
  const extra = prefix?.length ?? 0;
  h.writeUInt16BE(FRAME_MAGIC, at);
  h[at + 2] = PROTOCOL_VERSION;
  h[at + 3] = f.kind;
  h[at + 4] = f.mediaType ?? 0;
  h[at + 5] = f.flags ?? 0;
  h.writeUInt16BE(f.mediaIndex ?? 0, at + 6);
  h.writeUInt32BE((f.seq ?? 0) >>> 0, at + 8);
  h.writeUInt32BE(payloadLength + extra, at + 12);
  if (keyBytes) keyBytes.copy(h, at + 16);
  else h.writeBigUInt64BE(sessionKey ?? 0n, at + 16);
  h.writeDoubleBE(f.timestamp ?? 0, at + 24);
  h[at + 32] = a;
  h[at + 33] = b;
  h[at + 34] = c;
  h[at + 35] = 0;
  let o = at + FIXED_HEADER_SIZE;
  if (a) o += h.write(f.from!, o, 'utf8');
  if (b) o += h.write(f.to!, o, 'utf8');
  if (c) o += h.write(f.group!, o, 'utf8');
  if (prefix) prefix.copy(h, o);
}

/**
 * Encodes a frame as `[header (+ prefix), payload]`, ready for a corked write; `sessionKey`
 * stamps another key than `f.sessionKey` without changing `f`. A frame with `shared` reuses
 * its shared header.
 */
export function encodeFrame(f: FrameInit, sessionKey = f.sessionKey): [Buffer, Buffer] {
  const payload = f.payload ?? (f.parts ? Buffer.concat(f.parts, partsLength(f.parts)) : EMPTY);
  if (f.shared) return [f.shared.header(f, sessionKey ?? 0n, payload.length), payload];
  return [encodeHeader(f, payload.length, f.prefix, sessionKey), payload];
}

/** Bytes of payload pieces (FrameInit.parts). */
export function partsLength(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/** Encodes a frame as one contiguous Buffer (for datagrams and HTTP bodies). */
export function encodeFrameBuffer(f: FrameInit): Buffer {
  const [h, p] = encodeFrame(f);
  return p.length === 0 ? h : Buffer.concat([h, p], h.length + p.length);
}

/** Result of checking the fixed header: how many more bytes the frame needs. */
export interface HeaderInfo {
  idsLength: number;
  payloadLength: number;
}

/**
 * Validates the fixed 36-byte header at `buf[off..]` (docs/protocol.md, section 2.1)
 * and returns the lengths that follow it. Throws a ProtocolError on any violation.
 */
export function checkFixedHeader(buf: Buffer, off: number, maxPayload: number): HeaderInfo {
  const payloadLength = checkHeader(buf, off, maxPayload);
  return { idsLength: buf[off + 32] + buf[off + 33] + buf[off + 34], payloadLength };
}

/**
 * checkFixedHeader without the result object (a stream parser's per-frame path): returns the
 * payload length; the ids' length is the sum of bytes 32 to 34.
 */
export function checkHeader(buf: Buffer, off: number, maxPayload: number): number {
  if (buf.readUInt16BE(off) !== FRAME_MAGIC) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MAGIC, 'not a camwire frame (bad magic)');
  }
  const version = buf[off + 2];
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      ErrorCode.PROTOCOL_BAD_VERSION,
      `unsupported protocol version ${version} (this build speaks ${PROTOCOL_VERSION})`,
      CloseCode.UNSUPPORTED_VERSION,
    );
  }
  const kind = buf[off + 3];
  if (kind < 1 || kind > MAX_KIND) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_KIND, `unknown message kind ${kind}`);
  const mediaType = buf[off + 4];
  if (mediaType > 5) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, `unknown media type ${mediaType}`);
  if ((buf[off + 5] & ~KNOWN_FLAGS) !== 0) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, `unknown flags 0x${buf[off + 5].toString(16)}`);
  }
  const payloadLength = buf.readUInt32BE(off + 12);
  if (payloadLength > maxPayload) {
    throw new ProtocolError(
      ErrorCode.PROTOCOL_FRAME_TOO_LARGE,
      `frame payload of ${payloadLength} bytes exceeds the limit of ${maxPayload}`,
      CloseCode.FRAME_TOO_LARGE,
    );
  }
  const a = buf[off + 32];
  const b = buf[off + 33];
  const c = buf[off + 34];
  if (a > MAX_ID_BYTES || b > MAX_ID_BYTES || c > MAX_ID_BYTES || buf[off + 35] !== 0) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, 'id length out of range or reserved byte set');
  }
  return payloadLength;
}

/**
 * The session key and ids of the last frame a parser read: the frames of one link repeat them, so
 * they are compared with the bytes of the next header instead of decoded again (no BigInt, no
 * strings per frame). One per parser; see readFrame.
 */
export class HeaderCache {
  keyHi = -1;
  keyLo = -1;
  key = 0n;
  /** A copy of the id bytes (from, to, group) and their lengths. */
  ids: Buffer = EMPTY;
  a = -1;
  b = -1;
  c = -1;
  from = '';
  to = '';
  group = '';
}

/**
 * A decoded frame: every frame gets the same fields from its creation, `repeat` and `raw`
 * included (a field added later would change the object's hidden class and make every property
 * access on the receive path polymorphic). `raw`, for a frame a stream parser read in one piece,
 * is made on first read from the payload's memory (the header lies right before it): only a
 * relay reads it, so a receiver makes no view of it per frame.
 */
class ParsedFrame implements Frame {
  kind: Kind;
  mediaType: number;
  flags: number;
  mediaIndex: number;
  seq: number;
  sessionKey: bigint;
  timestamp: number;
  from: string;
  to: string;
  group: string;
  payload: Buffer;
  repeat = false;
  #raw: Buffer | readonly Buffer[] | undefined = undefined;
  /** Header bytes before `payload` in its memory, for `raw`; -1 when the frame has no `raw`. */
  #hl: number;

  constructor(buf: Buffer, off: number, payload: Buffer, sessionKey: bigint, from: string, to: string, group: string, hl: number) {
    this.kind = buf[off + 3] as Kind;
    this.mediaType = buf[off + 4];
    this.flags = buf[off + 5];
    this.mediaIndex = buf.readUInt16BE(off + 6);
    this.seq = buf.readUInt32BE(off + 8);
    this.sessionKey = sessionKey;
    this.timestamp = buf.readDoubleBE(off + 24);
    this.from = from;
    this.to = to;
    this.group = group;
    this.payload = payload;
    this.#hl = hl;
  }

  get raw(): Buffer | readonly Buffer[] | undefined {
    if (this.#raw === undefined && this.#hl >= 0) {
      const p = this.payload;
      this.#raw = Buffer.from(p.buffer, p.byteOffset - this.#hl, this.#hl + p.length);
    }
    return this.#raw;
  }

  set raw(v: Buffer | readonly Buffer[] | undefined) {
    this.#raw = v;
    this.#hl = -1;
  }
}

/**
 * Builds a Frame from a complete header at `buf[off..]` (already checked) and its payload.
 * Id strings are decoded as UTF-8 (or taken from `cache` when the bytes are the same); the
 * payload is kept as given (no copy). `hl`, for a frame a stream parser read in one piece whose
 * header (`hl` bytes) lies right before `payload` in memory: Frame.raw is then those bytes and
 * the payload (made on first use).
 */
export function readFrame(buf: Buffer, off: number, payload: Buffer, cache?: HeaderCache, hl = -1): Frame {
  const a = buf[off + 32];
  const b = buf[off + 33];
  const c = buf[off + 34];
  let from: string;
  let to: string;
  let group: string;
  let sessionKey: bigint;
  const o = off + FIXED_HEADER_SIZE;
  if (cache === undefined) {
    sessionKey = buf.readBigUInt64BE(off + 16);
    [from, to, group] = readIds(buf, o, a, b, c);
  } else {
    const hi = buf.readUInt32BE(off + 16);
    const lo = buf.readUInt32BE(off + 20);
    if (hi !== cache.keyHi || lo !== cache.keyLo) {
      cache.keyHi = hi;
      cache.keyLo = lo;
      cache.key = buf.readBigUInt64BE(off + 16);
    }
    sessionKey = cache.key;
    if (a !== cache.a || b !== cache.b || c !== cache.c || !sameBytes(buf, o, cache.ids, a + b + c)) {
      [cache.from, cache.to, cache.group] = readIds(buf, o, a, b, c);
      cache.ids = Buffer.from(buf.subarray(o, o + a + b + c));
      cache.a = a;
      cache.b = b;
      cache.c = c;
    }
    from = cache.from;
    to = cache.to;
    group = cache.group;
  }
  return new ParsedFrame(buf, off, payload, sessionKey, from, to, group, hl);
}

function readIds(buf: Buffer, o: number, a: number, b: number, c: number): [string, string, string] {
  const from = a ? buf.toString('utf8', o, o + a) : '';
  o += a;
  const to = b ? buf.toString('utf8', o, o + b) : '';
  o += b;
  const group = c ? buf.toString('utf8', o, o + c) : '';
  return [from, to, group];
}

/** True when `buf[at..at+n]` holds the bytes of `ids` (n bytes). */
function sameBytes(buf: Buffer, at: number, ids: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[at + i] !== ids[i]) return false;
  return true;
}

/**
 * Decodes exactly one frame that fills `buf` completely (a reassembled datagram, an HTTP part).
 * Throws a ProtocolError if the buffer holds less or more than one frame.
 */
export function decodeFrame(buf: Buffer, maxPayload: number = DEFAULT_MAX_PAYLOAD, cache?: HeaderCache): Frame {
  if (buf.length < FIXED_HEADER_SIZE) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, `truncated frame: ${buf.length} bytes`);
  }
  const { idsLength, payloadLength } = checkFixedHeader(buf, 0, maxPayload);
  const total = FIXED_HEADER_SIZE + idsLength + payloadLength;
  if (buf.length !== total) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, `frame length mismatch: have ${buf.length}, header says ${total}`);
  }
  return readFrame(buf, 0, buf.subarray(FIXED_HEADER_SIZE + idsLength), cache);
}

/**
 * The payload of a received frame that spanned reads, as views of those reads in order (from
 * Frame.raw, the header cut off), without joining it; undefined for a frame read in one piece
 * (use `payload`).
 */
export function payloadViews(f: Frame): Buffer[] | undefined {
  const raw = f.raw;
  if (raw === undefined || Buffer.isBuffer(raw)) return undefined;
  const first = raw[0];
  let total = 0;
  for (const r of raw) total += r.length;
  const hl = total - first.readUInt32BE(12);
  if (hl < FIXED_HEADER_SIZE || hl > first.length) return undefined;
  const views = [first.subarray(hl)];
  for (let i = 1; i < raw.length; i++) views.push(raw[i]);
  return views;
}
