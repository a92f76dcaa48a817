/**
 * Liveness per peer session (docs/protocol.md 3.4, "Liveness per session"): the channels of one
 * pull session (one receiver session key, one peer) share fate when the peer or the path to it
 * goes silent, so they share one keepalive and one dead timer. Any frame received on any of them
 * counts as life for all; when the session has been silent for the keepalive period, ONE of them
 * pings, each time the next one in turn (so every channel still carries a little traffic, which
 * keeps middleboxes' idle timers away); when the session has been silent for `deadMs`, every
 * channel of it closes (1300). A channel whose socket fails or closes still ends on its own.
 *
 * One group is one entry on the role's LinkClock instead of one per channel, and one keepalive
 * exchange per session per period instead of one per channel (docs/architecture.md, flow control).
 */
import { pingAfter } from './frame-link.js';
import { NOT_ON_CLOCK, type Clocked } from './link-clock.js';

/** A link in a liveness group (BaseLink). */
export interface LivenessMember {
  readonly closed: boolean;
  /** Sends a PING stamped `now`. */
  keepalive(now: number): void;
  /** The session heard nothing for `deadMs`: the link closes (1300, CW_ERR_TRANSPORT_IDLE). */
  expire(deadMs: number): void;
}

/** What a group is checked by (a LinkClock). */
export interface LivenessClock {
  add(c: Clocked): void;
  delete(c: Clocked): void;
}

/** Settings of a role's liveness groups: its links' keepaliveMs and deadMs, and which side it is. */
export interface LivenessSettings {
  keepaliveMs: number;
  deadMs: number;
  /** True on the side that accepted the connections: it pings after a longer silence (pingAfter). */
  accepted: boolean;
  clock: LivenessClock;
}

/** One session's shared keepalive and dead timer. */
export class Liveness implements Clocked {
  /** When the session was last heard (any member): the members stamp it as their own arrivals. */
  lastRx: number;
  /** -Infinity (never): times are doubles; a field that starts as a small integer would change the shape of every group at its first PING. */
  #lastPing = -Infinity;
  /** @internal Where the group waits on the clock (Clocked; written by the clock only). */
  clockSlot = NOT_ON_CLOCK;
  /** @internal */
  clockPos = 0;
  readonly #members: LivenessMember[] = [];
  /** Which member pings next (round robin). */
  #turn = 0;
  readonly #ka: number;
  readonly #dead: number;
  readonly #pingAfter: number;
  readonly #clock: LivenessClock;
  readonly #onEmpty: (() => void) | undefined;

  constructor(s: LivenessSettings, onEmpty?: () => void) {
    this.#ka = s.keepaliveMs;
    this.#dead = s.deadMs;
    this.#pingAfter = pingAfter(s.keepaliveMs, s.deadMs, s.accepted);
    this.#clock = s.clock;
    this.#onEmpty = onEmpty;
    this.lastRx = -Infinity;
  }

  /** Members, open ones only (a member leaves as it closes). */
  get size(): number {
    return this.#members.length;
  }

  /** Which member pings next (tests). */
  get next(): LivenessMember | undefined {
    return this.#members.length ? this.#members[this.#turn % this.#members.length] : undefined;
  }

  /** Adds a member, with when it last heard its peer and last pinged it; the first member starts the checks. */
  add(m: LivenessMember, lastRx: number, lastPing = -Infinity): void {
    if (m.closed || this.#members.includes(m)) return;
    this.#members.push(m);
    if (lastRx > this.lastRx) this.lastRx = lastRx;
    if (lastPing > this.#lastPing) this.#lastPing = lastPing;
    if (this.#members.length === 1) this.#clock.add(this);
  }

  /** Removes a member (it closed); the next one in turn takes over its pings. The last one stops the checks. */
  remove(m: LivenessMember): void {
    const i = this.#members.indexOf(m);
    if (i < 0) return;
    this.#members.splice(i, 1);
    if (i < this.#turn) this.#turn--;
    if (this.#members.length > 0) return;
    this.#turn = 0;
    this.#clock.delete(this);
    this.#onEmpty?.();
  }

  /** The clock's check: dead, then keepalive. Returns when the group needs its next check. */
  tick(now: number): number | void {
    const members = this.#members;
    if (members.length === 0) return Infinity;
    if (this.#dead && now - this.lastRx > this.#dead) {
      // Each expire() removes its member (and the last one takes the group off the clock).
      for (const m of [...members]) m.expire(this.#dead);
      return Infinity;
    }
    const ka = this.#ka;
    if (ka && now - this.lastRx >= this.#pingAfter && now - this.#lastPing >= ka) {
      this.#lastPing = now;
      if (this.#turn >= members.length) this.#turn = 0;
      const m = members[this.#turn];
      this.#turn = (this.#turn + 1) % members.length;
      m.keepalive(now);
    }
    let next = Infinity;
    if (this.#dead) next = this.lastRx + this.#dead + 1;
    if (ka) next = Math.min(next, Math.max(this.lastRx + this.#pingAfter, this.#lastPing + ka));
    return next;
  }
}

/** A link that can share its liveness (BaseLink). */
export interface LivenessLink {
  readonly closed: boolean;
  joinLiveness(g: Liveness): boolean;
}

/**
 * The liveness groups of one role, by session: the accepting side (a MediaServer, a pull Sender)
 * groups the channels of one receiver session (its client id and session key, from one peer
 * address and transport) as their HELLOs arrive. A group goes when its last member closes.
 */
export class LivenessGroups {
  readonly #s: LivenessSettings;
  /**
   * Groups by session key (no key string per join: a bigint's decimal form costs), each with the
   * rest of its session's identity; a key is almost always one session, so its list holds one.
   */
  readonly #groups = new Map<bigint, SessionGroup[]>();
  #size = 0;

  constructor(s: LivenessSettings) {
    this.#s = s;
  }

  /** Groups open now (tests, stats). */
  get size(): number {
    return this.#size;
  }

  /**
   * Puts `link` in the group of its session. A session key of 0 names no session (a bare
   * client may send it on every link): such a link keeps its own timers. Returns the group, or
   * undefined when the link keeps its own (no key, or a link without keepalive and dead timers).
   */
  join(link: LivenessLink, session: { clientId: string; sessionKey: bigint; transport: string; remoteAddress: string }): Liveness | undefined {
    if (session.sessionKey === 0n || link.closed) return undefined;
    const key = session.sessionKey;
    let list = this.#groups.get(key);
    if (list) {
      for (const e of list) {
        if (e.clientId === session.clientId && e.transport === session.transport && e.remoteAddress === session.remoteAddress) return link.joinLiveness(e.g) ? e.g : undefined;
      }
    }
    const e: SessionGroup = {
      clientId: session.clientId,
      transport: session.transport,
      remoteAddress: session.remoteAddress,
      g: new Liveness(this.#s, () => this.#forget(key, e)),
    };
    if (!link.joinLiveness(e.g)) return undefined;
    if (list) list.push(e);
    else this.#groups.set(key, (list = [e]));
    this.#size++;
    return e.g;
  }

  /** A group's last member left. */
  #forget(key: bigint, e: SessionGroup): void {
    const list = this.#groups.get(key);
    const i = list ? list.indexOf(e) : -1;
    if (i < 0) return;
    this.#size--;
    if (list!.length === 1) this.#groups.delete(key);
    else list!.splice(i, 1);
  }
}

/** A session's group and who the session is (LivenessGroups). */
interface SessionGroup {
  readonly clientId: string;
  readonly transport: string;
  readonly remoteAddress: string;
  readonly g: Liveness;
}
