/**
 * MjpegTranscoder: compressed video (H.264, VP8, VP9, AV1; docs/protocol.md, 4.1) to JPEG images
 * through ffmpeg, for MJPEG outputs that watch a compressed source. Started by its first viewer,
 * stopped by its owner when the last one leaves. Frames go in from a keyframe on; when ffmpeg
 * falls behind, frames are skipped up to the next keyframe. Each JPEG carries the capture time of
 * the frame it came from (ffmpeg decodes one image per frame, in order).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { FfmpegMissingError } from '../errors.js';
import { JpegSplitter } from '../protocol/jpeg-splitter.js';

/** A compressed frame as the transcoder takes it. */
export interface CodedFrame {
  imageType: string;
  width: number;
  height: number;
  keyframe: boolean;
  timestamp: number;
  data: Buffer;
}

/** The ffmpeg input format of a WebCodecs codec string, and its IVF fourcc; undefined when not one camwire carries. */
export function demuxerOf(codec: string): { format: 'h264' } | { format: 'ivf'; fourcc: string } | undefined {
  if (codec.startsWith('avc1.')) return { format: 'h264' };
  if (codec === 'vp8') return { format: 'ivf', fourcc: 'VP80' };
  if (codec.startsWith('vp09.')) return { format: 'ivf', fourcc: 'VP90' };
  if (codec.startsWith('av01.')) return { format: 'ivf', fourcc: 'AV01' };
  return undefined;
}

/** Bytes ffmpeg may have waiting on its stdin before frames are skipped to the next keyframe. */
const MAX_BACKLOG = 4 * 1024 * 1024;
/** Capture times of frames in ffmpeg, at most. */
const MAX_TIMES = 300;

export class MjpegTranscoder {
  readonly #child: ChildProcess;
  readonly #codec: string;
  readonly #ivf: boolean;
  #times: number[] = [];
  #needKey = true;
  #frames = 0;
  /** JPEG images out, frames skipped. */
  images = 0;
  skipped = 0;

  /**
   * @param first a keyframe: sets the codec and size (another codec or size needs a new transcoder)
   * @param onJpeg each decoded image, with its frame's capture time
   * @param onExit ffmpeg ended (or could not start: FfmpegMissingError)
   */
  constructor(first: CodedFrame, onJpeg: (jpeg: Buffer, timestamp: number) => void, onExit: (err?: Error) => void, o: { ffmpegPath?: string; quality?: number } = {}) {
    const d = demuxerOf(first.imageType);
    if (!d) throw new RangeError(`cannot transcode ${first.imageType}`);
    this.#codec = first.imageType;
    this.#ivf = d.format === 'ivf';
    const bin = o.ffmpegPath ?? 'ffmpeg';
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0', '-f', d.format, '-i', 'pipe:0', '-an', '-fps_mode', 'passthrough', '-c:v', 'mjpeg', '-q:v', String(o.quality ?? 5), '-f', 'mjpeg', 'pipe:1'];
    this.#child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    const splitter = new JpegSplitter((jpeg) => {
      this.images++;
      onJpeg(jpeg, this.#times.shift() ?? Date.now());
    });
    this.#child.stdout!.on('data', (c: Buffer) => splitter.push(c));
    this.#child.stdin!.on('error', () => undefined);
    this.#child.on('error', (err: NodeJS.ErrnoException) => onExit(err.code === 'ENOENT' ? new FfmpegMissingError(bin) : err));
    this.#child.on('exit', () => onExit());
    if (d.format === 'ivf') {
      const h = Buffer.alloc(32);
      h.write('DKIF', 0, 'latin1');
      h.writeUInt16LE(32, 6);
      h.write(d.fourcc, 8, 'latin1');
      h.writeUInt16LE(first.width, 12);
      h.writeUInt16LE(first.height, 14);
      h.writeUInt32LE(1000, 16);
      h.writeUInt32LE(1, 20);
      this.#child.stdin!.write(h);
    }
    this.push(first);
  }

  /** The codec string this transcoder decodes. */
  get codec(): string {
    return this.#codec;
  }

  /** One frame (copied: the caller's buffer may be reused). */
  push(v: CodedFrame): void {
    const stdin = this.#child.stdin!;
    if (stdin.destroyed || v.imageType !== this.#codec) return;
    if (this.#needKey && !v.keyframe) {
      this.skipped++;
      return;
    }
    if (stdin.writableLength > MAX_BACKLOG) {
      this.skipped++;
      this.#needKey = true;
      return;
    }
    this.#needKey = false;
    if (this.#times.length >= MAX_TIMES) this.#times.shift();
    this.#times.push(v.timestamp);
    if (this.#ivf) {
      const h = Buffer.alloc(12);
      h.writeUInt32LE(v.data.length, 0);
      h.writeUInt32LE(this.#frames++ >>> 0, 4);
      stdin.write(h);
    }
    stdin.write(Buffer.from(v.data));
  }

  stop(): void {
    this.#child.stdin?.end();
    this.#child.kill('SIGTERM');
  }
}
