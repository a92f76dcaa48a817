/**
 * PushLane: a sender's connection for one media type in push mode (docs/behaviour.md, section 3).
 * It opens when the type has data, pumps its outbox while the link can take more, closes after
 * an idle time, and retries with backoff (and a new session key) after a failure.
 */
import { CloseCode, type CamwireError } from '../errors.js';
import { MediaType, type MediaTypeName } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { ReliableOutbox, type Outbox } from './outbox.js';
import type { ConnectionEvent } from '../events.js';
import { backoffDelay, type ReconnectOptions } from '../options.js';
import { dial, type DialOptions } from '../link/dial.js';
import type { CloseInfo, FrameLink, TransportName } from '../link/frame-link.js';
import { applyReply, PUMP_TURN_LIMIT, pumpOutbox } from './pump.js';
import type { AudioOutbox, VideoOutbox } from './media-outbox.js';
import type { FrameInit } from '../protocol/frame.js';
import { redirectOf, type Redirect } from '../protocol/redirect.js';
import { decodeWelcome } from '../protocol/messages.js';

/** Connection event names a lane raises. */
export type LaneEventName = 'connecting' | 'connected' | 'connectError' | 'disconnect';

/** What a lane needs from its Sender. */
export interface PushLaneDeps {
  type: MediaTypeName;
  outbox: Outbox;
  /** Where the lane connects. */
  target: { transport: TransportName; host: string; port: number };
  /** Dial options for a new attempt, HELLO included (the sender's current session key). */
  dialOptions(signal: AbortSignal): DialOptions;
  /** The sender's current session key (a new connection takes it). */
  sessionKey(): bigint;
  /** Renews the sender's session key (before a reconnection). */
  renewSessionKey(): void;
  /** Close the link after this much idle time; 0 = as soon as the outbox is empty. */
  idleMs: number;
  /** The type's timeout: a link that takes no bytes for this long fails. */
  timeoutMs: number;
  reconnect: Required<ReconnectOptions> | undefined;
  emit(name: LaneEventName, ev: ConnectionEvent): void;
  /** Video and audio dropped because the lane could not connect. */
  onDropped(n: number): void;
  /** A frame from the peer other than ACK and NACK (a full-frame request, protocol.md 4.7). */
  onPeerFrame?(f: Frame): void;
  /**
   * Where the Sender's lanes connect instead of `target`, shared by its lanes: set by a server's
   * CLOSE 1001 with a redirect (protocol.md 3.5), cleared when an attempt there fails.
   */
  route?: { to?: Redirect };
}

type State = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/** PushLane: one media type's push connection. */
export class PushLane {
  readonly #d: PushLaneDeps;
  #state: State = 'idle';
  #link: FrameLink | undefined;
  #peerId = '';
  #failures = 0;
  #idle: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #abort: AbortController | undefined;
  #pumping = false;
  /** The sender's session key when this lane's connection was opened: one key per connection. */
  #key = 0n;
  /** When the outbox last had work (Infinity while it has). */
  #busyAt = Number.POSITIVE_INFINITY;
  /** The redirect the current attempt or link uses, if any. */
  #via: Redirect | undefined;
  /** What the peer's WELCOME announced as its file window (protocol.md 3.2), if anything. */
  #fileWindow: number | undefined;

  constructor(d: PushLaneDeps) {
    this.#d = d;
    if (d.outbox instanceof ReliableOutbox) {
      d.outbox.onReady = () => this.kick();
      d.outbox.keepForNextLink = true;
    }
  }

  get state(): State {
    return this.#state;
  }

  /** The open link, if any. */
  get link(): FrameLink | undefined {
    return this.#link;
  }

  /**
   * A video or audio frame (the outbox is a VideoOutbox or AudioOutbox). On an open link that keeps
   * up, with nothing waiting before it, it is written at once, as the pump would write it next;
   * otherwise it goes through the outbox (latest wins, or drop-oldest). Returns the frames dropped.
   */
  offerMedia(f: FrameInit): number {
    const link = this.#link;
    const ob = this.#d.outbox as VideoOutbox | AudioOutbox;
    if (
      link !== undefined &&
      this.#state === 'open' &&
      !this.#pumping &&
      !link.closed &&
      link.backlog - link.turnBytes < link.pumpBacklog &&
      link.turnBytes < PUMP_TURN_LIMIT &&
      ob.canSkipQueue(f)
    ) {
      // What #armIdle records after a pump that emptied the outbox: the clock is read for the first
      // frame of a turn only (a stream link gathers a turn's frames, sent in one synchronous run).
      if (link.turnBytes === 0) this.#busyAt = Date.now();
      link.send(f, this.#key);
      if (this.#idle === undefined) this.#scheduleIdle(this.#d.idleMs);
      return 0;
    }
    const n = ob.offer(f);
    this.kick();
    return n;
  }

  /** Bytes of file chunks the peer of the current (or last) link takes unacknowledged, when it said. */
  get fileWindow(): number | undefined {
    return this.#fileWindow;
  }

  /** The outbox has work: connect, or pump. */
  kick(): void {
    switch (this.#state) {
      case 'idle':
        this.#connect();
        return;
      case 'open':
        this.#pump();
        return;
      default:
        return;
    }
  }

  #event(error?: CamwireError): ConnectionEvent {
    const o = this.#d.target;
    const ev: ConnectionEvent = {
      sessionKey: this.#key,
      mediaTypes: [this.#d.type],
      remoteSessionKey: 0n,
      transport: o.transport,
      remoteAddress: this.#via?.host ?? o.host,
      remotePort: this.#via?.port ?? o.port,
      clientId: this.#peerId,
    };
    if (error) ev.error = error;
    return ev;
  }

  #connect(): void {
    this.#state = 'connecting';
    this.#key = this.#d.sessionKey();
    this.#abort = new AbortController();
    const opts = this.#d.dialOptions(this.#abort.signal);
    this.#via = this.#d.route?.to;
    if (this.#via) Object.assign(opts, this.#via);
    this.#d.emit('connecting', this.#event());
    dial(opts).then(
      ({ link, welcome }) => this.#opened(link, welcome),
      (err: CamwireError) => this.#failed(err),
    );
  }

  #opened(link: FrameLink, welcome: Frame): void {
    if (this.#state !== 'connecting') {
      link.close(CloseCode.GOING_AWAY, 'sender stopped');
      return;
    }
    this.#state = 'open';
    this.#failures = 0;
    this.#link = link;
    this.#peerId = welcome.from;
    this.#fileWindow = welcomeFileWindow(welcome);
    link.tag = { sessionKey: this.#key, mediaType: MediaType[this.#d.type] };
    link.stallMs = this.#d.timeoutMs;
    link.on('frame', (f) => this.#onFrame(f));
    link.on('drain', () => this.#pump());
    link.on('close', (info) => this.#closed(link, info));
    this.#d.emit('connected', this.#event());
    link.release();
    this.#pump();
  }

  #failed(err: CamwireError): void {
    if (this.#state !== 'connecting') return;
    // The server named by a redirect is not there: back to the configured address.
    if (this.#via && this.#d.route?.to === this.#via) this.#d.route.to = undefined;
    const delay = this.#nextDelay();
    this.#d.emit('connectError', { ...this.#event(err), retryInMs: delay });
    this.#afterFailure(err, delay);
  }

  /** The wait before the next attempt, counting this failure. */
  #nextDelay(): number {
    this.#failures++;
    return backoffDelay(this.#d.reconnect ?? { initialDelayMs: 250, maxDelayMs: 10000 }, this.#failures);
  }

  #afterFailure(err: CamwireError, delay: number): void {
    this.#link = undefined;
    const rel = this.#reliable();
    // Media queued for a connection that failed is stale: drop (and count) it.
    if (!rel) this.#drain();
    else if (!this.#d.reconnect) rel.failAll(err);
    this.#state = 'backoff';
    this.#retry = setTimeout(() => {
      if (this.#state !== 'backoff') return;
      this.#state = 'idle';
      this.#d.renewSessionKey();
      if (this.#d.outbox.busy) this.#connect();
    }, delay);
    // Acknowledged items waiting for the next link hold the process (their promises are pending);
    // a lane with nothing reliable to deliver does not.
    if (!rel?.busy) this.#retry.unref();
  }

  #drain(): void {
    let n = 0;
    while (this.#d.outbox.next(Date.now())) n++;
    if (n) this.#d.onDropped(n);
  }

  #reliable(): ReliableOutbox | undefined {
    return this.#d.outbox instanceof ReliableOutbox ? this.#d.outbox : undefined;
  }

  #onFrame(f: Frame): void {
    if (this.#link && applyReply(f, this.#d.outbox, this.#link)) this.#pump();
    else this.#d.onPeerFrame?.(f);
  }

  #pump(): void {
    const link = this.#link;
    if (!link || this.#state !== 'open' || this.#pumping) return;
    this.#pumping = true;
    try {
      pumpOutbox(link, this.#d.outbox, this.#key);
    } finally {
      this.#pumping = false;
    }
    this.#armIdle();
  }

  /**
   * Keeps the idle timer: the link closes `idleMs` after the outbox last had work. Called after
   * every pump, so it only records the time; the one timer re-arms itself for what is left.
   */
  #armIdle(): void {
    if (this.#d.outbox.busy || this.#state !== 'open') {
      this.#busyAt = Number.POSITIVE_INFINITY;
      return;
    }
    this.#busyAt = Date.now();
    if (this.#idle === undefined) this.#scheduleIdle(this.#d.idleMs);
  }

  #scheduleIdle(ms: number): void {
    this.#idle = setTimeout(() => {
      this.#idle = undefined;
      if (this.#state !== 'open') return;
      const left = this.#busyAt + this.#d.idleMs - Date.now();
      if (this.#d.outbox.busy || left > 0) this.#scheduleIdle(Number.isFinite(left) ? Math.max(left, 1) : this.#d.idleMs);
      else this.#link?.close(CloseCode.IDLE, 'idle');
    }, ms);
    this.#idle.unref();
  }

  #closed(link: FrameLink, info: CloseInfo): void {
    if (this.#link !== link) return;
    clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#link = undefined;
    // What was sent and not acknowledged goes again on the next link, each item until its own
    // deadline (docs/behaviour.md, section 6): a link's end is not an item's failure.
    this.#reliable()?.requeue();
    // A server going away may name the next one (a draining cluster node): every lane goes there.
    const to = info.code === CloseCode.GOING_AWAY && info.byPeer && this.#d.route ? redirectOf(info.reason) : undefined;
    if (to) this.#d.route!.to = to;
    const delay = info.error && this.#state !== 'closed' ? this.#nextDelay() : undefined;
    const ev = delay === undefined ? this.#event(info.error) : { ...this.#event(info.error), retryInMs: delay };
    this.#d.emit('disconnect', to ? { ...ev, redirect: to } : ev);
    if (this.#state === 'closed') return;
    if (info.error) {
      this.#afterFailure(info.error, delay!);
      return;
    }
    this.#state = 'idle';
    if (this.#d.outbox.busy) this.#connect();
  }

  /** Stops the lane: closes the link, cancels retries, fails reliable items. */
  close(err: CamwireError): void {
    if (this.#state === 'closed') return;
    const wasConnecting = this.#state === 'connecting';
    this.#state = 'closed';
    clearTimeout(this.#retry);
    clearTimeout(this.#idle);
    this.#abort?.abort();
    if (wasConnecting) this.#d.emit('connectError', this.#event(err));
    this.#reliable()?.failAll(err);
    this.#reliable()?.dispose();
    this.#link?.close(CloseCode.GOING_AWAY, 'sender stopped');
  }
}

/** The file window a WELCOME announces; a WELCOME payload that does not decode announces nothing (it was never read before). */
function welcomeFileWindow(welcome: Frame): number | undefined {
  try {
    return decodeWelcome(welcome.payload).fileWindow;
  } catch {
    return undefined;
  }
}
