/**
 * Receiver-side handling of DATA frames on one link: decode per media type, acknowledge
 * reliable items end to end, drop duplicates (UDP retransmissions), and run file transfers
 * (offsets, resume, SHA-256). Emits through a sink; knows no sockets. The answers and their
 * memory live in answers.ts, the file transfers in file-inbound.ts.
 */
import { CloseCode, ErrorCode, ProtocolError, type CamwireError } from '../errors.js';
import { Flag, MediaType, mediaTypeName, type MediaTypeName } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { u16, view } from '../protocol/bytes.js';
import { decodeAudio, decodeCommand, decodeVideo, imageTypeName } from '../protocol/messages.js';
import type { AudioChunk, CommandMessage, MessageMeta, VideoFrame } from '../events.js';
import type { FrameLink } from '../link/frame-link.js';
import { Answerer, type AnswerMemory } from './answers.js';
import { FileInbound, type FileInboundOptions, type FileSink } from './file-inbound.js';

export type { AnswerMemory } from './answers.js';
export { safeName } from './file-info.js';

/** Where decoded messages go (file events and drops: see FileSink). */
export interface InboundSink extends FileSink {
  /**
   * `transformed`: the frame's TRANSFORMED flag (the image bytes are still as the sender's encode
   * hook made them). `link`: the link it came on (a full-frame request goes back on it).
   */
  video(v: VideoFrame, m: MessageMeta, transformed: boolean, link: FrameLink): void;
  audio(a: AudioChunk, m: MessageMeta, transformed: boolean): void;
  /** Every command, system commands (RV_/RVS_) included: the sink decides what the application sees. */
  command(c: CommandMessage, m: MessageMeta): void;
  data(d: Buffer, m: MessageMeta): void;
}

/** Options of an Inbound (file options: see FileInboundOptions). */
export interface InboundOptions extends FileInboundOptions {
  /** This receiver's client id; messages addressed (`to`) to another id are dropped. */
  clientId: string;
  /** Media types this receiver takes. */
  mediaTypes: ReadonlySet<MediaTypeName>;
  /**
   * The answers remembered for the sender's reliable queue when its HELLO named one (`lane`),
   * shared by all links of that queue, so that an item resent on a new link is answered again
   * and not delivered twice. Without it, answers are remembered per link, over UDP only.
   */
  answers?: AnswerMemory;
}

/** Inbound: one link's incoming DATA frames. */
export class Inbound {
  readonly #link: FrameLink;
  readonly #sink: InboundSink;
  readonly #o: InboundOptions;
  readonly #answers: Answerer;
  readonly #files: FileInbound;
  /** The media types taken, as a bit per type code (a Set lookup by name costs more, once per frame). */
  readonly #typeMask: number;

  constructor(link: FrameLink, sink: InboundSink, o: InboundOptions) {
    this.#link = link;
    this.#sink = sink;
    this.#o = o;
    let mask = 0;
    for (const t of o.mediaTypes) mask |= 1 << MediaType[t];
    this.#typeMask = mask;
    this.#answers = new Answerer(link, o.answers);
    this.#files = new FileInbound(sink, this.#answers, o);
  }

  /** Handles one DATA frame. Throws a ProtocolError for a payload that breaks the protocol. */
  handle(f: Frame): void {
    const type = mediaTypeName(f.mediaType);
    const wantsAck = (f.flags & Flag.ACK_REQUESTED) !== 0;
    if (!type) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, 'DATA frame without a media type');
    // A retransmission (or a copy resent on a new link): the same answer, no second delivery.
    if (wantsAck && this.#answers.repeat(f)) return;
    // Only the header of a frame handled before whose answer is no longer known: nothing to do.
    if (f.repeat) return;
    if (this.#o.clientId && f.to && f.to !== this.#o.clientId) {
      this.#sink.dropped(type, `addressed to ${f.to}`);
      if (wantsAck) this.#nack(f, CloseCode.NOT_ALLOWED, `addressed to ${f.to}, this receiver is ${this.#o.clientId}`);
      return;
    }
    if ((this.#typeMask & (1 << f.mediaType)) === 0) {
      this.#sink.dropped(type, 'media type not received');
      if (wantsAck) this.#nack(f, CloseCode.NOT_ALLOWED, `this receiver does not take ${type}`);
      return;
    }
    const m = this.#meta(f);
    switch (type) {
      case 'video': {
        const fast = videoFast(f);
        if (fast !== undefined) return this.#sink.video(fast, m, (f.flags & Flag.TRANSFORMED) !== 0, this.#link);
        const { header, data } = decodeVideo(f.payload);
        const v: VideoFrame = {
          data,
          imageType: header.imageType,
          width: header.width,
          height: header.height,
          keyframe: (f.flags & Flag.KEYFRAME) !== 0,
          timestamp: f.timestamp,
        };
        if (header.rect) v.rect = header.rect;
        this.#sink.video(v, m, (f.flags & Flag.TRANSFORMED) !== 0, this.#link);
        return;
      }
      case 'audio': {
        const { header, data } = decodeAudio(f.payload);
        this.#sink.audio({ data, ...header, timestamp: f.timestamp }, m, (f.flags & Flag.TRANSFORMED) !== 0);
        return;
      }
      case 'command': {
        this.#sink.command(decodeCommand(f.payload), m);
        this.#ack(f);
        return;
      }
      case 'data':
        this.#sink.data(f.payload, m);
        this.#ack(f);
        return;
      case 'file':
        this.#files.handle(f, m);
        return;
    }
  }

  /** The link ended: unfinished files end with an error. */
  dispose(m: MessageMeta | undefined, err: CamwireError): void {
    this.#files.dispose(m, err);
  }

  #ack(f: Frame, payload?: Buffer): void {
    this.#answers.ack(f, payload);
  }

  #nack(f: Frame, code: number, reason: string): void {
    this.#answers.nack(f, code, reason);
  }

  #meta(f: Frame): MessageMeta {
    return {
      from: f.from,
      to: f.to,
      group: f.group,
      mediaIndex: f.mediaIndex,
      remoteSessionKey: f.sessionKey,
      seq: f.seq,
      timestamp: f.timestamp,
      transport: this.#link.transport,
      remoteAddress: this.#link.remoteAddress,
      remotePort: this.#link.remotePort,
    };
  }

  /** Meta for events raised outside a frame (a link's end). */
  metaFor(from: string, remoteSessionKey: bigint): MessageMeta {
    return {
      from,
      to: '',
      group: '',
      mediaIndex: 0,
      remoteSessionKey,
      seq: 0,
      timestamp: Date.now(),
      transport: this.#link.transport,
      remoteAddress: this.#link.remoteAddress,
      remotePort: this.#link.remotePort,
    };
  }
}

/**
 * The VideoFrame of a frame whose media header is the common one (a known image type, no
 * rectangle, no codec name: docs/protocol.md 4.1), read straight from the payload; undefined for
 * any other (decodeVideo reads it, and checks it).
 */
function videoFast(f: Frame): VideoFrame | undefined {
  const p = f.payload;
  if (p.length < 7 || p[5] !== 0 || p[6] !== 0) return undefined;
  const imageType = imageTypeName(p[0]);
  if (imageType === undefined) return undefined;
  return {
    data: view(p, 7),
    imageType,
    width: u16(p, 1),
    height: u16(p, 3),
    keyframe: (f.flags & Flag.KEYFRAME) !== 0,
    timestamp: f.timestamp,
  };
}
