/**
 * WebViewer: the browser viewer a MediaServer serves on its HTTP port. Lists online clients and
 * their video sources, and streams each source as MJPEG (/mjpeg/<client>/<index>), so a browser,
 * VLC, ffplay or ffmpeg can watch with nothing to install.
 */
import type http from 'node:http';
import type { MediaServer, VideoTap } from '../server/media-server.js';
import { DeliveryError } from '../errors.js';
import { readBody } from '../transport/http-server.js';
import { MjpegResponse, startMjpeg } from './mjpeg.js';
import { CLIENT_JS } from './client-script.js';
import { VIEWER_HTML } from './viewer-page.js';
import { ViewerCompose } from './viewer-compose.js';

interface Source {
  client: string;
  mediaIndex: number;
  imageType: string;
  width: number;
  height: number;
  /** A copy of a recent frame, for snapshots and the first image of a new viewer. */
  last?: VideoTap;
  /** When `last` was copied. */
  keptAt: number;
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
    this.#compose = new ViewerCompose(server, (v) => this.#onVideo(v, true));
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
      s = { client: v.from, mediaIndex: v.mediaIndex, imageType: v.imageType, width: v.width, height: v.height, keptAt: 0, lastAt: now, windowStart: now, windowFrames: 0, windowBytes: 0, fps: 0, bitrate: 0, latency: 0, viewers: new Set() };
      this.#sources.set(key, s);
    }
    s.lastAt = now;
    s.width = v.width;
    s.height = v.height;
    s.latency = now - v.timestamp;
    s.windowFrames++;
    s.windowBytes += v.data.length;
    if (now - s.windowStart >= 1000) {
      const secs = (now - s.windowStart) / 1000;
      s.fps = s.windowFrames / secs;
      s.bitrate = (s.windowBytes * 8) / secs;
      s.windowStart = now;
      s.windowFrames = 0;
      s.windowBytes = 0;
    }
    if (!taken) this.#picture(v, false, s);
  }

  /** The source's picture: kept for snapshots and new viewers, and pushed to those watching. */
  #picture(v: VideoTap, composed: boolean, s = this.#sources.get(`${v.from}/${v.mediaIndex}`)): void {
    if (!s) return;
    const now = Date.now();
    s.imageType = v.imageType;
    // The tap's buffer is a view of the received data: a frame that outlives this call is copied.
    // Every frame while someone watches; otherwise one a second, for snapshots and new viewers.
    // A composed picture is the viewer's own buffer, and there may be no next one (a still screen): always kept.
    if (composed || s.viewers.size > 0 || now - s.keptAt >= 1000) {
      s.last = composed ? v : { ...v, data: Buffer.from(v.data) };
      s.keptAt = now;
    }
    if (v.imageType === 'jpeg' && s.last) for (const r of s.viewers) r.push(s.last.data, v.timestamp);
  }

  /** Video sources seen in the last 10 s, with their rates. */
  sources(): Array<{ client: string; mediaIndex: number; imageType: string; width: number; height: number; fps: number; bitrate: number; latency: number | null; viewers: number }> {
    const now = Date.now();
    // An HTTP ingest's frames carry the server's clock: their latency is unknown (null), not 0.
    const ingestOnly = new Set(this.#server.clients().filter((c) => c.ingest > 0 && c.pushLinks === 0).map((c) => c.id));
    const out = [];
    for (const [key, s] of this.#sources) {
      if (now - s.lastAt > 10000) {
        if (s.viewers.size === 0) this.#sources.delete(key);
        continue;
      }
      out.push({ client: s.client, mediaIndex: s.mediaIndex, imageType: s.imageType, width: s.width, height: s.height, fps: Math.round(s.fps * 10) / 10, bitrate: Math.round(s.bitrate), latency: ingestOnly.has(s.client) ? null : Math.round(s.latency), viewers: s.viewers.size });
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
    const m = /^\/(mjpeg|snapshot)\/([^/]+)\/(\d+)(?:\.jpg)?$/.exec(path);
    if (!m) return false;
    const key = `${decodeURIComponent(m[2])}/${Number(m[3])}`;
    const s = this.#sources.get(key);
    if (m[1] === 'snapshot') {
      if (!s?.last || s.last.imageType !== 'jpeg') res.writeHead(404, { 'content-type': 'text/plain' }).end('no JPEG frame from that source yet\n');
      else res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'no-store' }).end(s.last.data);
      return true;
    }
    if (!s) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no video from ${key}\n`);
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
    res.on('close', () => s.viewers.delete(viewer));
    if (s.last?.imageType === 'jpeg') viewer.push(s.last.data, s.last.timestamp);
    return true;
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
    for (const s of this.#sources.values()) for (const v of s.viewers) v.end();
  }
}
