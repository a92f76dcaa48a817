/**
 * Inbound: the pending limits of a node's media subscriptions (docs/cluster.md, A slow node).
 * Video and audio that other nodes publish to this node wait here for the next turn of the event
 * loop, in arrival order, and are then fanned out to the local readers. A node that falls behind
 * (its event loop busy) reads its NATS socket in bursts; beyond `messages` or `bytes` waiting, the
 * oldest go, counted (`camwire_dropped_total{reason="cluster_pending"}`, `stats().cluster.dropped`),
 * so the node serves the newest frames instead of working through stale ones. Only this node's
 * readers lose them: NATS delivers to each node separately, and the publishers never wait.
 * Reliable items do not wait here (they are acknowledged end to end).
 */
import type { MediaTypeName } from '../../protocol/constants.js';
import type { ServerMetrics } from '../metrics.js';

/** A node's pending limits for the video and audio of other nodes. */
export interface PendingLimits {
  messages: number;
  bytes: number;
}

interface Waiting {
  type: MediaTypeName;
  frames: number;
  bytes: number;
  run: () => void;
}

export class Inbound {
  readonly #limits: PendingLimits;
  readonly #metrics: ServerMetrics;
  #q: Waiting[] = [];
  #head = 0;
  #bytes = 0;
  #scheduled = false;
  #stopped = false;
  /** Frames dropped at the limits. */
  dropped = 0;
  /** Most messages that waited at once. */
  peak = 0;

  constructor(limits: PendingLimits, metrics: ServerMetrics) {
    this.#limits = limits;
    this.#metrics = metrics;
  }

  /** A message of `frames` video or audio frames: `run` delivers it on the next turn, unless it is dropped first. */
  media(type: MediaTypeName, frames: number, bytes: number, run: () => void): void {
    if (this.#stopped) return;
    this.#q.push({ type, frames, bytes, run });
    this.#bytes += bytes;
    // The newest message always stays.
    while (this.#q.length - this.#head > 1 && (this.#q.length - this.#head > this.#limits.messages || this.#bytes > this.#limits.bytes)) {
      const old = this.#q[this.#head++];
      this.#bytes -= old.bytes;
      this.dropped += old.frames;
      this.#metrics.drop(old.type, 'cluster_pending', old.frames);
    }
    this.peak = Math.max(this.peak, this.#q.length - this.#head);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#run());
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#q = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #run(): void {
    this.#scheduled = false;
    const q = this.#q;
    const head = this.#head;
    this.#q = [];
    this.#head = 0;
    this.#bytes = 0;
    for (let i = head; i < q.length; i++) q[i].run();
  }
}

/** The media type of a message whose frames are all video, or all audio, DATA frames; else undefined. */
export function mediaOnly(frames: ReadonlyArray<{ kind: number; mediaType: number }>, video: number, audio: number, data: number): 'video' | 'audio' | undefined {
  const first = frames[0];
  if (!first || first.kind !== data || (first.mediaType !== video && first.mediaType !== audio)) return undefined;
  for (const f of frames) if (f.kind !== data || f.mediaType !== first.mediaType) return undefined;
  return first.mediaType === video ? 'video' : 'audio';
}
