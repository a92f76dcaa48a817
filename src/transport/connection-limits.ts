/**
 * Connection limits of a listening port: how many connections one remote address may hold, and
 * how many may be in their handshake at once, per address and overall (docs/limits.md,
 * Connections). A connection beyond a limit is refused at once, so that no client, however many
 * connections it opens, can use up the server's file descriptors.
 */
import fs from 'node:fs';
import net from 'node:net';

/** Limits on the connections of one listening port (TCP, HTTP, or the peers of a UDP port). */
export interface ConnectionLimits {
  /**
   * Connections open at once on this port, from all addresses together (on UDP: peers, one per
   * address, port, session and media type). At the limit a new connection first makes room by
   * cutting the oldest one still in its handshake; when every one has finished its handshake, it
   * is refused. 0 = no limit. @default half of what the process's open-file limit (`ulimit -n`)
   * leaves after 256 descriptors kept for files, databases and outgoing connections, at least 64
   * (`defaultMaxConnections`; 32 640 with the common 65 536)
   */
  maxConnections: number;
  /**
   * Connections open at once from one remote address (IPv4 address, or IPv6 /64 prefix). A
   * MediaServer client uses up to 11 (5 pull channels, 5 push lanes, a poll) and NAT puts many
   * clients behind one address. 0 = no limit. @default 256
   */
  maxConnectionsPerIp: number;
  /**
   * Connections from one remote address still in their handshake: TCP, no HELLO received yet;
   * HTTP (and WebSocket), no complete request headers yet. Not used on UDP. 0 = no limit.
   * @default 32
   */
  maxPendingPerIp: number;
  /**
   * Connections in their handshake, from all addresses together. At the limit the oldest one is
   * cut to make room for the new one (a real handshake takes milliseconds; a connection that has
   * waited longest is the likeliest to be an attacker's), so that a flood from many addresses
   * cannot lock legitimate clients out until the handshake timeouts. Not used on UDP. 0 = no
   * limit. @default 1024
   */
  maxPending: number;
}

/**
 * The fixed defaults of ConnectionLimits (docs/limits.md says why). `maxConnections` is not
 * fixed: it follows the process's open-file limit (`defaultMaxConnections`).
 */
export const DEFAULT_CONNECTION_LIMITS: Readonly<Omit<ConnectionLimits, 'maxConnections'>> = Object.freeze({
  maxConnectionsPerIp: 256,
  maxPendingPerIp: 32,
  maxPending: 1024,
});

const LIMIT_NAMES: ReadonlyArray<keyof ConnectionLimits> = ['maxConnections', 'maxConnectionsPerIp', 'maxPendingPerIp', 'maxPending'];

/** Descriptors a process keeps for what is not a connection: files, the database, outgoing links. */
const FD_RESERVE = 256;

/**
 * The soft open-file limit of this process (`ulimit -n`), from /proc/self/limits; undefined where
 * that file does not exist (not Linux) or says "unlimited".
 */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0]);
  return Number.isInteger(soft) && soft > 0 ? soft : undefined;
}

/**
 * The default `maxConnections` of one port: half of the open-file limit after FD_RESERVE
 * descriptors (a MediaServer has two ports that take connections), at least 64; 32 640 when the
 * limit is unknown (as with the common 65 536).
 */
export function defaultMaxConnections(fdLimit: number | undefined): number {
  return Math.max(64, Math.floor(((fdLimit ?? 65_536) - FD_RESERVE) / 2));
}

/** Why a connection was refused: the limit it met. */
export type RefusedReason = 'total' | 'per_ip' | 'pending_per_ip' | 'pending';

/**
 * The key one remote address is counted under: an IPv4 address (also when IPv4-mapped), or the
 * /64 prefix of an IPv6 address (one host usually has a whole /64).
 */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
  // No colon: not IPv6 (the common IPv4 case, without net.isIPv6's regular expression per connection).
  if (!address.includes(':')) return address;
  if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) return address.slice(7);
  if (!net.isIPv6(address)) return address;
  const [head, tail = ''] = address.split('%')[0]!.split('::') as [string, string?];
  const h = head ? head.split(':') : [];
  const t = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = address.includes('::') ? [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  return groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':') + '::/64';
}

/** One admitted connection: counted until it closes, pending until `established()`. */
export interface ConnectionTicket {
  /** The handshake is done (HELLO, or complete request headers). Idempotent. */
  established(): void;
}

/** One admitted UDP peer: counted until `release()` (its link closed). */
export interface PeerTicket {
  /** The peer's link is gone. Idempotent. */
  release(): void;
}

/**
 * Counts the connections of one port (or the peers of one UDP port) per address, in total and in
 * handshake; admits or refuses each.
 */
export class ConnectionGate {
  readonly limits: ConnectionLimits;
  readonly #open = new Map<string, number>();
  readonly #pendingPer = new Map<string, number>();
  /** Connections in their handshake, oldest first, with their tickets (end() uncounts one that is cut). */
  readonly #pendingSet = new Map<net.Socket, GateTicket>();
  readonly #cut: (sock: net.Socket) => void;
  #total = 0;

  /** `cut` closes a connection evicted to make room (the caller counts it as refused, reason 'pending'). */
  constructor(limits: Partial<ConnectionLimits> | undefined, cut: (sock: net.Socket) => void) {
    this.limits = resolveConnectionLimits(limits);
    this.#cut = cut;
  }

  /** Connections in their handshake now. */
  get pending(): number {
    return this.#pendingSet.size;
  }

  /** Connections (or UDP peers) open now, all addresses. */
  get open(): number {
    return this.#total;
  }

  /** Open connections from this address now. */
  openFrom(address: string | undefined): number {
    return this.#open.get(addressKey(address)) ?? 0;
  }

  /**
   * Admits a new connection (counted until `sock` closes) or returns the limit it met. The caller
   * destroys a refused socket. At `maxPending`, or at `maxConnections` while some connection is
   * still pending, the oldest pending connection is handed to `cut` and the new one admitted.
   */
  admit(sock: net.Socket): ConnectionTicket | RefusedReason {
    const key = addressKey(sock.remoteAddress);
    const l = this.limits;
    const pend = this.#pendingPer.get(key) ?? 0;
    if (l.maxConnectionsPerIp > 0 && (this.#open.get(key) ?? 0) >= l.maxConnectionsPerIp) return 'per_ip';
    if (l.maxPendingPerIp > 0 && pend >= l.maxPendingPerIp) return 'pending_per_ip';
    while (this.#pendingSet.size > 0 && ((l.maxPending > 0 && this.#pendingSet.size >= l.maxPending) || (l.maxConnections > 0 && this.#total >= l.maxConnections))) {
      const [oldest, t] = this.#pendingSet.entries().next().value as [net.Socket, GateTicket];
      // A cut connection stops counting at once: its 'close' comes later, and the room is needed now.
      t.end();
      this.#cut(oldest);
    }
    if (l.maxConnections > 0 && this.#total >= l.maxConnections) return 'total';
    this.#add(key);
    this.#pendingPer.set(key, (this.#pendingPer.get(key) ?? 0) + 1);
    // One small object per connection and a shared 'close' listener (no closures: memory per idle connection).
    const t = new GateTicket(this, key, sock);
    this.#pendingSet.set(sock, t);
    (sock as TicketedSocket)[TICKET] = t;
    sock.on('close', onTicketedClose);
    return t;
  }

  /** @internal A ticket's connection finished its handshake or ended. */
  static settle(g: ConnectionGate, t: GateTicket): void {
    g.#pendingSet.delete(t.sock);
    const n = (g.#pendingPer.get(t.key) ?? 1) - 1;
    if (n > 0) g.#pendingPer.set(t.key, n);
    else g.#pendingPer.delete(t.key);
  }

  /** @internal A ticket's connection ended. */
  static uncount(g: ConnectionGate, key: string): void {
    g.#remove(key);
  }

  /**
   * Admits a new UDP peer from `address` (counted until its ticket is released) or returns the
   * limit it met. UDP peers have no handshake to cut: at a limit the new peer is refused.
   */
  admitPeer(address: string): PeerTicket | RefusedReason {
    const key = addressKey(address);
    const l = this.limits;
    if (l.maxConnectionsPerIp > 0 && (this.#open.get(key) ?? 0) >= l.maxConnectionsPerIp) return 'per_ip';
    if (l.maxConnections > 0 && this.#total >= l.maxConnections) return 'total';
    return { release: this.#count(key) };
  }

  /** Counts one connection of `key`; returns what uncounts it (once). */
  #count(key: string): () => void {
    this.#add(key);
    let counted = true;
    return () => {
      if (!counted) return;
      counted = false;
      this.#remove(key);
    };
  }

  #add(key: string): void {
    this.#open.set(key, (this.#open.get(key) ?? 0) + 1);
    this.#total++;
  }

  #remove(key: string): void {
    this.#total--;
    const n = (this.#open.get(key) ?? 1) - 1;
    if (n > 0) this.#open.set(key, n);
    else this.#open.delete(key);
  }
}

const TICKET = Symbol('camwire.connectionTicket');
type TicketedSocket = net.Socket & { [TICKET]?: GateTicket };

/** The ticket a gate admitted `sock` with (kept on the socket: no map per listener). */
export function connectionTicket(sock: object | undefined): ConnectionTicket | undefined {
  return sock ? (sock as TicketedSocket)[TICKET] : undefined;
}

function onTicketedClose(this: TicketedSocket): void {
  this[TICKET]?.end();
}

/** An admitted connection's ticket: pending until established(), counted until end() (its close, or a cut). */
class GateTicket implements ConnectionTicket {
  #pending = true;
  #counted = true;
  constructor(
    readonly gate: ConnectionGate,
    readonly key: string,
    readonly sock: net.Socket,
  ) {}

  established(): void {
    if (!this.#pending) return;
    this.#pending = false;
    ConnectionGate.settle(this.gate, this);
  }

  end(): void {
    this.established();
    if (!this.#counted) return;
    this.#counted = false;
    ConnectionGate.uncount(this.gate, this.key);
  }
}

/** Fills in defaults and checks values; throws a TypeError naming the bad field. */
export function resolveConnectionLimits(o: Partial<ConnectionLimits> | undefined): ConnectionLimits {
  if (o !== undefined && (typeof o !== 'object' || o === null || Array.isArray(o))) throw new TypeError(`limits must be an object { ${LIMIT_NAMES.join('?, ')}? }`);
  const out: ConnectionLimits = { maxConnections: defaultMaxConnections(openFileLimit()), ...DEFAULT_CONNECTION_LIMITS };
  for (const [k, v] of Object.entries(o ?? {})) {
    if (!LIMIT_NAMES.includes(k as keyof ConnectionLimits)) throw new TypeError(`limits: unknown field ${JSON.stringify(k)} (use ${LIMIT_NAMES.join(', ')})`);
    if (v === undefined) continue;
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 1_000_000) throw new TypeError(`limits.${k} must be a whole number from 0 (no limit) to 1000000, got ${JSON.stringify(v)}`);
    out[k as keyof ConnectionLimits] = v as number;
  }
  return out;
}
