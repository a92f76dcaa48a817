/**
 * FfmpegIngest: a listening RTMP or SRT server (ffmpeg's own, `-listen 1` / `mode=listener`)
 * that takes one publish at a time, from OBS Studio or any RTMP/SRT publisher, and hands on its
 * H.264 video as it came, one access unit per frame (Annex B, SPS and PPS before every IDR,
 * `-c:v copy -bsf:v h264_mp4toannexb`: never re-encoded), and its audio as 20 ms Opus packets
 * (AAC from OBS is transcoded: camwire carries PCM or Opus). When the publisher stops, ffmpeg
 * listens again. Frames carry the time they left ffmpeg (the stream's own timestamps are not
 * passed through the raw H.264 output); publishers must not use B-frames, since frames go in
 * decode order.
 *
 * For RTMP the listening socket is camwire's own (so it is known to listen before anyone
 * publishes, and a second publisher is turned away while one publishes): each publish gets an
 * ffmpeg listening on a loopback port, and the publisher's bytes are passed to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { AddressInUseError, FfmpegMissingError } from '../errors.js';
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
  /** The ingest listens (RTMP: its socket is bound; SRT: ffmpeg started). */
  listening: [];
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
  #server: net.Server | undefined;
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

  /** The ffmpeg arguments of one listen on `url`. */
  args(audio = this.#audio, url = this.#o.url): string[] {
    const input = /^srt:/i.test(url) ? ['-i', url.includes('mode=') ? url : `${url}${url.includes('?') ? '&' : '?'}mode=listener`] : ['-listen', '1', '-i', url];
    const video = ['-map', '0:v:0', '-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,h264_metadata=aud=insert', '-flush_packets', '1', '-f', 'h264', 'pipe:1'];
    const opus = ['-map', '0:a:0', '-c:a', 'libopus', '-b:a', String(this.#o.audioBitrate ?? 96000), '-ar', '48000', '-ac', '2', '-frame_duration', '20', '-page_duration', '20000', '-flush_packets', '1', '-f', 'ogg', 'pipe:3'];
    // A short probe: ffmpeg holds the publish back until it knows the streams (5 s by default).
    // Not `-fflags nobuffer`: it throws away the packets read while probing (the first keyframe).
    return ['-hide_banner', '-loglevel', 'error', '-nostdin', '-analyzeduration', '300000', ...input, ...video, ...(audio ? opus : [])];
  }

  start(): void {
    if (/^srt:/i.test(this.#o.url)) {
      this.#listen(this.#o.url, () => {});
      this.emit('listening');
      return;
    }
    const u = new URL(this.#o.url);
    const server = (this.#server = net.createServer((socket) => this.#publish(socket, u.pathname)));
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port || 1935);
    server.once('error', (err: NodeJS.ErrnoException) => {
      this.#stopped = true;
      this.emit('error', err.code === 'EADDRINUSE' ? new AddressInUseError(host, port, 'RTMP port', { cause: err }) : new Error(`cannot listen on ${this.#o.url}: ${err.message}`, { cause: err }));
    });
    server.listen(port, host, () => this.emit('listening'));
  }

  stop(): void {
    this.#stopped = true;
    this.#server?.close();
    this.#child?.kill('SIGTERM');
  }

  /** One RTMP publisher: an ffmpeg listening on a loopback port, and the bytes passed both ways. */
  #publish(socket: net.Socket, app: string): void {
    socket.on('error', () => {});
    if (this.#child || this.#stopped) return void socket.destroy();
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => {
        if (socket.destroyed || this.#stopped) return;
        const upstream = { s: undefined as net.Socket | undefined };
        this.#listen(`rtmp://127.0.0.1:${port}${app}`, () => {
          socket.destroy();
          upstream.s?.destroy();
        });
        // ffmpeg listens within moments: connect until it does (5 s at most).
        const deadline = Date.now() + 5000;
        const connect = (): void => {
          const up = net.connect(port, '127.0.0.1');
          up.once('connect', () => {
            upstream.s = up;
            socket.pipe(up).on('error', () => {});
            up.pipe(socket).on('error', () => {});
            socket.once('close', () => up.end());
            up.once('close', () => socket.destroy());
          });
          up.once('error', () => {
            if (!socket.destroyed && this.#child && Date.now() < deadline) setTimeout(connect, 50);
            else socket.destroy();
          });
        };
        connect();
      });
    });
  }

  /** Runs one ffmpeg on `url`; `ended` is called when it exits (SRT: listen again; RTMP: drop the sockets). */
  #listen(url: string, ended: () => void): void {
    if (this.#stopped) return;
    const bin = this.#o.ffmpegPath ?? 'ffmpeg';
    const audio = this.#audio;
    const child = (this.#child = spawn(bin, this.args(audio, url), { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] }));
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
      this.dropped += units.dropped;
      const srt = /^srt:/i.test(url);
      if (!srt) ended();
      if (this.#stopped) return;
      if (frames > 0) this.emit('unpublish');
      // A publish without audio leaves ffmpeg's audio output without a stream: the next one is taken without it.
      if (audio && /does not contain any stream|matches no streams/i.test(stderr)) this.#audio = false;
      else if (srt && code !== 0 && frames === 0 && Date.now() - started < 2000) {
        // Failing at once, before any publish, is not a publisher leaving: it cannot listen.
        this.#stopped = true;
        return void this.emit('error', new Error(`ffmpeg cannot listen on ${url}: ${stderr.trim() || `exit ${code}`}`));
      }
      if (srt) this.#listen(url, ended);
    });
  }
}
