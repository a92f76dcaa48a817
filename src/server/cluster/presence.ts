/**
 * Presence: which node of the cluster is alive, and on which node each online client's receiver
 * is (docs/cluster.md, Presence). Two JetStream KV buckets:
 * - `<prefix>_nodes`: one key per node, re-put every `heartbeatMs`; the bucket's max age removes
 *   the key of a node that stopped. Every node watches it and declares a node dead when it has
 *   not heard of it for `deadAfterMs` (its own timer: an expiry is not announced on a watch).
 * - `<prefix>_clients`: key token(id) = { node, since } while the receiver is online there;
 *   deleted, revision-checked, when it goes offline, so a later owner's record is never deleted.
 * Every node keeps the latest record of each client in memory (from the watch): routing reads
 * memory only. A record whose node is dead counts as offline.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '../../options.js';
import type { Applied } from './applied.js';
import { encodeRecord, nodeAddress, parseRecord, token, untoken, type NodeAddress, type NodeRecord, type PresenceRecord } from './wire.js';

export interface PresenceOptions {
  nodes: KV;
  clients: KV;
  self: string;
  heartbeatMs: number;
  deadAfterMs: number;
  logger: Logger;
  /** A client of this node came online on `node` later: disconnect it here. */
  takenOver: (id: string, node: string) => void;
  /** A node stopped or died; `ids` were online there. `cleaner`: this node is the one that removes the dead node's records. */
  /** `drained`: the node was draining when it went (its clients are moving, not gone). */
  nodeDown: (node: string, ids: string[], cleaner: boolean, drained: boolean) => void;
  nodeUp: (node: string) => void;
  /** A client's record on another node appeared or went. */
  remote: (id: string, node: string, online: boolean) => void;
  /** How many clients are online here (for the heartbeat record). */
  localOnline: () => number;
  /** Where clients reach this node (for the heartbeat record), once known. */
  address: () => NodeAddress | undefined;
  /** This node drains (its record says so). */
  draining: () => boolean;
  /** Counts the revisions of `<prefix>_clients` this node applied (read-your-writes: applied.ts). */
  applied?: Applied;
}

interface Entry {
  node: string;
  rev: number;
}

export class Presence {
  readonly #o: PresenceOptions;
  /** Live nodes (this one included): when each was last heard of (performance.now()). */
  readonly #nodes = new Map<string, number>();
  /** Each live node's address and client count, from its heartbeat. */
  readonly #records = new Map<string, { address?: NodeAddress; online: number; draining: boolean }>();
  /** The latest record of each client, from the watch. */
  readonly #clients = new Map<string, Entry>();
  /** This node's own records: revision once the put returned (0 while it is in flight). */
  readonly #mine = new Map<string, number>();
  /** This node's puts in flight: the revision each gets (undefined: not stored). */
  readonly #putting = new Map<string, Promise<number | undefined>>();
  readonly #started = Date.now();
  #timers: NodeJS.Timeout[] = [];
  #stops: Array<() => void> = [];
  #bad = 0;
  #stopped = false;
  /** This node's NATS connection is down: it hears nobody, so it declares nobody dead. */
  paused = false;

  constructor(o: PresenceOptions) {
    this.#o = o;
  }

  /** Records rejected from the buckets (not JSON, no node). */
  get badRecords(): number {
    return this.#bad;
  }

  /** Starts the heartbeat and the watches; resolves once this node's first heartbeat is stored. */
  async start(): Promise<void> {
    await this.#beat();
    this.#nodes.set(this.#o.self, performance.now());
    this.#stops.push(await this.#watch(this.#o.nodes, (e) => this.#onNode(e)));
    this.#stops.push(
      await this.#watch(this.#o.clients, (e) => {
        this.#onClient(e);
        this.#o.applied?.mark('clients', e.revision);
      }),
    );
    const beat = setInterval(() => void this.#beat().catch((err: Error) => this.#o.logger.warn({ err: err.message }, 'cluster heartbeat failed')), this.#o.heartbeatMs);
    const check = setInterval(() => this.#check(), Math.max(100, Math.floor(this.#o.heartbeatMs / 2)));
    beat.unref();
    check.unref();
    this.#timers = [beat, check];
  }

  /** Says it is alive now (its record with its address, once the listeners are bound). */
  beat(): void {
    void this.#beat().catch((err: Error) => this.#o.logger.warn({ err: err.message }, 'cluster heartbeat failed'));
  }

  /** The live nodes other than this one that said where clients reach them, with their client counts. */
  others(): Array<{ node: string; address: NodeAddress; online: number }> {
    const out: Array<{ node: string; address: NodeAddress; online: number }> = [];
    for (const [node, r] of this.#records) if (node !== this.#o.self && r.address && this.#nodes.has(node)) out.push({ node, address: r.address, online: r.online });
    return out;
  }

  /** Live nodes, this one included. */
  nodes(): string[] {
    return [...this.#nodes.keys()];
  }

  /** The live node where `id`'s receiver is online, if any (this node included). */
  where(id: string): string | undefined {
    const e = this.#clients.get(id);
    return e && this.#nodes.has(e.node) ? e.node : undefined;
  }

  /** Ids online on live nodes. */
  onlineIds(): string[] {
    const out: string[] = [];
    for (const [id, e] of this.#clients) if (this.#nodes.has(e.node)) out.push(id);
    return out;
  }

  /**
   * `id`'s receiver came online here: stores its record. Resolves with the record's revision once
   * stored (undefined if NATS refused it); a second call while the record is stored or in flight
   * writes nothing and resolves with the same revision.
   */
  online(id: string): Promise<number | undefined> {
    const rev = this.#mine.get(id);
    if (rev !== undefined) return this.#putting.get(id) ?? Promise.resolve(rev || undefined);
    return this.#put(id);
  }

  #put(id: string): Promise<number | undefined> {
    this.#mine.set(id, 0);
    const p = this.#o.clients.put(token(id), encodeRecord({ node: this.#o.self, since: Date.now() } satisfies PresenceRecord)).then(
      (rev) => {
        if (this.#putting.get(id) === p) this.#putting.delete(id);
        if (!this.#mine.has(id)) {
          // Offline again before the put returned: the record goes.
          this.#o.clients.delete(token(id), { previousSeq: rev }).catch(() => {});
          return undefined;
        }
        this.#mine.set(id, rev);
        // Another node's record written after ours, seen before our put returned.
        const e = this.#clients.get(id);
        if (e && e.node !== this.#o.self && e.rev > rev) this.#lose(id, e.node);
        return rev;
      },
      (err: Error) => {
        if (this.#putting.get(id) === p) this.#putting.delete(id);
        this.#o.logger.warn({ client: id, err: err.message }, 'cluster: presence not stored');
        return undefined;
      },
    );
    this.#putting.set(id, p);
    return p;
  }

  /** `id`'s receiver went offline here: its record goes, unless another node wrote one since. */
  offline(id: string): void {
    const rev = this.#mine.get(id);
    this.#mine.delete(id);
    if (!rev) return;
    this.#o.clients.delete(token(id), { previousSeq: rev }).catch(() => {
      /* another node owns it now: that record stays */
    });
  }

  /** Stops the timers and watches, and removes this node's records. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    for (const s of this.#stops) s();
    const dels = [...this.#mine].filter(([, rev]) => rev > 0).map(([id, rev]) => this.#o.clients.delete(token(id), { previousSeq: rev }).catch(() => {}));
    dels.push(this.#o.nodes.delete(this.#o.self).catch(() => {}));
    this.#mine.clear();
    await Promise.all(dels);
  }

  async #beat(): Promise<void> {
    if (this.#stopped) return;
    await this.#o.nodes.put(this.#o.self, encodeRecord({ node: this.#o.self, started: this.#started, online: this.#o.localOnline(), address: this.#o.address(), ...(this.#o.draining() ? { draining: true } : {}) } satisfies NodeRecord));
  }

  async #watch(kv: KV, fn: (e: KvWatchEntry) => void): Promise<() => void> {
    const it = await kv.watch();
    void (async () => {
      for await (const e of it) fn(e);
    })().catch((err: Error) => {
      if (!this.#stopped) this.#o.logger.error({ err: err.message }, 'cluster: watch ended');
    });
    return () => it.stop();
  }

  #onNode(e: KvWatchEntry): void {
    if (e.operation !== 'PUT') {
      // A node that stopped cleanly deletes its key: it is gone at once.
      const drained = this.#records.get(e.key)?.draining === true;
      this.#records.delete(e.key);
      if (e.key !== this.#o.self && this.#nodes.delete(e.key)) this.#down(e.key, drained);
      return;
    }
    const r = parseRecord<NodeRecord>(e.value);
    if (!r || r.node !== e.key) {
      this.#bad++;
      return;
    }
    this.#records.set(r.node, { address: nodeAddress(r.address), online: typeof r.online === 'number' ? r.online : 0, draining: r.draining === true });
    const known = this.#nodes.has(r.node);
    this.#nodes.set(r.node, performance.now());
    if (known || r.node === this.#o.self) return;
    this.#o.nodeUp(r.node);
    // Back after it was thought dead (or first seen): its clients' records count again.
    for (const [id, e] of this.#clients) if (e.node === r.node) this.#o.remote(id, r.node, true);
  }

  #onClient(e: KvWatchEntry): void {
    const id = untoken(e.key);
    if (id === undefined) {
      this.#bad++;
      return;
    }
    const cur = this.#clients.get(id);
    if (cur && cur.rev > e.revision) return;
    if (e.operation !== 'PUT') {
      this.#clients.delete(id);
      if (cur && cur.node !== this.#o.self && this.#nodes.has(cur.node)) this.#o.remote(id, cur.node, false);
      // Our record was removed by another node (it thought this node dead): it is still online here.
      const mine = this.#mine.get(id);
      if (cur && mine !== undefined && mine === cur.rev && !this.#stopped) void this.#put(id);
      return;
    }
    const r = parseRecord<PresenceRecord>(e.value);
    if (!r) {
      this.#bad++;
      return;
    }
    this.#clients.set(id, { node: r.node, rev: e.revision });
    if (cur && cur.node !== r.node && cur.node !== this.#o.self && this.#nodes.has(cur.node)) this.#o.remote(id, cur.node, false);
    if (r.node === this.#o.self) return;
    if (cur?.node !== r.node && this.#nodes.has(r.node)) this.#o.remote(id, r.node, true);
    const mine = this.#mine.get(id);
    // Ours is older (or still being written and will be compared when the put returns).
    if (mine !== undefined && mine > 0 && mine < e.revision) this.#lose(id, r.node);
  }

  #lose(id: string, node: string): void {
    this.#mine.delete(id);
    this.#o.takenOver(id, node);
  }

  /** Nodes not heard of within deadAfterMs are dead. */
  #check(): void {
    const now = performance.now();
    if (this.paused) {
      // Silence from the others means nothing while this node cannot hear: they get a full period once it hears again.
      for (const n of this.#nodes.keys()) this.#nodes.set(n, now);
      return;
    }
    this.#nodes.set(this.#o.self, now);
    for (const [node, seen] of this.#nodes) {
      if (now - seen <= this.#o.deadAfterMs) continue;
      this.#nodes.delete(node);
      this.#down(node, this.#records.get(node)?.draining === true);
    }
  }

  #down(node: string, drained: boolean): void {
    const ids: string[] = [];
    for (const [id, e] of this.#clients) if (e.node === node) ids.push(id);
    this.#o.logger.warn({ node, clients: ids.length }, 'cluster: node gone');
    // The first live node (by name) removes the dead node's records; the others only forget them.
    const cleaner = [...this.#nodes.keys()].sort()[0] === this.#o.self;
    // Its records stay in memory (where() skips them while the node is dead) until their deletion comes back on the watch.
    for (const id of ids) {
      const e = this.#clients.get(id)!;
      this.#o.remote(id, node, false);
      if (cleaner) this.#o.clients.delete(token(id), { previousSeq: e.rev }).catch(() => {});
    }
    this.#o.nodeDown(node, ids, cleaner, drained);
  }
}
