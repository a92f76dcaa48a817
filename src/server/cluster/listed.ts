/**
 * Listed: messages for several clients online on one other node, such as a sender's default
 * receivers (docs/cluster.md, Routing), sent once per node, never once per addressee. The frames
 * go to `<prefix>.n.<node>.m` (video, audio: published) or `<prefix>.n.<node>.r` (reliable:
 * a request) with the addressees in the header `Camwire-To` (a JSON list); the node delivers
 * to each of them that is online on it, with its readers' policies, and answers a request once
 * all of them acknowledged.
 */
import { headers, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { CamwireError, CloseCode, ErrorCode } from '../../errors.js';
import { Kind, MediaType, mediaTypeName } from '../../protocol/constants.js';
import type { Frame } from '../../protocol/frame.js';
import type { Client } from '../client.js';
import type { GopCaches } from '../gop-cache.js';
import type { Reader, Target } from '../router.js';
import type { LocalDelivery } from './local-delivery.js';
import type { Outbound } from './outbound.js';
import { mediaOnly, type Inbound } from './inbound.js';
import type { Presence } from './presence.js';
import { encodeAnswer, splitFrames, type Answer, type Names } from './wire.js';

const TO_HEADER = 'Camwire-To';
/** The node name of the target on the shared subject (no node is named so: names are [A-Za-z0-9_-]). */
const SHARED = '*';
/** Most addressees one header lists (a longer list goes in several messages). */
const MAX_LISTED = 1000;
/** Address lists whose target is kept, at most. */
const MAX_TARGETS = 1000;

export interface ListedOptions {
  nc: NatsConnection;
  names: Names;
  self: string;
  presence: Presence;
  out: Outbound;
  local: LocalDelivery;
  maxPayload: number;
  standIn: (id: string) => Client;
  /** The reader of client `id` on another node: its own subject (stand-ins.ts). */
  clientReader: (id: string) => Reader;
  /** The server's GOP caches: a list's target takes frames as they come, a new addressee's cached start goes to it alone. */
  gops: GopCaches;
  isRemote: (c: Client) => boolean;
  bad: () => void;
  /** A NATS message for this node's clients came (counted in stats().cluster.received). */
  received: () => void;
  /** The node's pending limits for video and audio (inbound.ts). */
  inbound: Inbound;
}

export class Listed {
  readonly #o: ListedOptions;
  #subs: Subscription[] = [];
  /** The target of each recent (node, address list). */
  readonly #targets = new Map<string, Target>();

  constructor(o: ListedOptions) {
    this.#o = o;
  }

  start(): void {
    const { nc, names, self } = this.#o;
    this.#subs = [
      nc.subscribe(`${names.node(self)}.m`, { callback: (err, m) => void (err ?? this.#receive(m)) }),
      nc.subscribe(`${names.node(self)}.r`, { callback: (err, m) => void (err ?? this.#receive(m)) }),
      nc.subscribe(names.shared(), { callback: (err, m) => void (err ?? this.#receive(m, true)) }),
    ];
  }

  stop(): void {
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
  }

  /**
   * One target per node where some of `ids` are online (not this one), and the ids online nowhere.
   * Video and audio for addressees on most of the other live nodes (at least two): one target for
   * all of them, published once on `<prefix>.l.m`, which every node subscribes to (NATS copies it
   * to each node; each delivers to those of the addressees online on it).
   */
  many(ids: string[], from: Client, media = false): { targets: Target[]; nowhere: string[] } {
    const o = this.#o;
    if (o.isRemote(from)) return { targets: [], nowhere: ids };
    const byNode = new Map<string, string[]>();
    const nowhere: string[] = [];
    for (const id of ids) {
      const n = o.presence.where(id);
      if (n === undefined || n === o.self) nowhere.push(id);
      else {
        const list = byNode.get(n);
        if (list) list.push(id);
        else byNode.set(n, [id]);
      }
    }
    const targets: Target[] = [];
    if (media && byNode.size >= 2 && 2 * byNode.size > o.presence.nodes().length - 1) {
      const all = nowhere.length === 0 ? ids : [...byNode.values()].flat();
      for (let k = 0; k < all.length; k += MAX_LISTED) targets.push(this.#targetOf(SHARED, all.length <= MAX_LISTED ? all : all.slice(k, k + MAX_LISTED)));
      return { targets, nowhere };
    }
    for (const [node, all] of byNode) {
      for (let k = 0; k < all.length; k += MAX_LISTED) targets.push(this.#targetOf(node, all.length <= MAX_LISTED ? all : all.slice(k, k + MAX_LISTED)));
    }
    return { targets, nowhere };
  }

  /**
   * The target of addressees `list` on `node`, kept while the same list recurs (a sender's default
   * receivers do, message after message): its reader is the same object each time, as a local
   * reader is, and its header is made once. Its reader is live in the GOP caches: it takes each
   * frame as it comes; the cached start goes to each new addressee on its own subject.
   */
  #targetOf(node: string, list: string[]): Target {
    const to = JSON.stringify(list);
    const key = `${node} ${to}`;
    let t = this.#targets.get(key);
    if (t) return t;
    const o = this.#o;
    const h: MsgHdrs = headers();
    h.set(TO_HEADER, to);
    if (node === SHARED) {
      const subject = o.names.shared();
      t = {
        client: o.standIn(`${list.length} clients on other nodes`),
        reader: {
          offer: (init) => o.out.publish(subject, init, h),
          offerBatch: (batch) => o.out.publishBatch(subject, batch, h),
          submit: () => Promise.reject(new CamwireError(ErrorCode.DELIVERY_REFUSED, 'cluster: reliable items go to each node (not on the shared subject)')),
        },
      };
    } else {
      const base = o.names.node(node);
      t = {
        client: o.standIn(`${list.length} clients on node ${node}`),
        reader: {
          offer: (init) => o.out.publish(`${base}.m`, init, h),
          offerBatch: (batch) => o.out.publishBatch(`${base}.m`, batch, h),
          submit: (init) => o.out.request(`${base}.r`, `${list.length} clients on node ${node}`, init, false, h),
        },
      };
    }
    // An address list's subject carries each frame once, as it comes: a new list (a second
    // addressee came online on a node, or on another node) must not bring the cached frames to
    // the addressees that read already. Each addressee that has not started on a source gets the
    // cached frames before the batch on its own subject, which only it reads, in the same turn
    // and on the same connection, so before the batch (docs/cluster.md, Routing).
    o.gops.live(t.reader, () => list.map(o.clientReader));
    if (this.#targets.size >= MAX_TARGETS) this.#targets.delete(this.#targets.keys().next().value as string);
    this.#targets.set(key, t);
    return t;
  }

  /** `shared`: a message on `<prefix>.l.m`, for the addressees online here among those it lists. */
  #receive(m: Msg, shared = false): void {
    this.#o.received();
    const ids = this.#ids(m.headers?.get(TO_HEADER));
    let frames: Frame[] | undefined;
    try {
      frames = ids ? splitFrames(m.data, this.#o.maxPayload) : undefined;
    } catch {
      frames = undefined;
    }
    if (!ids || !frames) {
      this.#o.bad();
      if (m.reply) m.respond(encodeAnswer({ ok: false, close: CloseCode.PROTOCOL_ERROR, code: ErrorCode.PROTOCOL_BAD_HEADER, message: 'cluster: a listed message without a valid address list or frames' }));
      return;
    }
    const media = m.reply ? undefined : mediaOnly(frames, MediaType.video, MediaType.audio, Kind.DATA);
    if (shared && !media) {
      this.#o.bad();
      if (m.reply) m.respond(encodeAnswer({ ok: false, close: CloseCode.PROTOCOL_ERROR, code: ErrorCode.PROTOCOL_UNEXPECTED, message: 'cluster: only video and audio go on the shared subject' }));
      return;
    }
    if (media) {
      const list = frames;
      this.#o.inbound.media(media, list.length, m.data.length, () => {
        // A shared message lists the addressees of every node: those not here are not missed here.
        this.#o.local.offerMany(list, media, ids, this.#o.standIn, !shared);
      });
      return;
    }
    for (const f of frames) {
      const type = mediaTypeName(f.mediaType);
      if (!type || f.kind !== Kind.DATA) {
        this.#o.bad();
        continue;
      }
      const from = this.#o.standIn(f.from);
      if (type === 'video' || type === 'audio') {
        for (const id of ids) this.#o.local.offer(from, f, type, id);
      } else if (m.reply && frames.length === 1) {
        void Promise.all(ids.map((id) => this.#o.local.submit(from, f, type, id, false))).then((answers) => m.respond(encodeAnswer(combine(answers))));
      } else this.#o.bad();
    }
  }

  /** The last address list and its ids: a sender's messages to this node repeat the same list. */
  #lastTo = '';
  #lastIds: string[] = [];

  #ids(v: string | undefined): string[] | undefined {
    if (v && v === this.#lastTo) return this.#lastIds;
    const ids = this.#parseIds(v);
    if (ids && v) {
      this.#lastTo = v;
      this.#lastIds = ids;
    }
    return ids;
  }

  #parseIds(v: string | undefined): string[] | undefined {
    if (!v || v.length > 256 * MAX_LISTED) return undefined;
    try {
      const ids = JSON.parse(v) as unknown;
      return Array.isArray(ids) && ids.length > 0 && ids.length <= MAX_LISTED && ids.every((x) => typeof x === 'string') ? (ids as string[]) : undefined;
    } catch {
      return undefined;
    }
  }
}

/** Every addressee acknowledged (one resume offset), or the first refusal. */
function combine(answers: Answer[]): Answer {
  const refused = answers.find((a) => !a.ok);
  if (refused) return refused;
  const offsets = new Set(answers.map((a) => (a.ok ? a.resume : undefined)));
  if (offsets.size > 1) return { ok: false, close: CloseCode.REFUSED, code: ErrorCode.DELIVERY_REFUSED, message: 'the receivers want to resume at different offsets: send the file to each of them' };
  const [resume] = offsets;
  return resume !== undefined ? { ok: true, resume } : { ok: true };
}

