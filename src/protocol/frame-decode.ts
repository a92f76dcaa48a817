/**
 * The decoding half of the frame codec (docs/protocol.md, section 2): header checks, the frame
 * objects a parser makes, and whole-buffer decoding. Pure functions over Buffers; frame.ts
 * re-exports all of it.
 */
import { CloseCode, ErrorCode, ProtocolError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, FIXED_HEADER_SIZE, FRAME_MAGIC, KNOWN_FLAGS, MAX_ID_BYTES, MAX_KIND, PROTOCOL_VERSION, type Kind } from './constants.js';
import type { Frame } from './frame.js';
import { getF64, i32, u16, u32, view } from './bytes.js';

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
 * payload length; the ids' length is the sum of bytes 32 to 34. `buf` must hold the 36 header
 * bytes from `off` on (every caller checks that first).
 */
export function checkHeader(buf: Buffer, off: number, maxPayload: number): number {
  if (u16(buf, off) !== FRAME_MAGIC) {
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
  const payloadLength = u32(buf, off + 12);
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
  /**
   * The key's two halves as signed 32-bit integers: small integers kept in the object itself (as
   * unsigned ones, above 2^31, each would be a heap number of its own: memory per idle link).
   * 0 and 0 with `key` 0n: the right answer for a key of zero.
   */
  keyHi = 0;
  keyLo = 0;
  key = 0n;
  /**
   * The id bytes (from, to, group) as a one-byte string (latin1, one character per byte): a few
   * dozen bytes per link, where a Buffer view costs about a hundred. And their lengths.
   */
  ids = '';
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
    this.mediaIndex = u16(buf, off + 6);
    this.seq = u32(buf, off + 8);
    this.sessionKey = sessionKey;
    this.timestamp = getF64(buf, off + 24);
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
    const hi = i32(buf, off + 16);
    const lo = i32(buf, off + 20);
    if (hi !== cache.keyHi || lo !== cache.keyLo) {
      cache.keyHi = hi;
      cache.keyLo = lo;
      cache.key = buf.readBigUInt64BE(off + 16);
    }
    sessionKey = cache.key;
    if (a !== cache.a || b !== cache.b || c !== cache.c || !sameBytes(buf, o, cache.ids, a + b + c)) {
      [cache.from, cache.to, cache.group] = readIds(buf, o, a, b, c);
      cache.ids = buf.toString('latin1', o, o + a + b + c);
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

/** True when `buf[at..at+n]` holds the bytes of `ids` (n one-byte characters). */
function sameBytes(buf: Buffer, at: number, ids: string, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[at + i] !== ids.charCodeAt(i)) return false;
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
  return readFrame(buf, 0, view(buf, FIXED_HEADER_SIZE + idsLength), cache);
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
