/**
 * Where the CLI puts what it receives: video to a file (MJPEG as is; MP4, MKV or WebM with the
 * audio and the frames' own timestamps through the Recorder), to ffplay, or to an MJPEG-over-HTTP
 * endpoint; and a status line or progress bar on stderr. ffplay and the MJPEG viewers take JPEG:
 * compressed video reaches them through one MjpegTranscoder (docs/cli.md, camwire receive).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import cliProgress from 'cli-progress';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { AddressInUseError } from '../errors.js';
import type { AudioChunk, VideoFrame } from '../events.js';
import { changesFormat, Recorder, type RecorderStats } from '../media/recorder/recorder.js';
import { FfmpegMissingError } from '../sources/ffmpeg.js';
import { MjpegResponse, startMjpeg } from '../web/mjpeg.js';
import { demuxerOf, MjpegTranscoder, type CodedFrame } from '../web/transcoder.js';

/** Options of a FrameSink. */
export interface FrameSinkOptions {
  save?: string;
  play?: boolean;
  mjpegPort?: number;
  /** What the recording waits for before it starts (the media types received). */
  expect?: { video: boolean; audio: boolean };
  /** ffmpeg or ffplay could not start, or died; the recording failed. */
  onError?: (err: Error) => void;
  /** Something the user should know that does not end the command (once per cause). */
  onWarning?: (message: string) => void;
}

/** Spawns ffmpeg/ffplay reading MJPEG on stdin; frames written while it is busy are skipped. */
function pipeTo(bin: string, args: string[], onError: (e: Error) => void): ChildProcess {
  const child = spawn(bin, args, { stdio: ['pipe', 'ignore', 'inherit'] });
  child.on('error', (err: NodeJS.ErrnoException) => onError(err.code === 'ENOENT' ? new FfmpegMissingError(bin) : err));
  child.stdin!.on('error', () => {});
  return child;
}

/** FrameSink: fans received JPEG frames out to the chosen outputs. */
export class FrameSink {
  readonly #o: FrameSinkOptions;
  #file: fs.WriteStream | undefined;
  #recorder: Recorder | undefined;
  /** Recordings being finished; the number of the last file started after a format change. */
  readonly #closing: Array<Promise<void>> = [];
  #files = 1;
  /** See `skipped`. */
  #skipped = 0;
  #children: ChildProcess[] = [];
  #http: http.Server | undefined;
  readonly #viewers = new Set<MjpegResponse>();
  /** Compressed video as JPEG for ffplay and the MJPEG viewers: ffmpeg, while ffplay runs or a viewer watches. */
  #transcoder: MjpegTranscoder | undefined;
  /** The size of the video the transcoder decodes (another size starts a new one at its keyframe). */
  #transcodedSize = '';
  mjpegUrl: string | undefined;
  /** Image types already warned about (#jpegOnly). */
  readonly #warned = new Set<string>();

  constructor(o: FrameSinkOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const fail = (e: Error): void => this.#o.onError?.(e);
    const save = this.#o.save;
    if (save) {
      if (/\.(mjpe?g)$/i.test(save)) this.#file = fs.createWriteStream(save);
      else this.#recorder = this.#newRecorder(save);
    }
    if (this.#o.play) {
      // -autoexit: ffplay ends at the end of its input, when this command ends (or dies).
      const player = pipeTo('ffplay', ['-hide_banner', '-loglevel', 'error', '-fflags', 'nobuffer', '-autoexit', '-f', 'mjpeg', '-i', 'pipe:0'], fail);
      // Its window closed: the transcoder runs on only for viewers.
      player.on('exit', () => this.#viewers.size === 0 && this.#stopTranscoder());
      this.#children.push(player);
    }
    if (this.#o.mjpegPort !== undefined) {
      const server = http.createServer((req, res) => {
        if (req.url !== '/' && req.url !== '/video.mjpg') {
          res.writeHead(404).end();
          return;
        }
        // HEAD: the stream's headers, then the end (the body of a stream never ends).
        if (req.method === 'HEAD') {
          startMjpeg(res);
          res.end();
          return;
        }
        const v = new MjpegResponse(res);
        this.#viewers.add(v);
        res.on('close', () => {
          this.#viewers.delete(v);
          if (this.#viewers.size === 0 && !this.#playing()) this.#stopTranscoder();
        });
      });
      const port = this.#o.mjpegPort;
      await new Promise<void>((resolve, reject) => {
        // A port in use is the user's to pick again: said as such, exit 3 (docs/cli.md, Exit codes).
        server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new AddressInUseError('[::]', port, '--mjpeg-port', { cause: err }) : err));
        server.listen(port, () => resolve());
      });
      this.#http = server;
      this.mjpegUrl = `http://localhost:${(server.address() as net.AddressInfo).port}/video.mjpg`;
    }
  }

  #newRecorder(file: string): Recorder {
    const rec = new Recorder({ path: file, expect: this.#o.expect });
    rec.on('error', (e) => this.#o.onError?.(e));
    return rec;
  }

  /** ffplay is running and reading. */
  #playing(): boolean {
    return this.#children.some((c) => c.exitCode === null && c.signalCode === null && c.stdin !== null && !c.stdin.destroyed);
  }

  /**
   * One received frame: every kind the recording takes; JPEG to the other outputs, and compressed
   * video transcoded to JPEG for ffplay and the MJPEG viewers while ffplay runs or any viewer
   * watches (from its next keyframe).
   */
  frame(v: VideoFrame): void {
    const rec = this.#recorder;
    if (rec && changesFormat(rec.tracks, v)) {
      // Another codec or size: this file is finished, the next one (out-2.mkv, ...) starts here.
      const ext = path.extname(this.#o.save!);
      this.#recorder = this.#newRecorder(`${this.#o.save!.slice(0, -ext.length)}-${++this.#files}${ext}`);
      this.#closing.push(this.#finishRecording(rec));
    }
    this.#recorder?.video(v);
    if (v.imageType !== 'jpeg') {
      if ((this.#viewers.size > 0 || this.#playing()) && demuxerOf(v.imageType)) this.#transcode(v);
      this.#jpegOnly(v.imageType);
      return;
    }
    const data = v.data;
    if (this.#file) {
      if (this.#file.writableNeedDrain) this.#skipped++;
      else this.#file.write(data);
    }
    this.#show(data, Date.now());
  }

  /** Frames a .mjpeg file or ffplay did not get because it was still busy with earlier ones (latest wins). */
  get skipped(): number {
    return this.#skipped;
  }

  /** A JPEG image (received, or transcoded) to ffplay and the viewers; one still busy skips it (latest wins, counted). */
  #show(jpeg: Buffer, timestamp: number): void {
    for (const c of this.#children) {
      if (!c.stdin || c.stdin.destroyed) continue;
      if (c.stdin.writableNeedDrain) this.#skipped++;
      else c.stdin.write(jpeg);
    }
    for (const v of this.#viewers) v.push(jpeg, timestamp);
  }

  /**
   * A .mjpeg file takes JPEG only, ffplay JPEG and what the transcoder decodes: say once per image
   * type that this video does not reach them (docs/cli.md, camwire receive).
   */
  #jpegOnly(imageType: string): void {
    if (this.#warned.has(imageType)) return;
    const coded = demuxerOf(imageType) !== undefined;
    const said: string[] = [];
    if (this.#file) said.push(`--save ${this.#o.save} takes JPEG video only: this ${imageType} video does not reach it${coded ? '; save to .mp4 or .mkv to record it' : ''}`);
    if (this.#children.length && !coded) said.push(`--play shows JPEG, H.264, VP8, VP9 and AV1 video only: this ${imageType} video does not reach it`);
    if (!said.length) return;
    this.#warned.add(imageType);
    for (const m of said) this.#o.onWarning?.(m);
  }

  #transcode(v: CodedFrame): void {
    // A new codec or size starts again at its keyframe.
    const size = `${v.width}x${v.height}`;
    if (this.#transcoder && (this.#transcoder.codec !== v.imageType || this.#transcodedSize !== size)) this.#stopTranscoder();
    if (this.#transcoder) return this.#transcoder.push(v);
    if (!v.keyframe) return;
    const t = new MjpegTranscoder(v, (jpeg, timestamp) => {
      // Images of a transcoder already replaced (still in its pipe) are left out.
      if (this.#transcoder === t) this.#show(jpeg, timestamp);
    }, (err) => {
      if (this.#transcoder === t) this.#transcoder = undefined;
      if (err) this.#o.onError?.(err);
    });
    this.#transcoder = t;
    this.#transcodedSize = size;
  }

  #stopTranscoder(): void {
    this.#transcoder?.stop();
    this.#transcoder = undefined;
  }

  /** Finishes a recording and says what it holds (a failure was reported through onError when it happened). */
  async #finishRecording(rec: Recorder): Promise<void> {
    const stats = await rec.close().catch(() => undefined);
    if (!stats) return;
    const dropped = stats.droppedVideo + stats.droppedAudio;
    process.stderr.write(`saved ${rec.path}: ${stats.videoFrames} video frames, ${stats.audioChunks} audio chunks, ${(stats.durationMs / 1000).toFixed(2)} s${dropped ? `, ${dropped} dropped` : ''}\n`);
  }

  /** One received audio chunk: to the recording. */
  audio(a: AudioChunk): void {
    this.#recorder?.audio(a);
  }

  /** The recording's counts, if there is one. */
  get recording(): RecorderStats | undefined {
    return this.#recorder?.stats;
  }

  async stop(): Promise<void> {
    this.#stopTranscoder();
    await new Promise<void>((r) => (this.#file ? this.#file.end(() => r()) : r()));
    const rec = this.#recorder;
    this.#recorder = undefined;
    if (rec) this.#closing.push(this.#finishRecording(rec));
    await Promise.all(this.#closing);
    await Promise.all(
      this.#children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once('exit', () => r());
            c.stdin?.end();
            setTimeout(() => c.kill('SIGTERM'), 5000).unref();
          }),
      ),
    );
    for (const v of this.#viewers) v.end();
    await new Promise<void>((r) => (this.#http ? this.#http.close(() => r()) : r()));
    this.#http?.closeAllConnections();
  }
}

/** A transfer's numbers as shown: MB done and total, MB/s since the start, and the time left. */
export interface ProgressNumbers {
  percent: number;
  doneMb: string;
  totalMb: string;
  mbPerS: string;
  left: string;
}

/** `elapsedMs` and `movedBytes`: time and bytes since this command's transfer began (a resumed file starts past 0). */
export function progressNumbers(done: number, total: number, elapsedMs: number, movedBytes: number): ProgressNumbers {
  const rate = elapsedMs > 0 ? movedBytes / (elapsedMs / 1000) : 0;
  const secs = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
  const left = secs === undefined ? '?' : secs >= 3600 ? `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min` : secs >= 60 ? `${Math.floor(secs / 60)} min ${secs % 60} s` : `${secs} s`;
  return {
    percent: total > 0 ? Math.floor((done / total) * 100) : 100,
    doneMb: (done / 1e6).toFixed(1),
    totalMb: (total / 1e6).toFixed(1),
    mbPerS: (rate / 1e6).toFixed(1),
    left,
  };
}

/** The progress line without a terminal: `name 42% 12.6/30.0 MB, 5.1 MB/s, 4 s left`. */
export function progressText(name: string, p: ProgressNumbers): string {
  return `${name} ${p.percent}% ${p.doneMb}/${p.totalMb} MB, ${p.mbPerS} MB/s, ${p.left} left`;
}

/** StatusLine: one line on stderr, rewritten in place on a terminal, or a progress bar for files. */
export class StatusLine {
  readonly #tty = process.stderr.isTTY === true;
  #bar: cliProgress.SingleBar | undefined;
  #last = 0;
  #done = false;
  #started: { at: number; done: number } | undefined;

  line(text: string): void {
    if (this.#tty) process.stderr.write(`\r\x1b[K${text}`);
    else if (Date.now() - this.#last >= 5000) {
      this.#last = Date.now();
      process.stderr.write(`${text}\n`);
    }
  }

  /** A file's progress: a bar on a terminal, otherwise a line at most every 5 s (progressText). */
  progress(name: string, done: number, total: number): void {
    const now = Date.now();
    this.#started ??= { at: now, done };
    const p = progressNumbers(done, total, now - this.#started.at, done - this.#started.done);
    if (!this.#tty) {
      this.line(progressText(name, p));
      return;
    }
    const payload = { mb: p.doneMb, totalMb: p.totalMb, speed: p.mbPerS, left: p.left };
    if (!this.#bar) {
      this.#bar = new cliProgress.SingleBar(
        { format: `${name} [{bar}] {percentage}% | {mb}/{totalMb} MB | {speed} MB/s | {left} left`, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(total, done, payload);
    }
    this.#bar.update(done, payload);
  }

  done(): void {
    if (this.#done) return;
    this.#done = true;
    this.#bar?.stop();
    if (this.#tty && !this.#bar) process.stderr.write('\n');
  }
}
