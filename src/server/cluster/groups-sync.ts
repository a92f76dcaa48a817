/**
 * GroupSync: groups with members on different nodes (docs/cluster.md, Groups). Every node mirrors
 * every group in its GroupRegistry from the bucket `<prefix>_groups`:
 * - `g.<token(group)>`: the group's description { node, name, owner, passwordHash, created },
 *   created once (a revision-checked create: when two nodes create a group at once, the first
 *   stored wins and both take it);
 * - `m.<token(group)>.<token(client)>`: { node, permanent }, one key per member, written only by
 *   the node the client joined through, so concurrent joins and leaves never overwrite each other.
 * What crosses nodes for a group (its media and reliable items) is group-routes.ts; the grace
 * given to a drained node's members, drain-grace.ts.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { Notice } from '../../protocol/system-commands.js';
import type { Logger } from '../../options.js';
import type { Directory } from '../directory.js';
import type { Group, GroupMeta, GroupObserver, GroupRegistry } from '../groups.js';
import type { SystemRequests } from '../system-requests.js';
import type { ClusterEvent } from './cluster.js';
import type { Outbound } from './outbound.js';
import { bounded, SYNC_MS, type Applied } from './applied.js';
import { DrainGrace } from './drain-grace.js';
import type { GroupRoutes } from './group-routes.js';
import { encodeRecord, parseRecord, token, untoken, type MemberRecord } from './wire.js';

export interface GroupSyncOptions {
  kv: KV;
  self: string;
  groups: GroupRegistry;
  directory: Directory;
  requests: SystemRequests;
  out: Outbound;
  /** The group subjects this node subscribes to (refreshed on each change of a group's members). */
  routes: GroupRoutes;
  logger: Logger;
  /** A record that was not what it should be. */
  bad: () => void;
  onEvent: (ev: ClusterEvent) => void;
  /** Read-your-writes: revisions applied here, and the wait for the other nodes (applied.ts). */
  applied: Applied;
  /** Whether a receiver of `id` is coming online here (welcome pending: ClusterNode.arrive). */
  arriving: (id: string) => boolean;
}

type MetaRecord = GroupMeta & { node: string };

interface Held {
  node: string;
  permanent: boolean;
  rev: number;
}

export class GroupSync implements GroupObserver {
  /** Drained nodes' members waiting to arrive elsewhere (nodeDown). */
  readonly #grace = new DrainGrace();
  readonly #o: GroupSyncOptions;
  /** Revision and content of each group's description. */
  readonly #meta = new Map<string, { rev: number; meta: MetaRecord }>();
  /** Member records by group, then client. */
  readonly #members = new Map<string, Map<string, Held>>();
  /** Descriptions of groups created here that are being stored (hashing the password, then the create). */
  readonly #describing = new Map<string, Promise<void>>();
  /** Memberships (key: group, client) this node deleted itself (its client left): their deletions come back on the watch. */
  readonly #ownDeletes = new Set<string>();
  /** This node's last write of each membership (key: group, client): the revision it got, once stored. */
  readonly #writes = new Map<string, Promise<number | undefined>>();
  #stopWatch: (() => void) | undefined;
  #stopped = false;

  constructor(o: GroupSyncOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const it = await o.kv.watch();
    this.#stopWatch = () => it.stop();
    void (async () => {
      for await (const e of it) {
        this.#onEntry(e);
        o.applied.mark('groups', e.revision);
      }
    })().catch((err: Error) => {
      if (!this.#stopped) o.logger.error({ err: err.message }, 'cluster: group watch ended');
    });
    o.groups.observer = this;
  }

  stop(): void {
    this.#stopped = true;
    this.#grace.stop();
    this.#o.groups.observer = undefined;
    this.#stopWatch?.();
  }

  // ------------------------------------------------------------------ GroupObserver (this node's changes)

  created(g: Group, passwordHash: Promise<string>): void {
    const stored: Promise<void> = passwordHash
      .then((hash) => {
        const meta: MetaRecord = { node: this.#o.self, name: g.name, owner: g.owner, passwordHash: hash, created: g.created };
        return this.#o.kv.create(this.#metaKey(g.id), encodeRecord(meta));
      })
      .then(
        () => {},
        () => {
          /* another node's description was stored first: the watch brings it, and this node takes it */
        },
      )
      .finally(() => {
        if (this.#describing.get(g.id) === stored) this.#describing.delete(g.id);
      });
    this.#describing.set(g.id, stored);
  }

  joined(g: Group, client: string, permanent: boolean): void {
    // The creator's membership is stored after the group's description: every node's watch sees the
    // description (its password) first, so no node admits a join to a group it knows without one.
    const describing = this.#describing.get(g.id);
    this.#wrote(g.id, client, describing ? describing.then(() => this.#storeMember(g.id, client, permanent)) : this.#storeMember(g.id, client, permanent));
    this.#o.routes.refresh(g.id);
  }

  #storeMember(gid: string, client: string, permanent: boolean): Promise<number | undefined> {
    // Left again while the description was being stored: nothing to store.
    if (!this.#o.groups.get(gid)?.members.has(client)) return Promise.resolve(undefined);
    return this.#o.kv.put(this.#memberKey(gid, client), encodeRecord({ node: this.#o.self, permanent } satisfies MemberRecord)).catch((err: Error) => {
      this.#o.logger.warn({ group: gid, client, err: err.message }, 'cluster: membership not stored');
      return undefined;
    });
  }

  left(g: Group, client: string): void {
    const held = this.#members.get(g.id)?.get(client);
    const kv = this.#o.kv;
    if (held?.node === this.#o.self) {
      if (this.#ownDeletes.size >= 10_000) this.#ownDeletes.delete(this.#ownDeletes.values().next().value as string);
      this.#ownDeletes.add(`${token(g.id)}.${token(client)}`);
    }
    // A deletion does not return its revision: the bucket's last one (read after it) is at least that.
    this.#wrote(
      g.id,
      client,
      kv.delete(this.#memberKey(g.id, client), held ? { previousSeq: held.rev } : undefined).then(
        () => kv.status().then((s) => s.streamInfo.state.last_seq),
        () => undefined,
      ),
    );
    // The group is empty here, so in the whole cluster as far as this node knows: its description goes (unless it changed since).
    const meta = this.#meta.get(g.id);
    if (!this.#o.groups.get(g.id) && meta) this.#o.kv.delete(this.#metaKey(g.id), { previousSeq: meta.rev }).catch(() => {});
    this.#o.routes.refresh(g.id);
  }

  #wrote(gid: string, client: string, rev: Promise<number | undefined>): void {
    const key = `${token(gid)}.${token(client)}`;
    // Kept until its answer waited for it (settled); writes nobody waits for (the control API) make room.
    this.#writes.delete(key);
    if (this.#writes.size >= 10_000) this.#writes.delete(this.#writes.keys().next().value as string);
    this.#writes.set(key, rev.catch(() => undefined));
  }

  /**
   * Resolves once every live node applied this node's last write of `client`'s membership of
   * group `gid` (at once when there is none; at most about SYNC_MS after it is stored).
   */
  async settled(gid: string, client: string): Promise<void> {
    const key = `${token(gid)}.${token(client)}`;
    const p = this.#writes.get(key);
    // NATS down: nobody is waited for (the write fails or goes when it is back).
    if (!this.#o.out.up) return void this.#writes.delete(key);
    const rev = p && (await bounded(p, SYNC_MS));
    if (this.#writes.get(key) === p) this.#writes.delete(key);
    if (rev !== undefined) await this.#o.applied.everywhere('groups', rev);
  }

  // ------------------------------------------------------------------ routing

  /**
   * Client `id` came online here: its memberships recorded by another node (one it left, drained,
   * or that died) become this node's, so they outlive that node. Resolves with the bucket's
   * revision of the last one adopted (undefined: none).
   */
  adopt(id: string): Promise<number | undefined> {
    const updates: Array<Promise<number | undefined>> = [];
    for (const [gid, held] of this.#members) {
      const h = held.get(id);
      if (!h || h.node === this.#o.self) continue;
      updates.push(this.#adopt(gid, id, h));
    }
    return Promise.all(updates).then((revs) => revs.reduce<number | undefined>((a, r) => (r === undefined ? a : Math.max(a ?? 0, r)), undefined));
  }

  #adopt(gid: string, id: string, h: Held): Promise<number | undefined> {
    return this.#o.kv.update(this.#memberKey(gid, id), encodeRecord({ node: this.#o.self, permanent: h.permanent } satisfies MemberRecord), h.rev).then(
      (rev) => {
        // Its membership is this node's now (even if a cleanup of its old node dropped it here meanwhile).
        this.#o.groups.applyMember(gid, id, h.permanent);
        return rev;
      },
      () => undefined /* changed meanwhile (left, or adopted by another node): the watch has the newer record */,
    );
  }

  /** Clients of this node came online or went offline: the group subjects this node needs. */
  refreshClient(id: string): void {
    for (const g of this.#o.groups.of(id)) this.#o.routes.refresh(g.id);
  }

  // ------------------------------------------------------------------ the bucket

  #metaKey(id: string): string {
    return `g.${token(id)}`;
  }

  #memberKey(id: string, client: string): string {
    return `m.${token(id)}.${token(client)}`;
  }

  #onEntry(e: KvWatchEntry): void {
    const parts = e.key.split('.');
    const gid = parts[1] === undefined ? undefined : untoken(parts[1]);
    if (gid === undefined || !((parts[0] === 'g' && parts.length === 2) || (parts[0] === 'm' && parts.length === 3))) return this.#o.bad();
    if (parts[0] === 'g') return this.#onMeta(gid, e);
    const client = untoken(parts[2]);
    if (client === undefined) return this.#o.bad();
    this.#onMember(gid, client, e);
  }

  #onMeta(gid: string, e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      const was = this.#meta.get(gid);
      this.#meta.delete(gid);
      // Deleted as empty while a member joined here: describe it again.
      const g = this.#o.groups.get(gid);
      if (was && g && g.members.size > 0 && [...(this.#members.get(gid)?.values() ?? [])].some((h) => h.node === this.#o.self)) {
        this.#o.kv.create(this.#metaKey(gid), encodeRecord({ ...was.meta, node: this.#o.self })).catch(() => {});
      }
      return;
    }
    const r = parseRecord<MetaRecord>(e.value);
    if (!r || typeof r.owner !== 'string' || typeof r.name !== 'string' || typeof r.passwordHash !== 'string' || typeof r.created !== 'number') return this.#o.bad();
    this.#meta.set(gid, { rev: e.revision, meta: r });
    this.#o.groups.applyMeta(gid, r);
  }

  #onMember(gid: string, client: string, e: KvWatchEntry): void {
    let held = this.#members.get(gid);
    const cur = held?.get(client);
    if (cur && cur.rev > e.revision) return;
    if (e.operation !== 'PUT') {
      held?.delete(client);
      if (held?.size === 0) this.#members.delete(gid);
      // Another node's member left (or was removed by another node: its control API, a dead-node cleanup).
      if (cur && cur.node !== this.#o.self) {
        this.#o.groups.applyMember(gid, client, undefined);
        this.#o.onEvent({ type: 'memberLeft', node: cur.node, group: gid, id: client });
      } else if (cur && !this.#ownDeletes.delete(`${token(gid)}.${token(client)}`)) {
        // This node's member, removed by another node (its control API deleted the group): it leaves here too.
        this.#o.groups.applyMember(gid, client, undefined);
      }
      this.#o.routes.refresh(gid);
      return;
    }
    const r = parseRecord<MemberRecord>(e.value);
    if (!r || typeof r.permanent !== 'boolean') return this.#o.bad();
    if (!held) this.#members.set(gid, (held = new Map()));
    held.set(client, { node: r.node, permanent: r.permanent, rev: e.revision });
    // This node's own records are in its registry already (a late copy of one must not bring back a member that left since).
    if (r.node !== this.#o.self) {
      this.#o.groups.applyMember(gid, client, r.permanent);
      if (!cur) this.#o.onEvent({ type: 'memberJoined', node: r.node, group: gid, id: client });
    }
    this.#o.routes.refresh(gid);
  }

  /**
   * A node died or stopped: its temporary members leave their groups, and the remaining members
   * are told (by one node: `cleaner`). A node that `drained` sent its clients to other nodes,
   * which adopt their memberships when they arrive: those not arrived yet keep them for
   * DRAIN_GRACE_MS, then leave as from a dead node.
   */
  nodeDown(node: string, cleaner: boolean, drained = false): void {
    if (drained) return this.#grace.after(() => this.nodeDown(node, cleaner));
    for (const [gid, held] of this.#members) {
      for (const [client, h] of [...held]) {
        if (h.node !== node || h.permanent) continue;
        // Already here, or arriving (a drained or reconnected client): its record is being adopted, it stays a member.
        if (this.#o.directory.get(client)?.online || this.#o.arriving(client)) continue;
        held.delete(client);
        const g = this.#o.groups.get(gid);
        this.#o.groups.applyMember(gid, client, undefined);
        this.#o.onEvent({ type: 'memberLeft', node, group: gid, id: client });
        if (!cleaner) continue;
        this.#o.kv.delete(this.#memberKey(gid, client), { previousSeq: h.rev }).catch(() => {});
        for (const m of g?.members.keys() ?? []) this.#o.requests.notify(m, Notice.USER_LEAVES_GROUP, { group: gid, user: client });
      }
      this.#o.routes.refresh(gid);
    }
  }
}
