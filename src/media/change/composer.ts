/**
 * The composer of change-detection video: one picture of raw pixels per source, which a full
 * frame replaces and each rectangle is placed on (docs/behaviour.md, "Change-detection video").
 * Pure: it checks every rectangle against the picture and refuses, never clips, what does not
 * fit, so bad input changes nothing.
 */

/** Why a piece of input was refused. */
export type ComposeRefusal = 'outside' | 'no-picture' | 'size' | 'pixels';

/** A picture that rectangles are placed on. */
export class Picture {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** The pixels, row after row, `channels` bytes each. */
  readonly data: Buffer;

  constructor(width: number, height: number, channels: number, data?: Uint8Array) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0xffff || height > 0xffff) {
      throw new RangeError(`picture size ${width}x${height} outside 1..65535`);
    }
    this.width = width;
    this.height = height;
    this.channels = channels;
    const n = width * height * channels;
    if (data && data.length !== n) throw new RangeError(`a ${width}x${height}x${channels} picture is ${n} bytes (got ${data.length})`);
    this.data = Buffer.alloc(n);
    if (data) this.data.set(data);
  }

  /** Replaces every pixel (a full frame). Refused when the size differs. */
  replace(pixels: Uint8Array): ComposeRefusal | undefined {
    if (pixels.length !== this.data.length) return 'pixels';
    this.data.set(pixels);
    return undefined;
  }

  /**
   * Places `pixels` (the rectangle's rows, tightly packed, `channels` bytes each) at the
   * rectangle. Refused, with nothing changed, when the rectangle is empty or leaves the picture,
   * or the pixels are not w x h x channels bytes.
   */
  place(r: { x: number; y: number; w: number; h: number }, pixels: Uint8Array): ComposeRefusal | undefined {
    const why = checkRect(r, this.width, this.height);
    if (why) return why;
    const rowBytes = r.w * this.channels;
    if (pixels.length !== rowBytes * r.h) return 'pixels';
    const stride = this.width * this.channels;
    let to = (r.y * this.width + r.x) * this.channels;
    for (let row = 0, from = 0; row < r.h; row++, from += rowBytes, to += stride) {
      this.data.set(pixels.subarray(from, from + rowBytes), to);
    }
    return undefined;
  }
}

/** 'outside' when the rectangle is empty or not wholly inside a width x height picture. */
export function checkRect(r: { x: number; y: number; w: number; h: number }, width: number, height: number): ComposeRefusal | undefined {
  if (r.w < 1 || r.h < 1 || r.x < 0 || r.y < 0 || r.x + r.w > width || r.y + r.h > height) return 'outside';
  return undefined;
}
