/**
 * LocalDelivery: what a node does with frames that other nodes sent to clients online on it
 * (docs/cluster.md, Routing): each goes to the client's reader, after this node's allowed-senders
 * check (not for the server's notifications), with the reader's own policy; a reliable item's
 * answer is the client's acknowledgement or the refusal.
 */
import { CloseCode, ErrorCode, nackCloseCode, type CamwireError } from '../../errors.js';
import type { MediaTypeName } from '../../protocol/constants.js';
import type { Frame } from '../../protocol/frame.js';
import type { Client } from '../client.js';
import type { Directory } from '../directory.js';
import type { ServerMetrics } from '../metrics.js';
import { forward } from '../relay.js';
import type { Reader } from '../router.js';
import type { Greetings } from './greetings.js';
import type { Answer } from './wire.js';

export interface LocalDeliveryOptions {
  directory: Directory;
  metrics: ServerMetrics;
  self: string;
  greetings: Greetings;
}

export class LocalDelivery {
  readonly #o: LocalDeliveryOptions;

  constructor(o: LocalDeliveryOptions) {
    this.#o = o;
  }

  /** The reader of client `id` for `type`, when it is online here and takes messages from `from`; else why not. */
  local(id: string, from: string, type: MediaTypeName, notice = false): { client: Client; reader: Reader } | string {
    const c = this.#o.directory.get(id);
    const reader = c?.channels.get(type);
    if (!c || !reader) return `client ${JSON.stringify(id)} has no ${type} channel open on node ${this.#o.self}`;
    if (!notice && !this.#o.directory.accepts(id, from)) {
      this.#o.metrics.drop(type, 'not_allowed');
      c.missed(type, 'not_allowed');
      return `client ${JSON.stringify(id)} does not accept ${type} from ${from}`;
    }
    return { client: c, reader };
  }

  /** Video or audio for a client here: into its reader's latest-wins or drop-oldest queue. */
  offer(from: Client, f: Frame, type: 'video' | 'audio', id: string): void {
    const t = this.local(id, from.id, type);
    if (typeof t === 'string') return;
    const bytes = f.payload.length;
    const dropped = t.reader.offer(forward(from, f));
    if (dropped) this.#o.metrics.drop(type, 'slow_reader', dropped);
    t.client.counters.out[type].frames++;
    t.client.counters.out[type].bytes += bytes;
    this.#o.metrics.count('out', type, bytes);
  }

  /** A reliable item for a client here: the answer once it acknowledged it, or the refusal. */
  async submit(from: Client, f: Frame, type: MediaTypeName, id: string, notice: boolean): Promise<Answer> {
    const t = this.local(id, from.id, type, notice);
    if (typeof t === 'string') return { ok: false, close: CloseCode.NOT_ALLOWED, code: ErrorCode.DELIVERY_REFUSED, message: t };
    const bytes = f.payload.length;
    try {
      if (notice) this.#o.greetings.seen(id, f.payload);
      const info = await t.reader.submit(forward(from, f));
      t.client.counters.out[type].frames++;
      t.client.counters.out[type].bytes += bytes;
      this.#o.metrics.count('out', type, bytes);
      return info.resumeOffset !== undefined ? { ok: true, resume: info.resumeOffset } : { ok: true };
    } catch (err) {
      t.client.missed(type, 'failed');
      const e = err as CamwireError;
      return { ok: false, close: nackCloseCode(e), code: e.code ?? ErrorCode.DELIVERY_REFUSED, message: e.message };
    }
  }
}
