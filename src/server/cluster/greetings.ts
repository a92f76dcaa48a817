/**
 * Greetings: the hellos (RV_USER_ENTER) that clients of other nodes said to this node's clients,
 * and not yet taken back with a goodbye. When such a client's node dies, nobody else knows its
 * contact lists: this node says the goodbyes it owes to its own clients (docs/cluster.md, Failure behaviour).
 */
import { decodeCommand } from '../../protocol/messages.js';
import { Notice } from '../../protocol/system-commands.js';

/** Pairs remembered at most (beyond, the oldest greeter is forgotten). */
const MAX_PAIRS = 100_000;

export class Greetings {
  /** Greeter on another node → clients here it greeted. */
  readonly #by = new Map<string, Set<string>>();
  #pairs = 0;

  /** A notification from another node was delivered to client `to` here. */
  seen(to: string, payload: Buffer): void {
    let name: string;
    let user: unknown;
    try {
      const cmd = decodeCommand(payload);
      name = cmd.name;
      user = cmd.params.user;
    } catch {
      return;
    }
    if (typeof user !== 'string') return;
    if (name === Notice.USER_ENTER) {
      let s = this.#by.get(user);
      if (!s) this.#by.set(user, (s = new Set()));
      if (s.has(to)) return;
      s.add(to);
      if (++this.#pairs > MAX_PAIRS) this.#forgetOldest();
    } else if (name === Notice.USER_EXIT) {
      const s = this.#by.get(user);
      if (!s?.delete(to)) return;
      this.#pairs--;
      if (s.size === 0) this.#by.delete(user);
    }
  }

  /** `id` went offline with its node: the clients here it owes a goodbye (forgotten now). */
  owed(id: string): string[] {
    const s = this.#by.get(id);
    if (!s) return [];
    this.#by.delete(id);
    this.#pairs -= s.size;
    return [...s];
  }

  #forgetOldest(): void {
    const [id, s] = this.#by.entries().next().value as [string, Set<string>];
    this.#by.delete(id);
    this.#pairs -= s.size;
  }
}
