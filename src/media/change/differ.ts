/**
 * The change detector of change-detection video: compares a new frame of raw RGB or RGBA
 * pixels with the picture the receivers hold and returns the rectangles that cover what changed
 * (docs/behaviour.md, "Change-detection video").
 *
 * It works on rows and 16x16 blocks over typed arrays: rows whose bytes are equal are skipped
 * with one native compare each; in the other rows each pixel is tested against the threshold
 * and counted in its block (changed pixels, and their bounding box). Changed blocks that touch
 * (4-connected) form one area; an area with fewer changed pixels than minChangeAreaSize is
 * dropped; each remaining area gives one rectangle, the bounding box of its changed pixels.
 * Nothing is allocated per pixel or per frame except the result.
 */
import type { ResolvedChangeSettings } from './settings.js';

/** One changed area: its rectangle and how many of its pixels changed. */
export interface ChangedRect {
  x: number;
  y: number;
  w: number;
  h: number;
  changed: number;
}

/** Pixel layouts the differ takes: 3 (RGB) or 4 (RGBA, alpha ignored) bytes per pixel. */
export type PixelChannels = 3 | 4;

const SHIFT = 4;
const BLOCK = 1 << SHIFT;

/** Compares frames of one size and layout. One per source; it keeps its block tables between calls. */
export class FrameDiffer {
  readonly #w: number;
  readonly #h: number;
  readonly #ch: PixelChannels;
  readonly #bw: number;
  readonly #bh: number;
  readonly #count: Uint32Array;
  readonly #minX: Uint16Array;
  readonly #maxX: Uint16Array;
  readonly #minY: Uint16Array;
  readonly #maxY: Uint16Array;
  readonly #label: Int32Array;
  readonly #stack: Int32Array;
  readonly #sum: number;
  readonly #tr: number;
  readonly #tg: number;
  readonly #tb: number;
  readonly #minArea: number;

  constructor(width: number, height: number, channels: PixelChannels, s: Pick<ResolvedChangeSettings, 'pixelColorThreshold' | 'pixelColorThresholdR' | 'pixelColorThresholdG' | 'pixelColorThresholdB' | 'minChangeAreaSize'>) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0xffff || height > 0xffff) {
      throw new RangeError(`picture size ${width}x${height} outside 1..65535`);
    }
    this.#w = width;
    this.#h = height;
    this.#ch = channels;
    this.#bw = Math.ceil(width / BLOCK);
    this.#bh = Math.ceil(height / BLOCK);
    const n = this.#bw * this.#bh;
    this.#count = new Uint32Array(n);
    this.#minX = new Uint16Array(n);
    this.#maxX = new Uint16Array(n);
    this.#minY = new Uint16Array(n);
    this.#maxY = new Uint16Array(n);
    this.#label = new Int32Array(n);
    this.#stack = new Int32Array(n);
    // (|dR|+|dG|+|dB|)/3 > t  <=>  |dR|+|dG|+|dB| > 3t (integers).
    this.#sum = s.pixelColorThreshold >= 0 ? 3 * s.pixelColorThreshold : -1;
    this.#tr = s.pixelColorThresholdR;
    this.#tg = s.pixelColorThresholdG;
    this.#tb = s.pixelColorThresholdB;
    this.#minArea = s.minChangeAreaSize;
  }

  get width(): number {
    return this.#w;
  }

  get height(): number {
    return this.#h;
  }

  get channels(): PixelChannels {
    return this.#ch;
  }

  /** Bytes of one frame. */
  get frameBytes(): number {
    return this.#w * this.#h * this.#ch;
  }

  /**
   * The rectangles where `next` differs from `prev` by more than the threshold, areas with
   * fewer than minChangeAreaSize changed pixels left out. Empty when nothing changed.
   */
  diff(prev: Uint8Array, next: Uint8Array): ChangedRect[];
  /**
   * The same, but gives up and returns undefined as soon as more than `maxShare` of the pixels
   * changed (for a caller that would then send the whole frame anyway).
   */
  diff(prev: Uint8Array, next: Uint8Array, maxShare: number): ChangedRect[] | undefined;
  diff(prev: Uint8Array, next: Uint8Array, maxShare = Infinity): ChangedRect[] | undefined {
    const bytes = this.frameBytes;
    if (prev.length !== bytes || next.length !== bytes) throw new RangeError(`a ${this.#w}x${this.#h}x${this.#ch} frame is ${bytes} bytes (got ${prev.length} and ${next.length})`);
    // Buffers for the native row compare; plain Uint8Arrays for the per-pixel loop.
    const ab = Buffer.from(prev.buffer, prev.byteOffset, prev.byteLength);
    const bb = Buffer.from(next.buffer, next.byteOffset, next.byteLength);
    const a = new Uint8Array(prev.buffer, prev.byteOffset, prev.byteLength);
    const b = new Uint8Array(next.buffer, next.byteOffset, next.byteLength);
    this.#count.fill(0);
    const w = this.#w;
    const ch = this.#ch;
    const rowBytes = w * ch;
    const count = this.#count;
    const minX = this.#minX;
    const maxX = this.#maxX;
    const minY = this.#minY;
    const maxY = this.#maxY;
    const sum = this.#sum;
    const tr = this.#tr;
    const tg = this.#tg;
    const tb = this.#tb;
    let any = false;
    const maxChanged = maxShare * this.#w * this.#h;
    let changed = 0;
    for (let y = 0; y < this.#h; y++) {
      const row = y * rowBytes;
      if (ab.compare(bb, row, row + rowBytes, row, row + rowBytes) === 0) continue;
      const blockRow = (y >> SHIFT) * this.#bw;
      for (let x0 = 0, k = blockRow; x0 < w; x0 += BLOCK, k++) {
        const x1 = x0 + BLOCK < w ? x0 + BLOCK : w;
        const from = row + x0 * ch;
        const to = row + x1 * ch;
        // This row's changed pixels in this block: how many, and the first and last x.
        let n = 0;
        let lo = 0;
        let hi = 0;
        if (sum >= 0) {
          for (let x = x0, i = from; i < to; x++, i += ch) {
            const dr = a[i] - b[i];
            const dg = a[i + 1] - b[i + 1];
            const db = a[i + 2] - b[i + 2];
            if ((dr < 0 ? -dr : dr) + (dg < 0 ? -dg : dg) + (db < 0 ? -db : db) > sum) {
              if (n++ === 0) lo = x;
              hi = x;
            }
          }
        } else {
          for (let x = x0, i = from; i < to; x++, i += ch) {
            const dr = a[i] - b[i];
            const dg = a[i + 1] - b[i + 1];
            const db = a[i + 2] - b[i + 2];
            if ((dr < 0 ? -dr : dr) > tr || (dg < 0 ? -dg : dg) > tg || (db < 0 ? -db : db) > tb) {
              if (n++ === 0) lo = x;
              hi = x;
            }
          }
        }
        if (n === 0) continue;
        changed += n;
        if (changed > maxChanged) return undefined;
        if (count[k] === 0) {
          minX[k] = lo;
          maxX[k] = hi;
          minY[k] = y;
        } else {
          if (lo < minX[k]) minX[k] = lo;
          if (hi > maxX[k]) maxX[k] = hi;
        }
        maxY[k] = y;
        count[k] += n;
        any = true;
      }
    }
    return any ? this.#areas() : [];
  }

  /** Joins touching changed blocks into areas (flood fill over the block grid). */
  #areas(): ChangedRect[] {
    const count = this.#count;
    const minX = this.#minX;
    const maxX = this.#maxX;
    const minY = this.#minY;
    const maxY = this.#maxY;
    const label = this.#label;
    const stack = this.#stack;
    const bw = this.#bw;
    const n = count.length;
    label.fill(0);
    const out: ChangedRect[] = [];
    for (let start = 0; start < n; start++) {
      if (count[start] === 0 || label[start] !== 0) continue;
      let x0 = 0xffff;
      let y0 = 0xffff;
      let x1 = 0;
      let y1 = 0;
      let changed = 0;
      let sp = 0;
      stack[sp++] = start;
      label[start] = 1;
      while (sp > 0) {
        const k = stack[--sp];
        changed += count[k];
        if (minX[k] < x0) x0 = minX[k];
        if (maxX[k] > x1) x1 = maxX[k];
        if (minY[k] < y0) y0 = minY[k];
        if (maxY[k] > y1) y1 = maxY[k];
        const bx = k % bw;
        // Each neighbour is pushed once (labelled when pushed), so the stack never exceeds n.
        if (bx > 0 && count[k - 1] !== 0 && label[k - 1] === 0) (label[k - 1] = 1), (stack[sp++] = k - 1);
        if (bx < bw - 1 && count[k + 1] !== 0 && label[k + 1] === 0) (label[k + 1] = 1), (stack[sp++] = k + 1);
        if (k >= bw && count[k - bw] !== 0 && label[k - bw] === 0) (label[k - bw] = 1), (stack[sp++] = k - bw);
        if (k + bw < n && count[k + bw] !== 0 && label[k + bw] === 0) (label[k + bw] = 1), (stack[sp++] = k + bw);
      }
      if (changed < this.#minArea) continue;
      out.push({ x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1, changed });
    }
    return out;
  }
}

/** Copies the rectangle `r` of a frame (`channels` bytes per pixel, `width` wide) into a new tightly packed buffer. */
export function cropRect(frame: Uint8Array, width: number, channels: number, r: { x: number; y: number; w: number; h: number }): Buffer {
  const out = Buffer.allocUnsafe(r.w * r.h * channels);
  const rowBytes = r.w * channels;
  for (let row = 0; row < r.h; row++) {
    const from = ((r.y + row) * width + r.x) * channels;
    out.set(frame.subarray(from, from + rowBytes), row * rowBytes);
  }
  return out;
}
