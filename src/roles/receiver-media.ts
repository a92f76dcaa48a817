/**
 * A Receiver's video and audio on their way to the application: the media taps (`onMedia`, which
 * see every frame as it came, transformed or not; a Sender's relay source is one), then the decode
 * hooks, in the order the frames came on each link (media/transform.ts).
 *
 * Decoding serves the `video` and `audio` events: a Receiver with no listener for a type neither
 * decodes it nor reports decode errors for it (a hub that only sends frames on, encrypted, needs
 * no key). A TRANSFORMED frame the Receiver cannot decode (its hook failed, or it has none) is
 * dropped, counted in `decodeErrors` and `dropped`, and reported as `decodeError`; the link goes on.
 */
import { CamwireError, ErrorCode } from '../errors.js';
import type { AudioChunk, AudioHookInfo, MediaHook, MessageMeta, ReceivedMedia, VideoFrame, VideoHookInfo } from '../events.js';
import { HookQueue, hookError, runHook } from '../media/transform.js';
import { invalid } from '../options.js';
import type { FrameLink } from '../link/frame-link.js';

/** The decode hooks of a Receiver's options. */
export interface DecodeHookOptions {
  decodeVideo?: MediaHook<VideoHookInfo>;
  decodeAudio?: MediaHook<AudioHookInfo>;
}

/** What ReceiverMedia needs of its Receiver. */
export interface ReceiverMediaHost {
  /** Whether the application listens to `type` (decoding is done for it only). */
  wants(type: 'video' | 'audio'): boolean;
  /** `link`: the link the frame came on (a composer asks for a full frame on it). */
  video(v: VideoFrame, m: MessageMeta, link: FrameLink | undefined): void;
  audio(a: AudioChunk, m: MessageMeta): void;
  decodeError(type: 'video' | 'audio', err: CamwireError, m: MessageMeta): void;
  /** A frame waiting behind a slow decode hook was dropped to keep the link's queue bounded. */
  dropped(type: 'video' | 'audio'): void;
}

/** One link's video and audio handlers (an InboundSink's video and audio). */
export interface LinkMedia {
  video(v: VideoFrame, m: MessageMeta, transformed: boolean): void;
  audio(a: AudioChunk, m: MessageMeta, transformed: boolean): void;
}

/** ReceiverMedia: taps and decode hooks of one Receiver. */
export class ReceiverMedia {
  readonly #o: DecodeHookOptions;
  readonly #h: ReceiverMediaHost;
  readonly #taps = new Set<(m: ReceivedMedia) => void>();
  readonly decodeErrors = { video: 0, audio: 0 };

  /** Throws a ConfigError for a hook that is not a function. */
  constructor(o: DecodeHookOptions, h: ReceiverMediaHost) {
    for (const name of ['decodeVideo', 'decodeAudio'] as const) {
      if (o[name] !== undefined && typeof o[name] !== 'function') throw invalid(name, 'must be a function (payload, info) => Buffer | Promise<Buffer>');
    }
    this.#o = o;
    this.#h = h;
  }

  /** Calls `fn` for every video frame and audio chunk, before decoding; returns the function that stops it. */
  onMedia(fn: (m: ReceivedMedia) => void): () => void {
    this.#taps.add(fn);
    return () => void this.#taps.delete(fn);
  }

  /** The handlers of one link: its frames reach the application in the order they came. */
  forLink(link?: FrameLink): LinkMedia {
    // A link carries one media type.
    let type: 'video' | 'audio' = 'video';
    const order = new HookQueue<() => void>(
      (emit) => emit(),
      () => this.#h.dropped(type),
    );
    return {
      video: (v, m, transformed) => {
        type = 'video';
        if (this.#taps.size !== 0) for (const fn of this.#taps) fn({ mediaType: 'video', frame: v, transformed, meta: m });
        if (!this.#h.wants('video')) return;
        // A clear frame with nothing waiting before it goes at once (no allocation).
        if (!transformed) return order.waiting === 0 ? this.#h.video(v, m, link) : order.push(() => this.#h.video(v, m, link), 0);
        const info: VideoHookInfo = { mediaIndex: m.mediaIndex, imageType: v.imageType, width: v.width, height: v.height, keyframe: v.keyframe, timestamp: v.timestamp, from: m.from };
        if (v.rect) info.rect = v.rect;
        this.#decode('video', v.data, info, m, order, (data) => this.#h.video({ ...v, data }, m, link));
      },
      audio: (a, m, transformed) => {
        type = 'audio';
        if (this.#taps.size !== 0) for (const fn of this.#taps) fn({ mediaType: 'audio', chunk: a, transformed, meta: m });
        if (!this.#h.wants('audio')) return;
        if (!transformed) return order.waiting === 0 ? this.#h.audio(a, m) : order.push(() => this.#h.audio(a, m), 0);
        const info: AudioHookInfo = { mediaIndex: m.mediaIndex, codec: a.codec, sampleRate: a.sampleRate, channels: a.channels, timestamp: a.timestamp, from: m.from };
        this.#decode('audio', a.data, info, m, order, (data) => this.#h.audio({ ...a, data }, m));
      },
    };
  }

  #decode<I>(type: 'video' | 'audio', data: Buffer, info: I, m: MessageMeta, order: HookQueue<() => void>, emit: (data: Buffer) => void): void {
    const hook = (type === 'video' ? this.#o.decodeVideo : this.#o.decodeAudio) as MediaHook<I> | undefined;
    const name = type === 'video' ? 'decodeVideo' : 'decodeAudio';
    const fail = (err: CamwireError): void => {
      this.decodeErrors[type]++;
      this.#h.decodeError(type, err, m);
    };
    if (!hook) {
      fail(new CamwireError(ErrorCode.MEDIA_DECODE, `a TRANSFORMED ${type} frame from ${JSON.stringify(m.from)} arrived and this receiver has no ${name} hook; the frame was dropped`));
      return;
    }
    const r = runHook(hook, data, info, Infinity, (err) => fail(hookError(ErrorCode.MEDIA_DECODE, name, err)));
    const then = (out: Buffer | undefined): (() => void) | undefined => (out === undefined ? undefined : () => emit(out));
    order.push(r instanceof Promise ? r.then(then) : then(r), data.length);
  }
}
