/**
 * Recorder: received video and audio into one MP4, MKV or WebM file at their own timestamps
 * (docs/behaviour.md, Recording). Compressed video is remuxed by mediabunny (MuxWriter); JPEG
 * video is transcoded to H.264 by ffmpeg from a timestamped stream (FfmpegWriter). Used by the
 * CLI (`receive --save`) and the MediaServer (`record`, per source in segments).
 *
 * The file starts at the first video keyframe, or with audio alone. Its tracks are fixed when it
 * starts: until then frames wait (bounded), until both video and audio are there, until the
 * frames span `trackWaitMs`, or at once for what `expect` rules out. Times in the file are the
 * frames' timestamps less the first one's; video times only go forward, audio chunks follow
 * each other sample-exact unless their timestamps jump by more than `audioJitterMs`. Nothing
 * throws at the caller: a frame that cannot be taken is counted, a failure is an `error` event.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { ErrorCode, RecordError } from '../../errors.js';
import type { AudioChunk, VideoFrame } from '../../events.js';
import { findSps, spsDimensions } from '../../protocol/h264.js';
import { audioDurationMs, audioKind, videoKind } from './codecs.js';
import { FfmpegWriter } from './ffmpeg-writer.js';
import { MuxWriter } from './mux-writer.js';
import type { MediaWriter, TrackSet } from './writer.js';

/** The video a Recorder takes: a received frame, or a server tap's. */
export type RecordVideo = Pick<VideoFrame, 'data' | 'imageType' | 'width' | 'height' | 'keyframe' | 'timestamp'>;
/** The audio a Recorder takes. */
export type RecordAudio = Pick<AudioChunk, 'data' | 'codec' | 'sampleRate' | 'channels' | 'timestamp'>;

/** Options of a Recorder. */
export interface RecorderOptions {
  /** The file: `.mp4`, `.mkv` or `.webm` (WebM: VP8, VP9 or AV1 with Opus only). */
  path: string;
  /** What to wait for before the file starts: false rules a kind out. @default both awaited up to trackWaitMs */
  expect?: { video?: boolean; audio?: boolean };
  /** How long (in frame time) the first frames wait for the other kind. @default 1000 */
  trackWaitMs?: number;
  /** Audio timestamps within this of the previous chunk's end follow it exactly. @default 100 */
  audioJitterMs?: number;
  /** Bytes waiting to be written beyond which frames are dropped and counted. @default 32 MiB */
  maxQueueBytes?: number;
  /** JPEG sources: the H.264 encoding. */
  transcode?: { ffmpegPath?: string; preset?: string; crf?: number };
}

/** Counts of a Recorder. */
export interface RecorderStats {
  videoFrames: number;
  audioChunks: number;
  /** Frames and chunks not written: before the first keyframe, over the queue bound, of a codec the file does not hold, after a failure. */
  droppedVideo: number;
  droppedAudio: number;
  bytes: number;
  /** Frame time from the file's start to its last frame, ms. */
  durationMs: number;
}

export interface RecorderEvents {
  /** The file started with these tracks. */
  start: [tracks: TrackSet];
  /** Writing failed (RecordError, FfmpegMissingError); the recorder drops what follows. */
  error: [err: Error];
}

type Pending = { video: RecordVideo } | { audio: RecordAudio };

/** Frames held before the file starts, at most. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

export class Recorder extends EventEmitter<RecorderEvents> {
  readonly #o: Required<Omit<RecorderOptions, 'expect' | 'transcode'>> & Pick<RecorderOptions, 'expect' | 'transcode'>;
  #pending: Pending[] = [];
  #pendingBytes = 0;
  #writer: MediaWriter | undefined;
  #tracks: TrackSet | undefined;
  #t0 = 0;
  #lastVideo = -1;
  #lastVideoGap = 0;
  #audioEnd: number | undefined;
  #failed: Error | undefined;
  #closed = false;
  readonly #stats: RecorderStats = { videoFrames: 0, audioChunks: 0, droppedVideo: 0, droppedAudio: 0, bytes: 0, durationMs: 0 };

  constructor(o: RecorderOptions) {
    super();
    const ext = path.extname(o.path).toLowerCase();
    if (!['.mp4', '.mkv', '.webm'].includes(ext)) throw new RecordError(ErrorCode.RECORD_UNSUPPORTED, `cannot record to ${o.path}: use .mp4, .mkv or .webm`, o.path);
    this.#o = { trackWaitMs: 1000, audioJitterMs: 100, maxQueueBytes: 32 * 1024 * 1024, ...o };
  }

  get path(): string {
    return this.#o.path;
  }

  get stats(): RecorderStats {
    return { ...this.#stats };
  }

  /** The tracks, once the file started. */
  get tracks(): TrackSet | undefined {
    return this.#tracks;
  }

  /** The first frame's timestamp (ms since the epoch), once the file started. */
  get startTime(): number | undefined {
    return this.#tracks ? this.#t0 : undefined;
  }

  /** Frame time the file spans so far, ms. */
  get durationMs(): number {
    return this.#stats.durationMs;
  }

  /**
   * One video frame. Its bytes are copied (they are written later, and a received frame's data is a
   * view of a buffer the parser may reuse).
   */
  video(v: RecordVideo): void {
    if (this.#closed || this.#failed) return void this.#stats.droppedVideo++;
    if (!this.#tracks) {
      const first = !this.#pending.some((p) => 'video' in p);
      // H.264 starts at a keyframe that carries its SPS (the file's decoder configuration).
      if (first && (!v.keyframe || (videoKind(v.imageType) === 'avc' && !findSps(v.data)))) return void this.#stats.droppedVideo++;
      return this.#hold({ video: { ...v, data: Buffer.from(v.data) } });
    }
    this.#writeVideo({ ...v, data: Buffer.from(v.data) });
  }

  /** One audio chunk (copied, as video). */
  audio(a: RecordAudio): void {
    if (this.#closed || this.#failed) return void this.#stats.droppedAudio++;
    if (!this.#tracks) return this.#hold({ audio: { ...a, data: Buffer.from(a.data) } });
    this.#writeAudio({ ...a, data: Buffer.from(a.data) });
  }

  /** Finishes the file (starting it first with what waits); resolves when it is complete. Rejects with the failure, if any. */
  async close(): Promise<RecorderStats> {
    if (this.#closed) throw new RecordError(ErrorCode.RECORD_FAILED, `${this.#o.path}: already closed`, this.#o.path);
    if (!this.#tracks && this.#pending.length > 0 && !this.#failed) this.#start();
    this.#closed = true;
    // The first failure is the one to report (the writer's own only says the file is unfinished).
    if (this.#writer) await this.#writer.close().catch((err: Error) => (this.#failed ??= err));
    if (this.#failed) throw this.#failed;
    return this.stats;
  }

  #hold(p: Pending): void {
    const bytes = 'video' in p ? p.video.data.length : p.audio.data.length;
    this.#pending.push(p);
    this.#pendingBytes += bytes;
    while (this.#pendingBytes > MAX_PENDING_BYTES && this.#pending.length > 1) {
      const old = this.#pending.shift()!;
      this.#pendingBytes -= 'video' in old ? old.video.data.length : old.audio.data.length;
      if ('video' in old) this.#stats.droppedVideo++;
      else this.#stats.droppedAudio++;
      // The video that waits must still start at a keyframe.
      while (this.#pending.length && 'video' in this.#pending[0] && !this.#pending[0].video.keyframe) {
        this.#pendingBytes -= (this.#pending.shift() as { video: RecordVideo }).video.data.length;
        this.#stats.droppedVideo++;
      }
    }
    const hasVideo = this.#pending.some((q) => 'video' in q);
    const hasAudio = this.#pending.some((q) => 'audio' in q);
    const e = this.#o.expect ?? {};
    const times = this.#pending.map((q) => ('video' in q ? q.video.timestamp : q.audio.timestamp));
    const span = Math.max(...times) - Math.min(...times);
    if ((hasVideo || e.video === false) && (hasAudio || e.audio === false)) this.#start();
    else if (span >= this.#o.trackWaitMs) this.#start();
  }

  /** Fixes the tracks from the frames that wait, opens the writer and writes them. */
  #start(): void {
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    const v = pending.find((p): p is { video: RecordVideo } => 'video' in p)?.video;
    const a = pending.find((p): p is { audio: RecordAudio } => 'audio' in p)?.audio;
    const tracks: TrackSet = {};
    const file = this.#o.path;
    const webm = path.extname(file).toLowerCase() === '.webm';
    let why: string | undefined;
    if (v && this.#o.expect?.video !== false) {
      const kind = videoKind(v.imageType);
      if (!kind) why = `${v.imageType} video is not recorded (only jpeg, H.264, VP8, VP9 and AV1)`;
      else if (webm && (kind === 'avc' || kind === 'jpeg')) why = `WebM cannot hold ${v.imageType} video: record to .mp4 or .mkv`;
      else tracks.video = { kind, imageType: v.imageType, ...videoSize(v, kind) };
    }
    if (a && this.#o.expect?.audio !== false) {
      const codec = audioKind(a.codec);
      if (!codec) why ??= `${a.codec} audio is not recorded (only pcm_s16le and opus)`;
      else if (webm && codec !== 'opus') why ??= 'WebM cannot hold PCM audio: record to .mkv';
      else tracks.audio = { codec, sampleRate: a.sampleRate, channels: a.channels };
    }
    if (why) return void this.#fail(new RecordError(ErrorCode.RECORD_UNSUPPORTED, `cannot record ${file}: ${why}`, file), pending);
    if (!tracks.video && !tracks.audio) return;
    this.#tracks = tracks;
    this.#t0 = Math.min(...pending.map((p) => ('video' in p ? p.video.timestamp : p.audio.timestamp)));
    const fail = (err: Error): void => this.#fail(err, []);
    this.#writer = tracks.video?.kind === 'jpeg'
      ? new FfmpegWriter(file, tracks, { ...this.#o.transcode, maxQueueBytes: this.#o.maxQueueBytes }, fail)
      : new MuxWriter(file, tracks, fail);
    this.emit('start', tracks);
    for (const p of pending) if ('video' in p) this.#writeVideo(p.video);
    else this.#writeAudio(p.audio);
  }

  #fail(err: Error, dropped: Pending[]): void {
    for (const p of dropped) if ('video' in p) this.#stats.droppedVideo++;
    else this.#stats.droppedAudio++;
    if (this.#failed) return;
    this.#failed = err;
    this.emit('error', err);
  }

  #writeVideo(v: RecordVideo): void {
    const t = this.#tracks!.video;
    const w = this.#writer!;
    if (!t || v.imageType !== t.imageType || w.queued > this.#o.maxQueueBytes) return void this.#stats.droppedVideo++;
    // Times only go forward, by at least 1 ms (a container cannot hold two frames at one time).
    let ms = v.timestamp - this.#t0;
    if (ms <= this.#lastVideo) ms = this.#lastVideo + 1;
    const gap = this.#lastVideo < 0 ? 0 : ms - this.#lastVideo;
    if (!w.video(v.data, ms, this.#lastVideoGap || gap, v.keyframe)) return void this.#stats.droppedVideo++;
    this.#lastVideoGap = gap;
    this.#lastVideo = ms;
    this.#count(v.data.length, ms);
    this.#stats.videoFrames++;
  }

  #writeAudio(a: RecordAudio): void {
    const t = this.#tracks!.audio;
    const w = this.#writer!;
    if (!t || a.codec !== t.codec || a.sampleRate !== t.sampleRate || a.channels !== t.channels || w.queued > this.#o.maxQueueBytes) return void this.#stats.droppedAudio++;
    let ms = a.timestamp - this.#t0;
    if (ms < 0) return void this.#stats.droppedAudio++;
    const end = this.#audioEnd;
    // Chunks follow each other exactly; a jump forward (lost chunks) leaves a gap, never an overlap.
    if (end !== undefined && (Math.abs(ms - end) <= this.#o.audioJitterMs || ms < end)) ms = end;
    const dur = audioDurationMs(t.codec, a.data, t.sampleRate, t.channels);
    if (!w.audio(a.data, ms, dur)) return void this.#stats.droppedAudio++;
    this.#audioEnd = ms + dur;
    this.#count(a.data.length, ms + dur);
    this.#stats.audioChunks++;
  }

  #count(bytes: number, endMs: number): void {
    this.#stats.bytes += bytes;
    if (endMs > this.#stats.durationMs) this.#stats.durationMs = endMs;
  }
}

/** The frame's size; for H.264 sent without one (0x0), the size its SPS gives. */
function videoSize(v: RecordVideo, kind: string): { width: number; height: number } {
  if ((v.width && v.height) || kind !== 'avc') return { width: v.width, height: v.height };
  try {
    return spsDimensions(findSps(v.data)!);
  } catch {
    return { width: v.width, height: v.height };
  }
}

/** True when `v` is a keyframe of another codec or size than the file's video: it must start a new file. */
export function changesFormat(tracks: TrackSet | undefined, v: RecordVideo): boolean {
  const t = tracks?.video;
  return !!t && v.keyframe && (t.imageType !== v.imageType || (v.width > 0 && v.height > 0 && (t.width !== v.width || t.height !== v.height)));
}
