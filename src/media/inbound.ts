/**
 * Receiver-side handling of DATA frames on one link: decode per media type, acknowledge
 * reliable items end to end, drop duplicates (UDP retransmissions), and run file transfers
 * (offsets, resume, SHA-256). Emits through a sink; knows no sockets.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError, CloseCode, DeliveryError, ErrorCode, ProtocolError } from '../errors.js';
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
import type { Logger } from '../options.js';

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
  /** Paths being written now, shared by all links of one receiver: one transfer per file name. */
  busyFiles: Set<string>;
  /** Largest file a START may announce; larger ones are refused (NACK 1204). @default Infinity */
  maxFileSize?: number;
  /** With fileDir: free disk that must remain once a new transfer's bytes are written. @default 0 */
  minFreeDiskBytes?: number;
  /**
   * With fileDir: bytes still to come of the transfers being written now, shared by all links of
   * one receiver, so that transfers accepted together fit on the disk together.
   */
  pendingDisk?: { bytes: number };
  /** Hears of refused file transfers (one `warn` each). */
  logger?: Logger;
  /**
   * The answers remembered for the sender's reliable queue when its HELLO named one (`lane`),
   * shared by all links of that queue, so that an item resent on a new link is answered again
   * and not delivered twice. Without it, answers are remembered per link, over UDP only.
   */
  answers?: AnswerMemory;
}

/** The answer (ACK or NACK with its payload) sent for a reliable seq, by seq, oldest first. */
export type AnswerMemory = Map<number, { kind: typeof Kind.ACK | typeof Kind.NACK; payload: Buffer | undefined }>;

interface FileRx {
  name: string;
  size: number;
  start: number;
  next: number;
  hash: Hash;
  fd?: number;
  path?: string;
  /** Chunks that arrived before the ones in front of them (UDP), by offset. */
  early: Map<number, Buffer>;
  earlyBytes: number;
  /** Bytes of this transfer still counted in `pendingDisk`. */
  reserved: number;
}

const MAX_FILES_PER_LINK = 16;
const MAX_EARLY_CHUNKS = 64;
const MAX_EARLY_BYTES = 8 * 1024 * 1024;
const DEDUP_WINDOW = 1024;

/** Inbound: one link's incoming DATA frames. */
export class Inbound {
  readonly #link: FrameLink;
  readonly #sink: InboundSink;
  readonly #o: InboundOptions;
  readonly #files = new Map<number, FileRx>();
  /** Recently handled reliable seqs with the answer sent for each (a lane's, or this link's over UDP). */
  readonly #seen: AnswerMemory | undefined;

  constructor(link: FrameLink, sink: InboundSink, o: InboundOptions) {
    this.#link = link;
    this.#sink = sink;
    this.#o = o;
    this.#seen = o.answers ?? (link.reliable ? undefined : new Map());
  }

  /** Handles one DATA frame. Throws a ProtocolError for a payload that breaks the protocol. */
  handle(f: Frame): void {
    const type = mediaTypeName(f.mediaType);
    const wantsAck = (f.flags & Flag.ACK_REQUESTED) !== 0;
    if (!type) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, 'DATA frame without a media type');
    const known = wantsAck ? this.#seen?.get(f.seq) : undefined;
    if (known) {
      // A retransmission (or a copy resent on a new link): the same answer, no second delivery.
      this.#link.send({ kind: known.kind, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload: known.payload });
      return;
    }
    // Only the header of a frame handled before whose answer is no longer known: nothing to do.
    if (f.repeat) return;
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
    try {
      switch (msg.op) {
        case 'start':
          this.#fileStart(f, m, msg, rx);
          return;
        case 'chunk': {
          if (!rx) {
            this.#nack(f, CloseCode.UNEXPECTED_MESSAGE, `chunk of unknown file ${msg.fileId}`);
            return;
          }
          if (msg.offset < rx.next) {
            this.#ack(f); // a repeat of a chunk already written
            return;
          }
          if (msg.offset + msg.data.length > rx.size) {
            this.#nack(f, CloseCode.BAD_PAYLOAD, `chunk at ${msg.offset} runs past the file size ${rx.size}`);
            this.#endFile(msg.fileId, rx, m, new DeliveryError(ErrorCode.DELIVERY_REFUSED, 'file chunk beyond the end', f.seq));
            return;
          }
          if (msg.offset > rx.next) {
            // Over UDP a lost chunk makes later ones arrive first: keep a bounded number of them.
            if (rx.early.size >= MAX_EARLY_CHUNKS || rx.earlyBytes + msg.data.length > MAX_EARLY_BYTES) return; // not acknowledged: resent later
            if (!rx.early.has(msg.offset)) {
              rx.early.set(msg.offset, Buffer.from(msg.data));
              rx.earlyBytes += msg.data.length;
            }
            this.#ack(f);
            return;
          }
          this.#write(rx, msg.fileId, msg.offset, msg.data, m);
          this.#ack(f);
          for (let next = rx.early.get(rx.next); next; next = rx.early.get(rx.next)) {
            rx.early.delete(rx.next);
            rx.earlyBytes -= next.length;
            this.#write(rx, msg.fileId, rx.next, next, m);
          }
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
    } catch (err) {
      // A disk problem ends this transfer, never the process.
      const e = new CamwireError(ErrorCode.FILE_IO, `file ${rx?.name ?? msg.fileId}: ${(err as Error).message}`, { cause: err });
      this.#nack(f, CloseCode.INTERNAL, e.message);
      const cur = this.#files.get(msg.fileId) ?? rx;
      if (cur) {
        try {
          this.#endFile(msg.fileId, cur, m, e);
        } catch {
          this.#files.delete(msg.fileId);
          if (cur.path) this.#o.busyFiles.delete(cur.path);
          this.#sink.fileEnd({ fileId: msg.fileId, name: cur.name, size: cur.size, offset: cur.start, ok: false, sha256: '', error: e }, m);
        }
      }
    }
  }

  #fileStart(f: Frame, m: MessageMeta, msg: { fileId: number; name: string; totalSize: number; offset: number }, old: FileRx | undefined): void {
    if (old) this.#endFile(msg.fileId, old, m, new DeliveryError(ErrorCode.DELIVERY_CLOSED, 'the sender restarted this transfer', f.seq));
    if (this.#files.size >= MAX_FILES_PER_LINK) {
      this.#nack(f, CloseCode.REFUSED, `more than ${MAX_FILES_PER_LINK} files at once`);
      return;
    }
    const name = safeName(msg.name);
    const maxSize = this.#o.maxFileSize ?? Infinity;
    // What a peer claims is checked before anything is created: the size against maxFileSize...
    if (msg.totalSize > maxSize) {
      this.#refuse(f, CloseCode.TOO_LARGE, `${name} is ${msg.totalSize} bytes; this receiver takes files of at most ${maxSize} bytes (maxFileSize)`);
      return;
    }
    let start = msg.offset;
    let full: string | undefined;
    if (this.#o.fileDir) {
      full = path.join(this.#o.fileDir, name);
      if (this.#o.busyFiles.has(full)) {
        this.#nack(f, CloseCode.REFUSED, `${name} is already being received`);
        return;
      }
      let have = 0;
      try {
        have = fs.statSync(`${full}.part`).size;
      } catch {
        have = 0;
      }
      // ...and the offset against the bytes held: a file never starts with bytes nobody sent.
      if (msg.offset > have) {
        this.#refuse(f, CloseCode.REFUSED, `${name}: the sender proposes to start at byte ${msg.offset}, but this receiver holds ${have} bytes of it; propose ${have} or less (0 lets the receiver answer where to resume)`);
        return;
      }
      if (have > start && have <= msg.totalSize) start = have;
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
    let fd: number | undefined;
    let reserved = 0;
    if (full) {
      const part = `${full}.part`;
      const room = this.#room(full, msg.totalSize - start);
      if (room) {
        const e = new CamwireError(ErrorCode.FILE_NO_SPACE, `file ${name}: ${room}`);
        this.#o.logger?.warn({ file: name, size: msg.totalSize, offset: start, from: f.from }, `file refused: ${room}`);
        this.#sink.fileEnd({ fileId: msg.fileId, name, size: msg.totalSize, offset: start, ok: false, sha256: '', error: e }, m);
        this.#nack(f, CloseCode.NO_SPACE, e.message);
        return;
      }
      try {
        fd = fs.openSync(part, fs.existsSync(part) ? 'r+' : 'w');
        // Bytes past the resume point are stale (an older, longer transfer): cut them.
        fs.ftruncateSync(fd, start);
      } catch (err) {
        if (fd !== undefined) fs.closeSync(fd);
        const e = new CamwireError(ErrorCode.FILE_IO, `file ${name}: ${(err as Error).message}`, { cause: err });
        this.#sink.fileEnd({ fileId: msg.fileId, name, size: msg.totalSize, offset: start, ok: false, sha256: '', error: e }, m);
        this.#nack(f, CloseCode.INTERNAL, e.message);
        return;
      }
      this.#o.busyFiles.add(full);
      reserved = msg.totalSize - start;
      if (this.#o.pendingDisk) this.#o.pendingDisk.bytes += reserved;
    }
    this.#files.set(msg.fileId, { name, size: msg.totalSize, start, next: start, hash: createHash('sha256'), fd, path: full, early: new Map(), earlyBytes: 0, reserved });
    this.#ack(f, encodeAck(start));
  }

  /**
   * Why `bytes` more do not fit on the disk of `file` (with the margin and what the transfers
   * already accepted will still write), or undefined when they do. A disk that cannot say is
   * not refused: a failed write ends the transfer (CW_ERR_FILE_IO).
   */
  #room(file: string, bytes: number): string | undefined {
    let free: number;
    try {
      const st = fs.statfsSync(path.dirname(file));
      free = st.bavail * st.bsize;
    } catch {
      return undefined;
    }
    const pending = this.#o.pendingDisk?.bytes ?? 0;
    const margin = this.#o.minFreeDiskBytes ?? 0;
    if (bytes + pending + margin <= free) return undefined;
    return `not enough free disk: ${bytes} bytes to write${pending ? ` (and ${pending} for transfers in progress)` : ''} plus ${margin} to keep free (minFreeDiskBytes), ${free} free`;
  }

  #write(rx: FileRx, fileId: number, offset: number, data: Buffer, m: MessageMeta): void {
    rx.hash.update(data);
    if (rx.fd !== undefined) {
      let done = 0;
      while (done < data.length) done += fs.writeSync(rx.fd, data, done, data.length - done, offset + done);
      const r = Math.min(rx.reserved, data.length);
      rx.reserved -= r;
      if (this.#o.pendingDisk) this.#o.pendingDisk.bytes -= r;
    }
    rx.next += data.length;
    this.#sink.fileData({ fileId, name: rx.name, offset, size: rx.size, data }, m);
  }

  #endFile(id: number, rx: FileRx, m: MessageMeta, error?: CamwireError, sha256 = ''): void {
    this.#closeFile(id, rx);
    let finalPath: string | undefined;
    if (rx.path && !error) {
      fs.renameSync(`${rx.path}.part`, rx.path);
      finalPath = rx.path;
    }
    const end: FileEndInfo = { fileId: id, name: rx.name, size: rx.size, offset: rx.start, ok: !error, sha256 };
    if (finalPath) end.path = finalPath;
    if (error) end.error = error;
    this.#sink.fileEnd(end, m);
  }

  #closeFile(id: number, rx: FileRx): void {
    this.#files.delete(id);
    if (rx.path) this.#o.busyFiles.delete(rx.path);
    if (this.#o.pendingDisk) this.#o.pendingDisk.bytes -= rx.reserved;
    rx.reserved = 0;
    if (rx.fd !== undefined) {
      const fd = rx.fd;
      rx.fd = undefined;
      fs.closeSync(fd);
    }
  }

  /** The link ended: unfinished files end with an error. */
  dispose(m: MessageMeta | undefined, err: CamwireError): void {
    for (const [id, rx] of [...this.#files]) {
      if (m) this.#endFile(id, rx, m, err);
      else this.#closeFile(id, rx);
    }
  }

  #remember(seq: number, kind: typeof Kind.ACK | typeof Kind.NACK, payload: Buffer | undefined): void {
    const seen = this.#seen;
    if (!seen) return;
    seen.delete(seq);
    seen.set(seq, { kind, payload });
    if (seen.size > DEDUP_WINDOW) seen.delete(seen.keys().next().value as number);
  }

  #ack(f: Frame, payload?: Buffer): void {
    if ((f.flags & Flag.ACK_REQUESTED) === 0) return;
    this.#remember(f.seq, Kind.ACK, payload);
    this.#link.send({ kind: Kind.ACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload });
  }

  /** Refuses a file START before anything is created: NACK, counted as dropped, one warning. */
  #refuse(f: Frame, code: number, reason: string): void {
    this.#sink.dropped('file', reason);
    this.#o.logger?.warn({ from: f.from, code }, `file refused: ${reason}`);
    this.#nack(f, code, reason);
  }

  #nack(f: Frame, code: number, reason: string): void {
    if ((f.flags & Flag.ACK_REQUESTED) === 0) return;
    const payload = encodeReason(code, reason);
    this.#remember(f.seq, Kind.NACK, payload);
    this.#link.send({ kind: Kind.NACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload });
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
