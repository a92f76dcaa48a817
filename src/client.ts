/**
 * Client: a MediaServer client (mode C) in one object. It owns a Sender that pushes to the
 * server and a Receiver that pulls from it under one client id, and exposes the send methods,
 * the server requests and the receive events together (docs/api.md, "class Client").
 */
import { EventEmitter } from 'node:events';
import { parsePeerAddress } from './address.js';
import { CamwireError, CloseCode, ConfigError, ErrorCode, ProtocolError, RemoteCloseError, TransportError } from './errors.js';
import type { ConnectionEvent } from './events.js';
import type { MediaTypeName } from './protocol/constants.js';
import type { Command } from './protocol/messages.js';
import { DEFAULT_PORTS } from './protocol/constants.js';
import type { Credentials, Logger, ReconnectOptions } from './options.js';
import type { TlsOptions } from './transport/tcp.js';
import { Receiver, type ReceiverEvents, type ReceiverOptions } from './receiver.js';
import { DirectPaths, DIRECT_OFFER, type DirectState } from './client-direct.js';
import { Sender, type SenderEvents, type AudioSendOptions, type FileSendOptions, type FileSendResult, type FileProgress, type SendOptions, type SenderOptions, type VideoSendOptions } from './sender.js';
import type { MediaServerRequests } from './roles/server-requests.js';
import type { PixelFrameOptions, PixelFrameResult } from './roles/change-video.js';

/** Options of a Client. */
export interface ClientOptions {
  /** The server: `tcp://host[:7700]`, `http(s)://host[:7780]`, `udp://host[:7701]` or `host:port` (tcp). */
  server: string;
  /**
   * Where the Receiver pulls from. @default the `server` address; for `udp://` (pushing only),
   * `tcp://` on the same host and the default TCP port 7700
   */
  pull?: string;
  /** This client's id (a MediaServer requires one). */
  clientId: string;
  auth?: Credentials;
  tls?: TlsOptions;
  proxy?: string;
  /** Default addressee and group of what is sent. */
  to?: string;
  group?: string;
  receiveMediaTypes?: MediaTypeName[];
  fileDir?: string;
  maxFileSize?: number;
  showSystemCommands?: boolean;
  /** Connect plus handshake, and `connect()` as a whole. @default 10000 */
  connectTimeoutMs?: number;
  reconnect?: boolean | ReconnectOptions;
  logger?: Logger;
  /** Any other option of the Sender or the Receiver. */
  sender?: Partial<SenderOptions>;
  receiver?: Partial<ReceiverOptions>;
  /**
   * Going direct (docs/api.md): listen for direct pushes from peers on this address (TCP), which
   * `offerDirect()` tells a peer through the server. `retryMs`: a failed direct path is tried
   * again after this long (default 3000).
   */
  direct?: { host?: string; port?: number; retryMs?: number };
}

/** A Client's events: the Receiver's, the Sender's file progress, and its push connection trouble. */
export interface ClientEvents extends ReceiverEvents {
  fileProgress: [p: FileProgress];
  /** The Sender's push connection failed (it retries; `retryInMs` says when). */
  sendConnectError: [ev: ConnectionEvent];
  /** The Sender's push connection ended with an error. */
  sendDisconnect: [ev: ConnectionEvent];
  /** The Sender's encode hook failed; that frame was dropped (docs/api.md, Media hooks). */
  encodeError: SenderEvents['encodeError'];
  /** A reader (through the server) needs a full frame of this client's video source (change mode sends one at once). */
  fullFrameRequest: SenderEvents['fullFrameRequest'];
  /** A direct path to `peer` was offered (`unknown`), works (`up`) or failed (`down`: the relay carries its traffic). */
  direct: [peer: string, state: DirectState, address: string, error?: CamwireError];
}

/** The Receiver events a Client passes on under the same names. */
const RECEIVER_EVENTS = [
  'connecting', 'connected', 'connectError', 'disconnect', 'protocolError', 'openChannel', 'closeChannel', 'sessionConnected', 'sessionDisconnected',
  'video', 'audio', 'command', 'data', 'fileStart', 'fileData', 'fileEnd',
  'userJoinsGroup', 'userLeavesGroup', 'groupUsers', 'groupInfo', 'allGroups', 'allUsers', 'allOnlineUsers', 'userEnter', 'userExit',
  'mediaAccessRequest', 'mediaAccessCancelRequest', 'serverError', 'decodeError',
] as const satisfies ReadonlyArray<keyof ReceiverEvents>;

/** The MediaServer requests a Client offers (its Sender's). */
const REQUESTS = [
  'joinGroup', 'leaveGroup', 'getGroupUsers', 'getGroupInfo', 'getAllGroups', 'getAllUsers', 'getAllOnlineUsers',
  'addDefaultReceiver', 'removeDefaultReceiver', 'clearDefaultReceivers', 'helloToDefaultReceivers', 'goodbyeToDefaultReceivers',
  'addAllowedSender', 'removeAllowedSender', 'clearAllowedSenders', 'helloToAllowedSenders', 'goodbyeToAllowedSenders',
  'sendMediaAccessRequest', 'sendMediaAccessCancelRequest', 'allowMediaAccess', 'cancelMediaAccess',
] as const satisfies ReadonlyArray<keyof MediaServerRequests>;

type Requests = Pick<MediaServerRequests, (typeof REQUESTS)[number]>;

/** The events of the direct-push Receiver a Client passes on: what arrives, not its connections. */
const DIRECT_EVENTS = ['video', 'audio', 'command', 'data', 'fileStart', 'fileData', 'fileEnd', 'protocolError', 'decodeError'] as const;

/** A refusal that no retry fixes: bad credentials, a taken id, a port that speaks another protocol. */
function permanent(err: CamwireError | undefined): boolean {
  if (!err) return false;
  if (err instanceof RemoteCloseError) return [CloseCode.AUTH_FAILED, CloseCode.DUPLICATE_ID, CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_VERSION].includes(err.closeCode as never);
  return err.code === ErrorCode.WRONG_PROTOCOL || err instanceof ProtocolError;
}

export interface Client extends Requests {}

/** Client: one MediaServer client, both directions, one id. */
export class Client extends EventEmitter<ClientEvents> {
  /** The Sender that pushes to the server (for what the Client does not expose). */
  readonly sender: Sender;
  /** The Receiver that pulls from the server. */
  readonly receiver: Receiver;
  readonly #timeoutMs: number;
  #state: 'new' | 'connecting' | 'connected' | 'closed' = 'new';
  /** Peers' direct addresses, and the Sender to each. */
  readonly #direct: DirectPaths;
  /** With `direct`: the Receiver that takes direct pushes. */
  readonly #directRx: Receiver | undefined;

  /** Creates a Client. Throws a ConfigError naming the bad option. */
  constructor(o: ClientOptions) {
    super();
    if (!o || typeof o.clientId !== 'string' || o.clientId === '') throw new ConfigError(ErrorCode.CONFIG_INVALID, 'option clientId: a MediaServer client needs a client id');
    const push = parsePeerAddress(o.server, 'tcp', 'server');
    const pull = o.pull ?? (push.protocol === 'udp' ? `tcp://${push.host.includes(':') ? `[${push.host}]` : push.host}:${DEFAULT_PORTS.tcp}` : o.server);
    if (parsePeerAddress(pull, 'tcp', 'pull').protocol === 'udp') throw new ConfigError(ErrorCode.CONFIG_INVALID, 'option pull: a Receiver pulls over tcp or http, not udp');
    this.#timeoutMs = o.connectTimeoutMs ?? 10000;
    const common = { clientId: o.clientId, auth: o.auth, logger: o.logger, reconnect: o.reconnect, connectTimeoutMs: o.connectTimeoutMs };
    const tls = (address: string): TlsOptions | undefined => (parsePeerAddress(address, 'tcp').protocol === 'udp' ? undefined : o.tls);
    const proxy = (address: string): string | undefined => (parsePeerAddress(address, 'tcp').protocol === 'http' ? o.proxy : undefined);
    this.sender = new Sender({ ...common, server: o.server, tls: tls(o.server), proxy: proxy(o.server), to: o.to, group: o.group, ...o.sender });
    this.receiver = new Receiver({
      ...common,
      server: pull,
      tls: tls(pull),
      proxy: proxy(pull),
      receiveMediaTypes: o.receiveMediaTypes,
      fileDir: o.fileDir,
      maxFileSize: o.maxFileSize,
      showSystemCommands: o.showSystemCommands,
      ...o.receiver,
    });
    const emit = this.emit as (n: string, ...a: unknown[]) => boolean;
    for (const name of RECEIVER_EVENTS) {
      if (name !== 'command') this.receiver.on(name, (...args: unknown[]) => emit.call(this, name, ...args));
    }
    // A peer's direct offer is for the Client, not the application.
    this.receiver.on('command', (cmd, meta) => {
      if (cmd.name === DIRECT_OFFER && meta.from) void this.#takeOffer(meta.from, String(cmd.params.address ?? ''));
      else this.emit('command', cmd, meta);
    });
    this.#direct = new DirectPaths({
      clientId: o.clientId,
      auth: o.auth,
      logger: o.logger,
      retryMs: o.direct?.retryMs ?? 3000,
      connectTimeoutMs: Math.min(this.#timeoutMs, 3000),
      onChange: (peer, state, address, err) => this.emit('direct', peer, state, address, err),
      hooks: { encodeVideo: o.sender?.encodeVideo, encodeAudio: o.sender?.encodeAudio },
    });
    if (o.direct) {
      this.#directRx = new Receiver({ protocol: 'tcp', host: o.direct.host ?? '0.0.0.0', port: o.direct.port ?? 0, clientId: o.clientId, receiveMediaTypes: o.receiveMediaTypes, fileDir: o.fileDir, maxFileSize: o.maxFileSize, decodeVideo: o.receiver?.decodeVideo, decodeAudio: o.receiver?.decodeAudio });
      for (const name of DIRECT_EVENTS) this.#directRx.on(name, (...args: unknown[]) => emit.call(this, name, ...args));
    }
    // A server that goes away and names the next one (a draining cluster node) tells the Receiver,
    // whose session is always open: the Sender, pushing to the same address, follows it too.
    if (pull === o.server) this.receiver.on('disconnect', (ev) => ev.redirect && this.sender.redirect(ev.redirect));
    this.sender.on('fileProgress', (p) => this.emit('fileProgress', p));
    this.sender.on('encodeError', (...args) => this.emit('encodeError', ...args));
    this.sender.on('fullFrameRequest', (ev) => this.emit('fullFrameRequest', ev));
    this.sender.on('connectError', (ev) => ev.retryInMs !== undefined && this.emit('sendConnectError', ev));
    this.sender.on('disconnect', (ev) => ev.error && this.emit('sendDisconnect', ev));
  }

  /** This client's id. */
  get clientId(): string {
    return this.sender.clientId;
  }

  /**
   * Starts both directions and resolves when both are up: the Receiver's session with the server,
   * and a request through the Sender answered by the server (`getAllOnlineUsers`, whose answer
   * also arrives as `allOnlineUsers`). Rejects with the real cause: the refusal (a
   * `RemoteCloseError` 1202 for bad credentials, `CW_ERR_WRONG_PROTOCOL` for a port that speaks
   * another protocol) at once, or `CW_ERR_TRANSPORT_TIMEOUT` naming the last failure after
   * `connectTimeoutMs`. After a rejection the Client is closed.
   */
  async connect(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(ErrorCode.ALREADY_STARTED, `connect() on a client that is ${this.#state}: a Client connects once`);
    this.#state = 'connecting';
    let last: CamwireError | undefined;
    let fail: (e: CamwireError) => void = () => {};
    const failed = new Promise<never>((_, reject) => (fail = reject));
    const onError = (ev: ConnectionEvent): void => {
      // A pull session aborts its other channels when one fails: that is no cause of its own.
      if (ev.error && ev.error.code !== ErrorCode.TRANSPORT_CLOSED) last = ev.error;
      if (permanent(ev.error)) fail(ev.error!);
    };
    this.sender.on('connectError', onError);
    this.receiver.on('connectError', onError);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `client ${this.clientId}: not connected within ${this.#timeoutMs} ms${last ? `: ${last.message}` : ''}`)), this.#timeoutMs);
    });
    try {
      await Promise.race([
        (async () => {
          await this.sender.start();
          await this.receiver.start();
          await this.#directRx?.start();
          await Promise.all([this.receiver.whenConnected(this.#timeoutMs), this.sender.getAllOnlineUsers()]);
        })(),
        failed,
        timeout,
      ]);
      this.#state = 'connected';
    } catch (err) {
      await this.close();
      throw err;
    } finally {
      clearTimeout(timer);
      this.sender.off('connectError', onError);
      this.receiver.off('connectError', onError);
    }
  }

  /** Stops both directions. Idempotent. */
  async close(): Promise<void> {
    this.#state = 'closed';
    await Promise.all([this.sender.stop(), this.receiver.stop(), this.#direct.close(), this.#directRx?.stop()]);
  }

  /** With `direct`: the port direct pushes come to (0 before connect()). */
  get directPort(): number {
    return this.#directRx?.port ?? 0;
  }

  /**
   * Offers `peer` a direct path, through the server: it will push to `address` (default
   * `tcp://127.0.0.1:<directPort>`; give the address the peer can reach) and fall back to the
   * relay when that fails. Needs the `direct` option.
   */
  async offerDirect(peer: string, address = `tcp://127.0.0.1:${this.directPort}`): Promise<void> {
    if (!this.#directRx) throw new ConfigError(ErrorCode.CONFIG_INVALID, 'offerDirect() needs the direct option (where to listen for direct pushes)');
    await this.sender.sendCommand({ name: DIRECT_OFFER, params: { address } }, { to: peer });
  }

  /** The direct path to `peer`: `unknown`, `up`, `down`, or undefined when there is none. */
  directState(peer: string): DirectState | undefined {
    return this.#direct.state(peer);
  }

  async #takeOffer(peer: string, address: string): Promise<void> {
    try {
      await this.#direct.add(peer, address);
      this.emit('direct', peer, 'unknown', address);
    } catch (err) {
      this.emit('direct', peer, 'down', address, err as CamwireError);
    }
  }

  /** Video goes direct while that path is up; while it is unproven, both ways; otherwise through the relay. */
  sendVideoFrame(data: Buffer, o?: VideoSendOptions): void {
    const d = this.#direct.route(o?.to);
    if (d) d.sender.sendVideoFrame(data, o);
    if (!d || d.state !== 'up') this.sender.sendVideoFrame(data, o);
  }

  /**
   * One frame of raw pixels, whole or, with `sender: { video: { encoding: 'change' } }`, as the
   * rectangles that changed (docs/api.md, Sender.sendVideoPixels). Through the server only: a
   * direct path would need a picture of its own.
   */
  sendVideoPixels(pixels: Uint8Array, o: PixelFrameOptions): Promise<PixelFrameResult> {
    return this.sender.sendVideoPixels(pixels, o);
  }

  /** Asks client `from` for a full frame of its video source `mediaIndex`, through the server; false when no video comes from the server yet. */
  requestFullFrame(from: string, mediaIndex = 0): boolean {
    return this.receiver.requestFullFrame(from, mediaIndex);
  }

  sendAudio(data: Buffer, o?: AudioSendOptions): void {
    const d = this.#direct.route(o?.to);
    if (d) d.sender.sendAudio(data, o);
    if (!d || d.state !== 'up') this.sender.sendAudio(data, o);
  }

  /** Direct when there is a path to `o.to`; an item that fails there goes through the relay (none is lost). */
  sendCommand(cmd: Command, o?: SendOptions): Promise<void> {
    return this.#reliable(o, (s) => s.sendCommand(cmd, o));
  }

  sendData(data: Buffer | Uint8Array, o?: SendOptions): Promise<void> {
    return this.#reliable(o, (s) => s.sendData(data, o));
  }

  async #reliable(o: SendOptions | undefined, send: (s: Sender) => Promise<void>): Promise<void> {
    const d = this.#direct.route(o?.to);
    if (d) {
      try {
        return await send(d.sender);
      } catch (err) {
        this.#direct.failed(o!.to!, err as CamwireError);
      }
    }
    return send(this.sender);
  }

  sendFile(filePath: string, o?: FileSendOptions): Promise<FileSendResult[]> {
    return this.sender.sendFile(filePath, o);
  }
}

for (const name of REQUESTS) {
  Object.defineProperty(Client.prototype, name, {
    value: function (this: Client, ...args: unknown[]) {
      return (this.sender[name] as (...a: unknown[]) => unknown)(...args);
    },
    writable: true,
    configurable: true,
  });
}
