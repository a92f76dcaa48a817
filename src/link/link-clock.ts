/**
 * LinkClock: one coarse timer that runs the keepalive, dead and stall checks of many links
 * (docs/architecture.md, flow control). A role gives one clock to all its links, so ten
 * thousand idle channels cost one timer, not ten thousand.
 *
 * It is a timer wheel: a link is checked when it says it next needs a check (its next PING or
 * dead deadline), not on every tick, so an idle link costs a check or two per keepalive period.
 * A link that has bytes waiting (the stall check) asks to be checked on every tick (`wake`).
 */

/** What a clock calls. */
export interface Clocked {
  /**
   * Runs the checks due at `now`; returns when the next check is needed (a time as
   * Date.now()), Infinity for none until the link wakes itself, or nothing for the next tick.
   */
  tick(now: number): number | void;
}

/** The tick that serves links with these settings: half the shortest period, 50 ms to 500 ms. */
export function tickFor(keepaliveMs: number, deadMs: number): number {
  const shortest = Math.min(keepaliveMs || Infinity, deadMs || Infinity, 1000);
  return Math.max(50, Math.floor(shortest / 2));
}

export class LinkClock {
  readonly tickMs: number;
  /**
   * The time of the latest tick (Date.now()): links read it instead of the system clock, so a
   * frame costs no clock read. At most one tick old while the clock has links.
   */
  now = Date.now();
  /** Every link on the clock, with the slot it waits in (-1: none, until it wakes). */
  readonly #due = new Map<Clocked, number>();
  /** Slot number (time / tickMs, rounded up) -> links due in it. */
  readonly #slots = new Map<number, Clocked[]>();
  /** The last slot whose links ran. */
  #done: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(tickMs = 500) {
    this.tickMs = tickMs;
    this.#done = Math.floor(Date.now() / tickMs);
  }

  get size(): number {
    return this.#due.size;
  }

  /** Starts checking `link` (first at the next tick); the timer runs while the clock has links, and never keeps the process alive. */
  add(link: Clocked): void {
    if (!this.#timer) {
      this.now = Date.now();
      this.#done = Math.floor(this.now / this.tickMs);
      this.#timer = setInterval(() => this.#tick(), this.tickMs);
      this.#timer.unref();
    }
    this.#put(link, this.#done + 1);
  }

  delete(link: Clocked): void {
    const at = this.#due.get(link);
    if (at === undefined) return;
    this.#due.delete(link);
    this.#unput(link, at);
    if (this.#due.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#slots.clear();
    }
  }

  /** Checks `link` at the next tick (it has bytes waiting: the stall check), unless it is due sooner already. */
  wake(link: Clocked): void {
    const at = this.#due.get(link);
    if (at === undefined || (at >= 0 && at <= this.#done + 1)) return;
    this.#unput(link, at);
    this.#put(link, this.#done + 1);
  }

  /** Takes `link` out of a slot (not the one running: that one has left the map), so a closed link is not held. */
  #unput(link: Clocked, slot: number): void {
    const s = slot < 0 ? undefined : this.#slots.get(slot);
    if (!s) return;
    const i = s.indexOf(link);
    if (i < 0) return;
    s[i] = s[s.length - 1];
    s.pop();
    if (s.length === 0) this.#slots.delete(slot);
  }

  #put(link: Clocked, slot: number): void {
    this.#due.set(link, slot);
    const s = this.#slots.get(slot);
    if (s) s.push(link);
    else this.#slots.set(slot, [link]);
  }

  #tick(): void {
    const now = Date.now();
    this.now = now;
    const last = Math.floor(now / this.tickMs);
    // Every slot up to now, also those a late timer skipped.
    while (this.#done < last) {
      const slot = ++this.#done;
      const links = this.#slots.get(slot);
      if (!links) continue;
      this.#slots.delete(slot);
      for (const l of links) {
        if (this.#due.get(l) !== slot) continue;
        const next = l.tick(now);
        if (this.#due.get(l) !== slot) continue; // left the clock (closed) or woke during its check
        if (next === undefined || next <= now) this.#put(l, last + 1);
        else if (next === Infinity) this.#due.set(l, -1);
        else this.#put(l, Math.max(last + 1, Math.ceil(next / this.tickMs)));
      }
    }
  }
}
