/**
 * MediaServer: relays between clients that cannot reach each other (docs/behaviour.md, section 5).
 * Client senders push to it (mode A over UDP, TCP or HTTP); client receivers pull from it
 * (mode B over TCP or HTTP). This class is the composition root (docs/architecture.md): it listens,
 * admits connections and wires the parts that own the rest:
 * - Directory: clients, user bindings, contact lists;
 * - GroupRegistry: groups and members;
 * - Router and Relay: targets, fan-out and acknowledgements;
 * - SystemRequests: RVS_ requests and RV_ notifications;
 * - HttpRoutes: ingest, /stats, /metrics;
 * - a ServerStore, where what must survive a restart is kept.
 */
import { EventEmitter } from 'node:events';
import { CamwireError, CloseCode, ConfigError, DeliveryError, ErrorCode, ProtocolError, TransportError } from '../errors.js';
import type { CommandMessage, ConnectionEvents, PeerInfo } from '../events.js';
import { Kind, mediaTypeName, type MediaTypeName, type TransportName } from '../protocol/constants.js';
import type { Frame, FrameInit } from '../protocol/frame.js';
import { encodeCommand, type Command, type Hello } from '../protocol/messages.js';
import { acceptedEvent, awaitHello, welcomeLink } from '../link/accept.js';
import type { FrameLink } from '../link/frame-link.js';
import { LinkClock, tickFor } from '../link/link-clock.js';
import { LinkListener } from '../link/listener.js';
import { ServedChannel } from '../media/served-channel.js';
import { AudioOutbox, ReliableOutbox, VideoOutbox, type Outbox } from '../media/outbox.js';
import { Spool } from '../media/spool.js';
import { newSessionKey } from '../options.js';
import { Authenticator, type UserEntry } from './auth.js';
import type { Client } from './client.js';
import { validate, type MediaServerOptions, type ServerConfig } from './config.js';
import { Directory } from './directory.js';
import { GroupRegistry } from './groups.js';
import { HttpRoutes } from './http-routes.js';
import { ControlApi } from './control-api.js';
import { ServerMetrics } from './metrics.js';
import { Relay, type AudioTap, type ServerCommandMeta, type VideoTap } from './relay.js';
import { ServerRecording } from './recording.js';
import { Router } from './router.js';
import { guardWrites } from './store/guard.js';
import { MemoryStore } from './store/memory-store.js';
import type { ServerStore } from './store/store.js';
import { SystemRequests } from './system-requests.js';
import { UserRegistry } from './users.js';

export type { BufferOptions, MediaServerOptions } from './config.js';
export type { AudioTap, ServerCommandMeta, VideoTap } from './relay.js';

/** A client as the server reports it. */
export interface ClientInfo {
  id: string;
  user?: string;
  online: boolean;
  /** ms since the epoch: first connection, and last connect or disconnect. */
  firstSeen: number;
  lastSeen: number;
  /** Receiver channels open. */
  channels: MediaTypeName[];
  /** Sender connections open. */
  pushLinks: number;
  /** HTTP ingest uploads publishing as this client now (POST /ingest/<id>). */
  ingest: number;
  groups: string[];
  defaultReceivers: string[];
  allowedSenders: string[] | 'all';
  in: Record<MediaTypeName, { frames: number; bytes: number }>;
  out: Record<MediaTypeName, { frames: number; bytes: number }>;
  dropped: Record<MediaTypeName, number>;
}

/** Events of a MediaServer. Connection events carry sessionKey 0 and the client's key as remoteSessionKey (the server accepts). */
export interface MediaServerEvents extends ConnectionEvents {
  /** A client's receiver opened its first channel. */
  clientConnected: [info: ClientInfo];
  /** A client's receiver closed its last channel. */
  clientDisconnected: [info: ClientInfo];
  /** A command named RVSU_... addressed to the server itself. */
  serverCommand: [cmd: CommandMessage, meta: ServerCommandMeta];
}

/** MediaServer: the relay. */
export class MediaServer extends EventEmitter<MediaServerEvents> {
  readonly #o: ServerConfig;
  readonly #auth: Authenticator | undefined;
  readonly #users: UserRegistry;
  readonly #store: ServerStore;
  readonly #groups: GroupRegistry;
  readonly #dir: Directory;
  readonly #requests: SystemRequests;
  readonly #relay: Relay;
  readonly #recording: ServerRecording | undefined;
  readonly #http: HttpRoutes;
  readonly #metrics: ServerMetrics;
  readonly #listeners = new Map<TransportName, LinkListener>();
  readonly #links = new Set<FrameLink>();
  /** One timer for the keepalive, dead and stall checks of every link. */
  readonly #clock: LinkClock;
  #sessionKey = 0n;
  /** A store write failed (thrown, or reported later): logged and counted; the server goes on from memory. */
  readonly #storeError = (err: Error, op: string): void => {
    this.#metrics.storeError();
    this.#o.logger.error({ err, op, store: this.#store.location }, 'store write failed; going on from memory');
  };
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';

  /** Creates a MediaServer. Throws a ConfigError naming a bad option. */
  constructor(options: MediaServerOptions = {}) {
    super();
    const o = (this.#o = validate(options));
    this.#clock = new LinkClock(tickFor(o.keepaliveMs, o.deadMs));
    try {
      this.#auth = options.auth ? new Authenticator(options.auth) : undefined;
    } catch (err) {
      throw new ConfigError(ErrorCode.CONFIG_INVALID, `option auth: ${(err as Error).message}`);
    }
    this.#metrics = new ServerMetrics({
      online: () => this.#dir.onlineIds().length,
      knownClients: () => this.#dir.size,
      links: () => this.#links.size,
      groups: () => this.#groups.size,
      clients: () => this.clients(),
    }, o.metrics);
    this.#store = options.store ?? new MemoryStore();
    const store = guardWrites(this.#store, this.#storeError);
    this.#users = new UserRegistry({ auth: this.#auth, fixed: options.auth?.users?.map((u) => u.user) ?? [], store, durable: () => this.#store.flush(), logger: o.logger });
    this.#groups = new GroupRegistry(o.maxGroups, store);
    this.#dir = new Directory({ maxClients: o.maxClients, keepClientInfo: o.keepClientInfo, store, pinned: (id) => this.#groups.pinned(id) });
    this.#requests = new SystemRequests({ directory: this.#dir, groups: this.#groups, serverId: o.serverId, logger: o.logger, durable: () => this.#store.flush() });
    this.#relay = new Relay({
      router: new Router(this.#dir, this.#groups),
      requests: this.#requests,
      metrics: this.#metrics,
      onServerCommand: (cmd, meta) => this.emit('serverCommand', cmd, meta),
    });
    if (this.#metrics.measuresLatency) this.#relay.tap((v) => this.#metrics.observeLatency(Date.now() - v.timestamp));
    const rec = (this.#recording = o.record ? new ServerRecording(o.record, o.logger, (e) => this.#metrics.recording(e)) : undefined);
    if (rec) {
      this.#relay.tap((v) => rec.video(v));
      this.#relay.tapAudio((a) => rec.audio(a));
    }
    this.#http = new HttpRoutes({
      auth: this.#auth,
      directory: this.#dir,
      groups: this.#groups,
      relay: this.#relay,
      metrics: this.#metrics,
      stats: () => this.stats(),
      maxPayload: o.maxPayload,
      extra: o.httpHandler,
      control: new ControlApi({
        clients: () => this.clients(),
        kick: (id, reason) => this.kick(id, reason),
        groups: this.#groups,
        notify: (to, name, params) => this.#requests.notify(to, name, params),
      }),
      logger: o.logger,
    });
  }

  /** Bound ports (0 for a port that is off). */
  get ports(): { tcp: number; http: number; udp: number } {
    return { tcp: this.#listeners.get('tcp')?.port ?? 0, http: this.#listeners.get('http')?.port ?? 0, udp: this.#listeners.get('udp')?.port ?? 0 };
  }

  /**
   * Opens the store and loads what it kept, then starts every enabled listener. Rejects with a
   * StoreError when the store cannot be opened, or a TransportError when a port cannot be bound
   * (and stops what started).
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(ErrorCode.ALREADY_STARTED, `start() called on a server that is ${this.#state}: a MediaServer starts once`);
    this.#state = 'starting';
    this.#sessionKey = newSessionKey();
    try {
      const kept = await this.#store.open({ onWriteError: this.#storeError });
      this.#groups.load(kept);
      this.#dir.load(kept);
      this.#users.load(kept.users);
      this.#o.logger.info({ store: this.#store.location, clients: kept.clients.length, groups: this.#groups.size }, 'store opened');
      for (const transport of ['tcp', 'http', 'udp'] as const) {
        const port = this.#o.ports[transport];
        if (port === false) continue;
        const l = await LinkListener.open(
          {
            transport,
            host: this.#o.host,
            port,
            tls: transport === 'udp' ? undefined : this.#o.tls,
            link: { maxPayload: this.#o.maxPayload, keepaliveMs: this.#o.keepaliveMs, deadMs: this.#o.deadMs, clock: this.#clock },
            // Ingest uploads (ffmpeg posting MJPEG for hours) stream: no whole-request limit, only the idle one.
            http: { maxPollMs: 30000, limits: this.#o.http, streaming: (req) => (req.method === 'POST' || req.method === 'PUT') && (req.url ?? '').startsWith('/ingest/') },
            udp: { maxPayload: this.#o.maxPayload },
            httpFallback: (req, res) => this.#http.handle(req, res),
            limits: this.#o.limits,
          },
          { onLink: (link) => this.#accept(link), onBadInput: (err, peer) => this.#bad(err, peer), onRefused: (reason) => this.#metrics.refused(reason) },
        );
        this.#listeners.set(transport, l);
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#state = 'started';
  }

  /** Stops: closes every connection and listener, then the store. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const l of [...this.#links]) l.close(CloseCode.GOING_AWAY, 'server stopping');
    await Promise.all([...this.#listeners.values()].map((l) => l.close(CloseCode.GOING_AWAY, 'server stopping')));
    await this.#recording?.close();
    await this.#store.close();
  }

  // ------------------------------------------------------------------ application API

  /** Lists every client the server knows, online or not. */
  clients(): ClientInfo[] {
    return [...this.#dir.all()].map((c) => this.#info(c));
  }

  /** Disconnects a client: closes its receiver channels and sender connections. Returns false if unknown. */
  kick(id: string, reason = 'kicked by the server'): boolean {
    const c = this.#dir.get(id);
    if (!c) return false;
    for (const ch of [...c.channels.values()]) ch.link.close(CloseCode.NOT_ALLOWED, reason);
    for (const l of [...c.pushLinks]) l.close(CloseCode.NOT_ALLOWED, reason);
    return true;
  }

  /** Sends a command from the server to a client's receiver; resolves when it acknowledged it. */
  sendCommand(to: string, cmd: Command, mediaIndex = 0): Promise<void> {
    const ch = this.#dir.get(to)?.channels.get('command');
    if (!ch) return Promise.reject(new DeliveryError(ErrorCode.DELIVERY_REFUSED, `client ${JSON.stringify(to)} has no command channel open`, 0));
    return ch.submit(this.#requests.frame(encodeCommand(cmd), to, mediaIndex)).then(() => undefined);
  }

  /** Counters for the JSON stats endpoint. */
  stats(): { clients: ClientInfo[]; online: number; links: number; groups: Array<{ id: string; name: string; owner: string; members: string[] }>; unrouted: Record<MediaTypeName, number> } {
    return {
      clients: this.clients(),
      online: this.#dir.onlineIds().length,
      links: this.#links.size,
      groups: this.#groups.all().map((g) => ({ id: g.id, name: g.name, owner: g.owner, members: [...g.members.keys()] })),
      unrouted: this.#relay.unrouted,
    };
  }

  /**
   * Calls `fn` for every video frame a client pushes, whether or not anyone reads it (for MJPEG
   * endpoints and viewers). Returns the function that stops it. `fn` must not keep the frame's
   * buffer beyond the call without knowing it is a view of the received data.
   */
  onVideo(fn: (v: VideoTap) => void): () => void {
    return this.#relay.tap(fn);
  }

  /** Like onVideo, for every pushed audio chunk (its header decoded). */
  onAudio(fn: (a: AudioTap) => void): () => void {
    return this.#relay.tapAudio(fn);
  }

  /** The recordings of option `record` (events `segment`, `error`, `deleted`; `stats`), or undefined. */
  get recording(): ServerRecording | undefined {
    return this.#recording;
  }

  /** The Prometheus registry of this server (no global state: one per server). */
  get metrics(): ServerMetrics['registry'] {
    return this.#metrics.registry;
  }

  /**
   * Adds or replaces a user at run time; it is kept in the store, beside the users of the `auth`
   * option (which it cannot replace). Needs a server started with `auth`.
   */
  addUser(u: UserEntry): Promise<void> {
    return this.#users.add(u);
  }

  /** Removes a user added at run time. Returns false if there is no such user. */
  removeUser(user: string): boolean {
    return this.#users.remove(user);
  }

  // ------------------------------------------------------------------ connections

  #accept(link: FrameLink): void {
    this.#links.add(link);
    link.once('close', () => this.#links.delete(link));
    awaitHello(
      link,
      this.#o.handshakeMs,
      (f, hello) => {
        link.hold();
        void this.#admit(link, f, hello).finally(() => link.release());
      },
      // Over UDP a DATA frame may come first (its HELLO was lost); only without authentication.
      link.transport === 'udp' && !this.#auth,
    );
  }

  async #admit(link: FrameLink, f: Frame, hello: Hello): Promise<void> {
    const type = mediaTypeName(f.mediaType)!;
    const ev = acceptedEvent(link, f, 0n);
    this.emit('connecting', ev);
    const refuse = (code: number, reason: string): void => {
      this.#metrics.helloRefused(code);
      link.close(code, reason);
      this.emit('connectError', { ...ev, error: new CamwireError(code === CloseCode.AUTH_FAILED ? ErrorCode.AUTH_FAILED : ErrorCode.DELIVERY_REFUSED, reason) });
    };
    if (!f.from) return refuse(CloseCode.REFUSED, 'a client id is required to use a MediaServer');
    if (hello.role === 'pull' && link.transport === 'udp') return refuse(CloseCode.REFUSED, 'receivers pull over TCP or HTTP');
    let user: string | undefined;
    if (this.#auth) {
      const r = await this.#auth.check({ ...hello.auth, clientId: f.from, transport: link.transport, remoteAddress: link.remoteAddress });
      if ('refused' in r) return refuse(CloseCode.AUTH_FAILED, r.refused);
      user = r.user;
    }
    if (link.closed || this.#state !== 'started') {
      this.emit('connectError', { ...ev, error: new TransportError(ErrorCode.TRANSPORT_CLOSED, 'closed during the handshake') });
      link.close(CloseCode.GOING_AWAY, 'server stopping');
      return;
    }
    // An id bound to another authenticated user is not taken over while that user is connected.
    const known = this.#dir.get(f.from);
    if (user !== undefined && known?.user !== undefined && known.user !== user && known.connected) {
      return refuse(CloseCode.AUTH_FAILED, `client id ${JSON.stringify(f.from)} is in use by another user`);
    }
    const client = this.#dir.admit(f.from);
    if (!client) return refuse(CloseCode.REFUSED, `the server is full (${this.#o.maxClients} clients)`);
    if (user !== undefined) this.#dir.bindUser(client, user);
    const welcome = welcomeLink(link, f, { sessionKey: this.#sessionKey, id: this.#o.serverId, stallMs: this.#o.timeouts[type] }, ev, (out) => this.emit('disconnect', out));
    if (hello.role === 'pull') this.#openChannel(link, client, type, f.sessionKey);
    else {
      if (hello.lane) this.#relay.bindLane(link, client.id, f.mediaType, hello.lane);
      this.#openPush(link, client, welcome);
    }
    this.emit('connected', ev);
  }

  /** A client's receiver opened a channel; a new receiver session for an online id takes it over. */
  #openChannel(link: FrameLink, client: Client, type: MediaTypeName, receiverKey: bigint): void {
    const wasOnline = client.online;
    const old = [...client.channels.values()].filter((ch) => client.receiverKey !== receiverKey || ch.type === type);
    if (old.length) {
      if (client.receiverKey !== receiverKey) this.#o.logger.info({ client: client.id }, 'duplicate client id: disconnecting the earlier client');
      // Detach first: the earlier channels' ends must not take the client offline.
      for (const ch of old) client.channels.delete(ch.type);
      for (const ch of old) ch.link.close(CloseCode.DUPLICATE_ID, `client id ${client.id} connected again elsewhere`);
    }
    client.receiverKey = receiverKey;
    const ch = new ServedChannel(link, type, this.#outbox(type, link), this.#sessionKey);
    client.channels.set(type, ch);
    link.on('close', () => {
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
      this.emit('clientConnected', this.#info(client));
    }
  }

  #outbox(type: MediaTypeName, link: FrameLink): Outbox {
    if (type === 'video') return new VideoOutbox(this.#o.buffers.video);
    if (type === 'audio') return new AudioOutbox(100_000, this.#o.buffers.audio);
    return new ReliableOutbox({
      mediaType: type,
      maxBytes: this.#o.buffers[type],
      window: 32,
      timeoutMs: this.#o.timeouts[type],
      retransmitMs: 0,
      onTimeout: (err) => link.fail(err, CloseCode.TIMEOUT),
      // File data waiting for a slow reader goes to disk, not memory, within the spool bounds;
      // beyond them it is refused (docs/limits.md, Files).
      spool: type === 'file' ? new Spool(this.#o.spoolDir, { maxBytes: this.#o.spool.maxBytesPerReader, budget: this.#o.spool.budget }) : undefined,
    });
  }

  /** A client's receiver is gone: the server says goodbye for it; if nothing else is connected, it is offline. */
  #receiverGone(c: Client): void {
    this.#requests.goodbye(c);
    if (c.pushLinks.size === 0) this.#gone(c);
    this.emit('clientDisconnected', this.#info(c));
  }

  /** The client's last connection closed: goodbyes still owed (a client that only pushes), temporary groups, the directory. */
  #gone(c: Client): void {
    this.#requests.goodbye(c);
    this.#requests.leaveGroups(c);
    this.#dir.disconnected(c);
  }

  #openPush(link: FrameLink, client: Client, welcome: FrameInit): void {
    client.pushLinks.add(link);
    link.on('close', () => {
      client.pushLinks.delete(link);
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
        this.#relay.route(client, link, f);
      } catch (err) {
        if (err instanceof ProtocolError) link.fail(err);
        else throw err;
      }
    });
  }

  // ------------------------------------------------------------------ observability

  #info(c: Client): ClientInfo {
    const allowed = this.#dir.allowedSenders(c.id);
    const info: ClientInfo = {
      id: c.id,
      online: c.online,
      firstSeen: c.record.firstSeen,
      lastSeen: c.record.lastSeen,
      channels: [...c.channels.keys()],
      pushLinks: c.pushLinks.size,
      ingest: this.#http.ingestCount(c.id),
      groups: this.#groups.of(c.id).map((g) => g.id),
      defaultReceivers: [...this.#dir.defaultReceivers(c.id)],
      allowedSenders: allowed ? [...allowed] : 'all',
      in: structuredClone(c.counters.in),
      out: structuredClone(c.counters.out),
      dropped: c.drops(),
    };
    if (c.user !== undefined) info.user = c.user;
    return info;
  }

  #bad(err: CamwireError, peer: PeerInfo): void {
    this.#metrics.badInput(err.code);
    this.#o.logger.warn({ err, ...peer }, 'bad input from peer');
    this.emit('protocolError', err, peer);
  }
}
