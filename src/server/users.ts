/**
 * UserRegistry: users added at run time, kept in the store beside the users of the `auth`
 * option, which are fixed for the server's life (docs/api.md, MediaServer.addUser). In a cluster
 * (docs/cluster.md, Users) the cluster's bucket is the truth: `observer` stores each change there,
 * and every node, this one included, takes it in through `apply`.
 */
import { ConfigError, ErrorCode } from '../errors.js';
import type { Logger } from '../options.js';
import { hashPassword, type Authenticator, type UserEntry } from './auth.js';
import type { StoreWrites } from './store/guard.js';
import type { StoredUser } from './store/store.js';

export interface UserRegistryOptions {
  auth: Authenticator | undefined;
  /** Names of the users from the configuration. */
  fixed: string[];
  store: StoreWrites;
  /** Resolves once the store has every change made so far. */
  durable: () => Promise<void>;
  logger: Logger;
}

/** Where a cluster keeps the users (server/cluster/users-sync.ts). */
export interface UsersObserver {
  /** Stores a user for every node; resolves once this node applied it (through `apply`), rejects with a ConfigError for a conflict. */
  put(u: StoredUser): Promise<void>;
  /** Removes a user for every node (already removed here). */
  remove(user: string): void;
}

export class UserRegistry {
  /** Set while the server is in a cluster. */
  observer: UsersObserver | undefined;
  readonly #o: UserRegistryOptions;
  readonly #fixed: Set<string>;
  /** The users added at run time, as stored. */
  readonly #runtime = new Map<string, StoredUser>();

  constructor(o: UserRegistryOptions) {
    this.#o = o;
    this.#fixed = new Set(o.fixed);
  }

  /** Takes in the users the store kept. */
  load(users: readonly StoredUser[]): void {
    for (const u of users) {
      if (!this.#o.auth) {
        this.#o.logger.warn({ user: u.user }, 'a user kept in the store is ignored: this server runs without auth');
        continue;
      }
      if (this.#fixed.has(u.user)) continue;
      try {
        this.#o.auth.addUser(u);
        this.#runtime.set(u.user, u);
      } catch (err) {
        this.#o.logger.warn({ user: u.user, err: (err as Error).message }, 'a user kept in the store is ignored');
      }
    }
  }

  /** Whether this server checks credentials (it takes users only then). */
  get enabled(): boolean {
    return this.#o.auth !== undefined;
  }

  /** The users added at run time that this server holds. */
  runtime(): StoredUser[] {
    return [...this.#runtime.values()];
  }

  async add(u: UserEntry): Promise<void> {
    const auth = this.#o.auth;
    if (!auth) throw new ConfigError(ErrorCode.CONFIG_INVALID, 'this server lets anyone in: give it the auth option to add users');
    if (!u.user || (!u.password && !u.passwordHash)) throw new ConfigError(ErrorCode.CONFIG_INVALID, 'addUser needs user and password (or passwordHash)');
    this.#notFixed(u.user);
    const stored: StoredUser = { user: u.user, passwordHash: u.passwordHash ?? (await hashPassword(u.password!)), clientIds: u.clientIds ?? [] };
    if (this.observer) {
      const conflict = auth.conflict(stored);
      if (conflict) throw new ConfigError(ErrorCode.CONFIG_INVALID, `addUser: ${conflict}`);
      // Every node applies it from the cluster's bucket, this one included.
      await this.observer.put(stored);
      await this.#o.durable();
      return;
    }
    try {
      auth.addUser(stored);
    } catch (err) {
      throw new ConfigError(ErrorCode.CONFIG_INVALID, `addUser: ${(err as Error).message}`);
    }
    this.#runtime.set(stored.user, stored);
    this.#o.store.putUser(stored);
    await this.#o.durable();
  }

  remove(user: string): boolean {
    this.#notFixed(user);
    if (!this.#o.auth?.removeUser(user)) return false;
    this.#runtime.delete(user);
    this.#o.store.deleteUser(user);
    this.observer?.remove(user);
    return true;
  }

  /**
   * A cluster's record of a user (undefined: removed), applied here and kept in this node's store.
   * Returns why it was not applied: a user of this node's configuration, no auth, or a client id
   * that belongs to another user; undefined when applied.
   */
  apply(user: string, u: StoredUser | undefined): string | undefined {
    const auth = this.#o.auth;
    if (!auth) return 'this server runs without auth';
    if (this.#fixed.has(user)) return `user ${user} comes from this node's configuration`;
    if (!u) {
      auth.removeUser(user);
      if (this.#runtime.delete(user)) this.#o.store.deleteUser(user);
      return undefined;
    }
    try {
      auth.addUser(u);
    } catch (err) {
      return (err as Error).message;
    }
    const had = this.#runtime.get(user);
    this.#runtime.set(user, u);
    if (!had || had.passwordHash !== u.passwordHash || had.clientIds.join('\n') !== u.clientIds.join('\n')) this.#o.store.putUser(u);
    return undefined;
  }

  #notFixed(user: string): void {
    if (this.#fixed.has(user)) throw new ConfigError(ErrorCode.CONFIG_INVALID, `user ${user} comes from the configuration; change it there`);
  }
}
