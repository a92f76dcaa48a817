/**
 * A synthetic screen share for change-detection tests and the benchmark: a still desktop
 * (gradient, windows with text-like lines), a moving cursor and a clock that ticks once a second
 * (every `fps` frames). Frames are RGBA, drawn into one buffer per scene; the same frame number
 * always gives the same pixels.
 */
export interface SceneOptions {
  width?: number;
  height?: number;
  /** Side of the square cursor. @default 64 */
  cursor?: number;
  /** Frames per second: the clock ticks every `fps` frames. @default 30 */
  fps?: number;
}

export class ScreenScene {
  readonly width: number;
  readonly height: number;
  readonly cursor: number;
  readonly fps: number;
  readonly #desktop: Uint8Array;
  readonly #frame: Uint8Array;

  constructor(o: SceneOptions = {}) {
    this.width = o.width ?? 1280;
    this.height = o.height ?? 720;
    this.cursor = o.cursor ?? 64;
    this.fps = o.fps ?? 30;
    this.#desktop = new Uint8Array(this.width * this.height * 4);
    this.#frame = new Uint8Array(this.#desktop.length);
    this.#drawDesktop();
  }

  /** Frame n (a view of the scene's one buffer: copy it to keep it). */
  frame(n: number): Uint8Array {
    const f = this.#frame;
    f.set(this.#desktop);
    this.#drawClock(Math.floor(n / this.fps));
    const { x, y } = this.cursorAt(n);
    this.#drawCursor(x, y);
    return f;
  }

  /** Where the cursor's top-left corner is in frame n: a slow sweep across the screen. */
  cursorAt(n: number): { x: number; y: number } {
    const spanX = Math.max(1, this.width - this.cursor);
    const spanY = Math.max(1, this.height - this.cursor);
    const px = (n * 5) % (2 * spanX);
    const py = (n * 3) % (2 * spanY);
    return { x: px < spanX ? px : 2 * spanX - px, y: py < spanY ? py : 2 * spanY - py };
  }

  #put(x: number, y: number, r: number, g: number, b: number): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    const f = this.#frame;
    f[i] = r;
    f[i + 1] = g;
    f[i + 2] = b;
    f[i + 3] = 255;
  }

  #drawDesktop(): void {
    const d = this.#desktop;
    const { width: w, height: h } = this;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        d[i] = 20 + ((x * 60) / w) | 0;
        d[i + 1] = 60 + ((y * 80) / h) | 0;
        d[i + 2] = 120;
        d[i + 3] = 255;
      }
    }
    // Windows: a title bar and lines of "text" (runs of dark pixels of varying length).
    const windows = [
      [0.05, 0.08, 0.5, 0.6],
      [0.4, 0.3, 0.55, 0.6],
    ];
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 0x100000000);
    for (const [fx, fy, fw, fh] of windows) {
      const x0 = Math.floor(fx * w);
      const y0 = Math.floor(fy * h);
      const x1 = Math.min(w, x0 + Math.floor(fw * w));
      const y1 = Math.min(h, y0 + Math.floor(fh * h));
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * w + x) * 4;
          const bar = y - y0 < 24;
          d[i] = bar ? 60 : 245;
          d[i + 1] = bar ? 70 : 245;
          d[i + 2] = bar ? 90 : 240;
        }
      }
      for (let line = y0 + 36; line + 10 < y1; line += 16) {
        let x = x0 + 12;
        while (x < x1 - 20) {
          const word = 8 + Math.floor(rnd() * 50);
          for (let yy = line; yy < line + 9; yy++) {
            for (let xx = x; xx < Math.min(x + word, x1 - 12); xx++) {
              if (rnd() < 0.55) {
                const i = (yy * w + xx) * 4;
                d[i] = d[i + 1] = d[i + 2] = 30;
              }
            }
          }
          x += word + 6;
        }
      }
    }
  }

  /** A clock in the top-right corner: six 7-segment-like digits of the seconds count. */
  #drawClock(seconds: number): void {
    const digits = String(seconds % 1_000_000).padStart(6, '0');
    const cw = 14;
    const ch = 24;
    const x0 = this.width - 6 * (cw + 4) - 12;
    const y0 = 8;
    for (let y = y0 - 4; y < y0 + ch + 4; y++) for (let x = x0 - 4; x < x0 + 6 * (cw + 4) + 4; x++) this.#put(x, y, 15, 15, 25);
    const SEG = [0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f];
    for (let k = 0; k < 6; k++) {
      const s = SEG[digits.charCodeAt(k) - 48];
      const x = x0 + k * (cw + 4);
      const seg = (bit: number, sx: number, sy: number, sw: number, sh: number): void => {
        if (!(s & (1 << bit))) return;
        for (let yy = sy; yy < sy + sh; yy++) for (let xx = sx; xx < sx + sw; xx++) this.#put(xx, yy, 255, 220, 120);
      };
      seg(0, x, y0, cw, 3);
      seg(1, x + cw - 3, y0, 3, ch / 2);
      seg(2, x + cw - 3, y0 + ch / 2, 3, ch / 2);
      seg(3, x, y0 + ch - 3, cw, 3);
      seg(4, x, y0 + ch / 2, 3, ch / 2);
      seg(5, x, y0, 3, ch / 2);
      seg(6, x, y0 + ch / 2 - 1, cw, 3);
    }
  }

  /** An arrow: a white triangle with a black edge, in a cursor x cursor square. */
  #drawCursor(cx: number, cy: number): void {
    const n = this.cursor;
    for (let y = 0; y < n; y++) {
      const span = Math.floor((y * 2) / 3);
      for (let x = 0; x <= span && x < n; x++) {
        const edge = x === 0 || x === span || y === n - 1;
        const v = edge ? 0 : 255;
        this.#put(cx + x, cy + y, v, v, v);
      }
    }
  }
}

/** RGBA to RGB (the composed picture's layout). */
export function rgbaToRgb(rgba: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    out[j] = rgba[i];
    out[j + 1] = rgba[i + 1];
    out[j + 2] = rgba[i + 2];
  }
  return out;
}
