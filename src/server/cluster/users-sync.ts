/**
 * UserSync: the users added at run time (MediaServer.addUser, removeUser), shared by every node
 * (docs/cluster.md, Users). Bucket `<prefix>_users`:
 * - `u.<token(user)>` = { node, user, passwordHash, clientIds }: created revision-checked when the
 *   writing node knows no such user, else updated at the revision it knows, so a change made on
 *   another node at the same moment is never overwritten unseen: the later writer is refused and told;
 * - `seeded` = { node }: the bucket holds the cluster's users (written with the first user stored
 *   in it); until then, a node that starts gives it the users of its own store.
 * Every node applies every record from its watch, in revision order, to its Authenticator (which
 * the credentials check reads: it never waits for NATS) and to its own store. A record that gives
 * a client id to a second user is ignored by every node (the same order everywhere), and its writer
 * puts back what was there.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { CamwireError, ConfigError, ErrorCode } from '../../errors.js';
import type { Logger } from '../../options.js';
import type { StoredUser } from '../store/store.js';
import type { UserRegistry, UsersObserver } from '../users.js';
import type { ClusterEvent } from './cluster.js';
import { isConflict, watchBucket } from './kv-watch.js';
import { encodeRecord, parseRecord, token, untoken } from './wire.js';

type UserRecord = StoredUser & { node: string };

const SEEDED = 'seeded';
/** Longest addUser waits for this node's watch to bring back its own record. */
const APPLY_MS = 5000;
/** A removal the bucket did not take (NATS away) is tried again this often. */
const RETRY_MS = 1000;
/** Outcomes of recent revisions remembered for a writer whose put returned after its watch saw it. */
const MAX_OUTCOMES = 256;

export interface UserSyncOptions {
  kv: KV;
  self: string;
  users: UserRegistry;
  logger: Logger;
  /** Whether NATS is reachable (a removal waits for it). */
  up: () => boolean;
  bad: () => void;
  onEvent: (ev: ClusterEvent) => void;
}

export class UserSync implements UsersObserver {
  readonly #o: UserSyncOptions;
  /** The record applied for each user, and its revision. */
  readonly #held = new Map<string, { rev: number; r: UserRecord }>();
  /** Why recent revisions were not applied here ('' = applied). */
  readonly #outcomes = new Map<number, string>();
  readonly #waiters = new Map<number, (why: string) => void>();
  /** Removals the bucket has not taken yet: user → the revision to delete. */
  readonly #removing = new Map<string, number>();
  readonly #retries = new Map<string, NodeJS.Timeout>();
  #last = 0;
  #seeded = false;
  #stopWatch: (() => void) | undefined;
  #stopped = false;

  constructor(o: UserSyncOptions) {
    this.#o = o;
  }

  /** Takes in the bucket's users; the first nodes seed it with their stores' users. Then watches it. */
  async start(): Promise<void> {
    const o = this.#o;
    this.#stopWatch = await watchBucket(o.kv, (e) => this.#onEntry(e), 'users', o.logger, () => this.#stopped);
    const mine = o.users.runtime();
    if (!this.#seeded) {
      // The cluster never had users: this node's stored users become the cluster's (a user another node stored first stays).
      if (mine.length) {
        await Promise.all(mine.map((u) => o.kv.create(this.#key(u.user), encodeRecord({ node: o.self, ...u } satisfies UserRecord)).catch(() => {})));
        await this.#seed();
        o.logger.info({ users: mine.length }, 'cluster: users of this node\'s store given to the cluster');
      }
    } else {
      // The bucket is the cluster's truth: a user it does not have was removed while this node was away.
      for (const u of mine) {
        if (this.#held.has(u.user)) continue;
        o.users.apply(u.user, undefined);
        o.logger.info({ user: u.user }, 'cluster: a user of this node\'s store is not in the cluster: removed');
      }
    }
    o.users.observer = this;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#o.users.observer === this) this.#o.users.observer = undefined;
    this.#stopWatch?.();
    for (const t of this.#retries.values()) clearTimeout(t);
    this.#retries.clear();
    for (const w of this.#waiters.values()) w('this node left the cluster');
    this.#waiters.clear();
  }

  async put(u: StoredUser): Promise<void> {
    const o = this.#o;
    const key = this.#key(u.user);
    const held = this.#held.get(u.user);
    let wrote: number;
    try {
      const value = encodeRecord({ node: o.self, ...u } satisfies UserRecord);
      wrote = held ? await o.kv.update(key, value, held.rev) : await o.kv.create(key, value);
    } catch (err) {
      if (isConflict(err)) throw new ConfigError(ErrorCode.CONFIG_INVALID, `addUser: user ${u.user} was changed on another node at the same time; this change was not stored: try again`);
      throw new CamwireError(ErrorCode.CLUSTER_CONNECT, `addUser: NATS did not confirm user ${u.user} (${(err as Error).message}); not applied here (if NATS took it late, every node applies it then)`, { cause: err });
    }
    if (!this.#seeded) await this.#seed();
    const why = await this.#applied(wrote);
    if (why) {
      // Another node's user took one of its client ids first: every node ignored this record; put back what was there.
      await (held ? o.kv.update(key, encodeRecord(held.r), wrote) : o.kv.delete(key, { previousSeq: wrote })).catch(() => {});
      throw new ConfigError(ErrorCode.CONFIG_INVALID, `addUser: ${why}`);
    }
  }

  /** From now on the bucket holds the cluster's users, and no node's store adds to it at start. */
  async #seed(): Promise<void> {
    await this.#o.kv.create(SEEDED, encodeRecord({ node: this.#o.self })).catch(() => {});
  }

  remove(user: string): void {
    const held = this.#held.get(user);
    if (held) this.#delete(user, held.rev);
  }

  /** NATS is back: the removals it missed go now. */
  reconnected(): void {
    for (const [user, rev] of this.#removing) this.#delete(user, rev);
  }

  #delete(user: string, rev: number): void {
    clearTimeout(this.#retries.get(user));
    this.#retries.delete(user);
    this.#removing.set(user, rev);
    if (!this.#o.up()) return;
    this.#o.kv.delete(this.#key(user), { previousSeq: rev }).then(
      () => this.#removing.delete(user),
      (err: Error) => {
        // Changed since (or removed by an earlier try): the bucket's record is the truth (the watch brings it here too).
        if (this.#stopped || isConflict(err) || this.#removing.get(user) !== rev) return void this.#removing.delete(user);
        this.#o.logger.warn({ user, err: err.message }, 'cluster: user removal not stored yet; trying again');
        const t = setTimeout(() => this.#delete(user, rev), RETRY_MS);
        t.unref();
        this.#retries.set(user, t);
      },
    );
  }

  /** Resolves with why revision `rev` was not applied here ('' = applied). */
  #applied(rev: number): Promise<string> {
    if (rev <= this.#last) return Promise.resolve(this.#outcomes.get(rev) ?? '');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(rev);
        resolve('');
        this.#o.logger.warn({ rev }, 'cluster: a user stored in the cluster was not seen back on this node\'s watch in time');
      }, APPLY_MS);
      this.#waiters.set(rev, (why) => {
        clearTimeout(timer);
        resolve(why);
      });
    });
  }

  #key(user: string): string {
    return `u.${token(user)}`;
  }

  #onEntry(e: KvWatchEntry): void {
    const why = this.#apply(e);
    this.#last = Math.max(this.#last, e.revision);
    this.#outcomes.set(e.revision, why);
    if (this.#outcomes.size > MAX_OUTCOMES) this.#outcomes.delete(this.#outcomes.keys().next().value as number);
    for (const [rev, w] of this.#waiters) {
      if (rev > e.revision) continue;
      this.#waiters.delete(rev);
      w(rev === e.revision ? why : '');
    }
  }

  /** Applies one record; returns why it was not applied ('' = applied). */
  #apply(e: KvWatchEntry): string {
    const o = this.#o;
    if (e.key === SEEDED) {
      this.#seeded = e.operation === 'PUT';
      return '';
    }
    const user = e.key.startsWith('u.') ? untoken(e.key.slice(2)) : undefined;
    if (!user) {
      o.bad();
      return 'not a user key';
    }
    // A node without auth takes no users (its log said so at start).
    if (!o.users.enabled) return 'this server runs without auth';
    if (e.operation !== 'PUT') {
      const had = this.#held.delete(user);
      const why = o.users.apply(user, undefined);
      if (!why && had) o.onEvent({ type: 'userRemoved', node: o.self, user });
      return why ?? '';
    }
    const r = parseRecord<UserRecord>(e.value);
    if (!r || r.user !== user || typeof r.passwordHash !== 'string' || !Array.isArray(r.clientIds) || !r.clientIds.every((x) => typeof x === 'string')) {
      o.bad();
      return 'not a user record';
    }
    const why = o.users.apply(user, { user, passwordHash: r.passwordHash, clientIds: r.clientIds });
    if (why) {
      o.logger.warn({ user, node: r.node, why }, 'cluster: a user record is not applied on this node');
      return why;
    }
    this.#held.set(user, { rev: e.revision, r });
    o.onEvent({ type: 'userAdded', node: r.node, user });
    return '';
  }
}
