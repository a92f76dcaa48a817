/**
 * The MediaServer's own routes on its HTTP port, beside the camwire links: POST /ingest/<id>
 * (a JPEG stream published as a client's video), GET /stats (JSON) and GET /metrics
 * (Prometheus). With users configured, every route needs a login (HTTP Basic).
 */
import type http from 'node:http';
import { Flag, Kind, MediaType } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { JpegSplitter, jpegDimensions } from '../protocol/jpeg-splitter.js';
import { encodeVideoHeader } from '../protocol/messages.js';
import type { Logger } from '../options.js';
import type { Authenticator } from './auth.js';
import type { Directory } from './directory.js';
import type { GroupRegistry } from './groups.js';
import type { ServerMetrics } from './metrics.js';
import type { Relay } from './relay.js';

export interface HttpRoutesOptions {
  auth: Authenticator | undefined;
  directory: Directory;
  groups: GroupRegistry;
  relay: Relay;
  metrics: ServerMetrics;
  /** The JSON of GET /stats. */
  stats: () => unknown;
  maxPayload: number;
  /** The application's routes, tried first. */
  extra: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | undefined;
  /** The control API (/api/v1/...), behind the same login. */
  control: { handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean };
  logger: Logger;
}

/** A request's HTTP Basic credentials, if any. */
function basic(req: http.IncomingMessage): { user: string; password: string } | undefined {
  const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const [user, ...pw] = Buffer.from(m[1], 'base64').toString('utf8').split(':');
  return { user, password: pw.join(':') };
}

export class HttpRoutes {
  readonly #o: HttpRoutesOptions;
  /** Logins already checked, by Authorization header, for a minute: scrypt is slow on purpose. */
  readonly #logins = new Map<string, { user: string; until: number }>();
  /** HTTP ingest uploads in progress, per client id. */
  readonly #ingesting = new Map<string, number>();

  constructor(o: HttpRoutesOptions) {
    this.#o = o;
  }

  /** How many HTTP ingest uploads publish as `id` now. */
  ingestCount(id: string): number {
    return this.#ingesting.get(id) ?? 0;
  }

  /** Every HTTP request on the port that is not a camwire link. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const [path, query = ''] = (req.url ?? '').split('?', 2);
    if ((req.method === 'POST' || req.method === 'PUT') && path.startsWith('/ingest/')) {
      void this.#ingest(req, res, decodeURIComponent(path.slice('/ingest/'.length)), new URLSearchParams(query));
      return;
    }
    if (!this.#o.auth) {
      this.#routes(req, res, path);
      return;
    }
    void this.#user(req).then((user) => {
      if (user) this.#routes(req, res, path);
      else res.writeHead(401, { 'www-authenticate': 'Basic realm="camwire", charset="UTF-8"', 'content-type': 'text/plain' }).end('login required\n');
    });
  }

  async #user(req: http.IncomingMessage): Promise<string | undefined> {
    const header = req.headers.authorization ?? '';
    const cached = this.#logins.get(header);
    if (cached && cached.until > Date.now()) return cached.user;
    const cred = basic(req);
    if (!cred || !this.#o.auth) return undefined;
    const r = await this.#o.auth.check({ ...cred, clientId: '', transport: 'http', remoteAddress: req.socket.remoteAddress ?? '' });
    if ('refused' in r) return undefined;
    if (this.#logins.size >= 256) this.#logins.delete(this.#logins.keys().next().value as string);
    this.#logins.set(header, { user: r.user, until: Date.now() + 60_000 });
    return r.user;
  }

  #routes(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    if (this.#o.extra?.(req, res)) return;
    if (this.#o.control.handle(req, res, path)) return;
    if (req.method === 'GET' && path === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(this.#o.stats(), null, 2));
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      const reg = this.#o.metrics.registry;
      reg.metrics().then(
        (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  /**
   * POST /ingest/<clientId>[?to=&group=&password=&mediaIndex=]: a stream of JPEG images (ffmpeg's
   * `-f mpjpeg` or `-f mjpeg` output, or any multipart JPEG stream) published as that client's video.
   */
  async #ingest(req: http.IncomingMessage, res: http.ServerResponse, id: string, query: URLSearchParams): Promise<void> {
    const { auth, directory, groups, logger } = this.#o;
    const fail = (status: number, msg: string, headers: http.OutgoingHttpHeaders = {}): void => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain', connection: 'close', ...headers }).end(`${msg}\n`);
      req.resume();
    };
    if (!id || Buffer.byteLength(id) > 64) return fail(400, 'ingest needs a client id: POST /ingest/<clientId>');
    let user: string | undefined;
    if (auth) {
      const cred = basic(req);
      const r = cred ? await auth.check({ ...cred, clientId: id, transport: 'http', remoteAddress: req.socket.remoteAddress ?? '' }) : { refused: 'credentials required' };
      if ('refused' in r) return fail(401, r.refused, { 'www-authenticate': 'Basic realm="camwire"' });
      user = r.user;
    }
    const known = directory.get(id);
    if (user !== undefined && known?.user !== undefined && known.user !== user && known.connected) return fail(403, `client id ${id} is in use by another user`);
    const client = directory.admit(id);
    if (!client) return fail(503, 'the server is full');
    if (user !== undefined) directory.bindUser(client, user);
    const mediaIndex = Math.min(Math.max(Number(query.get('mediaIndex') ?? 0) || 0, 0), 0xffff);
    const to = query.get('to') ?? '';
    const group = query.get('group') ?? '';
    // Publishing to a group makes the publisher a member while it publishes (members speak in groups).
    let joined = false;
    if (group) {
      try {
        joined = (await groups.join(id, group, { password: query.get('password') ?? '' })).added;
      } catch (err) {
        return fail(403, (err as Error).message);
      }
    }
    let frames = 0;
    const splitter = new JpegSplitter(
      (jpeg) => {
        const dim = jpegDimensions(jpeg);
        const payload = Buffer.concat([encodeVideoHeader({ imageType: 'jpeg', width: dim?.width ?? 0, height: dim?.height ?? 0 }), jpeg]);
        const f: Frame = { kind: Kind.DATA, mediaType: MediaType.video, flags: Flag.KEYFRAME, mediaIndex, seq: frames++, sessionKey: 0n, timestamp: Date.now(), from: id, to, group, payload };
        client.counters.in.video.frames++;
        client.counters.in.video.bytes += payload.length;
        this.#o.metrics.count('in', 'video', payload.length);
        this.#o.relay.fanOut(client, f, 'video');
      },
      { maxBytes: this.#o.maxPayload },
    );
    logger.info({ client: id, from: req.socket.remoteAddress }, 'ingest started');
    this.#ingesting.set(id, this.ingestCount(id) + 1);
    req.on('data', (c: Buffer) => splitter.push(c));
    req.on('close', () => {
      const n = this.ingestCount(id) - 1;
      if (n > 0) this.#ingesting.set(id, n);
      else this.#ingesting.delete(id);
      if (joined) groups.leave(id, group);
    });
    req.on('end', () => {
      logger.info({ client: id, frames }, 'ingest ended');
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${frames} frames\n`);
    });
    req.on('error', () => res.destroy());
  }
}
