/**
 * A Sender's options with every default filled in, and what is built from them alone: the outbox
 * of each media type, and the HELLO of a push lane (docs/api.md, Sender options).
 */
import { Kind, MediaType, type MediaTypeName } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import { encodeJson } from '../protocol/messages.js';
import { misuse, type DeliveryError } from '../errors.js';
import { AudioOutbox, ReliableOutbox, VideoOutbox, type Outbox } from '../media/outbox.js';
import { AGENT, checkId, invalid, resolveCommon, type ResolvedCommon } from '../options.js';
import type { SendOptions, SenderOptions } from './sender-options.js';

/** SenderOptions resolved. */
export interface SenderConfig {
  o: ResolvedCommon;
  to: string;
  group: string;
  idleMs: number;
  audioChunks: number;
  audioBytes: number;
  queueBytes: Record<'command' | 'file' | 'data', number>;
  window: number;
  /** reliableWindow was given: file transfers keep it as their fixed window (protocol.md 4.4). */
  windowFixed: boolean;
  chunk: number;
  maxChannels: number;
}

/** Fills in the defaults; throws a ConfigError naming the bad option. */
export function resolveSender(options: SenderOptions): SenderConfig {
  const o = resolveCommon(options);
  const pos = (name: string, v: number | undefined, def: number, min = 1): number => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw invalid(name, `must be a number >= ${min}`);
    return v;
  };
  // Over UDP a lost datagram loses its whole frame: file chunks fit one datagram, so a loss
  // costs one small retransmission, and more of them are in flight.
  const udp = o.protocol === 'udp';
  const chunk = pos('fileChunkSize', options.fileChunkSize, udp ? o.datagramSize - 300 : 262144, udp ? 128 : 1024);
  if (chunk > o.maxPayload - 64) throw invalid('fileChunkSize', 'must leave room for headers within maxPayload');
  if (o.connection === 'sender-to-receiver' && !o.port) {
    throw invalid('port', "is required in sender-to-receiver mode: the receiver's (or server's) port");
  }
  return {
    o,
    to: checkId('to', options.to),
    group: checkId('group', options.group),
    idleMs: pos('idleTimeoutMs', options.idleTimeoutMs, 5000, 0),
    audioChunks: pos('audioQueueChunks', options.audioQueueChunks, 50),
    audioBytes: pos('audioQueueBytes', options.audioQueueBytes, 1_638_400),
    queueBytes: {
      command: pos('queueBytes.command', options.queueBytes?.command, 819_200),
      file: pos('queueBytes.file', options.queueBytes?.file, 10_485_760),
      data: pos('queueBytes.data', options.queueBytes?.data, 8_192_000),
    },
    window: pos('reliableWindow', options.reliableWindow, udp ? 64 : 16),
    windowFixed: options.reliableWindow !== undefined,
    chunk,
    maxChannels: pos('maxChannels', options.maxChannels, 256),
  };
}

/**
 * Video a Sender's link holds while it cannot write (connecting, or a slow peer): latest wins per
 * source, so this bounds only a compressed source's group of pictures queued behind its keyframe.
 */
const SENDER_VIDEO_BYTES = 32 * 1024 * 1024;

/**
 * The outbox of one media type: latest-wins video, a bounded audio queue, or a reliable queue.
 * `onNeedKey`: a video source that sends rectangles needs a full frame. `joined`: the outbox of a
 * reader that joins a running stream (a pull channel): its video starts at each source's keyframe.
 */
export function newOutbox(c: SenderConfig, type: MediaTypeName, onTimeout: (err: DeliveryError) => void, onNeedKey?: (mediaIndex: number) => void, joined = false): Outbox {
  if (type === 'video') return new VideoOutbox(SENDER_VIDEO_BYTES, onNeedKey && ((f) => onNeedKey(f.mediaIndex ?? 0)), joined);
  if (type === 'audio') return new AudioOutbox(c.audioChunks, c.audioBytes);
  return new ReliableOutbox({
    mediaType: type,
    maxBytes: c.queueBytes[type],
    window: c.window,
    timeoutMs: c.o.timeouts[type],
    retransmitMs: c.o.protocol === 'udp' ? 200 : 0,
    onTimeout,
  });
}

/**
 * The HELLO of a push lane's link. `laneId` names a reliable lane's queue, the same on each of its
 * links: the receiver deduplicates items resent on a new link by it (docs/protocol.md, 3.3).
 */
export function pushHello(c: SenderConfig, type: MediaTypeName, sessionKey: bigint, laneId: string | undefined): FrameInit {
  return {
    kind: Kind.HELLO,
    mediaType: MediaType[type],
    sessionKey,
    from: c.o.clientId,
    to: c.to,
    group: c.group,
    timestamp: Date.now(),
    payload: encodeJson({ role: 'push', agent: AGENT, ...(laneId ? { lane: laneId } : {}), ...(c.o.auth ? { auth: c.o.auth } : {}) }),
  };
}

/**
 * A DATA frame of `type` from `clientId`, addressed by the call's `to`/`group` or the Sender's
 * defaults. Throws a misuse error for a media index outside 0..65535 or a bad id.
 */
export function dataFrame(c: SenderConfig, clientId: string, type: MediaTypeName, payload: Buffer, o: SendOptions & { timestamp?: number }, flags: number): FrameInit {
  const mediaIndex = o.mediaIndex ?? 0;
  if (!Number.isInteger(mediaIndex) || mediaIndex < 0 || mediaIndex > 0xffff) throw misuse(new RangeError(`mediaIndex ${mediaIndex} outside 0..65535`));
  return {
    kind: Kind.DATA,
    mediaType: MediaType[type],
    mediaIndex,
    flags,
    timestamp: o.timestamp ?? Date.now(),
    from: clientId,
    to: o.to !== undefined && o.to !== '' ? checkId('to', o.to) : c.to,
    group: o.group !== undefined && o.group !== '' ? checkId('group', o.group) : c.group,
    payload,
    // Set later for video and audio (their media header): present from the start, so every frame has one shape.
    prefix: undefined,
  };
}
