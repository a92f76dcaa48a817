/**
 * Received media sent on as a source (the original's VideoSource = a receiver, with SourceGUID,
 * SourceVideoIndex and SourceAudioIndex): a Sender whose `source` is a Receiver forwards the
 * video frames and audio chunks that Receiver gets from one client, as they came: the image or
 * sample bytes are not decoded and encoded again, and the media header (image type, size,
 * rectangle, codec), the KEYFRAME and TRANSFORMED flags and the timestamp go on unchanged.
 *
 * Roles do not import each other: the Sender sees its Receiver through `RelayUpstream`, the two
 * members of a Receiver it needs.
 */
import type { AudioChunk, ReceivedMedia, VideoFrame } from '../events.js';
import { invalid } from '../options.js';

/** What a relay source needs of a Receiver (a Receiver has it). */
export interface RelayUpstream {
  /** Calls `fn` for every video frame and audio chunk received, before any decode hook; returns the function that stops it. */
  onMedia(fn: (m: ReceivedMedia) => void): () => void;
  /**
   * The seam for change detection (not built here): asks the peer that sends client `from`'s
   * video `mediaIndex` to this receiver for a full frame as soon as possible, on the link that
   * carries it (push: back to the pushing sender; pull: to the sender or MediaServer pulled
   * from). Returns false when it cannot be asked (no such link, or not supported).
   */
  requestFullFrame?(from: string, mediaIndex: number): boolean;
}

/** The `source` option of a Sender. */
export interface RelaySourceOptions {
  /** The Receiver whose media is sent on. */
  receiver: RelayUpstream;
  /** The original sender's client id (SourceGUID). @default any client */
  from?: string;
  /** The original's video media index to send on (SourceVideoIndex); null: no video. @default 0 */
  videoIndex?: number | null;
  /** The original's audio media index to send on (SourceAudioIndex); null: no audio. @default 0 */
  audioIndex?: number | null;
  /** The media index this Sender sends the forwarded media with. @default 0 */
  mediaIndex?: number;
}

/** How a relay source hands a frame to its Sender; `transformed`: the bytes are still transformed. */
export interface RelaySink {
  video(frame: VideoFrame, mediaIndex: number, transformed: boolean): void;
  audio(chunk: AudioChunk, mediaIndex: number, transformed: boolean): void;
}

function index(name: string, v: number | null | undefined): number | null {
  if (v === undefined) return 0;
  if (v === null) return null;
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw invalid(`source.${name}`, `must be an integer in 0..65535 or null, got ${String(v)}`);
  return v;
}

/** RelaySource: the subscription of a Sender to its source Receiver. */
export class RelaySource {
  readonly #receiver: RelayUpstream;
  readonly #from: string | undefined;
  readonly #video: number | null;
  readonly #audio: number | null;
  readonly #index: number;
  #off: (() => void) | undefined;
  /** The client whose video was forwarded last (who to ask for a full frame when `from` is not set). */
  #lastFrom: string | undefined;

  /** Checks the option; throws a ConfigError naming the bad field. */
  constructor(o: RelaySourceOptions) {
    if (typeof o?.receiver?.onMedia !== 'function') throw invalid('source.receiver', 'must be a Receiver');
    if (o.from !== undefined && typeof o.from !== 'string') throw invalid('source.from', 'must be a client id');
    this.#receiver = o.receiver;
    this.#from = o.from;
    this.#video = index('videoIndex', o.videoIndex);
    this.#audio = index('audioIndex', o.audioIndex);
    this.#index = index('mediaIndex', o.mediaIndex ?? 0)!;
  }

  /** Starts forwarding to `sink`. */
  start(sink: RelaySink): void {
    this.#off ??= this.#receiver.onMedia((m) => {
      if (this.#from !== undefined && m.meta.from !== this.#from) return;
      if (m.mediaType === 'video') {
        if (m.meta.mediaIndex !== this.#video) return;
        this.#lastFrom = m.meta.from;
        sink.video(m.frame, this.#index, m.transformed);
      } else if (m.meta.mediaIndex === this.#audio) sink.audio(m.chunk, this.#index, m.transformed);
    });
  }

  /** Stops forwarding. */
  stop(): void {
    this.#off?.();
    this.#off = undefined;
  }

  /**
   * The seam for change detection: a reader downstream needs a full frame of the forwarded video
   * (a late joiner, a lost rectangle), and this Sender cannot make one because it does not decode:
   * the request travels upstream, to the peer that sends the original source to the Receiver.
   * False when there is no video to ask for or the Receiver cannot ask (RelayUpstream.requestFullFrame).
   */
  requestFullFrame(): boolean {
    const from = this.#from ?? this.#lastFrom;
    if (this.#video === null || from === undefined) return false;
    return this.#receiver.requestFullFrame?.(from, this.#video) ?? false;
  }
}
