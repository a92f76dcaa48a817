/**
 * FfmpegWriter: JPEG frames (and the audio beside them) transcoded to H.264 by ffmpeg, each frame
 * at its own timestamp.
 *
 * Why a Matroska intermediate: ffmpeg reading raw MJPEG from a pipe (`-f mjpeg`) knows no timing
 * at all, so it stamps frames at a constant 25 fps (the bug this replaces), and
 * `-use_wallclock_as_timestamps 1` stamps them when ffmpeg happens to read them, which is late and
 * bunched whenever the encoder or the pipe is behind. mediabunny writes timestamps but cannot hold
 * MJPEG. So the recorder writes a minimal live Matroska stream (ebml.ts: V_MJPEG, A_PCM or A_OPUS,
 * 1 ms timestamps taken from the frames) into ffmpeg's stdin, and ffmpeg encodes the video with
 * libx264 keeping those timestamps (`-fps_mode passthrough`, no frame duplicated or dropped) and
 * copies the audio (PCM into MP4 becomes AAC: ffmpeg's MP4 muxer takes no PCM). The pipe is bounded:
 * beyond `maxQueueBytes` waiting in it, frames are refused (the recorder counts them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ErrorCode, FfmpegMissingError, RecordError } from '../../errors.js';
import { opusHead } from './codecs.js';
import { mkvBlockHeader, mkvCluster, mkvHeader, type MkvTrack } from './ebml.js';
import type { MediaWriter, TrackSet } from './writer.js';

/** Options of the MJPEG transcode. */
export interface TranscodeOptions {
  /** @default 'ffmpeg' */
  ffmpegPath?: string;
  /** libx264 preset. @default 'veryfast' */
  preset?: string;
  /** libx264 constant rate factor (lower is better). @default 23 */
  crf?: number;
  /** Bytes waiting in ffmpeg's pipe beyond which frames are refused. */
  maxQueueBytes: number;
}

/** The ffmpeg arguments for a recording at `file` with these tracks. */
export function transcodeArgs(file: string, tracks: TrackSet, o: Omit<TranscodeOptions, 'maxQueueBytes'>): string[] {
  const mp4 = path.extname(file).toLowerCase() === '.mp4';
  const audio = tracks.audio ? ['-c:a', mp4 && tracks.audio.codec === 'pcm_s16le' ? 'aac' : 'copy'] : [];
  return [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'matroska', '-i', 'pipe:0',
    '-map', '0',
    '-c:v', 'libx264', '-preset', o.preset ?? 'veryfast', '-crf', String(o.crf ?? 23), '-pix_fmt', 'yuv420p', '-fps_mode', 'passthrough',
    // The frames' millisecond times, not a frame rate's grid (ffmpeg would guess one and round to it).
    '-enc_time_base:v', '1:1000', ...(mp4 ? ['-video_track_timescale', '1000'] : []),
    ...audio,
    file,
  ];
}

export class FfmpegWriter implements MediaWriter {
  readonly #path: string;
  readonly #child: ChildProcess;
  readonly #max: number;
  readonly #tracks: { video?: number; audio?: number } = {};
  readonly #exited: Promise<void>;
  #stderr = '';
  #failed = false;
  #cluster: number | undefined;

  constructor(file: string, tracks: TrackSet, o: TranscodeOptions, fail: (err: Error) => void) {
    this.#path = file;
    this.#max = o.maxQueueBytes;
    const bin = o.ffmpegPath ?? 'ffmpeg';
    const mkv: MkvTrack[] = [];
    if (tracks.video) {
      mkv.push({ kind: 'video', codecId: 'V_MJPEG', width: tracks.video.width, height: tracks.video.height });
      this.#tracks.video = mkv.length;
    }
    if (tracks.audio) {
      const a = tracks.audio;
      const opus = a.codec === 'opus';
      mkv.push({ kind: 'audio', codecId: opus ? 'A_OPUS' : 'A_PCM/INT/LIT', sampleRate: a.sampleRate, channels: a.channels, codecPrivate: opus ? opusHead(a.channels, a.sampleRate) : undefined });
      this.#tracks.audio = mkv.length;
    }
    const report = (err: Error): void => {
      if (this.#failed) return;
      this.#failed = true;
      fail(err);
    };
    this.#child = spawn(bin, transcodeArgs(file, tracks, o), { stdio: ['pipe', 'ignore', 'pipe'] });
    this.#child.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-2000)));
    this.#child.stdin!.on('error', () => {}); // an early exit is reported below
    this.#exited = new Promise<void>((resolve) => {
      this.#child.on('error', (err: NodeJS.ErrnoException) => {
        report(err.code === 'ENOENT' ? new FfmpegMissingError(bin) : new RecordError(ErrorCode.RECORD_FAILED, `${bin}: ${err.message}`, file, { cause: err }));
        resolve();
      });
      this.#child.on('close', (code, signal) => {
        if (code !== 0) report(new RecordError(ErrorCode.RECORD_FAILED, `ffmpeg recording ${file} exited with ${code ?? signal}${this.#stderr ? `: ${this.#stderr.trim()}` : ''}`, file));
        resolve();
      });
    });
    this.#child.stdin!.write(mkvHeader(mkv));
  }

  get queued(): number {
    return this.#child.stdin?.writableLength ?? 0;
  }

  #block(track: number | undefined, data: Buffer, tMs: number, keyframe: boolean): boolean {
    const stdin = this.#child.stdin!;
    if (this.#failed || track === undefined || stdin.destroyed || stdin.writableLength > this.#max) return false;
    const t = Math.round(tMs);
    // A new cluster at a keyframe a second on, or before a block's offset leaves the 16-bit range.
    if (this.#cluster === undefined || Math.abs(t - this.#cluster) > 30_000 || (keyframe && track === this.#tracks.video && t - this.#cluster >= 1000)) {
      this.#cluster = t;
      stdin.write(mkvCluster(t));
    }
    stdin.write(mkvBlockHeader(track, t - this.#cluster, keyframe, data.length));
    stdin.write(data);
    return true;
  }

  video(data: Buffer, tMs: number, _durMs: number, keyframe: boolean): boolean {
    return this.#block(this.#tracks.video, data, tMs, keyframe);
  }

  audio(data: Buffer, tMs: number): boolean {
    return this.#block(this.#tracks.audio, data, tMs, true);
  }

  /** Ends ffmpeg's input and waits for it to finish the file (SIGTERM after 30 s, SIGKILL 5 s later). */
  async close(): Promise<void> {
    this.#child.stdin?.end();
    const term = setTimeout(() => this.#child.kill('SIGTERM'), 30_000);
    const kill = setTimeout(() => this.#child.kill('SIGKILL'), 35_000);
    await this.#exited;
    clearTimeout(term);
    clearTimeout(kill);
    if (this.#failed) throw new RecordError(ErrorCode.RECORD_FAILED, `${this.#path} was not finished`, this.#path);
  }
}
