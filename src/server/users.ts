/**
 * UserRegistry: users added at run time, kept in the store beside the users of the `auth`
 * option, which are fixed for the server's life (docs/api.md, MediaServer.addUser).
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

export class UserRegistry {
  readonly #o: UserRegistryOptions;
  readonly #fixed: Set<string>;

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
      } catch (err) {
        this.#o.logger.warn({ user: u.user, err: (err as Error).message }, 'a user kept in the store is ignored');
      }
    }
  }

  async add(u: UserEntry): Promise<void> {
    const auth = this.#o.auth;
    if (!auth) throw new ConfigError(ErrorCode.CONFIG_INVALID, 'this server lets anyone in: give it the auth option to add users');
    if (!u.user || (!u.password && !u.passwordHash)) throw new ConfigError(ErrorCode.CONFIG_INVALID, 'addUser needs user and password (or passwordHash)');
    this.#notFixed(u.user);
    const stored: StoredUser = { user: u.user, passwordHash: u.passwordHash ?? (await hashPassword(u.password!)), clientIds: u.clientIds ?? [] };
    try {
      auth.addUser(stored);
    } catch (err) {
      throw new ConfigError(ErrorCode.CONFIG_INVALID, `addUser: ${(err as Error).message}`);
    }
    this.#o.store.putUser(stored);
    await this.#o.durable();
  }

  remove(user: string): boolean {
    this.#notFixed(user);
    if (!this.#o.auth?.removeUser(user)) return false;
    this.#o.store.deleteUser(user);
    return true;
  }

  #notFixed(user: string): void {
    if (this.#fixed.has(user)) throw new ConfigError(ErrorCode.CONFIG_INVALID, `user ${user} comes from the configuration; change it there`);
  }
}
