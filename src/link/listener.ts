/**
 * LinkListener: accepts links on one transport (TCP or TLS, HTTP or HTTPS, UDP) and hands each
 * new link to its owner. For UDP, where nothing connects, a link is the traffic of one peer
 * address, session key and media type.
 */
import type http from 'node:http';
import type net from 'node:net';
import { CloseCode, ErrorCode, ProtocolError, type CamwireError } from '../errors.js';
import { DEFAULT_PORTS, FRAME_MAGIC, Kind } from '../protocol/constants.js';
import { encodeFrameBuffer, type Frame } from '../protocol/frame.js';
import { encodeReason } from '../protocol/messages.js';
import type { HttpLimits } from '../transport/http-server.js';
import { boundPort, listenStream, type TlsOptions } from '../transport/tcp.js';
import type { PeerInfo } from '../events.js';
import { onProtocolFailure, type FrameLink, type LinkOptions, type TransportName } from './frame-link.js';
import { StreamLink, type StreamLinkOptions } from './stream-link.js';
import type { HttpLinkServer, HttpLinkServerOptions } from './http-link.js';
import { UdpEndpoint, UdpLink, type UdpEndpointOptions } from './udp-link.js';
import type { WsAcceptor } from './ws-link.js';
import type { Duplex } from 'node:stream';
import { ConnectionGate, connectionTicket, type ConnectionLimits, type ConnectionTicket, type RefusedReason } from '../transport/connection-limits.js';

/** The 'error' listener of an accepted socket whose errors its link reports (one function for all). */
const ignore = (): void => {};

export { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits, type RefusedReason } from '../transport/connection-limits.js';

/** The bare answer to an HTTP connection refused at a connection limit. */
const REFUSED_503 = 'HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n';

/** A camwire client that dialled this HTTP port over TCP gets a CLOSE frame it can read (CW_ERR_WRONG_PROTOCOL). */
function wrongPortAnswer(raw: Buffer): Buffer | undefined {
  if (raw.length < 2 || raw.readUInt16BE(0) !== FRAME_MAGIC) return undefined;
  const reason = `this is a camwire HTTP port; use --protocol http, or port ${DEFAULT_PORTS.tcp} for tcp`;
  return encodeFrameBuffer({ kind: Kind.CLOSE, payload: encodeReason(CloseCode.PROTOCOL_ERROR, reason) });
}

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
  /**
   * Connections in total, per remote address and in their handshake (docs/limits.md,
   * Connections); on UDP, peers in total and per address. Missing ones take their defaults.
   */
  limits?: Partial<ConnectionLimits>;
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
  /**
   * A connection refused at a connection limit (TCP: destroyed at once; HTTP: a bare `503` with
   * `connection: close`, then destroyed). Called for every refusal: do not log each one.
   */
  onRefused?(reason: RefusedReason, peer: PeerInfo): void;
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
  #gate: ConnectionGate | undefined;

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
    /** Accepted links ping only after a longer silence than the dialing peer (protocol.md 3.4). */
    const linkOpts = { ...o.link, accepted: true };
    /** Shared by every socket (no closure per connection): a socket's 'close' comes once. */
    const forget = function (this: net.Socket): void {
      l.#sockets.delete(this);
    };
    /** A TCP link forgets its socket from its own 'close' listener (one listener less per socket). */
    const streamLinkOpts: StreamLinkOptions = { ...linkOpts, onSocketClose: (sock) => void l.#sockets.delete(sock) };
    const refused = new WeakSet<Duplex>();
    /** How a refused (or evicted) raw socket is closed: set per transport below. */
    let closeRefused: (sock: net.Socket) => void = (sock) => void sock.destroy();
    const refuse = (sock: net.Socket, reason: RefusedReason): void => {
      refused.add(sock);
      sock.on('error', () => {});
      handler.onRefused?.(reason, { transport: o.transport, remoteAddress: sock.remoteAddress ?? '', remotePort: sock.remotePort ?? 0 });
      closeRefused(sock);
    };
    const gate = new ConnectionGate(o.limits, (sock) => refuse(sock, 'pending'));
    l.#gate = gate;
    /** Runs before the server's own connection handling: admits the raw socket or refuses it. */
    const guard = (server: net.Server, close: (sock: net.Socket) => void): void => {
      closeRefused = close;
      server.prependListener('connection', (sock: net.Socket) => {
        const t = gate.admit(sock);
        // An admitted socket carries its ticket (connectionTicket).
        if (typeof t !== 'object') refuse(sock, t);
      });
    };
    /** The ticket of a socket, or of the raw socket under a TLS one. */
    const ticketOf = (sock: Duplex): ConnectionTicket | undefined =>
      connectionTicket(sock) ?? connectionTicket((sock as Duplex & { _parent?: Duplex })._parent);
    /**
     * A StreamLink on an accepted socket, handed to the owner: a TCP connection, or an HTTP one
     * upgraded to camwire's framing (`answer`, the 101, written first; `head`, bytes that came
     * behind the request, read first). Its connection's handshake ends at the HELLO.
     */
    const acceptStream = (sock: net.Socket, head: Buffer | undefined, opts: StreamLinkOptions, answer?: string): void => {
      sock.on('error', ignore);
      if (answer !== undefined) {
        // An upgraded socket leaves the HTTP server's care: no keep-alive timeout, no Nagle.
        sock.setTimeout(0);
        sock.setNoDelay(true);
        sock.write(answer);
        if (head?.length) sock.unshift(head);
      } else l.#sockets.add(sock);
      // The link's own 'close' listener on the socket drops it from #sockets (streamLinkOpts).
      const link = new StreamLink(sock, opts);
      const ticket = ticketOf(sock);
      if (ticket) {
        const onFrame = (f: Frame): void => {
          if (f.kind !== Kind.HELLO) return;
          link.off('frame', onFrame);
          ticket.established();
        };
        link.on('frame', onFrame);
      }
      h.onLink(link);
      if (answer !== undefined) sock.resume();
    };
    if (o.transport === 'tcp') {
      l.#server = await listenStream({ host, port: o.port, tls: o.tls }, (sock) => {
        if (refused.has(sock) || refused.has((sock as Duplex & { _parent?: Duplex })._parent as Duplex)) return void sock.destroy();
        acceptStream(sock, undefined, streamLinkOpts);
      });
      // A TLS server wraps the raw socket after this guard: destroy it on the next turn.
      guard(l.#server, (sock) => (o.tls ? setImmediate(() => sock.destroy()) : sock.destroy()));
    } else if (o.transport === 'http') {
      const { limits, streaming, ...linkServer } = o.http ?? {};
      // HTTP, HTTPS and `ws` are loaded only for an HTTP port: a server without one does not carry their memory.
      const [{ listenHttp, DEFAULT_HTTP_LIMITS }, { HttpLinkServer, isStreamUpload }, { WsAcceptor }, { isCamwireUpgrade, UPGRADE_ANSWER }] = await Promise.all([
        import('../transport/http-server.js'),
        import('./http-link.js'),
        import('./ws-link.js'),
        import('./http-upgrade.js'),
      ]);
      // A streaming upload is ended by its client well before the body idle limit would cut it.
      const streamIdleMs = Math.max(50, Math.min(2000, Math.floor((limits?.bodyIdleTimeoutMs ?? DEFAULT_HTTP_LIMITS.bodyIdleTimeoutMs) / 4)));
      const hs = new HttpLinkServer({ ...o.link, ...linkServer, streamIdleMs }, {
        onLink: (link) => h.onLink(link),
        onBadRequest: (err, remoteAddress, remotePort) => h.onBadInput(err, { transport: 'http', remoteAddress, remotePort }),
      });
      l.#http = hs;
      const listenOpts = {
        host,
        port: o.port,
        tls: o.tls,
        limits,
        // Streaming uploads (docs/protocol.md 6.5) last as long as a link sends: no whole-request limit, only the idle one.
        streaming: (req: http.IncomingMessage) => isStreamUpload(req.url ?? '') || (streaming?.(req) ?? false),
        onTimeout: (err: CamwireError, sock: net.Socket) =>
          h.onBadInput(err, { transport: 'http', remoteAddress: sock.remoteAddress ?? '', remotePort: sock.remotePort ?? 0 }),
        notHttp: (raw: Buffer, sock: net.Socket) => {
          const answer = wrongPortAnswer(raw);
          const peer = { transport: 'http' as const, remoteAddress: sock.remoteAddress ?? '', remotePort: sock.remotePort ?? 0 };
          if (answer) h.onBadInput(new ProtocolError(ErrorCode.WRONG_PROTOCOL, 'camwire TCP framing came to the HTTP port (a client dialled it with --protocol tcp)'), peer);
          return answer;
        },
      };
      l.#server = await listenHttp(listenOpts, (req, res) => {
        if (refused.has(req.socket)) return void req.socket.destroy();
        ticketOf(req.socket)?.established();
        if (hs.handle(req, res)) return;
        if (o.httpFallback) o.httpFallback(req, res);
        else res.writeHead(404, { 'content-type': 'text/plain' }).end('not a camwire path\n');
      });
      l.#server.on('connection', (sock: net.Socket) => {
        l.#sockets.add(sock);
        sock.on('close', forget);
      });
      // Browsers: the same port takes WebSocket links (one frame per message).
      const ws = new WsAcceptor(linkOpts, (link) => h.onLink(link));
      l.#ws = ws;
      // camwire's own upgrade (docs/protocol.md 6.6): a StreamLink on the socket, accepted as a TCP link is.
      const upgradedLinkOpts: StreamLinkOptions = { ...linkOpts, transport: 'http' };
      l.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        if (refused.has(socket)) return void socket.destroy();
        if (isCamwireUpgrade(req)) return void acceptStream(socket as net.Socket, head, upgradedLinkOpts, UPGRADE_ANSWER);
        ticketOf(socket)?.established();
        if (!ws.upgrade(req, socket, head)) socket.destroy();
      });
      // Plain HTTP: a bare 503 that closes, then the socket goes (after the write, 1 s at most;
      // an evicted connection may have an answer in flight: it just goes). HTTPS: nothing can be
      // said before the TLS handshake, so the socket just goes.
      guard(l.#server, (sock) => {
        if (o.tls) return void setImmediate(() => sock.destroy());
        if (sock.writableLength > 0 || !sock.writable) return void sock.destroy();
        const destroy = (): void => void sock.destroy();
        setTimeout(destroy, 1000).unref();
        sock.end(REFUSED_503, destroy);
      });
    } else {
      const ep = await UdpEndpoint.open({ ...o.udp, host, port: o.port, type: host.includes(':') ? 'udp6' : 'udp4' });
      l.#udp = ep;
      ep.on('badInput', (err, remoteAddress, remotePort) => h.onBadInput(err, { transport: 'udp', remoteAddress, remotePort }));
      // The link of the last frame: a stream of datagrams from one peer finds it without a key string.
      let last: { address: string; port: number; key: bigint; type: number; link: UdpLink } | undefined;
      ep.on('frame', (f: Frame, address: string, port: number) => {
        if (last !== undefined && last.address === address && last.port === port && last.key === f.sessionKey && last.type === f.mediaType && !last.link.closed) {
          last.link.deliver(f);
          return;
        }
        const key = `${address}|${port}|${f.sessionKey}|${f.mediaType}`;
        let link = l.#udpLinks.get(key);
        if (!link) {
          // Only a HELLO or DATA starts a conversation; stray control frames are ignored.
          // nor does the header of a repeated frame (Frame.repeat): its link is gone.
          if ((f.kind !== Kind.HELLO && f.kind !== Kind.DATA) || f.repeat) return;
          // A peer beyond the limits is not answered: its datagrams are dropped and counted.
          const ticket = gate.admitPeer(address);
          if (typeof ticket !== 'object') return void handler.onRefused?.(ticket, { transport: 'udp', remoteAddress: address, remotePort: port });
          link = new UdpLink(ep, address, port, linkOpts, () => (l.#udpLinks.delete(key), ticket.release()));
          link.tag = { mediaType: f.mediaType };
          l.#udpLinks.set(key, link);
          h.onLink(link);
        }
        last = { address, port, key: f.sessionKey, type: f.mediaType, link };
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

  /** Connections in their handshake now (TCP, HTTP). */
  get pendingConnections(): number {
    return this.#gate?.pending ?? 0;
  }

  /** UDP counters (datagrams, incomplete and corrupt frames), when listening on UDP. */
  get udpStats(): UdpEndpoint['stats'] | undefined {
    return this.#udp?.stats;
  }

  /** Stops listening and closes every link. */
  /**
   * Stops taking new connections on TCP and HTTP (a draining server: a load balancer then sends
   * new clients elsewhere); open links go on. UDP keeps its socket (its peers' links share it).
   */
  stopAccepting(): void {
    this.#server?.close();
  }

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
