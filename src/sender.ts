/**
 * Sender: sends video, audio, commands, files and data. In push mode (sender-to-receiver) it
 * connects to a receiver or server per media type when it has data; in pull mode
 * (receiver-to-sender) it listens and serves the channels receivers open (docs/behaviour.md,
 * sections 3-4).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import {
  CamwireError,
  CloseCode,
  ConfigError,
  DeliveryError,
  ErrorCode,
  misuse,
  TransportError,
} from './errors.js';
import { perMediaType, type PeerInfo } from './events.js';
import { Flag, Kind, MediaType, mediaTypeName, type MediaTypeName } from './protocol/constants.js';
import type { Frame, FrameInit } from './protocol/frame.js';
import { SharedEncoding } from './protocol/fan-encoding.js';
import {
  encodeAudioHeader,
  encodeCommand,
  encodeJson,
  encodeVideoHeader,
  type Command,
  type ParamValue,
  type ReceivedCommand,
  type Rect,
} from './protocol/messages.js';
import { isSystemCommand, MAX_SERVER_COMMAND } from './protocol/system-commands.js';
import { acceptedEvent, awaitHello, welcomeLink } from './link/accept.js';
import type { DialOptions } from './link/dial.js';
import type { FrameLink } from './link/frame-link.js';
import { LinkClock, tickFor } from './link/link-clock.js';
import { LinkListener } from './link/listener.js';
import { PushLane, type LaneEventName } from './media/push-lane.js';
import { ServedChannel } from './media/served-channel.js';
import { UdpEndpoint, type UdpLink } from './link/udp-link.js';
import { AudioOutbox, ReliableOutbox, VideoOutbox, frameBytes, type Outbox } from './media/outbox.js';
import { AGENT, checkId, invalid, newSessionKey, resolveCommon, type ResolvedCommon } from './options.js';

import { MediaServerRequests, bindServerRequests } from './roles/server-requests.js';
import { sendFile, type ReliableTarget } from './roles/file-send.js';
import type {
  AudioSendOptions,
  FileSendOptions,
  FileSendResult,
  SendOptions,
  SenderOptions,
  SenderStats,
  VideoSendOptions,
} from './roles/sender-options.js';

export type * from './roles/sender-options.js';

const INTRA_TYPES = new Set(['jpeg', 'png', 'bmp', 'hwl']);


/** Sender sends media to receivers or a server. */
export class Sender extends MediaServerRequests {
  readonly #o: ResolvedCommon;
  /** One timer for the keepalive, dead and stall checks of all this role's links. */
  readonly #clock: LinkClock;
  readonly #to: string;
  readonly #group: string;
  readonly #idleMs: number;
  readonly #audioChunks: number;
  readonly #audioBytes: number;
  readonly #queueBytes: Record<'command' | 'file' | 'data', number>;
  readonly #window: number;
  readonly #chunk: number;
  readonly #maxChannels: number;
  #sessionKey = 0n;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  #listener: LinkListener | undefined;
  #udp: UdpEndpoint | undefined;
  readonly #udpLinks = new Map<number, UdpLink>();
  readonly #lanes = new Map<MediaTypeName, PushLane>();
  readonly #laneOutboxes = new Map<MediaTypeName, Outbox>();
  readonly #channels = perMediaType(() => new Set<ServedChannel>());
  readonly #channelWaiters = perMediaType(() => new Set<() => void>());
  readonly #stats = { sent: perMediaType(() => ({ items: 0, bytes: 0 })), dropped: perMediaType(() => 0) };
  #fileId = 0;
  #lastVideoHeader: { imageType: string; width: number; height: number; buf: Buffer } | undefined;

  /** Creates a Sender. Throws a ConfigError naming the bad option. */
  constructor(options: SenderOptions = {}) {
    super();
    bindServerRequests(this, (name, params) => this.#request(name, params));
    this.#o = resolveCommon(options);
    this.#clock = new LinkClock(tickFor(this.#o.keepaliveMs, this.#o.deadMs));
    this.#to = checkId('to', options.to);
    this.#group = checkId('group', options.group);
    const pos = (name: string, v: number | undefined, def: number, min = 1): number => {
      if (v === undefined) return def;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw invalid(name, `must be a number >= ${min}`);
      return v;
    };
    this.#idleMs = pos('idleTimeoutMs', options.idleTimeoutMs, 5000, 0);
    this.#audioChunks = pos('audioQueueChunks', options.audioQueueChunks, 50);
    this.#audioBytes = pos('audioQueueBytes', options.audioQueueBytes, 1_638_400);
    this.#queueBytes = {
      command: pos('queueBytes.command', options.queueBytes?.command, 819_200),
      file: pos('queueBytes.file', options.queueBytes?.file, 10_485_760),
      data: pos('queueBytes.data', options.queueBytes?.data, 8_192_000),
    };
    // Over UDP a lost datagram loses its whole frame: file chunks fit one datagram, so a loss
    // costs one small retransmission, and more of them are in flight.
    const udp = this.#o.protocol === 'udp';
    this.#window = pos('reliableWindow', options.reliableWindow, udp ? 64 : 16);
    this.#chunk = pos('fileChunkSize', options.fileChunkSize, udp ? this.#o.datagramSize - 300 : 65536, udp ? 128 : 1024);
    if (this.#chunk > this.#o.maxPayload - 64) throw invalid('fileChunkSize', 'must leave room for headers within maxPayload');
    this.#maxChannels = pos('maxChannels', options.maxChannels, 256);
    if (this.#o.connection === 'sender-to-receiver' && !this.#o.port) {
      throw invalid('port', "is required in sender-to-receiver mode: the receiver's (or server's) port");
    }
  }

  /** The current session key (0n before start). Changes on each reconnection. */
  get sessionKey(): bigint {
    return this.#sessionKey;
  }

  /** Pull mode: the port this sender listens on. Push mode: the receiver's port. */
  get port(): number {
    return this.#listener?.port ?? this.#o.port;
  }

  /** This sender's client id. */
  get clientId(): string {
    return this.#o.clientId;
  }

  /** Counters: items and bytes sent per type, drops per type. */
  get stats(): SenderStats {
    const dropped = { ...this.#stats.dropped };
    for (const [t, ob] of this.#laneOutboxes) dropped[t] += ob.dropped;
    for (const t of ['video', 'audio'] as const) for (const c of this.#channels[t]) dropped[t] += c.outbox.dropped;
    const sent = perMediaType(() => ({ items: 0, bytes: 0 }));
    for (const t of Object.keys(sent) as MediaTypeName[]) sent[t] = { ...this.#stats.sent[t] };
    let channels = 0;
    for (const set of Object.values(this.#channels)) channels += set.size;
    return { sent, dropped, channels };
  }

  /** Starts the sender: binds its UDP socket (push over UDP) or its listening port (pull). */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(ErrorCode.ALREADY_STARTED, `start() called on a sender that is ${this.#state}: a Sender starts once (make a new one)`);
    this.#state = 'starting';
    this.#sessionKey = newSessionKey();
    try {
      if (this.#o.connection === 'receiver-to-sender') {
        this.#listener = await LinkListener.open(
          {
            transport: this.#o.protocol,
            host: this.#o.host,
            port: this.#o.port,
            tls: this.#o.tls,
            link: this.#linkOptions(),
            http: { maxPollMs: Math.max(this.#o.pollMs, 30000), limits: this.#o.http },
            limits: this.#o.limits,
          },
          { onLink: (l) => this.#accept(l), onBadInput: (err, peer) => this.#badInput(err, peer) },
        );
      } else if (this.#o.protocol === 'udp') {
        const host = this.#target().host;
        this.#udp = await UdpEndpoint.open({
          type: net.isIPv6(host) ? 'udp6' : 'udp4',
          datagramSize: this.#o.datagramSize,
          maxPayload: this.#o.maxPayload,
          sendRate: this.#o.udpSendRate,
        });
        this.#udp.on('frame', (f) => this.#udpLinks.get(f.mediaType)?.deliver(f));
      }
    } catch (err) {
      this.#state = 'stopped';
      throw err;
    }
    this.#state = 'started';
  }

  /** Stops: closes every connection; unacknowledged commands, files and data reject with CW_ERR_DELIVERY_CLOSED. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    const err = new TransportError(ErrorCode.TRANSPORT_CLOSED, 'sender stopped');
    for (const lane of this.#lanes.values()) lane.close(err);
    for (const set of Object.values(this.#channels)) {
      for (const c of set) {
        if (c.outbox instanceof ReliableOutbox) c.outbox.failAll(err);
        c.link.close(CloseCode.GOING_AWAY, 'sender stopped');
      }
    }
    for (const waiters of Object.values(this.#channelWaiters)) for (const w of waiters) w();
    await this.#listener?.close(CloseCode.GOING_AWAY, 'sender stopped');
    // Let CLOSE datagrams leave before the socket goes.
    if (this.#udp) {
      const ep = this.#udp;
      await new Promise((r) => setImmediate(r));
      ep.close();
    }
  }

  // ------------------------------------------------------------------ sending

  /** Sends one video frame. Latest wins: a frame not yet sent is replaced (and counted as dropped). */
  sendVideoFrame(data: Buffer, o: VideoSendOptions = {}): void {
    this.#checkStarted();
    const imageType = o.imageType ?? 'jpeg';
    const keyframe = o.keyframe ?? INTRA_TYPES.has(imageType);
    const init = this.#init('video', data, o, keyframe ? Flag.KEYFRAME : 0);
    init.prefix = this.#videoHeader(imageType, o.width ?? 0, o.height ?? 0, o.rect);
    this.#checkSize(init);
    this.#count('video', init);
    this.#fanOut('video', init);
  }

  /** Sends one audio chunk. A short queue per connection drops the oldest on overflow. */
  sendAudio(data: Buffer, o: AudioSendOptions = {}): void {
    this.#checkStarted();
    const init = this.#init('audio', data, o, 0);
    init.prefix = encodeAudioHeader({ codec: o.codec ?? 'pcm_s16le', sampleRate: o.sampleRate ?? 48000, channels: o.channels ?? 1 });
    this.#checkSize(init);
    this.#count('audio', init);
    this.#fanOut('audio', init);
  }

  /**
   * Sends a command; resolves once every receiver acknowledged it (the original's WaitForSendCmd).
   * Rejects with a DeliveryError on timeout, refusal or disconnect. Names starting RV_ or RVS_ are refused.
   */
  sendCommand(cmd: Command, o: SendOptions = {}): Promise<void> {
    this.#checkStarted();
    if (typeof cmd?.name !== 'string') throw misuse(new TypeError('command needs a name'));
    if (isSystemCommand(cmd.name)) {
      throw new ConfigError(ErrorCode.COMMAND_RESERVED_NAME, `command names starting RV_ or RVS_ are reserved for the system: ${cmd.name}`);
    }
    const init = this.#init('command', encodeCommand(cmd), o, 0);
    this.#checkSize(init);
    if (cmd.name.startsWith('RVSU_') && frameBytes(init) + 256 > MAX_SERVER_COMMAND) {
      throw misuse(new RangeError(`a server command (RVSU_) is limited to ${MAX_SERVER_COMMAND} bytes with headers`));
    }
    this.#count('command', init);
    return this.#reliable('command', init);
  }

  /** Sends one blob, delivered whole; resolves once every receiver acknowledged it. */
  sendData(data: Buffer | Uint8Array, o: SendOptions = {}): Promise<void> {
    this.#checkStarted();
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const init = this.#init('data', buf, o, 0);
    this.#checkSize(init);
    this.#count('data', init);
    return this.#reliable('data', init);
  }

  /**
   * Sends a file in chunks from `offset` (or from where the receiver says it has the bytes up to).
   * Each chunk is acknowledged; the receiver checks the SHA-256 at the end. Emits fileProgress.
   * Resolves with one result per receiver.
   */
  async sendFile(filePath: string, o: FileSendOptions = {}): Promise<FileSendResult[]> {
    this.#checkStarted();
    return sendFile(
      {
        nextFileId: () => (this.#fileId = (this.#fileId + 1) >>> 0),
        chunkSize: this.#chunk,
        window: this.#window,
        targets: () => this.#reliableTargets('file'),
        init: (payload, so) => this.#init('file', payload, so, 0),
        count: (init) => this.#count('file', init),
        progress: (p) => this.emit('fileProgress', p),
      },
      filePath,
      o,
    );
  }

  // ------------------------------------------------------------------ internals

  /** The video media header; a stream's frames share one (read-only) buffer unless a rect is given. */
  #videoHeader(imageType: string, width: number, height: number, rect: Rect | undefined): Buffer {
    if (rect) return encodeVideoHeader({ imageType, width, height, rect });
    const c = this.#lastVideoHeader;
    if (c && c.imageType === imageType && c.width === width && c.height === height) return c.buf;
    const buf = encodeVideoHeader({ imageType, width, height });
    this.#lastVideoHeader = { imageType, width, height, buf };
    return buf;
  }

  #checkStarted(): void {
    if (this.#state !== 'started') throw new ConfigError(ErrorCode.NOT_STARTED, `sender is ${this.#state}: call start() first`);
  }

  #checkSize(init: FrameInit): void {
    const n = frameBytes(init);
    if (n > this.#o.maxPayload) throw misuse(new RangeError(`message of ${n} bytes exceeds maxPayload (${this.#o.maxPayload})`));
  }

  #count(type: MediaTypeName, init: FrameInit): void {
    const s = this.#stats.sent[type];
    s.items++;
    s.bytes += frameBytes(init);
  }

  #init(type: MediaTypeName, payload: Buffer, o: SendOptions & { timestamp?: number }, flags: number): FrameInit {
    const mediaIndex = o.mediaIndex ?? 0;
    if (!Number.isInteger(mediaIndex) || mediaIndex < 0 || mediaIndex > 0xffff) throw misuse(new RangeError(`mediaIndex ${mediaIndex} outside 0..65535`));
    return {
      kind: Kind.DATA,
      mediaType: MediaType[type],
      mediaIndex,
      flags,
      timestamp: o.timestamp ?? Date.now(),
      from: this.#o.clientId,
      to: o.to !== undefined && o.to !== '' ? checkId('to', o.to) : this.#to,
      group: o.group !== undefined && o.group !== '' ? checkId('group', o.group) : this.#group,
      payload,
    };
  }

  #fanOut(type: 'video' | 'audio', init: FrameInit): void {
    if (this.#o.connection === 'sender-to-receiver') {
      const ob = this.#laneOutbox(type) as VideoOutbox | AudioOutbox;
      ob.offer(init);
      this.#lane(type).kick();
      return;
    }
    // One encoding for every pulling receiver.
    const shared: FrameInit = { ...init, shared: new SharedEncoding() };
    for (const c of this.#channels[type]) c.offer(shared);
  }

  async #reliable(type: 'command' | 'data', init: FrameInit): Promise<void> {
    const targets = await this.#reliableTargets(type);
    await Promise.all(targets.map((t) => t.submit(init)));
  }

  // ------------------------------------------------------------------ MediaServer requests

  /** Sends a system request to the server; resolves with the server's reply, if any. */
  async #request(name: string, params: Record<string, ParamValue>): Promise<ReceivedCommand | undefined> {
    this.#checkStarted();
    if (this.#o.connection !== 'sender-to-receiver') {
      throw new ConfigError(ErrorCode.CONFIG_INVALID, 'server requests need a sender that pushes to a MediaServer (sender-to-receiver)');
    }
    const init = this.#init('command', encodeCommand({ name, params }), {}, 0);
    init.to = '';
    init.group = '';
    const [target] = await this.#reliableTargets('command');
    return (await target.submit(init)).reply;
  }

  /** Push: the type's lane. Pull: the channels open now, or the first to open within the type's timeout. */
  async #reliableTargets(type: 'command' | 'file' | 'data'): Promise<ReliableTarget[]> {
    if (this.#o.connection === 'sender-to-receiver') {
      const ob = this.#laneOutbox(type) as ReliableOutbox;
      const lane = this.#lane(type);
      return [
        {
          submit: (init) => {
            const p = ob.submit(init);
            lane.kick();
            return p;
          },
        },
      ];
    }
    if (this.#channels[type].size === 0) {
      const timeoutMs = this.#o.timeouts[type];
      await new Promise<void>((resolve, reject) => {
        const waiters = this.#channelWaiters[type];
        const w = (): void => {
          clearTimeout(timer);
          waiters.delete(w);
          if (this.#channels[type].size > 0) resolve();
          else reject(new DeliveryError(ErrorCode.DELIVERY_CLOSED, 'sender stopped', 0));
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new DeliveryError(ErrorCode.DELIVERY_TIMEOUT, `no receiver opened a ${type} channel within ${timeoutMs} ms`, 0));
        }, timeoutMs);
        waiters.add(w);
      });
    }
    return [...this.#channels[type]];
  }

  #linkOptions(): { maxPayload: number; keepaliveMs: number; deadMs: number; pollMs: number; clock: LinkClock } {
    return { maxPayload: this.#o.maxPayload, keepaliveMs: this.#o.keepaliveMs, deadMs: this.#o.deadMs, pollMs: this.#o.pollMs, clock: this.#clock };
  }

  #target(): { transport: 'tcp' | 'udp' | 'http'; host: string; port: number } {
    return { transport: this.#o.protocol, host: this.#o.host ?? '127.0.0.1', port: this.#o.port };
  }

  #newOutbox(type: MediaTypeName, onTimeout: (err: DeliveryError) => void): Outbox {
    if (type === 'video') return new VideoOutbox();
    if (type === 'audio') return new AudioOutbox(this.#audioChunks, this.#audioBytes);
    return new ReliableOutbox({
      mediaType: type,
      maxBytes: this.#queueBytes[type],
      window: this.#window,
      timeoutMs: this.#o.timeouts[type],
      retransmitMs: this.#o.protocol === 'udp' ? 200 : 0,
      onTimeout,
    });
  }

  #laneOutbox(type: MediaTypeName): Outbox {
    let ob = this.#laneOutboxes.get(type);
    if (!ob) {
      ob = this.#newOutbox(type, (err) => this.#lanes.get(type)?.link?.fail(err, CloseCode.TIMEOUT));
      this.#laneOutboxes.set(type, ob);
    }
    return ob;
  }

  #lane(type: MediaTypeName): PushLane {
    let lane = this.#lanes.get(type);
    if (lane) return lane;
    const code = MediaType[type];
    const target = this.#target();
    // The reliable queue's id, the same in the HELLO of each of its links: the receiver
    // deduplicates items resent on a new link by it and their seq (docs/protocol.md, 3.3).
    const laneId = type === 'command' || type === 'file' || type === 'data' ? randomBytes(8).toString('hex') : undefined;
    lane = new PushLane({
      type,
      outbox: this.#laneOutbox(type),
      target,
      sessionKey: () => this.#sessionKey,
      renewSessionKey: () => {
        this.#sessionKey = newSessionKey();
      },
      idleMs: this.#idleMs,
      timeoutMs: this.#o.timeouts[type],
      reconnect: this.#o.reconnect,
      emit: (name: LaneEventName, ev) => this.emit(name, ev),
      onDropped: (n) => (this.#stats.dropped[type] += n),
      dialOptions: (signal): DialOptions => ({
        ...target,
        tls: this.#o.tls,
        proxy: this.#o.proxy,
        timeoutMs: this.#o.connectTimeoutMs,
        signal,
        link: this.#linkOptions(),
        hello: {
          kind: Kind.HELLO,
          mediaType: code,
          sessionKey: this.#sessionKey,
          from: this.#o.clientId,
          to: this.#to,
          group: this.#group,
          timestamp: Date.now(),
          payload: encodeJson({ role: 'push', agent: AGENT, ...(laneId ? { lane: laneId } : {}), ...(this.#o.auth ? { auth: this.#o.auth } : {}) }),
        },
        udp: this.#udp && {
          endpoint: this.#udp,
          attach: (link) => {
            link.tag = { sessionKey: this.#sessionKey, mediaType: code };
            this.#udpLinks.set(code, link);
            return () => {
              if (this.#udpLinks.get(code) === link) this.#udpLinks.delete(code);
            };
          },
        },
      }),
    });
    this.#lanes.set(type, lane);
    return lane;
  }

  /** Pull mode: a receiver opened a link; expect a HELLO for one channel. */
  #accept(link: FrameLink): void {
    awaitHello(
      link,
      this.#o.connectTimeoutMs,
      (f: Frame, hello) => {
        const type = mediaTypeName(f.mediaType)!;
        const ev = acceptedEvent(link, f, this.#sessionKey);
        this.emit('connecting', ev);
        let refusal: string | undefined;
        if (hello.role !== 'pull') refusal = 'this sender serves pull channels (receiver-to-sender); it does not take pushes';
        else if (f.to && this.#o.clientId && f.to !== this.#o.clientId) refusal = `this sender is ${JSON.stringify(this.#o.clientId)}, not ${JSON.stringify(f.to)}`;
        else if (this.stats.channels >= this.#maxChannels) refusal = `too many channels (${this.#maxChannels})`;
        else if (this.#state !== 'started') refusal = 'sender is stopping';
        if (refusal) {
          const err = new CamwireError(ErrorCode.DELIVERY_REFUSED, refusal);
          link.close(CloseCode.REFUSED, refusal);
          this.emit('connectError', { ...ev, error: err });
          return;
        }
        welcomeLink(link, f, { sessionKey: this.#sessionKey, id: this.#o.clientId, stallMs: this.#o.timeouts[type] }, ev, (out) => this.emit('disconnect', out));
        const outbox = this.#newOutbox(type, (err) => link.fail(err, CloseCode.TIMEOUT));
        const ch = new ServedChannel(link, type, outbox, this.#sessionKey);
        this.#channels[type].add(ch);
        link.on('close', (info) => {
          this.#channels[type].delete(ch);
          this.#stats.dropped[type] += outbox.dropped;
          if (outbox instanceof ReliableOutbox) {
            outbox.failAll(info.error ?? new TransportError(ErrorCode.TRANSPORT_CLOSED, `channel closed: ${info.code} ${info.reason}`));
            outbox.dispose();
          }
        });
        this.emit('connected', ev);
        for (const w of [...this.#channelWaiters[type]]) w();
      },
    );
  }

  #badInput(err: CamwireError, peer: PeerInfo): void {
    this.#o.logger.warn({ err, ...peer }, 'bad input from peer');
    this.emit('protocolError', err, peer);
  }
}
