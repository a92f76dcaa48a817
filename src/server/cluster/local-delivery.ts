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
import { FrameArena, FrameBatch } from '../../protocol/fan-encoding.js';
import { MediaType } from '../../protocol/constants.js';
import { isNamedCodec, type GopCaches } from '../gop-cache.js';
import { forward } from '../relay.js';
import type { Reader } from '../router.js';
import type { Greetings } from './greetings.js';
import type { Answer } from './wire.js';

/** Readers from which a batch in several pieces is joined into one Buffer (as in fan-out.ts). */
const JOIN_READERS = 8;

export interface LocalDeliveryOptions {
  directory: Directory;
  metrics: ServerMetrics;
  self: string;
  greetings: Greetings;
  /** The server's GOP caches: a reader's first frames of a compressed source start at a keyframe, as on one server. */
  gops: GopCaches;
}

export class LocalDelivery {
  readonly #o: LocalDeliveryOptions;
  /** Where frames whose header cannot be written over the received one are encoded whole. */
  readonly #arena = new FrameArena();

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

  /**
   * The video or audio frames of one NATS message for the clients `ids` here, as one server fans
   * out a turn's batch: each run of frames from one sender to one address is forwarded and encoded
   * once (the header written over the received one, the payload never copied) and offered to every
   * reader as a whole; counters and metrics once per run. `ids`: the addressees, or a function
   * giving them for a run's first frame (a group's members here). Compressed video goes through
   * the GOP caches, as one server's fan-out does.
   */
  offerMany(frames: readonly Frame[], type: 'video' | 'audio', ids: readonly string[] | ((first: Frame) => readonly string[]), standIn: (id: string) => Client, countUnrouted = true): void {
    for (let i = 0; i < frames.length; ) {
      const first = frames[i];
      let j = i + 1;
      while (j < frames.length && frames[j].from === first.from && frames[j].to === first.to && frames[j].group === first.group) j++;
      const from = standIn(first.from);
      const batch = new FrameBatch(first.to ?? '', first.group ?? '');
      let gop = false;
      for (let k = i; k < j; k++) {
        const f = frames[k];
        if (f.mediaType === MediaType.video && !gop) gop = isNamedCodec(f);
        batch.add(forward(from, f, this.#arena), f.payload.length);
      }
      this.#offerBatch(from, batch, type, typeof ids === 'function' ? ids(first) : ids, gop, countUnrouted);
      i = j;
    }
  }

  #offerBatch(from: Client, batch: FrameBatch, type: 'video' | 'audio', ids: readonly string[], gop: boolean, countUnrouted: boolean): void {
    const targets: { client: Client; reader: Reader }[] = [];
    let refused = false;
    for (const id of ids) {
      const t = this.local(id, from.id, type);
      if (typeof t !== 'string') targets.push(t);
      else if (this.#o.directory.get(id)?.channels.has(type)) refused = true;
    }
    const frames = batch.frames.length;
    // Compressed video is cached whoever reads it: a reader that comes later starts from it.
    const cached = gop ? this.#o.gops.begin(from, batch) : undefined;
    if (targets.length === 0) {
      // Nobody here to take it (gone meanwhile); the refused were counted as not_allowed.
      if (!refused && countUnrouted) this.#o.metrics.drop(type, 'unrouted', frames);
      return;
    }
    const bytes = batch.payloadBytes;
    batch.join = targets.length >= JOIN_READERS;
    let dropped = 0;
    for (const t of targets) {
      dropped += cached ? cached.offer(t.reader) : t.reader.offerBatch(batch);
      const out = t.client.counters.out[type];
      out.frames += frames;
      out.bytes += bytes;
    }
    this.#o.metrics.countTotal('out', type, targets.length * frames, targets.length * bytes);
    if (dropped) this.#o.metrics.drop(type, 'slow_reader', dropped);
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
