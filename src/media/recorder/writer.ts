/** What a recording holds, and the interface of the two ways one is written (mux-writer.ts, ffmpeg-writer.ts). */
import type { CompressedCodec } from './codecs.js';

/** The tracks of one recording file, fixed when it starts. */
export interface TrackSet {
  video?: { kind: CompressedCodec | 'jpeg'; imageType: string; width: number; height: number };
  audio?: { codec: 'pcm_s16le' | 'opus'; sampleRate: number; channels: number };
}

/** Writes one file. Times are ms from the file's start; a writer never throws, it calls its `fail`. */
export interface MediaWriter {
  /** False when the frame was not taken (the writer's queue is full, or it failed). */
  video(data: Buffer, tMs: number, durMs: number, keyframe: boolean): boolean;
  audio(data: Buffer, tMs: number, durMs: number): boolean;
  /** Bytes taken and not yet written. */
  readonly queued: number;
  /** Writes what is queued and finishes the file; rejects with the failure, if any. */
  close(): Promise<void>;
}
