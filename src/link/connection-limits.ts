/**
 * Connection limits of a listening port: how many connections one remote address may hold, and
 * how many may be in their handshake at once, per address and overall (docs/limits.md,
 * Connections). A connection beyond a limit is refused at once, so that no client, however many
 * connections it opens, can use up the server's file descriptors.
 */
import net from 'node:net';

/** Limits on the connections of one listening port (TCP or HTTP). */
export interface ConnectionLimits {
  /**
   * Connections open at once from one remote address (IPv4 address, or IPv6 /64 prefix). A
   * MediaServer client uses up to 11 (5 pull channels, 5 push lanes, a poll) and NAT puts many
   * clients behind one address. 0 = no limit. @default 256
   */
  maxConnectionsPerIp: number;
  /**
   * Connections from one remote address still in their handshake: TCP, no HELLO received yet;
   * HTTP (and WebSocket), no complete request headers yet. 0 = no limit. @default 32
   */
  maxPendingPerIp: number;
  /**
   * Connections in their handshake, from all addresses together. At the limit the oldest one is
   * cut to make room for the new one (a real handshake takes milliseconds; a connection that has
   * waited longest is the likeliest to be an attacker's), so that a flood from many addresses
   * cannot lock legitimate clients out until the handshake timeouts. 0 = no limit. @default 1024
   */
  maxPending: number;
}

/** The defaults of ConnectionLimits (docs/limits.md says why). */
export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConnectionsPerIp: 256,
  maxPendingPerIp: 32,
  maxPending: 1024,
});

/** Why a connection was refused: the limit it met. */
export type RefusedReason = 'per_ip' | 'pending_per_ip' | 'pending';

/**
 * The key one remote address is counted under: an IPv4 address (also when IPv4-mapped), or the
 * /64 prefix of an IPv6 address (one host usually has a whole /64).
 */
export function addressKey(address: string | undefined): string {
  if (!address) return '?';
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

/** Counts the connections of one port per address and in handshake; admits or refuses each. */
export class ConnectionGate {
  readonly limits: ConnectionLimits;
  readonly #open = new Map<string, number>();
  readonly #pendingPer = new Map<string, number>();
  /** Connections in their handshake, oldest first, with what ends their pending state. */
  readonly #pendingSet = new Map<net.Socket, () => void>();
  readonly #cut: (sock: net.Socket) => void;

  /** `cut` closes a connection evicted at `maxPending` (the caller counts it as refused, reason 'pending'). */
  constructor(limits: Partial<ConnectionLimits> | undefined, cut: (sock: net.Socket) => void) {
    this.limits = resolveConnectionLimits(limits);
    this.#cut = cut;
  }

  /** Connections in their handshake now. */
  get pending(): number {
    return this.#pendingSet.size;
  }

  /** Open connections from this address now. */
  openFrom(address: string | undefined): number {
    return this.#open.get(addressKey(address)) ?? 0;
  }

  /**
   * Admits a new connection (counted until `sock` closes) or returns the limit it met. The caller
   * destroys a refused socket. At `maxPending` the oldest pending connection is handed to `cut`
   * and the new one admitted.
   */
  admit(sock: net.Socket): ConnectionTicket | RefusedReason {
    const key = addressKey(sock.remoteAddress);
    const l = this.limits;
    const open = this.#open.get(key) ?? 0;
    const pend = this.#pendingPer.get(key) ?? 0;
    if (l.maxConnectionsPerIp > 0 && open >= l.maxConnectionsPerIp) return 'per_ip';
    if (l.maxPendingPerIp > 0 && pend >= l.maxPendingPerIp) return 'pending_per_ip';
    while (l.maxPending > 0 && this.#pendingSet.size >= l.maxPending) {
      const [oldest, release] = this.#pendingSet.entries().next().value as [net.Socket, () => void];
      release();
      this.#cut(oldest);
    }
    this.#open.set(key, open + 1);
    this.#pendingPer.set(key, pend + 1);
    let pending = true;
    const established = (): void => {
      if (!pending) return;
      pending = false;
      this.#pendingSet.delete(sock);
      const n = (this.#pendingPer.get(key) ?? 1) - 1;
      if (n > 0) this.#pendingPer.set(key, n);
      else this.#pendingPer.delete(key);
    };
    this.#pendingSet.set(sock, established);
    sock.once('close', () => {
      established();
      const n = (this.#open.get(key) ?? 1) - 1;
      if (n > 0) this.#open.set(key, n);
      else this.#open.delete(key);
    });
    return { established };
  }
}

/** Fills in defaults and checks values; throws a TypeError naming the bad field. */
export function resolveConnectionLimits(o: Partial<ConnectionLimits> | undefined): ConnectionLimits {
  if (o !== undefined && (typeof o !== 'object' || o === null)) throw new TypeError('limits must be an object { maxConnectionsPerIp?, maxPendingPerIp?, maxPending? }');
  const out: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS };
  for (const [k, v] of Object.entries(o ?? {})) {
    if (!(k in DEFAULT_CONNECTION_LIMITS)) throw new TypeError(`limits: unknown field ${JSON.stringify(k)} (use ${Object.keys(DEFAULT_CONNECTION_LIMITS).join(', ')})`);
    if (v === undefined) continue;
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 1_000_000) throw new TypeError(`limits.${k} must be a whole number from 0 (no limit) to 1000000, got ${JSON.stringify(v)}`);
    out[k as keyof ConnectionLimits] = v as number;
  }
  return out;
}
