/**
 * IVF (ffmpeg's `-f ivf`): a 32-byte file header, then frames each with a 12-byte header (u32
 * size and u64 pts, little-endian). Cut into frames whatever the chunk boundaries, with the
 * codec string, keyframe flag and size read from the bitstream (docs/protocol.md, section 4.1):
 * VP8 one frame, VP9 one frame (or superframe), AV1 one temporal unit of OBUs. A pure parser;
 * bounded (a frame larger than `maxBytes` is skipped and counted).
 */
import { BitReader } from './bits.js';
import { PendingInput } from './pending-input.js';

/** One frame of an IVF stream. */
export interface IvfFrame {
  data: Buffer;
  keyframe: boolean;
  /** WebCodecs codec string: `vp8`, `vp09.PP.LL.DD` or `av01.P.LLT.DD`. */
  codec: string;
  width: number;
  height: number;
  /** When the frame's last byte arrived (the push that completed it). */
  arrivedAt: number;
}

export interface IvfOptions {
  /** Largest frame kept. @default 8 MiB */
  maxBytes?: number;
}

/** What a keyframe's header says (fields it does not hold stay undefined). */
interface KeyInfo {
  keyframe: boolean;
  codec?: string;
  width?: number;
  height?: number;
}

export class IvfSplitter {
  readonly #onFrame: (f: IvfFrame) => void;
  readonly #max: number;
  /** Bytes read and not parsed yet (an oversized frame is skipped as it comes). */
  readonly #in = new PendingInput();
  #fourcc: string | undefined;
  #codec = '';
  #width = 0;
  #height = 0;
  /** AV1: the last sequence header OBU, put in front of a keyframe that lacks one. */
  #seqHeader: Buffer | undefined;
  /** Frames dropped: too large, an unknown codec, or before the first keyframe. */
  dropped = 0;
  #keyed = false;

  constructor(onFrame: (f: IvfFrame) => void, o: IvfOptions = {}) {
    this.#onFrame = onFrame;
    this.#max = o.maxBytes ?? 8 * 1024 * 1024;
  }

  /** The stream's codec (`VP80`, `VP90`, `AV01`) once its header is in. */
  get fourcc(): string | undefined {
    return this.#fourcc;
  }

  push(chunk: Buffer, now = performance.now()): void {
    const input = this.#in;
    input.add(chunk);
    for (;;) {
      if (this.#fourcc === undefined) {
        const h = input.peek(32);
        if (!h) return;
        if (h.toString('latin1', 0, 4) !== 'DKIF') throw new RangeError('IVF: no DKIF signature');
        const hl = h.readUInt16LE(6);
        if (hl < 32 || hl > 1024) throw new RangeError('IVF: bad header length');
        if (!input.peek(hl)) return;
        this.#fourcc = h.toString('latin1', 8, 12);
        this.#width = h.readUInt16LE(12);
        this.#height = h.readUInt16LE(14);
        this.#codec = this.#fourcc === 'VP80' ? 'vp8' : this.#fourcc === 'VP90' ? 'vp09.00.10.08' : this.#fourcc === 'AV01' ? 'av01.0.08M.08' : '';
        input.consume(hl);
        continue;
      }
      const h = input.peek(12);
      if (!h) return;
      const size = h.readUInt32LE(0);
      if (size > this.#max) {
        this.dropped++;
        this.#keyed = false;
        input.dropUnit(12 + size);
        continue;
      }
      const b = input.peek(12 + size);
      if (!b) return;
      const data = b.subarray(12, 12 + size);
      input.consume(12 + size);
      this.#frame(data, now);
    }
  }


  #frame(data: Buffer, now: number): void {
    let info: KeyInfo;
    try {
      info = this.#fourcc === 'VP80' ? vp8Info(data) : this.#fourcc === 'VP90' ? vp9Info(data) : this.#fourcc === 'AV01' ? this.#av1(data) : { keyframe: false };
    } catch {
      info = { keyframe: false };
    }
    if (!this.#codec) {
      this.dropped++;
      return;
    }
    if (info.keyframe) {
      this.#keyed = true;
      if (info.codec) this.#codec = info.codec;
      if (info.width && info.height) {
        this.#width = info.width;
        this.#height = info.height;
      }
    }
    if (!this.#keyed) {
      this.dropped++;
      return;
    }
    if (info.keyframe && this.#fourcc === 'AV01' && this.#seqHeader && !hasObu(data, OBU_SEQ)) data = withSeqHeader(data, this.#seqHeader);
    this.#onFrame({ data, keyframe: info.keyframe, codec: this.#codec, width: this.#width, height: this.#height, arrivedAt: now });
  }

  #av1(data: Buffer): KeyInfo {
    let info: KeyInfo = { keyframe: false };
    let reduced = false;
    for (const o of obus(data)) {
      if (o.type === OBU_SEQ) {
        this.#seqHeader = Buffer.from(data.subarray(o.start, o.end));
        try {
          const s = av1SeqInfo(data.subarray(o.payload, o.end));
          reduced = s.reduced;
          info = { keyframe: false, codec: s.codec, width: s.width, height: s.height };
        } catch {
          // A header this reader does not follow (timing info): the codec string stays the default.
          reduced = (data[o.payload] & 0x08) !== 0;
        }
      } else if (o.type === OBU_FRAME || o.type === OBU_FRAME_HEADER) {
        const r = new BitReader(data.subarray(o.payload, o.end));
        info.keyframe = reduced || (r.bit() === 0 && r.bits(2) === 0);
        return info;
      }
    }
    return info;
  }
}

// ---------------------------------------------------------------- VP8

/** VP8 frame tag (RFC 6386, 9.1): bit 0 is 0 on a key frame, which then holds its size. */
function vp8Info(d: Buffer): KeyInfo {
  if (d.length < 3) throw new RangeError('VP8: short frame');
  if ((d[0] & 1) !== 0) return { keyframe: false };
  if (d.length < 10 || d[3] !== 0x9d || d[4] !== 0x01 || d[5] !== 0x2a) throw new RangeError('VP8: no start code');
  return { keyframe: true, codec: 'vp8', width: d.readUInt16LE(6) & 0x3fff, height: d.readUInt16LE(8) & 0x3fff };
}

// ---------------------------------------------------------------- VP9

/** The VP9 level (2 digits) for a picture size, from the level table's luma picture sizes. */
function vp9Level(w: number, h: number): string {
  const px = w * h;
  const levels: Array<[number, string]> = [[36864, '10'], [73728, '11'], [122880, '20'], [245760, '21'], [552960, '30'], [983040, '31'], [2228224, '40'], [8912896, '50']];
  for (const [max, l] of levels) if (px <= max) return l;
  return '60';
}

/** VP9 uncompressed header (VP9 spec 6.2): profile, frame type and, on a key frame, bit depth and size. */
function vp9Info(d: Buffer): KeyInfo {
  const r = new BitReader(d);
  if (r.bits(2) !== 2) throw new RangeError('VP9: bad frame marker');
  const profile = r.bit() | (r.bit() << 1);
  if (profile === 3) r.skip(1);
  if (r.bit()) return { keyframe: false }; // show_existing_frame
  if (r.bit() !== 0) return { keyframe: false }; // frame_type 1: not a key frame
  r.skip(2); // show_frame, error_resilient_mode
  if (r.bits(24) !== 0x498342) throw new RangeError('VP9: bad sync code');
  let depth = 8;
  if (profile >= 2) depth = r.bit() ? 12 : 10;
  const colorSpace = r.bits(3);
  if (colorSpace !== 7) {
    r.skip(1);
    if (profile === 1 || profile === 3) r.skip(3);
  } else if (profile === 1 || profile === 3) r.skip(1);
  const width = r.bits(16) + 1;
  const height = r.bits(16) + 1;
  return { keyframe: true, codec: `vp09.0${profile}.${vp9Level(width, height)}.${String(depth).padStart(2, '0')}`, width, height };
}

// ---------------------------------------------------------------- AV1

const OBU_SEQ = 1;
const OBU_FRAME_HEADER = 3;
const OBU_FRAME = 6;

interface Obu {
  type: number;
  start: number;
  payload: number;
  end: number;
}

/** The OBUs of a temporal unit (low-overhead format: each with its size). */
function* obus(d: Buffer): Generator<Obu> {
  let o = 0;
  while (o < d.length) {
    const h = d[o];
    const type = (h >> 3) & 0x0f;
    let p = o + 1 + ((h & 0x04) !== 0 ? 1 : 0);
    let size = d.length - p;
    if (h & 0x02) {
      size = 0;
      for (let i = 0; ; i++) {
        if (i >= 8 || p >= d.length) throw new RangeError('AV1: bad OBU size');
        const byte = d[p++];
        size += (byte & 0x7f) * 2 ** (7 * i);
        if (!(byte & 0x80)) break;
      }
    }
    const end = p + size;
    if (end > d.length) throw new RangeError('AV1: OBU past the end');
    yield { type, start: o, payload: p, end };
    o = end;
  }
}

function hasObu(d: Buffer, type: number): boolean {
  try {
    for (const o of obus(d)) if (o.type === type) return true;
  } catch {
    return false;
  }
  return false;
}

/** Puts a sequence header OBU after the temporal delimiter (or first) of a temporal unit. */
function withSeqHeader(d: Buffer, seq: Buffer): Buffer {
  const first = obus(d).next();
  const at = !first.done && first.value.type === 2 ? first.value.end : 0;
  return Buffer.concat([d.subarray(0, at), seq, d.subarray(at)]);
}

/** AV1 sequence header (AV1 spec 5.5): profile, level and tier of operating point 0, bit depth, size. */
function av1SeqInfo(p: Buffer): { codec: string; width: number; height: number; reduced: boolean } {
  const r = new BitReader(p);
  const profile = r.bits(3);
  r.skip(1); // still_picture
  const reduced = r.bit() === 1;
  let level = 0;
  let tier = 0;
  if (reduced) level = r.bits(5);
  else {
    if (r.bit()) throw new RangeError('AV1: timing info is not read');
    const delayPresent = r.bit();
    const points = r.bits(5) + 1;
    for (let i = 0; i < points; i++) {
      r.skip(12);
      const l = r.bits(5);
      const t = l > 7 ? r.bit() : 0;
      if (i === 0) [level, tier] = [l, t];
      if (delayPresent && r.bit()) r.skip(4);
    }
  }
  const wb = r.bits(4) + 1;
  const hb = r.bits(4) + 1;
  const width = r.bits(wb) + 1;
  const height = r.bits(hb) + 1;
  // Bit depth sits in the colour config after several optional fields: 8 unless high_bitdepth (read below).
  let depth = 8;
  try {
    if (!reduced && r.bit()) {
      // frame_id_numbers_present_flag
      r.skip(4 + 3);
    }
    r.skip(3); // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    let orderHint = 0;
    if (!reduced) {
      r.skip(4); // interintra, masked compound, warped motion, dual filter
      orderHint = r.bit();
      if (orderHint) r.skip(2); // jnt_comp, ref_frame_mvs
      const chooseScreen = r.bit();
      const forceScreen = chooseScreen ? 2 : r.bit();
      if (forceScreen > 0 && !r.bit()) r.skip(1); // seq_choose_integer_mv, seq_force_integer_mv
      if (orderHint) r.skip(3);
    }
    r.skip(3); // superres, cdef, restoration
    const high = r.bit();
    if (profile === 2 && high) depth = r.bit() ? 12 : 10;
    else if (high) depth = 10;
  } catch {
    depth = 8;
  }
  return { codec: `av01.${profile}.${String(level).padStart(2, '0')}${tier ? 'H' : 'M'}.${String(depth).padStart(2, '0')}`, width, height, reduced };
}
