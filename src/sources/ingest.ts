/**
 * FfmpegIngest: a listening RTMP or SRT server (ffmpeg's own, `-listen 1` / `mode=listener`)
 * that takes one publish at a time, from OBS Studio or any RTMP/SRT publisher, and hands on its
 * H.264 video as it came, one access unit per frame (Annex B, SPS and PPS before every IDR,
 * `-c:v copy -bsf:v h264_mp4toannexb`: never re-encoded), and its audio as 20 ms Opus packets
 * (AAC from OBS is transcoded: camwire carries PCM or Opus). When the publisher stops, ffmpeg
 * listens again. Frames carry the time they left ffmpeg (the stream's own timestamps are not
 * passed through the raw H.264 output); publishers must not use B-frames, since frames go in
 * decode order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { FfmpegMissingError } from '../errors.js';
import { AccessUnits, avcCodecString, findSps, isIdr, spsDimensions } from '../protocol/h264.js';
import { OggOpusPackets } from './ogg-opus.js';

/** Options of an FfmpegIngest. */
export interface IngestOptions {
  /** `rtmp://HOST:PORT/APP` or `srt://HOST:PORT` to listen on. */
  url: string;
  /** Opus bitrate in bits per second. @default 96000 */
  audioBitrate?: number;
  /** @default 'ffmpeg' */
  ffmpegPath?: string;
}

/** One access unit of the publish. */
export interface IngestVideo {
  data: Buffer;
  /** The WebCodecs codec string, `avc1.PPCCLL`, from the SPS. */
  imageType: string;
  keyframe: boolean;
  width: number;
  height: number;
  /** When ffmpeg handed it on, ms since the epoch. */
  timestamp: number;
}

export interface IngestEvents {
  /** A publisher connected (its first frame arrived). */
  publish: [];
  video: [frame: IngestVideo];
  /** One 20 ms Opus packet, 48 kHz stereo. */
  audio: [packet: Buffer, timestamp: number];
  /** The publisher stopped; ffmpeg listens again. */
  unpublish: [];
  /** ffmpeg cannot listen (the port is taken, ffmpeg is missing): the ingest stopped. */
  error: [err: Error];
}

/** True for the URLs an ingest listens on. */
export function isIngestUrl(url: string): boolean {
  return /^(rtmp|srt):\/\//i.test(url);
}

export class FfmpegIngest extends EventEmitter<IngestEvents> {
  readonly #o: IngestOptions;
  #child: ChildProcess | undefined;
  #stopped = false;
  /** The publishes seen had no audio: the next listen asks for none (an output without streams stops ffmpeg). */
  #audio = true;
  /** Access units dropped (over 8 MiB, or before the first SPS). */
  dropped = 0;

  constructor(o: IngestOptions) {
    super();
    if (!isIngestUrl(o.url)) throw new TypeError(`ingest: ${o.url} is not an rtmp:// or srt:// URL`);
    this.#o = o;
  }

  /** The ffmpeg arguments of one listen. */
  args(audio = this.#audio): string[] {
    const url = this.#o.url;
    const input = /^srt:/i.test(url) ? ['-i', url.includes('mode=') ? url : `${url}${url.includes('?') ? '&' : '?'}mode=listener`] : ['-listen', '1', '-i', url];
    const video = ['-map', '0:v:0', '-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,h264_metadata=aud=insert', '-flush_packets', '1', '-f', 'h264', 'pipe:1'];
    const opus = ['-map', '0:a:0', '-c:a', 'libopus', '-b:a', String(this.#o.audioBitrate ?? 96000), '-ar', '48000', '-ac', '2', '-frame_duration', '20', '-page_duration', '20000', '-flush_packets', '1', '-f', 'ogg', 'pipe:3'];
    // A short probe: ffmpeg holds the publish back until it knows the streams (5 s by default).
    return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-fflags', 'nobuffer', '-analyzeduration', '300000', ...input, ...video, ...(audio ? opus : [])];
  }

  start(): void {
    this.#listen();
  }

  stop(): void {
    this.#stopped = true;
    this.#child?.kill('SIGTERM');
  }

  #listen(): void {
    if (this.#stopped) return;
    const bin = this.#o.ffmpegPath ?? 'ffmpeg';
    const audio = this.#audio;
    const child = (this.#child = spawn(bin, this.args(audio), { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }));
    const started = Date.now();
    let frames = 0;
    let stderr = '';
    let size: { sps: Buffer; imageType: string; width: number; height: number } | undefined;
    const units = new AccessUnits((au) => {
      const sps = findSps(au);
      if (sps && !size?.sps.equals(sps)) {
        try {
          size = { sps: Buffer.from(sps), imageType: avcCodecString(sps), ...spsDimensions(sps) };
        } catch {
          size = undefined;
        }
      }
      if (!size) return void this.dropped++;
      if (frames++ === 0) this.emit('publish');
      this.emit('video', { data: au, imageType: size.imageType, keyframe: isIdr(au), width: size.width, height: size.height, timestamp: Date.now() });
    });
    child.stdout!.on('data', (c: Buffer) => units.push(c));
    child.stdout!.on('end', () => units.flush());
    if (audio) {
      const ogg = new OggOpusPackets((p) => this.emit('audio', p.data, Date.now()));
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => {
        try {
          ogg.push(c);
        } catch {
          // A broken page: the rest of this publish's audio is lost, its video goes on.
        }
      });
    }
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('error', (err: NodeJS.ErrnoException) => {
      this.#stopped = true;
      this.emit('error', err.code === 'ENOENT' ? new FfmpegMissingError(bin) : err);
    });
    child.on('close', (code) => {
      if (this.#child === child) this.#child = undefined;
      units.dropped && (this.dropped += units.dropped);
      if (this.#stopped) return;
      if (frames > 0) this.emit('unpublish');
      // A publish without audio leaves ffmpeg's audio output without a stream: listen again without it.
      if (audio && /does not contain any stream|matches no streams/i.test(stderr)) {
        this.#audio = false;
        return this.#listen();
      }
      // Failing at once, before any publish, is not a publisher leaving: it cannot listen.
      if (code !== 0 && frames === 0 && Date.now() - started < 2000) {
        this.#stopped = true;
        return void this.emit('error', new Error(`ffmpeg cannot listen on ${this.#o.url}: ${stderr.trim() || `exit ${code}`}`));
      }
      this.#listen();
    });
  }
}
