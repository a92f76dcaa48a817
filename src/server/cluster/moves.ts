/**
 * Where a draining node sends its clients, and knowing when they got there (docs/cluster.md,
 * "Drain and rolling upgrades"): the address this node advertises, the least loaded other live
 * node, and waits for a client to come online elsewhere.
 */
import os from 'node:os';
import type { ClusterConfig } from './options.js';
import type { NodeAddress } from './wire.js';

/** Where clients reach this node: the `advertise` option, else the bind host and the bound ports. */
export function advertisedAddress(a: ClusterConfig['advertise'], ports: { tcp: number; http: number; udp: number }, bind: string): NodeAddress | undefined {
  const tcp = a.tcp ?? ports.tcp;
  const http = a.http ?? ports.http;
  const udp = a.udp ?? ports.udp;
  if (!tcp && !http && !udp) return undefined;
  const host = a.host ?? (bind === '::' || bind === '0.0.0.0' ? os.hostname() : bind);
  return { host, tcp, http, udp };
}

export class Moves {
  /** Clients this node sent away, waiting to come online elsewhere. */
  readonly #moved = new Map<string, Array<(moved: boolean) => void>>();
  /** Clients sent to each node during this drain, so they spread over the others. */
  readonly #sent = new Map<string, number>();

  /** The least loaded of `others` (online clients plus those this node sent there), counted as one more. */
  elsewhere(others: Array<{ node: string; address: NodeAddress; online: number }>): NodeAddress | undefined {
    let best: { node: string; address: NodeAddress; load: number } | undefined;
    for (const o of others) {
      const load = o.online + (this.#sent.get(o.node) ?? 0);
      if (!best || load < best.load) best = { node: o.node, address: o.address, load };
    }
    if (!best) return undefined;
    this.#sent.set(best.node, (this.#sent.get(best.node) ?? 0) + 1);
    return best.address;
  }

  /** Client `id` came online on another node. */
  arrived(id: string): void {
    const waiting = this.#moved.get(id);
    if (!waiting) return;
    this.#moved.delete(id);
    for (const w of waiting) w(true);
  }

  /** Resolves true once `id` is online elsewhere (`arrived`), false after `timeoutMs`. */
  wait(id: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const left = (this.#moved.get(id) ?? []).filter((w) => w !== done);
        if (left.length) this.#moved.set(id, left);
        else this.#moved.delete(id);
        resolve(false);
      }, timeoutMs);
      const done = (moved: boolean): void => {
        clearTimeout(timer);
        resolve(moved);
      };
      this.#moved.set(id, [...(this.#moved.get(id) ?? []), done]);
    });
  }
}
