/**
 * A Client's direct paths (docs/api.md, "Going direct"): per peer that offered its direct
 * address through the server, a Sender that pushes straight to it. The Client sends there while
 * the path works and through the relay otherwise, the way Tailscale's DERP or WebRTC's TURN fall
 * back: a path that fails is left for `retryMs`, then tried again.
 */
import { Sender, type SenderOptions } from './sender.js';
import type { CamwireError } from './errors.js';
import type { Credentials, Logger } from './options.js';

/** The command a peer sends through the server to offer its direct address (params: `address`). */
export const DIRECT_OFFER = 'CW_DIRECT_OFFER';

/** A direct path's state: `unknown` until its first connection, then `up` or `down`. */
export type DirectState = 'unknown' | 'up' | 'down';

interface Path {
  address: string;
  sender: Sender;
  state: DirectState;
  /** While down: when to try again. */
  retryAt: number;
}

/** What the direct paths need from their Client. */
export interface DirectPathsOptions {
  clientId: string;
  auth?: Credentials;
  logger?: Logger;
  /** A failed path is tried again after this long. */
  retryMs: number;
  /** Connect plus handshake of a direct link. */
  connectTimeoutMs: number;
  onChange(peer: string, state: DirectState, address: string, error?: CamwireError): void;
  /** The Client's encode hooks: a direct path transforms media as the relayed one does. */
  hooks?: Pick<SenderOptions, 'encodeVideo' | 'encodeAudio'>;
}

/** DirectPaths: the direct Senders of one Client, by peer. */
export class DirectPaths {
  readonly #o: DirectPathsOptions;
  readonly #paths = new Map<string, Path>();

  constructor(o: DirectPathsOptions) {
    this.#o = o;
  }

  /** Takes `peer`'s offer: a Sender to `address` (replacing an earlier one). */
  async add(peer: string, address: string): Promise<void> {
    await this.#paths.get(peer)?.sender.stop();
    // No reconnect: an item on a link that breaks fails at once, and goes through the relay.
    const sender = new Sender({ server: address, clientId: this.#o.clientId, to: peer, auth: this.#o.auth, logger: this.#o.logger, reconnect: false, connectTimeoutMs: this.#o.connectTimeoutMs, idleTimeoutMs: 60_000, ...this.#o.hooks });
    const path: Path = { address, sender, state: 'unknown', retryAt: 0 };
    this.#paths.set(peer, path);
    const down = (err: CamwireError | undefined): void => {
      if (this.#paths.get(peer) !== path) return;
      path.retryAt = Date.now() + this.#o.retryMs;
      if (path.state !== 'down') {
        path.state = 'down';
        this.#o.onChange(peer, 'down', address, err);
      }
    };
    sender.on('connected', () => {
      if (this.#paths.get(peer) !== path || path.state === 'up') return;
      path.state = 'up';
      this.#o.onChange(peer, 'up', address);
    });
    sender.on('connectError', (ev) => ev.retryInMs !== undefined && down(ev.error));
    sender.on('disconnect', (ev) => ev.error && down(ev.error));
    await sender.start();
  }

  /** The direct Sender to use for `peer` now, with its state; undefined: use the relay. */
  route(peer: string | undefined): { sender: Sender; state: DirectState } | undefined {
    const p = peer ? this.#paths.get(peer) : undefined;
    if (!p || (p.state === 'down' && Date.now() < p.retryAt)) return undefined;
    return { sender: p.sender, state: p.state };
  }

  /** An item failed on `peer`'s direct path. */
  failed(peer: string, err: CamwireError): void {
    const p = this.#paths.get(peer);
    if (!p) return;
    p.retryAt = Date.now() + this.#o.retryMs;
    if (p.state !== 'down') {
      p.state = 'down';
      this.#o.onChange(peer, 'down', p.address, err);
    }
  }

  state(peer: string): DirectState | undefined {
    return this.#paths.get(peer)?.state;
  }

  async close(): Promise<void> {
    const all = [...this.#paths.values()];
    this.#paths.clear();
    await Promise.all(all.map((p) => p.sender.stop()));
  }
}
