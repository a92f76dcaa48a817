/**
 * LinkClock: one coarse timer that runs the keepalive, dead and stall checks of many links
 * (docs/architecture.md, flow control). A role gives one clock to all its links, so ten
 * thousand idle channels cost one timer, not ten thousand.
 *
 * It is a timer wheel: a link is checked when it says it next needs a check (its next PING or
 * dead deadline), not on every tick, so an idle link costs a check or two per keepalive period.
 * A link that has bytes waiting (the stall check) asks to be checked on every tick (`wake`).
 *
 * The wheel keeps no map: each entry carries where it waits (`clockSlot`, `clockPos`), and the
 * slots are a ring of arrays reused from round to round, so a check costs no hash lookup and no
 * allocation. Slots are counted from the clock's start (small integers, not epoch times).
 */

/** What a clock calls. */
export interface Clocked {
  /**
   * Runs the checks due at `now`; returns when the next check is needed (a time as
   * Date.now()), Infinity for none until the link wakes itself, or nothing for the next tick.
   */
  tick(now: number): number | void;
  /**
   * The clock's record of where the entry waits, written only by the LinkClock it is on (an
   * entry is on one clock at most): the slot (NOT_ON_CLOCK, PARKED, or a slot number) and its
   * place in that slot's list. Classes on a clock declare them (NOT_ON_CLOCK, 0) so that every
   * instance has one shape; a plain object gets them when added.
   */
  clockSlot?: number;
  clockPos?: number;
}

/** Clocked.clockSlot of an entry on no clock. */
export const NOT_ON_CLOCK = -2;
/** Clocked.clockSlot of an entry on the clock that waits in no slot until it wakes. */
const PARKED = -1;

/** Slots in the ring: a wait longer than this many ticks (128 s at 500 ms) passes its slot once per round, and is kept. */
const RING = 256;

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
  /** Slot 0 starts here; slot n covers (origin + (n - 1) * tickMs, origin + n * tickMs]. */
  readonly #origin = Date.now();
  /** Entries on the clock (waiting in a slot or parked). */
  #size = 0;
  /** Slot n's entries are in #ring[n % ring size], with those of later rounds (made on first use, then kept). */
  readonly #ring: (Clocked | null)[][];
  /** The list of the slot that is running (its entries not yet checked; null where one left), and an empty one to swap in. */
  #running: (Clocked | null)[] | undefined;
  #spare: (Clocked | null)[] = [];
  /** The last slot whose links ran. */
  #done: number;
  #timer: NodeJS.Timeout | undefined;

  /** `ringSlots`: the wheel's size (tests use a small one to exercise waits longer than a round). */
  constructor(tickMs = 500, ringSlots = RING) {
    this.tickMs = tickMs;
    this.#ring = new Array(ringSlots);
    this.#done = this.#slotOf(Date.now());
  }

  get size(): number {
    return this.#size;
  }

  /** The slot a time falls in (rounded down: the slot that has run by then). */
  #slotOf(t: number): number {
    return Math.floor((t - this.#origin) / this.tickMs);
  }

  /** Starts checking `link` (first at the next tick); the timer runs while the clock has links, and never keeps the process alive. */
  add(link: Clocked): void {
    if (!this.#timer) {
      this.now = Date.now();
      this.#done = this.#slotOf(this.now);
      this.#timer = setInterval(() => this.#tick(), this.tickMs);
      this.#timer.unref();
    }
    const at = link.clockSlot;
    if (at === undefined || at === NOT_ON_CLOCK) this.#size++;
    else this.#unput(link, at);
    this.#put(link, this.#done + 1);
  }

  delete(link: Clocked): void {
    const at = link.clockSlot;
    if (at === undefined || at === NOT_ON_CLOCK) return;
    this.#unput(link, at);
    link.clockSlot = NOT_ON_CLOCK;
    if (--this.#size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Checks `link` at the next tick (it has bytes waiting: the stall check), unless it is due sooner already. */
  wake(link: Clocked): void {
    const at = link.clockSlot;
    if (at === undefined || at === NOT_ON_CLOCK || (at >= 0 && at <= this.#done + 1)) return;
    this.#unput(link, at);
    this.#put(link, this.#done + 1);
  }

  /** Takes `link` out of its slot's list (or out of the running one, if it has not been checked yet), so a closed link is not held. */
  #unput(link: Clocked, slot: number): void {
    if (slot < 0) return;
    const pos = link.clockPos!;
    const s = this.#ring[slot % this.#ring.length];
    if (s !== undefined && s[pos] === link) {
      const last = s.pop()!;
      if (last !== link) {
        s[pos] = last;
        if (last !== null) last.clockPos = pos;
      }
    } else if (this.#running !== undefined && this.#running[pos] === link) this.#running[pos] = null;
  }

  #put(link: Clocked, slot: number): void {
    const i = slot % this.#ring.length;
    const s = (this.#ring[i] ??= []);
    link.clockSlot = slot;
    link.clockPos = s.length;
    s.push(link);
  }

  #tick(): void {
    const now = Date.now();
    this.now = now;
    const last = this.#slotOf(now);
    // Every slot up to now, also those a late timer skipped.
    while (this.#done < last && this.#timer) {
      const slot = ++this.#done;
      const i = slot % this.#ring.length;
      const links = this.#ring[i];
      if (links === undefined || links.length === 0) continue;
      // The slot's list is swapped for an empty one: what is put back (later rounds, checks due
      // again in RING ticks) goes there; entries that leave or wake before their turn null their place.
      this.#ring[i] = this.#spare;
      this.#running = links;
      for (let k = 0; k < links.length; k++) {
        const l = links[k];
        if (l === null) continue;
        links[k] = null;
        const at = l.clockSlot!;
        if (at !== slot) {
          if (at > slot) this.#put(l, at); // a later round's
          continue;
        }
        const next = l.tick(now);
        if (l.clockSlot !== slot) continue; // left the clock (closed) or woke during its check
        if (next === undefined || next <= now) this.#put(l, last + 1);
        else if (next === Infinity) l.clockSlot = PARKED;
        else this.#put(l, Math.max(last + 1, Math.ceil((next - this.#origin) / this.tickMs)));
      }
      this.#running = undefined;
      links.length = 0;
      this.#spare = links;
    }
  }
}
