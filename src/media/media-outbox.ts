/**
 * The queues of the unacknowledged media types (docs/behaviour.md, section 1): video keeps only
 * the latest frame per source, audio keeps a short queue and drops the oldest.
 */
import { Flag } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import { frameBytes, type Outbox } from './outbox-common.js';

/** Video: latest wins, per source (sender id and media index); after a drop, waits for a keyframe. */
export class VideoOutbox implements Outbox {
  readonly mediaType = 'video' as const;
  readonly #slots = new Map<string | number, FrameInit>();
  readonly #needKey = new Set<string | number>();
  readonly #maxBytes: number;
  /** With startAtKey: the sources whose keyframe this outbox took (their delta frames may follow). */
  readonly #started: Set<string | number> | undefined;
  #bytes = 0;
  dropped = 0;

  /**
   * @param maxBytes bytes held across all sources; beyond it the oldest waiting frame is dropped.
   * @param startAtKey each source's first frame must be a keyframe: delta frames before it are
   *   dropped (an outbox of a reader that joined mid-stream, e.g. a Sender's new pull channel).
   */
  constructor(maxBytes = Infinity, startAtKey = false) {
    this.#maxBytes = maxBytes;
    this.#started = startAtKey ? new Set() : undefined;
  }

  /** One slot per source. The common case (index 0) keys by the sender id alone: no string built per frame. */
  #key(f: FrameInit): string {
    const mi = f.mediaIndex ?? 0;
    return mi === 0 ? (f.from ?? '') : `${mi}|${f.from ?? ''}`;
  }

  /** True when `f` may go straight to the link: nothing waits, and its source is not waiting for a keyframe. */
  canSkipQueue(f: FrameInit): boolean {
    if (this.#started !== undefined && !this.#started.has(this.#key(f))) return false;
    return this.#slots.size === 0 && (this.#needKey.size === 0 || !this.#needKey.has(this.#key(f)));
  }

  /** True when every frame may go straight to the link: nothing waits, no source waits for a keyframe. */
  get clear(): boolean {
    return this.#slots.size === 0 && this.#needKey.size === 0 && this.#started === undefined;
  }

  /** Queues a frame; returns the number of frames this call dropped. */
  offer(f: FrameInit): number {
    const idx = this.#key(f);
    const key = ((f.flags ?? 0) & Flag.KEYFRAME) !== 0;
    if (this.#started !== undefined && !this.#started.has(idx)) {
      if (!key) {
        this.dropped++;
        return 1;
      }
      this.#started.add(idx);
    }
    if (this.#needKey.has(idx)) {
      if (!key) {
        this.dropped++;
        return 1;
      }
      this.#needKey.delete(idx);
    }
    const prev = this.#slots.get(idx);
    if (prev) {
      this.dropped++;
      this.#slots.delete(idx);
      this.#bytes -= frameBytes(prev);
      // A delta frame cannot be shown without the frame it replaces: skip to the next keyframe.
      if (!key) {
        this.#needKey.add(idx);
        this.dropped++;
        return 2;
      }
    }
    this.#slots.set(idx, f);
    this.#bytes += frameBytes(f);
    let n = prev ? 1 : 0;
    // Many sources into one slow reader: the oldest waiting frame goes first (the newest always stays).
    for (const [k, old] of this.#slots) {
      if (this.#bytes <= this.#maxBytes || this.#slots.size <= 1) break;
      this.#slots.delete(k);
      this.#bytes -= frameBytes(old);
      // That source's next delta frame would refer to the dropped one: it waits for a keyframe.
      this.#needKey.add(k);
      this.dropped++;
      n++;
    }
    return n;
  }

  next(): FrameInit | undefined {
    for (const [idx, f] of this.#slots) {
      this.#slots.delete(idx);
      this.#bytes -= frameBytes(f);
      return f;
    }
    return undefined;
  }

  get busy(): boolean {
    return this.#slots.size > 0;
  }
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
