/**
 * The queues of the unacknowledged media types (docs/behaviour.md, section 1): video keeps only
 * the latest frame per source, audio keeps a short queue and drops the oldest.
 */
import { Flag } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import { frameBytes, type Outbox } from './outbox-common.js';

/** Rectangles of one source waiting behind its slot before the source is resynchronised instead. */
const MAX_CHAIN = 64;
/**
 * Delta frames of a compressed source waiting behind its slot: a group of pictures (10 s at
 * 30 frames/s) before the source skips to its next keyframe instead.
 */
const MAX_GOP_CHAIN = 300;
/** Sources whose keyframes an outbox remembers (a rectangle needs its source's full frame first). */
const MAX_SEEN = 4096;
/** While a source waits for a keyframe, its full-frame request is repeated every this many dropped frames. */
const REQUEST_EVERY = 30;

/**
 * Video: latest wins, per source (sender id and media index); after a drop, waits for a keyframe.
 * A keyframe replaces what waits of its source. A delta frame (a change-detection rectangle, or a
 * compressed codec's inter frame: docs/behaviour.md) cannot be shown without the frames before it,
 * so it is never replaced: it queues behind its source's waiting frames, at most MAX_CHAIN
 * rectangles or MAX_GOP_CHAIN codec frames, and within the byte bound. Beyond either, the source's
 * waiting frames are dropped and its deltas skipped until its next keyframe (`onNeedKey` asks for
 * one). A rectangle whose source has not sent a keyframe through this outbox, and a dropped frame
 * of a source that sends rectangles, do the same.
 */
export class VideoOutbox implements Outbox {
  readonly mediaType = 'video' as const;
  // The maps and sets below are made at their first use (the getters): a reader's channel that
  // never gets video (most of a server's idle channels) holds none (bench/FANOUT.md, heap per
  // idle channel).
  #slotsMap: Map<string | number, FrameInit> | undefined;
  get #slots(): Map<string | number, FrameInit> {
    return (this.#slotsMap ??= new Map());
  }
  /** Rectangles waiting behind a source's slot, in order. */
  #tailsMap: Map<string | number, FrameInit[]> | undefined;
  get #tails(): Map<string | number, FrameInit[]> {
    return (this.#tailsMap ??= new Map());
  }
  /** Sources waiting for a keyframe, with the frames dropped meanwhile. */
  #needKeyMap: Map<string | number, number> | undefined;
  get #needKey(): Map<string | number, number> {
    return (this.#needKeyMap ??= new Map());
  }
  /** Sources whose keyframe went through (or waits in) this outbox. */
  #seenSet: Set<string | number> | undefined;
  get #seen(): Set<string | number> {
    return (this.#seenSet ??= new Set());
  }
  #lastSeen: string | number | undefined;
  /** Sources that sent rectangles: any frame of theirs dropped breaks the picture. */
  #rectSourcesSet: Set<string | number> | undefined;
  get #rectSources(): Set<string | number> {
    return (this.#rectSourcesSet ??= new Set());
  }
  readonly #maxBytes: number;
  readonly #onNeedKey: ((f: FrameInit) => void) | undefined;
  /** With startAtKey: the sources whose keyframe this outbox took (their delta frames may follow). */
  readonly #started: Set<string | number> | undefined;
  #bytes = 0;
  dropped = 0;

  /**
   * @param maxBytes bytes held across all sources; beyond it the oldest waiting frame is dropped.
   * @param onNeedKey a source that sends rectangles needs a keyframe (asked again while it waits).
   * @param startAtKey each source's first frame must be a keyframe: delta frames before it are
   *   dropped (an outbox of a reader that joined mid-stream, e.g. a Sender's new pull channel).
   */
  constructor(maxBytes = Infinity, onNeedKey?: (f: FrameInit) => void, startAtKey = false) {
    this.#maxBytes = maxBytes;
    this.#onNeedKey = onNeedKey;
    this.#started = startAtKey ? new Set() : undefined;
  }

  /** One slot per source. The common case (index 0) keys by the sender id alone: no string built per frame. */
  #key(f: FrameInit): string {
    const mi = f.mediaIndex ?? 0;
    return mi === 0 ? (f.from ?? '') : `${mi}|${f.from ?? ''}`;
  }

  /** A keyframe of `k` passes: rectangles of `k` may follow it. */
  #saw(k: string | number): void {
    if (k === this.#lastSeen) return;
    this.#lastSeen = k;
    if (this.#seen.size >= MAX_SEEN && !this.#seen.has(k)) this.#seen.clear();
    this.#seen.add(k);
  }

  /** A rectangle that may not go on: its source has no keyframe here yet, or waits for one. */
  #orphan(f: FrameInit, k: string | number, isKey: boolean): boolean {
    if (isKey || !videoHasRect(f)) return false;
    this.#rectSources.add(k);
    return !this.#seen.has(k);
  }

  /** True when `f` may go straight to the link: nothing waits, and its source is not waiting for a keyframe. */
  canSkipQueue(f: FrameInit): boolean {
    if (this.#slots.size !== 0) return false;
    const k = this.#key(f);
    if (this.#started !== undefined && !this.#started.has(k)) return false;
    if (this.#needKey.size !== 0 && this.#needKey.has(k)) return false;
    const isKey = ((f.flags ?? 0) & Flag.KEYFRAME) !== 0;
    if (isKey) this.#saw(k);
    return !this.#orphan(f, k, isKey);
  }

  /** True when every frame of `frames` may go straight to the link (see canSkipQueue). */
  canSkipAll(frames: readonly FrameInit[]): boolean {
    for (const f of frames) if (!this.canSkipQueue(f)) return false;
    return true;
  }

  /**
   * canSkipAll for a fan-out's batch, on an outbox that is `clear`: a batch without rectangles
   * only notes its keyframes' sources, once per source, not once per frame and reader (the
   * summary is made once per batch and shared by its readers).
   */
  canSkipBatch(batch: { frames: readonly FrameInit[]; memo: unknown }): boolean {
    const s = (batch.memo ??= summarize(batch.frames, (f) => this.#key(f))) as BatchSummary;
    if (s.rects || !this.clear) return this.canSkipAll(batch.frames);
    for (const k of s.keys) this.#saw(k);
    return true;
  }

  /** True when every frame may go straight to the link: nothing waits, no source waits for a keyframe. */
  get clear(): boolean {
    return this.#slots.size === 0 && this.#needKey.size === 0 && this.#started === undefined;
  }

  /** Queues a frame; returns the number of frames this call dropped. */
  offer(f: FrameInit): number {
    const idx = this.#key(f);
    const key = ((f.flags ?? 0) & Flag.KEYFRAME) !== 0;
    if (this.#needKey.size !== 0 && this.#needKey.has(idx)) {
      if (!key) {
        const n = this.#needKey.get(idx)! + 1;
        this.#needKey.set(idx, n);
        if (n % REQUEST_EVERY === 0) this.#onNeedKey?.(f);
        this.dropped++;
        return 1;
      }
      this.#needKey.delete(idx);
    }
    if (this.#started !== undefined && !this.#started.has(idx)) {
      if (!key) {
        // A reader that joined mid-stream starts at a keyframe; a source of rectangles is asked for one.
        if (videoHasRect(f)) {
          this.#rectSources.add(idx);
          this.#waitKey(f, idx);
        }
        this.dropped++;
        return 1;
      }
      this.#started.add(idx);
    }
    if (key) this.#saw(idx);
    else if (this.#orphan(f, idx, key)) {
      this.#waitKey(f, idx);
      this.dropped++;
      return 1;
    }
    const prev = this.#slots.get(idx);
    if (prev) {
      if (!key) {
        // A delta frame is needed by the picture: it waits behind the source's frames.
        const tail = this.#tails.get(idx) ?? [];
        const size = frameBytes(f);
        if (tail.length < (videoHasRect(f) ? MAX_CHAIN : MAX_GOP_CHAIN) && this.#bytes + size <= this.#maxBytes) {
          tail.push(f);
          this.#tails.set(idx, tail);
          this.#bytes += size;
          return 0;
        }
        const n = this.#dropSource(idx) + 1;
        this.#waitKey(f, idx);
        this.dropped++;
        return n;
      }
      const n = this.#dropSource(idx);
      this.#slots.set(idx, f);
      this.#bytes += frameBytes(f);
      return n + this.#cap();
    }
    this.#slots.set(idx, f);
    this.#bytes += frameBytes(f);
    return this.#cap();
  }

  /** Many sources into one slow reader: the oldest waiting frame goes first (the newest always stays). */
  #cap(): number {
    let n = 0;
    for (const [k, old] of this.#slots) {
      if (this.#bytes <= this.#maxBytes || this.#slots.size <= 1) break;
      n += this.#dropSource(k);
      // That source's next delta frame would refer to a dropped one: it waits for a keyframe (a
      // source of rectangles is asked for one at once).
      if (this.#rectSources.has(k)) this.#waitKey(old, k);
      else if (!this.#needKey.has(k)) this.#needKey.set(k, 0);
    }
    return n;
  }

  /** Drops what waits of source `k` (its slot and rectangles); returns how many frames. */
  #dropSource(k: string | number): number {
    const head = this.#slots.get(k);
    if (!head) return 0;
    this.#slots.delete(k);
    this.#bytes -= frameBytes(head);
    let n = 1;
    const tail = this.#tails.get(k);
    if (tail) {
      for (const t of tail) this.#bytes -= frameBytes(t);
      n += tail.length;
      this.#tails.delete(k);
    }
    this.dropped += n;
    return n;
  }

  /** Source `k` drops its deltas until a keyframe, and asks for one. */
  #waitKey(f: FrameInit, k: string | number): void {
    if (this.#needKey.has(k)) return;
    this.#needKey.set(k, 0);
    this.#onNeedKey?.(f);
  }

  next(): FrameInit | undefined {
    for (const [idx, f] of this.#slots) {
      this.#slots.delete(idx);
      this.#bytes -= frameBytes(f);
      const tail = this.#tails.get(idx);
      if (tail) {
        // The source's next rectangle takes the slot, behind the other sources' frames.
        this.#slots.set(idx, tail.shift()!);
        if (tail.length === 0) this.#tails.delete(idx);
      }
      return f;
    }
    return undefined;
  }

  get busy(): boolean {
    return (this.#slotsMap?.size ?? 0) > 0;
  }
}

/** What a batch's readers need to know of its frames (VideoOutbox.canSkipBatch). */
interface BatchSummary {
  /** The sources of its keyframes, each once, in order. */
  keys: string[];
  /** Some frame is a delta frame that carries a rectangle (then each frame is checked). */
  rects: boolean;
}

function summarize(frames: readonly FrameInit[], key: (f: FrameInit) => string): BatchSummary {
  const keys: string[] = [];
  let rects = false;
  for (const f of frames) {
    if (((f.flags ?? 0) & Flag.KEYFRAME) !== 0) {
      const k = key(f);
      if (keys.length === 0 || (keys[keys.length - 1] !== k && !keys.includes(k))) keys.push(k);
    } else if (videoHasRect(f)) rects = true;
  }
  return { keys, rects };
}

/**
 * True when a queued video frame carries a change rectangle (its media header's hasRect,
 * docs/protocol.md 4.1): read from the frame's prefix (a Sender's) or payload (a relayed one).
 */
export function videoHasRect(f: FrameInit): boolean {
  const h = f.prefix ?? f.payload;
  return h !== undefined && h.length > 5 && h[5] === 1;
}

/** Audio: a short FIFO that drops the oldest chunk on overflow. */
export class AudioOutbox implements Outbox {
  readonly mediaType = 'audio' as const;
  #q: FrameInit[] = [];
  #head = 0;
  #bytes = 0;
  dropped = 0;

  constructor(
    readonly maxChunks: number,
    readonly maxBytes: number,
  ) {}

  /** True when nothing waits: a new chunk may go straight to the link. */
  canSkipQueue(): boolean {
    return this.#head >= this.#q.length;
  }

  /** True when nothing waits. */
  get clear(): boolean {
    return this.#head >= this.#q.length;
  }

  offer(f: FrameInit): number {
    this.#q.push(f);
    this.#bytes += frameBytes(f);
    let n = 0;
    while (this.#q.length - this.#head > this.maxChunks || (this.#bytes > this.maxBytes && this.#q.length - this.#head > 1)) {
      this.#bytes -= frameBytes(this.#q[this.#head]);
      this.#head++;
      n++;
    }
    this.dropped += n;
    this.#compact();
    return n;
  }

  next(): FrameInit | undefined {
    if (this.#head >= this.#q.length) return undefined;
    const f = this.#q[this.#head++];
    this.#bytes -= frameBytes(f);
    this.#compact();
    return f;
  }

  #compact(): void {
    if (this.#head > 64 && this.#head * 2 > this.#q.length) {
      this.#q = this.#q.slice(this.#head);
      this.#head = 0;
    }
  }

  get busy(): boolean {
    return this.#head < this.#q.length;
  }
}
