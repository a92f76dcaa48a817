/**
 * Relay: what the server does with each DATA frame a client pushes (docs/behaviour.md, section 5).
 * Video and audio fan out into each reader's latest-wins or drop-oldest queue and never wait;
 * commands, files and data are submitted to every target and acknowledged to the sender once
 * all targets acknowledged them, or refused with the reason. RVS_ requests go to the
 * SystemRequests, RVSU_ commands to the server's own event.
 */
import { CamwireError, CloseCode, DeliveryError, ErrorCode, nackCloseCode, ProtocolError } from '../errors.js';
import type { CommandMessage } from '../events.js';
import type { FrameLink } from '../link/frame-link.js';
import { Flag, Kind, MediaType, mediaTypeName, type MediaTypeName } from '../protocol/constants.js';
import { payloadViews, type Frame, type FrameInit } from '../protocol/frame.js';
import { payloadLength, SharedEncoding, type FrameArena } from '../protocol/fan-encoding.js';
import { FanOut } from './fan-out.js';
import { videoTap, type VideoTap } from './video-tap.js';
export type { VideoTap } from './video-tap.js';
import { GopCaches, isNamedCodec, type GopCacheOptions } from './gop-cache.js';
import { decodeAudio, decodeCommand, decodeVideo, encodeAck, encodeCommand, encodeReason, type Command } from '../protocol/messages.js';
import { isSystemCommand, MAX_SERVER_COMMAND } from '../protocol/system-commands.js';
import type { Client } from './client.js';
import type { ServerMetrics } from './metrics.js';
import type { AckInfo } from '../media/outbox.js';
import type { Miss, Router, Target } from './router.js';
import type { SystemRequests } from './system-requests.js';

/** An audio chunk as a server tap sees it. */
export interface AudioTap {
  from: string;
  mediaIndex: number;
  codec: string;
  sampleRate: number;
  channels: number;
  /** Sender clock, ms since the epoch. */
  timestamp: number;
  /** The samples: a view of the received frame. */
  data: Buffer;
}

/** Where a server command came from. */
export interface ServerCommandMeta {
  from: string;
  to: string;
  group: string;
  mediaIndex: number;
}

export interface RelayOptions {
  router: Router;
  requests: SystemRequests;
  metrics: ServerMetrics;
  /** An RVSU_ command addressed to the server. */
  onServerCommand: (cmd: CommandMessage, meta: ServerCommandMeta) => void;
  /** Bounds of each compressed source's GOP cache; false: none (readers then start at the next keyframe). */
  gopCache?: GopCacheOptions | false;
}

export class Relay {
  readonly #o: RelayOptions;
  readonly #taps = new Set<(v: VideoTap) => void>();
  readonly #audioTaps = new Set<(a: AudioTap) => void>();
  readonly #unrouted = { video: 0, audio: 0, command: 0, file: 0, data: 0 } as Record<MediaTypeName, number>;
  /** Recently relayed reliable items per push link (UDP retransmissions must not be relayed twice). */
  readonly #inflight = new WeakMap<FrameLink, Map<number, Buffer | null>>();
  /**
   * The same across the links of one sender's reliable queue (its HELLO's `lane`, docs/protocol.md
   * section 3.3): an item resent on the queue's next link is answered, not relayed again, and an
   * answer goes to the queue's newest link. Least recently used first, at most MAX_LANES.
   */
  readonly #lanes = new Map<string, LaneMemory>();
  readonly #laneOf = new WeakMap<FrameLink, LaneMemory>();
  /** Video and audio, a turn's batch at a time. */
  readonly #fan: FanOut;
  /** Compressed video's frames since the last keyframe, per source. */
  readonly gops: GopCaches;
  /** An addressee left out of `n` messages. */
  readonly #miss = (c: Client, why: Miss, type: MediaTypeName, n = 1): void => {
    c.missed(type, why, n);
    if (why === 'not_allowed') this.#o.metrics.drop(type, 'not_allowed', n);
  };

  constructor(o: RelayOptions) {
    this.#o = o;
    // Without a cache, readers of compressed video still start at a keyframe.
    this.gops = new GopCaches(o.gopCache || { maxFrames: 0, maxBytes: 0 });
    this.#fan = new FanOut(o.router, o.metrics, this.#miss, (type) => this.#unrouted[type]++, this.gops);
  }

  /** Messages that found no target, per type. */
  get unrouted(): Record<MediaTypeName, number> {
    return { ...this.#unrouted };
  }

  /** Calls `fn` for every pushed video frame; returns the function that stops it. */
  tap(fn: (v: VideoTap) => void): () => void {
    this.#taps.add(fn);
    return () => this.#taps.delete(fn);
  }

  /** Calls `fn` for every pushed audio chunk whose header decodes; returns the function that stops it. */
  tapAudio(fn: (a: AudioTap) => void): () => void {
    this.#audioTaps.add(fn);
    return () => this.#audioTaps.delete(fn);
  }

  /** `link` carries the reliable queue `lane` of client `from` for one media type. */
  bindLane(link: FrameLink, from: string, mediaType: number, lane: string): void {
    const key = `${from}|${mediaType}|${lane}`;
    const m = this.#lanes.get(key) ?? { answers: new Map(), link };
    this.#lanes.delete(key);
    m.link = link;
    this.#lanes.set(key, m);
    if (this.#lanes.size > MAX_LANES) this.#lanes.delete(this.#lanes.keys().next().value as string);
    this.#laneOf.set(link, m);
  }

  /** A DATA frame from a client's push link. Throws a ProtocolError for a frame that breaks the protocol. */
  route(from: Client, link: FrameLink, f: Frame): void {
    const type = mediaTypeName(f.mediaType);
    if (!type) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, 'DATA without a media type');
    if (f.repeat) {
      // Only the header of a retransmitted frame reassembled before: answer again if known.
      const answer = (f.flags & Flag.ACK_REQUESTED) !== 0 ? this.#answers(link)?.get(f.seq) : undefined;
      if (answer) link.send({ kind: Kind.ACK, mediaType: f.mediaType, seq: f.seq, payload: answer });
      return;
    }
    // A large frame that spanned reads has its payload joined only if something reads it.
    const size = payloadLength(f);
    from.counters.in[type].frames++;
    from.counters.in[type].bytes += size;
    this.#o.metrics.count('in', type, size);
    if (type === 'video' || type === 'audio') return this.fanOut(from, f, type, size);

    const wantsAck = (f.flags & Flag.ACK_REQUESTED) !== 0;
    // The answers below run when every reader answered; they must not hold the frame (its payload
    // may be a spooled file chunk), so they see only these fields of it.
    const { seq, mediaType, mediaIndex } = f;
    const bytes = size;
    const seen = wantsAck ? this.#answers(link) : undefined;
    const lane = this.#laneOf.get(link);
    // Answers go to the link that carries the queue by then (the first copy's link may be gone).
    const answerTo = (): FrameLink => lane?.link ?? link;
    if (seen?.has(seq)) {
      // A retransmission: answer again if the answer is known, otherwise the first copy is still travelling.
      const answer = seen.get(seq);
      if (answer) link.send({ kind: Kind.ACK, mediaType, seq, payload: answer });
      return;
    }
    seen?.set(seq, null);
    const ackRaw = (payload: Buffer): void => {
      if (!wantsAck) return;
      seen?.set(seq, payload);
      if (seen && seen.size > 1024) seen.delete(seen.keys().next().value as number);
      answerTo().send({ kind: Kind.ACK, mediaType, mediaIndex, seq, payload });
    };
    const ack = (reply?: Command): void => ackRaw(reply ? encodeCommand(reply) : Buffer.alloc(0));
    const nack = (code: number, reason: string): void => {
      seen?.delete(seq);
      this.#o.metrics.drop(type, 'refused');
      if (wantsAck) answerTo().send({ kind: Kind.NACK, mediaType, mediaIndex, seq, payload: encodeReason(code, reason) });
    };

    if (type === 'command') {
      const cmd = decodeCommand(f.payload);
      if (cmd.name.startsWith('RVSU_')) {
        if (f.payload.length + 256 > MAX_SERVER_COMMAND) return nack(CloseCode.REFUSED, `server commands are limited to ${MAX_SERVER_COMMAND} bytes`);
        this.#o.onServerCommand(cmd, { from: from.id, to: f.to, group: f.group, mediaIndex: f.mediaIndex });
        return ack();
      }
      if (cmd.name.startsWith('RVS_')) {
        this.#o.requests.handle(from, cmd).then(ack, (err: CamwireError) => nack(CloseCode.REFUSED, err.message));
        return;
      }
      if (isSystemCommand(cmd.name)) return nack(CloseCode.NOT_ALLOWED, 'clients may not send RV_ or RVS_ commands');
    }

    const targets = this.#o.router.targets(from, f, type, this.#miss);
    if (targets.length === 0) {
      this.#unrouted[type]++;
      return nack(CloseCode.NOT_ALLOWED, this.#o.router.why(from, f));
    }
    Promise.all(
      submitAll(targets, forward(from, f)).map((p, i) => {
        const t = targets[i].client;
        return p.then(
          (info) => {
            t.counters.out[type].frames++;
            t.counters.out[type].bytes += bytes;
            this.#o.metrics.count('out', type, bytes);
            return info;
          },
          (err: CamwireError) => {
            t.missed(type, 'failed');
            throw new DeliveryError(err.code, `${t.id}: ${err.message}`, seq);
          },
        );
      }),
    ).then(
      (infos) => {
        // A file START's answer says where the reader wants the transfer to continue; readers
        // that disagree cannot share one transfer.
        const offsets = new Set(infos.map((i) => i.resumeOffset));
        if (offsets.size > 1) return nack(CloseCode.REFUSED, 'the receivers want to resume at different offsets: send the file to each of them');
        const [resume] = offsets;
        if (resume !== undefined) return ackRaw(encodeAck(resume));
        return ack();
      },
      // A reader's "too large" or "no space" stays that for the sender (docs/protocol.md, 8.3).
      (err: CamwireError) => nack(nackCloseCode(err), err.message),
    );
  }

  /**
   * Video and audio: into each reader's latest-wins or drop-oldest queue; never waits, never
   * fails. Routed and written at the end of the turn, with the client's other frames of the turn.
   */
  fanOut(from: Client, f: Frame, type: 'video' | 'audio', size = payloadLength(f)): void {
    let gop = false;
    if (type === 'video') {
      if (this.#taps.size > 0) this.#tap(from.id, f);
      gop = isNamedCodec(f);
    } else if (type === 'audio' && this.#audioTaps.size > 0) this.#tapAudio(from.id, f);
    this.#fan.add(from, type, forward(from, f, this.#fan.arena), size, gop);
  }

  #tap(from: string, f: Frame): void {
    const v = videoTap(from, f);
    for (const fn of this.#taps) fn(v);
  }

  /** Audio is relayed without being decoded: a chunk whose header does not decode is only left out of the taps. */
  #tapAudio(from: string, f: Frame): void {
    let a: ReturnType<typeof decodeAudio>;
    try {
      a = decodeAudio(f.payload);
    } catch {
      return;
    }
    const tap: AudioTap = { from, mediaIndex: f.mediaIndex, ...a.header, timestamp: f.timestamp, data: a.data };
    for (const fn of this.#audioTaps) fn(tap);
  }

  /** The answers remembered for items of this link: its queue's (any transport), else its own over UDP. */
  #answers(link: FrameLink): Map<number, Buffer | null> | undefined {
    return this.#laneOf.get(link)?.answers ?? (link.reliable ? undefined : this.#seen(link));
  }

  #seen(link: FrameLink): Map<number, Buffer | null> {
    let m = this.#inflight.get(link);
    if (!m) this.#inflight.set(link, (m = new Map()));
    return m;
  }
}

/** Sender queues whose answers the relay remembers. */
const MAX_LANES = 4096;

/** One sender queue's answers (null: relayed, no answer yet) and the link that carries it now. */
interface LaneMemory {
  answers: Map<number, Buffer | null>;
  link: FrameLink;
}

/** Cached frames (GopCaches.snapshot) as taps: their payloads are copies the server keeps, not to be changed. */
export function gopTaps(from: string, frames: FrameInit[]): VideoTap[] {
  return frames.map((f) => {
    const { header, data } = decodeVideo(f.payload!);
    return { from, mediaIndex: f.mediaIndex ?? 0, imageType: header.imageType, width: header.width, height: header.height, keyframe: ((f.flags ?? 0) & Flag.KEYFRAME) !== 0, transformed: ((f.flags ?? 0) & Flag.TRANSFORMED) !== 0, timestamp: f.timestamp ?? 0, data, size: data.length };
  });
}

/** Submits one item to every target; outside route(), so no answer callback keeps the item alive. */
function submitAll(targets: Target[], init: FrameInit): Promise<AckInfo>[] {
  return targets.map(({ reader }) => reader.submit(init));
}

/**
 * The frame as it goes on to readers: attributed to the sending client, whatever it claimed, and
 * encoded once for all of them (whole, into `arena`, for video and audio).
 */
export function forward(from: Client, f: Frame, arena?: FrameArena): FrameInit {
  const init: FrameInit = {
    // Video and audio go as they came when the forwarded header is as long as the received one
    // (it is written over it); else whole into the arena.
    shared: arena ? new SharedEncoding(arena, f.raw, f.from === from.id) : new SharedEncoding(),
    kind: Kind.DATA,
    mediaType: f.mediaType,
    mediaIndex: f.mediaIndex,
    // A video frame keeps its number in its source (change detection, protocol.md 4.1).
    seq: f.mediaType === MediaType.video ? f.seq : undefined,
    // TRANSFORMED goes on with the payload it describes: the server never reads inside it.
    flags: f.flags & (Flag.KEYFRAME | Flag.TRANSFORMED),
    timestamp: f.timestamp,
    from: from.id,
    to: f.to,
    group: f.group,
  };
  // A payload that spanned reads is joined only when a reader needs it apart (one that is behind).
  // Commands, files and data (no arena) go on as those reads, never joined by a stream link.
  const views = arena || f.mediaType === MediaType.video || f.mediaType === MediaType.audio ? undefined : payloadViews(f);
  if (views) init.parts = views;
  else if (f.raw === undefined || Buffer.isBuffer(f.raw)) init.payload = f.payload;
  else return Object.assign(new JoinedOnRead(f), init);
  return init;
}

/**
 * A relayed frame whose payload spanned reads: `payload` reads (joins) the received frame's on
 * first use. A class accessor, one hidden class for all such frames: an accessor defined on each
 * object gives each its own, allocated in the old space (a full GC every few hundred 64 KB frames).
 */
class JoinedOnRead {
  readonly #f: Frame;
  #payload: Buffer | undefined;
  constructor(f: Frame) {
    this.#f = f;
  }

  get payload(): Buffer {
    return (this.#payload ??= this.#f.payload);
  }

  set payload(v: Buffer) {
    this.#payload = v;
  }
}
