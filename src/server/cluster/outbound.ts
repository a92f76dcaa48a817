/**
 * Outbound: what a node sends to other nodes over NATS, with its counters (docs/cluster.md,
 * Routing). Video and audio are published (a sending turn's batch in one message when it fits),
 * or dropped and counted; reliable items are requests whose reply is the receiving node's answer.
 */
import { headers, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { CamwireError, ErrorCode } from '../../errors.js';
import { mediaTypeName } from '../../protocol/constants.js';
import { encodeFrame, type FrameInit } from '../../protocol/frame.js';
import type { FrameBatch } from '../../protocol/fan-encoding.js';
import type { AckInfo } from '../../media/outbox.js';
import type { ServerMetrics } from '../metrics.js';
import { decodeAnswer } from './wire.js';

/** Header of a server notification (RV_ command): delivered without the allowed-senders check, as on one server. */
export const NOTICE_HEADER = 'Camwire-Notice';

export interface OutboundOptions {
  nc: NatsConnection;
  metrics: ServerMetrics;
  sessionKey: () => bigint;
  /** Per type: how long a reliable item waits for its answer. */
  timeouts: Record<string, number>;
}

export class Outbound {
  readonly #o: OutboundOptions;
  /** Largest message: the NATS server's max_payload. */
  readonly max: number;
  /** Whether the NATS connection is up. */
  up = true;
  published = 0;
  failed = 0;
  dropped = 0;

  constructor(o: OutboundOptions) {
    this.#o = o;
    this.max = o.nc.info?.max_payload ?? 1024 * 1024;
  }

  /** Video or audio frame: published, or dropped and counted (returns the frames dropped). */
  publish(subject: string, init: FrameInit, hdrs?: MsgHdrs): number {
    const [h, p] = encodeFrame(init, this.#o.sessionKey());
    const n = h.length + p.length;
    if (n > this.max || !this.up) return this.#drop(init.mediaType, 1, n > this.max ? 'cluster_too_large' : 'cluster_unreachable');
    this.#o.nc.publish(subject, p.length === 0 ? h : Buffer.concat([h, p], n), hdrs ? { headers: hdrs } : undefined);
    this.#flush();
    this.published++;
    return 0;
  }

  /** A turn's batch in one message when it fits, else frame by frame. */
  publishBatch(subject: string, batch: FrameBatch, hdrs?: MsgHdrs): number {
    const pieces = batch.encoded(this.#o.sessionKey());
    if (pieces && batch.wireBytes <= this.max) {
      if (!this.up) return this.#drop(batch.frames[0]?.mediaType, batch.frames.length, 'cluster_unreachable');
      this.#o.nc.publish(subject, pieces.length === 1 ? pieces[0] : Buffer.concat(pieces as Buffer[], batch.wireBytes), hdrs ? { headers: hdrs } : undefined);
      this.#flush();
      this.published++;
      return 0;
    }
    let dropped = 0;
    for (const f of batch.frames) dropped += this.publish(subject, f, hdrs);
    return dropped;
  }

  /**
   * A reliable item: a request answered by the receiving node once its reader acknowledged it.
   * `what` names the addressee in errors. Rejects with a CamwireError: refused, timed out, too large.
   */
  async request(subject: string, what: string, init: FrameInit, notice = false, hdrs?: MsgHdrs): Promise<AckInfo> {
    const type = mediaTypeName(init.mediaType ?? 0) ?? 'data';
    const [h, p] = encodeFrame(init, this.#o.sessionKey());
    const n = h.length + p.length;
    if (n > this.max) {
      this.failed++;
      throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `cluster: a ${type} item of ${n} bytes is larger than the cluster's message limit (${this.max} bytes)`);
    }
    if (!this.up) {
      this.failed++;
      throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `cluster: ${what} is on another node and this node's NATS connection is down`);
    }
    const timeout = this.#o.timeouts[type];
    let m: Msg;
    this.published++;
    try {
      const opts: { timeout: number; headers?: MsgHdrs } = { timeout, headers: hdrs };
      if (notice) {
        opts.headers = headers();
        opts.headers.set(NOTICE_HEADER, '1');
      }
      m = await this.#o.nc.request(subject, p.length === 0 ? h : Buffer.concat([h, p], n), opts);
    } catch (err) {
      this.failed++;
      const msg = (err as Error).message;
      if (/no responders/i.test(msg)) throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `cluster: ${what} is not online on any node`);
      if (/timeout/i.test(msg)) throw new CamwireError(ErrorCode.DELIVERY_TIMEOUT, `cluster: no answer from the node of ${what} within ${timeout} ms`);
      throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `cluster: cannot reach the node of ${what}: ${msg}`);
    }
    const a = decodeAnswer(m.data);
    if (a.ok) return a.resume !== undefined ? { resumeOffset: a.resume } : {};
    this.failed++;
    throw new CamwireError(a.code, a.message);
  }

  /**
   * Writes what nats.js holds for the NATS socket now. nats.js writes a publish made into its
   * empty buffer in a microtask, after the whole turn: a frame published before this node's own
   * readers' writes would then reach the other nodes only after all of them (docs/cluster.md,
   * Benchmark, 2026-12-01 night). Order is kept: one connection, one buffer, written in order.
   * nats.js has no public call for it (`flush()` also sends a PING and waits for the PONG); its
   * protocol handler's `flushPending()` is used when present, else nothing changes.
   */
  #flush(): void {
    (this.#o.nc as unknown as { protocol?: { flushPending?: () => void } }).protocol?.flushPending?.();
  }

  #drop(mediaType: number | undefined, n: number, reason: 'cluster_too_large' | 'cluster_unreachable'): number {
    this.dropped += n;
    const type = mediaTypeName(mediaType ?? 0);
    if (type) this.#o.metrics.drop(type, reason, n);
    return n;
  }
}
