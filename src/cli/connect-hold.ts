/**
 * ConnectHold: compressed video held while a push Sender's video connection is not up, so the
 * group of pictures that starts a stream is not lost. A Sender's video queue keeps one frame per
 * source (latest wins) and, once a delta frame replaced another, waits for the next keyframe: while
 * the connection is being made (at the first frame, and again after an idle close or a
 * reconnect), that drops everything up to the next keyframe, up to one keyframe interval (2 s
 * from OBS). The hold keeps the frames since the last keyframe (within `maxBytes`) and, once the
 * connection is up, hands them on a few ms apart, so each goes out before the next comes; frames
 * that arrive meanwhile queue behind them. Used for `send --listen-input`.
 */
import type { Sender, VideoSendOptions } from '../index.js';

export class ConnectHold {
  readonly #send: (data: Buffer, o: VideoSendOptions) => void;
  readonly #maxBytes: number;
  readonly #gapMs: number;
  #q: Array<{ data: Buffer; o: VideoSendOptions }> = [];
  #bytes = 0;
  #open = false;
  /** A keyframe waits in the Sender's queue (it made the Sender connect): what follows it is held. */
  #primed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Frames dropped: before a keyframe while not connected, or because the hold was full. */
  dropped = 0;

  constructor(sender: Sender, send: (data: Buffer, o: VideoSendOptions) => void, o: { maxBytes?: number; gapMs?: number } = {}) {
    this.#send = send;
    this.#maxBytes = o.maxBytes ?? 8 * 1024 * 1024;
    this.#gapMs = o.gapMs ?? 5;
    sender.on('connected', (ev) => {
      if (!ev.mediaTypes.includes('video')) return;
      this.#open = true;
      // The Sender sends the keyframe it holds right after this event: the rest goes after it.
      setImmediate(() => this.#drain());
    });
    const down = (ev: { mediaTypes: string[] }): void => {
      if (!ev.mediaTypes.includes('video')) return;
      // The Sender drops what waited for a connection that failed: start again at a keyframe.
      this.#open = false;
      this.#primed = false;
      this.#clear();
    };
    sender.on('disconnect', down);
    sender.on('connectError', down);
  }

  video(data: Buffer, o: VideoSendOptions): void {
    if (this.#open && this.#q.length === 0 && !this.#timer) return this.#send(data, o);
    if (!this.#open) {
      if (o.keyframe) {
        // It replaces whatever waits: what was held before it is of no use any more.
        this.#clear();
        this.#primed = true;
        return this.#send(data, o);
      }
      if (!this.#primed) return void this.dropped++;
    }
    if (this.#bytes + data.length > this.#maxBytes) {
      // Too much held: everything up to the next keyframe goes.
      this.dropped += 1;
      this.#clear();
      this.#primed = false;
      return;
    }
    this.#q.push({ data, o });
    this.#bytes += data.length;
    if (this.#open) this.#drain();
  }

  stop(): void {
    this.#clear();
  }

  #clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.dropped += this.#q.length;
    this.#q = [];
    this.#bytes = 0;
  }

  /** Hands on the held frames a few ms apart. */
  #drain(): void {
    if (this.#timer || !this.#open) return;
    const f = this.#q.shift();
    if (!f) return;
    this.#bytes -= f.data.length;
    this.#send(f.data, f.o);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, this.#gapMs);
  }
}
