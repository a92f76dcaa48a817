/**
 * The accepting side of the handshake: wait for a HELLO on a new link, then let the owner
 * decide. A link that sends anything else, or nothing in time, is closed with a typed error.
 */
import { CloseCode, ErrorCode, ProtocolError } from '../errors.js';
import { Kind, MediaType } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { decodeHello, type Hello } from '../protocol/messages.js';
import type { FrameLink } from './frame-link.js';
import type { ConnectionEvent } from '../events.js';
import type { FrameInit } from '../protocol/frame.js';
import { encodeJson } from '../protocol/messages.js';
import { AGENT } from '../options.js';

/** The WELCOME's payload, the same for every link (encoded once; never changed). */
const WELCOME_PAYLOAD = encodeJson({ agent: AGENT });

/**
 * Accepts a link whose HELLO was admitted: stamps the link's own frames, sends the WELCOME
 * (returned, to repeat it over UDP), and raises `disconnect` (with the error, if any) when the
 * link ends. The caller raises `connected`. Without `onDisconnect` the caller raises
 * `disconnect` itself, from its own 'close' listener (a MediaServer's channels: one listener
 * per link instead of two, and no event object kept per link).
 */
export function welcomeLink(
  link: FrameLink,
  hello: Frame,
  self: { sessionKey: bigint; id: string; stallMs: number; fileWindow?: number },
  ev: ConnectionEvent,
  onDisconnect: ((ev: ConnectionEvent) => void) | undefined,
): FrameInit {
  // A file link's WELCOME says how much file data the acceptor takes unacknowledged (protocol.md 3.2).
  const fileWindow = hello.mediaType === MediaType.file && self.fileWindow ? self.fileWindow : undefined;
  link.tag = { sessionKey: self.sessionKey, mediaType: hello.mediaType };
  link.stallMs = self.stallMs;
  const welcome: FrameInit = { kind: Kind.WELCOME, mediaType: hello.mediaType, sessionKey: self.sessionKey, from: self.id, to: hello.from, timestamp: Date.now(), payload: fileWindow === undefined ? WELCOME_PAYLOAD : encodeJson({ agent: AGENT, fileWindow }) };
  link.send(welcome);
  if (onDisconnect) link.on('close', (info) => onDisconnect(info.error ? { ...ev, error: info.error } : { ...ev }));
  return welcome;
}

/**
 * The connection event of the accepting side (docs/behaviour.md, section 2): no media types, the
 * peer's key as remoteSessionKey, and `sessionKey` as the role says (0 for receivers and servers).
 */
export function acceptedEvent(link: FrameLink, hello: Frame, sessionKey: bigint): ConnectionEvent {
  return {
    sessionKey,
    mediaTypes: [],
    remoteSessionKey: hello.sessionKey,
    transport: link.transport,
    remoteAddress: link.remoteAddress,
    remotePort: link.remotePort,
    clientId: hello.from,
  };
}

/**
 * The links waiting for their HELLO with one timeout value, oldest first: one timer for all of
 * them (the oldest one's deadline), not one timer per link. Their deadlines come in the order
 * they were added, so the oldest is always the next to expire.
 */
class HelloQueue {
  readonly #ms: number;
  readonly #waits = new Set<HelloWait>();
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  get size(): number {
    return this.#waits.size;
  }

  add(w: HelloWait): void {
    w.deadline = performance.now() + this.#ms;
    this.#waits.add(w);
    if (!this.#timer) this.#arm(this.#ms);
  }

  delete(w: HelloWait): void {
    this.#waits.delete(w);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#fire, ms);
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const w of this.#waits) {
      if (w.deadline > now) {
        this.#arm(Math.max(1, Math.ceil(w.deadline - now)));
        return;
      }
      this.#waits.delete(w);
      w.expire();
    }
  };
}

/**
 * The HELLO deadlines of one role's accepted links (a MediaServer, a pull Sender, a push
 * Receiver): one queue, one timer, per timeout value (a role has one). Each role makes its own
 * (no state shared between the roles of a process, docs/architecture.md) and hands it to
 * awaitHello for every link it accepts.
 */
export class HelloDeadlines {
  readonly #queues = new Map<number, HelloQueue>();

  /** Links waiting for their HELLO (tests, stats). */
  get size(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.size;
    return n;
  }

  /** @internal The queue of a timeout value (ms, already in setTimeout's range). */
  queue(ms: number): HelloQueue {
    let q = this.#queues.get(ms);
    if (!q) this.#queues.set(ms, (q = new HelloQueue(ms)));
    return q;
  }
}

/**
 * Calls `onHello` with the first frame if it is a valid HELLO; otherwise fails the link with a
 * ProtocolError (which the listener reports through onProtocolFailure). A link that sends none
 * within `timeoutMs` fails with CW_ERR_PROTOCOL_HANDSHAKE_TIMEOUT; its deadline waits in the
 * role's `deadlines`.
 */
export function awaitHello(
  deadlines: HelloDeadlines,
  link: FrameLink,
  timeoutMs: number,
  /** Called with the link too, so that one function may serve every link. */
  onHello: (f: Frame, hello: Hello, link: FrameLink) => void,
  /** UDP: a DATA frame may come first when the HELLO datagram was lost; it counts as an implicit push HELLO. */
  implicitPush = false,
): void {
  // setTimeout's range: a delay outside 1 ms .. 2^31-1 ms is 1 ms.
  const ms = timeoutMs >= 1 && timeoutMs <= 0x7fffffff ? Math.floor(timeoutMs) : 1;
  new HelloWait(deadlines.queue(ms), link, timeoutMs, onHello, implicitPush);
}

/** A link waiting for its HELLO: one object and its two listeners. */
class HelloWait {
  /** When it times out (performance.now()). */
  deadline = 0;
  readonly #q: HelloQueue;
  readonly #link: FrameLink;
  readonly #timeoutMs: number;
  readonly #onHello: (f: Frame, hello: Hello, link: FrameLink) => void;
  readonly #implicitPush: boolean;

  constructor(q: HelloQueue, link: FrameLink, timeoutMs: number, onHello: (f: Frame, hello: Hello, link: FrameLink) => void, implicitPush: boolean) {
    this.#q = q;
    this.#link = link;
    this.#timeoutMs = timeoutMs;
    this.#onHello = onHello;
    this.#implicitPush = implicitPush;
    q.add(this);
    link.on('frame', this.#onFrame);
    link.on('close', this.#done);
  }

  /** The link sent no HELLO in time. */
  expire(): void {
    this.#bad(new ProtocolError(ErrorCode.PROTOCOL_HANDSHAKE_TIMEOUT, `no HELLO within ${this.#timeoutMs} ms`, CloseCode.HANDSHAKE_TIMEOUT));
  }

  readonly #done = (): void => {
    this.#q.delete(this);
    this.#link.off('frame', this.#onFrame);
    this.#link.off('close', this.#done);
  };

  #bad(err: ProtocolError): void {
    this.#done();
    this.#link.fail(err);
  }

  readonly #onFrame = (f: Frame): void => {
    const link = this.#link;
    if (f.kind === Kind.HELLO) {
      let hello: Hello;
      try {
        hello = decodeHello(f.payload);
      } catch (err) {
        this.#bad(err as ProtocolError);
        return;
      }
      if (f.mediaType < 1 || f.mediaType > 5) {
        this.#bad(new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, 'HELLO names no media type', CloseCode.UNEXPECTED_MESSAGE));
        return;
      }
      this.#done();
      this.#onHello(f, hello, link);
    } else if (this.#implicitPush && f.kind === Kind.DATA) {
      this.#done();
      this.#onHello(f, { role: 'push' }, link);
      link.emit('frame', f);
    } else {
      this.#bad(new ProtocolError(ErrorCode.PROTOCOL_UNEXPECTED, `expected HELLO, got message kind ${f.kind}`, CloseCode.UNEXPECTED_MESSAGE));
    }
  };
}
