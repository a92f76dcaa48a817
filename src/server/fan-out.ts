/**
 * FanOut: video and audio from a client's push link to its readers, an event-loop iteration at a
 * time (docs/architecture.md, fan-out). The frames one client pushes in one iteration (all that
 * the socket reads of its poll phase delivered) gather in a batch per (client, type, `to`,
 * `group`); in the check phase (setImmediate) the batch is routed once and offered to each target
 * reader as a whole. A reader that
 * keeps up writes the batch's shared encoding (end to end in one arena buffer) as one piece;
 * one that is behind takes each frame through its latest-wins or drop-oldest queue. Never waits.
 */
import type { MediaTypeName } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import { FrameArena, FrameBatch, JOIN_MAX } from '../protocol/fan-encoding.js';
import { RecyclingArena } from '../protocol/recycling-arena.js';
import type { Client } from './client.js';
import type { ServerMetrics } from './metrics.js';
import type { Miss, Router, Target } from './router.js';
import type { GopCaches } from './gop-cache.js';

type MediaName = 'video' | 'audio';

/** Readers from which a batch in several pieces is joined into one Buffer (FrameBatch.join). */
const JOIN_READERS = 8;

/** One client's frames of one type and one address, gathered in the current turn. */
interface Pending {
  from: Client;
  type: MediaName;
  batch: FrameBatch;
  /** Holds compressed video: goes through the GOP caches. */
  gop: boolean;
}

export class FanOut {
  readonly #router: Router;
  readonly #metrics: ServerMetrics;
  readonly #miss: (c: Client, why: Miss, type: MediaTypeName, n: number) => void;
  /** Frames of the batch being routed: an addressee left out misses each of them. */
  #routing = 0;
  readonly #missBatch = (c: Client, why: Miss, type: MediaTypeName): void => this.#miss(c, why, type, this.#routing);
  readonly #onUnrouted: (type: MediaName) => void;
  /** Where the batches' frames are encoded whole, one after the other (give it to their SharedEncodings). */
  readonly arena = new FrameArena();
  /**
   * Where batches in several pieces are joined for many readers: reused once every write of a
   * joined batch completed (FrameBatch.joinArena), not a new Buffer per batch (bench/FANOUT.md,
   * "Peak RSS and 1 KiB"). Two spare buffers at most.
   */
  readonly #joins = new RecyclingArena(JOIN_MAX, 2);
  /**
   * The open batch of each client, per type; all of them in `#turn`, in the order they opened.
   * Entries are deleted one by one as their batch is delivered, never with `clear()`: these maps
   * live in V8's old generation, and `clear()` gives an old map a new table in the old generation
   * while the dropped table, garbage there until the next full GC, still points at the turn's
   * batches. The young-generation GC counts such pointers as live, so every batch, its frames
   * and the socket reads under them survived two scavenges and were promoted: the relay's peak
   * RSS held every read since the last full GC (bench/FANOUT.md, "Peak RSS: the cause").
   */
  readonly #open = { video: new Map<Client, Pending>(), audio: new Map<Client, Pending>() };
  #turn: Pending[] = [];
  readonly #flush = (): void => this.flush();
  readonly #gops: GopCaches | undefined;

  constructor(router: Router, metrics: ServerMetrics, miss: (c: Client, why: Miss, type: MediaTypeName, n: number) => void, onUnrouted: (type: MediaName) => void, gops?: GopCaches) {
    this.#gops = gops;
    this.#router = router;
    this.#metrics = metrics;
    this.#miss = miss;
    this.#onUnrouted = onUnrouted;
  }

  /**
   * Adds a frame of `bytes` payload bytes (attributed to `from`, with its shared encoding) to this
   * turn's batch; `gop`: compressed video, for the GOP caches.
   */
  add(from: Client, type: MediaName, init: FrameInit, bytes: number, gop = false): void {
    const open = this.#open[type];
    let p = open.get(from);
    if (p && (p.batch.to !== (init.to ?? '') || p.batch.group !== (init.group ?? ''))) {
      // Another address: what came before goes first, as it came.
      this.#deliver(p);
      p = undefined;
    }
    if (!p) {
      if (this.#turn.length === 0) setImmediate(this.#flush);
      p = { from, type, batch: new FrameBatch(init.to ?? '', init.group ?? ''), gop: false };
      open.set(from, p);
      this.#turn.push(p);
    }
    p.batch.add(init, bytes);
    if (gop) p.gop = true;
  }

  /** Delivers every open batch (the check phase after the reads). Each is taken out of `#open` as it goes. */
  flush(): void {
    const turn = this.#turn;
    this.#turn = [];
    for (const p of turn) this.#deliver(p);
  }

  #deliver(p: Pending): void {
    const { from, type, batch } = p;
    if (this.#open[type].get(from) === p) this.#open[type].delete(from);
    if (batch.frames.length === 0) return;
    const frames = batch.frames.length;
    const bytes = batch.payloadBytes;
    this.#routing = frames;
    // Compressed video is cached whoever reads it: a reader that comes later starts from it.
    const gop = p.gop ? this.#gops?.begin(from, batch) : undefined;
    const targets = this.#router.targets(from, batch, type, this.#missBatch);
    if (targets.length === 0) {
      for (let i = 0; i < frames; i++) this.#onUnrouted(type);
      this.#metrics.drop(type, 'unrouted', frames);
      batch.release();
      return;
    }
    // Many readers: one copy of a batch in several pieces costs less than a gathered write per reader.
    batch.join = targets.length >= JOIN_READERS;
    // Into reused memory only when every target holds what it keeps of it (not a cluster's publish).
    if (batch.join && allHold(targets)) batch.joinArena = this.#joins;
    let dropped = 0;
    for (const { client: t, reader } of targets) {
      dropped += gop ? gop.offer(reader) : reader.offerBatch(batch);
      const out = t.counters.out[type];
      out.frames += frames;
      out.bytes += bytes;
    }
    // Metrics once per batch, not per reader or frame: label lookups cost more than the copy they count.
    this.#metrics.countTotal('out', type, targets.length * frames, targets.length * bytes);
    if (dropped) this.#metrics.drop(type, 'slow_reader', dropped);
    // Delivered: a batch may be emptied early (another address), the turn's flush then skips it.
    // Its frames and pieces are let go at once: nothing keeps the reads under them past the turn.
    batch.release();
  }
}

function allHold(targets: readonly Target[]): boolean {
  for (const t of targets) if (t.reader.holdsEncoded !== true) return false;
  return true;
}
