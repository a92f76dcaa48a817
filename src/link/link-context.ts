/**
 * LinkContext: what one role (a Sender, a Receiver, a MediaServer) shares between all the links
 * it makes, so that many links cost one of each, and so that two roles in one process share
 * nothing (docs/architecture.md, Modules: link/link-context.ts):
 * - the LinkClock that runs their keepalive, dead and stall checks;
 * - the FrameArena their stream links encode their small frames in;
 * - the HELLO deadlines of the links it accepts.
 */
import { LinkClock, tickFor } from './link-clock.js';
import { HelloDeadlines } from './accept.js';
import { FrameArena } from '../protocol/fan-encoding.js';
import type { LinkOptions } from './frame-link.js';

export class LinkContext {
  readonly clock: LinkClock;
  readonly smallFrames = new FrameArena();
  readonly hellos = new HelloDeadlines();

  /** For links with these keepalive and dead periods (the clock's tick: tickFor). */
  constructor(keepaliveMs: number, deadMs: number) {
    this.clock = new LinkClock(tickFor(keepaliveMs, deadMs));
  }

  /** The shared parts of a link's options (LinkOptions.clock and smallFrames). */
  get shared(): Pick<LinkOptions, 'clock' | 'smallFrames'> {
    return { clock: this.clock, smallFrames: this.smallFrames };
  }
}
