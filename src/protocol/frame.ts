/**
 * Frame codec: the common envelope of every camwire message (docs/protocol.md, section 2).
 * Pure functions over Buffers.
 */
import {
  FIXED_HEADER_SIZE,
  FRAME_MAGIC,
  KNOWN_FLAGS,
  MAX_ID_BYTES,
  MAX_KIND,
  PROTOCOL_VERSION,
  type Kind,
} from './constants.js';
import type { SharedEncoding } from './fan-encoding.js';
import { put16, put32, putF64 } from './bytes.js';

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
  writeFixed(h, at, f.kind, f.mediaType ?? 0, f.flags ?? 0, f.mediaIndex ?? 0, (f.seq ?? 0) >>> 0, payloadLength + extra, sessionKey ?? 0n, f.timestamp ?? 0, a, b, c, keyBytes);
  let o = at + FIXED_HEADER_SIZE;
  if (a) o += h.write(f.from!, o, 'utf8');
  if (b) o += h.write(f.to!, o, 'utf8');
  if (c) o += h.write(f.group!, o, 'utf8');
  if (prefix) prefix.copy(h, o);
}

/**
 * The fixed part of a header (docs/protocol.md 2.1): the one place its layout is written
 * (writeHeader, encodeKeepalive). The caller has checked the values.
 */
function writeFixed(
  h: Buffer,
  at: number,
  kind: number,
  mediaType: number,
  flags: number,
  mediaIndex: number,
  seq: number,
  payloadLength: number,
  sessionKey: bigint,
  timestamp: number,
  fromLength: number,
  toLength: number,
  groupLength: number,
  keyBytes: Buffer | undefined,
): void {
  put16(h, at, FRAME_MAGIC);
  h[at + 2] = PROTOCOL_VERSION;
  h[at + 3] = kind;
  h[at + 4] = mediaType;
  h[at + 5] = flags;
  put16(h, at + 6, mediaIndex);
  put32(h, at + 8, seq);
  put32(h, at + 12, payloadLength);
  if (keyBytes) keyBytes.copy(h, at + 16);
  else h.writeBigUInt64BE(sessionKey, at + 16);
  putF64(h, at + 24, timestamp);
  h[at + 32] = fromLength;
  h[at + 33] = toLength;
  h[at + 34] = groupLength;
  h[at + 35] = 0;
}

/**
 * A PING or PONG (no payload) stamped with a link's fields: an idle link's keepalive
 * (docs/protocol.md 3.4) as one buffer, without encodeFrame's [header, payload] pair, and
 * without a FrameInit: the fixed part from writeFixed, as writeHeader writes it. (Through
 * writeHeader, a server's first PINGs, a second object shape, deoptimized the code it had
 * compiled for the frames of the joins, and it was compiled again: about 20 ms, --trace-opt.)
 */
export function encodeKeepalive(kind: typeof Kind.PING | typeof Kind.PONG, sessionKey: bigint, mediaType: number, from: string | undefined, timestamp: number): Buffer {
  checkRange(mediaType, 0, 5, 'media type');
  const a = idLength(from, 'from');
  const h = Buffer.allocUnsafe(FIXED_HEADER_SIZE + a);
  writeFixed(h, 0, kind, mediaType, 0, 0, 0, 0, sessionKey, timestamp, a, 0, 0, undefined);
  if (a) h.write(from!, FIXED_HEADER_SIZE, 'utf8');
  return h;
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

export { checkFixedHeader, checkHeader, decodeFrame, HeaderCache, payloadViews, readFrame, type HeaderInfo } from './frame-decode.js';
