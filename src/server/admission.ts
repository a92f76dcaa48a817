/**
 * Admission: what a MediaServer does with each accepted link (docs/behaviour.md, section 5). It
 * waits for the HELLO, checks the client id and credentials, then opens a receiver channel (pull)
 * or a push link (the Relay routes its frames). It owns the set of open links and says when a
 * client comes online, goes offline or is taken over by a later connection of the same id.
 */
import type { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { CamwireError, CloseCode, ErrorCode, ProtocolError, TransportError } from '../errors.js';
import { Kind, mediaTypeName, type MediaTypeName } from '../protocol/constants.js';
import type { Frame, FrameInit } from '../protocol/frame.js';
import type { Hello } from '../protocol/messages.js';
import { acceptedEvent, awaitHello, welcomeLink, type HelloDeadlines } from '../link/accept.js';
import type { FrameLink } from '../link/frame-link.js';
import type { LivenessGroups } from '../link/liveness.js';
import { isFullFrameRequest } from '../protocol/full-frame.js';
import { withRedirect } from '../protocol/redirect.js';
import type { NodeAddress } from './cluster/cluster.js';
import { ServedChannel } from '../media/served-channel.js';
import { AudioOutbox, ReliableOutbox, VideoOutbox, type Outbox } from '../media/outbox.js';
import { Spool } from '../media/spool.js';
import type { Authenticator } from './auth.js';
import type { Client } from './client.js';
import type { ClientInfo, MediaServerEvents } from './client-info.js';
import type { ConnectionEvent } from '../events.js';
import type { ServerConfig } from './config.js';
import type { Directory } from './directory.js';
import type { ServerMetrics } from './metrics.js';
import type { Relay } from './relay.js';
import type { SystemRequests } from './system-requests.js';

/** Who hears that a client's receiver came online or went offline (a cluster's presence). */
export interface PresenceHooks {
  /** A receiver is about to come online here: resolves once the other nodes see it (bounded). */
  arrive(c: Client): Promise<void>;
  online(c: Client): void;
  offline(c: Client): void;
}

export interface AdmissionOptions {
  config: ServerConfig;
  auth: Authenticator | undefined;
  directory: Directory;
  relay: Relay;
  requests: SystemRequests;
  metrics: ServerMetrics;
  /** The server, whose events admission raises. */
  events: EventEmitter<MediaServerEvents>;
  info: (c: Client) => ClientInfo;
  /** The server's session key (set when it starts). */
  sessionKey: () => bigint;
  /** Whether the server takes new clients now. */
  accepting: () => boolean;
  /** Asks a client for a full frame of a video source (change detection, protocol.md 4.7). */
  fullFrame: (clientId: string, mediaIndex: number) => boolean;
  /** The shared keepalive and dead timers of receiver sessions (docs/protocol.md 3.4). */
  liveness: LivenessGroups;
  /** The server's HELLO deadlines (its LinkContext). */
  hellos: HelloDeadlines;
}

export class Admission {
  readonly #o: AdmissionOptions;
  readonly #cfg: ServerConfig;
  /** Every open link, admitted or in its handshake. */
  readonly links = new Set<FrameLink>();
  /** Hears of clients coming online and going offline (set while the server is in a cluster). */
  presence: PresenceHooks | undefined;
  /** Clients closed by a drain: they move to another node, so their temporary groups are kept. */
  readonly #drained = new WeakSet<Client>();
  /** The spool files' default folder, looked up once (os.tmpdir() reads the environment each time). */
  #tmp: string | undefined;

  /** Shared by every link (no closure per link): a link's 'close' comes once, with the link as `this`. */
  readonly #forget: (this: FrameLink) => void;
  /** Raises a link's `disconnect` (one function for all links). */
  readonly #disconnect: (ev: ConnectionEvent) => void;
  /** A HELLO arrived on `link`: admission (one function for all links). */
  readonly #onHello = (f: Frame, hello: Hello, link: FrameLink): void => {
    const waiting = this.#admit(link, f, hello);
    // Admission that waits (authentication, a cluster's presence): the link's next frames wait for its end.
    if (waiting) {
      link.hold();
      void waiting.finally(() => link.release());
    }
  };

  constructor(o: AdmissionOptions) {
    this.#o = o;
    this.#cfg = o.config;
    const links = this.links;
    this.#forget = function (this: FrameLink) {
      links.delete(this);
    };
    this.#disconnect = (ev) => o.events.emit('disconnect', ev);
  }

  /** A new link from a listener. */
  accept(link: FrameLink): void {
    this.links.add(link);
    // 'close' comes once: on() costs less per link than once()'s wrapper.
    link.on('close', this.#forget);
    awaitHello(
      this.#o.hellos,
      link,
      this.#cfg.handshakeMs,
      this.#onHello,
      // Over UDP a DATA frame may come first (its HELLO was lost); only without authentication.
      link.transport === 'udp' && !this.#o.auth,
    );
  }

  /** A draining server asks a client to reconnect elsewhere: its links close with 1001; its groups stay. */
  drainClient(c: Client, to?: NodeAddress): void {
    this.#drained.add(c);
    const reason = 'server draining: reconnect to another server';
    // The next node's port for the link's own transport (protocol.md 3.5, the redirect line).
    const close = (l: FrameLink): void => {
      const port = to && (l.transport === 'ws' ? to.http : to[l.transport]);
      l.close(CloseCode.GOING_AWAY, to && port ? withRedirect(reason, { host: to.host, port }) : reason);
    };
    for (const ch of [...c.channels.values()]) close(ch.link);
    for (const l of [...c.pushLinks]) close(l);
  }

  /** Closes every link. */
  closeAll(code: number, reason: string): void {
    for (const l of [...this.links]) l.close(code, reason);
  }

  /**
   * Disconnects the receiver of a client whose id came online elsewhere (another node of a
   * cluster): its channels close with DUPLICATE_ID. Returns false when it had none.
   */
  takeOver(c: Client, where: string): boolean {
    if (!c.online) return false;
    this.#cfg.logger.info({ client: c.id, where }, 'duplicate client id: disconnecting the earlier client');
    for (const ch of [...c.channels.values()]) ch.link.close(CloseCode.DUPLICATE_ID, `client id ${c.id} connected again elsewhere`);
    return true;
  }

  /**
   * A HELLO: admits the link or refuses it. Synchronous unless it waits for authentication or a
   * cluster's presence; then it returns the promise of its end.
   */
  #admit(link: FrameLink, f: Frame, hello: Hello): Promise<void> | undefined {
    const ev = acceptedEvent(link, f, 0n);
    this.#o.events.emit('connecting', ev);
    if (!f.from) return this.#refuse(link, ev, CloseCode.REFUSED, 'a client id is required to use a MediaServer');
    if (hello.role === 'pull' && link.transport === 'udp') return this.#refuse(link, ev, CloseCode.REFUSED, 'receivers pull over TCP or HTTP');
    if (this.#o.auth) return this.#authenticate(this.#o.auth, link, f, f.from, hello, ev);
    return this.#register(link, f, f.from, hello, ev, undefined);
  }

  #refuse(link: FrameLink, ev: ConnectionEvent, code: number, reason: string): undefined {
    this.#o.metrics.helloRefused(code);
    link.close(code, reason);
    this.#o.events.emit('connectError', { ...ev, error: new CamwireError(code === CloseCode.AUTH_FAILED ? ErrorCode.AUTH_FAILED : ErrorCode.DELIVERY_REFUSED, reason) });
    return undefined;
  }

  /** The link closed, or the server stopped taking clients, while its admission waited. */
  #lateClose(link: FrameLink, ev: ConnectionEvent): void {
    this.#o.events.emit('connectError', { ...ev, error: new TransportError(ErrorCode.TRANSPORT_CLOSED, 'closed during the handshake') });
    link.close(CloseCode.GOING_AWAY, 'server stopping or draining: connect to another server');
  }

  async #authenticate(auth: Authenticator, link: FrameLink, f: Frame, from: string, hello: Hello, ev: ConnectionEvent): Promise<void> {
    const r = await auth.check({ ...hello.auth, clientId: from, transport: link.transport, remoteAddress: link.remoteAddress });
    if ('refused' in r) return void this.#refuse(link, ev, CloseCode.AUTH_FAILED, r.refused);
    return this.#register(link, f, from, hello, ev, r.user);
  }

  #register(link: FrameLink, f: Frame, from: string, hello: Hello, ev: ConnectionEvent, user: string | undefined): Promise<void> | undefined {
    if (link.closed || !this.#o.accepting()) return void this.#lateClose(link, ev);
    const dir = this.#o.directory;
    // An id bound to another authenticated user is not taken over while that user is connected.
    if (user !== undefined) {
      const known = dir.get(from);
      if (known?.user !== undefined && known.user !== user && known.connected) {
        return this.#refuse(link, ev, CloseCode.AUTH_FAILED, `client id ${JSON.stringify(from)} is in use by another user`);
      }
    }
    const client = dir.admit(from);
    if (!client) return this.#refuse(link, ev, CloseCode.REFUSED, `the server is full (${this.#cfg.maxClients} clients)`);
    if (user !== undefined) dir.bindUser(client, user);
    // In a cluster: a receiver counts as connected (its WELCOME) once every node sees it online.
    if (hello.role === 'pull' && !client.online && this.presence) return this.#arrive(this.presence, link, f, client, hello, ev);
    this.#welcome(link, f, client, hello, ev);
    return undefined;
  }

  async #arrive(presence: PresenceHooks, link: FrameLink, f: Frame, client: Client, hello: Hello, ev: ConnectionEvent): Promise<void> {
    await presence.arrive(client);
    if (link.closed || !this.#o.accepting()) {
      if (!client.online) presence.offline(client);
      return this.#lateClose(link, ev);
    }
    this.#welcome(link, f, client, hello, ev);
  }

  /** Admitted: the WELCOME, then the channel or push link, then `connected`. */
  #welcome(link: FrameLink, f: Frame, client: Client, hello: Hello, ev: ConnectionEvent): void {
    const type = mediaTypeName(f.mediaType)!;
    const events = this.#o.events;
    const pull = hello.role === 'pull';
    // A channel raises its `disconnect` from its own 'close' listener (#openChannel).
    const welcome = welcomeLink(link, f, { sessionKey: this.#o.sessionKey(), id: this.#cfg.serverId, stallMs: this.#cfg.timeouts[type], fileWindow: serverFileWindow(this.#cfg.buffers.file) }, ev, pull ? undefined : this.#disconnect);
    if (pull) this.#openChannel(link, client, type, f.sessionKey);
    else {
      if (hello.lane) this.#o.relay.bindLane(link, client.id, f.mediaType, hello.lane);
      this.#openPush(link, client, welcome);
    }
    events.emit('connected', ev);
  }

  /** A client's receiver opened a channel; a new receiver session for an online id takes it over. */
  #openChannel(link: FrameLink, client: Client, type: MediaTypeName, receiverKey: bigint): void {
    const wasOnline = client.online;
    // The channels this one replaces (none for a new client: no array then).
    let old: ServedChannel[] | undefined;
    for (const ch of client.channels.values()) if (client.receiverKey !== receiverKey || ch.type === type) (old ??= []).push(ch);
    if (old) {
      if (client.receiverKey !== receiverKey) this.#cfg.logger.info({ client: client.id }, 'duplicate client id: disconnecting the earlier client');
      // Detach first: the earlier channels' ends must not take the client offline.
      for (const ch of old) client.channels.delete(ch.type);
      for (const ch of old) ch.link.close(CloseCode.DUPLICATE_ID, `client id ${client.id} connected again elsewhere`);
    }
    client.receiverKey = receiverKey;
    const ch = new ServedChannel(link, type, this.#outbox(type, link), this.#o.sessionKey());
    // A reader's full-frame request goes to the source's sender (protocol.md 4.7).
    if (type === 'video') link.on('frame', (g: Frame) => isFullFrameRequest(g) && this.#o.fullFrame(g.to, g.mediaIndex));
    client.channels.set(type, ch);
    // The channels of one receiver session share one keepalive and dead timer (protocol.md 3.4).
    this.#o.liveness.join(link, { clientId: client.id, sessionKey: receiverKey, transport: link.transport, remoteAddress: link.remoteAddress });
    // One 'close' listener does all of a channel's end (one closure per idle channel, not two),
    // #forget's work included: with #forget off first, the link's listener list stays a literal of
    // two (the listener's own, onProtocolFailure, and this one) instead of one grown for a third.
    link.off('close', this.#forget);
    link.on('close', (info) => {
      this.links.delete(link);
      // `disconnect` first, as welcomeLink would raise it; the event is made now, not kept per link.
      const out: ConnectionEvent = { sessionKey: 0n, mediaTypes: [], remoteSessionKey: receiverKey, transport: link.transport, remoteAddress: link.remoteAddress, remotePort: link.remotePort, clientId: client.id };
      if (info.error) out.error = info.error;
      this.#disconnect(out);
      client.retire(ch);
      if (ch.outbox instanceof ReliableOutbox) {
        ch.outbox.failAll(new TransportError(ErrorCode.TRANSPORT_CLOSED, `${client.id}'s ${type} channel closed`));
        ch.outbox.dispose();
      }
      if (client.channels.get(type) !== ch) return;
      client.channels.delete(type);
      if (!client.online) this.#receiverGone(client);
    });
    if (!wasOnline) {
      client.connectedAt = Date.now();
      this.presence?.online(client);
      // Its report is built only for a listener (a join costs no ClientInfo otherwise).
      if (this.#o.events.listenerCount('clientConnected') > 0) this.#o.events.emit('clientConnected', this.#o.info(client));
    }
  }

  #outbox(type: MediaTypeName, link: FrameLink): Outbox {
    const cfg = this.#cfg;
    if (type === 'video') return new VideoOutbox(cfg.buffers.video, (f) => this.#o.fullFrame(f.from ?? '', f.mediaIndex ?? 0));
    if (type === 'audio') return new AudioOutbox(100_000, cfg.buffers.audio);
    return new ReliableOutbox({
      mediaType: type,
      maxBytes: cfg.buffers[type],
      // File items drop their payload once written to the reader's link: more of them in flight
      // costs no memory here, and lets a sender's window (serverFileWindow) go on to the reader.
      window: type === 'file' ? 64 : 32,
      timeoutMs: cfg.timeouts[type],
      retransmitMs: 0,
      onTimeout: (err) => link.fail(err, CloseCode.TIMEOUT),
      // File data waiting for a slow reader goes to disk, not memory, within the spool bounds;
      // beyond them it is refused (docs/limits.md, Files).
      spool: type === 'file' ? new Spool(cfg.spoolDir ?? (this.#tmp ??= tmpdir()), { maxBytes: cfg.spool.maxBytesPerReader, budget: cfg.spool.budget }) : undefined,
    });
  }

  /** A client's receiver is gone: the server says goodbye for it; if nothing else is connected, it is offline. */
  #receiverGone(c: Client): void {
    this.#o.requests.goodbye(c);
    if (c.pushLinks.size === 0) this.#gone(c);
    this.presence?.offline(c);
    if (this.#o.events.listenerCount('clientDisconnected') > 0) this.#o.events.emit('clientDisconnected', this.#o.info(c));
  }

  /** The client's last connection closed: goodbyes still owed (a client that only pushes), temporary groups, the directory. */
  #gone(c: Client): void {
    this.#o.requests.goodbye(c);
    if (!this.#drained.has(c)) this.#o.requests.leaveGroups(c);
    this.#o.directory.disconnected(c);
  }

  #openPush(link: FrameLink, client: Client, welcome: FrameInit): void {
    client.pushLinks.add(link);
    link.on('close', () => {
      client.pushLinks.delete(link);
      if (client.pushLinks.size === 0) this.#o.relay.gops.forget(client);
      if (!client.connected) this.#gone(client);
    });
    link.on('frame', (f) => {
      if (f.kind === Kind.HELLO && !link.reliable) {
        link.send(welcome);
        return;
      }
      if (f.kind !== Kind.DATA) {
        if (f.kind === Kind.HELLO || f.kind === Kind.WELCOME) link.fail(new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `unexpected message kind ${f.kind}`, CloseCode.UNEXPECTED_MESSAGE));
        return;
      }
      try {
        this.#o.relay.route(client, link, f);
      } catch (err) {
        if (err instanceof ProtocolError) link.fail(err);
        else throw err;
      }
    });
  }
}

/**
 * The file window a server's WELCOME announces to a pushing sender (docs/protocol.md, 3.2): what
 * one reader's file queue (`buffers.file`) takes, less 1/16 for the frame headers the queue counts too.
 */
export function serverFileWindow(queueBytes: number): number {
  return Math.max(1, Math.floor((queueBytes * 15) / 16));
}
