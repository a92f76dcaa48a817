/**
 * Sources through ffmpeg (Debian's package, spawned; never downloaded): video as JPEG frames or
 * compressed access units (H.264, VP8, VP9, AV1; sources/ffmpeg-codec.ts) from any ffmpeg input
 * (a file, an RTSP camera URL, a V4L2 camera, the X11 screen, or JPEG images written to it), and
 * audio as PCM s16le chunks or Opus packets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { FfmpegMissingError } from '../errors.js';
import { JpegSplitter } from '../protocol/jpeg-splitter.js';
import { OggOpusPackets } from './ogg-opus.js';
import { copyArgs, encodeArgs, videoParser, type EncodedVideo, type VideoCodec } from './ffmpeg-codec.js';

export { FfmpegEncoderMissingError, probeVideoCodec, VIDEO_CODECS, type EncodedVideo, type VideoCodec } from './ffmpeg-codec.js';

/** ffmpeg is not installed (or not on PATH). */
export { FfmpegMissingError };

/**
 * Throws FfmpegMissingError unless `bin` (a name looked up on PATH, or a path) is an executable
 * file: lets a command say so before it connects anywhere, not after.
 */
export function assertFfmpeg(bin = 'ffmpeg', env: NodeJS.ProcessEnv = process.env): void {
  const executable = (f: string): boolean => {
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (bin.includes(path.sep) ? executable(bin) : (env.PATH ?? '').split(path.delimiter).some((d) => d && executable(path.join(d, bin)))) return;
  throw new FfmpegMissingError(bin);
}

/** Where video comes from. */
export type VideoInput =
  | { kind: 'url'; url: string; /** Read a file at its own speed, not as fast as possible. @default true for files */ realtime?: boolean; loop?: boolean }
  | { kind: 'camera'; device?: string }
  | { kind: 'screen'; display?: string }
  /** An ffmpeg filter graph source (`-f lavfi`), e.g. `testsrc2=size=1280x720:rate=30`; read in real time. */
  | { kind: 'lavfi'; graph: string }
  /** JPEG images written with FfmpegVideo.write(), each with its capture time (e.g. the TestPattern's). */
  | { kind: 'jpeg-pipe' }
  /** Raw RGBA pixels (width x height x 4 bytes a frame) written with FfmpegVideo.write(), each with its capture time: no parsing delay. */
  | { kind: 'rgba-pipe'; width: number; height: number; fps: number };

/** Options of an FfmpegVideo source. */
export interface FfmpegVideoOptions {
  input: VideoInput;
  width?: number;
  height?: number;
  fps?: number;
  /** ffmpeg's MJPEG quality scale, 2 (best) to 31. @default 5 */
  quality?: number;
  /** 'mjpeg' emits `frame` (JPEG); the others emit `video` (access units). @default 'mjpeg' */
  codec?: VideoCodec;
  /** Compressed codecs: frames between keyframes, at most. @default 2 s of `fps` (30 without fps) */
  keyint?: number;
  /** Compressed codecs: constant quality (CRF). @default 23 for H.264, 10 for VP8, 32 for VP9 and AV1 */
  crf?: number;
  /** Compressed codecs: a target bitrate in bits/s instead of constant quality. */
  bitrate?: number;
  /** H.264: copy the input's H.264 as it is (no re-encoding; width, height and fps do not apply). @default false */
  copy?: boolean;
  /** @default 'ffmpeg' */
  ffmpegPath?: string;
}

/** Events of ffmpeg sources. */
export interface FfmpegEvents {
  frame: [jpeg: Buffer];
  /** A compressed frame (codec other than mjpeg). */
  video: [frame: EncodedVideo];
  audio: [pcm: Buffer];
  error: [err: Error];
  /** ffmpeg exited; `stderr` holds its last lines. */
  exit: [code: number | null, stderr: string];
}

function inputArgs(i: VideoInput): string[] {
  switch (i.kind) {
    case 'url': {
      const isFile = !/^[a-z]+:\/\//i.test(i.url);
      const args: string[] = [];
      if (i.url.startsWith('rtsp://')) args.push('-rtsp_transport', 'tcp');
      if (i.realtime ?? isFile) args.push('-re');
      if (i.loop) args.push('-stream_loop', '-1');
      return [...args, '-i', i.url];
    }
    case 'camera':
      return ['-f', 'v4l2', '-i', i.device ?? '/dev/video0'];
    case 'screen':
      return ['-f', 'x11grab', '-i', i.display ?? process.env.DISPLAY ?? ':0.0'];
    case 'lavfi':
      return ['-re', '-f', 'lavfi', '-i', i.graph];
    case 'jpeg-pipe':
      return ['-f', 'mjpeg', '-i', 'pipe:0'];
    case 'rgba-pipe':
      return ['-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${i.width}x${i.height}`, '-framerate', String(i.fps), '-i', 'pipe:0'];
  }
}

/** Spawns ffmpeg and reports a missing binary as FfmpegMissingError. */
function run(bin: string, args: string[], out: (chunk: Buffer) => void, ee: EventEmitter<FfmpegEvents>, stdin = false): ChildProcess {
  const child = spawn(bin, args, { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  // A closed stdin (ffmpeg exited) is reported by 'exit'; its EPIPE is not an error of its own.
  child.stdin?.on('error', () => undefined);
  let stderr = '';
  child.stdout!.on('data', out);
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.on('error', (err: NodeJS.ErrnoException) => ee.emit('error', err.code === 'ENOENT' ? new FfmpegMissingError(bin) : err));
  child.on('exit', (code) => ee.emit('exit', code, stderr.trim()));
  return child;
}

/** Inputs written by FfmpegVideo.write(). */
function piped(i: VideoInput): boolean {
  return i.kind === 'jpeg-pipe' || i.kind === 'rgba-pipe';
}

/** Capture times of JPEG images written to ffmpeg and not yet out of it, at most this many. */
const MAX_PENDING_TIMES = 300;

/** FfmpegVideo: JPEG frames or compressed access units from any ffmpeg video input. */
export class FfmpegVideo extends EventEmitter<FfmpegEvents> {
  readonly #o: FfmpegVideoOptions;
  #child: ChildProcess | undefined;
  /** jpeg-pipe input: the capture time of each image written, in order (ffmpeg keeps the order and drops none). */
  #times: number[] = [];
  #stopped = false;

  constructor(o: FfmpegVideoOptions) {
    super();
    this.#o = o;
  }

  /** The ffmpeg arguments this source runs with. Throws FfmpegEncoderMissingError when ffmpeg lacks the codec's encoder. */
  args(): string[] {
    const o = this.#o;
    const codec = o.codec ?? 'mjpeg';
    const filters: string[] = [];
    if (o.fps) filters.push(`fps=${o.fps}`);
    if (o.width && o.height) filters.push(`scale=${o.width}:${o.height}`);
    const head = ['-hide_banner', '-loglevel', 'error', '-nostdin', ...(piped(o.input) ? ['-probesize', '32', '-analyzeduration', '0', '-flags', 'low_delay'] : []), ...inputArgs(o.input), '-an'];
    if (codec !== 'mjpeg' && o.copy) {
      if (codec !== 'h264') throw new RangeError(`copy applies to H.264 inputs only, not ${codec}`);
      return [...head, ...copyArgs(), 'pipe:1'];
    }
    // A JPEG pipe is encoded as it comes: one output frame per image written, none added or dropped.
    const timing = piped(o.input) ? ['-fps_mode', 'passthrough'] : filters.length ? ['-vf', filters.join(',')] : [];
    if (piped(o.input) && o.width && o.height) timing.push('-vf', `scale=${o.width}:${o.height}`);
    if (codec === 'mjpeg') return [...head, ...timing, '-c:v', 'mjpeg', '-q:v', String(o.quality ?? 5), '-f', 'mjpeg', 'pipe:1'];
    const keyint = o.keyint ?? Math.max(1, Math.round((o.fps ?? 15) * 2));
    return [...head, ...timing, ...encodeArgs({ codec, keyint, crf: o.crf, bitrate: o.bitrate }, o.ffmpegPath ?? 'ffmpeg'), 'pipe:1'];
  }

  /** Starts ffmpeg. Throws FfmpegEncoderMissingError when ffmpeg lacks the codec's encoder. */
  start(): void {
    this.#stopped = false;
    const codec = this.#o.codec ?? 'mjpeg';
    const args = this.args();
    const pipe = piped(this.#o.input);
    let out: (c: Buffer) => void;
    if (codec === 'mjpeg') {
      const splitter = new JpegSplitter((jpeg) => this.#stopped || this.emit('frame', jpeg));
      out = (c) => splitter.push(c);
    } else {
      // The capture time: the image's, when it was written to ffmpeg; else when its bytes came out of ffmpeg.
      const stamp = (arrivedAt: number): number => (pipe ? (this.#times.shift() ?? Date.now()) : Date.now() - (performance.now() - arrivedAt));
      // A stopped source emits nothing more (what ffmpeg still had is dropped).
      const parser = videoParser(codec === 'h264' ? 'h264' : 'ivf', (v) => this.#stopped || this.emit('video', v), stamp);
      out = (c) => {
        try {
          parser.push(c);
        } catch (err) {
          this.emit('error', err as Error);
          this.stop();
        }
      };
      this.once('exit', () => parser.end());
    }
    this.#child = run(this.#o.ffmpegPath ?? 'ffmpeg', args, out, this, pipe);
  }

  /**
   * jpeg-pipe or rgba-pipe input: one JPEG image (or RGBA frame), captured at `timestamp` (ms since
   * the epoch). Returns false (and skips the image) while ffmpeg has not taken the ones before it.
   */
  write(jpeg: Buffer, timestamp = Date.now()): boolean {
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableNeedDrain) return false;
    if (this.#times.length >= MAX_PENDING_TIMES) this.#times.shift();
    this.#times.push(timestamp);
    stdin.write(jpeg);
    return true;
  }

  /** Stops ffmpeg; no `frame` or `video` event comes after it. */
  stop(): void {
    this.#stopped = true;
    this.#child?.stdin?.end();
    this.#child?.kill('SIGTERM');
  }
}

/** Options of an FfmpegAudio source. */
export interface FfmpegAudioOptions {
  /** An ffmpeg input: a file or URL, or `{ device }` for ALSA capture. */
  input: { url: string } | { device: string };
  /** @default 48000 */
  sampleRate?: number;
  /** @default 1 */
  channels?: number;
  /** Chunk length in ms. @default 20 */
  chunkMs?: number;
  /** 'pcm_s16le' (raw samples) or 'opus' (one 20 ms Opus packet per chunk, via Ogg). @default 'pcm_s16le' */
  codec?: 'pcm_s16le' | 'opus';
  /** Opus bitrate in bits per second. @default 32000 */
  bitrate?: number;
  ffmpegPath?: string;
}

/** FfmpegAudio: PCM s16le chunks of a fixed length from any ffmpeg audio input. */
export class FfmpegAudio extends EventEmitter<FfmpegEvents> {
  readonly #o: FfmpegAudioOptions;
  #child: ChildProcess | undefined;

  constructor(o: FfmpegAudioOptions) {
    super();
    this.#o = o;
  }

  args(): string[] {
    const o = this.#o;
    const input = 'device' in o.input ? ['-f', 'alsa', '-i', o.input.device] : ['-re', '-i', o.input.url];
    const common = ['-hide_banner', '-loglevel', 'error', '-nostdin', ...input, '-vn', '-ac', String(o.channels ?? 1), '-ar', String(o.sampleRate ?? 48000)];
    if (o.codec === 'opus') return [...common, '-c:a', 'libopus', '-b:a', String(o.bitrate ?? 32000), '-frame_duration', String(o.chunkMs ?? 20), '-f', 'ogg', 'pipe:1'];
    return [...common, '-f', 's16le', 'pipe:1'];
  }

  start(): void {
    if (this.#o.codec === 'opus') {
      const ogg = new OggOpusPackets((p) => this.emit('audio', p.data));
      this.#child = run(this.#o.ffmpegPath ?? 'ffmpeg', this.args(), (c) => {
        try {
          ogg.push(c);
        } catch (err) {
          this.emit('error', err as Error);
          this.stop();
        }
      }, this);
      return;
    }
    const bytes = Math.round(((this.#o.sampleRate ?? 48000) * (this.#o.channels ?? 1) * 2 * (this.#o.chunkMs ?? 20)) / 1000);
    let buf: Buffer = Buffer.alloc(0);
    this.#child = run(this.#o.ffmpegPath ?? 'ffmpeg', this.args(), (c) => {
      buf = buf.length ? Buffer.concat([buf, c]) : c;
      while (buf.length >= bytes) {
        this.emit('audio', buf.subarray(0, bytes));
        buf = buf.subarray(bytes);
      }
    }, this);
  }

  stop(): void {
    this.#child?.kill('SIGTERM');
  }
}
