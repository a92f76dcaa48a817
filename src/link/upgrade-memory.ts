/**
 * UpgradeMemory: the HTTP targets on which a role's upgrade to a byte stream failed
 * (docs/protocol.md 6.6), so that its next links to them go straight to requests instead of
 * paying the probe again. One per role (LinkContext), nothing shared between roles. Knows no
 * HTTP: this file is loaded by every role, the HTTP modules only by one that speaks HTTP.
 */

/** How long a failed upgrade is remembered for a target: after it, the next link tries again. */
export const UPGRADE_MEMORY_MS = 10 * 60_000;
/** Targets remembered at most; beyond it the oldest entry goes. */
export const UPGRADE_MEMORY_ENTRIES = 256;

/** Targets (any string key: scheme, host, port and proxy) whose upgrade failed, each for UPGRADE_MEMORY_MS. */
export class UpgradeMemory {
  /** Key -> when the entry lapses (ms, Date.now()); Map order is insertion order, oldest first. */
  readonly #until = new Map<string, number>();
  readonly #ms: number;

  constructor(ms = UPGRADE_MEMORY_MS) {
    this.#ms = ms;
  }

  /** True while an upgrade to `key` failed within the memory's period. */
  failed(key: string, now = Date.now()): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (now < until) return true;
    this.#until.delete(key);
    return false;
  }

  /** An upgrade to `key` failed: links to it use requests for the memory's period. */
  remember(key: string, now = Date.now()): void {
    this.#until.delete(key);
    this.#until.set(key, now + this.#ms);
    if (this.#until.size > UPGRADE_MEMORY_ENTRIES) this.#until.delete(this.#until.keys().next().value as string);
  }

  /** An upgrade to `key` succeeded (the server was upgraded since): forget the failure. */
  forget(key: string): void {
    this.#until.delete(key);
  }

  get size(): number {
    return this.#until.size;
  }
}
