/**
 * Receiver-side handling of DATA frames on one link: decode per media type, acknowledge
 * reliable items end to end, drop duplicates (UDP retransmissions), and run file transfers
 * (offsets, resume, SHA-256). Emits through a sink; knows no sockets.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CloseCode, DeliveryError, ErrorCode, ProtocolError, type CamwireError } from '../errors.js';
import { Flag, Kind, mediaTypeName, type MediaTypeName } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import {
  decodeAudio,
  decodeCommand,
  decodeFileMessage,
  decodeVideo,
  encodeAck,
  encodeReason,
} from '../protocol/messages.js';
import type {
  AudioChunk,
  CommandMessage,
  FileDataInfo,
  FileEndInfo,
  FileStartInfo,
  MessageMeta,
  VideoFrame,
} from '../events.js';
import type { FrameLink } from '../link/frame-link.js';

/** Where decoded messages go. */
export interface InboundSink {
  video(v: VideoFrame, m: MessageMeta): void;
  audio(a: AudioChunk, m: MessageMeta): void;
  /** Every command, system commands (RV_/RVS_) included: the sink decides what the application sees. */
  command(c: CommandMessage, m: MessageMeta): void;
  data(d: Buffer, m: MessageMeta): void;
  fileStart(f: FileStartInfo, m: MessageMeta): void;
  fileData(f: FileDataInfo, m: MessageMeta): void;
  fileEnd(f: FileEndInfo, m: MessageMeta): void;
  /** A message was dropped on purpose (addressed to someone else, type not wanted...). */
  dropped(type: MediaTypeName | 'unknown', reason: string): void;
}

/** Options of an Inbound. */
export interface InboundOptions {
  /** This receiver's client id; messages addressed (`to`) to another id are dropped. */
  clientId: string;
  /** Media types this receiver takes. */
  mediaTypes: ReadonlySet<MediaTypeName>;
  /** Write received files here (as name.part until verified). */
  fileDir?: string;
}

/** Reserved command name prefixes (BEHAVIOUR.md section 1). */
export function isSystemCommand(name: string): boolean {
  return name.startsWith('RV_') || name.startsWith('RVS_');
}

interface FileRx {
  name: string;
  size: number;
  start: number;
  next: number;
  hash: Hash;
  fd?: number;
  path?: string;
}

const MAX_FILES_PER_LINK = 16;
const DEDUP_WINDOW = 1024;

/** Inbound: one link's incoming DATA frames. */
export class Inbound {
  readonly #link: FrameLink;
  readonly #sink: InboundSink;
  readonly #o: InboundOptions;
  readonly #files = new Map<number, FileRx>();
  /** Recently handled reliable seqs with the ACK sent for each (only for unreliable links). */
  readonly #seen = new Map<number, Buffer | undefined>();

  constructor(link: FrameLink, sink: InboundSink, o: InboundOptions) {
    this.#link = link;
    this.#sink = sink;
    this.#o = o;
  }

  /** Handles one DATA frame. Throws a ProtocolError for a payload that breaks the protocol. */
  handle(f: Frame): void {
    const type = mediaTypeName(f.mediaType);
    const wantsAck = (f.flags & Flag.ACK_REQUESTED) !== 0;
    if (!type) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, 'DATA frame without a media type');
    if (wantsAck && !this.#link.reliable && this.#seen.has(f.seq)) {
      this.#ack(f, this.#seen.get(f.seq));
      return;
    }
    if (this.#o.clientId && f.to && f.to !== this.#o.clientId) {
      this.#sink.dropped(type, `addressed to ${f.to}`);
      if (wantsAck) this.#nack(f, CloseCode.NOT_ALLOWED, `addressed to ${f.to}, this receiver is ${this.#o.clientId}`);
      return;
    }
    if (!this.#o.mediaTypes.has(type)) {
      this.#sink.dropped(type, 'media type not received');
      if (wantsAck) this.#nack(f, CloseCode.NOT_ALLOWED, `this receiver does not take ${type}`);
      return;
    }
    const m = this.#meta(f);
    switch (type) {
      case 'video': {
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
        this.#sink.video(v, m);
        return;
      }
      case 'audio': {
        const { header, data } = decodeAudio(f.payload);
        this.#sink.audio({ data, ...header, timestamp: f.timestamp }, m);
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
        this.#file(f, m);
        return;
    }
  }

  #file(f: Frame, m: MessageMeta): void {
    const msg = decodeFileMessage(f.payload);
    const rx = this.#files.get(msg.fileId);
    switch (msg.op) {
      case 'start': {
        if (rx) this.#closeFile(msg.fileId, rx);
        if (this.#files.size >= MAX_FILES_PER_LINK) {
          this.#nack(f, CloseCode.REFUSED, `more than ${MAX_FILES_PER_LINK} files at once`);
          return;
        }
        const name = safeName(msg.name);
        let start = msg.offset;
        let fd: number | undefined;
        let full: string | undefined;
        if (this.#o.fileDir) {
          full = path.join(this.#o.fileDir, name);
          const part = `${full}.part`;
          let have = 0;
          try {
            have = fs.statSync(part).size;
          } catch {
            have = 0;
          }
          if (have > start && have <= msg.totalSize) start = have;
          fd = fs.openSync(part, fs.existsSync(part) ? 'r+' : 'w');
        }
        const info: FileStartInfo = {
          fileId: msg.fileId,
          name,
          size: msg.totalSize,
          offset: msg.offset,
          resumeAt: (o: number) => {
            if (!Number.isInteger(o) || o < 0 || o > msg.totalSize) throw new RangeError(`resume offset ${o} outside 0..${msg.totalSize}`);
            start = o;
          },
        };
        this.#sink.fileStart(info, m);
        this.#files.set(msg.fileId, { name, size: msg.totalSize, start, next: start, hash: createHash('sha256'), fd, path: full });
        this.#ack(f, encodeAck(start));
        return;
      }
      case 'chunk': {
        if (!rx) {
          this.#nack(f, CloseCode.UNEXPECTED_MESSAGE, `chunk of unknown file ${msg.fileId}`);
          return;
        }
        if (msg.offset !== rx.next || msg.offset + msg.data.length > rx.size) {
          this.#nack(f, CloseCode.BAD_PAYLOAD, `chunk at ${msg.offset}, expected ${rx.next}`);
          this.#endFile(msg.fileId, rx, m, new DeliveryError(ErrorCode.DELIVERY_REFUSED, 'file chunks out of order', f.seq));
          return;
        }
        rx.hash.update(msg.data);
        if (rx.fd !== undefined) fs.writeSync(rx.fd, msg.data, 0, msg.data.length, msg.offset);
        rx.next += msg.data.length;
        this.#sink.fileData({ fileId: msg.fileId, name: rx.name, offset: msg.offset, size: rx.size, data: msg.data }, m);
        this.#ack(f);
        return;
      }
      case 'end': {
        if (!rx) {
          this.#nack(f, CloseCode.UNEXPECTED_MESSAGE, `end of unknown file ${msg.fileId}`);
          return;
        }
        const digest = rx.hash.digest();
        const complete = rx.next === rx.size && msg.totalSize === rx.size;
        const ok = complete && digest.equals(msg.sha256);
        let error: CamwireError | undefined;
        if (!complete) error = new DeliveryError(ErrorCode.DELIVERY_REFUSED, `file ended at ${rx.next} of ${rx.size} bytes`, f.seq);
        else if (!ok) error = new DeliveryError(ErrorCode.DELIVERY_CHECKSUM, 'file SHA-256 mismatch', f.seq);
        this.#endFile(msg.fileId, rx, m, error, digest.toString('hex'));
        if (ok) this.#ack(f);
        else this.#nack(f, CloseCode.BAD_PAYLOAD, error!.message);
        return;
      }
      case 'abort':
        if (rx) this.#endFile(msg.fileId, rx, m, new DeliveryError(ErrorCode.DELIVERY_CLOSED, `sender aborted: ${msg.reason}`, f.seq));
        this.#ack(f);
        return;
    }
  }

  #endFile(id: number, rx: FileRx, m: MessageMeta, error?: CamwireError, sha256 = ''): void {
    this.#closeFile(id, rx);
    let finalPath: string | undefined;
    if (rx.path) {
      if (!error) {
        fs.renameSync(`${rx.path}.part`, rx.path);
        finalPath = rx.path;
      }
    }
    const end: FileEndInfo = { fileId: id, name: rx.name, size: rx.size, offset: rx.start, ok: !error, sha256 };
    if (finalPath) end.path = finalPath;
    if (error) end.error = error;
    this.#sink.fileEnd(end, m);
  }

  #closeFile(id: number, rx: FileRx): void {
    this.#files.delete(id);
    if (rx.fd !== undefined) {
      fs.closeSync(rx.fd);
      rx.fd = undefined;
    }
  }

  /** The link ended: unfinished files end with an error. */
  dispose(m: MessageMeta | undefined, err: CamwireError): void {
    for (const [id, rx] of [...this.#files]) {
      if (m) this.#endFile(id, rx, m, err);
      else this.#closeFile(id, rx);
    }
  }

  #remember(seq: number, ack: Buffer | undefined): void {
    if (this.#link.reliable) return;
    this.#seen.set(seq, ack);
    if (this.#seen.size > DEDUP_WINDOW) this.#seen.delete(this.#seen.keys().next().value as number);
  }

  #ack(f: Frame, payload?: Buffer): void {
    if ((f.flags & Flag.ACK_REQUESTED) === 0) return;
    this.#remember(f.seq, payload);
    this.#link.send({ kind: Kind.ACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload });
  }

  #nack(f: Frame, code: number, reason: string): void {
    if ((f.flags & Flag.ACK_REQUESTED) === 0) return;
    this.#link.send({ kind: Kind.NACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload: encodeReason(code, reason) });
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

/** A file name safe to create inside a folder: no directories, no dot-names. */
export function safeName(name: string): string {
  const base = path.basename(name.replace(/\\/g, '/')).replace(/[\u0000-\u001f<>:"|?*]/g, '_');
  return !base || base === '.' || base === '..' ? 'file' : base;
}
