/**
 * ServerRecording: a MediaServer's recordings (option `record`, docs/behaviour.md, Recording).
 * Every source (a client's video and audio of one media index) is recorded on its own, from the
 * server's taps, in segments of `segmentMs` of frame time cut at a video keyframe, into
 * `<dir>/<client>/<start time>.<format>`; a keyframe of another codec or size starts a new one. Finished segments beyond `maxAgeMs` or `maxBytes` are
 * deleted, oldest first, never the ones being written. A source silent for `idleMs` has its
 * segment finished. A recorder that fails (disk full, ffmpeg missing, a codec it cannot hold) is
 * logged and counted; its source waits one segment length before it is tried again; relaying is
 * never touched (the taps only copy what they keep, within each recorder's bounds).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../options.js';
import { changesFormat, Recorder, type RecorderStats } from '../media/recorder/recorder.js';
import type { AudioTap, VideoTap } from './relay.js';
import { makeDir } from '../make-dir.js';

/** Option `record` of a MediaServer. */
export interface RecordOptions {
  /** The folder; one sub-folder per client. */
  dir: string;
  /** Length of a segment in frame time (cut at the next video keyframe). @default 60000 */
  segmentMs?: number;
  /** Finished segments older than this are deleted. 0 = kept. @default 0 */
  maxAgeMs?: number;
  /** Finished segments beyond this many bytes in all are deleted, oldest first. 0 = no limit. @default 0 */
  maxBytes?: number;
  /** @default 'mkv' */
  format?: 'mkv' | 'mp4';
  /** A source with no frame for this long has its segment finished. @default 5000 */
  idleMs?: number;
  /** Bytes per source waiting to be written, beyond which its frames are dropped. @default 8 MiB */
  maxQueueBytes?: number;
}

/** A finished segment. */
export interface SegmentInfo {
  file: string;
  client: string;
  mediaIndex: number;
  stats: RecorderStats;
}

export interface ServerRecordingEvents {
  /** A segment was finished and is complete. */
  segment: [info: SegmentInfo];
  /** A recorder failed (logged and counted). Not `error`: nothing throws when nobody listens. */
  failed: [err: Error, file: string];
  /** A finished segment was deleted by the retention limits. */
  deleted: [file: string];
}

/** Counts of the server's recordings. */
export interface RecordingStats {
  recording: number;
  segments: number;
  errors: number;
  deleted: number;
}

interface Source {
  client: string;
  mediaIndex: number;
  rec: Recorder | undefined;
  /** The failed recorder's last frame time: the source waits one segment from it. */
  failedAt: number | undefined;
  lastSeen: number;
  hadAudio: boolean;
}

export class ServerRecording extends EventEmitter<ServerRecordingEvents> {
  readonly #o: Required<RecordOptions>;
  readonly #log: Logger;
  readonly #count: (event: 'segment' | 'error' | 'deleted') => void;
  readonly #sources = new Map<string, Source>();
  /** Segments being written or finished: never deleted. */
  readonly #open = new Set<string>();
  readonly #closing = new Set<Promise<void>>();
  readonly #timer: NodeJS.Timeout;
  #sweeping: Promise<void> | undefined;
  #sweepAgain = false;
  #lastAgeSweep = 0;
  readonly #stats = { segments: 0, errors: 0, deleted: 0 };

  constructor(o: RecordOptions, log: Logger, count: (event: 'segment' | 'error' | 'deleted') => void = () => {}) {
    super();
    this.#o = { segmentMs: 60_000, maxAgeMs: 0, maxBytes: 0, format: 'mkv', idleMs: 5000, maxQueueBytes: 8 * 1024 * 1024, ...o };
    this.#log = log;
    this.#count = count;
    // One timer for every source: idle segments are finished, and old ones swept once a minute.
    this.#timer = setInterval(() => this.#tick(), Math.min(1000, this.#o.idleMs)).unref();
    this.#sweep();
  }

  get stats(): RecordingStats {
    return { recording: [...this.#sources.values()].filter((s) => s.rec).length, ...this.#stats };
  }

  video(v: VideoTap): void {
    const s = this.#source(v.from, v.mediaIndex);
    // A keyframe of another codec or size starts a new segment (a file holds one video format).
    if (s.rec && changesFormat(s.rec.tracks, v)) this.#finish(s);
    const rec = this.#recorder(s, v.timestamp, v.keyframe, true);
    rec?.video(v);
  }

  audio(a: AudioTap): void {
    const s = this.#source(a.from, a.mediaIndex);
    s.hadAudio = true;
    const rec = this.#recorder(s, a.timestamp, false, false);
    rec?.audio(a);
  }

  /** Finishes every segment; resolves when they are complete. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const s of this.#sources.values()) this.#finish(s);
    this.#sources.clear();
    while (this.#closing.size) await Promise.all([...this.#closing]);
    await this.#sweeping;
  }

  #source(client: string, mediaIndex: number): Source {
    const key = `${mediaIndex}\0${client}`;
    let s = this.#sources.get(key);
    if (!s) this.#sources.set(key, (s = { client, mediaIndex, rec: undefined, failedAt: undefined, lastSeen: 0, hadAudio: false }));
    s.lastSeen = Date.now();
    return s;
  }

  /** The recorder for a frame at `ts`: a new segment when the current one is long enough and this frame can start one. */
  #recorder(s: Source, ts: number, keyframe: boolean, video: boolean): Recorder | undefined {
    if (s.failedAt !== undefined) {
      if (ts - s.failedAt < this.#o.segmentMs) return undefined;
      s.failedAt = undefined;
    }
    const rec = s.rec;
    const start = rec?.startTime;
    const cut = rec && start !== undefined && ts - start >= this.#o.segmentMs && (rec.tracks?.video ? video && keyframe : true);
    if (cut) this.#finish(s);
    if (!s.rec) this.#begin(s, ts);
    return s.rec;
  }

  #begin(s: Source, ts: number): void {
    const file = path.join(this.#o.dir, folderName(s.client), `${new Date(ts).toISOString().replace(/:/g, '-')}${s.mediaIndex ? `-m${s.mediaIndex}` : ''}.${this.#o.format}`);
    const rec = new Recorder({ path: file, maxQueueBytes: this.#o.maxQueueBytes, expect: s.hadAudio ? { audio: true } : undefined });
    s.rec = rec;
    this.#open.add(file);
    const failed = (err: Error): void => {
      this.#stats.errors++;
      this.#count('error');
      this.#log.error({ err, file, client: s.client }, 'recording failed; relaying goes on');
      this.emit('failed', err, file);
      s.failedAt = ts + rec.durationMs;
      if (s.rec === rec) this.#finish(s);
    };
    rec.on('error', failed);
    try {
      // Once per segment: the file is opened on a later turn, in this folder.
      makeDir(path.dirname(file));
    } catch (err) {
      failed(err as Error);
    }
  }

  /** Finishes the source's segment in the background. */
  #finish(s: Source): void {
    const rec = s.rec;
    if (!rec) return;
    s.rec = undefined;
    const done = rec.close().then(
      (stats) => {
        this.#open.delete(rec.path);
        if (stats.videoFrames + stats.audioChunks === 0) return void fs.rm(rec.path, { force: true }).catch(() => {});
        this.#stats.segments++;
        this.#count('segment');
        this.#log.info({ file: rec.path, client: s.client, frames: stats.videoFrames, audioChunks: stats.audioChunks, durationMs: stats.durationMs, dropped: stats.droppedVideo + stats.droppedAudio }, 'recording segment finished');
        this.emit('segment', { file: rec.path, client: s.client, mediaIndex: s.mediaIndex, stats });
        this.#sweep();
      },
      () => {
        this.#open.delete(rec.path); // reported by the error event
      },
    );
    this.#closing.add(done);
    void done.finally(() => this.#closing.delete(done));
  }

  #tick(): void {
    const now = Date.now();
    for (const [key, s] of this.#sources) {
      if (now - s.lastSeen < this.#o.idleMs) continue;
      this.#finish(s);
      this.#sources.delete(key);
    }
    if (this.#o.maxAgeMs && now - this.#lastAgeSweep >= Math.min(60_000, this.#o.maxAgeMs)) this.#sweep();
  }

  /** Applies the retention limits; one sweep at a time (a request during one runs another after it). */
  #sweep(): void {
    if (!this.#o.maxAgeMs && !this.#o.maxBytes) return;
    if (this.#sweeping) {
      this.#sweepAgain = true;
      return;
    }
    this.#lastAgeSweep = Date.now();
    this.#sweeping = this.#retain()
      .catch((err: Error) => this.#log.warn({ err, dir: this.#o.dir }, 'recording retention sweep failed'))
      .finally(() => {
        this.#sweeping = undefined;
        if (this.#sweepAgain) {
          this.#sweepAgain = false;
          this.#sweep();
        }
      });
  }

  async #retain(): Promise<void> {
    const files: Array<{ file: string; size: number; mtime: number }> = [];
    const top = await fs.readdir(this.#o.dir, { withFileTypes: true }).catch(() => []);
    for (const d of top) {
      if (!d.isDirectory()) continue;
      const sub = path.join(this.#o.dir, d.name);
      for (const name of await fs.readdir(sub).catch(() => [] as string[])) {
        if (!/\.(mkv|mp4)$/.test(name)) continue;
        const file = path.join(sub, name);
        if (this.#open.has(file)) continue;
        const st = await fs.stat(file).catch(() => undefined);
        if (st?.isFile()) files.push({ file, size: st.size, mtime: st.mtimeMs });
      }
    }
    files.sort((a, b) => a.mtime - b.mtime);
    let total = files.reduce((n, f) => n + f.size, 0);
    const now = Date.now();
    for (const f of files) {
      const old = this.#o.maxAgeMs > 0 && now - f.mtime > this.#o.maxAgeMs;
      const over = this.#o.maxBytes > 0 && total > this.#o.maxBytes;
      if (!old && !over) continue;
      await fs.rm(f.file, { force: true });
      total -= f.size;
      this.#stats.deleted++;
      this.#count('deleted');
      this.#log.info({ file: f.file, reason: old ? 'maxAge' : 'maxBytes' }, 'recording deleted');
      this.emit('deleted', f.file);
    }
  }
}

/** A client id as a folder name: safe characters kept, the rest `_`, and a hash when anything changed. */
function folderName(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 100) || '_';
  return safe === id ? safe : `${safe}-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}
