/**
 * The MediaServer's full-frame requests (docs/protocol.md 4.7): on behalf of a reader, it asks a
 * source's sender for a full frame on the sender's video push link. A reader asks itself (a
 * request on its video channel naming the source in `to`), or its latest-wins queue asks when it
 * had to drop a rectangle of the source or got one before the source's keyframe (the late-joiner
 * case). At most one request per source every REQUEST_GAP_MS, whatever the number of readers.
 */
import type { FrameLink } from '../link/frame-link.js';
import { MediaType } from '../protocol/constants.js';
import { fullFrameRequest } from '../protocol/full-frame.js';
import type { Client } from './client.js';

const REQUEST_GAP_MS = 100;
/** Sources whose last request time is remembered. */
const MAX_REMEMBERED = 4096;

export class FullFrameRequests {
  readonly #client: (id: string) => Client | undefined;
  readonly #serverId: string;
  readonly #sessionKey: () => bigint;
  readonly #last = new Map<string, number>();
  /** Requests sent to senders. */
  sent = 0;

  constructor(client: (id: string) => Client | undefined, serverId: string, sessionKey: () => bigint) {
    this.#client = client;
    this.#serverId = serverId;
    this.#sessionKey = sessionKey;
  }

  /** Asks client `source` for a full frame of its source `mediaIndex`; false when it has no video push link. */
  request(source: string | undefined, mediaIndex: number | undefined): boolean {
    if (!source) return false;
    const c = this.#client(source);
    if (!c) return false;
    let link: FrameLink | undefined;
    for (const l of c.pushLinks) if (l.tag.mediaType === MediaType.video && !l.closed) link = l;
    if (!link) return false;
    const key = `${mediaIndex ?? 0}|${source}`;
    const now = performance.now();
    if (now - (this.#last.get(key) ?? -Infinity) < REQUEST_GAP_MS) return true;
    this.#last.delete(key);
    this.#last.set(key, now);
    if (this.#last.size > MAX_REMEMBERED) this.#last.delete(this.#last.keys().next().value as string);
    this.sent++;
    link.send(fullFrameRequest(mediaIndex ?? 0, this.#serverId, source), this.#sessionKey());
    return true;
  }
}
