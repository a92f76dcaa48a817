/**
 * A Sender's video and audio frames, from the call (or the relayed frame) to the point where they
 * are queued for the links: the media header, the encode hooks (media/transform.ts) and the
 * relay source (relay-source.ts). The Sender queues what comes out (`deliver`).
 */
import type { CamwireError } from '../errors.js';
import type { AudioHookInfo, VideoHookInfo } from '../events.js';
import { EncodeHooks } from '../media/transform.js';
import { Flag } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import { encodeAudioHeader, encodeVideoHeader, type Rect } from '../protocol/messages.js';
import { invalid } from '../options.js';
import { RelaySource } from './relay-source.js';
import type { AudioSendOptions, SenderOptions, VideoSendOptions } from './sender-options.js';

/** Image types whose every frame stands alone (a keyframe unless told otherwise). Compared, not a Set: once per frame. */
const isIntraType = (t: string): boolean => t === 'jpeg' || t === 'png' || t === 'bmp' || t === 'hwl';

/** What MediaSend needs of its Sender. */
export interface MediaSendHost {
  maxPayload: number;
  /** A DATA frame of `type` with the addressing and timestamp of `o`. Throws for bad addressing. */
  init(type: 'video' | 'audio', payload: Buffer, o: VideoSendOptions | AudioSendOptions, flags: number): FrameInit;
  /** Throws a RangeError when the frame is larger than maxPayload. */
  checkSize(init: FrameInit): void;
  /** Queues a finished frame for the links (in order). */
  deliver(type: 'video' | 'audio', init: FrameInit): void;
  encodeError(type: 'video' | 'audio', err: CamwireError, info: VideoHookInfo | AudioHookInfo): void;
  dropped(type: 'video' | 'audio'): void;
  /** Whether the Sender is started (relayed frames are dropped otherwise). */
  started(): boolean;
  debug(err: unknown, msg: string): void;
}

/** MediaSend builds a Sender's video and audio frames. */
export class MediaSend {
  readonly #h: MediaSendHost;
  readonly #hooks: EncodeHooks | undefined;
  readonly #relay: RelaySource | undefined;
  readonly encodeErrors = { video: 0, audio: 0 };
  #lastVideoHeader: { imageType: string; width: number; height: number; buf: Buffer } | undefined;

  /** Throws a ConfigError for a bad `source` or hook. */
  constructor(options: SenderOptions, h: MediaSendHost) {
    this.#h = h;
    for (const name of ['encodeVideo', 'encodeAudio'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') throw invalid(name, 'must be a function (payload, info) => Buffer | Promise<Buffer>');
    }
    if (options.encodeVideo || options.encodeAudio) {
      this.#hooks = new EncodeHooks({
        encodeVideo: options.encodeVideo,
        encodeAudio: options.encodeAudio,
        maxPayload: h.maxPayload,
        send: (type, init) => h.deliver(type, init),
        error: (type, err, info) => {
          this.encodeErrors[type]++;
          h.encodeError(type, err, info);
        },
        dropped: (type) => h.dropped(type),
      });
    }
    if (options.source !== undefined) this.#relay = new RelaySource(options.source);
  }

  /** The relay source, if any (change detection asks it for full frames: relay-source.ts). */
  get relay(): RelaySource | undefined {
    return this.#relay;
  }

  /** Starts forwarding the source's media (a Sender with `source`). */
  start(): void {
    this.#relay?.start({
      // Options written out, not spread from the frame (an object spread costs microseconds: frame.ts, copyInit).
      video: (v, mediaIndex, transformed) =>
        this.#relayed('video', () =>
          this.video(v.data, { imageType: v.imageType, width: v.width, height: v.height, keyframe: v.keyframe, rect: v.rect, timestamp: v.timestamp, mediaIndex }, transformed),
        ),
      audio: (a, mediaIndex, transformed) =>
        this.#relayed('audio', () => this.audio(a.data, { codec: a.codec, sampleRate: a.sampleRate, channels: a.channels, timestamp: a.timestamp, mediaIndex }, transformed)),
    });
  }

  stop(): void {
    this.#relay?.stop();
  }

  /** A video frame: through the encode hook unless its bytes are `transformed` already (a relayed frame). */
  video(data: Buffer, o: VideoSendOptions, transformed: boolean): void {
    const imageType = o.imageType ?? 'jpeg';
    const keyframe = o.keyframe ?? isIntraType(imageType);
    const init = this.#h.init('video', data, o, (keyframe ? Flag.KEYFRAME : 0) | (transformed ? Flag.TRANSFORMED : 0));
    init.prefix = this.#videoHeader(imageType, o.width ?? 0, o.height ?? 0, o.rect);
    // Change-detection sources number their frames (docs/protocol.md 4.1): a receiver sees a gap.
    if (o.seq) init.seq = o.seq >>> 0;
    this.#h.checkSize(init);
    if (transformed || !this.#hooks?.has('video')) return this.#h.deliver('video', init);
    const info: VideoHookInfo = { mediaIndex: init.mediaIndex ?? 0, imageType, width: o.width ?? 0, height: o.height ?? 0, keyframe, timestamp: init.timestamp ?? 0 };
    if (o.rect) info.rect = o.rect;
    this.#hooks.submit('video', init, info);
  }

  /** An audio chunk, likewise. */
  audio(data: Buffer, o: AudioSendOptions, transformed: boolean): void {
    const h = { codec: o.codec ?? 'pcm_s16le', sampleRate: o.sampleRate ?? 48000, channels: o.channels ?? 1 };
    const init = this.#h.init('audio', data, o, transformed ? Flag.TRANSFORMED : 0);
    init.prefix = encodeAudioHeader(h);
    this.#h.checkSize(init);
    if (transformed || !this.#hooks?.has('audio')) return this.#h.deliver('audio', init);
    this.#hooks.submit('audio', init, { mediaIndex: init.mediaIndex ?? 0, ...h, timestamp: init.timestamp ?? 0 });
  }

  /** A relayed frame that cannot be sent (larger than this Sender's maxPayload) is dropped and counted. */
  #relayed(type: 'video' | 'audio', send: () => void): void {
    if (!this.#h.started()) return;
    try {
      send();
    } catch (err) {
      this.#h.debug(err, `relayed ${type} dropped`);
      this.#h.dropped(type);
    }
  }

  /** The video media header; a stream's frames share one (read-only) buffer unless a rect is given. */
  #videoHeader(imageType: string, width: number, height: number, rect: Rect | undefined): Buffer {
    if (rect) return encodeVideoHeader({ imageType, width, height, rect });
    const c = this.#lastVideoHeader;
    if (c && c.imageType === imageType && c.width === width && c.height === height) return c.buf;
    const buf = encodeVideoHeader({ imageType, width, height });
    this.#lastVideoHeader = { imageType, width, height, buf };
    return buf;
  }
}
