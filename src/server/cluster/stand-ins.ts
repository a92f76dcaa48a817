/**
 * StandIns: clients on other nodes as this node's routing and counters see them (docs/cluster.md,
 * Routing). A stand-in is a Client that is in no directory: the sender of what came from another
 * node (which goes no further), or the addressee of what goes to another node, whose reader
 * publishes to the client's subject. Bounded: the least recently made go first.
 */
import { Client } from '../client.js';
import type { GopCaches } from '../gop-cache.js';
import type { Reader } from '../router.js';
import type { Outbound } from './outbound.js';
import type { Names } from './wire.js';

/** Remote clients remembered for counting (senders and addressees on other nodes), and their readers. */
const MAX_STAND_INS = 10_000;

export class StandIns {
  readonly #names: Names;
  readonly #out: Outbound;
  readonly #gops: GopCaches;
  readonly #clients = new Map<string, Client>();
  readonly #remote = new WeakSet<Client>();
  readonly #readers = new Map<string, Reader>();
  /** The stand-in of client `id` (a function that keeps `this`, to hand on). */
  readonly get = (id: string): Client => this.#get(id);
  /** Whether `c` stands for a client on another node. */
  readonly isRemote = (c: Client): boolean => this.#remote.has(c);

  constructor(names: Names, out: Outbound, gops: GopCaches) {
    this.#names = names;
    this.#out = out;
    this.#gops = gops;
  }

  #get(id: string): Client {
    let c = this.#clients.get(id);
    if (!c) {
      if (this.#clients.size >= MAX_STAND_INS) {
        const [oldest, old] = this.#clients.entries().next().value as [string, Client];
        this.#gops.forget(old);
        this.#clients.delete(oldest);
      }
      c = new Client({ id, firstSeen: 0, lastSeen: 0 });
      this.#clients.set(id, c);
      this.#remote.add(c);
    }
    return c;
  }

  /** The stand-in of client `id` when there is one (none is made). */
  peek(id: string): Client | undefined {
    return this.#clients.get(id);
  }

  /** Client `id` is no longer online on another node: its reader and the GOP caches of its video go (its counters stay). */
  offline(id: string): void {
    const c = this.#clients.get(id);
    if (c) this.#gops.forget(c);
    this.#readers.delete(id);
  }

  /** The reader standing for client `id` on another node: its subject. */
  reader(id: string): Reader {
    let r = this.#readers.get(id);
    if (r) return r;
    const subject = this.#names.client(id);
    const out = this.#out;
    r = {
      offer: (init) => out.publish(subject, init),
      offerBatch: (batch) => out.publishBatch(subject, batch),
      submit: (init) => out.request(subject, `client ${JSON.stringify(id)}`, init),
    };
    if (this.#readers.size >= MAX_STAND_INS) this.#readers.delete(this.#readers.keys().next().value as string);
    this.#readers.set(id, r);
    return r;
  }
}
