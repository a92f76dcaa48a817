/**
 * TestPattern: the built-in video source. It draws a moving image (scrolling colour bars, a
 * scrolling grey ramp, a bright box that bounces across) with the label, the frame counter and
 * the wall-clock time in a built-in 5x7 bitmap font, and encodes it as a JPEG with sharp (libvips,
 * off the main thread: the event loop stays free for the network).
 * A receiver can see at a glance that frames arrive, in order, and how old they are.
 *
 * Each instance owns one RGBA buffer and redraws every pixel of it per frame, so `frame(n, now)`
 * is deterministic and allocates no pixel memory per frame.
 */
import { ConfigError, ErrorCode } from '../errors.js';

import { BARS, BLACK, CELL_W, FONT, GLYPH_H, GLYPH_W, GREYS, WHITE } from './pattern-art.js';
import { loadSharp, SharpMissingError } from './sharp.js';

export { SharpMissingError } from './sharp.js';

/** Options of a TestPattern. */
export interface TestPatternOptions {
  /** Image width in pixels, an integer in 16..7680. @default 640 */
  width?: number;
  /** Image height in pixels, an integer in 16..4320. @default 360 */
  height?: number;
  /** Frames per second emitted by `start()`, a number in (0, 240]. @default 15 */
  fps?: number;
  /** JPEG quality, an integer in 1..100. @default 70 */
  quality?: number;
  /** Text drawn on the image, upper-cased; at most 64 characters. @default 'camwire' */
  label?: string;
}

/** Description of one frame emitted by `TestPattern.start()`. */
export interface TestPatternFrameInfo {
  /** Frame number: 0 for the first frame an instance emits, then 1, 2, ... (skipped slots take no number). */
  n: number;
  width: number;
  height: number;
  /** Capture time, ms since the epoch; the clock drawn on the image shows the same instant. */
  timestamp: number;
}

/** A rectangle of the image, in pixels. */
export interface TestPatternRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where the parts of frame n are drawn; text regions include their black backing. */
export interface TestPatternRegions {
  /** The moving box. */
  box: TestPatternRegion;
  /** The label line. */
  label: TestPatternRegion;
  /** The "FRAME 000123" line. */
  counter: TestPatternRegion;
  /** The "12:34:56.789" line. */
  clock: TestPatternRegion;
}

const DEFAULTS: Readonly<Required<TestPatternOptions>> = {
  width: 640,
  height: 360,
  fps: 15,
  quality: 70,
  label: 'camwire',
};

const MAX_LABEL = 64;
const COUNTER_DIGITS = 6;

function invalidOption(name: string, message: string): RangeError {
  return Object.assign(new RangeError(`option ${name}: ${message}`), { code: ErrorCode.CONFIG_INVALID });
}

function intOption(o: TestPatternOptions, name: 'width' | 'height' | 'quality', min: number, max: number): number {
  const v: unknown = o[name];
  if (v === undefined) return DEFAULTS[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidOption(name, `must be an integer in ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

function resolve(o: TestPatternOptions): Required<TestPatternOptions> {
  const fps: unknown = o.fps ?? DEFAULTS.fps;
  if (typeof fps !== 'number' || !Number.isFinite(fps) || fps <= 0 || fps > 240) {
    throw invalidOption('fps', `must be a number greater than 0 and at most 240, got ${String(fps)}`);
  }
  const label: unknown = o.label ?? DEFAULTS.label;
  if (typeof label !== 'string' || label.length > MAX_LABEL) {
    throw invalidOption('label', `must be a string of at most ${MAX_LABEL} characters`);
  }
  return {
    width: intOption(o, 'width', 16, 7680),
    height: intOption(o, 'height', 16, 4320),
    fps,
    quality: intOption(o, 'quality', 1, 100),
    label,
  };
}

function counterText(n: number): string {
  return `FRAME ${String(n).padStart(COUNTER_DIGITS, '0')}`;
}

function pad2(v: number): string {
  return v < 10 ? `0${v}` : String(v);
}

/** Marks a tick whose frame is still being encoded. */
const PENDING = Symbol('pending');

/**
 * TestPattern is a synthetic video source: it renders numbered, time-stamped JPEG frames of a
 * moving image, on demand with `frame()` or at a steady rate with `start()`.
 *
 * ```ts
 * const pattern = new TestPattern({ label: 'cam 1' });
 * pattern.start((jpeg, { width, height, timestamp }) =>
 *   sender.sendVideoFrame(jpeg, { imageType: 'jpeg', width, height, timestamp }));
 * ```
 */
export class TestPattern {
  /** Image width in pixels. */
  readonly width: number;
  /** Image height in pixels. */
  readonly height: number;
  /** Frame rate of `start()`. */
  readonly fps: number;
  readonly #quality: number;
  readonly #label: string;
  /** The one RGBA buffer of this instance, redrawn in full by every frame. */
  readonly #rgba: Uint8Array;
  /** The same memory as 32-bit pixels. */
  readonly #px: Uint32Array;
  /** Font magnification. */
  readonly #scale: number;
  /** Rows [0, #barsEnd) hold the colour bars, the rest the grey ramp. */
  readonly #barsEnd: number;
  readonly #boxSize: number;
  readonly #boxY: number;
  #frames = 0;
  #skipped = 0;
  #onFrame: ((jpeg: Buffer, info: TestPatternFrameInfo) => void) | undefined;
  #onError: ((err: SharpMissingError) => void) | undefined;
  #busy: Promise<void> = Promise.resolve();
  /** What start() emits: JPEG images, or raw RGBA pixels. */
  #format: 'jpeg' | 'rgba' = 'jpeg';
  /** The next tick's timer, PENDING while a frame is being encoded, undefined when idle. */
  #timer: NodeJS.Timeout | typeof PENDING | undefined;
  #t0 = 0;
  /** Index of the next schedule slot that may emit (slot k is due at #t0 + k / fps seconds). */
  #slot = 0;

  /** Creates a TestPattern; throws a RangeError naming the option when an option is invalid. */
  constructor(options: TestPatternOptions = {}) {
    const o = resolve(options);
    this.width = o.width;
    this.height = o.height;
    this.fps = o.fps;
    this.#quality = o.quality;
    this.#label = o.label.toUpperCase();
    this.#rgba = new Uint8Array(o.width * o.height * 4);
    this.#px = new Uint32Array(this.#rgba.buffer, this.#rgba.byteOffset, o.width * o.height);
    // 4x at 640x360, so the text stays readable once the image is scaled down in a viewer.
    this.#scale = Math.max(1, Math.floor(Math.min(o.width / 160, o.height / 90)));
    this.#barsEnd = Math.round(o.height * 0.75);
    const s = this.#scale;
    const margin = 2 * s;
    this.#boxSize = Math.max(4, Math.floor(o.height / 6));
    const textEnd = margin + 3 * 10 * s;
    const centred = Math.floor((textEnd + this.#barsEnd - this.#boxSize) / 2);
    this.#boxY = Math.max(0, Math.min(centred, o.height - this.#boxSize));
  }

  /** Frames emitted by `start()` so far, over all runs of this instance. */
  get frames(): number {
    return this.#frames;
  }

  /** Schedule slots that `start()` skipped because a frame (encoding or callback) took too long. */
  get skipped(): number {
    return this.#skipped;
  }

  /** Whether `start()` is emitting frames. */
  get running(): boolean {
    return this.#onFrame !== undefined;
  }

  /** Where the moving box and the text lines of frame n are drawn (for tests and measurements). */
  regions(n: number): TestPatternRegions {
    return {
      box: { x: this.#boxX(n), y: this.#boxY, width: this.#boxSize, height: this.#boxSize },
      label: this.#line(0, this.#label),
      counter: this.#line(1, counterText(n)),
      clock: this.#line(2, '00:00:00.000'),
    };
  }

  /**
   * Renders frame n at time `now` and returns it as a baseline JPEG (FF D8 ... FF D9).
   * The same n, time and options always give the same bytes.
   */
  frame(n: number, now: Date = new Date()): Promise<Buffer> {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`frame number must be a non-negative integer, got ${String(n)}`);
    const t = now.getTime();
    if (!Number.isFinite(t)) throw new RangeError('now must be a valid Date');
    // One pixel buffer per instance: a frame is drawn only after the previous one was encoded.
    const out = this.#busy.then(async () => {
      const sharp = (await loadSharp()).default as typeof import('sharp').default;
      this.#draw(n, now);
      return sharp(this.#rgba, { raw: { width: this.width, height: this.height, channels: 4 } })
        .jpeg({ quality: this.#quality, chromaSubsampling: '4:2:0' })
        .toBuffer();
    });
    this.#busy = out.then(
      () => undefined,
      () => undefined,
    );
    return out;
  }

  /**
   * Renders frame n at time `now` as raw RGBA pixels (width x height x 4 bytes, a copy), for an
   * encoder that takes raw video (no JPEG, no sharp). Serialised with `frame()`.
   */
  rgba(n: number, now: Date = new Date()): Promise<Buffer> {
    const out = this.#busy.then(() => {
      this.#draw(n, now);
      return Buffer.from(this.#rgba);
    });
    this.#busy = out.then(
      () => undefined,
      () => undefined,
    );
    return out;
  }

  /**
   * Emits a frame every 1/fps seconds until `stop()`. The schedule is anchored at the start time,
   * so timer lateness does not accumulate; when a frame takes longer than its slot, the missed
   * slots are skipped (counted in `skipped`) instead of being emitted in a burst. The first frame
   * comes on the next turn of the event loop, never inside `start()`. Throws when already started.
   */
  start(onFrame: (jpeg: Buffer, info: TestPatternFrameInfo) => void, onError?: (err: SharpMissingError) => void, format: 'jpeg' | 'rgba' = 'jpeg'): void {
    if (this.#onFrame !== undefined) throw new ConfigError(ErrorCode.ALREADY_STARTED, 'TestPattern: already started; call stop() first');
    this.#format = format;
    this.#onFrame = onFrame;
    this.#onError = onError;
    this.#t0 = performance.now();
    this.#slot = 0;
    this.#timer = setTimeout(this.#tick, 0);
  }

  /** Stops emitting; no callback runs after it returns. Idempotent; `start()` may be called again. */
  stop(): void {
    this.#onFrame = undefined;
    this.#onError = undefined;
    if (this.#timer !== undefined && this.#timer !== PENDING) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Timer callback, bound once per instance (no closure per frame). */
  readonly #tick = (): void => {
    this.#timer = undefined;
    const onFrame = this.#onFrame;
    if (onFrame === undefined) return;
    const period = 1000 / this.fps;
    const due = Math.floor((performance.now() - this.#t0) / period);
    // Timers may fire a fraction of a millisecond early; wait for the slot instead of emitting twice in one.
    if (due >= this.#slot) {
      this.#skipped += due - this.#slot;
      this.#slot = due + 1;
      const now = new Date();
      const n = this.#frames++;
      this.#timer = PENDING;
      (this.#format === 'rgba' ? this.rgba(n, now) : this.frame(n, now)).then(
        (jpeg) => {
          if (this.#timer === PENDING) this.#timer = undefined;
          if (this.#onFrame !== onFrame) return; // stopped while encoding
          try {
            onFrame(jpeg, { n, width: this.width, height: this.height, timestamp: now.getTime() });
          } finally {
            // The callback may have called stop() (and maybe start() again, which set its own timer).
            if (this.#onFrame === onFrame && this.#timer === undefined) this.#schedule(period);
          }
        },
        (err: unknown) => {
          if (this.#timer === PENDING) this.#timer = undefined;
          if (this.#onFrame !== onFrame) return;
          // Without sharp no frame can ever be drawn: stop and say so, once.
          if (err instanceof SharpMissingError) {
            const report = this.#onError;
            this.stop();
            report?.(err);
          } else this.#schedule(period);
        },
      );
      return;
    }
    this.#schedule(period);
  };

  #schedule(period: number): void {
    const wait = this.#t0 + this.#slot * period - performance.now();
    this.#timer = setTimeout(this.#tick, Math.max(0, wait));
  }

  #boxX(n: number): number {
    const travel = this.width - this.#boxSize;
    if (travel <= 0) return 0;
    const step = Math.max(1, Math.round(this.width / 80));
    const pos = (n * step) % (2 * travel);
    return pos <= travel ? pos : 2 * travel - pos;
  }

  #draw(n: number, now: Date): void {
    const w = this.width;
    const h = this.height;
    const px = this.#px;
    // Bars scroll left, the ramp scrolls right; each is one row drawn and copied down.
    const barShift = (n * Math.max(1, Math.round(w / 160))) % w;
    for (let x = 0; x < w; x++) px[x] = BARS[Math.floor((((x + barShift) % w) * BARS.length) / w)];
    for (let y = 1; y < this.#barsEnd; y++) px.copyWithin(y * w, 0, w);
    if (this.#barsEnd < h) {
      const row = this.#barsEnd * w;
      const rampShift = (n * Math.max(1, Math.round(w / 320))) % w;
      for (let x = 0; x < w; x++) px[row + x] = GREYS[Math.floor((((x - rampShift + w) % w) * 256) / w)];
      for (let y = this.#barsEnd + 1; y < h; y++) px.copyWithin(y * w, row, row + w);
    }

    const s = this.#scale;
    const bx = this.#boxX(n);
    this.#fillRect(bx, this.#boxY, this.#boxSize, this.#boxSize, BLACK);
    this.#fillRect(bx + s, this.#boxY + s, this.#boxSize - 2 * s, this.#boxSize - 2 * s, WHITE);

    const clock =
      `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}.` +
      String(now.getMilliseconds()).padStart(3, '0');
    this.#text(0, this.#label);
    this.#text(1, counterText(n));
    this.#text(2, clock);
  }

  /** The region of text line i (0 = top) holding `text`: the text plus a margin of one font pixel, clipped to the image. */
  #line(i: number, text: string): TestPatternRegion {
    const s = this.#scale;
    const x = 2 * s;
    const y = 2 * s + i * 10 * s;
    const width = text.length === 0 ? 0 : text.length * CELL_W * s + s;
    return { x, y, width: Math.max(0, Math.min(width, this.width - x)), height: Math.max(0, Math.min(9 * s, this.height - y)) };
  }

  /** Draws text line i: white glyphs on a black backing. */
  #text(i: number, text: string): void {
    const s = this.#scale;
    const r = this.#line(i, text);
    this.#fillRect(r.x, r.y, r.width, r.height, BLACK);
    let x = r.x + s;
    const y = r.y + s;
    for (let i = 0; i < text.length; i++, x += CELL_W * s) {
      const code = text.charCodeAt(i);
      if (code >= 128) continue;
      for (let gy = 0; gy < GLYPH_H; gy++) {
        const bits = FONT[code * GLYPH_H + gy];
        if (bits === 0) continue;
        for (let gx = 0; gx < GLYPH_W; gx++) {
          if (bits & (1 << (GLYPH_W - 1 - gx))) this.#fillRect(x + gx * s, y + gy * s, s, s, WHITE);
        }
      }
    }
  }

  /** Fills a rectangle, clipped to the image. */
  #fillRect(x: number, y: number, width: number, height: number, colour: number): void {
    const x0 = Math.max(0, x);
    const x1 = Math.min(this.width, x + width);
    const y1 = Math.min(this.height, y + height);
    if (x1 <= x0) return;
    for (let row = Math.max(0, y); row < y1; row++) {
      const base = row * this.width;
      this.#px.fill(colour, base + x0, base + x1);
    }
  }
}
