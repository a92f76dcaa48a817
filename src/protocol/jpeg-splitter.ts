/**
 * JpegSplitter: cuts a stream of concatenated JPEG images (ffmpeg's `-f mjpeg` output) into
 * whole images, whatever the chunk boundaries. Each image runs from SOI (FF D8) to EOI (FF D9);
 * inside the entropy-coded data a literal FF is always followed by 00 or a restart marker, so
 * the first FF D9 after an SOI ends the image. Bounded: an image larger than `maxBytes` is dropped.
 */

/** Options of a JpegSplitter. */
export interface JpegSplitterOptions {
  /** Largest image kept; bigger ones are dropped and counted. @default 8 MiB */
  maxBytes?: number;
}

export class JpegSplitter {
  readonly #onImage: (jpeg: Buffer) => void;
  readonly #max: number;
  #parts: Buffer[] = [];
  #length = 0;
  #inImage = false;
  /** The previous chunk ended with FF: a marker may straddle two chunks. */
  #lastFF = false;
  /** Images dropped for being too large. */
  dropped = 0;

  constructor(onImage: (jpeg: Buffer) => void, o: JpegSplitterOptions = {}) {
    this.#onImage = onImage;
    this.#max = o.maxBytes ?? 8 * 1024 * 1024;
  }

  /** Feeds bytes. */
  push(chunk: Buffer): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      const prevFF = i === 0 ? this.#lastFF : chunk[i - 1] === 0xff;
      if (!prevFF) continue;
      if (!this.#inImage && b === 0xd8) {
        this.#inImage = true;
        this.#parts = i === 0 ? [Buffer.from([0xff])] : [];
        this.#length = this.#parts.length;
        start = i === 0 ? 0 : i - 1;
      } else if (this.#inImage && b === 0xd9) {
        this.#take(chunk.subarray(start, i + 1));
        start = i + 1;
        if (!this.#inImage) continue; // it was too large
        const img = this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts, this.#length);
        this.#inImage = false;
        this.#parts = [];
        this.#length = 0;
        this.#onImage(img);
      }
    }
    if (this.#inImage) this.#take(chunk.subarray(start));
    this.#lastFF = chunk.length > 0 && chunk[chunk.length - 1] === 0xff;
  }

  #take(part: Buffer): void {
    if (part.length === 0) return;
    this.#length += part.length;
    if (this.#length > this.#max) {
      // Too large: stop keeping it, count it, and wait for the next SOI.
      this.dropped++;
      this.#parts = [];
      this.#length = 0;
      this.#inImage = false;
      return;
    }
    this.#parts.push(part);
  }
}

/** Width and height from a JPEG's frame header (SOF0-SOF15 except DHT/JPG/DAC), or undefined. */
export function jpegDimensions(jpeg: Buffer): { width: number; height: number } | undefined {
  let o = 2;
  while (o + 9 < jpeg.length) {
    if (jpeg[o] !== 0xff) return undefined;
    const marker = jpeg[o + 1];
    if (marker === 0xff) {
      o++;
      continue;
    }
    const len = jpeg.readUInt16BE(o + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: jpeg.readUInt16BE(o + 5), width: jpeg.readUInt16BE(o + 7) };
    }
    o += 2 + len;
  }
  return undefined;
}
