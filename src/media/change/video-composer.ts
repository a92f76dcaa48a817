/**
 * A Receiver's composition of change-detection video (docs/behaviour.md, "Change-detection
 * video"): one picture per source (sender id and media index) that a full frame replaces and
 * each rectangle is placed on; the application gets the whole picture per update, as an image
 * or as raw RGB pixels.
 *
 * - Nothing is shown before the source's first full frame; a rectangle before it is dropped,
 *   counted, and a full frame is asked for.
 * - Bad input (a rectangle outside the picture, a header size that differs from the picture's,
 *   an image that does not decode or whose size differs from its rectangle) is counted and
 *   dropped, never applied. Then, unless `ignoreCorruptedFrames`, the source shows nothing new
 *   until its next full frame, which is asked for.
 * - Frames of one source are decoded in order, at most MAX_PENDING waiting; beyond that the
 *   source's frames are dropped until a full frame finds room, and one is asked for. One picture is encoded at a time per
 *   source; updates that arrive meanwhile are shown together in the next.
 * - A full frame in the output's image type goes out as it came (no decoding) and is decoded
 *   only when a rectangle has to be placed on it; frames of sources that send no rectangles cost
 *   nothing more. Other frames (named codecs) pass through untouched.
 */
import type { MessageMeta, VideoFrame } from '../../events.js';
import { Picture, checkRect, type ComposeRefusal } from './composer.js';
import { decodeToRgb, encodePixels } from './image-codec.js';

/** How a Receiver composes. */
export interface ComposeOptions {
  /** The picture per update: an image ('jpeg', 'png') or raw pixels ('rgb', 3 bytes per pixel). */
  output: 'jpeg' | 'png' | 'rgb';
  /** JPEG quality of the composed pictures. */
  quality: number;
  /** After a bad or lost rectangle: true = go on placing rectangles; false = wait for the next full frame. */
  ignoreCorruptedFrames: boolean;
  /**
   * Whether anyone wants a source's pictures now. While it says false the picture is kept up to
   * date (rectangles placed) but not encoded nor delivered; `refresh()` delivers it once wanted.
   * @default every picture is delivered
   */
  wanted?: (m: MessageMeta) => boolean;
}

/** Counters of composition. */
export interface ComposeStats {
  /** Pictures delivered. */
  pictures: number;
  /** Rectangles placed. */
  placed: number;
  /** Rectangles and frames refused as bad input: outside the picture, size disagreeing, undecodable. */
  refused: number;
  /** Rectangles dropped while waiting for a full frame (before the first, after a bad one), or because decoding fell behind. */
  waiting: number;
  /** Frames found missing by their numbers (protocol.md 4.1): lost on the way, or dropped by a queue. */
  lost: number;
  /** Full-frame requests sent. */
  requests: number;
  /** Full frames not delivered because a newer full frame of the same source came before they were ready (latest wins). */
  superseded: number;
}

const MAX_PENDING = 32;
const MAX_SOURCES = 256;
/** At most one full-frame request per source in this time. */
const REQUEST_GAP_MS = 250;

interface Source {
  picture: Picture | undefined;
  /** A full frame not decoded yet: decoded when a rectangle needs the picture. */
  key: VideoFrame | undefined;
  /** Showing: a full frame came and nothing went wrong since (or ignoreCorruptedFrames). */
  ok: boolean;
  pending: number;
  chain: Promise<void>;
  /** The picture changed since the last one delivered. */
  dirty: boolean;
  encoding: boolean;
  scheduled: boolean;
  last: { v: VideoFrame; m: MessageMeta } | undefined;
  lastRequest: number;
  /** Full frames taken: a picture encoded before the latest full frame is not delivered after it. */
  generation: number;
  via: unknown;
  /** The number of the source's last frame (0: none numbered yet). */
  seq: number;
}

/** Composes the change-detection video of a Receiver. */
export class VideoComposer<Via = undefined> {
  readonly #o: ComposeOptions;
  readonly #out: (v: VideoFrame, m: MessageMeta) => void;
  readonly #request: (m: MessageMeta, via: Via | undefined) => void;
  readonly #sources = new Map<string, Source>();
  readonly stats: ComposeStats = { pictures: 0, placed: 0, refused: 0, waiting: 0, lost: 0, requests: 0, superseded: 0 };
  #disposed = false;

  /**
   * @param out gets every picture (and every frame passed through)
   * @param request asks the frame's sender for a full frame of the frame's source
   * @param onRefused told of each refused piece of input, with why
   */
  constructor(o: ComposeOptions, out: (v: VideoFrame, m: MessageMeta) => void, request: (m: MessageMeta, via: Via | undefined) => void, readonly onRefused: (why: ComposeRefusal | 'decode', m: MessageMeta) => void = () => {}) {
    this.#o = o;
    this.#out = out;
    this.#request = request;
  }

  /** Takes one received video frame; `via` is what a full-frame request for its source goes back through. Never throws for bad input. */
  handle(v: VideoFrame, m: MessageMeta, via?: Via): void {
    if (this.#disposed) return;
    // Only images are composed (change detection sends JPEG or PNG); compressed video and other
    // types pass as they came.
    if (v.imageType !== 'jpeg' && v.imageType !== 'png') {
      this.#out(v, m);
      return;
    }
    const full = v.keyframe && !v.rect;
    if (!full && !v.rect) {
      this.#out(v, m);
      return;
    }
    const s = this.#source(`${m.mediaIndex}|${m.from}`);
    s.via = via;
    // Numbered frames (change detection): a gap before a rectangle means one was lost.
    const seq = m.seq >>> 0;
    let gap = false;
    if (seq !== 0) {
      gap = s.seq !== 0 && seq !== (s.seq >= 0xffffffff ? 1 : s.seq + 1);
      s.seq = seq;
    }
    if (full) {
      this.#full(s, v, m);
      return;
    }
    const rect = v.rect!;
    if (gap && s.ok) {
      this.stats.lost++;
      if (!this.#o.ignoreCorruptedFrames) {
        this.stats.waiting++;
        this.#broken(s, m);
        return;
      }
    }
    if (!s.ok) {
      this.stats.waiting++;
      this.#ask(s, m);
      return;
    }
    if (s.pending >= MAX_PENDING) {
      this.stats.waiting++;
      this.#broken(s, m);
      return;
    }
    s.pending++;
    s.chain = s.chain.then(async () => {
      try {
        if (!s.ok) return void this.stats.waiting++;
        if (s.key) await this.#decodeKey(s, m);
        if (!s.ok || !s.picture) return;
        const why = v.width !== s.picture.width || v.height !== s.picture.height ? 'size' : checkRect(rect, s.picture.width, s.picture.height);
        if (why) return this.#refuse(s, why, m);
        const img = await decodeToRgb(v.data, rect.w * rect.h);
        if (img.width !== rect.w || img.height !== rect.h) return this.#refuse(s, 'pixels', m);
        const bad = s.picture.place(rect, img.data);
        if (bad) return this.#refuse(s, bad, m);
        this.stats.placed++;
        s.last = { v, m };
        this.#changed(s);
      } catch {
        this.#refuse(s, 'decode', m);
      } finally {
        s.pending--;
      }
    });
  }

  /**
   * A source's picture changed while it was not wanted: deliver it now. False when there is
   * nothing newer than the last picture delivered (or no such source).
   */
  refresh(from: string, mediaIndex: number): boolean {
    const s = this.#sources.get(`${mediaIndex}|${from}`);
    if (!s || !s.dirty || !s.picture) return false;
    this.#changed(s);
    return true;
  }

  /** Stops: nothing more is delivered. */
  dispose(): void {
    this.#disposed = true;
    this.#sources.clear();
  }

  #source(key: string): Source {
    let s = this.#sources.get(key);
    if (s) return s;
    s = { picture: undefined, key: undefined, ok: false, pending: 0, chain: Promise.resolve(), dirty: false, encoding: false, scheduled: false, last: undefined, lastRequest: -Infinity, generation: 0, via: undefined, seq: 0 };
    this.#sources.set(key, s);
    // The least recently started source goes first.
    if (this.#sources.size > MAX_SOURCES) this.#sources.delete(this.#sources.keys().next().value as string);
    return s;
  }

  #full(s: Source, v: VideoFrame, m: MessageMeta): void {
    if (v.width < 1 || v.height < 1) return this.#refuse(s, 'size', m, true);
    if (s.pending >= MAX_PENDING) {
      // Decoding is that far behind: this full frame is dropped too, and the source waits for the next.
      this.stats.waiting++;
      s.ok = false;
      this.#ask(s, m);
      return;
    }
    // Rectangles that follow it in this turn are placed on it.
    s.ok = true;
    const gen = ++s.generation;
    if (v.imageType === this.#o.output && s.pending === 0) {
      // Already in the output format, with nothing of its source still in the chain: it goes out
      // now, so a stream of plain JPEG is never held back nor superseded here.
      this.#passFull(s, v, m);
      return;
    }
    s.pending++;
    s.chain = s.chain.then(async () => {
      try {
        if (gen !== s.generation) return void this.stats.superseded++;
        s.ok = true;
        if (v.imageType === this.#o.output) return this.#passFull(s, v, m);
        s.last = { v, m };
        s.key = v;
        await this.#decodeKey(s, m);
        if (s.ok) this.#changed(s);
      } finally {
        s.pending--;
      }
    });
  }

  /** Delivers a full frame as it came; it is decoded only if a rectangle comes. */
  #passFull(s: Source, v: VideoFrame, m: MessageMeta): void {
    s.last = { v, m };
    s.key = v;
    s.dirty = false;
    this.stats.pictures++;
    this.#out(v, m);
  }

  /** Decodes the kept full frame into the picture. */
  async #decodeKey(s: Source, m: MessageMeta): Promise<void> {
    const k = s.key!;
    s.key = undefined;
    try {
      const img = await decodeToRgb(k.data, k.width * k.height);
      if (img.width !== k.width || img.height !== k.height) return this.#refuse(s, 'size', m, true);
      if (!s.picture || s.picture.width !== img.width || s.picture.height !== img.height) s.picture = new Picture(img.width, img.height, 3, img.data);
      else s.picture.replace(img.data);
    } catch {
      this.#refuse(s, 'decode', m, true);
    }
  }

  #refuse(s: Source, why: ComposeRefusal | 'decode', m: MessageMeta, fullFrame = false): void {
    this.stats.refused++;
    this.onRefused(why, m);
    // A bad full frame leaves no picture to place rectangles on, whatever ignoreCorruptedFrames says.
    if (fullFrame) s.picture = undefined;
    if (fullFrame || !this.#o.ignoreCorruptedFrames) this.#broken(s, m);
  }

  /** The source waits for its next full frame, and asks for one. */
  #broken(s: Source, m: MessageMeta): void {
    if (!this.#o.ignoreCorruptedFrames || !s.picture) s.ok = false;
    this.#ask(s, m);
  }

  #ask(s: Source, m: MessageMeta): void {
    const now = performance.now();
    if (now - s.lastRequest < REQUEST_GAP_MS) return;
    s.lastRequest = now;
    this.stats.requests++;
    this.#request(m, s.via as Via | undefined);
  }

  /** The picture changed: deliver it once this turn's rectangles are placed. */
  #changed(s: Source): void {
    s.dirty = true;
    if (s.scheduled || s.encoding) return;
    s.scheduled = true;
    setImmediate(() => {
      s.scheduled = false;
      void this.#deliver(s);
    });
  }

  async #deliver(s: Source): Promise<void> {
    while (s.dirty && s.picture && s.last && !this.#disposed) {
      const { v, m } = s.last;
      // Nobody wants it now: it stays dirty, for refresh().
      if (this.#o.wanted && !this.#o.wanted(m)) return;
      s.dirty = false;
      const gen = s.generation;
      const { width, height } = s.picture;
      const pixels = Buffer.from(s.picture.data);
      let data: Buffer = pixels;
      if (this.#o.output !== 'rgb') {
        s.encoding = true;
        try {
          data = await encodePixels(pixels, width, height, 3, this.#o.output, this.#o.quality);
        } catch {
          return;
        } finally {
          s.encoding = false;
        }
      }
      if (this.#disposed || gen !== s.generation) return;
      this.stats.pictures++;
      this.#out({ data, imageType: this.#o.output, width, height, keyframe: true, timestamp: v.timestamp }, m);
    }
  }
}
