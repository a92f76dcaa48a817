/**
 * GroupRoutes: what crosses nodes for a group (docs/cluster.md, Groups). Sending: the members of a
 * group online on other nodes are one target; its video and audio are published once on the
 * group's subject, its reliable items go as one request per node with members online, answered
 * once every node answered. Receiving: a node subscribes to a group's subject while a member of
 * the group is online on it; a message's frames are encoded once and offered to all its local
 * members as one batch (LocalDelivery.offerMany), each with its reader's policy. The membership
 * itself is groups-sync.ts.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { CamwireError, CloseCode, ErrorCode, nackCloseCode } from '../../errors.js';
import { Kind, MediaType, mediaTypeName, type MediaTypeName } from '../../protocol/constants.js';
import type { Frame } from '../../protocol/frame.js';
import type { AckInfo } from '../../media/outbox.js';
import type { Client } from '../client.js';
import type { Directory } from '../directory.js';
import type { GopCaches } from '../gop-cache.js';
import type { GroupRegistry } from '../groups.js';
import { forward } from '../relay.js';
import type { Router, Target } from '../router.js';
import type { CatchUp } from './catch-up.js';
import type { LocalDelivery } from './local-delivery.js';
import type { Outbound } from './outbound.js';
import { mediaOnly, type Inbound } from './inbound.js';
import type { Presence } from './presence.js';
import { encodeAnswer, splitFrames, type Answer, type Names } from './wire.js';

export interface GroupRoutesOptions {
  nc: NatsConnection;
  names: Names;
  self: string;
  groups: GroupRegistry;
  directory: Directory;
  router: Router;
  presence: Presence;
  out: Outbound;
  local: LocalDelivery;
  maxPayload: number;
  /** The stand-in of a client on another node (what came from another node goes no further). */
  standIn: (id: string) => Client;
  /** The stand-in of client `id` when there is one. */
  peek: (id: string) => Client | undefined;
  /** The server's GOP caches. */
  gops: GopCaches;
  /** Asks the other nodes for their senders' cached frames to a group this node starts receiving. */
  catchUp: CatchUp;
  isRemote: (c: Client) => boolean;
  /** A message that was not what it should be. */
  bad: () => void;
  /** A NATS message for this node's clients came (counted in stats().cluster.received). */
  received: () => void;
  /** The node's pending limits for video and audio (inbound.ts). */
  inbound: Inbound;
}

/** Group targets remembered (their counters and readers), at most. */
const MAX_TARGETS = 10_000;

export class GroupRoutes {
  readonly #o: GroupRoutesOptions;
  /** Group subjects subscribed (groups with an online member here). */
  readonly #subs = new Map<string, Subscription>();
  /** The target of each group with members on other nodes (its counters, its reader). */
  readonly #targets = new Map<string, Target>();
  #nodeSub: Subscription | undefined;
  #stopped = false;
  /** The local members of the group of a run of frames (LocalDelivery.offerMany). */
  readonly #members = (f: Frame): string[] => this.#localMembers(f);

  constructor(o: GroupRoutesOptions) {
    this.#o = o;
  }

  start(): void {
    const o = this.#o;
    this.#nodeSub = o.nc.subscribe(o.names.node(o.self), { callback: (err, m) => void (err ?? this.#answer(m)) });
  }

  stop(): void {
    this.#stopped = true;
    this.#nodeSub?.unsubscribe();
    for (const s of this.#subs.values()) s.unsubscribe();
    this.#subs.clear();
  }

  // ------------------------------------------------------------------ sending

  /** The target standing for the members of `id` online on other nodes; undefined when there are none. */
  target(id: string, from: Client): Target | undefined {
    const o = this.#o;
    if (o.isRemote(from)) return undefined;
    const g = o.groups.get(id);
    if (!g) return undefined;
    for (const m of g.members.keys()) {
      if (m === from.id) continue;
      const n = o.presence.where(m);
      if (n !== undefined && n !== o.self) return this.#targetOf(id);
    }
    return undefined;
  }

  /**
   * One target per group, kept: its reader is the same object from one message to the next, as a
   * local reader is (the GOP caches remember which readers started on a source's keyframe; a new
   * reader per message would be sent the cached group of pictures again with every frame).
   */
  #targetOf(id: string): Target {
    let t = this.#targets.get(id);
    if (t) return t;
    const o = this.#o;
    const subject = o.names.group(id);
    t = {
      client: o.standIn(`group ${id} (other nodes)`),
      reader: {
        offer: (init) => o.out.publish(subject, init),
        offerBatch: (batch) => o.out.publishBatch(subject, batch),
        submit: (init) => {
          const to = this.#nodesOf(id, init.from ?? '');
          return Promise.all(to.map((n) => o.out.request(o.names.node(n), `group ${JSON.stringify(id)} on node ${n}`, init))).then((infos) => combine(infos));
        },
      },
    };
    // The nodes that start receiving the group ask for the cached frames themselves (catch-up.ts):
    // sent on the group's subject, every node's members would get them again.
    o.gops.live(t.reader);
    if (this.#targets.size >= MAX_TARGETS) this.#targets.delete(this.#targets.keys().next().value as string);
    this.#targets.set(id, t);
    return t;
  }

  /** The other nodes where members of group `id` other than `from` are online. */
  #nodesOf(id: string, from: string): string[] {
    const o = this.#o;
    const nodes = new Set<string>();
    for (const m of o.groups.get(id)?.members.keys() ?? []) {
      if (m === from) continue;
      const n = o.presence.where(m);
      if (n !== undefined && n !== o.self) nodes.add(n);
    }
    return [...nodes];
  }

  // ------------------------------------------------------------------ receiving

  /** Subscribes to a group's subject while one of its members is online here (after each change of its members or of their presence). */
  refresh(id: string): void {
    if (this.#stopped) return;
    const g = this.#o.groups.get(id);
    let needed = false;
    if (g) for (const m of g.members.keys()) if (this.#o.directory.get(m)?.online) needed = true;
    const sub = this.#subs.get(id);
    if (needed && !sub) this.#subscribe(id);
    else if (!needed && sub) {
      sub.unsubscribe();
      this.#subs.delete(id);
    }
  }

  /**
   * Starts receiving group `id`, and asks the other nodes for the groups of pictures of its
   * sources (catch-up.ts): what this node cached of them while it last received the group is
   * stale and goes first. Each node's answer waits for its turn among the group's messages
   * (inbound.ts), and then goes to the members here through the GOP caches, as a live message
   * does, for each source that has not had a keyframe here since (one that has: its readers
   * started there, and the answer is older).
   */
  #subscribe(id: string): void {
    const o = this.#o;
    const g = o.groups.get(id);
    for (const m of g?.members.keys() ?? []) {
      const s = o.peek(m);
      if (s) o.gops.forgetGroup(s, id);
    }
    const sub = o.nc.subscribe(o.names.group(id), { callback: (err, m) => void (err ?? this.#fan(m)) });
    this.#subs.set(id, sub);
    o.catchUp.ask(id, (frames, bytes) => {
      o.inbound.media('video', frames.length, bytes, () => {
        if (this.#subs.get(id) !== sub) return;
        if (!frames.every((f) => f.group === id && f.mediaType === MediaType.video && f.kind === Kind.DATA)) return o.bad();
        const started = new Set<string>();
        for (const f of frames) if (o.gops.holds(o.standIn(f.from), f.mediaIndex)) started.add(`${f.mediaIndex} ${f.from}`);
        const kept = started.size === 0 ? frames : frames.filter((f) => !started.has(`${f.mediaIndex} ${f.from}`));
        if (kept.length === 0) return;
        o.catchUp.frames += kept.length;
        o.local.offerMany(kept, 'video', this.#members, o.standIn, false);
      });
    });
  }

  /**
   * Video and audio for a group: the message's frames, encoded once, offered to this node's
   * members as one batch (after their allowed-senders checks, with their readers' policies).
   */
  #fan(m: Msg): void {
    this.#o.received();
    const frames = this.#frames(m);
    if (!frames) return;
    const media = mediaOnly(frames, MediaType.video, MediaType.audio, Kind.DATA);
    if (!media || !frames.every((f) => f.group)) {
      this.#o.bad();
      return;
    }
    this.#o.inbound.media(media, frames.length, m.data.length, () => {
      this.#o.local.offerMany(frames, media, this.#members, this.#o.standIn);
    });
  }

  /** The members of `f.group` online here other than its sender; none when the sender is not a member (as on one server: unrouted). */
  #localMembers(f: Frame): string[] {
    const o = this.#o;
    const g = o.groups.get(f.group);
    const ids: string[] = [];
    if (!g?.members.has(f.from)) return ids;
    for (const id of g.members.keys()) if (id !== f.from && o.directory.get(id)?.online) ids.push(id);
    return ids;
  }

  /** A reliable item for this node's members of its group: answered once they all acknowledged it. */
  #answer(m: Msg): void {
    this.#o.received();
    const frames = this.#frames(m);
    if (!frames) return;
    const f = frames[0];
    const type = mediaTypeName(f?.mediaType ?? 0);
    if (!m.reply) return this.#o.bad();
    if (frames.length !== 1 || !type || type === 'video' || type === 'audio' || f.kind !== Kind.DATA || !f.group) {
      this.#o.bad();
      m.respond(encodeAnswer({ ok: false, close: CloseCode.PROTOCOL_ERROR, code: ErrorCode.PROTOCOL_UNEXPECTED, message: 'cluster: not one reliable group item' }));
      return;
    }
    void this.#submit(f, type).then((a) => m.respond(encodeAnswer(a)));
  }

  async #submit(f: Frame, type: MediaTypeName): Promise<Answer> {
    const from = this.#o.standIn(f.from);
    const router = this.#o.router;
    const targets = router.targets(from, f, type, (c, why) => c.missed(type, why));
    if (targets.length === 0) return { ok: false, close: CloseCode.NOT_ALLOWED, code: ErrorCode.DELIVERY_REFUSED, message: `${router.why(from, f)} on node ${this.#o.self}` };
    const init = forward(from, f);
    const bytes = f.payload.length;
    try {
      const infos = await Promise.all(
        targets.map(({ client: t, reader }) =>
          reader.submit(init).then(
            (info) => {
              t.counters.out[type].frames++;
              t.counters.out[type].bytes += bytes;
              return info;
            },
            (err: unknown) => {
              t.missed(type, 'failed');
              throw err;
            },
          ),
        ),
      );
      const info = combine(infos);
      return info.resumeOffset !== undefined ? { ok: true, resume: info.resumeOffset } : { ok: true };
    } catch (err) {
      const e = err as CamwireError;
      return { ok: false, close: nackCloseCode(e), code: e.code ?? ErrorCode.DELIVERY_REFUSED, message: e.message };
    }
  }

  #frames(m: Msg): Frame[] | undefined {
    try {
      return splitFrames(m.data, this.#o.maxPayload);
    } catch (err) {
      this.#o.bad();
      if (m.reply) m.respond(encodeAnswer({ ok: false, close: CloseCode.PROTOCOL_ERROR, code: ErrorCode.PROTOCOL_BAD_HEADER, message: `cluster: ${(err as Error).message}` }));
      return undefined;
    }
  }
}

/** The answers of several readers or nodes: one resume offset for a file START, or a refusal. */
function combine(infos: AckInfo[]): AckInfo {
  const offsets = new Set(infos.map((i) => i.resumeOffset));
  if (offsets.size > 1) throw new CamwireError(ErrorCode.DELIVERY_REFUSED, 'the receivers want to resume at different offsets: send the file to each of them');
  const [resumeOffset] = offsets;
  return resumeOffset !== undefined ? { resumeOffset } : {};
}
