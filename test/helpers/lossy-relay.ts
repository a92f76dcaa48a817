/**
 * A loopback UDP relay that sits between a UDP sender and a UDP receiver, forwards datagrams
 * both ways, and drops a chosen fraction of them with a seeded deterministic PRNG (xorshift32),
 * so a lossy run is reproducible: the n-th datagram in a direction is dropped or not depending
 * only on the seed, the loss rate and n.
 *
 * Clients send to `relay.port`; each client address gets its own upstream socket (like a NAT),
 * so the target sees one stable source per client and its answers find their way back.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';

/** Direction of a datagram: `up` = client (sender) to target (receiver), `down` = the reverse. */
export type Direction = 'up' | 'down';

/** xorshift32: a tiny deterministic PRNG. Returns floats in [0, 1). */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** Options of a LossyRelay. */
export interface LossyRelayOptions {
  /** Where datagrams from clients go (the receiver). */
  target: { host?: string; port: number };
  /** Fraction (0..1) of client-to-target datagrams dropped. @default 0 */
  lossUp?: number;
  /** Fraction (0..1) of target-to-client datagrams dropped. @default 0 */
  lossDown?: number;
  /** PRNG seed; each direction has its own stream derived from it. @default 1 */
  seed?: number;
  /**
   * Fraction (0..1) of forwarded datagrams, both directions, held back and sent after the next
   * datagram of that direction (or after 5 ms if none comes): reordering. @default 0
   */
  reorder?: number;
  /** Fraction (0..1) of forwarded datagrams, both directions, sent twice. @default 0 */
  duplicate?: number;
  /**
   * Extra drop rule, applied before the random loss: return true to drop the datagram.
   * `n` counts datagrams in that direction from 0.
   */
  drop?: (dir: Direction, n: number, datagram: Buffer) => boolean;
}

/** Per-direction counters. */
export interface DirectionStats {
  /** Datagrams received from that side. */
  received: number;
  forwarded: number;
  dropped: number;
  /** Forwarded datagrams sent late (after a later one) and sent twice. */
  reordered: number;
  duplicated: number;
}

/** Events of a LossyRelay. */
export interface LossyRelayEvents {
  forward: [dir: Direction, datagram: Buffer];
  drop: [dir: Direction, datagram: Buffer];
}

interface Client {
  address: string;
  port: number;
  upstream: dgram.Socket;
}

const BUFFER_SIZE = 4 * 1024 * 1024;

function bind(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      try {
        // Bursts of fragments of large frames must not overflow the relay's own buffers.
        s.setRecvBufferSize(BUFFER_SIZE);
        s.setSendBufferSize(BUFFER_SIZE);
      } catch {
        /* capped by the OS */
      }
      resolve(s);
    });
  });
}

/** LossyRelay: a deterministic lossy UDP forwarder for tests. */
export class LossyRelay extends EventEmitter<LossyRelayEvents> {
  readonly #front: dgram.Socket;
  readonly #target: { host: string; port: number };
  readonly #clients = new Map<string, Client>();
  readonly #pending = new Map<string, Promise<Client>>();
  #lossUp: number;
  #lossDown: number;
  readonly #rand: Record<Direction, () => number>;
  readonly #drop: LossyRelayOptions['drop'];
  readonly #reorder: number;
  readonly #duplicate: number;
  /** Streams of their own for reordering and duplication, so the loss decisions stay as without them. */
  readonly #randMix: Record<Direction, () => number>;
  readonly #held: Record<Direction, Array<() => void>> = { up: [], down: [] };
  readonly #heldTimer: Record<Direction, NodeJS.Timeout | undefined> = { up: undefined, down: undefined };
  #closed = false;
  readonly stats: Record<Direction, DirectionStats> = {
    up: { received: 0, forwarded: 0, dropped: 0, reordered: 0, duplicated: 0 },
    down: { received: 0, forwarded: 0, dropped: 0, reordered: 0, duplicated: 0 },
  };

  private constructor(front: dgram.Socket, o: LossyRelayOptions) {
    super();
    this.#front = front;
    this.#target = { host: o.target.host ?? '127.0.0.1', port: o.target.port };
    this.#lossUp = o.lossUp ?? 0;
    this.#lossDown = o.lossDown ?? 0;
    const seed = o.seed ?? 1;
    this.#rand = { up: xorshift32(seed), down: xorshift32((seed ^ 0x5bd1e995) >>> 0) };
    this.#drop = o.drop;
    this.#reorder = o.reorder ?? 0;
    this.#duplicate = o.duplicate ?? 0;
    this.#randMix = { up: xorshift32((seed ^ 0x27d4eb2f) >>> 0), down: xorshift32((seed ^ 0x165667b1) >>> 0) };
    front.on('message', (d, rinfo) => void this.#fromClient(d, rinfo.address, rinfo.port));
    front.on('error', () => {});
  }

  /** Binds the relay on 127.0.0.1 (a free port). */
  static async start(o: LossyRelayOptions): Promise<LossyRelay> {
    return new LossyRelay(await bind(), o);
  }

  /** The port clients send to. */
  get port(): number {
    return this.#front.address().port;
  }

  /** Changes the loss rates from now on (the PRNG streams continue). */
  setLoss(up: number, down = this.#lossDown): void {
    this.#lossUp = up;
    this.#lossDown = down;
  }

  /** Decides the fate of the next datagram in `dir`; always draws one number so decisions depend on n only. */
  #shouldDrop(dir: Direction, d: Buffer): boolean {
    const n = this.stats[dir].received++;
    const r = this.#rand[dir]();
    if (this.#drop?.(dir, n, d)) return true;
    return r < (dir === 'up' ? this.#lossUp : this.#lossDown);
  }

  #count(dir: Direction, d: Buffer, dropped: boolean): void {
    if (dropped) {
      this.stats[dir].dropped++;
      this.emit('drop', dir, d);
    } else {
      this.stats[dir].forwarded++;
      this.emit('forward', dir, d);
    }
  }

  /** Sends a forwarded datagram, maybe twice, maybe after the next one. */
  #send(dir: Direction, send: () => void): void {
    const late = this.#randMix[dir]() < this.#reorder;
    const twice = this.#randMix[dir]() < this.#duplicate;
    const go = (): void => {
      if (this.#closed) return;
      send();
      if (twice) {
        this.stats[dir].duplicated++;
        send();
      }
    };
    if (late) {
      this.stats[dir].reordered++;
      this.#held[dir].push(go);
      this.#heldTimer[dir] ??= setTimeout(() => this.#flush(dir), 5);
      return;
    }
    go();
    this.#flush(dir);
  }

  #flush(dir: Direction): void {
    clearTimeout(this.#heldTimer[dir]);
    this.#heldTimer[dir] = undefined;
    for (const go of this.#held[dir].splice(0)) go();
  }

  async #fromClient(d: Buffer, address: string, port: number): Promise<void> {
    // Decide before any await so the decision order is the arrival order.
    const dropped = this.#shouldDrop('up', d);
    const client = this.#clients.get(`${address}|${port}`) ?? (await this.#client(address, port));
    if (this.#closed) return;
    this.#count('up', d, dropped);
    if (!dropped) this.#send('up', () => client.upstream.send(d, this.#target.port, this.#target.host));
  }

  #client(address: string, port: number): Promise<Client> {
    const key = `${address}|${port}`;
    let p = this.#pending.get(key);
    if (!p) {
      p = bind().then((upstream) => {
        const c: Client = { address, port, upstream };
        upstream.on('error', () => {});
        upstream.on('message', (d) => {
          if (this.#closed) return;
          const dropped = this.#shouldDrop('down', d);
          this.#count('down', d, dropped);
          if (!dropped) this.#send('down', () => this.#front.send(d, c.port, c.address));
        });
        this.#clients.set(key, c);
        return c;
      });
      this.#pending.set(key, p);
    }
    return p;
  }

  /** Closes every socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#heldTimer.up);
    clearTimeout(this.#heldTimer.down);
    const clients = await Promise.all(this.#pending.values());
    await Promise.all([this.#front, ...clients.map((c) => c.upstream)].map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
