/**
 * Receiver: receives video, audio, commands, files and data. In push mode (sender-to-receiver)
 * it listens and accepts what senders push; in pull mode (receiver-to-sender) it opens one
 * channel per media type to each sender in `senders` (docs/behaviour.md, sections 3-4).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { CamwireError, CloseCode, ConfigError, ErrorCode, ProtocolError } from './errors.js';
import { perMediaType } from './events.js';
import type {
  AudioChunk,
  ConnectionEvents,
  CommandMessage,
  ConnectionEvent,
  FileDataInfo,
  FileEndInfo,
  FileStartInfo,
  MessageMeta,
  PeerInfo,
  VideoFrame,
} from './events.js';
import { Kind, MEDIA_TYPES, MediaType, mediaTypeName, type MediaTypeName } from './protocol/constants.js';
import type { Frame, FrameInit } from './protocol/frame.js';
import { encodeJson } from './protocol/messages.js';
import { acceptedEvent, awaitHello, welcomeLink } from './link/accept.js';
import { onProtocolFailure, type FrameLink } from './link/frame-link.js';
import { LinkClock, tickFor } from './link/link-clock.js';
import { LinkListener } from './link/listener.js';
import { PullSession, type SessionEventName } from './link/pull-session.js';
import { Inbound, type AnswerMemory, type InboundSink } from './media/inbound.js';
import { isSystemCommand, Notice, readList } from './protocol/system-commands.js';
import { AGENT, checkId, invalid, newSessionKey, resolveCommon, type CommonOptions, type ResolvedCommon } from './options.js';

/**
 * One entry of a receiver's `senders` list. Pull mode: a sender to connect to (host and port
 * required). Push mode: an accept filter (any field left out matches everything).
 */
export interface SenderEntry {
  host?: string;
  port?: number;
  /** The sender's client id: pull mode sends it as the addressee; push mode accepts only it. */
  clientId?: string;
  /** Push mode: accept only these media types from this sender. @default all */
  mediaTypes?: MediaTypeName[];
}

/** Options of a Receiver (docs/api.md). */
export interface ReceiverOptions extends CommonOptions {
  /** Pull targets (pull mode) or accept filters (push mode; empty = accept everyone). @default [] */
  senders?: SenderEntry[];
  /** Media types to receive; pull mode opens one channel for each. @default all five */
  receiveMediaTypes?: MediaTypeName[];
  /** Deliver RV_/RVS_ system commands to the application. @default false */
  showSystemCommands?: boolean;
  /** Write received files into this folder (resuming from partial files). @default none: events only */
  fileDir?: string;
  /**
   * Largest file a sender may announce (START); a larger one is refused (NACK 1204, the sender
   * gets CW_ERR_FILE_TOO_LARGE). Infinity = no limit. @default 4294967296 (4 GiB)
   */
  maxFileSize?: number;
  /**
   * With fileDir: free disk that must remain after a new transfer's bytes (and those still to
   * come of transfers in progress) are written; otherwise the START is refused (NACK 1205,
   * CW_ERR_FILE_NO_SPACE). @default 67108864 (64 MiB)
   */
  minFreeDiskBytes?: number;
  /** Push mode: most connections accepted at once. @default 1024 */
  maxLinks?: number;
  /** UDP: an incomplete frame is dropped (and counted) after this long. @default 2000 */
  reassemblyTimeoutMs?: number;
  /** UDP: memory for incomplete frames across all senders. @default 33554432 (32 MiB) */
  reassemblyBytes?: number;
}

/** Counters of a Receiver. */
export interface ReceiverStats {
  received: Record<MediaTypeName, { items: number; bytes: number }>;
  /** Messages dropped: addressed to another id, a type not received, or refused. */
  dropped: Record<MediaTypeName, number>;
  /** Open links (push: accepted connections; pull: open channels). */
  links: number;
  /** UDP only: frames dropped because a fragment never came, and malformed datagrams. */
  udp?: { incomplete: number; corrupt: number };
}

/** Events of a Receiver. */
export interface ReceiverEvents extends ConnectionEvents {
  openChannel: [ev: ConnectionEvent];
  closeChannel: [ev: ConnectionEvent];
  sessionConnected: [ev: ConnectionEvent];
  sessionDisconnected: [ev: ConnectionEvent];
  video: [frame: VideoFrame, meta: MessageMeta];
  audio: [chunk: AudioChunk, meta: MessageMeta];
  command: [cmd: CommandMessage, meta: MessageMeta];
  data: [data: Buffer, meta: MessageMeta];
  fileStart: [info: FileStartInfo, meta: MessageMeta];
  fileData: [info: FileDataInfo, meta: MessageMeta];
  fileEnd: [info: FileEndInfo, meta: MessageMeta];
  // From a MediaServer (docs/behaviour.md, section 5):
  /** Someone joined a group this client is in. */
  userJoinsGroup: [group: string, user: string, meta: MessageMeta];
  /** Someone left (or, if temporary, lost its connection to) a group this client is in. */
  userLeavesGroup: [group: string, user: string, meta: MessageMeta];
  /** Answer to getGroupUsers. */
  groupUsers: [group: string, users: string[], meta: MessageMeta];
  /** Answer to getGroupInfo (and to joinGroup). */
  groupInfo: [info: { group: string; owner: string; name: string }, meta: MessageMeta];
  /** Answer to getAllGroups. */
  allGroups: [groups: string[], meta: MessageMeta];
  /** Answer to getAllUsers. */
  allUsers: [users: string[], meta: MessageMeta];
  /** Answer to getAllOnlineUsers. */
  allOnlineUsers: [users: string[], meta: MessageMeta];
  /** A client that has this one on a contact list said hello (or came back). */
  userEnter: [user: string, meta: MessageMeta];
  /** A client that has this one on a contact list said goodbye, or its connection broke. */
  userExit: [user: string, meta: MessageMeta];
  /** A client asks for access to this client's media; allow with sender.allowMediaAccess(user). */
  mediaAccessRequest: [req: { user: string; group: string; dataType: number }, meta: MessageMeta];
  mediaAccessCancelRequest: [req: { user: string; group: string; dataType: number }, meta: MessageMeta];
  /** The server refused a request of this client's sender (the sender's promise rejects too). */
  serverError: [err: CamwireError, meta: MessageMeta];
}


/** Largest file a Receiver takes by default (maxFileSize). */
export const DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024 * 1024;
/** Free disk a Receiver with fileDir keeps by default (minFreeDiskBytes). */
export const DEFAULT_MIN_FREE_DISK = 64 * 1024 * 1024;

/** Receiver receives media from senders or a server. */
/** Push senders' reliable queues whose answers a Receiver remembers (section 3.3 of docs/protocol.md). */
const MAX_LANES = 256;

export class Receiver extends EventEmitter<ReceiverEvents> {
  readonly #o: ResolvedCommon;
  /** One timer for the keepalive, dead and stall checks of all this role's links. */
  readonly #clock: LinkClock;
  readonly #senders: SenderEntry[];
  readonly #types: MediaTypeName[];
  readonly #typeSet: ReadonlySet<MediaTypeName>;
  readonly #showSystem: boolean;
  readonly #fileDir: string | undefined;
  readonly #maxFileSize: number;
  readonly #minFreeDisk: number;
  /** Bytes still to come of the files being written into fileDir, on all links. */
  readonly #pendingDisk = { bytes: 0 };
  readonly #maxLinks: number;
  readonly #reassembly: { reassemblyTimeoutMs?: number; reassemblyBytes?: number };
  #sessionKey = 0n;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  #listener: LinkListener | undefined;
  readonly #sessions: PullSession[] = [];
  readonly #links = new Set<FrameLink>();
  readonly #stats = { received: perMediaType(() => ({ items: 0, bytes: 0 })), dropped: perMediaType(() => 0) };
  readonly #sink: InboundSink;
  readonly #busyFiles = new Set<string>();
  /**
   * Answers sent to each push sender's reliable queue (its HELLO's `lane`), kept across that
   * queue's links so that items resent on a new link are not delivered twice; least recently
   * used first, at most MAX_LANES queues.
   */
  readonly #lanes = new Map<string, AnswerMemory>();

  /** Creates a Receiver. Throws a ConfigError naming the bad option. */
  constructor(options: ReceiverOptions = {}) {
    super();
    this.#o = resolveCommon(options);
    this.#clock = new LinkClock(tickFor(this.#o.keepaliveMs, this.#o.deadMs));
    this.#types = [...(options.receiveMediaTypes ?? MEDIA_TYPES)];
    if (this.#types.length === 0) throw invalid('receiveMediaTypes', 'must name at least one media type');
    for (const t of this.#types) if (!MEDIA_TYPES.includes(t)) throw invalid('receiveMediaTypes', `unknown media type ${String(t)}`);
    this.#typeSet = new Set(this.#types);
    this.#senders = (options.senders ?? []).map((s, i) => {
      const e: SenderEntry = { ...s, clientId: checkId(`senders[${i}].clientId`, s.clientId) };
      if (this.#o.connection === 'receiver-to-sender') {
        if (!e.host || !e.port) throw invalid(`senders[${i}]`, 'needs host and port in receiver-to-sender (pull) mode');
      }
      return e;
    });
    if (this.#o.connection === 'receiver-to-sender' && this.#senders.length === 0) {
      throw invalid('senders', 'pull mode (receiver-to-sender) needs at least one sender to connect to');
    }
    this.#showSystem = options.showSystemCommands ?? false;
    this.#fileDir = options.fileDir;
    const int = (name: string, v: number | undefined, def: number | undefined, min: number): number | undefined => {
      if (v === undefined) return def;
      if (!Number.isInteger(v) || v < min) throw invalid(name, `must be an integer >= ${min}`);
      return v;
    };
    this.#maxLinks = int('maxLinks', options.maxLinks, 1024, 1)!;
    const maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    if (maxFileSize !== Infinity && (!Number.isInteger(maxFileSize) || maxFileSize < 1)) {
      throw invalid('maxFileSize', `must be a whole number of bytes >= 1, or Infinity for no limit; got ${String(maxFileSize)}`);
    }
    this.#maxFileSize = maxFileSize;
    this.#minFreeDisk = int('minFreeDiskBytes', options.minFreeDiskBytes, DEFAULT_MIN_FREE_DISK, 0)!;
    this.#reassembly = {
      reassemblyTimeoutMs: int('reassemblyTimeoutMs', options.reassemblyTimeoutMs, undefined, 1),
      reassemblyBytes: int('reassemblyBytes', options.reassemblyBytes, undefined, 64 * 1024),
    };
    const count = (t: MediaTypeName, n: number): void => {
      const s = this.#stats.received[t];
      s.items++;
      s.bytes += n;
    };
    this.#sink = {
      video: (v, m) => {
        count('video', v.data.length);
        this.emit('video', v, m);
      },
      audio: (a, m) => {
        count('audio', a.data.length);
        this.emit('audio', a, m);
      },
      command: (c, m) => {
        count('command', 0);
        if (isSystemCommand(c.name)) this.#notice(c, m);
        if (this.#showSystem || !isSystemCommand(c.name)) this.emit('command', c, m);
      },
      data: (d, m) => {
        count('data', d.length);
        this.emit('data', d, m);
      },
      fileStart: (f, m) => this.emit('fileStart', f, m),
      fileData: (f, m) => {
        count('file', f.data.length);
        this.emit('fileData', f, m);
      },
      fileEnd: (f, m) => this.emit('fileEnd', f, m),
      dropped: (t) => {
        if (t !== 'unknown') this.#stats.dropped[t]++;
      },
    };
  }

  /** The current session key (0n before start); pull mode renews it on each (re)connection. */
  get sessionKey(): bigint {
    return this.#sessionKey;
  }

  /** Push mode: the port this receiver listens on. */
  get port(): number {
    return this.#listener?.port ?? this.#o.port;
  }

  get clientId(): string {
    return this.#o.clientId;
  }

  /** Pull mode: true while every session has all its channels open. */
  get sessionConnected(): boolean {
    return this.#sessions.length > 0 && this.#sessions.every((s) => s.connected);
  }

  get stats(): ReceiverStats {
    const received = perMediaType(() => ({ items: 0, bytes: 0 }));
    for (const t of MEDIA_TYPES) received[t] = { ...this.#stats.received[t] };
    const s: ReceiverStats = { received, dropped: { ...this.#stats.dropped }, links: this.#links.size };
    const u = this.#listener?.udpStats;
    if (u) s.udp = { incomplete: u.incomplete, corrupt: u.corrupt };
    return s;
  }

  /** Starts: listens (push mode) or opens the pull sessions (pull mode). */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(ErrorCode.NOT_STARTED, `start() called on a receiver that is ${this.#state}`);
    this.#state = 'starting';
    this.#sessionKey = newSessionKey();
    try {
      if (this.#fileDir) fs.mkdirSync(this.#fileDir, { recursive: true });
      if (this.#o.connection === 'sender-to-receiver') {
        this.#listener = await LinkListener.open(
          {
            transport: this.#o.protocol,
            host: this.#o.host,
            port: this.#o.port,
            tls: this.#o.tls,
            link: { maxPayload: this.#o.maxPayload, keepaliveMs: this.#o.keepaliveMs, deadMs: this.#o.deadMs, clock: this.#clock },
            http: { limits: this.#o.http },
            udp: { maxPayload: this.#o.maxPayload, datagramSize: this.#o.datagramSize, ...this.#reassembly },
          },
          { onLink: (l) => this.#accept(l), onBadInput: (err, peer) => this.#badInput(err, peer) },
        );
      } else {
        for (const s of this.#senders) this.#sessions.push(this.#session(s));
      }
    } catch (err) {
      this.#state = 'stopped';
      throw err;
    }
    this.#state = 'started';
    for (const s of this.#sessions) s.start();
  }

  /** Stops: closes every channel and link; pull sessions end with sessionDisconnected. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    await Promise.all(this.#sessions.map((s) => s.stop()));
    for (const l of [...this.#links]) l.close(CloseCode.GOING_AWAY, 'receiver stopped');
    await this.#listener?.close(CloseCode.GOING_AWAY, 'receiver stopped');
  }

  #session(s: SenderEntry): PullSession {
    const host = s.host!;
    const port = s.port!;
    return new PullSession({
      transport: this.#o.protocol,
      host,
      port,
      clientId: s.clientId ?? '',
      types: this.#types,
      newSessionKey: () => (this.#sessionKey = newSessionKey()),
      reconnect: this.#o.reconnect,
      emit: (name: SessionEventName, ev) => this.emit(name, ev),
      onChannel: (_type, link) => {
        // Links this receiver dialled report bad input here; accepted ones through the listener.
        onProtocolFailure(link, (err, peer) => this.#badInput(err, peer));
        this.#serve(link, s.clientId ?? '', 0n);
      },
      dialOptions: (type, sessionKey, signal) => ({
        transport: this.#o.protocol,
        host,
        port,
        tls: this.#o.tls,
        proxy: this.#o.proxy,
        timeoutMs: this.#o.connectTimeoutMs,
        signal,
        link: { maxPayload: this.#o.maxPayload, keepaliveMs: this.#o.keepaliveMs, deadMs: this.#o.deadMs, pollMs: this.#o.pollMs, clock: this.#clock },
        hello: {
          kind: Kind.HELLO,
          mediaType: MediaType[type],
          sessionKey,
          from: this.#o.clientId,
          to: s.clientId ?? '',
          timestamp: Date.now(),
          payload: encodeJson({ role: 'pull', agent: AGENT, ...(this.#o.auth ? { auth: this.#o.auth } : {}) }),
        },
      }),
    });
  }

  /** Turns a server notification (an RV_ command) into its event. */
  #notice(c: CommandMessage, m: MessageMeta): void {
    const p = c.params;
    const str = (k: string): string => (typeof p[k] === 'string' ? (p[k] as string) : '');
    switch (c.name) {
      case Notice.USER_JOINS_GROUP:
        this.emit('userJoinsGroup', str('group'), str('user'), m);
        return;
      case Notice.USER_LEAVES_GROUP:
        this.emit('userLeavesGroup', str('group'), str('user'), m);
        return;
      case Notice.GROUP_USERS:
        this.emit('groupUsers', str('group'), readList(p), m);
        return;
      case Notice.GROUP_INFO:
        this.emit('groupInfo', { group: str('group'), owner: str('owner'), name: str('groupName') }, m);
        return;
      case Notice.ALL_GROUPS:
        this.emit('allGroups', readList(p, 'GUIDGroup'), m);
        return;
      case Notice.ALL_USERS:
        this.emit('allUsers', readList(p), m);
        return;
      case Notice.ALL_ONLINE_USERS:
        this.emit('allOnlineUsers', readList(p), m);
        return;
      case Notice.USER_ENTER:
        this.emit('userEnter', str('user'), m);
        return;
      case Notice.USER_EXIT:
        this.emit('userExit', str('user'), m);
        return;
      case Notice.MEDIA_ACCESS_REQUEST:
      case Notice.MEDIA_ACCESS_CANCEL_REQUEST: {
        const req = { user: str('user'), group: str('group'), dataType: typeof p.dataType === 'number' ? p.dataType : 0 };
        this.emit(c.name === Notice.MEDIA_ACCESS_REQUEST ? 'mediaAccessRequest' : 'mediaAccessCancelRequest', req, m);
        return;
      }
      case Notice.ERROR:
        this.emit('serverError', new CamwireError(str('code') || ErrorCode.SERVER_REFUSED, `${str('request')}: ${str('message')}`), m);
        return;
    }
  }

  /** Takes DATA frames from an open link until it closes. */
  #serve(link: FrameLink, peerId: string, peerKey: bigint, welcome?: FrameInit, lane?: string): void {
    this.#links.add(link);
    let answers: AnswerMemory | undefined;
    if (lane) {
      const key = `${link.remoteAddress}|${peerId}|${link.tag.mediaType ?? 0}|${lane}`;
      answers = this.#lanes.get(key) ?? new Map();
      this.#lanes.delete(key);
      this.#lanes.set(key, answers);
      if (this.#lanes.size > MAX_LANES) this.#lanes.delete(this.#lanes.keys().next().value as string);
    }
    const inbound = new Inbound(link, this.#sink, {
      clientId: this.#o.clientId,
      mediaTypes: this.#typeSet,
      fileDir: this.#fileDir,
      busyFiles: this.#busyFiles,
      maxFileSize: this.#maxFileSize,
      minFreeDiskBytes: this.#minFreeDisk,
      pendingDisk: this.#pendingDisk,
      logger: this.#o.logger,
      answers,
    });
    link.on('frame', (f: Frame) => {
      if (f.kind !== Kind.DATA) {
        // Over UDP the sender repeats its HELLO until a WELCOME arrives; a WELCOME may be lost.
        if (f.kind === Kind.HELLO && welcome && !link.reliable) {
          link.send(welcome);
          return;
        }
        if (f.kind === Kind.HELLO || f.kind === Kind.WELCOME) {
          this.#protocolFailure(link, new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `unexpected message kind ${f.kind} after the handshake`, CloseCode.UNEXPECTED_MESSAGE));
        }
        return;
      }
      try {
        inbound.handle(f);
      } catch (err) {
        if (err instanceof ProtocolError) this.#protocolFailure(link, err);
        else throw err;
      }
    });
    link.on('close', (info) => {
      this.#links.delete(link);
      inbound.dispose(inbound.metaFor(peerId, peerKey), info.error ?? new CamwireError(ErrorCode.TRANSPORT_CLOSED, 'connection closed before the file ended'));
    });
  }

  #protocolFailure(link: FrameLink, err: ProtocolError): void {
    link.fail(err);
  }

  /** Whether the `senders` filter lets this push in (push mode; an empty list accepts everyone). */
  #allowed(link: FrameLink, from: string, type: MediaTypeName): boolean {
    if (this.#senders.length === 0) return true;
    return this.#senders.some(
      (s) =>
        (!s.host || sameHost(s.host, link.remoteAddress)) &&
        (!s.port || s.port === link.remotePort) &&
        (!s.clientId || s.clientId === from) &&
        (!s.mediaTypes || s.mediaTypes.includes(type)),
    );
  }

  /** Push mode: a sender connected; expect its HELLO. */
  #accept(link: FrameLink): void {
    if (this.#links.size >= this.#maxLinks) {
      link.close(CloseCode.REFUSED, `too many connections (${this.#maxLinks})`);
      return;
    }
    awaitHello(
      link,
      this.#o.connectTimeoutMs,
      (f, hello) => {
        const type = mediaTypeName(f.mediaType)!;
        const ev = acceptedEvent(link, f, 0n);
        this.emit('connecting', ev);
        let refusal: string | undefined;
        let code: number = CloseCode.NOT_ALLOWED;
        if (hello.role !== 'push') {
          refusal = 'this receiver takes pushes (sender-to-receiver); it serves no pull channels';
          code = CloseCode.REFUSED;
        } else if (!this.#typeSet.has(type)) refusal = `this receiver does not take ${type}`;
        else if (this.#o.clientId && f.to && f.to !== this.#o.clientId) refusal = `this receiver is ${JSON.stringify(this.#o.clientId)}, not ${JSON.stringify(f.to)}`;
        else if (!this.#allowed(link, f.from, type)) refusal = `sender ${JSON.stringify(f.from)} at ${link.remoteAddress} is not in this receiver's senders list`;
        else if (this.#state !== 'started') {
          refusal = 'receiver is stopping';
          code = CloseCode.GOING_AWAY;
        }
        if (refusal) {
          link.close(code, refusal);
          this.emit('connectError', { ...ev, error: new CamwireError(ErrorCode.DELIVERY_REFUSED, refusal) });
          return;
        }
        const welcome = welcomeLink(link, f, { sessionKey: this.#sessionKey, id: this.#o.clientId, stallMs: 0 }, ev, (out) => this.emit('disconnect', out));
        this.emit('connected', ev);
        this.#serve(link, f.from, f.sessionKey, welcome, hello.lane);
      },
      link.transport === 'udp',
    );
  }

  #badInput(err: CamwireError, peer: PeerInfo): void {
    this.#o.logger.warn({ err, ...peer }, 'bad input from peer');
    this.emit('protocolError', err, peer);
  }
}

/** Compares addresses, treating IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4. */
function sameHost(a: string, b: string): boolean {
  const norm = (x: string): string => (x.startsWith('::ffff:') && net.isIPv4(x.slice(7)) ? x.slice(7) : x);
  return norm(a) === norm(b) || (a === 'localhost' && (norm(b) === '127.0.0.1' || b === '::1'));
}
