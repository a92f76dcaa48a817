/**
 * H.264 in FLV (ffmpeg's `-f flv`), cut into access units in Annex B (docs/protocol.md, 4.1.1).
 * FLV frames each packet with its size, so an access unit leaves as soon as its last byte
 * arrived (Annex B alone is only known complete when the next unit starts). A pure parser,
 * bounded: a tag larger than `maxBytes` is skipped and counted, and the units after it up to the
 * next keyframe are dropped too.
 *
 * FLV: a 9-byte header and a 4-byte size, then tags of an 11-byte header (type, u24 data size,
 * timestamp, stream id), the data and a u32 size. A video tag of codec 7 (AVC) holds an
 * AVCDecoderConfigurationRecord (packet type 0: SPS and PPS) or NAL units each after a big-endian
 * length (packet type 1). Every keyframe goes out with the SPS and PPS in front of it.
 */
import { parseSps, type AccessUnit, type SpsInfo } from './annexb.js';
import { PendingInput } from './pending-input.js';

export interface FlvOptions {
  /** Largest tag kept. @default 8 MiB */
  maxBytes?: number;
}

const START = Buffer.from([0, 0, 0, 1]);

export class FlvH264Splitter {
  readonly #onUnit: (au: AccessUnit) => void;
  readonly #max: number;
  /** Bytes read and not parsed yet (an oversized tag is skipped as it comes). */
  readonly #in = new PendingInput();
  #header = false;
  #lengthSize = 4;
  /** SPS and PPS of the last decoder configuration, each after a start code. */
  #config: Buffer | undefined;
  #info: SpsInfo | undefined;
  #needKey = false;
  /** Tags dropped: too large, malformed, before the configuration, or waiting for a keyframe after a loss. */
  dropped = 0;

  constructor(onUnit: (au: AccessUnit) => void, o: FlvOptions = {}) {
    this.#onUnit = onUnit;
    this.#max = o.maxBytes ?? 8 * 1024 * 1024;
  }

  push(chunk: Buffer, now = performance.now()): void {
    const input = this.#in;
    input.add(chunk);
    for (;;) {
      if (!this.#header) {
        const h = input.peek(13);
        if (!h) return;
        if (h.toString('latin1', 0, 3) !== 'FLV') throw new RangeError('FLV: no signature');
        const hl = h.readUInt32BE(5);
        if (hl < 9 || hl > 1024) throw new RangeError('FLV: bad header length');
        if (!input.peek(hl + 4)) return;
        this.#header = true;
        input.consume(hl + 4);
        continue;
      }
      const h = input.peek(11);
      if (!h) return;
      const size = h.readUIntBE(1, 3);
      const total = 11 + size + 4;
      if (size > this.#max) {
        this.dropped++;
        this.#needKey = true;
        input.dropUnit(total);
        continue;
      }
      const b = input.peek(total);
      if (!b) return;
      const type = b[0] & 0x1f;
      const data = b.subarray(11, 11 + size);
      input.consume(total);
      if (type === 9) this.#video(data, now);
    }
  }

  #video(d: Buffer, now: number): void {
    if (d.length < 5 || (d[0] & 0x0f) !== 7) return; // not AVC
    const packetType = d[1];
    const body = d.subarray(5);
    try {
      if (packetType === 0) return this.#configure(body);
      if (packetType !== 1) return;
      const nals: Buffer[] = [];
      let idr = false;
      let sps = false;
      let o = 0;
      while (o < body.length) {
        if (o + this.#lengthSize > body.length) throw new RangeError('FLV: truncated NAL length');
        const n = body.readUIntBE(o, this.#lengthSize);
        o += this.#lengthSize;
        if (n === 0 || o + n > body.length) throw new RangeError('FLV: NAL past the end of its tag');
        const nal = body.subarray(o, o + n);
        o += n;
        const t = nal[0] & 0x1f;
        if (t === 5) idr = true;
        if (t === 7) {
          sps = true;
          this.#info = parseSps(nal);
        }
        nals.push(START, nal);
      }
      // A keyframe is an IDR access unit (the FLV key flag alone may mark a recovery point).
      const keyframe = idr;
      if (!this.#info || (this.#needKey && !keyframe)) {
        this.dropped++;
        return;
      }
      this.#needKey = false;
      // A keyframe carries its configuration: SPS and PPS go in front of it when it lacks them.
      if (keyframe && !sps && this.#config) nals.unshift(this.#config);
      this.#onUnit({ data: Buffer.concat(nals), keyframe, codec: this.#info.codec, width: this.#info.width, height: this.#info.height, arrivedAt: now });
    } catch {
      this.dropped++;
      this.#needKey = true;
    }
  }

  /** AVCDecoderConfigurationRecord (ISO 14496-15, 5.2.4.1): NAL length size, SPS and PPS. */
  #configure(r: Buffer): void {
    if (r.length < 7 || r[0] !== 1) throw new RangeError('FLV: bad AVC configuration');
    this.#lengthSize = (r[4] & 3) + 1;
    const parts: Buffer[] = [];
    let o = 5;
    for (const mask of [0x1f, 0xff]) {
      if (o >= r.length) throw new RangeError('FLV: truncated AVC configuration');
      const count = r[o++] & mask;
      for (let i = 0; i < count; i++) {
        if (o + 2 > r.length) throw new RangeError('FLV: truncated AVC configuration');
        const n = r.readUInt16BE(o);
        o += 2;
        if (o + n > r.length) throw new RangeError('FLV: truncated AVC configuration');
        const nal = r.subarray(o, o + n);
        o += n;
        if ((nal[0] & 0x1f) === 7) this.#info = parseSps(nal);
        parts.push(START, nal);
      }
    }
    this.#config = Buffer.concat(parts);
  }
}
