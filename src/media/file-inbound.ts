/**
 * Receiver-side file transfers on one link: START (size and offset checks, free disk, the
 * name.part file, resume), CHUNKs (in order, with early ones held back over UDP), END (SHA-256,
 * rename) and ABORT. One transfer per file name across the links of one receiver.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError, CloseCode, DeliveryError, ErrorCode } from '../errors.js';
import type { MediaTypeName } from '../protocol/constants.js';
import { payloadViews, type Frame } from '../protocol/frame.js';
import { decodeFileChunkViews } from '../protocol/file-messages.js';
import { decodeFileMessage, encodeAck } from '../protocol/messages.js';
import type { FileDataInfo, FileEndInfo, FileStartInfo, MessageMeta } from '../events.js';
import type { Logger } from '../options.js';
import type { Answerer } from './answers.js';
import { FileWriter } from './file-writer.js';
import { makeDir } from '../make-dir.js';
import { byteLength, dataInfo, safeName } from './file-info.js';

/** Where file reception reports to (part of an InboundSink). */
export interface FileSink {
  fileStart(f: FileStartInfo, m: MessageMeta): void;
  /** `bytes`: the chunk's length (reading `f.data` may join a chunk that arrived in pieces). */
  fileData(f: FileDataInfo, m: MessageMeta, bytes: number): void;
  fileEnd(f: FileEndInfo, m: MessageMeta): void;
  /** A message was dropped on purpose (addressed to someone else, type not wanted...). */
  dropped(type: MediaTypeName | 'unknown', reason: string): void;
}

/** The file options of an Inbound. */
export interface FileInboundOptions {
  /** Write received files here (as name.part until verified). */
  fileDir?: string;
  /** Paths being written now, shared by all links of one receiver: one transfer per file name. */
  busyFiles: Set<string>;
  /**
   * Paths of ended transfers whose last chunks are still being written, shared like
   * `busyFiles`, with the STARTs waiting for them to land: a resume reads the `.part` file's size
   * only once nothing more will be written to it.
   */
  closingFiles?: Map<string, Array<() => void>>;
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
}

interface FileRx {
  name: string;
  size: number;
  start: number;
  next: number;
  hash: Hash;
  /** With fileDir: writes the chunks in order, off the event loop. */
  writer?: FileWriter;
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

/** FileInbound: one link's incoming file transfers. */
export class FileInbound {
  readonly #sink: FileSink;
  readonly #answers: Answerer;
  readonly #o: FileInboundOptions;
  readonly #files = new Map<number, FileRx>();
  #disposed = false;

  constructor(sink: FileSink, answers: Answerer, o: FileInboundOptions) {
    this.#sink = sink;
    this.#answers = answers;
    this.#o = o;
  }

  /** Handles one file DATA frame (START, CHUNK, END or ABORT). */
  handle(f: Frame, m: MessageMeta): void {
    // A chunk whose frame spanned reads keeps its data as views of those reads: hashed and
    // written without joining them.
    const views = payloadViews(f);
    const msg = (views && decodeFileChunkViews(views)) ?? decodeFileMessage(f.payload);
    const rx = this.#files.get(msg.fileId);
    try {
      switch (msg.op) {
        case 'start':
          this.#fileStart(f, m, msg, rx);
          return;
        case 'chunk': {
          if (!rx) {
            this.#answers.nack(f, CloseCode.UNEXPECTED_MESSAGE, `chunk of unknown file ${msg.fileId}`);
            return;
          }
          if (msg.offset < rx.next) {
            // A repeat of a chunk already taken: answered once it is written.
            if (rx.writer) rx.writer.whenIdle(() => this.#answers.ack(f));
            else this.#answers.ack(f);
            return;
          }
          const bytes = byteLength(msg.data);
          if (msg.offset + bytes > rx.size) {
            this.#answers.nack(f, CloseCode.BAD_PAYLOAD, `chunk at ${msg.offset} runs past the file size ${rx.size}`);
            this.#endFile(msg.fileId, rx, m, new DeliveryError(ErrorCode.DELIVERY_REFUSED, 'file chunk beyond the end', f.seq));
            return;
          }
          if (msg.offset > rx.next) {
            // Over UDP a lost chunk makes later ones arrive first: keep a bounded number of them.
            if (rx.early.size >= MAX_EARLY_CHUNKS || rx.earlyBytes + bytes > MAX_EARLY_BYTES) return; // not acknowledged: resent later
            if (!rx.early.has(msg.offset)) {
              rx.early.set(msg.offset, Buffer.isBuffer(msg.data) ? Buffer.from(msg.data) : Buffer.concat(msg.data, bytes));
              rx.earlyBytes += bytes;
            }
            this.#answers.ack(f);
            return;
          }
          this.#write(rx, msg.fileId, msg.offset, msg.data, m, f);
          for (let next = rx.early.get(rx.next); next; next = rx.early.get(rx.next)) {
            rx.early.delete(rx.next);
            rx.earlyBytes -= next.length;
            this.#write(rx, msg.fileId, rx.next, next, m);
          }
          return;
        }
        case 'end': {
          if (!rx) {
            this.#answers.nack(f, CloseCode.UNEXPECTED_MESSAGE, `end of unknown file ${msg.fileId}`);
            return;
          }
          // The END is answered once every chunk before it is on disk.
          const end = (): void => {
            if (this.#files.get(msg.fileId) !== rx || rx.writer?.failed) {
              this.#answers.nack(f, CloseCode.REFUSED, `file ${msg.fileId} ended before its END`);
              return;
            }
            try {
              const digest = rx.hash.digest();
              const complete = rx.next === rx.size && msg.totalSize === rx.size;
              const ok = complete && digest.equals(msg.sha256);
              let error: CamwireError | undefined;
              if (!complete) error = new DeliveryError(ErrorCode.DELIVERY_REFUSED, `file ended at ${rx.next} of ${rx.size} bytes`, f.seq);
              else if (!ok) error = new DeliveryError(ErrorCode.DELIVERY_CHECKSUM, 'file SHA-256 mismatch', f.seq);
              this.#endFile(msg.fileId, rx, m, error, digest.toString('hex'));
              if (ok) this.#answers.ack(f);
              else this.#answers.nack(f, CloseCode.BAD_PAYLOAD, error!.message);
            } catch (err) {
              this.#ioFailed(f, m, msg.fileId, rx, err as Error);
            }
          };
          if (rx.writer) rx.writer.whenIdle(end);
          else end();
          return;
        }
        case 'abort':
          if (rx) this.#endFile(msg.fileId, rx, m, new DeliveryError(ErrorCode.DELIVERY_CLOSED, `sender aborted: ${msg.reason}`, f.seq));
          this.#answers.ack(f);
          return;
      }
    } catch (err) {
      this.#ioFailed(f, m, msg.fileId, rx, err as Error);
    }
  }

  /** A disk problem ends this transfer, never the process: NACK, and fileEnd with CW_ERR_FILE_IO. */
  #ioFailed(f: Frame | undefined, m: MessageMeta, fileId: number, rx: FileRx | undefined, err: Error): void {
    const e = new CamwireError(ErrorCode.FILE_IO, `file ${rx?.name ?? fileId}: ${err.message}`, { cause: err });
    if (f) this.#answers.nack(f, CloseCode.INTERNAL, e.message);
    const cur = this.#files.get(fileId);
    if (!cur || (rx && cur !== rx)) return;
    try {
      this.#endFile(fileId, cur, m, e);
    } catch {
      this.#files.delete(fileId);
      if (cur.path) this.#o.busyFiles.delete(cur.path);
      this.#sink.fileEnd({ fileId, name: cur.name, size: cur.size, offset: cur.start, ok: false, sha256: '', error: e }, m);
    }
  }

  #fileStart(f: Frame, m: MessageMeta, msg: { fileId: number; name: string; totalSize: number; offset: number }, old: FileRx | undefined): void {
    if (old) this.#endFile(msg.fileId, old, m, new DeliveryError(ErrorCode.DELIVERY_CLOSED, 'the sender restarted this transfer', f.seq));
    if (this.#files.size >= MAX_FILES_PER_LINK) {
      this.#answers.nack(f, CloseCode.REFUSED, `more than ${MAX_FILES_PER_LINK} files at once`);
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
        this.#answers.nack(f, CloseCode.REFUSED, `${name} is already being received`);
        return;
      }
      // An ended transfer of this name still writes the chunks it had: answered once they
      // landed (at most what waited for the disk; the sender waits for this answer before it
      // sends chunks).
      const closing = this.#o.closingFiles?.get(full);
      if (closing) {
        closing.push(() => {
          if (this.#disposed) return;
          try {
            this.#fileStart(f, m, msg, this.#files.get(msg.fileId));
          } catch (err) {
            this.#ioFailed(f, m, msg.fileId, undefined, err as Error);
          }
        });
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
      // The folder made at start may have been removed since (an inbox emptied by hand): made
      // again, so that later files still land; a failure shows at the open below.
      try {
        makeDir(path.dirname(full));
      } catch {
        // reported by the open
      }
      const room = this.#room(full, msg.totalSize - start);
      if (room) {
        const e = new CamwireError(ErrorCode.FILE_NO_SPACE, `file ${name}: ${room}`);
        this.#o.logger?.warn({ file: name, size: msg.totalSize, offset: start, from: f.from }, `file refused: ${room}`);
        this.#sink.fileEnd({ fileId: msg.fileId, name, size: msg.totalSize, offset: start, ok: false, sha256: '', error: e }, m);
        this.#answers.nack(f, CloseCode.NO_SPACE, e.message);
        return;
      }
      try {
        fd = fs.openSync(part, fs.existsSync(part) ? 'r+' : 'w');
        // Bytes past the resume point are stale (an older, longer transfer): cut them. Only when
        // there are some: on ext4 a truncation to 0 makes the close flush the file (auto_da_alloc),
        // tens of ms on the event loop at the end of every new transfer.
        if (fs.fstatSync(fd).size !== start) fs.ftruncateSync(fd, start);
      } catch (err) {
        if (fd !== undefined) fs.closeSync(fd);
        const e = new CamwireError(ErrorCode.FILE_IO, `file ${name}: ${(err as Error).message}`, { cause: err });
        this.#sink.fileEnd({ fileId: msg.fileId, name, size: msg.totalSize, offset: start, ok: false, sha256: '', error: e }, m);
        this.#answers.nack(f, CloseCode.INTERNAL, e.message);
        return;
      }
      this.#o.busyFiles.add(full);
      reserved = msg.totalSize - start;
      if (this.#o.pendingDisk) this.#o.pendingDisk.bytes += reserved;
    }
    const writer = fd === undefined ? undefined : new FileWriter(fd, start);
    this.#files.set(msg.fileId, { name, size: msg.totalSize, start, next: start, hash: createHash('sha256'), writer, path: full, early: new Map(), earlyBytes: 0, reserved });
    this.#answers.ack(f, encodeAck(start));
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

  /**
   * Hashes a chunk and writes it; once it is written, `fileData` reports it and `ack` (the chunk's
   * frame) is answered (at once without fileDir). A chunk still waiting for the disk when the
   * transfer ends is written and acknowledged, not reported (docs/api.md, Receiver events). `data`: one
   * Buffer, or the views of the reads it arrived in (joined only for a `fileData` listener that
   * reads it).
   */
  #write(rx: FileRx, fileId: number, offset: number, data: Buffer | readonly Buffer[], m: MessageMeta, ack?: Frame): void {
    let bytes: number;
    if (Buffer.isBuffer(data)) {
      rx.hash.update(data);
      bytes = data.length;
    } else {
      bytes = 0;
      for (const piece of data) {
        rx.hash.update(piece);
        bytes += piece.length;
      }
    }
    rx.next += bytes;
    if (!rx.writer) {
      this.#sink.fileData(dataInfo(fileId, rx.name, rx.size, offset, data, bytes), m, bytes);
      if (ack) this.#answers.ack(ack);
      return;
    }
    rx.writer.write(data, (err) => {
      // Written or not, these bytes no longer wait for the disk.
      const r = Math.min(rx.reserved, bytes);
      rx.reserved -= r;
      if (this.#o.pendingDisk) this.#o.pendingDisk.bytes -= r;
      if (err) {
        if (this.#files.get(fileId) === rx) this.#ioFailed(ack, m, fileId, rx, err);
        else if (ack) this.#answers.nack(ack, CloseCode.REFUSED, `file ${fileId} ended before this chunk was written`);
        return;
      }
      // A chunk that waited for the disk when the transfer ended lands after its fileEnd: not
      // reported then.
      if (this.#files.get(fileId) === rx) this.#sink.fileData(dataInfo(fileId, rx.name, rx.size, offset, data, bytes), m, bytes);
      if (ack) this.#answers.ack(ack);
    });
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
    // What will not come is let go; what still waits for the disk stays counted until it lands.
    const landing = Math.min(rx.reserved, rx.writer?.pendingBytes ?? 0);
    if (this.#o.pendingDisk) this.#o.pendingDisk.bytes -= rx.reserved - landing;
    rx.reserved = landing;
    const file = rx.path;
    if (file) this.#o.busyFiles.delete(file);
    const closing = this.#o.closingFiles;
    if (file && closing && rx.writer) {
      // Released when the writer closed: at once when idle, else once what it had landed.
      closing.set(file, []);
      rx.writer.close(() => {
        const waiting = closing.get(file) ?? [];
        closing.delete(file);
        for (const start of waiting) start();
      });
    } else rx.writer?.close();
    rx.writer = undefined;
  }

  /** The link ended: unfinished files end with an error. */
  dispose(m: MessageMeta | undefined, err: CamwireError): void {
    this.#disposed = true;
    for (const [id, rx] of [...this.#files]) {
      if (m) this.#endFile(id, rx, m, err);
      else this.#closeFile(id, rx);
    }
  }

  /** Refuses a file START before anything is created: NACK, counted as dropped, one warning. */
  #refuse(f: Frame, code: number, reason: string): void {
    this.#sink.dropped('file', reason);
    this.#o.logger?.warn({ from: f.from, code }, `file refused: ${reason}`);
    this.#answers.nack(f, code, reason);
  }
}
