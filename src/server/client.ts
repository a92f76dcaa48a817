/**
 * A client of a MediaServer: one or more senders plus one receiver sharing a client id
 * (BEHAVIOUR.md section 5). Holds its receiver channels, contact lists and counters.
 */
import type { MediaTypeName } from '../protocol/constants.js';
import { perMediaType } from '../events.js';
import type { FrameLink } from '../link/frame-link.js';
import type { ServedChannel } from '../media/served-channel.js';


/** Counters of one client. */
export interface ClientCounters {
  /** What its senders pushed to the server. */
  in: Record<MediaTypeName, { frames: number; bytes: number }>;
  /** What the server delivered to its receiver. */
  out: Record<MediaTypeName, { frames: number; bytes: number }>;
  /** Dropped on its way to this client's receiver (slow reader, offline), or refused. */
  dropped: Record<MediaTypeName, number>;
}

/** Client: the server's record of one client id. */
export class Client {
  readonly id: string;
  /** The authenticated user, when the server checks credentials. */
  user: string | undefined;
  /** Open receiver channels, by media type. */
  readonly channels = new Map<MediaTypeName, ServedChannel>();
  /** Session key of the receiver whose channels are open. */
  receiverKey = 0n;
  readonly pushLinks = new Set<FrameLink>();
  readonly defaultReceivers = new Set<string>();
  /** undefined = accept everyone; an empty set = accept no one. */
  allowedSenders: Set<string> | undefined;
  /** Hello was said to these lists, so the server says goodbye when the connection breaks. */
  helloDefault = false;
  helloAllowed = false;
  readonly counters: ClientCounters = {
    in: perMediaType(() => ({ frames: 0, bytes: 0 })),
    out: perMediaType(() => ({ frames: 0, bytes: 0 })),
    dropped: perMediaType(() => 0),
  };
  /** Drops already counted from outboxes of channels that closed. */
  readonly #closedDrops = perMediaType(() => 0);
  connectedAt = 0;

  constructor(id: string) {
    this.id = id;
  }

  /** Online while its receiver has channels open. */
  get online(): boolean {
    return this.channels.size > 0;
  }

  /** Whether this client accepts data from `from` (its allowed-senders filter). */
  accepts(from: string): boolean {
    return this.allowedSenders === undefined || this.allowedSenders.has(from);
  }

  /** Records the drops of a channel that is closing. */
  retire(ch: ServedChannel): void {
    this.#closedDrops[ch.type] += ch.outbox.dropped;
  }

  /** Drops per type: counted refusals plus what the channel outboxes dropped. */
  drops(): Record<MediaTypeName, number> {
    const d = { ...this.counters.dropped };
    for (const t of Object.keys(d) as MediaTypeName[]) d[t] += this.#closedDrops[t] + (this.channels.get(t)?.outbox.dropped ?? 0);
    return d;
  }
}
