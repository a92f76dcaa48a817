/**
 * Sources through ffmpeg (Debian's package, spawned; never downloaded): video as JPEG frames
 * from any ffmpeg input (a file, an RTSP camera URL, a V4L2 camera, the X11 screen), and audio
 * as PCM s16le chunks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { FfmpegMissingError } from '../errors.js';
import { JpegSplitter } from '../protocol/jpeg-splitter.js';
import { OggOpusPackets } from './ogg-opus.js';

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
  | { kind: 'screen'; display?: string };

/** Options of an FfmpegVideo source. */
export interface FfmpegVideoOptions {
  input: VideoInput;
  width?: number;
  height?: number;
  fps?: number;
  /** ffmpeg's MJPEG quality scale, 2 (best) to 31. @default 5 */
  quality?: number;
  /** @default 'ffmpeg' */
  ffmpegPath?: string;
}

/** Events of ffmpeg sources. */
export interface FfmpegEvents {
  frame: [jpeg: Buffer];
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
  }
}

/** Spawns ffmpeg and reports a missing binary as FfmpegMissingError. */
function run(bin: string, args: string[], out: (chunk: Buffer) => void, ee: EventEmitter<FfmpegEvents>): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout!.on('data', out);
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.on('error', (err: NodeJS.ErrnoException) => ee.emit('error', err.code === 'ENOENT' ? new FfmpegMissingError(bin) : err));
  child.on('exit', (code) => ee.emit('exit', code, stderr.trim()));
  return child;
}

/** FfmpegVideo: JPEG frames from any ffmpeg video input. */
export class FfmpegVideo extends EventEmitter<FfmpegEvents> {
  readonly #o: FfmpegVideoOptions;
  #child: ChildProcess | undefined;

  constructor(o: FfmpegVideoOptions) {
    super();
    this.#o = o;
  }

  /** The ffmpeg arguments this source runs with. */
  args(): string[] {
    const o = this.#o;
    const filters: string[] = [];
    if (o.fps) filters.push(`fps=${o.fps}`);
    if (o.width && o.height) filters.push(`scale=${o.width}:${o.height}`);
    return [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      ...inputArgs(o.input),
      '-an',
      ...(filters.length ? ['-vf', filters.join(',')] : []),
      '-c:v',
      'mjpeg',
      '-q:v',
      String(o.quality ?? 5),
      '-f',
      'mjpeg',
      'pipe:1',
    ];
  }

  start(): void {
    const splitter = new JpegSplitter((jpeg) => this.emit('frame', jpeg));
    this.#child = run(this.#o.ffmpegPath ?? 'ffmpeg', this.args(), (c) => splitter.push(c), this);
  }

  stop(): void {
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
