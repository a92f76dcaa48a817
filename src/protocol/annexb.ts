/**
 * H.264 in Annex B (start codes), as ffmpeg writes it with `-f h264`: cut into access units
 * (docs/protocol.md, section 4.1), whatever the chunk boundaries. A pure parser: bytes in,
 * access units out; bounded (an access unit larger than `maxBytes` is dropped and counted).
 *
 * An access unit starts at an access unit delimiter, SEI, SPS or PPS, or at the first slice of a
 * picture (first_mb_in_slice = 0), once the unit before it holds a slice (H.264 7.4.1.2.3). A unit
 * is only known complete when the next one starts, so each unit leaves one unit later than its
 * last byte arrived (end() flushes the last one).
 *
 * Every keyframe (a unit with an IDR slice) goes out with SPS and PPS in front of its slices: the
 * last ones seen are put in when the unit lacks them. Units before the first SPS are dropped.
 */
import { BitReader } from './bits.js';

/** One access unit. */
export interface AccessUnit {
  /** The unit's NAL units with their start codes. */
  data: Buffer;
  /** Holds an IDR slice (decodable on its own). */
  keyframe: boolean;
  /** WebCodecs codec string from the SPS, e.g. `avc1.42E01E`. */
  codec: string;
  width: number;
  height: number;
  /** When the unit's first byte arrived (performance.now() of the push that brought it). */
  arrivedAt: number;
}

/** What an SPS says. */
export interface SpsInfo {
  codec: string;
  width: number;
  height: number;
}

/** Options of an AnnexBSplitter. */
export interface AnnexBOptions {
  /** Largest access unit kept; bigger ones are dropped and counted. @default 8 MiB */
  maxBytes?: number;
}

const NAL_SLICE = 1;
const NAL_IDR = 5;
const NAL_SEI = 6;
const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;
const START = Buffer.from([0, 0, 0, 1]);

/** True for NAL types that start a new access unit once the current one holds a slice. */
function opensUnit(type: number): boolean {
  return type === NAL_AUD || type === NAL_SEI || type === NAL_SPS || type === NAL_PPS || (type >= 14 && type <= 18);
}

export class AnnexBSplitter {
  readonly #onUnit: (au: AccessUnit) => void;
  readonly #max: number;
  /** Bytes from the start of the current unit (a start code) on. */
  #buf: Buffer = Buffer.alloc(0);
  /** Where the search for the next start code resumes. */
  #scan = 0;
  /** Start (of the start code) and type of the NAL being read, -1 before the first. */
  #nalStart = -1;
  #nalType = -1;
  #hasSlice = false;
  #idr = false;
  #sps: [number, number] | undefined;
  #pps: [number, number] | undefined;
  /** After a dropped unit: skip to the next unit start. */
  #resync = false;
  /** A unit was dropped: units up to the next keyframe are dropped too. */
  #needKey = false;
  #arrivedAt = 0;
  /** The time of the current push. */
  #now = 0;
  /** The last SPS and PPS seen, each with a 4-byte start code. */
  #lastSps: Buffer | undefined;
  #lastPps: Buffer | undefined;
  #info: SpsInfo | undefined;
  /** Units dropped: too large, before the first SPS, or with an SPS that does not parse. */
  dropped = 0;

  constructor(onUnit: (au: AccessUnit) => void, o: AnnexBOptions = {}) {
    this.#onUnit = onUnit;
    this.#max = o.maxBytes ?? 8 * 1024 * 1024;
  }

  /** Feeds bytes. */
  push(chunk: Buffer, now = performance.now()): void {
    if (chunk.length === 0) return;
    this.#now = now;
    if (this.#buf.length === 0) this.#arrivedAt = now;
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    let b = this.#buf;
    let i = this.#scan;
    while (i + 2 < b.length) {
      // Find 00 00 01: step by the third byte, as most bytes are not 0 or 1.
      if (b[i + 2] > 1) {
        i += 3;
        continue;
      }
      if (b[i + 2] === 0) {
        i++;
        continue;
      }
      if (b[i] !== 0 || b[i + 1] !== 0) {
        i += 3;
        continue;
      }
      // A start code at i; the NAL header at i + 3, and for a slice its next byte.
      if (i + 4 >= b.length) break;
      this.#nal(i, b[i + 3] & 0x1f, b[i + 4]);
      b = this.#buf;
      i = this.#scan;
    }
    this.#scan = i;
    if (this.#buf.length > this.#max) this.#drop();
  }

  /** The input ended: the unit being read is complete. */
  end(): void {
    if (this.#nalStart >= 0 && !this.#resync) {
      this.#close(this.#buf.length);
      if (this.#hasSlice) this.#emit(this.#buf.length);
    }
    this.#reset(this.#buf.length);
    this.#nalStart = -1;
    this.#scan = 0;
  }

  /** A NAL of `type` whose start code begins at `at` (3 bytes; a zero before it makes it 4). */
  #nal(at: number, type: number, next: number): void {
    let start = at > 0 && this.#buf[at - 1] === 0 ? at - 1 : at;
    const slice = type === NAL_SLICE || type === NAL_IDR;
    const opens = opensUnit(type) || (slice && (next & 0x80) !== 0);
    let cut = false;
    if (this.#nalStart < 0 || this.#resync) {
      // Before the first start code, or skipping a dropped unit: what came before is not kept.
      cut = true;
      if (this.#resync && !opens) {
        this.#buf = this.#buf.subarray(start);
        this.#scan = at - start + 3;
        return;
      }
      this.#resync = false;
    } else {
      this.#close(start);
      if (this.#hasSlice && opens) {
        this.#emit(start);
        cut = true;
      }
    }
    if (cut) {
      this.#reset(start);
      at -= start;
      start = 0;
    }
    this.#nalStart = start;
    this.#nalType = type;
    if (slice) this.#hasSlice = true;
    if (type === NAL_IDR) this.#idr = true;
    this.#scan = at + 3;
  }

  /** The NAL being read ends at `end`. */
  #close(end: number): void {
    if (this.#nalType === NAL_SPS && !this.#sps) this.#sps = [this.#nalStart, end];
    if (this.#nalType === NAL_PPS && !this.#pps) this.#pps = [this.#nalStart, end];
  }

  /** The current unit is [0, end) of the buffer. */
  #emit(end: number): void {
    const b = this.#buf;
    if (end > this.#max || (this.#needKey && !this.#idr)) {
      // A unit lost: what follows refers to it, up to the next keyframe.
      this.#needKey = true;
      this.dropped++;
      return;
    }
    this.#needKey = false;
    let data = b.subarray(0, end);
    if (this.#sps) {
      const sps = Buffer.concat([START, nalBody(b.subarray(this.#sps[0], this.#sps[1]))]);
      try {
        this.#info = parseSps(sps.subarray(4));
        this.#lastSps = sps;
      } catch {
        this.dropped++;
        return;
      }
    }
    if (this.#pps) this.#lastPps = Buffer.concat([START, nalBody(b.subarray(this.#pps[0], this.#pps[1]))]);
    if (!this.#info) {
      this.dropped++;
      return;
    }
    if (this.#idr && (!this.#sps || !this.#pps) && this.#lastSps && this.#lastPps) {
      // A keyframe carries its configuration: SPS and PPS go in front of it (after an AUD, which comes first).
      const hdr = b[2] === 1 ? 3 : 4;
      // An AUD is a header byte and one byte of body.
      const aud = (b[hdr] & 0x1f) === NAL_AUD ? hdr + 2 : 0;
      const parts = [data.subarray(0, aud)];
      if (!this.#sps) parts.push(this.#lastSps);
      if (!this.#pps) parts.push(this.#lastPps);
      parts.push(data.subarray(aud));
      data = Buffer.concat(parts);
    }
    this.#onUnit({ data, keyframe: this.#idr, codec: this.#info.codec, width: this.#info.width, height: this.#info.height, arrivedAt: this.#arrivedAt });
  }

  /** The next unit starts at `start`. */
  #reset(start: number): void {
    this.#buf = this.#buf.subarray(start);
    this.#hasSlice = false;
    this.#idr = false;
    this.#sps = undefined;
    this.#pps = undefined;
    this.#arrivedAt = this.#now;
  }

  /** The unit being read is too large: dropped; what follows is skipped up to the next unit start. */
  #drop(): void {
    this.dropped++;
    const keep = this.#buf.subarray(this.#buf.length - 3);
    this.#buf = Buffer.from(keep);
    this.#scan = 0;
    this.#nalStart = 0;
    this.#nalType = -1;
    this.#hasSlice = false;
    this.#idr = false;
    this.#sps = undefined;
    this.#pps = undefined;
    this.#resync = true;
    this.#needKey = true;
  }
}

/** A NAL without its start code and trailing zero bytes. */
function nalBody(nal: Buffer): Buffer {
  let s = 0;
  while (s < nal.length && nal[s] === 0) s++;
  s++; // the 01 of the start code
  let e = nal.length;
  while (e > s && nal[e - 1] === 0) e--;
  return nal.subarray(s, e);
}

/** Removes emulation prevention bytes (00 00 03 -> 00 00). */
function unescape(nal: Buffer): Buffer {
  const out = Buffer.allocUnsafe(nal.length);
  let n = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[n++] = byte;
  }
  return out.subarray(0, n);
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

/**
 * The codec string (`avc1.PPCCLL`), width and height of an SPS NAL (its header byte first, no
 * start code). Throws a RangeError when it does not parse.
 */
export function parseSps(nal: Buffer): SpsInfo {
  if (nal.length < 4 || (nal[0] & 0x1f) !== NAL_SPS) throw new RangeError('not an SPS');
  const codec = `avc1.${hex(nal[1])}${hex(nal[2])}${hex(nal[3])}`;
  const r = new BitReader(unescape(nal.subarray(1)));
  const profile = r.bits(8);
  r.skip(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  if (HIGH_PROFILES.has(profile)) {
    chroma = r.ue();
    if (chroma > 3) throw new RangeError('SPS: bad chroma_format_idc');
    if (chroma === 3 && r.bit()) chroma = 0; // separate colour planes: ChromaArrayType 0
    r.ue();
    r.ue();
    r.skip(1);
    if (r.bit()) {
      for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
        if (!r.bit()) continue;
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
          if (next !== 0) next = (last + r.se() + 256) % 256;
          last = next === 0 ? last : next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.skip(1);
    r.se();
    r.se();
    const n = r.ue();
    if (n > 255) throw new RangeError('SPS: too many ref frames in the POC cycle');
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.skip(1);
  const wMbs = r.ue() + 1;
  const hMaps = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.skip(1);
  r.skip(1);
  let [cl, cr, ct, cb] = [0, 0, 0, 0];
  if (r.bit()) [cl, cr, ct, cb] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const cropX = chroma === 0 ? 1 : chroma === 3 ? 1 : 2;
  const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
  const width = wMbs * 16 - cropX * (cl + cr);
  const height = (2 - frameMbsOnly) * hMaps * 16 - cropY * (ct + cb);
  if (width <= 0 || height <= 0 || width > 65535 || height > 65535) throw new RangeError('SPS: bad size');
  return { codec, width, height };
}
