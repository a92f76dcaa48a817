/**
 * GopCaches: fast start for compressed video (docs/behaviour.md, section 5). Per source (sending
 * client and media index) of a named codec (docs/protocol.md, 4.1) the server keeps the frames
 * since the last keyframe, bounded in frames and bytes. A reader's first frames of such a source
 * start at a keyframe: the cached group of pictures when it has one, so a late joiner decodes a
 * picture at once, else the next keyframe. Sources of JPEG and the other intra image types are
 * not cached and cost one byte read per frame.
 */
import { Flag, Kind, MediaType } from '../protocol/constants.js';
import type { Frame, FrameInit } from '../protocol/frame.js';
import { FrameBatch } from '../protocol/fan-encoding.js';
import type { Client } from './client.js';
import type { Reader } from './router.js';

/** Bounds of one source's cache. */
export interface GopCacheOptions {
  /** Frames kept per source, at most; 0: none (readers still start at a keyframe). @default 300 */
  maxFrames: number;
  /** Bytes kept per sending client, all its sources together, at most (the server uses its `buffers.video`). */
  maxBytes: number;
}

/** Bytes all caches of a server hold together, at most; beyond it new groups of pictures are not kept. */
export const MAX_TOTAL_BYTES = 256 * 1024 * 1024;
/**
 * A source that sent nothing for this long has no cached start to give: MediaServer.videoGop and a
 * cluster's catch-up answer (docs/cluster.md, Groups) leave it out; its readers start at its next
 * keyframe.
 */
export const STALE_GOP_MS = 10_000;

/** Compressed sources (media indexes) tracked per client; beyond it the least recently seen is forgotten. */
const MAX_SOURCES = 64;

/** One client's sources and the bytes their caches hold together. */
interface ClientGops {
  sources: Map<number, Gop>;
  bytes: number;
}

/** One source's frames since its last keyframe. */
interface Gop {
  /** Copies of the frames, the keyframe first; empty while no keyframe (or over the bounds). */
  frames: FrameInit[];
  bytes: number;
  /** Readers that had this source's keyframe: they take its frames as they come. */
  started: WeakSet<Reader>;
  /** When the last frame came (ms since the epoch). */
  lastAt: number;
}

/** True when a video frame's payload starts with image type 0 (a named codec), read without joining its payload. */
export function isNamedCodec(f: Frame): boolean {
  const raw = f.raw;
  if (raw !== undefined && !Buffer.isBuffer(raw)) {
    const h = raw[0];
    const at = 36 + h[32] + h[33] + h[34];
    if (at < h.length) return h[at] === 0;
  }
  return f.payload.length > 0 && f.payload[0] === 0;
}

/** One batch's delivery: the caches as they were before it, for readers that start on it. */
export interface GopDelivery {
  /** Offers the batch to `reader` (its first frames of a source from a keyframe on); returns the frames dropped. */
  offer(reader: Reader): number;
}

export class GopCaches {
  readonly #o: GopCacheOptions;
  readonly #by = new WeakMap<Client, ClientGops>();
  /**
   * Readers that take every frame as it comes, never a cached start (a cluster's group subject:
   * cluster/catch-up.ts), each with the readers of its addressees when it has some (a cluster's
   * address list: cluster/listed.ts), or null.
   */
  readonly #live = new WeakMap<Reader, (() => readonly Reader[]) | null>();
  /** Bytes held by all caches. */
  #total = 0;

  constructor(o: GopCacheOptions) {
    this.#o = o;
  }

  /**
   * A batch of compressed frames from `from`: caches them, and returns how to offer it to each
   * target reader.
   */
  begin(from: Client, batch: FrameBatch): GopDelivery {
    let c = this.#by.get(from);
    if (!c) this.#by.set(from, (c = { sources: new Map(), bytes: 0 }));
    const sources = c.sources;
    // What each source's cache held before this batch: a reader that starts on a delta frame of
    // the batch gets that first (the arrays are replaced, not emptied, at a keyframe).
    const before = new Map<number, { gop: Gop; frames: FrameInit[]; n: number }>();
    for (const f of batch.frames) {
      const mi = f.mediaIndex ?? 0;
      let gop = sources.get(mi);
      if (!gop) {
        if (sources.size >= MAX_SOURCES) {
          // Forget the least recently seen source (its readers start again at its next keyframe).
          const [oldest, old] = sources.entries().next().value as [number, Gop];
          this.#clear(c, old);
          sources.delete(oldest);
        }
        gop = { frames: [], bytes: 0, started: new WeakSet(), lastAt: 0 };
      } else sources.delete(mi);
      sources.set(mi, gop); // most recently seen last
      if (!before.has(mi)) before.set(mi, { gop, frames: gop.frames, n: gop.frames.length });
      this.#add(c, gop, f);
    }
    /** Each source's cached frames before the batch as one batch, made once for all the addressees that start on it. */
    let replays: Map<number, FrameBatch> | undefined;
    /**
     * Starts `r` (an addressee of a live reader, which takes the batch itself) on each source of
     * the batch that it has not had a keyframe of: at a delta, the cached frames before it go to
     * `r` alone, as one batch; at a keyframe, it starts there. Returns the frames dropped.
     */
    const start = (r: Reader): number => {
      let dropped = 0;
      for (const f of batch.frames) {
        const mi = f.mediaIndex ?? 0;
        const b = before.get(mi)!;
        if (b.gop.started.has(r)) continue;
        const key = ((f.flags ?? 0) & Flag.KEYFRAME) !== 0;
        // No picture to start from: its node's readers wait for the next keyframe.
        if (!key && b.n === 0) continue;
        b.gop.started.add(r);
        if (key) continue;
        let replay = replays?.get(mi);
        if (!replay) {
          replay = new FrameBatch(batch.to, batch.group);
          for (let i = 0; i < b.n; i++) replay.add(b.frames[i], b.frames[i].payload?.length ?? 0);
          (replays ??= new Map()).set(mi, replay);
        }
        dropped += r.offerBatch(replay);
      }
      return dropped;
    };
    return {
      offer: (reader) => {
        let all = true;
        for (const b of before.values()) if (!b.gop.started.has(reader)) all = false;
        if (all) return reader.offerBatch(batch);
        const each = this.#live.get(reader);
        if (each !== undefined) {
          let dropped = 0;
          if (each) for (const r of each()) dropped += start(r);
          return dropped + reader.offerBatch(batch);
        }
        let dropped = 0;
        for (const f of batch.frames) {
          const b = before.get(f.mediaIndex ?? 0)!;
          if (b.gop.started.has(reader)) {
            dropped += reader.offer(f);
            continue;
          }
          const key = ((f.flags ?? 0) & Flag.KEYFRAME) !== 0;
          if (!key && b.n === 0) {
            // No picture to start from yet: the next keyframe.
            dropped++;
            continue;
          }
          b.gop.started.add(reader);
          if (!key) for (let i = 0; i < b.n; i++) dropped += reader.offer(b.frames[i]);
          dropped += reader.offer(f);
        }
        return dropped;
      },
    };
  }

  /** The cached frames of a source (keyframe first), none when it has none or sent nothing for STALE_GOP_MS. */
  snapshot(from: Client, mediaIndex: number): FrameInit[] {
    const gop = this.#by.get(from)?.sources.get(mediaIndex);
    if (!gop || Date.now() - gop.lastAt > STALE_GOP_MS) return [];
    return gop.frames.slice();
  }

  /**
   * `reader` takes every frame as it comes and is never sent a cached start: the subject of a
   * group on other nodes, whose nodes ask for the cached frames themselves when they need them
   * (docs/cluster.md, Groups), or the subject of an address list on other nodes. With `each`,
   * the readers of its addressees one by one (their own subjects): before a batch goes to
   * `reader`, each of them that has not had a source's keyframe gets the cached frames before
   * the batch, alone (docs/cluster.md, Routing): a new addressee starts at the keyframe, and
   * those that read already get nothing twice.
   */
  live(reader: Reader, each?: () => readonly Reader[]): void {
    this.#live.set(reader, each ?? null);
  }

  /**
   * The cached frames of `from`'s sources whose group of pictures goes to `group` (each source's
   * keyframe first), as a cluster's catch-up answer sends them; none for a source silent for
   * STALE_GOP_MS.
   */
  groupFrames(from: Client, group: string): FrameInit[][] {
    const out: FrameInit[][] = [];
    const c = this.#by.get(from);
    if (!c) return out;
    const now = Date.now();
    for (const gop of c.sources.values()) if (gop.frames.length > 0 && gop.frames[0].group === group && now - gop.lastAt <= STALE_GOP_MS) out.push(gop.frames.slice());
    return out;
  }

  /** Whether source `mediaIndex` of `from` holds a group of pictures (it has had a keyframe since it was last cleared). */
  holds(from: Client, mediaIndex: number): boolean {
    return (this.#by.get(from)?.sources.get(mediaIndex)?.frames.length ?? 0) > 0;
  }

  /**
   * The cached frames of `from`'s sources for `group` are stale (this node stopped receiving the
   * group, then needs it again): they go, and every reader starts these sources again at a keyframe.
   */
  forgetGroup(from: Client, group: string): void {
    const c = this.#by.get(from);
    if (!c) return;
    for (const gop of c.sources.values()) {
      if (gop.frames.length === 0 || gop.frames[0].group !== group) continue;
      this.#clear(c, gop);
      gop.started = new WeakSet();
    }
  }

  #add(c: ClientGops, gop: Gop, f: FrameInit): void {
    gop.lastAt = Date.now();
    const key = ((f.flags ?? 0) & Flag.KEYFRAME) !== 0;
    if ((!key && gop.frames.length === 0) || this.#o.maxFrames === 0) return;
    const view = f.payload ?? Buffer.alloc(0);
    if (key) this.#clear(c, gop);
    if (gop.frames.length >= this.#o.maxFrames || c.bytes + view.length > this.#o.maxBytes || this.#total + view.length > MAX_TOTAL_BYTES) {
      // Over the bounds: nothing until the next keyframe (a late joiner then waits for it).
      this.#clear(c, gop);
      return;
    }
    // A copy: the received bytes are views of socket reads, not to be held.
    const payload = Buffer.from(view);
    gop.frames.push({ kind: Kind.DATA, mediaType: MediaType.video, mediaIndex: f.mediaIndex, flags: f.flags, timestamp: f.timestamp, from: f.from, to: f.to, group: f.group, payload });
    gop.bytes += payload.length;
    c.bytes += payload.length;
    this.#total += payload.length;
  }

  /** Bytes all caches hold. */
  get bytes(): number {
    return this.#total;
  }

  /** The client sends no more (its last push link closed): its caches go. */
  forget(from: Client): void {
    const c = this.#by.get(from);
    if (!c) return;
    for (const gop of c.sources.values()) this.#clear(c, gop);
    this.#by.delete(from);
  }

  #clear(c: ClientGops, gop: Gop): void {
    c.bytes -= gop.bytes;
    this.#total -= gop.bytes;
    gop.frames = [];
    gop.bytes = 0;
  }
}
