/**
 * H.264 Annex B helpers (pure functions, docs/protocol.md 4.1): access units cut at their access
 * unit delimiters, the keyframe test, and the codec string, width and height read from the SPS.
 */
import { BitReader } from './bits.js';

/** One NAL unit of an Annex B buffer: its type and where its bytes (after the start code) lie. */
export interface NalUnit {
  type: number;
  start: number;
  end: number;
}

/** The NAL units of an Annex B buffer (3- or 4-byte start codes). */
export function nalUnits(b: Buffer): NalUnit[] {
  const starts: number[] = [];
  for (let i = 0; i + 2 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1] - 3 : b.length;
    // A 4-byte start code's leading zero belongs to no NAL unit.
    while (end > s && b[end - 1] === 0 && k + 1 < starts.length) end--;
    return { type: b[s] & 0x1f, start: s, end };
  });
}

/** NAL unit types used here. */
export const NAL = { IDR: 5, SPS: 7, PPS: 8, AUD: 9 } as const;

/** True when the access unit holds an IDR picture. */
export function isIdr(au: Buffer): boolean {
  return nalUnits(au).some((n) => n.type === NAL.IDR);
}

/**
 * AccessUnits: cuts an Annex B byte stream, split anywhere, into access units at each access unit
 * delimiter (ffmpeg writes them with `-bsf:v h264_metadata=aud=insert`). An access unit is handed
 * on when the next one starts; one over `maxBytes` is dropped and counted, never kept growing.
 */
export class AccessUnits {
  #buf: Buffer = Buffer.alloc(0);
  /** Where the search for the next delimiter resumes. */
  #scan = 1;
  #oversized = false;
  /** Access units dropped for being over `maxBytes`. */
  dropped = 0;

  constructor(
    private readonly onUnit: (au: Buffer) => void,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    for (;;) {
      const at = this.#nextAud();
      if (at < 0) break;
      const au = this.#buf.subarray(0, at);
      this.#buf = this.#buf.subarray(at);
      this.#scan = 1;
      if (this.#oversized) {
        this.#oversized = false;
        this.dropped++;
      } else if (au.length > 0) this.onUnit(au);
    }
    if (this.#buf.length > this.maxBytes) {
      // Forget the bytes; the rest of this unit is dropped when the next one starts.
      this.#oversized = true;
      this.#buf = this.#buf.subarray(this.#buf.length - 4);
      this.#scan = 1;
    }
  }

  /** The last access unit (no delimiter follows it): at the end of the stream. */
  flush(): void {
    const au = this.#buf;
    this.#buf = Buffer.alloc(0);
    if (au.length > 0 && !this.#oversized) this.onUnit(au);
    this.#oversized = false;
  }

  /** The offset of the next delimiter's start code past offset 0, or -1. */
  #nextAud(): number {
    const b = this.#buf;
    for (let i = this.#scan; i + 3 < b.length; i++) {
      if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1 && (b[i + 3] & 0x1f) === NAL.AUD) {
        const at = b[i - 1] === 0 ? i - 1 : i;
        // The delimiter this unit starts with (4-byte start code at 0) is not the next one.
        if (at > 0) return at;
      }
    }
    this.#scan = Math.max(1, b.length - 4);
    return -1;
  }
}

/** The SPS of an access unit (without its start code), if it carries one. */
export function findSps(au: Buffer): Buffer | undefined {
  const n = nalUnits(au).find((u) => u.type === NAL.SPS);
  return n ? au.subarray(n.start, n.end) : undefined;
}

/** The WebCodecs codec string of an SPS: `avc1.PPCCLL` (profile, constraint flags, level). */
export function avcCodecString(sps: Buffer): string {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
  return `avc1.${hex(sps[1])}${hex(sps[2])}${hex(sps[3])}`;
}


/** The width and height an SPS describes (after cropping). Throws RangeError on a malformed SPS. */
export function spsDimensions(sps: Buffer): { width: number; height: number } {
  // Emulation prevention bytes (00 00 03) are not part of the RBSP.
  const rbsp: number[] = [];
  for (let i = 1; i < sps.length; i++) {
    if (i >= 3 && sps[i] === 3 && sps[i - 1] === 0 && sps[i - 2] === 0) continue;
    rbsp.push(sps[i]);
  }
  const r = new BitReader(Buffer.from(rbsp));
  const profile = r.bits(8);
  r.bits(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    chroma = r.ue();
    if (chroma === 3) r.bit();
    r.ue();
    r.ue();
    r.bit();
    if (r.bit()) {
      for (let i = 0; i < (chroma !== 3 ? 8 : 12); i++) {
        if (!r.bit()) continue;
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64) && next !== 0; j++) {
          next = (last + r.se() + 256) % 256;
          if (next !== 0) last = next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.bit();
    r.se();
    r.se();
    const n = r.ue();
    if (n > 255) throw new RangeError('SPS: too many reference frames in the POC cycle');
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.bit();
  const wMbs = r.ue() + 1;
  const hMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit();
  r.bit(); // direct_8x8_inference
  let crop = [0, 0, 0, 0];
  if (r.bit()) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const subW = chroma === 1 || chroma === 2 ? 2 : 1;
  const subH = chroma === 1 ? 2 : 1;
  const cropX = chroma === 0 ? 1 : subW;
  const cropY = (chroma === 0 ? 1 : subH) * (2 - frameMbsOnly);
  const width = wMbs * 16 - cropX * (crop[0] + crop[1]);
  const height = (2 - frameMbsOnly) * hMapUnits * 16 - cropY * (crop[2] + crop[3]);
  if (width <= 0 || height <= 0 || width > 65535 || height > 65535) throw new RangeError(`SPS: bad size ${width}x${height}`);
  return { width, height };
}
