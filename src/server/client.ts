/**
 * A client of a MediaServer: one or more senders plus one receiver sharing a client id
 * (docs/behaviour.md, section 5). This is its live side: receiver channels, push connections and
 * counters. Its record (user, first and last seen) and its contact lists belong to the Directory.
 */
import type { MediaTypeName } from '../protocol/constants.js';
import { perMediaType } from '../events.js';
import type { FrameLink } from '../link/frame-link.js';
import type { ServedChannel } from '../media/served-channel.js';
import type { KnownClient } from './store/store.js';

/** Counters of one client. */
export interface ClientCounters {
  /** What its senders pushed to the server. */
  in: Record<MediaTypeName, { frames: number; bytes: number }>;
  /** What the server delivered to its receiver. */
  out: Record<MediaTypeName, { frames: number; bytes: number }>;
  /**
   * Dropped on its way to this client's receiver or refused, by reason: all but slow_reader, which
   * the channel outboxes count (drops() and dropsByReason() add them). Counted through missed().
   */
  droppedBy: Record<CountedDrop, Record<MediaTypeName, number>>;
}

/**
 * Why a message meant for a client's receiver did not reach it:
 * - slow_reader: its queue was full or a newer frame replaced it (video latest-wins, audio drop-oldest);
 * - offline: it had no channel open for the type;
 * - not_allowed: its allowed-senders list refused the sender;
 * - failed: a reliable item it did not acknowledge in time, or whose channel closed first.
 */
export type DropReason = 'slow_reader' | 'offline' | 'not_allowed' | 'failed';
/** The reasons the server counts itself (slow_reader is counted by the channel outboxes). */
export type CountedDrop = Exclude<DropReason, 'slow_reader'>;

/** Client: the server's live view of one client id. Created and forgotten only by the Directory. */
export class Client {
  readonly id: string;
  /** Its directory record; the Directory is the only writer. */
  readonly record: Readonly<KnownClient>;
  /** Open receiver channels, by media type. */
  readonly channels = new Map<MediaTypeName, ServedChannel>();
  /** Session key of the receiver whose channels are open. */
  receiverKey = 0n;
  readonly pushLinks = new Set<FrameLink>();
  /** Made on first use: a join costs no counters (17 objects) until something is counted or read. */
  #counters: ClientCounters | undefined;
  /** Its RVS_ requests, handled one at a time in the order they came. */
  requests: Promise<unknown> = Promise.resolve();
  /** Drops already counted from outboxes of channels that closed (made at the first such drop). */
  #closedDrops: Record<MediaTypeName, number> | undefined;
  connectedAt = 0;

  constructor(record: Readonly<KnownClient>) {
    this.id = record.id;
    this.record = record;
  }

  /** What its senders pushed, what it was delivered, what was dropped on its way (made on first use). */
  get counters(): ClientCounters {
    return (this.#counters ??= {
      in: perMediaType(() => ({ frames: 0, bytes: 0 })),
      out: perMediaType(() => ({ frames: 0, bytes: 0 })),
      droppedBy: { offline: perMediaType(() => 0), not_allowed: perMediaType(() => 0), failed: perMediaType(() => 0) },
    });
  }

  /** The authenticated user, when the server checks credentials. */
  get user(): string | undefined {
    return this.record.user;
  }

  /** Online while its receiver has channels open. */
  get online(): boolean {
    return this.channels.size > 0;
  }

  /** Online, or pushing through at least one connection. */
  get connected(): boolean {
    return this.channels.size > 0 || this.pushLinks.size > 0;
  }

  /** Records the drops of a channel that is closing. */
  retire(ch: ServedChannel): void {
    const n = ch.outbox.dropped;
    if (n > 0) (this.#closedDrops ??= perMediaType(() => 0))[ch.type] += n;
  }

  /** Drops per type: the sum of dropsByReason(). */
  drops(): Record<MediaTypeName, number> {
    const by = this.dropsByReason();
    return perMediaType((t) => by.slow_reader[t] + by.offline[t] + by.not_allowed[t] + by.failed[t]);
  }

  /** Drops per reason and type: what the channel outboxes dropped (slow_reader), and those counted by missed(). */
  dropsByReason(): Record<DropReason, Record<MediaTypeName, number>> {
    const slow = perMediaType((t) => (this.#closedDrops?.[t] ?? 0) + (this.channels.get(t)?.outbox.dropped ?? 0));
    const by = this.counters.droppedBy;
    return { slow_reader: slow, offline: { ...by.offline }, not_allowed: { ...by.not_allowed }, failed: { ...by.failed } };
  }

  /** Counts `n` messages of `type` dropped on their way to this client's receiver. */
  missed(type: MediaTypeName, why: CountedDrop, n = 1): void {
    this.counters.droppedBy[why][type] += n;
  }
}
