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
import { AddressInUseError, CamwireError, CloseCode, ConfigError, DeliveryError, ErrorCode } from '../errors.js';
import type { PeerInfo } from '../events.js';
import type { MediaTypeName, TransportName } from '../protocol/constants.js';
import { encodeCommand, type Command } from '../protocol/messages.js';
import { LinkContext } from '../link/link-context.js';
import { LinkListener } from '../link/listener.js';
import { LivenessGroups } from '../link/liveness.js';
import { newSessionKey } from '../options.js';
import { Admission } from './admission.js';
import { Authenticator, type UserEntry } from './auth.js';
import type { Client } from './client.js';
import { clientInfo, type ClientInfo, type MediaServerEvents } from './client-info.js';
import { validate, type MediaServerOptions, type ServerConfig } from './config.js';
import { Directory } from './directory.js';
import { GroupRegistry } from './groups.js';
import { HttpRoutes } from './http-routes.js';
import { ControlApi } from './control-api.js';
import { ServerMetrics } from './metrics.js';
import { gopTaps, Relay, type AudioTap, type VideoTap } from './relay.js';
import { FullFrameRequests } from './full-frames.js';
import { ServerRecording } from './recording.js';
import { Router } from './router.js';
import { drainServer } from './drain.js';
import { startCluster, type ClusterPort, type ClusterStats } from './cluster/cluster.js';
import { guardWrites } from './store/guard.js';
import { MemoryStore } from './store/memory-store.js';
import type { ServerStore } from './store/store.js';
import { SystemRequests } from './system-requests.js';
import { UserRegistry } from './users.js';

export type { BufferOptions, MediaServerOptions } from './config.js';
export type { AudioTap, ServerCommandMeta, VideoTap } from './relay.js';
export type { ClientInfo, MediaServerEvents } from './client-info.js';
export type { ClusterEvent, ClusterStats } from './cluster/cluster.js';
export type { ClusterOptions } from './cluster/options.js';

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
  readonly #fullFrames: FullFrameRequests;
  readonly #recording: ServerRecording | undefined;
  readonly #http: HttpRoutes;
  readonly #metrics: ServerMetrics;
  readonly #listeners = new Map<TransportName, LinkListener>();
  readonly #admission: Admission;
  readonly #router: Router;
  #cluster: ClusterPort | undefined;
  /** What its links share: the clock of their keepalive, dead and stall checks, the small-frame arena, HELLO deadlines (this server's own). */
  readonly #ctx: LinkContext;
  #sessionKey = 0n;
  /** A store write failed (thrown, or reported later): logged and counted; the server goes on from memory. */
  readonly #storeError = (err: Error, op: string): void => {
    this.#metrics.storeError();
    this.#o.logger.error({ err, op, store: this.#store.location }, 'store write failed; going on from memory');
  };
  #state: 'new' | 'starting' | 'started' | 'draining' | 'stopped' = 'new';

  /** Creates a MediaServer. Throws a ConfigError naming a bad option. */
  constructor(options: MediaServerOptions = {}) {
    super();
    const o = (this.#o = validate(options));
    this.#ctx = new LinkContext({ keepaliveMs: o.keepaliveMs, deadMs: o.deadMs, maxPayload: o.maxPayload });
    try {
      this.#auth = options.auth ? new Authenticator(options.auth) : undefined;
    } catch (err) {
      throw new ConfigError(ErrorCode.CONFIG_INVALID, `option auth: ${(err as Error).message}`);
    }
    this.#metrics = new ServerMetrics({
      online: () => this.#dir.onlineIds().length,
      connected: () => {
        let n = 0;
        for (const c of this.#dir.all()) if (c.connected || this.#http.ingestCount(c.id) > 0) n++;
        return n;
      },
      knownClients: () => this.#dir.size,
      links: () => this.#admission.links.size,
      groups: () => this.#groups.size,
      clients: () => this.clients(),
    }, o.metrics);
    this.#store = options.store ?? new MemoryStore();
    const store = guardWrites(this.#store, this.#storeError);
    this.#users = new UserRegistry({ auth: this.#auth, fixed: options.auth?.users?.map((u) => u.user) ?? [], store, durable: () => this.#store.flush(), logger: o.logger });
    this.#groups = new GroupRegistry(o.maxGroups, store);
    this.#dir = new Directory({ maxClients: o.maxClients, keepClientInfo: o.keepClientInfo, store, pinned: (id) => this.#groups.pinned(id) });
    this.#requests = new SystemRequests({ directory: this.#dir, groups: this.#groups, serverId: o.serverId, logger: o.logger, durable: () => this.#store.flush() });
    this.#fullFrames = new FullFrameRequests((id) => this.#dir.get(id), o.serverId, () => this.#sessionKey);
    this.#relay = new Relay({
      router: (this.#router = new Router(this.#dir, this.#groups)),
      requests: this.#requests,
      metrics: this.#metrics,
      onServerCommand: (cmd, meta) => this.emit('serverCommand', cmd, meta),
      gopCache: o.gopCache,
    });
    this.#admission = new Admission({
      config: o,
      auth: this.#auth,
      directory: this.#dir,
      relay: this.#relay,
      requests: this.#requests,
      metrics: this.#metrics,
      events: this,
      info: (c) => this.#info(c),
      sessionKey: () => this.#sessionKey,
      accepting: () => this.#state === 'started',
      fullFrame: (id, mediaIndex) => this.#fullFrames.request(id, mediaIndex),
      liveness: new LivenessGroups({ keepaliveMs: o.keepaliveMs, deadMs: o.deadMs, accepted: true, clock: this.#ctx.clock }),
      hellos: this.#ctx.hellos,
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
        drain: () => void this.drain(),
        groups: this.#groups,
        notify: (to, name, params) => this.#requests.notify(to, name, params),
        settled: (group, client) => this.#cluster?.settled(group, client) ?? Promise.resolve(),
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
      if (this.#o.cluster) await this.#joinCluster();
      for (const transport of ['tcp', 'http', 'udp'] as const) {
        const port = this.#o.ports[transport];
        if (port === false) continue;
        const l = await this.#listen(transport, port, () => LinkListener.open(
          {
            transport,
            host: this.#o.host,
            port,
            tls: transport === 'udp' ? undefined : this.#o.tls,
            link: this.#ctx.linkOptions(),
            // Ingest uploads (ffmpeg posting MJPEG for hours) stream: no whole-request limit, only the idle one.
            http: { maxPollMs: 30000, limits: this.#o.http, streaming: (req) => (req.method === 'POST' || req.method === 'PUT') && (req.url ?? '').startsWith('/ingest/') },
            udp: { maxPayload: this.#o.maxPayload },
            httpFallback: (req, res) => this.#http.handle(req, res),
            limits: this.#o.limits,
          },
          { onLink: (link) => this.#admission.accept(link), onBadInput: (err, peer) => this.#bad(err, peer), onRefused: (reason) => this.#metrics.refused(reason) },
        ));
        this.#listeners.set(transport, l);
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#cluster?.listening();
    this.#state = 'started';
  }

  /** Opens one listener; a port in use says which of the server's ports it is (`TCP port 7700 ...`, error `transport`). */
  async #listen(transport: 'tcp' | 'udp' | 'http', port: number, open: () => Promise<LinkListener>): Promise<LinkListener> {
    try {
      return await open();
    } catch (err) {
      if (err instanceof AddressInUseError) throw new AddressInUseError(err.host, err.port || port, `${transport.toUpperCase()} port`, { cause: err, transport });
      throw err;
    }
  }

  /** Stops: closes every connection and listener, then the store. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#cluster?.leaving();
    this.#admission.closeAll(CloseCode.GOING_AWAY, 'server stopping');
    await Promise.all([...this.#listeners.values()].map((l) => l.close(CloseCode.GOING_AWAY, 'server stopping')));
    // `ports` says 0 from now on.
    this.#listeners.clear();
    await this.#cluster?.stop();
    await this.#recording?.close();
    await this.#store.close();
  }

  /**
   * Drains, then stops (rolling upgrades; docs/cluster.md): stops taking connections, refuses
   * HELLOs, and asks each client in turn (every `intervalMs`) to reconnect elsewhere (close code
   * 1001), keeping its contact lists and groups for its next server; stops once every link
   * closed, or after `timeoutMs`.
   */
  async drain(o: { intervalMs?: number; timeoutMs?: number } = {}): Promise<void> {
    if (this.#state !== 'started') return this.stop();
    this.#state = 'draining';
    await drainServer(
      { listeners: this.#listeners.values(), admission: this.#admission, directory: this.#dir, cluster: this.#cluster, logger: this.#o.logger },
      { intervalMs: o.intervalMs ?? 20, timeoutMs: o.timeoutMs ?? 10000 },
    );
    await this.stop();
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
    this.#o.logger.info({ client: id, reason }, 'client kicked');
    return true;
  }

  /** Sends a command from the server to a client's receiver; resolves when it acknowledged it. */
  sendCommand(to: string, cmd: Command, mediaIndex = 0): Promise<void> {
    // A client online on another node of the cluster: through its node, as the server's notifications go.
    const ch = this.#dir.get(to)?.channels.get('command') ?? this.#cluster?.notice(to);
    if (!ch) return Promise.reject(new DeliveryError(ErrorCode.DELIVERY_REFUSED, `client ${JSON.stringify(to)} has no command channel open`, 0));
    return ch.submit(this.#requests.frame(encodeCommand(cmd), to, mediaIndex)).then(
      () => undefined,
      (err: CamwireError) => {
        throw err instanceof DeliveryError ? err : new DeliveryError(err.code ?? ErrorCode.DELIVERY_REFUSED, err.message, 0, { cause: err });
      },
    );
  }

  /** Counters for the JSON stats endpoint. */
  stats(): { clients: ClientInfo[]; online: number; links: number; groups: Array<{ id: string; name: string; owner: string; members: string[] }>; unrouted: Record<MediaTypeName, number>; cluster?: ClusterStats } {
    const s = {
      clients: this.clients(),
      online: this.#dir.onlineIds().length,
      links: this.#admission.links.size,
      groups: this.#groups.all().map((g) => ({ id: g.id, name: g.name, owner: g.owner, members: [...g.members.keys()] })),
      unrouted: this.#relay.unrouted,
    };
    return this.#cluster ? { ...s, cluster: this.#cluster.stats() } : s;
  }

  /**
   * Calls `fn` for every video frame a client pushes, whether or not anyone reads it (for MJPEG
   * endpoints and viewers). Returns the function that stops it. `fn` must not keep the frame's
   * buffer beyond the call without knowing it is a view of the received data.
   */
  onVideo(fn: (v: VideoTap) => void): () => void {
    return this.#relay.tap(fn);
  }

  /** A compressed source's cached frames since its last keyframe (the keyframe first), as taps; [] when none. */
  videoGop(clientId: string, mediaIndex = 0): VideoTap[] {
    const c = this.#dir.get(clientId);
    return c ? gopTaps(clientId, this.#relay.gops.snapshot(c, mediaIndex)) : [];
  }

  /** Asks client `clientId` for a full frame of its video source `mediaIndex` (protocol.md 4.7); false when it pushes no video. */
  requestFullFrame(clientId: string, mediaIndex = 0): boolean {
    return this.#fullFrames.request(clientId, mediaIndex);
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

  /** Joins the cluster of the `cluster` option (server/cluster/, loaded only then). */
  async #joinCluster(): Promise<void> {
    const cluster = await startCluster({
      cluster: this.#o.cluster!,
      server: this.#o,
      directory: this.#dir,
      groups: this.#groups,
      router: this.#router,
      relay: this.#relay,
      requests: this.#requests,
      metrics: this.#metrics,
      users: this.#users,
      sessionKey: () => this.#sessionKey,
      ports: () => this.ports,
      takeOver: (c, node) => this.#admission.takeOver(c, node),
      onEvent: (ev) => this.emit('cluster', ev),
    });
    this.#cluster = this.#router.remote = this.#admission.presence = this.#requests.remote = cluster;
  }

  // ------------------------------------------------------------------ observability

  #info(c: Client): ClientInfo {
    return clientInfo(c, this.#dir, this.#groups, (id) => this.#http.ingestCount(id));
  }

  #bad(err: CamwireError, peer: PeerInfo): void {
    this.#metrics.badInput(err.code);
    this.#o.logger.warn({ err, ...peer }, 'bad input from peer');
    this.emit('protocolError', err, peer);
  }
}
