/**
 * Dialling: open a link to a peer over TCP, HTTP or UDP and complete the handshake
 * (HELLO → WELCOME, docs/protocol.md section 3). The caller gets a link that is ready for data.
 */
import { CamwireError, CloseCode, ErrorCode, ProtocolError, RemoteCloseError, TransportError } from '../errors.js';
import { Kind } from '../protocol/constants.js';
import type { Frame, FrameInit } from '../protocol/frame.js';
import { decodeReason } from '../protocol/messages.js';
import type { ProxyTunnel } from '../transport/http-tunnel.js';
import { connectStream, type TlsOptions } from '../transport/tcp.js';
import { resolveDatagramHost } from '../transport/udp.js';
import type { FrameLink, LinkOptions, TransportName } from './frame-link.js';
import { StreamLink } from './stream-link.js';
import { UdpLink, type UdpEndpoint } from './udp-link.js';
import type { UpgradeMemory } from './upgrade-memory.js';

/** Options of dial(). */
export interface DialOptions {
  transport: TransportName;
  host: string;
  port: number;
  tls?: TlsOptions;
  /** HTTP only: proxy URL. */
  proxy?: string;
  /** HTTP only, with `proxy`: tunnel through it (CONNECT) or not. @default 'auto' */
  proxyTunnel?: ProxyTunnel;
  /**
   * HTTP only: 'auto' first asks to upgrade a direct or tunnelled connection to camwire's byte
   * stream (docs/protocol.md 6.6) and falls back to requests; 'never' uses requests. @default 'auto'
   */
  httpUpgrade?: 'auto' | 'never';
  /** HTTP only: the role's memory of targets whose upgrade failed (skipped while remembered). */
  upgrades?: UpgradeMemory;
  /** The whole connect + handshake must finish within this time. */
  timeoutMs: number;
  signal?: AbortSignal;
  link: LinkOptions & { pollMs?: number };
  /** The HELLO frame to send. */
  hello: FrameInit;
  /** UDP only: the endpoint to use and a hook to route its incoming frames to the new link. */
  udp?: { endpoint: UdpEndpoint; attach(link: UdpLink): () => void };
}

/** A dialled, handshaken link and the peer's WELCOME. The link is held: call `link.release()` once listening. */
export interface Dialled {
  link: FrameLink;
  welcome: Frame;
}

function refusal(f: Frame): CamwireError {
  if (f.kind === Kind.CLOSE) {
    try {
      const { code, reason } = decodeReason(f.payload);
      return new RemoteCloseError(code, reason);
    } catch (err) {
      return err as ProtocolError;
    }
  }
  return new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `expected WELCOME, got message kind ${f.kind}`, CloseCode.UNEXPECTED_MESSAGE);
}

/**
 * The tag a dialled link's own PING, PONG and CLOSE carry (docs/protocol.md, section 2): the
 * session key and media type its HELLO named. A Receiver's full-frame request needs the media type.
 */
function ownTag(hello: FrameInit): FrameLink['tag'] {
  return { sessionKey: hello.sessionKey, mediaType: hello.mediaType };
}

/** Opens a link and completes the handshake. Rejects with a typed error; never leaves a socket open. */
export async function dial(o: DialOptions): Promise<Dialled> {
  const started = Date.now();
  const left = (): number => Math.max(1, o.timeoutMs - (Date.now() - started));
  if (o.transport === 'http') {
    let proxyTunnel = o.proxyTunnel;
    if (o.httpUpgrade !== 'never') {
      const up = await import('./http-upgrade.js');
      const target = { host: o.host, port: o.port, tls: o.tls, proxy: o.proxy, proxyTunnel: o.proxyTunnel };
      const key = up.upgradeKey(target);
      if (up.upgradeRoute(target) && !o.upgrades?.failed(key)) {
        const probeMs = Math.max(1, Math.min(up.UPGRADE_PROBE_MS, Math.floor(o.timeoutMs / 2)));
        const r = await up.openUpgraded({ ...target, timeoutMs: left(), probeMs, signal: o.signal });
        if (r.socket) {
          o.upgrades?.forget(key);
          const link = new StreamLink(r.socket, { ...o.link, transport: 'http' });
          // openUpgraded paused the socket: the link reads from here on, the bytes behind the 101 first.
          r.socket.resume();
          return handshake(link, o, left);
        }
        // The fallback: requests for the rest of this link's life (docs/protocol.md 6.6).
        if (r.remember) o.upgrades?.remember(key);
        if (r.proxyTunnel) proxyTunnel = r.proxyTunnel;
      }
    }
    // HTTP (and its Node modules) is loaded only by a role that dials over HTTP.
    const { HttpClientLink } = await import('./http-link.js');
    const { link, first } = await HttpClientLink.open(
      { host: o.host, port: o.port, tls: o.tls, proxy: o.proxy, proxyTunnel },
      o.hello,
      { ...o.link, timeoutMs: left(), signal: o.signal },
    );
    if (!first || first.kind !== Kind.WELCOME) {
      link?.close(CloseCode.UNEXPECTED_MESSAGE, 'no WELCOME');
      throw first ? refusal(first) : new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, 'empty answer to HELLO', CloseCode.UNEXPECTED_MESSAGE);
    }
    link!.hold();
    link!.start();
    link!.tag = ownTag(o.hello);
    return { link: link!, welcome: first };
  }
  let link: StreamLink | UdpLink;
  let detach: (() => void) | undefined;
  if (o.transport === 'tcp') {
    const sock = await connectStream({ host: o.host, port: o.port, tls: o.tls, timeoutMs: o.timeoutMs, signal: o.signal });
    link = new StreamLink(sock, o.link);
  } else {
    if (!o.udp) throw new TypeError('dial over UDP needs an endpoint');
    // Looked up once here: a name given to the socket would be looked up for every datagram.
    const address = await resolveDatagramHost(o.host, o.udp.endpoint.family, left());
    if (o.signal?.aborted) throw new TransportError(ErrorCode.TRANSPORT_CLOSED, 'connect aborted');
    link = new UdpLink(o.udp.endpoint, address, o.port, o.link, () => detach?.());
    detach = o.udp.attach(link);
  }
  return handshake(link, o, left);
}

/** Sends the HELLO on a new stream or UDP link and waits for the WELCOME (repeating the HELLO on UDP). */
function handshake(link: StreamLink | UdpLink, o: DialOptions, left: () => number): Promise<Dialled> {
  return new Promise<Dialled>((resolve, reject) => {
    let resend: NodeJS.Timeout | undefined;
    const done = (err: CamwireError | undefined, welcome?: Frame): void => {
      clearTimeout(timer);
      clearInterval(resend);
      link.off('frame', onFrame);
      link.off('close', onClose);
      o.signal?.removeEventListener('abort', onAbort);
      if (err) {
        if (!link.closed) link.close(err instanceof ProtocolError ? err.closeCode : CloseCode.GOING_AWAY, err.message);
        reject(err);
      } else {
        // Frames right behind the WELCOME must wait until the caller has attached its listeners.
        link.hold();
        link.tag = ownTag(o.hello);
        resolve({ link, welcome: welcome! });
      }
    };
    const onFrame = (f: Frame): void => (f.kind === Kind.WELCOME ? done(undefined, f) : done(refusal(f)));
    const onClose = (info: { code: number; reason: string; error?: CamwireError }): void =>
      done(info.error ?? new RemoteCloseError(info.code, info.reason));
    const onAbort = (): void => done(new TransportError(ErrorCode.TRANSPORT_CLOSED, 'connect aborted'));
    const timer = setTimeout(
      () => done(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `no answer to HELLO from ${o.host}:${o.port} within ${o.timeoutMs} ms`)),
      left(),
    );
    link.on('frame', onFrame);
    link.on('close', onClose);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    link.send(o.hello);
    // A HELLO datagram may be lost: repeat it until the WELCOME comes.
    if (!link.reliable) resend = setInterval(() => link.send(o.hello), 250);
  });
}
