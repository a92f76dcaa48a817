/**
 * ClientSubjects: the subject `<prefix>.c.<token(id)>` of each client whose receiver is online on
 * this node (docs/cluster.md, Subjects), subscribed only while it is, and what comes on it: video
 * and audio through the pending limits (inbound.ts) to the client's reader, a message's frames
 * encoded once (LocalDelivery.offerMany); reliable items answered with the client's
 * acknowledgement or the refusal.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { CloseCode, ErrorCode } from '../../errors.js';
import { Kind, MediaType, mediaTypeName } from '../../protocol/constants.js';
import type { Frame } from '../../protocol/frame.js';
import type { Client } from '../client.js';
import type { LocalDelivery } from './local-delivery.js';
import { mediaOnly, type Inbound } from './inbound.js';
import { NOTICE_HEADER } from './outbound.js';
import { encodeAnswer, splitFrames, type Names } from './wire.js';

export interface ClientSubjectsOptions {
  nc: NatsConnection;
  names: Names;
  local: LocalDelivery;
  inbound: Inbound;
  maxPayload: number;
  standIn: (id: string) => Client;
  /** A message that was not what it should be. */
  bad: () => void;
  /** A NATS message for this node's clients came (counted in stats().cluster.received). */
  received: () => void;
}

export class ClientSubjects {
  readonly #o: ClientSubjectsOptions;
  readonly #subs = new Map<string, Subscription>();

  constructor(o: ClientSubjectsOptions) {
    this.#o = o;
  }

  /** Clients subscribed (online here, or coming online). */
  get size(): number {
    return this.#subs.size;
  }

  has(id: string): boolean {
    return this.#subs.has(id);
  }

  subscribe(id: string): void {
    if (!this.#subs.has(id)) this.#subs.set(id, this.#o.nc.subscribe(this.#o.names.client(id), { callback: (err, m) => void (err ?? this.#deliver(m, id)) }));
  }

  unsubscribe(id: string): void {
    this.#subs.get(id)?.unsubscribe();
    this.#subs.delete(id);
  }

  stop(): void {
    for (const s of this.#subs.values()) s.unsubscribe();
    this.#subs.clear();
  }

  /** A message on the subject of client `id`, which is online here: its frames go to that client's reader. */
  #deliver(m: Msg, id: string): void {
    const o = this.#o;
    o.received();
    let frames: Frame[];
    try {
      frames = splitFrames(m.data, o.maxPayload);
    } catch (err) {
      o.bad();
      if (m.reply) m.respond(encodeAnswer({ ok: false, close: CloseCode.PROTOCOL_ERROR, code: ErrorCode.PROTOCOL_BAD_HEADER, message: `cluster: ${(err as Error).message}` }));
      return;
    }
    // Video and audio wait for the next turn within the pending limits (inbound.ts).
    const media = m.reply ? undefined : mediaOnly(frames, MediaType.video, MediaType.audio, Kind.DATA);
    if (media) {
      o.inbound.media(media, frames.length, m.data.length, () => o.local.offerMany(frames, media, [id], o.standIn));
      return;
    }
    for (const f of frames) {
      const type = mediaTypeName(f.mediaType);
      if (!type || f.kind !== Kind.DATA) {
        o.bad();
        continue;
      }
      const from = o.standIn(f.from);
      if (type === 'video' || type === 'audio') o.local.offer(from, f, type, id);
      else if (m.reply && frames.length === 1) void o.local.submit(from, f, type, id, m.headers?.get(NOTICE_HEADER) === '1').then((a) => m.respond(encodeAnswer(a)));
      else o.bad();
    }
  }
}
