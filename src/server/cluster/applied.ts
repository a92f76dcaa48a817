/**
 * Read-your-writes across the cluster (docs/cluster.md, "What is consistent"): a node that wrote
 * a presence record or a group membership answers its client only once every other live node has
 * applied that revision from its KV watch, or after SYNC_MS.
 *
 * Each node counts the latest revision its watches applied per bucket, and answers requests on
 * `<prefix>.n.<node>.s` (`{ "bucket", "rev" }`) once it has applied `rev` of that bucket (at most
 * SYNC_MS later: `{ "ok": false }`). Revisions of a KV bucket are its stream's sequence numbers,
 * and a watch delivers them in order, so "applied `rev`" means every change up to it.
 * Routing never waits for this: only a join, a leave and a receiver's WELCOME do.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../../options.js';
import type { Names } from './wire.js';

/** The buckets whose writes a client waits for. */
export type SyncedBucket = 'clients' | 'groups';

/** Longest a write's answer waits for the other nodes (and a node waits for its watch to catch up). */
export const SYNC_MS = 1000;

/** Most requests waiting on one node for its watch; beyond, answered at once (not applied). */
const MAX_WAITING = 10_000;

export interface AppliedOptions {
  nc: NatsConnection;
  names: Names;
  self: string;
  /** The other live nodes. */
  others: () => string[];
  /** Whether the NATS connection is up (down: nobody is waited for). */
  up: () => boolean;
  logger: Logger;
}

interface Waiter {
  bucket: SyncedBucket;
  rev: number;
  done: (ok: boolean) => void;
}

export class Applied {
  readonly #o: AppliedOptions;
  readonly #rev: Record<SyncedBucket, number> = { clients: 0, groups: 0 };
  #waiting: Waiter[] = [];
  #sub: Subscription | undefined;
  /** Writes waited for, and those some live node did not confirm within SYNC_MS. */
  waited = 0;
  late = 0;

  constructor(o: AppliedOptions) {
    this.#o = o;
  }

  subject(node: string): string {
    return `${this.#o.names.node(node)}.s`;
  }

  start(): void {
    this.#sub = this.#o.nc.subscribe(this.subject(this.#o.self), {
      callback: (err, m) => {
        if (err || !m.reply) return;
        let q: { bucket?: unknown; rev?: unknown };
        try {
          q = JSON.parse(new TextDecoder().decode(m.data)) as typeof q;
        } catch {
          q = {};
        }
        const bucket = q.bucket === 'clients' || q.bucket === 'groups' ? q.bucket : undefined;
        const rev = typeof q.rev === 'number' ? q.rev : NaN;
        if (!bucket || !Number.isFinite(rev)) return void m.respond(JSON.stringify({ ok: false }));
        void this.reached(bucket, rev).then((ok) => m.respond(JSON.stringify({ ok })));
      },
    });
  }

  stop(): void {
    this.#sub?.unsubscribe();
    for (const w of this.#waiting) w.done(false);
    this.#waiting = [];
  }

  /** This node's watch of `bucket` applied revision `rev` (called after applying it). */
  mark(bucket: SyncedBucket, rev: number): void {
    if (rev <= this.#rev[bucket]) return;
    this.#rev[bucket] = rev;
    if (this.#waiting.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiting) (w.bucket === bucket && w.rev <= rev ? w.done(true) : still.push(w));
    this.#waiting = still;
  }

  /** Resolves true once this node applied `rev` of `bucket`, false after SYNC_MS. */
  reached(bucket: SyncedBucket, rev: number): Promise<boolean> {
    if (this.#rev[bucket] >= rev) return Promise.resolve(true);
    if (this.#waiting.length >= MAX_WAITING) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w: Waiter = {
        bucket,
        rev,
        done: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => {
        this.#waiting = this.#waiting.filter((x) => x !== w);
        resolve(false);
      }, SYNC_MS);
      this.#waiting.push(w);
    });
  }

  /**
   * Resolves once every other live node applied revision `rev` of `bucket` (at most SYNC_MS; a
   * node that did not confirm by then is counted in `late` and logged, and the answer goes anyway).
   */
  async everywhere(bucket: SyncedBucket, rev: number): Promise<void> {
    const nodes = this.#o.others();
    if (nodes.length === 0 || !this.#o.up()) return;
    this.waited++;
    const body = JSON.stringify({ bucket, rev });
    const answers = await Promise.all(
      nodes.map((n) =>
        this.#o.nc.request(this.subject(n), body, { timeout: SYNC_MS }).then(
          (m) => {
            try {
              return (JSON.parse(new TextDecoder().decode(m.data)) as { ok?: unknown }).ok === true;
            } catch {
              return false;
            }
          },
          () => false,
        ),
      ),
    );
    const missing = nodes.filter((_, i) => !answers[i]);
    if (missing.length) {
      this.late++;
      this.#o.logger.warn({ bucket, rev, nodes: missing }, `cluster: not applied by every node within ${SYNC_MS} ms; answering anyway`);
    }
  }
}

/** Resolves with `p`'s value, or undefined after `ms` (the wait is bounded; `p` goes on). */
export function bounded<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]).finally(() => clearTimeout(timer));
}
