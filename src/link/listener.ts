/**
 * LinkListener: accepts links on one transport (TCP or TLS, HTTP or HTTPS, UDP) and hands each
 * new link to its owner. For UDP, where nothing connects, a link is the traffic of one peer
 * address, session key and media type.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { CamwireError } from '../errors.js';
import { Kind } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { listenHttp, type HttpLimits } from '../transport/http.js';
import { boundPort, listenStream, type TlsOptions } from '../transport/tcp.js';
import type { PeerInfo } from '../events.js';
import { onProtocolFailure, StreamLink, type FrameLink, type LinkOptions, type TransportName } from './frame-link.js';
import { HttpLinkServer, type HttpLinkServerOptions } from './http-link.js';
import { UdpEndpoint, UdpLink, type UdpEndpointOptions } from './udp-link.js';
import { WsAcceptor } from './ws-link.js';
import type { Duplex } from 'node:stream';

/** Options of a LinkListener. */
export interface LinkListenerOptions {
  transport: TransportName;
  /** Address to bind. @default '::' (all addresses, IPv4 and IPv6) */
  host?: string;
  port: number;
  tls?: TlsOptions;
  link: LinkOptions;
  http?: HttpListenerOptions;
  udp?: UdpEndpointOptions;
  /**
   * HTTP only: requests that are not camwire requests (other paths) go here;
   * without it they get 404.
   */
  httpFallback?: http.RequestListener;
}

/** HTTP only: the camwire link server's options, and the HTTP server's time limits. */
export interface HttpListenerOptions extends HttpLinkServerOptions {
  /** Time limits of every request on the port (docs/limits.md). @default DEFAULT_HTTP_LIMITS */
  limits?: Partial<HttpLimits>;
  /**
   * Requests whose bodies stream for hours (the MediaServer's ingest): exempt from
   * `requestTimeoutMs`, still ended by `bodyIdleTimeoutMs`. @default none
   */
  streaming?: (req: http.IncomingMessage) => boolean;
}

/** Callbacks of a LinkListener. */
export interface LinkListenerHandler {
  /** A new link. For UDP, the frame that created it is delivered right after this returns. */
  onLink(link: FrameLink): void;
  /**
   * Bad input: a datagram or request that was dropped, or a link that was closed because its
   * peer broke the protocol (reported once, whichever layer noticed). On HTTP also a connection
   * closed at a time limit (`CW_ERR_TRANSPORT_TIMEOUT`: headers, body idle, whole request).
   */
  onBadInput(err: CamwireError, peer: PeerInfo): void;
}

/** LinkListener listens on one port. */
export class LinkListener {
  readonly transport: TransportName;
  #server: net.Server | http.Server | undefined;
  #udp: UdpEndpoint | undefined;
  #http: HttpLinkServer | undefined;
  #ws: WsAcceptor | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #udpLinks = new Map<string, UdpLink>();

  private constructor(t: TransportName) {
    this.transport = t;
  }

  /** Starts listening. Rejects with a TransportError (e.g. the port is in use). */
  static async open(o: LinkListenerOptions, handler: LinkListenerHandler): Promise<LinkListener> {
    const l = new LinkListener(o.transport);
    const h: LinkListenerHandler = {
      onBadInput: handler.onBadInput,
      onLink: (link) => {
        onProtocolFailure(link, handler.onBadInput);
        handler.onLink(link);
      },
    };
    const host = o.host ?? '::';
    if (o.transport === 'tcp') {
      l.#server = await listenStream({ host, port: o.port, tls: o.tls }, (sock) => {
        l.#sockets.add(sock);
        sock.once('close', () => l.#sockets.delete(sock));
        sock.on('error', () => {});
        h.onLink(new StreamLink(sock, o.link));
      });
    } else if (o.transport === 'http') {
      const { limits, streaming, ...linkServer } = o.http ?? {};
      const hs = new HttpLinkServer({ ...o.link, ...linkServer }, {
        onLink: (link) => h.onLink(link),
        onBadRequest: (err, remoteAddress, remotePort) => h.onBadInput(err, { transport: 'http', remoteAddress, remotePort }),
      });
      l.#http = hs;
      const listenOpts = {
        host,
        port: o.port,
        tls: o.tls,
        limits,
        streaming,
        onTimeout: (err: CamwireError, sock: net.Socket) =>
          h.onBadInput(err, { transport: 'http', remoteAddress: sock.remoteAddress ?? '', remotePort: sock.remotePort ?? 0 }),
      };
      l.#server = await listenHttp(listenOpts, (req, res) => {
        if (hs.handle(req, res)) return;
        if (o.httpFallback) o.httpFallback(req, res);
        else res.writeHead(404, { 'content-type': 'text/plain' }).end('not a camwire path\n');
      });
      l.#server.on('connection', (sock: net.Socket) => {
        l.#sockets.add(sock);
        sock.once('close', () => l.#sockets.delete(sock));
      });
      // Browsers: the same port takes WebSocket links (one frame per message).
      const ws = new WsAcceptor(o.link, (link) => h.onLink(link));
      l.#ws = ws;
      l.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        if (!ws.upgrade(req, socket, head)) socket.destroy();
      });
    } else {
      const ep = await UdpEndpoint.open({ ...o.udp, host, port: o.port, type: host.includes(':') ? 'udp6' : 'udp4' });
      l.#udp = ep;
      ep.on('badInput', (err, remoteAddress, remotePort) => h.onBadInput(err, { transport: 'udp', remoteAddress, remotePort }));
      ep.on('frame', (f: Frame, address: string, port: number) => {
        const key = `${address}|${port}|${f.sessionKey}|${f.mediaType}`;
        let link = l.#udpLinks.get(key);
        if (!link) {
          // Only a HELLO or DATA starts a conversation; stray control frames are ignored.
          // nor does the header of a repeated frame (Frame.repeat): its link is gone.
          if ((f.kind !== Kind.HELLO && f.kind !== Kind.DATA) || f.repeat) return;
          link = new UdpLink(ep, address, port, o.link, () => l.#udpLinks.delete(key));
          link.tag = { mediaType: f.mediaType };
          l.#udpLinks.set(key, link);
          h.onLink(link);
        }
        link.deliver(f);
      });
    }
    return l;
  }

  /** The bound port. */
  get port(): number {
    if (this.#udp) return this.#udp.port;
    return this.#server ? boundPort(this.#server as net.Server) : 0;
  }

  /** UDP counters (datagrams, incomplete and corrupt frames), when listening on UDP. */
  get udpStats(): UdpEndpoint['stats'] | undefined {
    return this.#udp?.stats;
  }

  /** Stops listening and closes every link. */
  async close(code: number, reason: string): Promise<void> {
    this.#http?.closeAll(code, reason);
    this.#ws?.close();
    for (const link of [...this.#udpLinks.values()]) link.close(code, reason);
    this.#udp?.close();
    if (this.#server) {
      const s = this.#server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        (s as http.Server).closeIdleConnections?.();
        // Links have sent their CLOSE frames; give them a moment to flush, then cut what is left.
        setTimeout(() => {
          for (const sock of this.#sockets) sock.destroy();
        }, 300).unref();
      });
    }
  }
}
