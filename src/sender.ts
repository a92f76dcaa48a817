/**
 * Sender: sends video, audio, commands, files and data. In push mode (sender-to-receiver) it
 * connects to a receiver or server per media type when it has data; in pull mode
 * (receiver-to-sender) it listens and serves the channels receivers open (docs/behaviour.md,
 * sections 3-4).
 */
import {
  CamwireError,
  CloseCode,
  ConfigError,
  ErrorCode,
  misuse,
  TransportError,
} from './errors.js';
import { perMediaType, type PeerInfo } from './events.js';
import type { MediaTypeName } from './protocol/constants.js';
import { copyInit, type FrameInit } from './protocol/frame.js';
import { SharedEncoding } from './protocol/fan-encoding.js';
import { encodeCommand, type Command, type ParamValue, type ReceivedCommand } from './protocol/messages.js';
import { isSystemCommand, MAX_SERVER_COMMAND } from './protocol/system-commands.js';
import type { FrameLink } from './link/frame-link.js';
import { LinkContext } from './link/link-context.js';
import { LivenessGroups } from './link/liveness.js';
import { LinkListener } from './link/listener.js';
import { ServedChannel } from './media/served-channel.js';
import { UdpEndpoint, type UdpLink } from './link/udp-link.js';
import { datagramTypeFor } from './transport/udp.js';
import { ReliableOutbox, frameBytes } from './media/outbox.js';
import { newSessionKey, type ResolvedCommon } from './options.js';

import { MediaServerRequests, bindServerRequests } from './roles/server-requests.js';
import { sendFile, type ReliableTarget } from './roles/file-send.js';
import { dataFrame, newOutbox, resolveSender, type SenderConfig } from './roles/sender-config.js';
import { acceptPullChannel, waitForChannel } from './roles/pull-channels.js';
import { MediaSend } from './roles/media-send.js';
import { PixelVideo, type PixelFrameOptions, type PixelFrameResult } from './roles/change-video.js';
import { PushLanes } from './roles/push-lanes.js';
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


/** Sender sends media to receivers or a server. */
export class Sender extends MediaServerRequests {
  readonly #o: ResolvedCommon;
  /** What its links share: clock, small-frame arena, HELLO deadlines (made with the Sender, never shared with another role). */
  readonly #ctx: LinkContext;
  /** Pull mode: receiver sessions' shared keepalive and dead timers (docs/protocol.md 3.4). */
  #liveness: LivenessGroups | undefined;
  readonly #c: SenderConfig;
  #sessionKey = 0n;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  #listener: LinkListener | undefined;
  #udp: UdpEndpoint | undefined;
  readonly #udpLinks = new Map<number, UdpLink>();
  /** Push mode: one lane per media type. */
  readonly #lanes: PushLanes;
  readonly #channels = perMediaType(() => new Set<ServedChannel>());
  readonly #channelWaiters = perMediaType(() => new Set<() => void>());
  readonly #stats = { sent: perMediaType(() => ({ items: 0, bytes: 0 })), dropped: perMediaType(() => 0) };
  #fileId = 0;
  /** Video and audio frames: media headers, encode hooks, the relay source. */
  readonly #media: MediaSend;
  readonly #pixels: PixelVideo;

  /** Creates a Sender. Throws a ConfigError naming the bad option. */
  constructor(options: SenderOptions = {}) {
    super();
    bindServerRequests(this, (name, params) => this.#request(name, params));
    this.#c = resolveSender(options);
    this.#o = this.#c.o;
    this.#pixels = new PixelVideo(options.video);
    this.#ctx = new LinkContext(this.#o);
    this.#lanes = new PushLanes({
      c: this.#c,
      links: this.#ctx,
      sessionKey: () => this.#sessionKey,
      renewSessionKey: () => void (this.#sessionKey = newSessionKey()),
      emit: (name, ev) => this.emit(name, ev),
      onDropped: (t, n) => (this.#stats.dropped[t] += n),
      udp: () => this.#udp,
      udpLinks: this.#udpLinks,
      fullFrameRequested: (i) => this.#fullFrameRequested(i),
      requestFullFrame: (i) => this.#pixels.requestFullFrame(i),
    });
    this.#media = new MediaSend(options, {
      maxPayload: this.#o.maxPayload,
      init: (type, payload, o, flags) => this.#init(type, payload, o, flags),
      checkSize: (init) => this.#checkSize(init),
      deliver: (type, init) => this.#deliver(type, init),
      encodeError: (type, err, info) => {
        this.#stats.dropped[type]++;
        this.emit('encodeError', err, type, info);
      },
      dropped: (type) => this.#stats.dropped[type]++,
      started: () => this.#state === 'started',
      debug: (err, msg) => this.#o.logger.debug({ err }, msg),
    });
  }

  /** The current session key (0n before start). Changes on each reconnection. */
  get sessionKey(): bigint {
    return this.#sessionKey;
  }

  /** Pull mode: the port this sender listens on. Push mode: the receiver's port. */
  get port(): number {
    return this.#listener?.port ?? this.#o.port;
  }

  /**
   * Push mode, with `reconnect`: its next connections go to `to` instead of the configured address,
   * until an attempt there fails (as a server's redirect does: docs/behaviour.md, Redirects).
   */
  redirect(to: { host: string; port: number }): void {
    this.#lanes.redirect(to);
  }

  /** This sender's client id. */
  get clientId(): string {
    return this.#o.clientId;
  }

  /** Counters: items and bytes sent per type, drops per type. */
  get stats(): SenderStats {
    const dropped = { ...this.#stats.dropped };
    this.#lanes.addDropped(dropped);
    for (const t of ['video', 'audio'] as const) for (const c of this.#channels[t]) dropped[t] += c.outbox.dropped;
    const sent = perMediaType(() => ({ items: 0, bytes: 0 }));
    for (const t of Object.keys(sent) as MediaTypeName[]) sent[t] = { ...this.#stats.sent[t] };
    let channels = 0;
    for (const set of Object.values(this.#channels)) channels += set.size;
    return { sent, dropped, channels, encodeErrors: { ...this.#media.encodeErrors }, pixels: { ...this.#pixels.stats } };
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
            link: this.#ctx.linkOptions(),
            http: { maxPollMs: Math.max(this.#o.pollMs, 30000), limits: this.#o.http },
            limits: this.#o.limits,
          },
          { onLink: (l) => this.#accept(l), onBadInput: (err, peer) => this.#badInput(err, peer) },
        );
      } else if (this.#o.protocol === 'udp') {
        const host = this.#o.host ?? '127.0.0.1';
        this.#udp = await UdpEndpoint.open({
          type: datagramTypeFor(host),
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
    this.#media.start();
  }

  /** Stops: closes every connection; unacknowledged commands, files and data reject with CW_ERR_DELIVERY_CLOSED. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#media.stop();
    const err = new TransportError(ErrorCode.TRANSPORT_CLOSED, 'sender stopped');
    this.#lanes.close(err);
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
    this.#media.video(data, o, false);
  }

  /** Sends one frame of raw pixels, whole or (change mode) as the rectangles that changed (docs/api.md); resolves once its images are queued. */
  sendVideoPixels(pixels: Uint8Array, o: PixelFrameOptions): Promise<PixelFrameResult> {
    this.#checkStarted();
    return this.#pixels.frame(pixels, o, (img) => this.#state === 'started' && this.sendVideoFrame(img.data, { ...o, ...img }));
  }

  /** Change mode: the next frame of the source (every source when left out) goes whole (the original's NeedSendFullFrame). */
  requestFullFrame(mediaIndex?: number): void {
    this.#pixels.requestFullFrame(mediaIndex);
  }

  /** Sends one audio chunk. A short queue per connection drops the oldest on overflow. */
  sendAudio(data: Buffer, o: AudioSendOptions = {}): void {
    this.#checkStarted();
    this.#media.audio(data, o, false);
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
        chunkSize: this.#c.chunk,
        window: this.#c.window,
        // Over UDP (losses and retransmissions, protocol.md 5.3), and when reliableWindow was
        // given, the window stays reliableWindow chunks.
        adaptive: this.#o.protocol !== 'udp' && !this.#c.windowFixed,
        maxWindow: this.#c.queueBytes.file,
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

  /** Queues a video or audio frame for its links; one that comes back from a hook after stop() is dropped. */
  #deliver(type: 'video' | 'audio', init: FrameInit): void {
    if (this.#state !== 'started') {
      this.#stats.dropped[type]++;
      return;
    }
    this.#count(type, init);
    this.#fanOut(type, init);
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
    return dataFrame(this.#c, this.#o.clientId, type, payload, o, flags);
  }

  #fanOut(type: 'video' | 'audio', init: FrameInit): void {
    if (this.#o.connection === 'sender-to-receiver') {
      this.#lanes.lane(type).offerMedia(init);
      return;
    }
    // One encoding for every pulling receiver.
    const shared = copyInit(init, init.seq, init.flags, new SharedEncoding());
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
    if (this.#o.connection === 'sender-to-receiver') return [this.#lanes.target(type)];
    await waitForChannel(this.#channels[type], this.#channelWaiters[type], type, this.#o.timeouts[type]);
    return [...this.#channels[type]];
  }

  /** Pull mode: a receiver opened a link; expect a HELLO for one channel. */
  #accept(link: FrameLink): void {
    acceptPullChannel(
      {
        o: this.#o,
        maxChannels: this.#c.maxChannels,
        sessionKey: () => this.#sessionKey,
        started: () => this.#state === 'started',
        channelCount: () => this.stats.channels,
        channels: this.#channels,
        waiters: this.#channelWaiters,
        newOutbox: (type, onTimeout) => newOutbox(this.#c, type, onTimeout, (i) => this.#pixels.requestFullFrame(i), true),
        onDropped: (type, n) => (this.#stats.dropped[type] += n),
        emit: (name, ev) => this.emit(name, ev),
        fullFrameRequested: (i) => this.#fullFrameRequested(i),
        liveness: (this.#liveness ??= new LivenessGroups({ keepaliveMs: this.#o.keepaliveMs, deadMs: this.#o.deadMs, accepted: true, clock: this.#ctx.clock })),
        hellos: this.#ctx.hellos,
      },
      link,
    );
  }

  /** A receiver (or the server for one) needs a full frame: change mode sends one; the application hears of it. */
  #fullFrameRequested(mediaIndex: number): void {
    this.#pixels.requestFullFrame(mediaIndex);
    // A hub passes the request upstream, to the client its video comes from (relay-source.ts).
    this.#media.relay?.requestFullFrame();
    this.emit('fullFrameRequest', { mediaIndex });
  }

  #badInput(err: CamwireError, peer: PeerInfo): void {
    this.#o.logger.warn({ err, ...peer }, 'bad input from peer');
    this.emit('protocolError', err, peer);
  }
}
