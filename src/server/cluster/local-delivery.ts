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
import { isNamedCodec, type GopCaches, type GopDelivery } from '../gop-cache.js';
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
  /** The addressees of the message being delivered and their readers (offerMany; reused). */
  readonly #clients: Client[] = [];
  readonly #readers: Reader[] = [];

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
      const refused = this.#resolve(from.id, type, typeof ids === 'function' ? ids(first) : ids);
      let gop = false;
      if (type === 'video') for (let k = i; k < j && !gop; k++) gop = isNamedCodec(frames[k]);
      const n = this.#readers.length;
      if (n === 0 && !gop) {
        // Nobody here to take it (gone meanwhile); the refused were counted as not_allowed.
        if (!refused && countUnrouted) this.#o.metrics.drop(type, 'unrouted', j - i);
        i = j;
        continue;
      }
      const batch = new FrameBatch(first.to ?? '', first.group ?? '');
      for (let k = i; k < j; k++) batch.add(forward(from, frames[k], this.#arena), frames[k].payload.length);
      // Compressed video is cached whoever reads it: a reader that comes later starts from it.
      const cached = gop ? this.#o.gops.begin(from, batch) : undefined;
      if (n === 0) {
        if (!refused && countUnrouted) this.#o.metrics.drop(type, 'unrouted', j - i);
      } else this.#offerBatch(batch, type, cached);
      i = j;
    }
  }

  /**
   * The readers of `ids` here for `type` that take it from `from`, into #clients and #readers
   * (reused: no allocation per message); returns whether some were refused (counted not_allowed).
   */
  #resolve(from: string, type: 'video' | 'audio', ids: readonly string[]): boolean {
    const dir = this.#o.directory;
    this.#clients.length = 0;
    this.#readers.length = 0;
    let refused = false;
    for (const id of ids) {
      const c = dir.get(id);
      const reader = c?.channels.get(type);
      if (!c || !reader) continue;
      if (!dir.accepts(id, from)) {
        this.#o.metrics.drop(type, 'not_allowed');
        c.missed(type, 'not_allowed');
        refused = true;
        continue;
      }
      this.#clients.push(c);
      this.#readers.push(reader);
    }
    return refused;
  }

  /** Offers `batch` to the readers #resolve found. */
  #offerBatch(batch: FrameBatch, type: 'video' | 'audio', cached: GopDelivery | undefined): void {
    const clients = this.#clients;
    const readers = this.#readers;
    const n = readers.length;
    const frames = batch.frames.length;
    const bytes = batch.payloadBytes;
    batch.join = n >= JOIN_READERS;
    let dropped = 0;
    for (let k = 0; k < n; k++) {
      dropped += cached ? cached.offer(readers[k]) : readers[k].offerBatch(batch);
      const out = clients[k].counters.out[type];
      out.frames += frames;
      out.bytes += bytes;
    }
    clients.length = 0;
    readers.length = 0;
    this.#o.metrics.countTotal('out', type, n * frames, n * bytes);
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
