/**
 * Receiver: receives video, audio, commands, files and data. In push mode (sender-to-receiver)
 * it listens and accepts what senders push; in pull mode (receiver-to-sender) it opens one
 * channel per media type to each sender in `senders` (docs/behaviour.md, sections 3-4).
 */
import { EventEmitter } from 'node:events';
import { CamwireError, CloseCode, ConfigError, ErrorCode, ProtocolError } from './errors.js';
import { perMediaType } from './events.js';
import { makeDir } from './make-dir.js';
import type { PeerInfo } from './events.js';
import { Kind, MEDIA_TYPES, MediaType, mediaTypeName, type MediaTypeName } from './protocol/constants.js';
import type { Frame, FrameInit } from './protocol/frame.js';
import { encodeJson } from './protocol/messages.js';
import { acceptedEvent, awaitHello, welcomeLink } from './link/accept.js';
import { onProtocolFailure, type FrameLink } from './link/frame-link.js';
import { LinkContext } from './link/link-context.js';
import { Liveness } from './link/liveness.js';
import { LinkListener } from './link/listener.js';
import { PullSession, type SessionEventName } from './link/pull-session.js';
import { Inbound, type AnswerMemory, type InboundSink } from './media/inbound.js';
import { RECEIVER_FILE_WINDOW } from './media/file-writer.js';
import { isSystemCommand } from './protocol/system-commands.js';
import { emitNotice } from './roles/server-notices.js';
import { waitForSessions } from './roles/session-wait.js';
import { ReceiverMedia } from './roles/receiver-media.js';
import type { ReceivedMedia } from './events.js';
import { newVideoComposer } from './roles/receiver-compose.js';
import { fullFrameRequest } from './protocol/full-frame.js';
import type { VideoComposer } from './media/change/video-composer.js';
import { AGENT, newSessionKey, resolveCommon, type ResolvedCommon } from './options.js';

import { pushRefusal, resolveReceiverConfig, type ReceiverConfig } from './roles/receiver-config.js';
import {
  type ReceiverEvents,
  type ReceiverOptions,
  type ReceiverStats,
  type SenderEntry,
} from './roles/receiver-options.js';

export { DEFAULT_MAX_FILE_SIZE, DEFAULT_MIN_FREE_DISK } from './roles/receiver-options.js';
export type { ReceiverEvents, ReceiverOptions, ReceiverStats, SenderEntry, VideoComposeOptions, ComposeStats } from './roles/receiver-options.js';

/** Receiver receives media from senders or a server. */
/** Push senders' reliable queues whose answers a Receiver remembers (section 3.3 of docs/protocol.md). */
const MAX_LANES = 256;

export class Receiver extends EventEmitter<ReceiverEvents> {
  readonly #o: ResolvedCommon;
  /** What its links share: clock (keepalive, dead, stall checks), small-frame arena, HELLO deadlines; this Receiver's own. */
  readonly #ctx: LinkContext;
  readonly #c: ReceiverConfig;
  /** Bytes still to come of the files being written into fileDir, on all links. */
  readonly #pendingDisk = { bytes: 0 };
  #sessionKey = 0n;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  #listener: LinkListener | undefined;
  readonly #sessions: PullSession[] = [];
  readonly #links = new Set<FrameLink>();
  /** Video links by the id of the peer at their other end (a sender, or a MediaServer), for full-frame requests. */
  readonly #videoLinks = new Map<string, FrameLink>();
  readonly #stats = { received: perMediaType(() => ({ items: 0, bytes: 0 })), dropped: perMediaType(() => 0) };
  readonly #sink: InboundSink;
  /** Media taps and decode hooks. */
  readonly #media: ReceiverMedia;
  readonly #composer: VideoComposer<FrameLink> | undefined;
  readonly #busyFiles = new Set<string>();
  readonly #closingFiles = new Map<string, Array<() => void>>();
  /**
   * Answers sent to each push sender's reliable queue (its HELLO's `lane`), kept across that
   * queue's links so that items resent on a new link are not delivered twice; least recently
   * used first, at most MAX_LANES queues.
   */
  readonly #lanes = new Map<string, AnswerMemory>();

  /** Creates a Receiver. Throws a ConfigError naming the bad option. */
  constructor(options: ReceiverOptions = {}) {
    super();
    // `server`: the Receiver dials it (pull), unless told otherwise.
    this.#o = resolveCommon(options.server !== undefined && options.connection === undefined ? { ...options, connection: 'receiver-to-sender' } : options);
    this.#ctx = new LinkContext(this.#o);
    this.#c = resolveReceiverConfig(options, this.#o);
    const count = (t: MediaTypeName, n: number): void => {
      const s = this.#stats.received[t];
      s.items++;
      s.bytes += n;
    };
    this.#composer = newVideoComposer(options.video, () => this.#o.clientId, () => this.#sessionKey, (v, m) => this.emit('video', v, m));
    this.#media = new ReceiverMedia(options, {
      wants: (type) => this.listenerCount(type) > 0,
      // A frame whose decode hook finishes after stop() is not raised. Change-detection video is
      // composed first (a rectangle becomes the whole picture).
      video: (v, m, link) => {
        if (this.#state === 'stopped') return;
        if (this.#composer && link) this.#composer.handle(v, m, link);
        else this.emit('video', v, m);
      },
      audio: (a, m) => this.#state !== 'stopped' && this.emit('audio', a, m),
      decodeError: (type, err, m) => {
        this.#stats.dropped[type]++;
        this.emit('decodeError', err, type, m);
      },
      dropped: (type) => this.#stats.dropped[type]++,
    });
    // Video and audio are counted as they arrive; each link decodes them in order (#serve).
    this.#sink = {
      video: (v) => count('video', v.data.length),
      audio: (a) => count('audio', a.data.length),
      command: (c, m) => {
        count('command', 0);
        if (isSystemCommand(c.name)) emitNotice(this, c, m);
        if (this.#c.showSystem || !isSystemCommand(c.name)) this.emit('command', c, m);
      },
      data: (d, m) => {
        count('data', d.length);
        this.emit('data', d, m);
      },
      fileStart: (f, m) => this.emit('fileStart', f, m),
      fileData: (f, m, bytes) => {
        count('file', bytes);
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
    const s: ReceiverStats = { received, dropped: { ...this.#stats.dropped }, decodeErrors: { ...this.#media.decodeErrors }, links: this.#links.size };
    const u = this.#listener?.udpStats;
    if (u) s.udp = { incomplete: u.incomplete, corrupt: u.corrupt };
    if (this.#composer) {
      s.compose = { ...this.#composer.stats };
      // A full frame a newer one overtook in the composer is a video frame dropped (latest wins).
      s.dropped.video += s.compose.superseded;
    }
    return s;
  }

  /**
   * Calls `fn` for every video frame and audio chunk received, as it came (before any decode hook:
   * `transformed` says the bytes are still as the sender's hook made them); returns the function
   * that stops it. A Sender's `source` uses it to send the media on.
   */
  onMedia(fn: (m: ReceivedMedia) => void): () => void {
    return this.#media.onMedia(fn);
  }
  /**
   * Asks client `from` for a full frame of its video source `mediaIndex` (docs/protocol.md 4.7),
   * on the video link its frames come on (directly, or through the MediaServer this Receiver
   * pulls from). False when no such link is open.
   */
  requestFullFrame(from: string, mediaIndex = 0): boolean {
    const link = this.#videoLinks.get(from) ?? (this.#videoLinks.size === 1 ? [...this.#videoLinks.values()][0] : undefined);
    if (!link || link.closed) return false;
    link.send(fullFrameRequest(mediaIndex, this.#o.clientId, from), this.#sessionKey);
    return true;
  }


  /** Starts: listens (push mode) or opens the pull sessions (pull mode). */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(ErrorCode.ALREADY_STARTED, `start() called on a receiver that is ${this.#state}: a Receiver starts once (make a new one)`);
    this.#state = 'starting';
    this.#sessionKey = newSessionKey();
    try {
      if (this.#c.fileDir) makeDir(this.#c.fileDir);
      if (this.#o.connection === 'sender-to-receiver') {
        this.#listener = await LinkListener.open(
          {
            transport: this.#o.protocol,
            host: this.#o.host,
            port: this.#o.port,
            tls: this.#o.tls,
            link: this.#ctx.linkOptions(),
            http: { limits: this.#o.http },
            limits: this.#o.limits,
            udp: { maxPayload: this.#o.maxPayload, datagramSize: this.#o.datagramSize, ...this.#c.reassembly },
          },
          { onLink: (l) => this.#accept(l), onBadInput: (err, peer) => this.#badInput(err, peer) },
        );
      } else {
        for (const s of this.#c.senders) this.#sessions.push(this.#session(s));
      }
    } catch (err) {
      this.#state = 'stopped';
      throw err;
    }
    this.#state = 'started';
    for (const s of this.#sessions) s.start();
  }

  /**
   * Pull mode: resolves once every session is up (at once if they are). Rejects with the
   * session's error when a refusal ends it for good (bad credentials 1202, a duplicate id 1203,
   * any failure without `reconnect`), with `CW_ERR_TRANSPORT_TIMEOUT` after `timeoutMs` (default
   * `connectTimeoutMs`), or with `CW_ERR_NOT_STARTED` when not started. Push mode: resolves at once.
   * `start()` itself resolves before the sessions are up (docs/api.md).
   */
  whenConnected(timeoutMs = this.#o.connectTimeoutMs): Promise<void> {
    if (this.#state !== 'started') return Promise.reject(new ConfigError(ErrorCode.NOT_STARTED, `whenConnected() on a receiver that is ${this.#state}`));
    const targets = this.#c.senders.map((s) => `${s.host}:${s.port}`).join(', ');
    return waitForSessions({ emitter: this, allUp: () => this.#sessions.every((s) => s.connected), reconnect: this.#o.reconnect !== undefined, targets }, timeoutMs);
  }

  /** Stops: closes every channel and link; pull sessions end with sessionDisconnected. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#composer?.dispose();
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
      types: this.#c.types,
      newSessionKey: () => (this.#sessionKey = newSessionKey()),
      reconnect: this.#o.reconnect,
      emit: (name: SessionEventName, ev) => this.emit(name, ev),
      // One channel of the session pings for all (docs/protocol.md 3.4).
      liveness: () => new Liveness({ keepaliveMs: this.#o.keepaliveMs, deadMs: this.#o.deadMs, accepted: false, clock: this.#ctx.clock }),
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
        proxyTunnel: this.#o.proxyTunnel,
        httpUpgrade: this.#o.httpUpgrade,
        upgrades: this.#ctx.httpUpgrades,
        timeoutMs: this.#o.connectTimeoutMs,
        signal,
        link: this.#ctx.linkOptions(),
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

  /** Takes DATA frames from an open link until it closes. */
  #serve(link: FrameLink, peerId: string, peerKey: bigint, welcome?: FrameInit, lane?: string): void {
    this.#links.add(link);
    if (link.tag.mediaType === MediaType.video) {
      this.#videoLinks.set(peerId, link);
      link.once('close', () => this.#videoLinks.get(peerId) === link && this.#videoLinks.delete(peerId));
    }
    let answers: AnswerMemory | undefined;
    if (lane) {
      const key = `${link.remoteAddress}|${peerId}|${link.tag.mediaType ?? 0}|${lane}`;
      answers = this.#lanes.get(key) ?? new Map();
      this.#lanes.delete(key);
      this.#lanes.set(key, answers);
      if (this.#lanes.size > MAX_LANES) this.#lanes.delete(this.#lanes.keys().next().value as string);
    }
    const media = this.#media.forLink(link);
    const sink: InboundSink = {
      ...this.#sink,
      video: (v, m, t, l) => {
        this.#sink.video(v, m, t, l);
        media.video(v, m, t);
      },
      audio: (a, m, t) => {
        this.#sink.audio(a, m, t);
        media.audio(a, m, t);
      },
    };
    const inbound = new Inbound(link, sink, {
      clientId: this.#o.clientId,
      mediaTypes: this.#c.typeSet,
      fileDir: this.#c.fileDir,
      busyFiles: this.#busyFiles,
      closingFiles: this.#closingFiles,
      maxFileSize: this.#c.maxFileSize,
      minFreeDiskBytes: this.#c.minFreeDisk,
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

  /** Push mode: a sender connected; expect its HELLO. */
  #accept(link: FrameLink): void {
    if (this.#links.size >= this.#c.maxLinks) {
      link.close(CloseCode.REFUSED, `too many connections (${this.#c.maxLinks})`);
      return;
    }
    awaitHello(
      this.#ctx.hellos,
      link,
      this.#o.connectTimeoutMs,
      (f, hello) => {
        const type = mediaTypeName(f.mediaType)!;
        const ev = acceptedEvent(link, f, 0n);
        this.emit('connecting', ev);
        const refused = pushRefusal(this.#c, this.#o.clientId, { from: f.from, to: f.to, type, role: hello.role, address: link.remoteAddress, port: link.remotePort }, this.#state === 'started');
        if (refused) {
          link.close(refused.code, refused.reason);
          this.emit('connectError', { ...ev, error: new CamwireError(ErrorCode.DELIVERY_REFUSED, refused.reason) });
          return;
        }
        const welcome = welcomeLink(link, f, { sessionKey: this.#sessionKey, id: this.#o.clientId, stallMs: 0, fileWindow: RECEIVER_FILE_WINDOW }, ev, (out) => this.emit('disconnect', out));
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
