/**
 * Encoding a frame once for many links (docs/architecture.md, fan-out): SharedEncoding (one
 * frame), FrameBatch (the frames one client pushed in a turn, laid out for a stream link) and
 * FrameArena (where small frames are encoded end to end). Pure functions over Buffers.
 */
import { FIXED_HEADER_SIZE } from './constants.js';
import { encodeHeader, headerLength, writeHeader, type Frame, type FrameInit } from './frame.js';
import type { RecyclingArena } from './recycling-arena.js';
import { put16, put32, putF64, setAt, u32, view } from './bytes.js';

const EMPTY = Buffer.alloc(0);

/** The whole frame: one Buffer, or views to write in order. */
export type Whole = Buffer | readonly Buffer[];

/** Payload bytes of a received frame, without joining a payload that spanned reads. */
export function payloadLength(f: Frame): number {
  const raw = f.raw;
  // The received header's length field (a relay only writes its header over it later).
  return raw !== undefined && !Buffer.isBuffer(raw) ? u32(raw[0], 12) : f.payload.length;
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
  readonly #sameIds: boolean;
  #done = false;
  #header: Buffer | undefined;
  /** Header bytes at the start of #whole when the header is a view made on demand (in place). */
  #headerLength = 0;
  #whole: Whole | undefined;
  #key: bigint | undefined;
  #seq: number | undefined;

  /**
   * @param arena where to encode the frame whole
   * @param raw the received frame's bytes (Frame.raw), whose header may be overwritten
   * @param sameIds true when the frame goes on with the ids (from, to, group) it came with: only
   *   the fixed part of the received header is rewritten
   */
  constructor(arena?: FrameArena, raw?: Whole, sameIds = false) {
    this.#arena = arena;
    this.#raw = raw;
    this.#sameIds = sameIds;
  }

  /** The header of `f` as sent with `sessionKey`. */
  header(f: FrameInit, sessionKey: bigint, payloadLength: number): Buffer {
    if (!this.#done) this.#encode(f, sessionKey, payloadLength);
    else if (this.#key !== sessionKey || this.#seq !== f.seq) return encodeHeader(f, payloadLength, f.prefix, sessionKey);
    if (this.#header === undefined) {
      const w = this.#whole!;
      this.#header = (Buffer.isBuffer(w) ? w : w[0]).subarray(0, this.#headerLength);
    }
    return this.#header;
  }

  /**
   * The whole frame as sent with `sessionKey`, when this encoding holds it whole (nothing to
   * write after it); undefined otherwise. Does not join a payload that spanned reads.
   */
  wholeFor(f: FrameInit, sessionKey: bigint): Whole | undefined {
    if (!this.#done) this.#encode(f, sessionKey, undefined);
    return this.#key === sessionKey && this.#seq === f.seq ? this.#whole : undefined;
  }

  /** The whole frame as one Buffer when `header` is the shared header and it has one; else undefined. */
  whole(header: Buffer): Buffer | undefined {
    return header === this.#header && Buffer.isBuffer(this.#whole) ? this.#whole : undefined;
  }

  #encode(f: FrameInit, sessionKey: bigint, payloadLength: number | undefined): void {
    this.#done = true;
    this.#key = sessionKey;
    this.#seq = f.seq;
    const raw = this.#raw;
    this.#raw = undefined;
    if (raw !== undefined && this.#sameIds && !f.prefix && this.#inPlace(raw, f, sessionKey, payloadLength)) return;
    if (raw !== undefined && !Buffer.isBuffer(raw)) {
      // Views of the reads a large frame spanned: its header sits in the first one.
      const first = raw[0];
      const hl = headerLength(f, f.prefix);
      const len = u32(first, 12);
      if (!f.prefix && first.length >= hl && hl + len === totalLength(raw) && (payloadLength === undefined || payloadLength === len)) {
        writeHeader(first, 0, f, len, undefined, sessionKey, this.#arena?.keyBytes(sessionKey));
        this.#header = first.subarray(0, hl);
        this.#whole = raw;
        return;
      }
    }
    const payload = f.payload ?? EMPTY;
    const plen = payloadLength ?? payload.length;
    const arena = this.#arena;
    const keyBytes = arena?.keyBytes(sessionKey);
    const hl = arena || raw ? headerLength(f, f.prefix) : 0;
    const total = hl + payload.length;
    if (raw && Buffer.isBuffer(raw) && raw.length === total && raw.buffer === payload.buffer && raw.byteOffset + hl === payload.byteOffset) {
      writeHeader(raw, 0, f, plen, f.prefix, sessionKey, keyBytes);
      this.#whole = raw;
      this.#header = raw.subarray(0, hl);
      return;
    }
    if (!arena || total > arena.maxFrame) {
      this.#header = encodeHeader(f, plen, f.prefix, sessionKey);
      return;
    }
    const { buf, at } = arena.reserve(total);
    writeHeader(buf, at, f, plen, f.prefix, sessionKey, keyBytes);
    setAt(buf, payload, at + hl);
    this.#whole = view(buf, at, at + total);
    this.#header = view(buf, at, at + hl);
  }

  /**
   * The received frame goes on with its ids: rewrites only the fixed fields of its header that
   * may differ (kind, type, flags, index, seq, session key, timestamp). False when `raw` is not
   * one whole frame (then nothing was written).
   */
  #inPlace(raw: Whole, f: FrameInit, sessionKey: bigint, payloadLength: number | undefined): boolean {
    const first = Buffer.isBuffer(raw) ? raw : raw[0];
    if (first.length < FIXED_HEADER_SIZE) return false;
    const hl = FIXED_HEADER_SIZE + first[32] + first[33] + first[34];
    const len = u32(first, 12);
    if (first.length < hl || hl + len !== (Buffer.isBuffer(raw) ? raw.length : totalLength(raw))) return false;
    if (payloadLength !== undefined && payloadLength !== len) return false;
    first[3] = f.kind;
    first[4] = f.mediaType ?? 0;
    first[5] = f.flags ?? 0;
    put16(first, 6, f.mediaIndex ?? 0);
    put32(first, 8, (f.seq ?? 0) >>> 0);
    if (this.#arena) setAt(first, this.#arena.keyBytes(sessionKey), 16);
    else first.writeBigUInt64BE(sessionKey, 16);
    putF64(first, 24, f.timestamp ?? 0);
    this.#whole = raw;
    this.#headerLength = hl;
    return true;
  }
}

function totalLength(pieces: readonly Buffer[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

/**
 * `join` makes one Buffer of a FrameBatch in several pieces of at most JOIN_MAX bytes (the frame
 * the previous read ended inside, then the rest of the read; or a frame of up to 256 KiB that
 * spanned reads): one copy for the batch costs less than a gathered write of the pieces per reader
 * (Node's cork, writev and end-of-turn work per socket; bench/FANOUT.md, 64 KiB). Larger batches
 * go as their pieces: a copy of them would only add memory.
 */
export const JOIN_MAX = 256 * 1024;

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
   * Set when many links write the batch: `encoded()` then joins its pieces into one Buffer (up to
   * JOIN_MAX bytes): one copy for the batch instead of a gathered write of several pieces per link.
   */
  join = false;
  /**
   * Where `encoded()` joins the pieces when set (a MediaServer's fan-out, when every reader of the
   * batch holds what it keeps: `hold()`), instead of a new Buffer per batch: a buffer written again
   * once no write holds it. A new Buffer per batch was half the relay's socket-read-sized garbage
   * waiting for the next scavenge, and so of its peak RSS (bench/FANOUT.md, "Peak RSS and 1 KiB").
   */
  joinArena: RecyclingArena | undefined = undefined;
  /** The joined piece's buffer in joinArena: takes a hold on it. */
  #holder: (() => () => void) | undefined;
  /** The batch's own hold on that buffer, until release(). */
  #held: (() => void) | undefined;
  /**
   * What a reader's queue worked out about the frames once for all readers of the batch
   * (VideoOutbox.canSkipBatch); cleared with the frames.
   */
  memo: unknown = undefined;

  constructor(
    readonly to: string,
    readonly group: string,
  ) {}

  /** Adds a frame of `payloadBytes` bytes (given: its payload may not be joined yet). */
  add(f: FrameInit, payloadBytes: number): void {
    this.frames.push(f);
    this.payloadBytes += payloadBytes;
  }

  /**
   * Lets go of the frames and their encoded pieces once the batch is delivered (the batch is then
   * empty), so that nothing that outlives the turn keeps the reads under them.
   */
  release(): void {
    this.frames.length = 0;
    this.memo = undefined;
    this.#pieces = undefined;
    this.#key = undefined;
    // A batch used again starts without the arena: its next targets may not hold (a cluster's publish).
    this.joinArena = undefined;
    this.#holder = undefined;
    const held = this.#held;
    this.#held = undefined;
    held?.();
  }

  /**
   * For a writer that keeps `encoded()`'s pieces past the call that got them (a socket write that
   * completes later): a hold on the memory they lie in, released by calling the returned function
   * once, when the write completed or failed. Undefined when they need none (not in joinArena).
   */
  hold(): (() => void) | undefined {
    return this.#holder?.();
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
    if (this.join && pieces.length > 1 && bytes <= JOIN_MAX) {
      const arena = this.joinArena;
      if (arena === undefined) return (this.#pieces = [Buffer.concat(pieces, bytes)]);
      const at = arena.take(bytes);
      const buf = arena.buffer;
      let o = at;
      for (const p of pieces) {
        setAt(buf, p, o);
        o += p.length;
      }
      this.#holder = arena.holder();
      this.#held = this.#holder();
      return (this.#pieces = [buf.subarray(at, o)]);
    }
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
  #key: bigint | undefined;
  #keyBytes = Buffer.alloc(8);

  constructor(
    readonly size = 64 * 1024,
    readonly maxFrame = 64 * 1024,
  ) {}

  /** A session key's 8 header bytes (the last key's kept: a server stamps one key on every frame). */
  keyBytes(key: bigint): Buffer {
    if (key !== this.#key) {
      this.#keyBytes = Buffer.allocUnsafe(8);
      this.#keyBytes.writeBigUInt64BE(key);
      this.#key = key;
    }
    return this.#keyBytes;
  }

  /** `n` bytes to write: a buffer and the offset they start at. */
  reserve(n: number): { buf: Buffer; at: number } {
    if (n > this.size / 2 && (!this.#buf || this.#used + n > this.#buf.length)) return { buf: Buffer.allocUnsafeSlow(n), at: 0 };
    const at = this.take(n);
    return { buf: this.#buf!, at };
  }

  /**
   * `n` bytes (at most `size`) in the current buffer (`buffer`, read after this call): the offset
   * they start at. No object per call, for a per-frame path (StreamLink's small frames).
   */
  take(n: number): number {
    let buf = this.#buf;
    if (!buf || this.#used + n > buf.length) {
      this.#buf = buf = this.fresh();
      this.#used = 0;
    }
    const at = this.#used;
    this.#used += n;
    return at;
  }

  /** The buffer the last take() placed its bytes in. */
  get buffer(): Buffer {
    return this.#buf!;
  }

  /** The next buffer of `size` bytes, when the current one is full (RecyclingArena reuses them). */
  protected fresh(): Buffer {
    return Buffer.allocUnsafeSlow(this.size);
  }
}
