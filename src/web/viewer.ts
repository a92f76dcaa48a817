/**
 * WebViewer: the browser viewer a MediaServer serves on its HTTP port. Lists online clients and
 * their video sources, and streams each source as MJPEG (/mjpeg/<client>/<index>), so a browser,
 * VLC, ffplay or ffmpeg can watch with nothing to install; a compressed source is transcoded to
 * JPEG by ffmpeg while someone watches it so. The page decodes compressed sources itself, from
 * /stream/<client>/<index> (camwire frames, from the server's cached keyframe on). Frames are
 * copied only while someone watches.
 */
import type http from 'node:http';
import type { MediaServer, VideoTap } from '../server/media-server.js';
import { DeliveryError } from '../errors.js';
import { readBody } from '../transport/http-body.js';
import { MjpegResponse, startMjpeg } from './mjpeg.js';
import { FrameStreamResponse } from './frame-stream.js';
import { demuxerOf, MjpegTranscoder } from './transcoder.js';
import { CLIENT_JS } from './client-script.js';
import { VIEWER_HTML } from './viewer-page.js';
import { ViewerCompose } from './viewer-compose.js';

interface Source {
  client: string;
  mediaIndex: number;
  imageType: string;
  /** Its last frame was TRANSFORMED (an encode hook's output, encrypted say): no picture to show. */
  transformed: boolean;
  width: number;
  height: number;
  /** JPEG: a copy of the last frame while someone watches (MJPEG viewers), for snapshots and new viewers. */
  last?: VideoTap;
  /** When `last` was copied. */
  keptAt: number;
  /** Snapshot requests waiting for the next JPEG image. */
  waiters: Set<(jpeg: Buffer) => void>;
  /** Compressed: the browsers decoding it, and the ffmpeg turning it into JPEG for MJPEG viewers and snapshots. */
  streams: Set<FrameStreamResponse>;
  transcoder?: MjpegTranscoder;
  lastAt: number;
  /** Frames and bytes in the current one-second window, and the last full window's rates. */
  windowStart: number;
  windowFrames: number;
  windowBytes: number;
  fps: number;
  bitrate: number;
  /** Sender clock to server clock, ms (positive: the frame is that old when it arrives). */
  latency: number;
  viewers: Set<MjpegResponse>;
  /** Pictures composed (encoded) for a change-detection source: only while someone watches. */
  composed: number;
}

/** A copy of tap `v` to keep: its image bytes copied (read once), the rest as it is. */
function kept(v: VideoTap): VideoTap {
  const data = Buffer.from(v.data);
  const k: VideoTap = { from: v.from, mediaIndex: v.mediaIndex, imageType: v.imageType, width: v.width, height: v.height, keyframe: v.keyframe, transformed: v.transformed, timestamp: v.timestamp, data, size: data.length };
  if (v.rect) k.rect = v.rect;
  return k;
}

/** WebViewer serves the viewer page, the source list and MJPEG streams for one MediaServer. */
export class WebViewer {
  readonly #server: MediaServer;
  readonly #sources = new Map<string, Source>();
  readonly #off: () => void;
  /** Change-detection sources, composed into whole pictures. */
  readonly #compose: ViewerCompose;

  constructor(server: MediaServer) {
    this.#server = server;
    this.#compose = new ViewerCompose(
      server,
      (v) => this.#onVideo(v, true),
      (from, mediaIndex) => {
        const s = this.#sources.get(`${from}/${mediaIndex}`);
        return s !== undefined && (s.viewers.size > 0 || s.waiters.size > 0);
      },
    );
    this.#off = server.onVideo((v) => this.#onVideo(v));
  }

  /** A frame from the server, or (`composed`) a picture composed from a change-detection source's rectangles. */
  #onVideo(v: VideoTap, composed = false): void {
    if (composed) return this.#picture(v, true);
    const taken = this.#compose.take(v);
    const key = `${v.from}/${v.mediaIndex}`;
    let s = this.#sources.get(key);
    const now = Date.now();
    if (!s) {
      s = { client: v.from, mediaIndex: v.mediaIndex, imageType: v.imageType, width: v.width, height: v.height, lastAt: now, windowStart: now, windowFrames: 0, windowBytes: 0, fps: 0, bitrate: 0, latency: 0, viewers: new Set(), waiters: new Set(), streams: new Set(), transformed: v.transformed, keptAt: 0, composed: 0 };
      this.#sources.set(key, s);
    }
    s.lastAt = now;
    s.transformed = v.transformed;
    const resized = v.width !== s.width || v.height !== s.height;
    s.width = v.width;
    s.height = v.height;
    s.latency = now - v.timestamp;
    s.windowFrames++;
    s.windowBytes += v.size;
    if (now - s.windowStart >= 1000) {
      const secs = (now - s.windowStart) / 1000;
      s.fps = s.windowFrames / secs;
      s.bitrate = (s.windowBytes * 8) / secs;
      s.windowStart = now;
      s.windowFrames = 0;
      s.windowBytes = 0;
    }
    if (!taken) this.#picture(v, false, s, resized);
    // A composed source is shown as JPEG pictures, composed while someone watches.
    else s.imageType = 'jpeg';
  }

  /** The source's picture: kept for snapshots and new viewers, and pushed to those watching. */
  #picture(v: VideoTap, composed: boolean, s = this.#sources.get(`${v.from}/${v.mediaIndex}`), resized = false): void {
    if (!s) return;
    const now = Date.now();
    s.imageType = v.imageType;
    if (composed) s.composed++;
    // A transformed (encrypted) image is not a picture: counted, never shown nor decoded.
    if (v.transformed) return;
    // The browsers decoding a compressed source get its frames as they come.
    if (!composed) for (const r of s.streams) r.push(v);
    if (v.imageType === 'jpeg') {
      // The tap's buffer is a view of the received data (read only here: a large frame's bytes are
      // joined when read): a frame that outlives this call is copied.
      // Every frame while someone watches; otherwise one a second, so a snapshot answers at once. A
      // composed picture is the viewer's own buffer, and there may be no next one (a still screen):
      // always kept.
      if (composed || s.viewers.size > 0 || s.waiters.size > 0 || now - s.keptAt >= 1000) {
        s.last = composed ? v : kept(v);
        s.keptAt = now;
      }
      for (const w of s.waiters) w(s.last!.data);
      if (s.last) for (const r of s.viewers) r.push(s.last.data, v.timestamp);
      return;
    }
    if (s.transcoder && (s.transcoder.codec !== v.imageType || (v.keyframe && resized))) this.#stopTranscoder(s);
    if (s.transcoder) s.transcoder.push(v);
    else if ((s.viewers.size > 0 || s.waiters.size > 0) && v.keyframe) this.#startTranscoder(s, [v]);
  }

  /** Video sources seen in the last 10 s, with their rates. */
  sources(): Array<{ client: string; mediaIndex: number; imageType: string; width: number; height: number; fps: number; bitrate: number; latency: number | null; viewers: number; composed: number }> {
    const now = Date.now();
    // An HTTP ingest's frames carry the server's clock: their latency is unknown (null), not 0.
    const ingestOnly = new Set(this.#server.clients().filter((c) => c.ingest > 0 && c.pushLinks === 0).map((c) => c.id));
    const out = [];
    for (const [key, s] of this.#sources) {
      if (now - s.lastAt > 10000) {
        if (s.viewers.size === 0) this.#sources.delete(key);
        continue;
      }
      out.push({ client: s.client, mediaIndex: s.mediaIndex, imageType: s.imageType, width: s.width, height: s.height, fps: Math.round(s.fps * 10) / 10, bitrate: Math.round(s.bitrate), latency: ingestOnly.has(s.client) ? null : Math.round(s.latency), viewers: s.viewers.size, composed: s.composed });
    }
    return out;
  }

  /** Handles viewer routes; returns false for anything else. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/api/command') {
      void this.#command(req, res);
      return true;
    }
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) return false;
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(VIEWER_HTML);
      return true;
    }
    if (path === '/camwire.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }).end(CLIENT_JS);
      return true;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return true;
    }
    if (path === '/api/sources') {
      // "online" is /stats' definition (a receiver connected); clients that only send (push links or HTTP ingest) are listed too, marked.
      const stats = this.#server.stats();
      const clients = stats.clients.filter((c) => c.online || c.pushLinks > 0 || c.ingest > 0);
      const body = JSON.stringify({
        sources: this.sources(),
        online: stats.online,
        links: stats.links,
        clients: clients.map((c) => ({ id: c.id, online: c.online, sending: c.pushLinks > 0 || c.ingest > 0, ingest: c.ingest > 0, groups: c.groups, channels: c.channels })),
        groups: stats.groups,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      return true;
    }
    const m = /^\/(mjpeg|snapshot|stream)\/([^/]+)\/(\d+)(?:\.jpg)?$/.exec(path);
    if (!m) return false;
    const key = `${decodeURIComponent(m[2])}/${Number(m[3])}`;
    const s = this.#sources.get(key);
    if (!s) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(m[1] === 'snapshot' ? 'no JPEG frame from that source yet\n' : `no video from ${key}\n`);
      return true;
    }
    if (s.transformed) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`${key} sends transformed (encrypted) video: the server has no picture of it\n`);
      return true;
    }
    if (m[1] === 'snapshot') {
      this.#snapshot(s, res);
      return true;
    }
    if (m[1] === 'stream') {
      if (head) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end();
      else this.#stream(s, res);
      return true;
    }
    if (s.imageType !== 'jpeg' && !demuxerOf(s.imageType)) {
      res.writeHead(415, { 'content-type': 'text/plain' }).end(`${key} is ${s.imageType} video, which camwire cannot show as MJPEG\n`);
      return true;
    }
    // HEAD: the stream's headers, then the end (a stream's body never ends).
    if (head) {
      startMjpeg(res);
      res.end();
      return true;
    }
    const viewer = new MjpegResponse(res);
    s.viewers.add(viewer);
    // A composed source (a still screen may send nothing for long): its current picture at once.
    if (this.#compose.composes(s.client, s.mediaIndex) && !this.#compose.refresh(s.client, s.mediaIndex) && s.last) viewer.push(s.last.data, s.last.timestamp);
    res.on('close', () => this.#leave(s, () => s.viewers.delete(viewer)));
    if (s.imageType !== 'jpeg' && !s.transcoder) this.#startTranscoder(s, this.#server.videoGop(s.client, s.mediaIndex));
    return true;
  }

  /** The next JPEG image of the source (a compressed one's through the transcoder), within 5 s. */
  #snapshot(s: Source, res: http.ServerResponse): void {
    if (s.imageType !== 'jpeg' && !demuxerOf(s.imageType)) {
      res.writeHead(415, { 'content-type': 'text/plain' }).end(`${s.client}/${s.mediaIndex} is ${s.imageType} video: no snapshot\n`);
      return;
    }
    // A composed source whose picture changed while nobody watched encodes it now: wait for it.
    const fresh = this.#compose.composes(s.client, s.mediaIndex) && this.#compose.refresh(s.client, s.mediaIndex);
    if (s.last && s.imageType === 'jpeg' && !fresh) {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store' }).end(s.last.data);
      return;
    }
    const done = (jpeg?: Buffer): void => {
      clearTimeout(timer);
      this.#leave(s, () => s.waiters.delete(done));
      if (res.headersSent) return;
      if (jpeg) res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store' }).end(jpeg);
      else res.writeHead(504, { 'content-type': 'text/plain' }).end('no image from that source within 5 s\n');
    };
    const timer = setTimeout(() => done(), 5000);
    s.waiters.add(done);
    res.on('close', () => done());
    if (s.imageType !== 'jpeg' && !s.transcoder) this.#startTranscoder(s, this.#server.videoGop(s.client, s.mediaIndex));
  }

  /** A browser decodes the source: its cached frames from the last keyframe, then the live ones. */
  #stream(s: Source, res: http.ServerResponse): void {
    const r = new FrameStreamResponse(res);
    for (const v of this.#server.videoGop(s.client, s.mediaIndex)) r.push(v);
    s.streams.add(r);
    res.on('close', () => s.streams.delete(r));
  }

  /** Starts ffmpeg turning a compressed source into JPEG (from the first keyframe of `frames`). */
  #startTranscoder(s: Source, frames: VideoTap[]): void {
    const first = frames.findIndex((f) => f.keyframe);
    if (first < 0 || !demuxerOf(frames[first].imageType)) return;
    const onJpeg = (jpeg: Buffer, timestamp: number): void => {
      s.last = { ...frames[first], imageType: 'jpeg', timestamp, data: jpeg, size: jpeg.length };
      for (const v of s.viewers) v.push(jpeg, timestamp);
      for (const w of s.waiters) w(jpeg);
    };
    const t = new MjpegTranscoder(frames[first], onJpeg, (err) => {
      if (s.transcoder !== t) return;
      s.transcoder = undefined;
      // No ffmpeg: the viewers are told, and the stream ends.
      if (err) for (const v of s.viewers) v.end();
    });
    s.transcoder = t;
    for (const f of frames.slice(first + 1)) t.push(f);
  }

  #stopTranscoder(s: Source): void {
    s.transcoder?.stop();
    s.transcoder = undefined;
    s.last = undefined;
  }

  /** A viewer or snapshot request left: with nobody watching, the copies and the transcoder stop. */
  #leave(s: Source, remove: () => void): void {
    remove();
    if (s.viewers.size > 0 || s.waiters.size > 0) return;
    s.last = undefined;
    this.#stopTranscoder(s);
  }

  /** POST /api/command {to, name, params}: the server sends the command; answers once the client acknowledged it. */
  async #command(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: object): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    };
    try {
      const body = await readBody(req, 16 * 1024);
      let o: { to?: unknown; name?: unknown; params?: unknown };
      try {
        o = JSON.parse(body.toString('utf8'));
      } catch {
        return reply(400, { error: 'body must be JSON: {"to": "...", "name": "...", "params": {...}}' });
      }
      if (typeof o.to !== 'string' || !o.to || typeof o.name !== 'string' || !o.name) return reply(400, { error: 'to and name are required strings' });
      if (/^RVS?_/.test(o.name)) return reply(400, { error: 'command names starting RV_ or RVS_ are reserved' });
      const params: Record<string, string | number | boolean> = {};
      if (o.params && typeof o.params === 'object') {
        for (const [k, v] of Object.entries(o.params)) if (['string', 'number', 'boolean'].includes(typeof v)) params[k] = v as string | number | boolean;
      }
      await this.#server.sendCommand(o.to, { name: o.name, params });
      reply(200, { ok: true });
    } catch (err) {
      reply(err instanceof DeliveryError ? 409 : 400, { error: (err as Error).message });
    }
  }

  /** Ends every stream and stops watching the server. */
  close(): void {
    this.#off();
    this.#compose.close();
    for (const s of this.#sources.values()) {
      for (const v of s.viewers) v.end();
      for (const r of s.streams) r.end();
      this.#stopTranscoder(s);
    }
  }
}
