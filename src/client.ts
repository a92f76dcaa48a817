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
import { Sender, type AudioSendOptions, type FileSendOptions, type FileSendResult, type FileProgress, type SendOptions, type SenderOptions, type VideoSendOptions } from './sender.js';
import type { MediaServerRequests } from './roles/server-requests.js';

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
}

/** A Client's events: the Receiver's, the Sender's file progress, and its push connection trouble. */
export interface ClientEvents extends ReceiverEvents {
  fileProgress: [p: FileProgress];
  /** The Sender's push connection failed (it retries; `retryInMs` says when). */
  sendConnectError: [ev: ConnectionEvent];
  /** The Sender's push connection ended with an error. */
  sendDisconnect: [ev: ConnectionEvent];
}

/** The Receiver events a Client passes on under the same names. */
const RECEIVER_EVENTS = [
  'connecting', 'connected', 'connectError', 'disconnect', 'protocolError', 'openChannel', 'closeChannel', 'sessionConnected', 'sessionDisconnected',
  'video', 'audio', 'command', 'data', 'fileStart', 'fileData', 'fileEnd',
  'userJoinsGroup', 'userLeavesGroup', 'groupUsers', 'groupInfo', 'allGroups', 'allUsers', 'allOnlineUsers', 'userEnter', 'userExit',
  'mediaAccessRequest', 'mediaAccessCancelRequest', 'serverError',
] as const satisfies ReadonlyArray<keyof ReceiverEvents>;

/** The MediaServer requests a Client offers (its Sender's). */
const REQUESTS = [
  'joinGroup', 'leaveGroup', 'getGroupUsers', 'getGroupInfo', 'getAllGroups', 'getAllUsers', 'getAllOnlineUsers',
  'addDefaultReceiver', 'removeDefaultReceiver', 'clearDefaultReceivers', 'helloToDefaultReceivers', 'goodbyeToDefaultReceivers',
  'addAllowedSender', 'removeAllowedSender', 'clearAllowedSenders', 'helloToAllowedSenders', 'goodbyeToAllowedSenders',
  'sendMediaAccessRequest', 'sendMediaAccessCancelRequest', 'allowMediaAccess', 'cancelMediaAccess',
] as const satisfies ReadonlyArray<keyof MediaServerRequests>;

type Requests = Pick<MediaServerRequests, (typeof REQUESTS)[number]>;

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
    for (const name of RECEIVER_EVENTS) this.receiver.on(name, (...args: unknown[]) => (this.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args));
    this.sender.on('fileProgress', (p) => this.emit('fileProgress', p));
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
    await Promise.all([this.sender.stop(), this.receiver.stop()]);
  }

  sendVideoFrame(data: Buffer, o?: VideoSendOptions): void {
    this.sender.sendVideoFrame(data, o);
  }

  sendAudio(data: Buffer, o?: AudioSendOptions): void {
    this.sender.sendAudio(data, o);
  }

  sendCommand(cmd: Command, o?: SendOptions): Promise<void> {
    return this.sender.sendCommand(cmd, o);
  }

  sendData(data: Buffer | Uint8Array, o?: SendOptions): Promise<void> {
    return this.sender.sendData(data, o);
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
