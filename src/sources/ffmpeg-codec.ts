/**
 * Compressed video through ffmpeg (docs/protocol.md, section 4.1): the encoder arguments for
 * low latency (no B-frames, a bounded keyframe interval, each packet flushed at once), the check
 * that ffmpeg has the encoder, and the parser that cuts ffmpeg's output into access units.
 */
import { execFileSync, execFile } from 'node:child_process';
import { CamwireError, ErrorCode } from '../errors.js';
import { FlvH264Splitter } from '../protocol/flv.js';
import { IvfSplitter } from '../protocol/ivf.js';

/** Video codecs a source can produce. `mjpeg` is camwire's JPEG frames. */
export type VideoCodec = 'mjpeg' | 'h264' | 'vp8' | 'vp9' | 'av1';

export const VIDEO_CODECS: readonly VideoCodec[] = ['mjpeg', 'h264', 'vp8', 'vp9', 'av1'];

/** One compressed frame (an access unit) of a source. */
export interface EncodedVideo {
  /** H.264 in Annex B; VP8/VP9 one frame; AV1 one temporal unit. */
  data: Buffer;
  keyframe: boolean;
  /** WebCodecs codec string (`avc1.42E01E`, `vp8`, `vp09.00.31.08`, `av01.0.04M.08`). */
  codec: string;
  width: number;
  height: number;
  /** Capture time, ms since the epoch. */
  timestamp: number;
}

/** ffmpeg lacks the encoder a codec needs (CW_ERR_FFMPEG_ENCODER_MISSING); the message names it. */
export class FfmpegEncoderMissingError extends CamwireError {
  constructor(codec: string, encoders: string[], bin: string) {
    super(ErrorCode.FFMPEG_ENCODER_MISSING, `${bin} has no ${encoders.join(' or ')} encoder, which --codec ${codec} needs: install an ffmpeg built with it (Debian's ffmpeg package has it)`);
  }
}

/** The encoders each codec may use, the preferred first. */
const ENCODERS: Record<Exclude<VideoCodec, 'mjpeg'>, string[]> = {
  h264: ['libx264'],
  vp8: ['libvpx'],
  vp9: ['libvpx-vp9'],
  av1: ['libaom-av1', 'libsvtav1'],
};

const encoderLists = new Map<string, Set<string>>();

/** The encoders `bin` has (`ffmpeg -encoders`), asked once per binary. */
function encodersOf(bin: string): Set<string> {
  let set = encoderLists.get(bin);
  if (!set) {
    const out = execFileSync(bin, ['-hide_banner', '-encoders'], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'ignore'] });
    set = new Set(out.split('\n').map((l) => /^\s*[VAS][.A-Z]{5}\s+(\S+)/.exec(l)?.[1]).filter((n): n is string => Boolean(n)));
    encoderLists.set(bin, set);
  }
  return set;
}

/** The encoder ffmpeg uses for `codec`; throws FfmpegEncoderMissingError when it has none. */
export function encoderFor(codec: Exclude<VideoCodec, 'mjpeg'>, bin = 'ffmpeg'): string {
  const have = encodersOf(bin);
  const found = ENCODERS[codec].find((e) => have.has(e));
  if (!found) throw new FfmpegEncoderMissingError(codec, ENCODERS[codec], bin);
  return found;
}

/** Encoder settings. */
export interface EncodeSettings {
  codec: Exclude<VideoCodec, 'mjpeg'>;
  /** Frames between keyframes (at most). */
  keyint: number;
  /** Constant quality: CRF (lower is better). @default 23 (H.264), 32 (VP9, AV1), 10 (VP8) */
  crf?: number;
  /** Target bitrate in bits/s instead of constant quality. */
  bitrate?: number;
}

/** ffmpeg output arguments of a low-latency encoder (`-c:v ...` up to the output format). */
export function encodeArgs(s: EncodeSettings, bin = 'ffmpeg'): string[] {
  const enc = encoderFor(s.codec, bin);
  const g = ['-g', String(s.keyint), '-keyint_min', String(s.keyint)];
  const rate = (crf: number): string[] => (s.bitrate ? ['-b:v', String(s.bitrate)] : ['-crf', String(s.crf ?? crf), '-b:v', '0']);
  const common = ['-pix_fmt', 'yuv420p', '-flush_packets', '1'];
  switch (s.codec) {
    case 'h264':
      return ['-c:v', enc, '-preset', 'ultrafast', '-tune', 'zerolatency', '-bf', '0', ...g, '-sc_threshold', '0', ...(s.bitrate ? ['-b:v', String(s.bitrate)] : ['-crf', String(s.crf ?? 23)]), '-x264-params', 'repeat-headers=1', ...common, ...FLV];
    case 'vp8':
      return ['-c:v', enc, '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0', ...g, ...(s.bitrate ? ['-b:v', String(s.bitrate)] : ['-crf', String(s.crf ?? 10), '-b:v', '4M']), ...common, '-f', 'ivf'];
    case 'vp9':
      return ['-c:v', enc, '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-lag-in-frames', '0', '-auto-alt-ref', '0', ...g, ...rate(32), ...common, '-f', 'ivf'];
    case 'av1':
      return enc === 'libaom-av1'
        ? ['-c:v', enc, '-usage', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-lag-in-frames', '0', ...g, ...rate(32), ...common, '-f', 'ivf']
        : ['-c:v', enc, '-preset', '12', ...g, ...rate(32), '-svtav1-params', 'pred-struct=1', ...common, '-f', 'ivf'];
  }
}

/** ffmpeg output arguments that copy an H.264 input as it is (in FLV, cut into Annex B units by FlvH264Splitter). */
export function copyArgs(): string[] {
  return ['-c:v', 'copy', '-flush_packets', '1', ...FLV];
}

/**
 * H.264 leaves ffmpeg in FLV: each packet framed with its size, so an access unit is known
 * complete when its last byte arrives (raw Annex B would hold each one until the next begins).
 */
const FLV = ['-f', 'flv', '-flvflags', 'no_duration_filesize'];

/**
 * The codec of an input's first video stream (ffprobe's name, e.g. `h264`), or undefined when
 * ffprobe cannot tell within `timeoutMs`.
 */
export function probeVideoCodec(url: string, ffprobe = 'ffprobe', timeoutMs = 10000): Promise<string | undefined> {
  const args = ['-v', 'error', ...(url.startsWith('rtsp://') ? ['-rtsp_transport', 'tcp'] : []), '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', url];
  return new Promise((resolve) => {
    execFile(ffprobe, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, out) => resolve(err ? undefined : out.trim().split('\n')[0] || undefined));
  });
}

/**
 * Cuts ffmpeg's output (FLV for H.264, IVF otherwise) into frames. `stamp` gives each frame
 * its capture time from the time its bytes arrived (performance.now()).
 */
export function videoParser(codec: 'h264' | 'ivf', onFrame: (v: EncodedVideo) => void, stamp: (arrivedAt: number) => number): { push(c: Buffer): void; end(): void } {
  if (codec === 'h264') {
    const s = new FlvH264Splitter((au) => onFrame({ data: au.data, keyframe: au.keyframe, codec: au.codec, width: au.width, height: au.height, timestamp: stamp(au.arrivedAt) }));
    return { push: (c) => s.push(c), end: () => undefined };
  }
  const s = new IvfSplitter((f) => onFrame({ data: f.data, keyframe: f.keyframe, codec: f.codec, width: f.width, height: f.height, timestamp: stamp(f.arrivedAt) }));
  return { push: (c) => s.push(c), end: () => undefined };
}
