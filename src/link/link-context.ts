/**
 * LinkContext: what one role (a Sender, a Receiver, a MediaServer) shares between all the links
 * it makes, so that many links cost one of each, and so that two roles in one process share
 * nothing (docs/architecture.md, Modules: link/link-context.ts):
 * - the LinkClock that runs their keepalive, dead and stall checks;
 * - the arena their stream links encode their small frames in (a RecyclingArena: a full buffer is
 *   written again once no socket write holds a view of it);
 * - the FrameArena its UDP links write the headers of their single-datagram frames in (a used
 *   byte is never written again: a datagram waiting in the pacer keeps its header);
 * - the HELLO deadlines of the links it accepts;
 * - the HTTP targets on which its upgrade to a byte stream failed (UpgradeMemory, docs/protocol.md 6.6).
 * The arenas take their first buffer on first use: a role that sends nothing holds none.
 */
import { LinkClock, tickFor } from './link-clock.js';
import { HelloDeadlines } from './accept.js';
import { RecyclingArena } from '../protocol/recycling-arena.js';
import { FrameArena } from '../protocol/fan-encoding.js';
import type { LinkOptions } from './frame-link.js';
import { UpgradeMemory } from './upgrade-memory.js';

/** The role's settings every link it makes gets. */
export interface RoleLinkSettings {
  keepaliveMs: number;
  deadMs: number;
  maxPayload?: number;
  /** HTTP client links: the long poll's length. */
  pollMs?: number;
}

export class LinkContext {
  readonly clock: LinkClock;
  readonly smallFrames = new RecyclingArena();
  readonly datagramHeads = new FrameArena();
  readonly hellos = new HelloDeadlines();
  readonly httpUpgrades = new UpgradeMemory();
  readonly #s: RoleLinkSettings;

  /** For links with these settings (the clock's tick from their keepalive and dead periods: tickFor). */
  constructor(s: RoleLinkSettings) {
    this.#s = s;
    this.clock = new LinkClock(tickFor(s.keepaliveMs, s.deadMs));
  }

  /** The options of a link the role makes: its settings, and what all its links share. A new object each call. */
  linkOptions(): LinkOptions & { pollMs?: number } {
    const s = this.#s;
    return { maxPayload: s.maxPayload, keepaliveMs: s.keepaliveMs, deadMs: s.deadMs, pollMs: s.pollMs, clock: this.clock, smallFrames: this.smallFrames, datagramHeads: this.datagramHeads };
  }
}
