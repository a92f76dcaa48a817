/**
 * The queue of the acknowledged media types (commands, files, data): a bounded queue, a window of
 * items in flight, per-item deadlines, adaptive retransmission over unreliable links, and an
 * optional spool file for queued payloads. Items are refused with an error when the queue is full.
 */
import { DeliveryError, ErrorCode, nackErrorCode, type CamwireError } from '../errors.js';
import { Flag } from '../protocol/constants.js';
import { copyInit, type FrameInit } from '../protocol/frame.js';
import { frameBytes, payloadBytes, type AckInfo, type Outbox } from './outbox-common.js';
import { RttEstimator } from './rtt.js';
import type { Spool, SpoolToken } from './spool.js';

interface Item {
  seq: number;
  init: FrameInit;
  /** Where the payload waits on disk, when it was spooled. */
  spooled?: SpoolToken;
  bytes: number;
  resolve: (a: AckInfo) => void;
  reject: (e: DeliveryError) => void;
  deadline: number;
  sentAt: number;
  attempts: number;
  /** UDP: the fragment frameId of this item's first send on the current link (reused by retransmissions). */
  wire: { udpFrameId?: number };
}

/** Options of a ReliableOutbox. */
export interface ReliableOutboxOptions {
  mediaType: 'command' | 'file' | 'data';
  /** Bytes queued or in flight beyond which submit() rejects. */
  maxBytes: number;
  /** Items in flight (sent, not yet acknowledged). */
  window: number;
  /** An item not acknowledged this long after submit() fails with CW_ERR_DELIVERY_TIMEOUT. */
  timeoutMs: number;
  /**
   * Unreliable links only (0 = never resend): the first retransmission timeout before any round
   * trip was measured. Afterwards the timeout adapts: srtt + 4 x rttvar from the ACKs of items
   * sent once, clamped to `minRtoMs`..`maxRtoMs`, doubled per retransmission of an item
   * (docs/protocol.md, section 5.3).
   */
  retransmitMs: number;
  /** Lowest adaptive retransmission timeout. @default 50 */
  minRtoMs?: number;
  /** Highest retransmission timeout (backoff included). @default 2000 */
  maxRtoMs?: number;
  /**
   * Called when an item times out on a reliable link (no retransmission): the owner closes the
   * link (docs/behaviour.md, section 6). Over an unreliable link only the item fails.
   */
  onTimeout: (err: DeliveryError) => void;
  /**
   * Keep queued payloads beyond `memoryBytes` in this spool file instead of memory; a payload the
   * spool refuses (full) is refused (CW_ERR_FILE_NO_SPACE), not kept in memory.
   */
  spool?: Spool;
  /** Queued payload bytes kept in memory before spooling starts. @default 262144 */
  memoryBytes?: number;
}

/** Commands, files and data: acknowledged end to end, bounded, never dropped silently. */
export class ReliableOutbox implements Outbox {
  readonly mediaType: 'command' | 'file' | 'data';
  readonly #o: ReliableOutboxOptions;
  /**
   * Queued items and items in flight, made at the first use: an idle channel's queue (most of
   * the 10,000 idle channels of a server) never holds anything (bench/FANOUT.md, heap per idle
   * channel). Read through #pending and #inflight, which make them; tests of emptiness read the
   * fields.
   */
  #pendingArr: Item[] | undefined;
  #inflightMap: Map<number, Item> | undefined;
  #seq = 0;
  #bytes = 0;
  /** Bytes of queued (unsent) payloads held in memory. */
  #memory = 0;
  readonly dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  /** When `#timer` fires (ms since the epoch). */
  #timerAt = 0;
  /** Smoothed round-trip time and its variation: made at the first sample (unreliable links only). */
  #rtt: RttEstimator | undefined;
  /** Called when an item becomes sendable again (a retransmission is due). */
  onReady: (() => void) | undefined;

  constructor(o: ReliableOutboxOptions) {
    this.mediaType = o.mediaType;
    this.#o = o;
  }

  get #pending(): Item[] {
    return (this.#pendingArr ??= []);
  }

  get #inflight(): Map<number, Item> {
    return (this.#inflightMap ??= new Map());
  }

  /** The current retransmission timeout before backoff (ms); 0 when items are never resent. */
  get rto(): number {
    if (this.#o.retransmitMs <= 0) return 0;
    // Before the first sample the RTO is the initial one (RttEstimator.rto).
    return this.#rtt ? this.#rtt.rto(this.#o.retransmitMs, this.#o.minRtoMs ?? 50, this.#o.maxRtoMs ?? 2000) : this.#o.retransmitMs;
  }

  /** Smoothed round-trip time (ms), undefined before the first ACK of an item sent once. */
  get srtt(): number | undefined {
    return this.#rtt?.srtt;
  }

  /**
   * When item `it` is due for a retransmission: the RTO doubled per earlier retransmission of it,
   * at most 8 times the RTO and at most maxRtoMs (a loss on UDP is mostly random, not congestion).
   */
  #due(it: Item): number {
    return it.sentAt + Math.min(this.#o.maxRtoMs ?? 2000, this.rto * Math.min(8, 2 ** (it.attempts - 1)));
  }

  /** Bytes queued or in flight. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes submit() still takes before it refuses (the queue is full). */
  get room(): number {
    return Math.max(0, this.#o.maxBytes - this.#bytes);
  }

  get busy(): boolean {
    return (this.#pendingArr?.length ?? 0) > 0 || (this.#inflightMap?.size ?? 0) > 0;
  }

  /** Number of items queued or in flight. */
  get size(): number {
    return (this.#pendingArr?.length ?? 0) + (this.#inflightMap?.size ?? 0);
  }

  /** Queues an item; the promise settles on the receiver's ACK or NACK, a timeout, or the link's end. */
  submit(init: FrameInit): Promise<AckInfo> {
    const bytes = frameBytes(init);
    const seq = (this.#seq = (this.#seq + 1) >>> 0 || 1);
    if (this.#bytes + bytes > this.#o.maxBytes && this.#bytes > 0) {
      return Promise.reject(
        new DeliveryError(
          ErrorCode.DELIVERY_QUEUE_FULL,
          `${this.mediaType} queue is full (${this.#bytes} of ${this.#o.maxBytes} bytes); wait for earlier items to be acknowledged`,
          seq,
        ),
      );
    }
    const spool = this.#o.spool;
    // Whole, or in pieces (a relayed item as the reads it arrived in).
    const payload = init.payload ?? init.parts;
    const payloadLength = payloadBytes(init);
    let spooled: SpoolToken | undefined;
    const memoryPart = this.#o.memoryBytes ?? 262144;
    if (spool && payload && this.#memory + payloadLength > memoryPart && !(this.#memory === 0 && memoryPart > 0)) {
      // Beyond the memory part a payload goes to disk or is refused: never kept in memory instead.
      // A memory part (memoryBytes > 0) always takes one payload, however large (up to
      // maxPayload), so a chunk bigger than the part needs no spool while nothing else waits.
      try {
        spooled = spool.store(payload);
      } catch (err) {
        const full = ['ENOSPC', 'EDQUOT'].includes((err as NodeJS.ErrnoException).code ?? '');
        return Promise.reject(
          new DeliveryError(full ? ErrorCode.FILE_NO_SPACE : ErrorCode.DELIVERY_REFUSED, `${this.mediaType} queue cannot spool: ${(err as Error).message}`, seq, { cause: err }),
        );
      }
      if (!spooled) {
        const where =
          spool.refusal === 'budget'
            ? 'the spool space of all queues together is used up'
            : `its spool holds ${spool.held} of ${spool.maxBytes} bytes, no room for ${payloadLength} more`;
        return Promise.reject(new DeliveryError(ErrorCode.FILE_NO_SPACE, `${this.mediaType} queue has no room: ${where}; retry once earlier items are acknowledged`, seq));
      }
      init = copyInit(init);
      init.payload = init.parts = undefined;
    }
    return new Promise<AckInfo>((resolve, reject) => {
      const it: Item = { seq, init, bytes, resolve, reject, deadline: Date.now() + this.#o.timeoutMs, sentAt: 0, attempts: 0, wire: {} };
      if (spooled) it.spooled = spooled;
      else this.#memory += payloadLength;
      this.#pending.push(it);
      this.#bytes += bytes;
      this.#arm();
    });
  }

  next(now: number): FrameInit | undefined {
    if (this.#o.retransmitMs > 0 && this.#inflightMap) {
      for (const it of this.#inflightMap.values()) {
        if (now >= this.#due(it)) {
          it.sentAt = now;
          it.attempts++;
          this.#arm();
          return this.#frame(it);
        }
      }
    }
    if (!this.#pendingArr?.length || this.#inflight.size >= this.#o.window) return undefined;
    const it = this.#pending.shift()!;
    // An item put back by requeue() already holds its payload.
    if (it.attempts === 0) this.#unqueue(it, true);
    it.sentAt = now;
    it.attempts = 1;
    this.#inflight.set(it.seq, it);
    const f = this.#frame(it);
    // Unreliable links: the timer must now also wake up for this item's retransmission. Other
    // links never send an item twice on one link: it keeps its payload only while a later link
    // may need it again (keepForNextLink).
    if (this.#o.retransmitMs > 0) this.#arm();
    else if (!this.keepForNextLink) {
      const bare = copyInit(it.init);
      bare.payload = bare.parts = bare.prefix = undefined;
      it.init = bare;
    }
    return f;
  }

  /**
   * Items in flight when a link ends go back to the queue for the next link (push lanes) instead
   * of failing: they keep their payload until acknowledged.
   */
  keepForNextLink = false;

  #frame(it: Item): FrameInit {
    const f = copyInit(it.init, it.seq, (it.init.flags ?? 0) | Flag.ACK_REQUESTED);
    f.wire = it.wire;
    return f;
  }

  /** The receiver acknowledged `seq`. Unknown or repeated ACKs are ignored. */
  ack(seq: number, info: AckInfo): void {
    const it = this.#inflightMap?.get(seq);
    if (!it) return;
    // Karn's rule: only an item sent once on this link gives an unambiguous round-trip sample.
    if (it.attempts === 1 && this.#o.retransmitMs > 0) (this.#rtt ??= new RttEstimator()).sample(Date.now() - it.sentAt);
    this.#settle(it);
    it.resolve(info);
  }

  /** The receiver refused `seq`. */
  nack(seq: number, code: number, reason: string): void {
    const it = this.#inflightMap?.get(seq);
    if (!it) return;
    this.#settle(it);
    it.reject(new DeliveryError(nackErrorCode(code), `${this.mediaType} #${seq} refused by the receiver: ${code} ${reason}`, seq));
  }

  /**
   * The link ended: what was sent and not acknowledged goes back to the front of the queue, in
   * seq order, to be sent again on the next link with the same seq (the receiver deduplicates,
   * docs/protocol.md, section 3.3). Each item keeps its deadline.
   */
  requeue(): void {
    if (!this.#inflightMap?.size) return this.#arm();
    const back = [...this.#inflight.values()].sort((a, b) => a.deadline - b.deadline);
    this.#inflight.clear();
    for (const it of back) {
      it.wire = {};
      it.sentAt = 0;
    }
    this.#pending.unshift(...back);
    this.#arm();
  }

  /** Rejects what was sent and not acknowledged (the link ended); queued items stay for the next link. */
  failInflight(err: CamwireError): void {
    if (!this.#inflightMap?.size) return;
    for (const it of [...this.#inflightMap.values()]) {
      this.#settle(it);
      it.reject(new DeliveryError(ErrorCode.DELIVERY_CLOSED, `${this.mediaType} #${it.seq} not acknowledged: ${err.message}`, it.seq, { cause: err }));
    }
  }

  /** Rejects everything. */
  failAll(err: CamwireError): void {
    this.failInflight(err);
    for (const it of this.#pendingArr?.splice(0) ?? []) {
      if (it.attempts === 0) this.#unqueue(it, false);
      this.#bytes -= it.bytes;
      it.reject(new DeliveryError(ErrorCode.DELIVERY_CLOSED, `${this.mediaType} #${it.seq} not sent: ${err.message}`, it.seq, { cause: err }));
    }
    this.#arm();
  }

  /** An item leaves the queue: bring a spooled payload back (to send it) or let it go. */
  #unqueue(it: Item, sending: boolean): void {
    if (it.spooled) {
      if (sending) {
        const back = copyInit(it.init);
        back.payload = this.#o.spool!.load(it.spooled);
        it.init = back;
      }
      else this.#o.spool!.release(it.spooled);
      it.spooled = undefined;
    } else this.#memory -= payloadBytes(it.init);
  }

  #settle(it: Item): void {
    this.#inflight.delete(it.seq);
    this.#bytes -= it.bytes;
    this.#arm();
  }

  /**
   * One timer per outbox: fires for the earliest deadline or retransmission. A timer already set
   * for that time or earlier stays (firing early, it finds nothing due and sets the next): a new
   * timer on every submit and answer cost a clearTimeout and a setTimeout per item.
   */
  #arm(): void {
    if (!this.busy) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = Date.now();
    let at = Infinity;
    for (const it of this.#inflight.values()) {
      at = Math.min(at, it.deadline);
      if (this.#o.retransmitMs > 0) at = Math.min(at, this.#due(it));
    }
    // Queued items are in deadline order (requeued ones were submitted before the others).
    const pending = this.#pending;
    if (pending.length) at = Math.min(at, pending[0].deadline);
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // Not unref'd: a script awaiting a delivery stays alive until it is acknowledged or times out.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onTimer();
    }, Math.max(1, at - now));
  }

  #onTimer(): void {
    const now = Date.now();
    const expired: Item[] = [];
    for (const it of this.#inflight.values()) if (it.deadline <= now) expired.push(it);
    for (const it of this.#pending) {
      if (it.deadline > now) break;
      expired.push(it);
    }
    let linkErr: DeliveryError | undefined;
    for (const it of expired) {
      const err = new DeliveryError(ErrorCode.DELIVERY_TIMEOUT, `${this.mediaType} #${it.seq} was not acknowledged within ${this.#o.timeoutMs} ms`, it.seq);
      const wasSent = this.#inflight.has(it.seq);
      if (wasSent) this.#settle(it);
      else {
        this.#pending.splice(this.#pending.indexOf(it), 1);
        if (it.attempts === 0) this.#unqueue(it, false);
        this.#bytes -= it.bytes;
      }
      it.reject(err);
      // A reliable link that did not get an item's answer in time is stuck: the owner closes it.
      // Over UDP a lost item says nothing about the link: only the item fails.
      if (wasSent && this.#o.retransmitMs <= 0) linkErr ??= err;
    }
    this.#arm();
    if (linkErr) this.#o.onTimeout(linkErr);
    else this.onReady?.();
  }

  /** Stops timers and deletes the spool file (the owner is going away). */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#o.spool?.close();
  }
}
