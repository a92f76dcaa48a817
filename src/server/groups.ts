/**
 * GroupRegistry: the one owner of groups (chat rooms) and their members (docs/behaviour.md,
 * sections 5 and 7). Joins, leaves and disconnects return results or throw a GroupError;
 * notifications are the caller's job. Groups and permanent memberships go to the store;
 * temporary memberships never do, so after a restart a group is back with its permanent members,
 * and a group that had none is gone.
 *
 * Passwords are kept as scrypt hashes. Checking one costs an scrypt run (on libuv's thread pool),
 * once per group and process: after a password was checked, the registry keeps a keyed HMAC of it
 * under a key that lives only in this process, and later joins compare against that.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, GroupError } from '../errors.js';
import { hashPassword, verifyPassword } from './auth.js';
import type { StoreWrites } from './store/guard.js';
import type { StoreState } from './store/store.js';

/** A group refused a request (wrong password, missing group, too many groups). */
export { GroupError };

/** One member of a group. */
export interface Member {
  id: string;
  permanent: boolean;
}

/** A group. */
export interface Group {
  readonly id: string;
  readonly name: string;
  readonly owner: string;
  /** ms since the epoch. */
  readonly created: number;
  /** Whether later joiners must give the creator's password. */
  readonly hasPassword: boolean;
  readonly members: ReadonlyMap<string, Member>;
}

/** Options of a join. */
export interface JoinOptions {
  permanent?: boolean;
  name?: string;
  password?: string;
  onlyExisting?: boolean;
}

/**
 * Hears of the changes this server's clients make (a cluster shares them, server/cluster/);
 * changes taken in with applyMeta/applyMember are not reported.
 */
export interface GroupObserver {
  created(g: Group, passwordHash: Promise<string>): void;
  joined(g: Group, client: string, permanent: boolean): void;
  left(g: Group, client: string): void;
}

/** A group's description as another node stored it. */
export interface GroupMeta {
  name: string;
  owner: string;
  passwordHash: string;
  created: number;
}

/** A group's password: its scrypt hash, and once checked, a keyed HMAC for fast checks. */
class Secret {
  readonly hash: Promise<string>;
  #mac: Buffer | undefined;
  constructor(readonly key: Buffer, from: { password: string } | { hash: string }) {
    if ('password' in from) {
      this.hash = hashPassword(from.password);
      this.#mac = this.#hmac(from.password);
    } else this.hash = Promise.resolve(from.hash);
    this.hash.catch(() => {});
  }

  async check(password: string): Promise<boolean> {
    const mac = this.#hmac(password);
    if (this.#mac) return timingSafeEqual(mac, this.#mac);
    if (!(await verifyPassword(password, await this.hash))) return false;
    this.#mac = mac;
    return true;
  }

  #hmac(password: string): Buffer {
    return createHmac('sha256', this.key).update(password).digest();
  }
}

interface GroupState extends Group {
  readonly members: Map<string, Member>;
  readonly secret: Secret | undefined;
  /** In the store yet (a new group with a password is stored once its hash is known). */
  stored: boolean;
}

export class GroupRegistry {
  readonly #groups = new Map<string, GroupState>();
  /** client → ids of the groups it is a member of */
  readonly #byClient = new Map<string, Set<string>>();
  readonly #maxGroups: number;
  readonly #store: StoreWrites;
  /** Key of the password HMACs: this process only. */
  readonly #key = randomBytes(32);
  /** Set while the server is in a cluster. */
  observer: GroupObserver | undefined;

  constructor(maxGroups: number, store: StoreWrites) {
    this.#maxGroups = maxGroups;
    this.#store = store;
  }

  /** Takes in what the store kept: groups with their permanent members. Groups left empty are deleted. */
  load(s: StoreState): void {
    const members = new Map<string, string[]>();
    for (const m of s.members) members.set(m.group, [...(members.get(m.group) ?? []), m.client]);
    for (const g of s.groups) {
      const ids = members.get(g.id);
      if (!ids?.length) {
        this.#store.deleteGroup(g.id);
        continue;
      }
      const secret = g.passwordHash ? new Secret(this.#key, { hash: g.passwordHash }) : undefined;
      const state: GroupState = { id: g.id, name: g.name, owner: g.owner, created: g.created, hasPassword: Boolean(secret), secret, members: new Map(), stored: true };
      this.#groups.set(g.id, state);
      for (const id of ids) this.#add(state, id, true, false);
    }
  }

  get size(): number {
    return this.#groups.size;
  }

  get(id: string): Group | undefined {
    return this.#groups.get(id);
  }

  all(): Group[] {
    return [...this.#groups.values()];
  }

  /** The groups `client` is a member of. */
  of(client: string): Group[] {
    return [...(this.#byClient.get(client) ?? [])].map((id) => this.#groups.get(id)!);
  }

  /** Whether `client` is a permanent member of some group. */
  pinned(client: string): boolean {
    for (const id of this.#byClient.get(client) ?? []) if (this.#groups.get(id)!.members.get(client)!.permanent) return true;
    return false;
  }

  /**
   * Adds `client` to `groupId`, creating the group unless `onlyExisting`. Resolves with whether
   * the client is newly a member (false when it already was), once the change is stored.
   * Rejects with a GroupError when refused.
   */
  async join(client: string, groupId: string, o: JoinOptions = {}): Promise<{ group: Group; added: boolean; created: boolean }> {
    if (!groupId) throw new GroupError(ErrorCode.GROUP_INVALID, 'group id must not be empty');
    for (;;) {
      const g = this.#groups.get(groupId);
      if (!g) return this.#create(client, groupId, o);
      if (g.secret && !(await g.secret.check(o.password ?? ''))) {
        throw new GroupError(ErrorCode.GROUP_PASSWORD, `wrong password for group ${JSON.stringify(groupId)}`);
      }
      // The group may have gone (its last member left) while the password was checked.
      if (this.#groups.get(groupId) !== g) continue;
      const had = g.members.get(client);
      this.#add(g, client, Boolean(o.permanent) || Boolean(had?.permanent));
      return { group: g, added: !had, created: false };
    }
  }

  /** Removes `client` from `groupId`; returns the group if the client was a member. Empty groups go away. */
  leave(client: string, groupId: string): Group | undefined {
    const g = this.#leave(client, groupId);
    if (g) this.observer?.left(g, client);
    return g;
  }

  /**
   * Another node's description of a group (a cluster): the group takes its name, owner and
   * password, and is created (without members) if missing. The first stored description wins.
   */
  applyMeta(id: string, meta: GroupMeta): void {
    const g = this.#groups.get(id);
    if (g && g.owner === meta.owner && g.created === meta.created && g.name === meta.name) return;
    const secret = meta.passwordHash ? new Secret(this.#key, { hash: meta.passwordHash }) : undefined;
    this.#groups.set(id, { id, name: meta.name, owner: meta.owner, created: meta.created, hasPassword: Boolean(secret), secret, members: g?.members ?? new Map(), stored: g?.stored ?? false });
  }

  /** Another node's member joined (`permanent` given) or left (undefined). Not stored here, not reported to the observer. */
  applyMember(id: string, client: string, permanent: boolean | undefined): void {
    let g = this.#groups.get(id);
    if (permanent === undefined) {
      if (g?.members.has(client)) this.#leave(client, id, false);
      return;
    }
    if (!g) this.#groups.set(id, (g = { id, name: '', owner: '', created: 0, hasPassword: false, secret: undefined, members: new Map(), stored: false }));
    this.#add(g, client, permanent, false);
  }

  #leave(client: string, groupId: string, store = true): GroupState | undefined {
    const g = this.#groups.get(groupId);
    const m = g?.members.get(client);
    if (!g || !m) return undefined;
    g.members.delete(client);
    const mine = this.#byClient.get(client)!;
    mine.delete(groupId);
    if (mine.size === 0) this.#byClient.delete(client);
    if (g.members.size === 0) {
      this.#groups.delete(groupId);
      if (g.stored && store) this.#store.deleteGroup(groupId);
    } else if (m.permanent && g.stored && store) this.#store.deleteMember(groupId, client);
    return g;
  }

  /** Deletes a group with every member, permanent ones too; returns the former members, or undefined if there is no such group. */
  remove(groupId: string): string[] | undefined {
    const g = this.#groups.get(groupId);
    if (!g) return undefined;
    const members = [...g.members.keys()];
    // The last one to leave takes the group (and its stored row) with it.
    for (const m of members) this.leave(m, groupId);
    return members;
  }

  /** The client went offline: it leaves every group where it is not permanent. Returns those groups. */
  disconnect(client: string): Group[] {
    const left: Group[] = [];
    for (const g of this.of(client)) {
      if (!g.members.get(client)!.permanent && this.leave(client, g.id)) left.push(g);
    }
    return left;
  }

  async #create(client: string, groupId: string, o: JoinOptions): Promise<{ group: Group; added: boolean; created: boolean }> {
    if (o.onlyExisting) throw new GroupError(ErrorCode.GROUP_NOT_FOUND, `group ${JSON.stringify(groupId)} does not exist`);
    if (this.#groups.size >= this.#maxGroups) throw new GroupError(ErrorCode.GROUP_LIMIT, `the server keeps at most ${this.#maxGroups} groups`);
    const secret = o.password ? new Secret(this.#key, { password: o.password }) : undefined;
    const g: GroupState = { id: groupId, name: o.name ?? '', owner: client, created: Date.now(), hasPassword: Boolean(secret), secret, members: new Map(), stored: false };
    this.#groups.set(groupId, g);
    this.observer?.created(g, secret ? secret.hash : Promise.resolve(''));
    this.#add(g, client, Boolean(o.permanent));
    // Stored once its password hash is known; then the permanent members who joined meanwhile.
    const passwordHash = secret ? await secret.hash : '';
    if (this.#groups.get(groupId) === g) {
      this.#store.putGroup({ id: g.id, name: g.name, owner: g.owner, passwordHash, created: g.created });
      g.stored = true;
      for (const m of g.members.values()) if (m.permanent) this.#store.putMember(g.id, m.id);
    }
    return { group: g, added: true, created: true };
  }

  /** Makes `client` a member; `store` false when loading from the store. */
  #add(g: GroupState, client: string, permanent: boolean, store = true): void {
    const was = g.members.get(client)?.permanent;
    g.members.set(client, { id: client, permanent });
    let mine = this.#byClient.get(client);
    if (!mine) this.#byClient.set(client, (mine = new Set()));
    mine.add(g.id);
    if (store && g.stored && permanent && !was) this.#store.putMember(g.id, client);
    if (store && was !== permanent) this.observer?.joined(g, client, permanent);
  }
}
