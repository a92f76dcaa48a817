/**
 * Encoding a frame once for many links (docs/architecture.md, fan-out): SharedEncoding (one
 * frame), FrameBatch (the frames one client pushed in a turn, laid out for a stream link) and
 * FrameArena (where small frames are encoded end to end). Pure functions over Buffers.
 */
import { encodeHeader, headerLength, writeHeader, type Frame, type FrameInit } from './frame.js';

const EMPTY = Buffer.alloc(0);

/** The whole frame: one Buffer, or views to write in order. */
export type Whole = Buffer | readonly Buffer[];

/** Payload bytes of a received frame, without joining a payload that spanned reads. */
export function payloadLength(f: Frame): number {
  const raw = f.raw;
  // The received header's length field (a relay only writes its header over it later).
  return raw !== undefined && !Buffer.isBuffer(raw) ? raw[0].readUInt32BE(12) : f.payload.length;
}

/**
 * The encoding of a frame that goes to many links: made once, on first use, and written as it is
 * by every link that stamps the same session key and seq (all readers of one server or one pull
 * Sender). A link that stamps others gets a header of its own; the payload is never copied for it.
 *
 * The whole frame (`wholeFor()`), when it has it, one of:
 * - the received bytes (`raw`: Frame.raw) with the new header written over the received one,
 *   when they are as long: the frame goes on as it was read, without a copy;
 * - with a FrameArena, a frame small enough encoded whole into the arena, right after the frame
 *   encoded before it: the frames of one turn then lie end to end in one buffer.
 * Otherwise the header alone, the payload written after it.
 */
export class SharedEncoding {
  readonly #arena: FrameArena | undefined;
  #raw: Whole | undefined;
  #header: Buffer | undefined;
  #whole: Whole | undefined;
  #key: bigint | undefined;
  #seq: number | undefined;

  /**
   * @param arena where to encode the frame whole
   * @param raw the received frame's bytes (Frame.raw), whose header may be overwritten
   */
  constructor(arena?: FrameArena, raw?: Whole) {
    this.#arena = arena;
    this.#raw = raw;
  }

  /** The header of `f` as sent with `sessionKey`. */
  header(f: FrameInit, sessionKey: bigint, payloadLength: number): Buffer {
    if (this.#header === undefined) this.#encode(f, sessionKey, payloadLength);
    else if (this.#key !== sessionKey || this.#seq !== f.seq) return encodeHeader(f, payloadLength, f.prefix, sessionKey);
    return this.#header!;
  }

  /**
   * The whole frame as sent with `sessionKey`, when this encoding holds it whole (nothing to
   * write after it); undefined otherwise. Does not join a payload that spanned reads.
   */
  wholeFor(f: FrameInit, sessionKey: bigint): Whole | undefined {
    if (this.#header === undefined) this.#encode(f, sessionKey, undefined);
    return this.#key === sessionKey && this.#seq === f.seq ? this.#whole : undefined;
  }

  /** The whole frame as one Buffer when `header` is the shared header and it has one; else undefined. */
  whole(header: Buffer): Buffer | undefined {
    return header === this.#header && Buffer.isBuffer(this.#whole) ? this.#whole : undefined;
  }

  #encode(f: FrameInit, sessionKey: bigint, payloadLength: number | undefined): void {
    this.#key = sessionKey;
    this.#seq = f.seq;
    const raw = this.#raw;
    this.#raw = undefined;
    if (raw !== undefined && !Buffer.isBuffer(raw)) {
      // Views of the reads a large frame spanned: its header sits in the first one.
      const first = raw[0];
      const hl = headerLength(f, f.prefix);
      const len = first.readUInt32BE(12);
      let total = 0;
      for (const r of raw) total += r.length;
      if (!f.prefix && first.length >= hl && hl + len === total && (payloadLength === undefined || payloadLength === len)) {
        writeHeader(first, 0, f, len, undefined, sessionKey);
        this.#header = first.subarray(0, hl);
        this.#whole = raw;
        return;
      }
    }
    const payload = f.payload ?? EMPTY;
    const plen = payloadLength ?? payload.length;
    const arena = this.#arena;
    const hl = arena || raw ? headerLength(f, f.prefix) : 0;
    const total = hl + payload.length;
    if (raw && Buffer.isBuffer(raw) && raw.length === total && raw.buffer === payload.buffer && raw.byteOffset + hl === payload.byteOffset) {
      writeHeader(raw, 0, f, plen, f.prefix, sessionKey);
      this.#whole = raw;
      this.#header = raw.subarray(0, hl);
      return;
    }
    if (!arena || total > arena.maxFrame) {
      this.#header = encodeHeader(f, plen, f.prefix, sessionKey);
      return;
    }
    const { buf, at } = arena.reserve(total);
    writeHeader(buf, at, f, plen, f.prefix, sessionKey);
    payload.copy(buf, at + hl);
    this.#whole = buf.subarray(at, at + total);
    this.#header = buf.subarray(at, at + hl);
  }
}

/**
 * `join` makes one Buffer of a FrameBatch of at most JOIN_MAX bytes whose pieces are on average
 * smaller than JOIN_PIECE (small frames, a header apart): large pieces cost a gathered write
 * little, and a copy of them would only add memory.
 */
const JOIN_MAX = 256 * 1024;
const JOIN_PIECE = 16 * 1024;

/**
 * Frames that go to the same readers together: the video or audio one client pushed in one
 * event-loop turn, to one address. Each has its SharedEncoding; `encoded()` lays them out for a
 * stream link, pieces that continue each other in memory coalesced into one.
 */
export class FrameBatch {
  readonly frames: FrameInit[] = [];
  /** Payload bytes of the frames. */
  payloadBytes = 0;
  #pieces: Buffer[] | undefined;
  #key: bigint | undefined;
  #wireBytes = 0;
  /**
   * Set when many links write the batch: `encoded()` then joins its small pieces into one Buffer
   * (see JOIN_MAX): one copy for the batch instead of a gathered write of several pieces per link.
   */
  join = false;

  constructor(
    readonly to: string,
    readonly group: string,
  ) {}

  /** Adds a frame of `payloadBytes` bytes (given: its payload may not be joined yet). */
  add(f: FrameInit, payloadBytes: number): void {
    this.frames.push(f);
    this.payloadBytes += payloadBytes;
  }

  /** Bytes on the wire of `encoded()`. */
  get wireBytes(): number {
    return this.#wireBytes;
  }

  /**
   * The frames as sent with `sessionKey`, as the buffers to write in order. Made on the first
   * call; for any other key than that call's, undefined (send the frames one by one).
   */
  encoded(sessionKey: bigint): readonly Buffer[] | undefined {
    if (this.#pieces) return this.#key === sessionKey ? this.#pieces : undefined;
    this.#key = sessionKey;
    const pieces: Buffer[] = (this.#pieces = []);
    let bytes = 0;
    // The run of pieces being coalesced: its memory, where it starts and ends, and its only
    // piece while nothing continued it (kept as it is).
    let run: ArrayBufferLike | undefined;
    let start = 0;
    let end = 0;
    let only: Buffer | undefined;
    const flush = (): void => {
      if (run) pieces.push(only ?? Buffer.from(run, start, end - start));
    };
    const add = (piece: Buffer): void => {
      bytes += piece.length;
      if (piece.buffer === run && piece.byteOffset === end) {
        end += piece.length;
        only = undefined;
        return;
      }
      flush();
      only = piece;
      run = piece.buffer;
      start = piece.byteOffset;
      end = start + piece.length;
    };
    for (const f of this.frames) {
      const whole = f.shared?.wholeFor(f, sessionKey);
      if (whole !== undefined) {
        if (Buffer.isBuffer(whole)) add(whole);
        else for (const w of whole) add(w);
        continue;
      }
      const payload = f.payload ?? EMPTY;
      add(f.shared ? f.shared.header(f, sessionKey, payload.length) : encodeHeader(f, payload.length, f.prefix, sessionKey));
      if (payload.length) add(payload);
    }
    flush();
    this.#wireBytes = bytes;
    if (this.join && pieces.length > 1 && bytes <= JOIN_MAX && bytes < pieces.length * JOIN_PIECE) return (this.#pieces = [Buffer.concat(pieces, bytes)]);
    return pieces;
  }
}

/**
 * Where fanned-out frames are encoded whole, one after the other (see SharedEncoding). Buffers
 * of `size` bytes, a new one when a frame does not fit; a used buffer is never written again, so
 * links may keep views of it as long as they need. Frames above `maxFrame` bytes are not placed.
 */
export class FrameArena {
  #buf: Buffer | undefined;
  #used = 0;

  constructor(
    readonly size = 64 * 1024,
    readonly maxFrame = 64 * 1024,
  ) {}

  /** `n` bytes to write: a buffer and the offset they start at. */
  reserve(n: number): { buf: Buffer; at: number } {
    let buf = this.#buf;
    if (!buf || this.#used + n > buf.length) {
      if (n > this.size / 2) return { buf: Buffer.allocUnsafeSlow(n), at: 0 };
      this.#buf = buf = Buffer.allocUnsafeSlow(this.size);
      this.#used = 0;
    }
    const at = this.#used;
    this.#used += n;
    return { buf, at };
  }
}
