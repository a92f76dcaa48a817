/**
 * DrainGrace: the time a drained node's clients have to arrive on another node (docs/cluster.md,
 * Drain and rolling upgrades). A draining node sends its clients elsewhere; their next node adopts
 * their group memberships when they come online there. When the drained node has gone, the others
 * wait GRACE_MS before treating the memberships not adopted by then as a dead node's.
 */

/** How long the members of a drained node have to come online on another node (its drain waits as long for them). */
export const GRACE_MS = 10_000;

export class DrainGrace {
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  /** Runs `then` after GRACE_MS, unless stopped first. */
  after(then: () => void): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#stopped) then();
    }, GRACE_MS);
    timer.unref();
    this.#timers.add(timer);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
