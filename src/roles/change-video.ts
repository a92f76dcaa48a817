/**
 * A Sender's raw-pixel video (sendVideoPixels): each frame encoded whole, or, in change mode,
 * compared with the picture the receivers hold and only the changed rectangles sent
 * (docs/behaviour.md, "Change-detection video"). One state per source (media index): the
 * reference picture, the differ and the counters of the full-frame and chain intervals.
 *
 * The difference is taken at once, when the frame is given, and the reference updated with what
 * will be sent; the images are then encoded (sharp, on libvips threads) and queued in the order
 * the frames were given. A source whose encodings fall behind (two updates still encoding)
 * skips frames, counted, rather than queue pixels in memory.
 */
import { FrameDiffer, cropRect, type PixelChannels } from '../media/change/differ.js';
import { Picture } from '../media/change/composer.js';
import { encodePixels, type ChangeImageType } from '../media/change/image-codec.js';
import { resolveChangeSettings, type ChangeSettings, type ResolvedChangeSettings } from '../media/change/settings.js';
import type { Rect } from '../protocol/messages.js';
import { misuse } from '../errors.js';
import { invalid } from '../options.js';

/** The Sender's `video` option: how sendVideoPixels encodes. */
export interface VideoEncodingOptions extends ChangeSettings {
  /** 'frames': every frame a whole image; 'change': only what changed (rectangles). @default 'frames' */
  encoding?: 'frames' | 'change';
  /** The image type of frames and rectangles: 'jpeg', or 'png' for lossless. @default 'jpeg' */
  imageType?: ChangeImageType;
  /** JPEG quality, 1..100. @default 80 */
  quality?: number;
}

/** Options of sendVideoPixels. */
export interface PixelFrameOptions {
  width: number;
  height: number;
  /** Bytes per pixel: 'rgb' 3, 'rgba' 4 (alpha is not compared and not sent in a JPEG). */
  format: 'rgb' | 'rgba';
  mediaIndex?: number;
  to?: string;
  group?: string;
  /** ms since the epoch. @default Date.now() */
  timestamp?: number;
}

/** What sendVideoPixels did with a frame. */
export interface PixelFrameResult {
  /** 'full': one whole image (a keyframe); 'rects': only the changed rectangles; 'unchanged': nothing sent; 'skipped': the encoder was behind, nothing sent. */
  sent: 'full' | 'rects' | 'unchanged' | 'skipped';
  /** Rectangles sent ('rects' only). */
  rects: number;
  /** Bytes of the encoded images. */
  bytes: number;
}

/** One encoded image to send. */
export interface EncodedImage {
  data: Buffer;
  imageType: ChangeImageType;
  width: number;
  height: number;
  keyframe: boolean;
  rect?: Rect;
  /** Change mode: the frame's number in its source (protocol.md 4.1). */
  seq?: number;
}

/** Counters of raw-pixel video. */
export interface PixelVideoStats {
  /** Frames given to sendVideoPixels. */
  frames: number;
  full: number;
  rects: number;
  unchanged: number;
  skipped: number;
}

/** Above this share of the picture, or this many rectangles, a full frame is cheaper. */
const FULL_AREA_SHARE = 0.5;
const MAX_RECTS = 64;
/** Updates of one source encoding at once before frames are skipped. */
const MAX_ENCODING = 2;

interface SourceState {
  width: number;
  height: number;
  channels: PixelChannels;
  differ: FrameDiffer | undefined;
  reference: Picture | undefined;
  needFull: boolean;
  sinceFull: number;
  encoding: number;
  /** The previous update's sending: updates go out in the order given. */
  tail: Promise<void>;
  /** Change mode: the number of the source's last frame sent (protocol.md 4.1). */
  seq: number;
}

/** A Sender's raw-pixel video sources. */
export class PixelVideo {
  readonly #o: Required<Pick<VideoEncodingOptions, 'encoding' | 'imageType' | 'quality'>> & { change: ResolvedChangeSettings };
  readonly #sources = new Map<number, SourceState>();
  readonly stats: PixelVideoStats = { frames: 0, full: 0, rects: 0, unchanged: 0, skipped: 0 };

  /** Throws a ConfigError (CW_ERR_CONFIG_INVALID) naming a bad setting. */
  constructor(o: VideoEncodingOptions = {}) {
    const encoding = o.encoding ?? 'frames';
    if (encoding !== 'frames' && encoding !== 'change') throw invalid('video.encoding', `must be 'frames' or 'change' (got ${String(encoding)})`);
    const imageType = o.imageType ?? 'jpeg';
    if (imageType !== 'jpeg' && imageType !== 'png') throw invalid('video.imageType', `must be 'jpeg' or 'png' (got ${String(imageType)})`);
    const quality = o.quality ?? 80;
    if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw invalid('video.quality', `must be an integer in 1..100 (got ${String(quality)})`);
    const { encoding: _e, imageType: _i, quality: _q, ...change } = o;
    try {
      this.#o = { encoding, imageType, quality, change: resolveChangeSettings(change) };
    } catch (err) {
      throw invalid('video', (err as Error).message);
    }
  }

  get changeMode(): boolean {
    return this.#o.encoding === 'change';
  }

  /** The next frame of this source (all sources when undefined) goes out whole. */
  requestFullFrame(mediaIndex?: number): void {
    if (mediaIndex === undefined) for (const s of this.#sources.values()) s.needFull = true;
    else {
      const s = this.#sources.get(mediaIndex);
      if (s) s.needFull = true;
    }
  }

  /**
   * Takes one frame of raw pixels; `send` is called with each encoded image, in order, once the
   * images of the frame are encoded. Resolves with what was sent. Throws a RangeError for
   * pixels that disagree with the size and format.
   */
  frame(pixels: Uint8Array, o: PixelFrameOptions, send: (img: EncodedImage) => void): Promise<PixelFrameResult> {
    if (o.format !== 'rgb' && o.format !== 'rgba') throw misuse(new RangeError(`format must be 'rgb' or 'rgba' (got ${String(o.format)})`));
    const mi = o.mediaIndex ?? 0;
    if (!Number.isInteger(mi) || mi < 0 || mi > 0xffff) throw misuse(new RangeError(`mediaIndex ${mi} outside 0..65535`));
    const channels: PixelChannels = o.format === 'rgb' ? 3 : 4;
    const { width, height } = o;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0xffff || height > 0xffff) {
      throw misuse(new RangeError(`width and height must be integers in 1..65535 (got ${String(width)}x${String(height)})`));
    }
    if (!(pixels instanceof Uint8Array) || pixels.length !== width * height * channels) {
      throw misuse(new RangeError(`a ${width}x${height} ${o.format} frame is ${width * height * channels} bytes (got ${pixels?.length})`));
    }
    this.stats.frames++;
    const s = this.#source(mi, width, height, channels);
    if (s.encoding >= MAX_ENCODING) {
      this.stats.skipped++;
      return Promise.resolve({ sent: 'skipped', rects: 0, bytes: 0 });
    }
    const parts = this.#plan(s, pixels);
    if (parts.length === 0) {
      this.stats.unchanged++;
      return Promise.resolve({ sent: 'unchanged', rects: 0, bytes: 0 });
    }
    const full = parts[0].rect === undefined;
    if (full) this.stats.full++;
    else this.stats.rects++;
    s.encoding++;
    const { imageType, quality } = this.#o;
    const encoded = Promise.all(parts.map((p) => encodePixels(p.pixels, p.rect?.w ?? width, p.rect?.h ?? height, channels, imageType, quality)));
    const done = s.tail.then(() => encoded).then(
      (images) => {
        let bytes = 0;
        try {
          images.forEach((data, i) => {
            bytes += data.length;
            const img: EncodedImage = { data, imageType, width, height, keyframe: full };
            const rect = parts[i].rect;
            if (rect) img.rect = rect;
            // Numbered as they go out: a receiver that misses one knows (1, 2, ... wrapping, never 0).
            if (this.changeMode) img.seq = s.seq = s.seq >= 0xffffffff ? 1 : s.seq + 1;
            send(img);
          });
        } catch (err) {
          // Not all of it went (too large for maxPayload, say): the receivers need a full frame.
          s.needFull = true;
          throw err;
        }
        return { sent: full ? 'full' : 'rects', rects: full ? 0 : parts.length, bytes } as PixelFrameResult;
      },
      (err: unknown) => {
        // The reference already holds what was not sent: the receivers need a full frame.
        s.needFull = true;
        throw err;
      },
    );
    const settle = (): void => void s.encoding--;
    s.tail = done.then(settle, settle);
    return done;
  }

  #source(mediaIndex: number, width: number, height: number, channels: PixelChannels): SourceState {
    let s = this.#sources.get(mediaIndex);
    if (!s || s.width !== width || s.height !== height || s.channels !== channels) {
      s = { width, height, channels, differ: undefined, reference: undefined, needFull: true, sinceFull: 0, encoding: s?.encoding ?? 0, tail: s?.tail ?? Promise.resolve(), seq: s?.seq ?? 0 };
      this.#sources.set(mediaIndex, s);
    }
    return s;
  }

  /** What to encode for this frame: the whole picture, the changed rectangles, or nothing. */
  #plan(s: SourceState, pixels: Uint8Array): { pixels: Uint8Array; rect?: Rect }[] {
    const whole = (): { pixels: Uint8Array }[] => [{ pixels: Buffer.from(pixels) }];
    if (!this.changeMode) return whole();
    const c = this.#o.change;
    const chainFull = c.frameDifferenceInterval > 0 && s.sinceFull + 1 >= c.frameDifferenceInterval;
    const intervalFull = c.fullFrameInterval > 0 && s.sinceFull + 1 >= c.fullFrameInterval;
    if (s.needFull || !s.reference || !s.differ || chainFull || intervalFull) return this.#full(s, pixels, whole);
    const rects = s.differ.diff(s.reference.data, pixels, FULL_AREA_SHARE);
    if (rects === undefined) return this.#full(s, pixels, whole);
    if (rects.length === 0) return [];
    let area = 0;
    for (const r of rects) area += r.w * r.h;
    if (rects.length > MAX_RECTS || area > FULL_AREA_SHARE * s.width * s.height) return this.#full(s, pixels, whole);
    s.sinceFull++;
    return rects.map((r) => {
      const rect = { x: r.x, y: r.y, w: r.w, h: r.h };
      const part = cropRect(pixels, s.width, s.channels, rect);
      s.reference!.place(rect, part);
      return { pixels: part, rect };
    });
  }

  #full(s: SourceState, pixels: Uint8Array, whole: () => { pixels: Uint8Array }[]): { pixels: Uint8Array }[] {
    s.reference ??= new Picture(s.width, s.height, s.channels);
    s.reference.replace(pixels);
    s.differ ??= new FrameDiffer(s.width, s.height, s.channels, this.#o.change);
    s.needFull = false;
    s.sinceFull = 0;
    return whole();
  }
}
