/**
 * MediaServer: relays between clients that cannot reach each other (BEHAVIOUR.md section 5).
 * Client senders push to it (mode A over UDP, TCP or HTTP); client receivers pull from it
 * (mode B over TCP or HTTP). It routes by addressee, group or default receivers, keeps groups
 * and contact lists, and gives every reader bounded per-type queues.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { CamwireError, CloseCode, ConfigError, DeliveryError, ErrorCode, ProtocolError, TransportError } from '../errors.js';
import type { CommandMessage, ConnectionEvents, PeerInfo } from '../events.js';
import { Flag, Kind, MediaType, mediaTypeName, type MediaTypeName } from '../protocol/constants.js';
import type { Frame, FrameInit } from '../protocol/frame.js';
import { decodeCommand, decodeVideo, encodeAck, encodeVideoHeader, encodeCommand, encodeReason, type Command, type Hello, type ParamValue } from '../protocol/messages.js';
import { acceptedEvent, awaitHello, welcomeLink } from '../link/accept.js';
import type { FrameLink, TransportName } from '../link/frame-link.js';
import { LinkListener } from '../link/listener.js';
import { ServedChannel } from '../media/served-channel.js';
import type { TlsOptions } from '../transport/tcp.js';
import { AudioOutbox, ReliableOutbox, VideoOutbox, type Outbox } from '../media/outbox.js';
import { Spool } from '../media/spool.js';
import { JpegSplitter, jpegDimensions } from '../protocol/jpeg-splitter.js';
import { DEFAULT_TIMEOUTS, invalid, newSessionKey, silentLogger, type Logger } from '../options.js';
import { Authenticator, type AuthOptions } from './auth.js';
import { Client } from './client.js';
import { GroupError, GroupRegistry } from './groups.js';
import { isSystemCommand, MAX_SERVER_COMMAND, Notice, SystemCommand, listParams } from '../protocol/system-commands.js';

/** Per-client, per-type buffer sizes in bytes (BEHAVIOUR.md section 5). */
export interface BufferOptions {
  /** @default 819200 */
  video?: number;
  /** @default 1638400 */
  audio?: number;
  /** @default 819200 */
  command?: number;
  /** @default 8192000 */
  data?: number;
  /** @default 10485760 */
  file?: number;
}

/** Options of a MediaServer (docs/api.md). */
export interface MediaServerOptions {
  /** Address to bind. @default '::' */
  host?: string;
  /** TCP port; false switches it off. @default 0 (any free port) */
  tcpPort?: number | false;
  /** HTTP port (camwire links, /stats, /metrics); false switches it off. @default 0 */
  httpPort?: number | false;
  /** UDP port for pushing senders; false switches it off. @default 0 */
  udpPort?: number | false;
  /** TLS for the TCP and HTTP ports. */
  tls?: TlsOptions;
  /** Most groups at once. @default 1000 */
  maxGroups?: number;
  /** Most clients known at once (online or remembered). @default 10000 */
  maxClients?: number;
  /** Keep a client's contact lists after it disconnects. @default false */
  keepClientInfo?: boolean;
  /** Per-client, per-type buffers. */
  buffers?: BufferOptions;
  /** Per-type timeouts in ms (acknowledgements, stalled readers). @default as BEHAVIOUR.md */
  timeouts?: Partial<Record<MediaTypeName, number>>;
  /** Require credentials: users, and/or a verify hook. @default none: anyone may connect */
  auth?: AuthOptions;
  /** Largest frame payload. @default 8 MiB */
  maxPayload?: number;
  /** @default 5000 */
  keepaliveMs?: number;
  /** @default 15000 */
  deadMs?: number;
  /** A connection must send its HELLO within this. @default 10000 */
  handshakeTimeoutMs?: number;
  /** The `from` id of notifications the server sends. @default 'server' */
  serverId?: string;
  /** Folder for spooled file data (queued file chunks beyond 256 KiB per reader go to disk). @default os.tmpdir() */
  spoolDir?: string;
  /**
   * Extra HTTP routes on the HTTP port (a web viewer, say): return true when the request was
   * handled. Runs before /stats and /metrics.
   */
  httpHandler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  logger?: Logger;
}

/** A client as the server reports it. */
export interface ClientInfo {
  id: string;
  user?: string;
  online: boolean;
  /** Receiver channels open. */
  channels: MediaTypeName[];
  /** Sender connections open. */
  pushLinks: number;
  groups: string[];
  defaultReceivers: string[];
  allowedSenders: string[] | 'all';
  in: Record<MediaTypeName, { frames: number; bytes: number }>;
  out: Record<MediaTypeName, { frames: number; bytes: number }>;
  dropped: Record<MediaTypeName, number>;
}

/** A video frame as a server tap sees it. */
export interface VideoTap {
  from: string;
  mediaIndex: number;
  imageType: string;
  width: number;
  height: number;
  keyframe: boolean;
  /** Sender clock, ms since the epoch. */
  timestamp: number;
  /** The image bytes: a view of the received frame. */
  data: Buffer;
}

/** Where a server command came from. */
export interface ServerCommandMeta {
  from: string;
  to: string;
  group: string;
  mediaIndex: number;
}

/** Events of a MediaServer. */
/** Connection events carry sessionKey 0 and the client's key as remoteSessionKey (the server accepts). */
export interface MediaServerEvents extends ConnectionEvents {
  /** A client's receiver opened its first channel. */
  clientConnected: [info: ClientInfo];
  /** A client's receiver closed its last channel. */
  clientDisconnected: [info: ClientInfo];
  /** A command named RVSU_... addressed to the server itself. */
  serverCommand: [cmd: CommandMessage, meta: ServerCommandMeta];
}

const DEFAULT_BUFFERS: Required<BufferOptions> = { video: 819_200, audio: 1_638_400, command: 819_200, data: 8_192_000, file: 10_485_760 };

/** MediaServer: the relay. */
export class MediaServer extends EventEmitter<MediaServerEvents> {
  readonly #o: {
    host: string;
    ports: Record<'tcp' | 'http' | 'udp', number | false>;
    tls: TlsOptions | undefined;
    keepClientInfo: boolean;
    maxClients: number;
    buffers: Required<BufferOptions>;
    timeouts: Record<MediaTypeName, number>;
    maxPayload: number;
    keepaliveMs: number;
    deadMs: number;
    handshakeMs: number;
    serverId: string;
    spoolDir: string | undefined;
    httpHandler: MediaServerOptions['httpHandler'];
    logger: Logger;
  };
  readonly #videoTaps = new Set<(v: VideoTap) => void>();
  readonly #auth: Authenticator | undefined;
  readonly #groups: GroupRegistry;
  readonly #clients = new Map<string, Client>();
  readonly #listeners = new Map<TransportName, LinkListener>();
  readonly #links = new Set<FrameLink>();
  #sessionKey = 0n;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  readonly #unrouted = { video: 0, audio: 0, command: 0, file: 0, data: 0 } as Record<MediaTypeName, number>;
  readonly #metrics = new Registry();
  readonly #m: { frames: Counter; bytes: Counter; drops: Counter; clients: Gauge; links: Gauge; groups: Gauge };

  /** Creates a MediaServer. Throws a ConfigError naming a bad option. */
  constructor(o: MediaServerOptions = {}) {
    super();
    const port = (name: string, v: number | false | undefined): number | false => {
      if (v === false) return false;
      if (v === undefined) return 0;
      if (!Number.isInteger(v) || v < 0 || v > 65535) throw invalid(name, 'must be a port number or false');
      return v;
    };
    const buffers = { ...DEFAULT_BUFFERS };
    for (const [k, v] of Object.entries(o.buffers ?? {})) {
      if (!(k in buffers)) throw invalid('buffers', `unknown media type ${k}`);
      if (typeof v !== 'number' || !(v >= 1024)) throw invalid(`buffers.${k}`, 'must be at least 1024 bytes');
      buffers[k as MediaTypeName] = v;
    }
    const timeouts = { ...DEFAULT_TIMEOUTS };
    for (const [k, v] of Object.entries(o.timeouts ?? {})) {
      if (!(k in timeouts)) throw invalid('timeouts', `unknown media type ${k}`);
      if (typeof v !== 'number' || !(v > 0)) throw invalid(`timeouts.${k}`, 'must be a positive number of ms');
      timeouts[k as MediaTypeName] = v;
    }
    const int = (name: string, v: number | undefined, def: number, min: number): number => {
      if (v === undefined) return def;
      if (!Number.isInteger(v) || v < min) throw invalid(name, `must be an integer >= ${min}`);
      return v;
    };
    this.#o = {
      host: o.host ?? '::',
      ports: { tcp: port('tcpPort', o.tcpPort), http: port('httpPort', o.httpPort), udp: port('udpPort', o.udpPort) },
      tls: o.tls,
      keepClientInfo: o.keepClientInfo ?? false,
      maxClients: int('maxClients', o.maxClients, 10000, 1),
      buffers,
      timeouts,
      maxPayload: int('maxPayload', o.maxPayload, 8 * 1024 * 1024, 1024),
      keepaliveMs: int('keepaliveMs', o.keepaliveMs, 5000, 0),
      deadMs: int('deadMs', o.deadMs, 15000, 0),
      handshakeMs: int('handshakeTimeoutMs', o.handshakeTimeoutMs, 10000, 1),
      serverId: o.serverId ?? 'server',
      spoolDir: o.spoolDir,
      httpHandler: o.httpHandler,
      logger: o.logger ?? silentLogger,
    };
    if (Object.values(this.#o.ports).every((p) => p === false)) throw invalid('tcpPort', 'at least one of tcpPort, httpPort, udpPort must be on');
    try {
      this.#auth = o.auth ? new Authenticator(o.auth) : undefined;
    } catch (err) {
      throw invalid('auth', (err as Error).message);
    }
    this.#groups = new GroupRegistry(int('maxGroups', o.maxGroups, 1000, 0));
    const registers = [this.#metrics];
    this.#m = {
      frames: new Counter({ name: 'camwire_frames_total', help: 'Messages by direction and media type', labelNames: ['direction', 'type'], registers }),
      bytes: new Counter({ name: 'camwire_bytes_total', help: 'Payload bytes by direction and media type', labelNames: ['direction', 'type'], registers }),
      drops: new Counter({ name: 'camwire_dropped_total', help: 'Messages dropped or refused, by media type and reason', labelNames: ['type', 'reason'], registers }),
      clients: new Gauge({ name: 'camwire_clients_online', help: 'Clients whose receiver is connected', registers, collect: () => this.#m.clients.set(this.#online().length) }),
      links: new Gauge({ name: 'camwire_links', help: 'Open connections', registers, collect: () => this.#m.links.set(this.#links.size) }),
      groups: new Gauge({ name: 'camwire_groups', help: 'Groups', registers, collect: () => this.#m.groups.set(this.#groups.size) }),
    };
  }

  /** Bound ports (0 for a port that is off). */
  get ports(): { tcp: number; http: number; udp: number } {
    return { tcp: this.#listeners.get('tcp')?.port ?? 0, http: this.#listeners.get('http')?.port ?? 0, udp: this.#listeners.get('udp')?.port ?? 0 };
  }

  /** Starts every enabled listener. Rejects (and stops what started) if a port cannot be bound. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(ErrorCode.NOT_STARTED, `start() called on a server that is ${this.#state}`);
    this.#state = 'starting';
    this.#sessionKey = newSessionKey();
    try {
      for (const transport of ['tcp', 'http', 'udp'] as const) {
        const port = this.#o.ports[transport];
        if (port === false) continue;
        const l = await LinkListener.open(
          {
            transport,
            host: this.#o.host,
            port,
            tls: transport === 'udp' ? undefined : this.#o.tls,
            link: { maxPayload: this.#o.maxPayload, keepaliveMs: this.#o.keepaliveMs, deadMs: this.#o.deadMs },
            http: { maxPollMs: 30000 },
            udp: { maxPayload: this.#o.maxPayload },
            httpFallback: (req, res) => this.#http(req, res),
          },
          { onLink: (link) => this.#accept(link), onBadInput: (err, peer) => this.#bad(err, peer) },
        );
        this.#listeners.set(transport, l);
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#state = 'started';
  }

  /** Stops: closes every connection and listener. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const l of [...this.#links]) l.close(CloseCode.GOING_AWAY, 'server stopping');
    await Promise.all([...this.#listeners.values()].map((l) => l.close(CloseCode.GOING_AWAY, 'server stopping')));
  }

  // ------------------------------------------------------------------ application API

  /** Lists clients (online, or remembered with keepClientInfo or permanent group membership). */
  clients(): ClientInfo[] {
    return [...this.#clients.values()].map((c) => this.#info(c));
  }

  /** Disconnects a client: closes its receiver channels and sender connections. Returns false if unknown. */
  kick(id: string, reason = 'kicked by the server'): boolean {
    const c = this.#clients.get(id);
    if (!c) return false;
    for (const ch of [...c.channels.values()]) ch.link.close(CloseCode.NOT_ALLOWED, reason);
    for (const l of [...c.pushLinks]) l.close(CloseCode.NOT_ALLOWED, reason);
    return true;
  }

  /** Sends a command from the server to a client's receiver; resolves when it acknowledged it. */
  sendCommand(to: string, cmd: Command, mediaIndex = 0): Promise<void> {
    const c = this.#clients.get(to);
    const ch = c?.channels.get('command');
    if (!ch) return Promise.reject(new DeliveryError(ErrorCode.DELIVERY_REFUSED, `client ${JSON.stringify(to)} has no command channel open`, 0));
    return ch.submit(this.#frame('command', encodeCommand(cmd), { to, mediaIndex })).then(() => undefined);
  }

  /** Counters for the JSON stats endpoint. */
  stats(): { clients: ClientInfo[]; online: number; links: number; groups: Array<{ id: string; name: string; owner: string; members: string[] }>; unrouted: Record<MediaTypeName, number> } {
    return {
      clients: this.clients(),
      online: this.#online().length,
      links: this.#links.size,
      groups: this.#groups.all().map((g) => ({ id: g.id, name: g.name, owner: g.owner, members: [...g.members.keys()] })),
      unrouted: { ...this.#unrouted },
    };
  }

  /**
   * Calls `fn` for every video frame a client pushes, whether or not anyone reads it (for MJPEG
   * endpoints and viewers). Returns the function that stops it. `fn` must not keep the frame's
   * buffer beyond the call without knowing it is a view of the received data.
   */
  onVideo(fn: (v: VideoTap) => void): () => void {
    this.#videoTaps.add(fn);
    return () => this.#videoTaps.delete(fn);
  }

  /** The Prometheus registry of this server (no global state: one per server). */
  get metrics(): Registry {
    return this.#metrics;
  }

  // ------------------------------------------------------------------ connections

  #online(): Client[] {
    return [...this.#clients.values()].filter((c) => c.online);
  }

  #client(id: string): Client | undefined {
    let c = this.#clients.get(id);
    if (!c) {
      if (this.#clients.size >= this.#o.maxClients) this.#forgetOne();
      if (this.#clients.size >= this.#o.maxClients) return undefined;
      c = new Client(id);
      this.#clients.set(id, c);
    }
    return c;
  }

  /** Makes room by forgetting the oldest offline client that has nothing to keep. */
  #forgetOne(): void {
    for (const c of this.#clients.values()) {
      if (!c.online && c.pushLinks.size === 0 && this.#groups.of(c.id).length === 0) {
        this.#clients.delete(c.id);
        return;
      }
    }
  }

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
    const client = this.#client(f.from);
    if (!client) return refuse(CloseCode.REFUSED, `the server is full (${this.#o.maxClients} clients)`);
    if (this.#auth) {
      // An id bound to another authenticated user is not taken over.
      if (client.user !== undefined && client.user !== user && (client.online || client.pushLinks.size)) {
        return refuse(CloseCode.AUTH_FAILED, `client id ${JSON.stringify(f.from)} is in use by another user`);
      }
      client.user = user;
    }
    const welcome = welcomeLink(link, f, { sessionKey: this.#sessionKey, id: this.#o.serverId, stallMs: this.#o.timeouts[type] }, ev, (out) => this.emit('disconnect', out));
    if (hello.role === 'pull') this.#openChannel(link, client, type, f.sessionKey);
    else this.#openPush(link, client, welcome);
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
      if (!client.online) this.#offline(client);
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
      // File data waiting for a slow reader goes to disk, not memory.
      spool: type === 'file' ? new Spool(this.#o.spoolDir) : undefined,
    });
  }

  /** A client's receiver is gone: the server says goodbye for it, and it leaves temporary groups. */
  #offline(c: Client): void {
    if (c.helloDefault) for (const id of c.defaultReceivers) this.#notify(id, Notice.USER_EXIT, { user: c.id });
    if (c.helloAllowed && c.allowedSenders) for (const id of c.allowedSenders) this.#notify(id, Notice.USER_EXIT, { user: c.id });
    c.helloDefault = c.helloAllowed = false;
    if (c.pushLinks.size === 0) this.#leaveGroups(c);
    if (!this.#o.keepClientInfo) {
      c.defaultReceivers.clear();
      c.allowedSenders = undefined;
    }
    this.emit('clientDisconnected', this.#info(c));
    if (!this.#o.keepClientInfo && c.pushLinks.size === 0 && this.#groups.of(c.id).length === 0) this.#clients.delete(c.id);
  }

  /** The client leaves every group it is a temporary member of; the members are told. */
  #leaveGroups(c: Client): void {
    for (const g of this.#groups.disconnect(c.id)) {
      for (const m of g.members.keys()) this.#notify(m, Notice.USER_LEAVES_GROUP, { group: g.id, user: c.id });
    }
  }

  #openPush(link: FrameLink, client: Client, welcome: FrameInit): void {
    client.pushLinks.add(link);
    link.on('close', () => {
      client.pushLinks.delete(link);
      if (client.online || client.pushLinks.size > 0) return;
      // A client that only sends is gone when its last connection is: it leaves temporary groups.
      this.#leaveGroups(client);
      if (!this.#o.keepClientInfo && this.#groups.of(client.id).length === 0) this.#clients.delete(client.id);
    });
    link.on('frame', (f) => {
      if (f.kind === Kind.HELLO && !link.reliable) {
        link.send(welcome);
        return;
      }
      if (f.kind !== Kind.DATA) {
        if (f.kind === Kind.HELLO || f.kind === Kind.WELCOME) this.#fail(link, new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `unexpected message kind ${f.kind}`, CloseCode.UNEXPECTED_MESSAGE));
        return;
      }
      try {
        this.#route(client, link, f);
      } catch (err) {
        if (err instanceof ProtocolError) this.#fail(link, err);
        else throw err;
      }
    });
  }

  #fail(link: FrameLink, err: ProtocolError): void {
    link.fail(err);
  }

  // ------------------------------------------------------------------ routing

  /** Recently relayed reliable items per push link (UDP retransmissions must not be relayed twice). */
  readonly #inflight = new WeakMap<FrameLink, Map<number, Buffer | null>>();

  #route(from: Client, link: FrameLink, f: Frame): void {
    const type = mediaTypeName(f.mediaType);
    if (!type) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, 'DATA without a media type');
    const wantsAck = (f.flags & Flag.ACK_REQUESTED) !== 0;
    from.counters.in[type].frames++;
    from.counters.in[type].bytes += f.payload.length;
    this.#m.frames.inc({ direction: 'in', type });
    this.#m.bytes.inc({ direction: 'in', type }, f.payload.length);
    const seen = wantsAck && !link.reliable ? this.#seen(link) : undefined;
    if (seen?.has(f.seq)) {
      // A retransmission: answer again if the answer is known, otherwise the first copy is still travelling.
      const answer = seen.get(f.seq);
      if (answer) link.send({ kind: Kind.ACK, mediaType: f.mediaType, seq: f.seq, payload: answer });
      return;
    }
    seen?.set(f.seq, null);
    const ack = (reply?: Command): void => ackRaw(reply ? encodeCommand(reply) : Buffer.alloc(0));
    const ackRaw = (payload: Buffer): void => {
      if (!wantsAck) return;
      seen?.set(f.seq, payload);
      if (seen && seen.size > 1024) seen.delete(seen.keys().next().value as number);
      link.send({ kind: Kind.ACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload });
    };
    const nack = (code: number, reason: string): void => {
      seen?.delete(f.seq);
      this.#m.drops.inc({ type, reason: 'refused' });
      if (wantsAck) link.send({ kind: Kind.NACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload: encodeReason(code, reason) });
    };

    if (type === 'command') {
      const cmd = decodeCommand(f.payload);
      if (cmd.name.startsWith('RVSU_')) {
        if (f.payload.length + 256 > MAX_SERVER_COMMAND) return nack(CloseCode.REFUSED, `server commands are limited to ${MAX_SERVER_COMMAND} bytes`);
        this.emit('serverCommand', cmd, { from: from.id, to: f.to, group: f.group, mediaIndex: f.mediaIndex });
        return ack();
      }
      if (cmd.name.startsWith('RVS_')) {
        try {
          return ack(this.#system(from, cmd));
        } catch (err) {
          const reason = (err as Error).message;
          this.#notify(from.id, Notice.ERROR, { code: (err as CamwireError).code ?? ErrorCode.SERVER_REFUSED, message: reason, request: cmd.name });
          return nack(CloseCode.REFUSED, reason);
        }
      }
      if (isSystemCommand(cmd.name)) return nack(CloseCode.NOT_ALLOWED, 'clients may not send RV_ or RVS_ commands');
    }

    if (type === 'video' || type === 'audio') {
      this.#fanOut(from, f, type);
      return;
    }
    const targets = this.#targets(from, f, type);
    const init = this.#forward(from, f);
    if (targets.length === 0) {
      this.#unrouted[type]++;
      return nack(CloseCode.NOT_ALLOWED, this.#why(from, f));
    }
    Promise.all(
      targets.map((t) =>
        t.channels
          .get(type)!
          .submit(init)
          .then((info) => {
            this.#count(t, type, f.payload.length);
            return info;
          })
          .catch((err: CamwireError) => {
            t.counters.dropped[type]++;
            throw new DeliveryError(err.code, `${t.id}: ${err.message}`, f.seq);
          }),
      ),
    ).then(
      (infos) => {
        // A file START's answer says where the reader wants the transfer to continue; readers
        // that disagree cannot share one transfer.
        const offsets = new Set(infos.map((i) => i.resumeOffset));
        if (offsets.size > 1) return nack(CloseCode.REFUSED, 'the receivers want to resume at different offsets: send the file to each of them');
        const [resume] = offsets;
        if (resume !== undefined) return ackRaw(encodeAck(resume));
        return ack();
      },
      (err: Error) => nack(CloseCode.REFUSED, err.message),
    );
  }

  /** The frame as it goes on to readers: attributed to the sending client, whatever it claimed. */
  #forward(from: Client, f: Frame): FrameInit {
    return {
      kind: Kind.DATA,
      mediaType: f.mediaType,
      mediaIndex: f.mediaIndex,
      flags: f.flags & Flag.KEYFRAME,
      timestamp: f.timestamp,
      from: from.id,
      to: f.to,
      group: f.group,
      payload: f.payload,
    };
  }

  /** Video and audio: into each reader's latest-wins or drop-oldest queue; never waits, never fails. */
  #fanOut(from: Client, f: Frame, type: 'video' | 'audio'): void {
    if (type === 'video' && this.#videoTaps.size > 0) this.#tap(from.id, f);
    const targets = this.#targets(from, f, type);
    if (targets.length === 0) {
      this.#unrouted[type]++;
      this.#m.drops.inc({ type, reason: 'unrouted' });
    }
    const init = this.#forward(from, f);
    let dropped = 0;
    for (const t of targets) {
      dropped += t.channels.get(type)!.offer(init);
      t.counters.out[type].frames++;
      t.counters.out[type].bytes += f.payload.length;
    }
    // Metrics once per fan-out, not per reader: label lookups cost more than the copy they count.
    if (targets.length) {
      this.#m.frames.inc({ direction: 'out', type }, targets.length);
      this.#m.bytes.inc({ direction: 'out', type }, targets.length * f.payload.length);
    }
    if (dropped) this.#m.drops.inc({ type, reason: 'slow_reader' }, dropped);
  }

  /**
   * POST /ingest/<clientId>[?to=&group=&mediaIndex=]: a stream of JPEG images (ffmpeg's
   * `-f mpjpeg` or `-f mjpeg` output, or any multipart JPEG stream) published as that client's video.
   */
  async #ingest(req: http.IncomingMessage, res: http.ServerResponse, id: string, query: URLSearchParams): Promise<void> {
    const fail = (status: number, msg: string, headers: http.OutgoingHttpHeaders = {}): void => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain', connection: 'close', ...headers }).end(`${msg}\n`);
      req.resume();
    };
    if (!id || Buffer.byteLength(id) > 64) return fail(400, 'ingest needs a client id: POST /ingest/<clientId>');
    let user: string | undefined;
    if (this.#auth) {
      const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      const [u, ...pw] = m ? Buffer.from(m[1], 'base64').toString('utf8').split(':') : [];
      const r = m ? await this.#auth.check({ user: u, password: pw.join(':'), clientId: id, transport: 'http', remoteAddress: req.socket.remoteAddress ?? '' }) : { refused: 'credentials required' };
      if ('refused' in r) return fail(401, r.refused, { 'www-authenticate': 'Basic realm="camwire"' });
      user = r.user;
    }
    const client = this.#client(id);
    if (!client) return fail(503, 'the server is full');
    if (user !== undefined) {
      if (client.user !== undefined && client.user !== user && (client.online || client.pushLinks.size)) return fail(403, `client id ${id} is in use by another user`);
      client.user = user;
    }
    const mediaIndex = Math.min(Math.max(Number(query.get('mediaIndex') ?? 0) || 0, 0), 0xffff);
    const to = query.get('to') ?? '';
    const group = query.get('group') ?? '';
    // Publishing to a group makes the publisher a member while it publishes (members speak in groups).
    let joined = false;
    if (group) {
      try {
        joined = this.#groups.join(id, group, { password: query.get('password') ?? '' }).added;
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
        this.#m.frames.inc({ direction: 'in', type: 'video' });
        this.#m.bytes.inc({ direction: 'in', type: 'video' }, payload.length);
        this.#fanOut(client, f, 'video');
      },
      { maxBytes: this.#o.maxPayload },
    );
    this.#o.logger.info({ client: id, from: req.socket.remoteAddress }, 'ingest started');
    req.on('data', (c: Buffer) => splitter.push(c));
    req.on('close', () => {
      if (joined) this.#groups.leave(id, group);
      if (!client.online && client.pushLinks.size === 0 && !this.#o.keepClientInfo && this.#groups.of(id).length === 0) this.#clients.delete(id);
    });
    req.on('end', () => {
      this.#o.logger.info({ client: id, frames }, 'ingest ended');
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${frames} frames\n`);
    });
    req.on('error', () => res.destroy());
  }

  #tap(from: string, f: Frame): void {
    const { header, data } = decodeVideo(f.payload);
    const v: VideoTap = {
      from,
      mediaIndex: f.mediaIndex,
      imageType: header.imageType,
      width: header.width,
      height: header.height,
      keyframe: (f.flags & Flag.KEYFRAME) !== 0,
      timestamp: f.timestamp,
      data,
    };
    for (const fn of this.#videoTaps) fn(v);
  }

  #seen(link: FrameLink): Map<number, Buffer | null> {
    let m = this.#inflight.get(link);
    if (!m) this.#inflight.set(link, (m = new Map()));
    return m;
  }

  #count(t: Client, type: MediaTypeName, bytes: number): void {
    t.counters.out[type].frames++;
    t.counters.out[type].bytes += bytes;
    this.#m.frames.inc({ direction: 'out', type });
    this.#m.bytes.inc({ direction: 'out', type }, bytes);
  }

  /**
   * Who gets a message (BEHAVIOUR.md section 5): `to`, else every other member of `group`, else
   * the sender's default receivers; only online clients with a channel of the type whose
   * allowed-senders filter lets the sender in.
   */
  #targets(from: Client, f: Frame, type: MediaTypeName): Client[] {
    let ids: Iterable<string>;
    if (f.to) ids = [f.to];
    else if (f.group) {
      // Only members speak in a group: a password would protect nothing otherwise.
      const g = this.#groups.get(f.group);
      ids = g?.members.has(from.id) ? [...g.members.keys()].filter((id) => id !== from.id) : [];
    } else ids = from.defaultReceivers;
    const out: Client[] = [];
    for (const id of ids) {
      const c = this.#clients.get(id);
      if (!c || !c.channels.has(type)) {
        if (c) c.counters.dropped[type]++;
        continue;
      }
      if (!c.accepts(from.id)) {
        c.counters.dropped[type]++;
        this.#m.drops.inc({ type, reason: 'not_allowed' });
        continue;
      }
      out.push(c);
    }
    return out;
  }

  #why(from: Client, f: Frame): string {
    if (f.to) return `client ${JSON.stringify(f.to)} is not online to take this, or does not accept it from ${from.id}`;
    if (f.group) {
      return this.#groups.get(f.group)?.members.has(from.id)
        ? `no other member of group ${JSON.stringify(f.group)} can take this`
        : `${from.id} is not a member of group ${JSON.stringify(f.group)}`;
    }
    return from.defaultReceivers.size ? 'none of your default receivers can take this' : 'no addressee, no group and no default receivers: nowhere to send this';
  }

  // ------------------------------------------------------------------ system commands

  /** Handles an RVS_ request; returns the reply (also sent as a notification where RVMedia does). */
  #system(c: Client, cmd: CommandMessage): Command | undefined {
    const p = cmd.params;
    const str = (k: string): string => (typeof p[k] === 'string' ? (p[k] as string) : '');
    const id = str('id');
    switch (cmd.name) {
      case SystemCommand.JOIN_GROUP: {
        const group = str('group');
        const { group: g, added } = this.#groups.join(c.id, group, {
          permanent: p.permanent === true,
          name: str('name'),
          password: str('password'),
          onlyExisting: p.onlyExisting === true,
        });
        if (added) for (const m of g.members.keys()) if (m !== c.id) this.#notify(m, Notice.USER_JOINS_GROUP, { group, user: c.id });
        const reply = { name: Notice.GROUP_INFO, params: { group, owner: g.owner, groupName: g.name } };
        this.#notify(c.id, reply.name, reply.params);
        return reply;
      }
      case SystemCommand.LEAVE_GROUP: {
        const group = str('group');
        const g = this.#groups.leave(c.id, group);
        if (g) for (const m of g.members.keys()) this.#notify(m, Notice.USER_LEAVES_GROUP, { group, user: c.id });
        return undefined;
      }
      case SystemCommand.GET_GROUP_USERS: {
        const group = str('group');
        const g = this.#groups.get(group);
        if (!g) throw new GroupError(ErrorCode.GROUP_NOT_FOUND, `group ${JSON.stringify(group)} does not exist`);
        const users = [...g.members.keys()].filter((m) => p.online !== true || this.#clients.get(m)?.online);
        const reply = { name: Notice.GROUP_USERS, params: { group, online: p.online === true, ...listParams(users) } };
        this.#notify(c.id, reply.name, reply.params);
        return reply;
      }
      case SystemCommand.GET_GROUP_INFO: {
        const group = str('group');
        const g = this.#groups.get(group);
        if (!g) throw new GroupError(ErrorCode.GROUP_NOT_FOUND, `group ${JSON.stringify(group)} does not exist`);
        const reply = { name: Notice.GROUP_INFO, params: { group, owner: g.owner, groupName: g.name } };
        this.#notify(c.id, reply.name, reply.params);
        return reply;
      }
      case SystemCommand.GET_ALL_GROUPS: {
        const reply = { name: Notice.ALL_GROUPS, params: listParams(this.#groups.all().map((g) => g.id), 'GUIDGroup') };
        this.#notify(c.id, reply.name, reply.params);
        return reply;
      }
      case SystemCommand.GET_USERS: {
        const online = p.online === true;
        const users = [...this.#clients.values()].filter((x) => !online || x.online).map((x) => x.id);
        const reply = { name: online ? Notice.ALL_ONLINE_USERS : Notice.ALL_USERS, params: listParams(users) };
        this.#notify(c.id, reply.name, reply.params);
        return reply;
      }
      case SystemCommand.DEFAULT_RECEIVERS:
        this.#list(c, 'default', str('op'), id, p);
        return undefined;
      case SystemCommand.ALLOWED_SENDERS:
        this.#list(c, 'allowed', str('op'), id, p);
        return undefined;
      case SystemCommand.MEDIA_ACCESS: {
        const op = str('op');
        const dataType = typeof p.dataType === 'number' ? p.dataType : 0;
        if (op === 'request' || op === 'cancelRequest') {
          const targets = id ? [id] : this.#groups.get(str('group'))?.members.keys() ?? [];
          let n = 0;
          for (const t of targets) {
            if (t === c.id) continue;
            if (this.#notify(t, op === 'request' ? Notice.MEDIA_ACCESS_REQUEST : Notice.MEDIA_ACCESS_CANCEL_REQUEST, { user: c.id, group: str('group'), dataType })) n++;
          }
          if (n === 0) throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `no online client to ask (${id || str('group')})`);
          return undefined;
        }
        if (op === 'allow') c.defaultReceivers.add(id);
        else if (op === 'cancel') c.defaultReceivers.delete(id);
        else throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `unknown media access operation ${op}`);
        return undefined;
      }
      default:
        throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `unknown system command ${cmd.name}`);
    }
  }

  /** Contact-list operations on a client's default receivers or allowed senders. */
  #list(c: Client, which: 'default' | 'allowed', op: string, id: string, p: Record<string, ParamValue>): void {
    const ensureAllowed = (): Set<string> => (c.allowedSenders ??= new Set());
    switch (op) {
      case 'add':
        if (!id) throw new CamwireError(ErrorCode.DELIVERY_REFUSED, 'a client id is required');
        if (which === 'default') c.defaultReceivers.add(id);
        else ensureAllowed().add(id);
        return;
      case 'remove':
        if (which === 'default') c.defaultReceivers.delete(id);
        else c.allowedSenders?.delete(id);
        return;
      case 'clear':
        if (which === 'default') c.defaultReceivers.clear();
        else c.allowedSenders = p.allowAll === false ? new Set() : undefined;
        return;
      case 'hello':
      case 'goodbye': {
        const ids = which === 'default' ? c.defaultReceivers : c.allowedSenders ?? new Set<string>();
        for (const to of ids) this.#notify(to, op === 'hello' ? Notice.USER_ENTER : Notice.USER_EXIT, { user: c.id });
        if (which === 'default') c.helloDefault = op === 'hello';
        else c.helloAllowed = op === 'hello';
        return;
      }
      default:
        throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `unknown list operation ${op}`);
    }
  }

  /** Sends a notification (an RV_ command) to a client's receiver. Returns false if it has no command channel. */
  #notify(to: string, name: string, params: Record<string, ParamValue>): boolean {
    const ch = this.#clients.get(to)?.channels.get('command');
    if (!ch) return false;
    ch.submit(this.#frame('command', encodeCommand({ name, params }), { to })).catch((err: Error) =>
      this.#o.logger.debug({ to, name, err: err.message }, 'notification not delivered'),
    );
    return true;
  }

  #frame(type: MediaTypeName, payload: Buffer, o: { to: string; mediaIndex?: number }): FrameInit {
    return { kind: Kind.DATA, mediaType: MediaType[type], mediaIndex: o.mediaIndex ?? 0, timestamp: Date.now(), from: this.#o.serverId, to: o.to, payload };
  }

  // ------------------------------------------------------------------ observability

  #info(c: Client): ClientInfo {
    const info: ClientInfo = {
      id: c.id,
      online: c.online,
      channels: [...c.channels.keys()],
      pushLinks: c.pushLinks.size,
      groups: this.#groups.of(c.id).map((g) => g.id),
      defaultReceivers: [...c.defaultReceivers],
      allowedSenders: c.allowedSenders ? [...c.allowedSenders] : 'all',
      in: structuredClone(c.counters.in),
      out: structuredClone(c.counters.out),
      dropped: c.drops(),
    };
    if (c.user !== undefined) info.user = c.user;
    return info;
  }

  /** GET /stats (JSON) and GET /metrics (Prometheus) on the HTTP port. */
  #http(req: http.IncomingMessage, res: http.ServerResponse): void {
    const [path, query = ''] = (req.url ?? '').split('?', 2);
    if ((req.method === 'POST' || req.method === 'PUT') && path.startsWith('/ingest/')) {
      void this.#ingest(req, res, decodeURIComponent(path.slice('/ingest/'.length)), new URLSearchParams(query));
      return;
    }
    if (!this.#auth) {
      this.#httpRoutes(req, res, path);
      return;
    }
    // With users configured, the viewer, its API, /stats and /metrics need a login too (HTTP Basic).
    void this.#httpUser(req).then((user) => {
      if (user) this.#httpRoutes(req, res, path);
      else res.writeHead(401, { 'www-authenticate': 'Basic realm="camwire", charset="UTF-8"', 'content-type': 'text/plain' }).end('login required\n');
    });
  }

  /** Logins already checked, by Authorization header, for a minute: scrypt is slow on purpose. */
  readonly #httpLogins = new Map<string, { user: string; until: number }>();

  async #httpUser(req: http.IncomingMessage): Promise<string | undefined> {
    const header = req.headers.authorization ?? '';
    const cached = this.#httpLogins.get(header);
    if (cached && cached.until > Date.now()) return cached.user;
    const m = /^Basic (.+)$/i.exec(header);
    if (!m || !this.#auth) return undefined;
    const [user, ...pw] = Buffer.from(m[1], 'base64').toString('utf8').split(':');
    const r = await this.#auth.check({ user, password: pw.join(':'), clientId: '', transport: 'http', remoteAddress: req.socket.remoteAddress ?? '' });
    if ('refused' in r) return undefined;
    if (this.#httpLogins.size >= 256) this.#httpLogins.delete(this.#httpLogins.keys().next().value as string);
    this.#httpLogins.set(header, { user: r.user, until: Date.now() + 60_000 });
    return r.user;
  }

  #httpRoutes(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    if (this.#o.httpHandler?.(req, res)) return;
    if (req.method === 'GET' && path === '/stats') {
      const body = JSON.stringify(this.stats(), null, 2);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      this.#metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.#metrics.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  #bad(err: CamwireError, peer: PeerInfo): void {
    this.#o.logger.warn({ err, ...peer }, 'bad input from peer');
    this.emit('protocolError', err, peer);
  }
}

