/**
 * KnownSync: the clients every node has seen, shared (docs/cluster.md, Known clients), so the
 * "all users" directory (RVS getAllUsers) answers the same on every node. Bucket `<prefix>_known`,
 * key token(id) = { node, user?, firstSeen, lastSeen }, written by the node that sees the client.
 * Writes are coalesced: a node marks a client on each connect and disconnect and writes the marked
 * ones once per FLUSH_MS, at most MAX_WRITES per flush, so a client that comes and goes often costs
 * one write per second. Each write is revision-checked against the record this node has from its
 * watch and merges it (earliest firstSeen, latest lastSeen, the user of the later one): when two
 * nodes write the same client at once, one is refused and writes the merge at its next flush, so
 * no update is lost. Each node keeps its own known clients in its own store as before; the bucket
 * adds the others' in memory (at most MAX_KNOWN).
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '../../options.js';
import type { Directory, KnownObserver } from '../directory.js';
import type { KnownClient } from '../store/store.js';
import type { ClusterEvent } from './cluster.js';
import { isConflict, watchBucket } from './kv-watch.js';
import { encodeRecord, parseRecord, token, untoken } from './wire.js';

type KnownRecord = Omit<KnownClient, 'id'> & { node: string };

/** How often a node writes the clients it saw since its last write. */
export const FLUSH_MS = 1000;
/** Most writes of one flush (the rest wait for the next one). */
export const MAX_WRITES = 1000;
/** Most clients a node holds from the bucket. */
export const MAX_KNOWN = 100_000;
/** The bucket's size limit: beyond it JetStream refuses new clients (about 200 000 records). */
export const KNOWN_BUCKET_BYTES = 64 * 1024 * 1024;

export interface KnownSyncOptions {
  kv: KV;
  self: string;
  directory: Directory;
  logger: Logger;
  /** Whether NATS is reachable (no writes are tried while it is not). */
  up: () => boolean;
  bad: () => void;
  onEvent: (ev: ClusterEvent) => void;
}

export class KnownSync implements KnownObserver {
  readonly #o: KnownSyncOptions;
  /** Every client in the bucket (up to MAX_KNOWN), and its revision. */
  readonly #mirror = new Map<string, { rev: number; r: KnownRecord }>();
  /** This node's clients seen since the last flush (their directory records). */
  readonly #dirty = new Map<string, Readonly<KnownClient>>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #stopWatch: (() => void) | undefined;
  #stopped = false;
  /** Clients of the bucket not held here (beyond MAX_KNOWN). */
  #beyond = 0;
  /** Writes refused for another reason than a concurrent write (a full bucket). */
  #refused = 0;
  /** Writes made, for stats and tests. */
  writes = 0;

  constructor(o: KnownSyncOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const o = this.#o;
    this.#stopWatch = await watchBucket(o.kv, (e) => this.#onEntry(e), 'known clients', o.logger, () => this.#stopped);
    // This node's store may know clients the bucket does not, or has seen them later: merged at the first flush.
    for (const c of o.directory.all()) if (this.#newer(c.record)) this.#dirty.set(c.id, c.record);
    o.directory.known = this;
    this.#timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.#timer.unref();
  }

  /** Writes what is marked (one last flush at stop, within the node's stop time). */
  stop(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#o.directory.known === this) this.#o.directory.known = undefined;
    const last = this.flush();
    return last.finally(() => {
      this.#stopped = true;
      this.#stopWatch?.();
    });
  }

  seen(r: Readonly<KnownClient>): void {
    this.#dirty.set(r.id, r);
  }

  forgot(id: string): void {
    this.#dirty.delete(id);
    // Forgotten here (the directory was full): its record goes if this node wrote it last.
    const m = this.#mirror.get(id);
    if (m && m.r.node === this.#o.self) this.#o.kv.delete(token(id), { previousSeq: m.rev }).catch(() => {});
  }

  /** Ids of every client in the bucket that this node holds. */
  ids(): IterableIterator<string> {
    return this.#mirror.keys();
  }

  get size(): number {
    return this.#mirror.size;
  }

  /** Writes the marked clients (at most MAX_WRITES; one flush at a time). */
  flush(): Promise<void> {
    if (this.#flushing || this.#stopped || this.#dirty.size === 0 || !this.#o.up()) return this.#flushing ?? Promise.resolve();
    const batch: Array<Readonly<KnownClient>> = [];
    for (const [id, r] of this.#dirty) {
      if (batch.length >= MAX_WRITES) break;
      batch.push(r);
      this.#dirty.delete(id);
    }
    this.#flushing = Promise.all(batch.map((r) => this.#write(r))).then(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #write(mine: Readonly<KnownClient>): Promise<void> {
    const m = this.#mirror.get(mine.id);
    if (!m && this.#mirror.size >= MAX_KNOWN) return;
    const merged = merge(this.#o.self, mine, m?.r);
    if (m && same(merged, m.r)) return;
    try {
      const value = encodeRecord(merged);
      if (m) await this.#o.kv.update(token(mine.id), value, m.rev);
      else await this.#o.kv.create(token(mine.id), value);
      this.writes++;
    } catch (err) {
      // Another node wrote it meanwhile (its record reaches the mirror), or NATS went away: merged again at the next flush.
      if (isConflict(err) || !this.#o.up()) {
        if (!this.#stopped && !this.#dirty.has(mine.id)) this.#dirty.set(mine.id, mine);
        return;
      }
      // Refused otherwise (the bucket is full): this node lists it, the others do not.
      if (this.#refused++ === 0) this.#o.logger.warn({ client: mine.id, err: (err as Error).message }, 'cluster: a known client was not stored in the cluster (more are not logged)');
    }
  }

  /** Whether this node's record says more than the bucket's. */
  #newer(r: Readonly<KnownClient>): boolean {
    const m = this.#mirror.get(r.id);
    return !m || !same(merge(this.#o.self, r, m.r), m.r);
  }

  #onEntry(e: KvWatchEntry): void {
    const id = untoken(e.key);
    if (id === undefined) return this.#o.bad();
    if (e.operation !== 'PUT') {
      this.#mirror.delete(id);
      return;
    }
    const r = parseRecord<KnownRecord>(e.value);
    if (!r || typeof r.firstSeen !== 'number' || typeof r.lastSeen !== 'number' || !(r.user === undefined || typeof r.user === 'string')) return this.#o.bad();
    if (!this.#mirror.has(id) && this.#mirror.size >= MAX_KNOWN) {
      if (this.#beyond++ === 0) this.#o.logger.warn({ max: MAX_KNOWN }, 'cluster: more known clients than a node holds; the others are left out of getAllUsers here');
      return;
    }
    const fresh = !this.#mirror.has(id);
    this.#mirror.set(id, { rev: e.revision, r: { node: r.node, user: r.user, firstSeen: r.firstSeen, lastSeen: r.lastSeen } });
    // Not for the values replayed at start (start() resolves with them), nor for this node's own.
    if (fresh && e.isUpdate && r.node !== this.#o.self && !this.#o.directory.get(id)) this.#o.onEvent({ type: 'clientKnown', node: r.node, id });
  }
}

/** This node's record merged with the bucket's: earliest first seen, latest last seen, the user of the later one. */
function merge(self: string, mine: Readonly<KnownClient>, theirs: KnownRecord | undefined): KnownRecord {
  if (!theirs) return { node: self, ...(mine.user !== undefined ? { user: mine.user } : {}), firstSeen: mine.firstSeen, lastSeen: mine.lastSeen };
  const user = mine.lastSeen >= theirs.lastSeen ? (mine.user ?? theirs.user) : (theirs.user ?? mine.user);
  return { node: self, ...(user !== undefined ? { user } : {}), firstSeen: Math.min(mine.firstSeen, theirs.firstSeen), lastSeen: Math.max(mine.lastSeen, theirs.lastSeen) };
}

function same(a: KnownRecord, b: KnownRecord): boolean {
  return a.firstSeen === b.firstSeen && a.lastSeen === b.lastSeen && a.user === b.user;
}
