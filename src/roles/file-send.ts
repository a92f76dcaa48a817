/**
 * File sending for a Sender: reads a file in chunks from an offset (or the receiver's resume
 * offset), keeps a window of chunks in flight, hashes what it sends (SHA-256) and reports
 * acknowledged progress; one transfer per receiver (docs/protocol.md, file messages).
 */
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { DeliveryError, ErrorCode } from '../errors.js';
import { MAX_U48 } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import { encodeFileMessage } from '../protocol/messages.js';
import { FileWindow } from './file-window.js';
import type { AckInfo } from '../media/outbox.js';
import type { FileProgress, FileSendOptions, FileSendResult, SendOptions } from './sender-options.js';

/** Something reliable items can be handed to: a push lane or a served channel. */
export interface ReliableTarget {
  submit(init: FrameInit): Promise<AckInfo>;
  /** Bytes of file chunks the peer takes unacknowledged per transfer, when its WELCOME said (protocol.md 3.2). */
  fileWindow?(): number | undefined;
  /** Bytes the target's queue takes before it refuses an item (shared by the transfers on it). */
  room?(): number;
}

/** What a file transfer needs from its Sender. */
export interface FileSendContext {
  /** The next file id (one per transfer to one receiver). */
  nextFileId(): number;
  /** Bytes per chunk. */
  chunkSize: number;
  /**
   * Chunks in flight (sent, not yet acknowledged) per transfer: all of them when `adaptive` is
   * false, else the floor of a window sized to the path (FileWindow).
   */
  window: number;
  /** The window grows with the path up to what the peer announced (reliable transports; not UDP). */
  adaptive: boolean;
  /** Most bytes one transfer keeps in flight (the sender's file queue). */
  maxWindow: number;
  /** The receivers: a push lane, or the pull channels open now (or the first to open). */
  targets(): Promise<ReliableTarget[]>;
  /** A file message's frame addressed per `o`. */
  init(payload: Buffer, o: SendOptions): FrameInit;
  /** Counts a chunk in the sender's stats. */
  count(init: FrameInit): void;
  /** Emits fileProgress. */
  progress(p: FileProgress): void;
}

/**
 * Sends a file in chunks from `offset` (or from where the receiver says it has the bytes up to).
 * Each chunk is acknowledged; the receiver checks the SHA-256 at the end. Resolves with one
 * result per receiver.
 */
export async function sendFile(ctx: FileSendContext, filePath: string, o: FileSendOptions): Promise<FileSendResult[]> {
  const fh = await fsp.open(filePath, 'r');
  try {
    const size = (await fh.stat()).size;
    const offset = o.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0 || offset > size) throw new RangeError(`offset ${offset} is outside 0..${size}`);
    if (size > MAX_U48) throw new RangeError('file too large');
    const name = o.name ?? path.basename(filePath);
    const targets = await ctx.targets();
    return await Promise.all(targets.map((t) => sendFileTo(ctx, t, fh, name, size, offset, o)));
  } finally {
    await fh.close();
  }
}

async function sendFileTo(
  ctx: FileSendContext,
  t: ReliableTarget,
  fh: fsp.FileHandle,
  name: string,
  size: number,
  offset: number,
  o: SendOptions,
): Promise<FileSendResult> {
  const fileId = ctx.nextFileId();
  const frame = (parts: [Buffer, Buffer?]): FrameInit => {
    const init = ctx.init(parts[1] ?? parts[0], o);
    if (parts[1]) init.prefix = parts[0];
    return init;
  };
  const inflight: Array<{ done: Promise<void> }> = [];
  try {
    const ack = await t.submit(frame(encodeFileMessage({ op: 'start', fileId, name, totalSize: size, offset })));
    const start = ack.resumeOffset ?? offset;
    if (start < 0 || start > size) throw new DeliveryError(ErrorCode.DELIVERY_REFUSED, `receiver asked to resume at ${start}, outside 0..${size}`, 0);
    // The peer's WELCOME came before the START's answer: its window is known by now. A peer that
    // announces none gets the fixed window of earlier versions (reliableWindow chunks).
    const floor = ctx.window * ctx.chunkSize;
    const announced = ctx.adaptive ? t.fileWindow?.() : undefined;
    const win = new FileWindow(floor, announced === undefined ? floor : Math.min(announced, ctx.maxWindow));
    // A fixed window (UDP, a peer that announces none, a given reliableWindow) counts the chunks
    // since the oldest one not yet acknowledged, as earlier versions did: under loss a chunk being
    // retransmitted holds the window back, and the sender backs off. Counting only the chunks not
    // yet acknowledged kept reliableWindow of them on a lossy UDP path, and the retransmissions
    // piled up until a chunk missed its deadline (stress suite, lossy UDP through the server).
    const fixed = announced === undefined;
    let inflightBytes = 0;
    const hash = createHash('sha256');
    const progress: FileProgress = { fileId, name, size, offset: start, acked: 0, window: win.limit };
    ctx.progress({ ...progress });
    // The file is read a block (several chunks) ahead while the current block is hashed and
    // handed over, so the disk and the link work at the same time (docs/architecture.md, A file).
    // A block is one read on the thread pool for several chunks: each read costs the event loop a
    // hand-over to a pool thread, which on a busy machine cost as much as hashing the bytes. Blocks
    // come from a pool that the ACKs of all their chunks give back: a fresh buffer per read costs
    // a page fault per page and a garbage collection every few reads.
    const chunk = ctx.chunkSize;
    const pool = new BlockPool(Math.max(1, Math.min(Math.floor(READ_BLOCK / chunk), ctx.window)) * chunk);
    const read = async (at: number): Promise<Buffer> => {
      const n = Math.min(pool.blockSize, size - at);
      const buf = pool.take(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, at + got);
        if (bytesRead === 0) throw new RangeError(`file shrank while sending: ${name}`);
        got += bytesRead;
      }
      return buf;
    };
    let pos = start;
    let ahead = pos < size ? read(pos) : undefined;
    while (ahead) {
      const block = await ahead;
      ahead = pos + block.length < size ? read(pos + block.length) : undefined;
      ahead?.catch(() => {});
      // The block is out until its chunks are acknowledged and it is hashed.
      let out = Math.ceil(block.length / chunk) + 1;
      const release = (): void => {
        if (--out === 0) pool.give(block);
      };
      for (let at = 0; at < block.length; at += chunk) {
        const data = block.subarray(at, Math.min(at + chunk, block.length));
        const n = data.length;
        // Room for this chunk: within the window, and within what the queue still takes (other
        // transfers may share it); the oldest chunk's answer makes room.
        while (inflight.length && ((fixed ? inflight.length >= ctx.window : inflightBytes + n > win.limit) || (t.room !== undefined && t.room() < n + CHUNK_FRAME_MARGIN))) await inflight.shift()!.done;
        const init = frame(encodeFileMessage({ op: 'chunk', fileId, offset: pos, data }) as [Buffer, Buffer]);
        ctx.count(init);
        const done = t.submit(init).then(() => {
          // Acknowledged: the receiver has these bytes, no link still needs them. A block goes
          // back once all its chunks are (one that failed is never reused: a link may hold it).
          release();
          inflightBytes -= n;
          win.acked(n, performance.now());
          progress.acked += n;
          progress.window = win.limit;
          ctx.progress({ ...progress });
        });
        done.catch(() => {});
        inflight.push({ done });
        inflightBytes += n;
        pos += n;
      }
      // Hashed once its chunks are on their way (the link writes them at the end of this turn):
      // the hash is off the path from the disk to the socket. setImmediate keeps the order.
      setImmediate(() => {
        hash.update(block);
        release();
      });
    }
    for (const c of inflight.splice(0)) await c.done;
    // Every block's hash ran: they are queued in order, before this one.
    await new Promise<void>((r) => setImmediate(r));
    const sha256 = hash.digest();
    await t.submit(frame(encodeFileMessage({ op: 'end', fileId, totalSize: size, sha256 })));
    return { name, size, offset: start, bytesSent: size - start, sha256: sha256.toString('hex') };
  } catch (err) {
    // Readers that took the START (some may have) must not keep the transfer open.
    t.submit(frame(encodeFileMessage({ op: 'abort', fileId, reason: (err as Error).message }))).catch(() => {});
    throw err;
  }
}

/** Bytes a chunk's frame takes in a queue beyond its data: headers and ids (36 + 3 x 64 + 11, rounded up). */
const CHUNK_FRAME_MARGIN = 256;

/** Bytes read at a time (rounded down to whole chunks, at most the starting window). */
const READ_BLOCK = 1024 * 1024;

/**
 * The read blocks of one transfer: at most the window plus a block being read ahead and the
 * blocks some of whose chunks are still unacknowledged are out at a time, so the pool holds at
 * most the largest window plus two blocks.
 */
class BlockPool {
  readonly #free: ArrayBuffer[] = [];
  constructor(readonly blockSize: number) {}

  /** A buffer of `n` bytes (at most blockSize), reused when one was given back. */
  take(n: number): Buffer {
    const mem = this.#free.pop() ?? new ArrayBuffer(this.blockSize);
    return Buffer.from(mem, 0, n);
  }

  /** `buf` (from take()) is not used any more. */
  give(buf: Buffer): void {
    this.#free.push(buf.buffer as ArrayBuffer);
  }
}
