/**
 * MuxWriter: compressed video (H.264, VP8, VP9, AV1) and audio (PCM, Opus) written as they came,
 * with their timestamps, into MP4, MKV or WebM by mediabunny (loaded when first needed). Nothing is
 * re-encoded. The packets wait in one promise chain; `queued` bounds it (the recorder drops beyond).
 */
import path from 'node:path';
import type { EncodedAudioPacketSource, EncodedVideoPacketSource, Output } from 'mediabunny';
import { ErrorCode, RecordError } from '../../errors.js';
import { codecString, opusHead, type CompressedCodec } from './codecs.js';
import type { MediaWriter, TrackSet } from './writer.js';

export class MuxWriter implements MediaWriter {
  readonly #path: string;
  readonly #tracks: TrackSet;
  readonly #fail: (err: Error) => void;
  #chain: Promise<void>;
  #queued = 0;
  #failed = false;
  #out: Output | undefined;
  #video: EncodedVideoPacketSource | undefined;
  #audio: EncodedAudioPacketSource | undefined;
  #videoMeta = true;
  #audioMeta = true;

  constructor(file: string, tracks: TrackSet, fail: (err: Error) => void) {
    this.#path = file;
    this.#tracks = tracks;
    this.#fail = fail;
    this.#chain = this.#step(() => this.#open());
  }

  get queued(): number {
    return this.#queued;
  }

  async #open(): Promise<void> {
    const mb = await import('mediabunny');
    const ext = path.extname(this.#path).toLowerCase();
    const format = ext === '.mp4' ? new mb.Mp4OutputFormat() : ext === '.webm' ? new mb.WebMOutputFormat() : new mb.MkvOutputFormat();
    const out = new mb.Output({ format, target: new mb.FilePathTarget(this.#path) });
    const { video, audio } = this.#tracks;
    if (video) {
      this.#video = new mb.EncodedVideoPacketSource(video.kind as CompressedCodec);
      out.addVideoTrack(this.#video);
    }
    if (audio) {
      this.#audio = new mb.EncodedAudioPacketSource(audio.codec === 'opus' ? 'opus' : 'pcm-s16');
      out.addAudioTrack(this.#audio);
    }
    this.#out = out;
    await out.start();
  }

  /** Runs `fn` after what is queued; the first failure is reported once and ends the file. */
  #step(fn: () => Promise<void>, bytes = 0): Promise<void> {
    this.#queued += bytes;
    const run = async (): Promise<void> => {
      try {
        if (!this.#failed) await fn();
      } catch (err) {
        if (!this.#failed) {
          this.#failed = true;
          this.#fail(new RecordError(ErrorCode.RECORD_FAILED, `cannot write ${this.#path}: ${(err as Error).message}`, this.#path, { cause: err }));
        }
      } finally {
        this.#queued -= bytes;
      }
    };
    return (this.#chain = (this.#chain ?? Promise.resolve()).then(run));
  }

  video(data: Buffer, tMs: number, durMs: number, keyframe: boolean): boolean {
    const v = this.#tracks.video;
    if (this.#failed || !v) return false;
    void this.#step(async () => {
      const mb = await import('mediabunny');
      const packet = new mb.EncodedPacket(data, keyframe ? 'key' : 'delta', tMs / 1000, durMs / 1000);
      const first = this.#videoMeta;
      this.#videoMeta = false;
      await this.#video!.add(packet, first ? { decoderConfig: { codec: codecString(v.imageType, v.kind as CompressedCodec), codedWidth: v.width, codedHeight: v.height } } : undefined);
    }, data.length);
    return true;
  }

  audio(data: Buffer, tMs: number, durMs: number): boolean {
    const a = this.#tracks.audio;
    if (this.#failed || !a) return false;
    void this.#step(async () => {
      const mb = await import('mediabunny');
      const packet = new mb.EncodedPacket(data, 'key', tMs / 1000, durMs / 1000);
      const first = this.#audioMeta;
      this.#audioMeta = false;
      const config = a.codec === 'opus'
        ? { codec: 'opus', sampleRate: a.sampleRate, numberOfChannels: a.channels, description: opusHead(a.channels, a.sampleRate) }
        : { codec: 'pcm-s16', sampleRate: a.sampleRate, numberOfChannels: a.channels };
      await this.#audio!.add(packet, first ? { decoderConfig: config } : undefined);
    }, data.length);
    return true;
  }

  async close(): Promise<void> {
    await this.#step(() => this.#out!.finalize());
    if (!this.#failed) return;
    // The failure was reported through `fail`; what was written is left as it is.
    await this.#out?.cancel().catch(() => {});
    throw new RecordError(ErrorCode.RECORD_FAILED, `${this.#path} was not finished`, this.#path);
  }
}
