/**
 * CatchUp: a node that starts receiving a group's subject asks the other nodes for the cached
 * groups of pictures of their senders to that group (docs/cluster.md, Groups), so its first
 * member starts at a keyframe at once, as on one server, instead of at the group's next keyframe.
 *
 * - Asking: one request per other live node on `<prefix>.n.<node>.k` (`{ "group" }`), each with
 *   a reply subject of its own (an inbox), made right after subscribing to the group's subject,
 *   so every frame the answering node publishes after reading the request reaches the asker live.
 * - Answering: the node's own senders that are members of the group, each of their sources whose
 *   cached keyframe went to the group (gop-cache.ts): their frames, camwire frames end to end, in
 *   messages of at most NATS's max payload, all published in one turn (no live frame of this node
 *   comes between them), then an empty message that ends the answer. A source with a frame larger
 *   than a NATS message is left out (its readers there start at its next keyframe, as its live
 *   frames would not cross either).
 * - The asker hands each node's whole answer on when its end comes, in the NATS callback, so it
 *   takes its place among the group's live messages in the order they came (group-routes.ts).
 *   NATS delivers one connection's messages in the order they were published: the live frames a
 *   node published before it answered come first, and the answer holds them too.
 * Bounded: an answer waits at most SYNC_MS and holds at most MAX_ANSWER_BYTES.
 */
import { createInbox, Empty, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { encodeFrame, type Frame, type FrameInit } from '../../protocol/frame.js';
import type { Directory } from '../directory.js';
import type { GopCaches } from '../gop-cache.js';
import type { GroupRegistry } from '../groups.js';
import { SYNC_MS } from './applied.js';
import type { Outbound } from './outbound.js';
import { splitFrames, type Names } from './wire.js';

/** Bytes of frames one node's answer may bring, at most (beyond, it is dropped and counted bad). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** Largest request (`{ "group" }`). */
const MAX_REQUEST = 4096;

/** Catch-ups waiting for answers at once, at most (beyond, a new group is not caught up). */
const MAX_WAITING = 1000;

export interface CatchUpOptions {
  nc: NatsConnection;
  names: Names;
  self: string;
  /** The other live nodes. */
  others: () => string[];
  /** Whether the NATS connection is up (`up`), and NATS's max payload (`max`). */
  out: Pick<Outbound, 'up' | 'max'>;
  /** camwire's frame limit, for reading answers. */
  maxPayload: number;
  sessionKey: () => bigint;
  gops: GopCaches;
  directory: Directory;
  groups: GroupRegistry;
  /** A message that was not what it should be. */
  bad: () => void;
}

export class CatchUp {
  readonly #o: CatchUpOptions;
  #sub: Subscription | undefined;
  /** Answers being waited for (their inboxes). */
  readonly #waiting = new Set<Subscription>();
  /** Requests sent, requests answered, and frames of answers offered to members here (stats). */
  asked = 0;
  answered = 0;
  frames = 0;

  constructor(o: CatchUpOptions) {
    this.#o = o;
  }

  start(): void {
    const o = this.#o;
    this.#sub = o.nc.subscribe(o.names.catchUp(o.self), { callback: (err, m) => void (err ?? this.#answer(m)) });
  }

  stop(): void {
    this.#sub?.unsubscribe();
    for (const s of this.#waiting) s.unsubscribe();
    this.#waiting.clear();
  }

  /**
   * Asks every other live node for its senders' cached frames to `group`; `deliver` gets each
   * node's frames (some) in the NATS callback of its answer's end. Call right after subscribing
   * to the group's subject.
   */
  ask(group: string, deliver: (frames: Frame[], bytes: number) => void): void {
    const o = this.#o;
    if (!o.out.up) return;
    const body = Buffer.from(JSON.stringify({ group }), 'utf8');
    for (const node of o.others()) {
      if (this.#waiting.size >= MAX_WAITING) return;
      const frames: Frame[] = [];
      let bytes = 0;
      const inbox = createInbox();
      const done = (): void => {
        clearTimeout(timer);
        sub.unsubscribe();
        this.#waiting.delete(sub);
      };
      const sub = o.nc.subscribe(inbox, {
        callback: (err, m) => {
          if (err) return done();
          if (m.data.length === 0) {
            done();
            if (frames.length > 0) deliver(frames, bytes);
            return;
          }
          bytes += m.data.length;
          try {
            if (bytes > MAX_ANSWER_BYTES) throw new Error('too large');
            for (const f of splitFrames(m.data, o.maxPayload)) frames.push(f);
          } catch {
            o.bad();
            done();
          }
        },
      });
      const timer = setTimeout(done, SYNC_MS);
      this.#waiting.add(sub);
      this.asked++;
      o.nc.publish(o.names.catchUp(node), body, { reply: inbox });
    }
  }

  /** A request for this node's senders' cached frames to a group: answered in one turn, then the end. */
  #answer(m: Msg): void {
    const o = this.#o;
    if (!m.reply) return o.bad();
    let group: unknown;
    try {
      if (m.data.length > MAX_REQUEST) throw new Error('too large');
      group = (JSON.parse(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length).toString('utf8')) as { group?: unknown }).group;
    } catch {
      group = undefined;
    }
    if (typeof group !== 'string') {
      o.bad();
      m.respond(Empty);
      return;
    }
    const key = o.sessionKey();
    let pieces: Buffer[] = [];
    let size = 0;
    const flush = (): void => {
      if (size > 0) m.respond(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, size));
      pieces = [];
      size = 0;
    };
    for (const id of o.groups.get(group)?.members.keys() ?? []) {
      const c = o.directory.get(id);
      if (!c) continue;
      for (const source of o.gops.groupFrames(c, group)) {
        const encoded = source.map((f: FrameInit) => encodeFrame(f, key));
        // A frame no NATS message holds: the source is left out whole (no gap in what is sent).
        if (encoded.some(([h, p]) => h.length + p.length > o.out.max)) continue;
        for (const [h, p] of encoded) {
          const n = h.length + p.length;
          if (size + n > o.out.max) flush();
          pieces.push(h);
          if (p.length > 0) pieces.push(p);
          size += n;
        }
      }
    }
    flush();
    m.respond(Empty);
    this.answered++;
  }
}
