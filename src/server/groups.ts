/**
 * GroupRegistry: the one owner of groups (chat rooms). Pure state with synchronous methods
 * that return results or throw a GroupError; notifications are the caller's job.
 */
import { CamwireError, ErrorCode } from '../errors.js';

/** A group refused a request (wrong password, missing group, too many groups). */
export class GroupError extends CamwireError {}

/** One member of a group. */
export interface Member {
  id: string;
  permanent: boolean;
}

/** A group. */
export interface Group {
  id: string;
  name: string;
  /** Fixed by the creator; later joiners must give the same. '' = none. */
  password: string;
  owner: string;
  members: Map<string, Member>;
}

/** Options of a join. */
export interface JoinOptions {
  permanent?: boolean;
  name?: string;
  password?: string;
  onlyExisting?: boolean;
}

export class GroupRegistry {
  readonly #groups = new Map<string, Group>();
  readonly #maxGroups: number;

  constructor(maxGroups: number) {
    this.#maxGroups = maxGroups;
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

  /**
   * Adds `client` to `groupId`, creating the group unless `onlyExisting`. Returns whether the
   * client is newly a member (false when it already was). Throws a GroupError when refused.
   */
  join(client: string, groupId: string, o: JoinOptions = {}): { group: Group; added: boolean; created: boolean } {
    if (!groupId) throw new GroupError(ErrorCode.GROUP_INVALID, 'group id must not be empty');
    let g = this.#groups.get(groupId);
    let created = false;
    if (!g) {
      if (o.onlyExisting) throw new GroupError(ErrorCode.GROUP_NOT_FOUND, `group ${JSON.stringify(groupId)} does not exist`);
      if (this.#groups.size >= this.#maxGroups) throw new GroupError(ErrorCode.GROUP_LIMIT, `the server keeps at most ${this.#maxGroups} groups`);
      g = { id: groupId, name: o.name ?? '', password: o.password ?? '', owner: client, members: new Map() };
      this.#groups.set(groupId, g);
      created = true;
    } else if (g.password && g.password !== (o.password ?? '')) {
      throw new GroupError(ErrorCode.GROUP_PASSWORD, `wrong password for group ${JSON.stringify(groupId)}`);
    }
    const had = g.members.get(client);
    const permanent = Boolean(o.permanent) || Boolean(had?.permanent);
    g.members.set(client, { id: client, permanent });
    return { group: g, added: !had, created };
  }

  /** Removes `client` from `groupId`; returns the group if the client was a member. Empty groups go away. */
  leave(client: string, groupId: string): Group | undefined {
    const g = this.#groups.get(groupId);
    if (!g || !g.members.delete(client)) return undefined;
    if (g.members.size === 0) this.#groups.delete(groupId);
    return g;
  }

  /** The groups `client` is a member of. */
  of(client: string): Group[] {
    return this.all().filter((g) => g.members.has(client));
  }

  /** The client went offline: it leaves every group where it is not permanent. Returns those groups. */
  disconnect(client: string): Group[] {
    const left: Group[] = [];
    for (const g of this.of(client)) {
      if (!g.members.get(client)!.permanent && this.leave(client, g.id)) left.push(g);
    }
    return left;
  }
}
