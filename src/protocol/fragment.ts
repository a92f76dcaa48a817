/**
 * UDP fragmentation and reassembly (docs/protocol.md, section 5). Pure: the caller supplies
 * the clock, so there are no timers here. Reassembly memory is bounded; an incomplete frame
 * is dropped whole and counted, a frame whose fragments disagree is dropped and counted as corrupt.
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import { DATAGRAM_HEADER_SIZE, DATAGRAM_MAGIC, PROTOCOL_VERSION } from './constants.js';
import { put16, put32, u16, u32, view } from './bytes.js';

/** Largest datagram payload camwire sends by default: fits a 1500-byte Ethernet MTU. */
export const DEFAULT_DATAGRAM_SIZE = 1472;

/**
 * Splits one encoded frame into datagrams of at most `datagramSize` bytes. The frame may be given
 * as its parts (header, payload): each datagram copies its slice straight from them, so the
 * frame is never joined into one buffer first.
 */
export function fragmentFrame(frame: Buffer | readonly Buffer[], frameId: number, datagramSize: number = DEFAULT_DATAGRAM_SIZE): Buffer[] {
  const parts = Buffer.isBuffer(frame) ? [frame] : frame;
  let total = 0;
  for (const p of parts) total += p.length;
  const room = datagramSize - DATAGRAM_HEADER_SIZE;
  if (room < 64) throw new RangeError(`datagramSize ${datagramSize} is too small`);
  const count = Math.max(1, Math.ceil(total / room));
  if (count > 0xffff) throw new RangeError(`frame of ${total} bytes needs more than 65535 datagrams`);
  const out: Buffer[] = new Array(count);
  let part = 0;
  let inPart = 0;
  for (let i = 0; i < count; i++) {
    const off = i * room;
    const len = Math.min(room, total - off);
    const d = Buffer.allocUnsafe(DATAGRAM_HEADER_SIZE + len);
    writeFragmentHeader(d, frameId, i, count, total, off);
    let o = DATAGRAM_HEADER_SIZE;
    while (o < d.length) {
      const p = parts[part];
      const n = p.copy(d, o, inPart, inPart + (d.length - o));
      o += n;
      inPart += n;
      if (inPart === p.length) {
        part++;
        inPart = 0;
      }
    }
    out[i] = d;
  }
  return out;
}

/**
 * A frame that fits one datagram, as the pieces to send together (one sendmsg): its fragment
 * header, then the frame's parts as they are (no copy); undefined when it needs more datagrams.
 */
export function singleDatagram(frame: Buffer | readonly Buffer[], frameId: number, datagramSize: number = DEFAULT_DATAGRAM_SIZE): Buffer[] | undefined {
  const parts = Buffer.isBuffer(frame) ? [frame] : frame;
  let total = 0;
  for (const p of parts) total += p.length;
  if (total === 0 || total > datagramSize - DATAGRAM_HEADER_SIZE) return undefined;
  const d = Buffer.allocUnsafe(DATAGRAM_HEADER_SIZE);
  writeFragmentHeader(d, frameId, 0, 1, total, 0);
  return [d, ...parts];
}

/** The fragment header (docs/protocol.md, 5.1) at the start of `d`. */
export function writeFragmentHeader(d: Buffer, frameId: number, index: number, count: number, total: number, offset: number): void {
  put16(d, 0, DATAGRAM_MAGIC);
  d[2] = PROTOCOL_VERSION;
  d[3] = 0;
  put32(d, 4, frameId >>> 0);
  put16(d, 8, index);
  put16(d, 10, count);
  put32(d, 12, total);
  put32(d, 16, offset);
}

/** A parsed fragment header. */
export interface FragmentHeader {
  frameId: number;
  index: number;
  count: number;
  frameLength: number;
  offset: number;
}

/** Parses and checks a datagram's fragment header; throws a ProtocolError if it is not ours or is inconsistent. */
export function parseFragmentHeader(d: Buffer, maxFrame: number): FragmentHeader {
  if (d.length < DATAGRAM_HEADER_SIZE || u16(d, 0) !== DATAGRAM_MAGIC) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MAGIC, 'not a camwire datagram');
  }
  if (d[2] !== PROTOCOL_VERSION) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_VERSION, `unsupported datagram version ${d[2]}`);
  }
  const h: FragmentHeader = {
    frameId: u32(d, 4),
    index: u16(d, 8),
    count: u16(d, 10),
    frameLength: u32(d, 12),
    offset: u32(d, 16),
  };
  const len = d.length - DATAGRAM_HEADER_SIZE;
  if (
    d[3] !== 0 ||
    h.count === 0 ||
    h.index >= h.count ||
    h.frameLength === 0 ||
    h.frameLength > maxFrame ||
    h.offset + len > h.frameLength ||
    (len === 0 && h.frameLength > 0) ||
    (h.index === h.count - 1) !== (h.offset + len === h.frameLength) ||
    (h.count === 1 && h.offset !== 0) ||
    // Fragments tile the frame: all but the last have one size L and fragment i starts at i*L.
    (h.index < h.count - 1 && h.offset !== h.index * len) ||
    (h.index === h.count - 1 && h.count > 1 && h.offset % (h.count - 1) !== 0)
  ) {
    throw new ProtocolError(ErrorCode.PROTOCOL_BAD_FRAGMENT, 'inconsistent fragment header');
  }
  return h;
}

/** Options of a Reassembler. */
export interface ReassemblerOptions {
  /** Largest frame accepted, in bytes. @default 8 MiB + 1 KiB */
  maxFrame?: number;
  /** Total bytes held by incomplete frames across all sources; the oldest is dropped beyond it. @default 32 MiB */
  maxBytes?: number;
  /** An incomplete frame older than this is dropped. @default 2000 ms */
  timeoutMs?: number;
}

/** Counters a Reassembler keeps. */
export interface ReassemblerStats {
  /** Frames delivered whole. */
  completed: number;
  /** Incomplete frames dropped (timeout, memory bound, or superseded). */
  incomplete: number;
  /** Datagrams or frames dropped because their fragments disagreed or were malformed. */
  corrupt: number;
  /** Duplicate fragments ignored. */
  duplicates: number;
}

interface Pending {
  key: string;
  source: string;
  /** Size of every fragment but the last, once known. */
  fragLen: number;
  buf: Buffer;
  count: number;
  got: Uint8Array;
  have: number;
  frameLength: number;
  started: number;
}

/**
 * Reassembler collects fragments per source (any string the caller picks, e.g. "addr:port")
 * and returns each frame once all its fragments arrived.
 */
export class Reassembler {
  readonly #maxFrame: number;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  /** Insertion-ordered, so the first entry is the oldest. */
  readonly #pending = new Map<string, Pending>();
  /** Keys of recently completed frames: a late duplicate fragment must not start a new frame. */
  readonly #done = new Set<string>();
  #bytes = 0;
  readonly stats: ReassemblerStats = { completed: 0, incomplete: 0, corrupt: 0, duplicates: 0 };
  /** After push(): the key of the frame of several fragments that this datagram completed. */
  completed: string | undefined;
  /** After push(): the key of a frame completed recently whose first fragment (index 0) came again. */
  repeat: string | undefined;

  constructor(options: ReassemblerOptions = {}) {
    this.#maxFrame = options.maxFrame ?? 8 * 1024 * 1024 + 1024;
    this.#maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
    this.#timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Bytes currently held by incomplete frames. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of incomplete frames held. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Adds one datagram from `source`. Returns the whole frame when this datagram completed it,
   * otherwise undefined. Throws a ProtocolError for a datagram that is not a valid fragment
   * (the caller counts it and moves on: UDP has no connection to close). `now`: the time, or a
   * clock read only when a frame of several datagrams starts (not once per datagram).
   */
  push(source: string, d: Buffer, now: number | (() => number)): Buffer | undefined {
    this.completed = this.repeat = undefined;
    let h: FragmentHeader;
    try {
      h = parseFragmentHeader(d, this.#maxFrame);
    } catch (err) {
      this.stats.corrupt++;
      throw err;
    }
    const payload = view(d, DATAGRAM_HEADER_SIZE);
    if (h.count === 1) {
      this.stats.completed++;
      return payload;
    }
    const key = `${source}#${h.frameId}`;
    let p = this.#pending.get(key);
    const len = payload.length;
    const fragLen = h.index < h.count - 1 ? len : h.offset / (h.count - 1);
    if (p && (p.count !== h.count || p.frameLength !== h.frameLength || (p.fragLen !== fragLen))) {
      this.#drop(p);
      this.stats.corrupt++;
      throw new ProtocolError(ErrorCode.PROTOCOL_BAD_FRAGMENT, 'fragments of one frame disagree on its size');
    }
    if (!p) {
      if (this.#done.has(key)) {
        this.stats.duplicates++;
        if (h.index === 0) this.repeat = key;
        return undefined;
      }
      const t = typeof now === 'number' ? now : now();
      this.expire(t);
      // A frame that could never fit is refused without evicting frames that can.
      if (h.frameLength > this.#maxBytes) {
        this.stats.incomplete++;
        return undefined;
      }
      while (this.#bytes + h.frameLength > this.#maxBytes && this.#pending.size > 0) {
        this.#drop(this.#pending.values().next().value as Pending);
        this.stats.incomplete++;
      }
      p = {
        key,
        source,
        fragLen,
        buf: Buffer.allocUnsafe(h.frameLength),
        count: h.count,
        got: new Uint8Array(h.count),
        have: 0,
        frameLength: h.frameLength,
        started: t,
      };
      this.#pending.set(key, p);
      this.#bytes += h.frameLength;
    }
    if (p.got[h.index]) {
      this.stats.duplicates++;
      return undefined;
    }
    p.got[h.index] = 1;
    p.have++;
    payload.copy(p.buf, h.offset);
    if (p.have < p.count) return undefined;
    this.#drop(p);
    this.#done.add(key);
    if (this.#done.size > 256) this.#done.delete(this.#done.values().next().value as string);
    this.stats.completed++;
    this.completed = key;
    return p.buf;
  }

  /** Drops incomplete frames older than the timeout; returns how many were dropped. */
  expire(now: number): number {
    let n = 0;
    for (const p of this.#pending.values()) {
      if (now - p.started < this.#timeoutMs) break;
      this.#drop(p);
      n++;
    }
    this.stats.incomplete += n;
    return n;
  }

  /** Drops everything held for `source` (the source went away). */
  forget(source: string): void {
    for (const p of this.#pending.values()) {
      if (p.source === source) {
        this.#drop(p);
        this.stats.incomplete++;
      }
    }
  }

  #drop(p: Pending): void {
    if (this.#pending.delete(p.key)) this.#bytes -= p.frameLength;
  }
}
