/**
 * PullSession: a receiver's session with one sender or server in pull mode (docs/behaviour.md,
 * section 4): one channel (link) per media type; the session exists while every channel is
 * open and ends when any closes. Raises the channel and session events in the contract's order
 * and reconnects with backoff and a new session key.
 */
import { CloseCode, ErrorCode, TransportError, type CamwireError } from '../errors.js';
import type { MediaTypeName } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import type { ConnectionEvent } from '../events.js';
import { backoffDelay, type ReconnectOptions } from '../options.js';
import { dial, type DialOptions } from './dial.js';
import { redirectOf, type Redirect } from '../protocol/redirect.js';
import type { FrameLink, TransportName } from './frame-link.js';
import type { Liveness } from './liveness.js';

/** Events a pull session raises on its receiver. */
export type SessionEventName =
  | 'openChannel'
  | 'connecting'
  | 'connected'
  | 'connectError'
  | 'disconnect'
  | 'closeChannel'
  | 'sessionConnected'
  | 'sessionDisconnected';

/** What a PullSession needs from its Receiver. */
export interface PullSessionDeps {
  transport: TransportName;
  host: string;
  port: number;
  /** The sender's client id this session expects ('' = any). */
  clientId: string;
  types: readonly MediaTypeName[];
  /** Renews the receiver's session key for a new attempt and returns it. */
  newSessionKey(): bigint;
  dialOptions(type: MediaTypeName, sessionKey: bigint, signal: AbortSignal): DialOptions;
  reconnect: Required<ReconnectOptions> | undefined;
  emit(name: SessionEventName, ev: ConnectionEvent): void;
  /** A channel is open: the receiver starts taking its DATA frames. */
  onChannel(type: MediaTypeName, link: FrameLink, welcome: Frame): void;
  /**
   * A new shared keepalive and dead timer for the channels of one attempt (liveness.ts,
   * docs/protocol.md 3.4). Without it, each channel keeps its own.
   */
  liveness?(): Liveness;
}

interface Channel {
  type: MediaTypeName;
  state: 'connecting' | 'open' | 'closed';
  link?: FrameLink;
  abort: AbortController;
  peerId: string;
}

/** PullSession: channels to one sender, reconnecting as configured. */
export class PullSession {
  readonly #d: PullSessionDeps;
  #channels: Channel[] = [];
  #key = 0n;
  #failing = false;
  #stopped = false;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #connected = false;
  #error: CamwireError | undefined;
  #settled: (() => void) | undefined;
  /** Where the next attempt goes instead of host:port: a server's redirect (protocol.md 3.5), with reconnect on. */
  #to: Redirect | undefined;
  /** The redirect the current attempt uses, if any. */
  #via: Redirect | undefined;
  /** The current attempt's channels' shared liveness: one of them pings for all, in turn. */
  #live: Liveness | undefined;

  constructor(d: PullSessionDeps) {
    this.#d = d;
  }

  /** True while every channel is open. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Opens the channels (one attempt; more follow after failures when reconnect is on). */
  start(): void {
    this.#attempt();
  }

  #ev(ch: Channel | undefined, error?: CamwireError): ConnectionEvent {
    const ev: ConnectionEvent = {
      sessionKey: ch ? 0n : this.#key,
      mediaTypes: ch ? [ch.type] : [],
      remoteSessionKey: 0n,
      transport: this.#d.transport,
      remoteAddress: this.#via?.host ?? this.#d.host,
      remotePort: this.#via?.port ?? this.#d.port,
      clientId: ch?.peerId || this.#d.clientId,
    };
    if (error) ev.error = error;
    return ev;
  }

  #attempt(): void {
    this.#key = this.#d.newSessionKey();
    this.#failing = false;
    this.#error = undefined;
    this.#connected = false;
    const key = this.#key;
    this.#via = this.#to;
    this.#live = this.#d.liveness?.();
    this.#channels = this.#d.types.map((type) => ({ type, state: 'connecting' as const, abort: new AbortController(), peerId: '' }));
    const channels = this.#channels;
    for (const ch of channels) {
      this.#d.emit('openChannel', this.#ev(ch));
      this.#d.emit('connecting', this.#ev(ch));
    }
    for (const ch of channels) {
      const opts = this.#d.dialOptions(ch.type, key, ch.abort.signal);
      if (this.#via) Object.assign(opts, this.#via);
      dial(opts).then(
        ({ link, welcome }) => this.#opened(channels, ch, link, welcome),
        (err: CamwireError) => this.#failed(channels, ch, err),
      );
    }
  }

  #opened(channels: Channel[], ch: Channel, link: FrameLink, welcome: Frame): void {
    if (channels !== this.#channels || ch.state !== 'connecting') {
      link.close(CloseCode.GOING_AWAY, 'session ended');
      return;
    }
    ch.state = 'open';
    ch.link = link;
    ch.peerId = welcome.from;
    if (this.#live) link.joinLiveness(this.#live);
    link.on('close', (info) => {
      ch.state = 'closed';
      // A server going away may name the next one (a draining cluster node): the next attempt goes there.
      const to = info.code === CloseCode.GOING_AWAY && info.byPeer && this.#d.reconnect ? redirectOf(info.reason) : undefined;
      if (to) this.#to = to;
      this.#d.emit('disconnect', to ? { ...this.#ev(ch, info.error), redirect: to } : this.#ev(ch, info.error));
      this.#d.emit('closeChannel', this.#ev(ch));
      this.#fail(channels, info.error ?? new TransportError(ErrorCode.TRANSPORT_CLOSED, `${ch.type} channel closed: ${info.code} ${info.reason}`));
    });
    this.#d.emit('connected', this.#ev(ch));
    if (this.#failing) {
      link.close(CloseCode.GOING_AWAY, 'session ended');
      return;
    }
    this.#d.onChannel(ch.type, link, welcome);
    link.release();
    if (channels.every((c) => c.state === 'open')) {
      this.#connected = true;
      this.#failures = 0;
      this.#d.emit('sessionConnected', this.#ev(undefined));
    }
  }

  #failed(channels: Channel[], ch: Channel, err: CamwireError): void {
    if (channels !== this.#channels || ch.state !== 'connecting') return;
    ch.state = 'closed';
    // The server named by a redirect is not there: back to the configured address.
    if (this.#via && this.#to === this.#via) this.#to = undefined;
    this.#d.emit('connectError', this.#ev(ch, err));
    this.#d.emit('closeChannel', this.#ev(ch));
    this.#fail(channels, err);
  }

  /** Ends the session: aborts channels still connecting, closes open ones; then sessionDisconnected. */
  #fail(channels: Channel[], err: CamwireError): void {
    if (channels !== this.#channels) return;
    if (!this.#failing) {
      this.#failing = true;
      this.#error = err;
      for (const c of channels) {
        if (c.state === 'connecting') c.abort.abort();
        else if (c.state === 'open') c.link?.close(CloseCode.GOING_AWAY, 'session ended');
      }
    }
    // Closing a channel above may have finished the session already (re-entrantly).
    if (channels !== this.#channels || !channels.every((c) => c.state === 'closed')) return;
    this.#connected = false;
    this.#d.emit('sessionDisconnected', this.#ev(undefined, this.#error ?? err));
    this.#channels = [];
    if (this.#stopped) {
      this.#settled?.();
      return;
    }
    // Refusals that a retry cannot fix: bad credentials, or another client took over this id.
    const code = (this.#error as { closeCode?: number } | undefined)?.closeCode;
    const fatal = code === CloseCode.AUTH_FAILED || code === CloseCode.DUPLICATE_ID;
    if (this.#d.reconnect && !fatal) {
      this.#failures++;
      this.#retry = setTimeout(() => {
        if (!this.#stopped) this.#attempt();
      }, backoffDelay(this.#d.reconnect, this.#failures));
      // Not unref'd: a started Receiver is a service until stop(); a script that only waits for
      // its events must not exit because its server went away for a moment.
    }
  }

  /** Stops reconnecting and closes the channels; resolves after sessionDisconnected (if a session was open). */
  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    if (this.#channels.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#settled = resolve;
      this.#fail(this.#channels, new TransportError(ErrorCode.TRANSPORT_CLOSED, 'receiver stopped'));
    });
  }
}
