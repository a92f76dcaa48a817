/**
 * LinkClock: one coarse timer that runs the keepalive, dead and stall checks of many links
 * (docs/architecture.md, flow control). A role gives one clock to all its links, so ten
 * thousand idle channels cost one timer, not ten thousand.
 */

/** What a clock calls on each tick. */
export interface Clocked {
  tick(now: number): void;
}

/** The tick that serves links with these settings: half the shortest period, 50 ms to 500 ms. */
export function tickFor(keepaliveMs: number, deadMs: number): number {
  const shortest = Math.min(keepaliveMs || Infinity, deadMs || Infinity, 1000);
  return Math.max(50, Math.floor(shortest / 2));
}

export class LinkClock {
  readonly tickMs: number;
  readonly #links = new Set<Clocked>();
  #timer: NodeJS.Timeout | undefined;

  constructor(tickMs = 500) {
    this.tickMs = tickMs;
  }

  get size(): number {
    return this.#links.size;
  }

  /** Starts ticking `link`; the timer runs while the clock has links, and never keeps the process alive. */
  add(link: Clocked): void {
    this.#links.add(link);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#tick(), this.tickMs);
      this.#timer.unref();
    }
  }

  delete(link: Clocked): void {
    this.#links.delete(link);
    if (this.#links.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const now = Date.now();
    for (const l of this.#links) l.tick(now);
  }
}
