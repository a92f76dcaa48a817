/**
 * FileWriter: writes a received file's chunks in order off the event loop (docs/architecture.md,
 * A file). Chunks queue while one write is on the thread pool; the next write takes everything
 * queued as one writev. One write at a time keeps the file a contiguous prefix of the transfer,
 * so its size is always a safe resume offset, and a chunk is acknowledged only once it is written
 * (docs/behaviour.md, files).
 */
import fs from 'node:fs';

/** Called once per chunk: with no error once it is written, or with the error that stopped it. */
export type Written = (err?: Error) => void;

/** Bytes queued behind the write in flight before the transfer is failed (an honest sender keeps its window far below). */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * What a Receiver's WELCOME announces as its file window (docs/protocol.md, 3.2): half of what
 * the writer queues before it fails a transfer, so a sender that honours it never gets near that.
 */
export const RECEIVER_FILE_WINDOW = MAX_QUEUED_BYTES / 2;

export class FileWriter {
  readonly #fd: number;
  #position: number;
  #queue: Array<{ data: Buffer | readonly Buffer[]; bytes: number; done: Written }> = [];
  #queued = 0;
  #busy = false;
  #closed = false;
  #failed: Error | undefined;
  #idle: Array<() => void> = [];
  #onClosed: (() => void) | undefined;

  /** @param position where the first chunk goes (the transfer's start offset) */
  constructor(fd: number, position: number) {
    this.#fd = fd;
    this.#position = position;
  }

  /** Nothing queued or being written. */
  get idle(): boolean {
    return !this.#busy && this.#queue.length === 0;
  }

  /** Bytes handed to write() and not yet written (queued, or in the write in flight). */
  get pendingBytes(): number {
    return this.#queued;
  }

  /** Why writing stopped, once it did. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /**
   * Queues `data` for the next position: one Buffer, or pieces written in order (a chunk as the
   * views of the reads it arrived in, never joined); `done` hears when it is written (or why not).
   */
  write(data: Buffer | readonly Buffer[], done: Written): void {
    if (this.#closed || this.#failed) {
      done(this.#failed ?? new Error('the file is closed'));
      return;
    }
    const bytes = Buffer.isBuffer(data) ? data.length : data.reduce((n, b) => n + b.length, 0);
    if (this.#queued + bytes > MAX_QUEUED_BYTES) {
      this.#fail(new Error(`more than ${MAX_QUEUED_BYTES} bytes of chunks wait for the disk; the sender's window (reliableWindow x fileChunkSize) is larger than this disk can take`));
      done(this.#failed);
      return;
    }
    this.#queue.push({ data, bytes, done });
    this.#queued += bytes;
    this.#next();
  }

  /** Calls `fn` once nothing is queued or being written (at once when idle). */
  whenIdle(fn: () => void): void {
    if (this.idle) fn();
    else this.#idle.push(fn);
  }

  /**
   * Closes the file: at once when idle, else once the chunks already queued are written (they
   * arrived in order and were hashed, so the file stays a contiguous prefix and a resume need not
   * send them again; at most MAX_QUEUED_BYTES). The descriptor is never closed under a write. A
   * write after close hears an error. `closed` hears when the descriptor is closed.
   */
  close(closed?: () => void): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClosed = closed;
    if (this.#busy) return;
    fs.closeSync(this.#fd);
    closed?.();
  }

  /** The last write after close landed: closes the descriptor off the event loop, then tells. */
  #release(): void {
    const closed = this.#onClosed;
    for (const fn of this.#idle.splice(0)) fn();
    fs.close(this.#fd, () => closed?.());
  }

  #next(): void {
    if (this.#busy || this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    this.#busy = true;
    const bufs: Buffer[] = [];
    for (const b of batch) {
      if (Buffer.isBuffer(b.data)) bufs.push(b.data);
      else for (const piece of b.data) bufs.push(piece);
    }
    this.#writev(bufs, (err) => {
      this.#busy = false;
      for (const b of batch) this.#queued -= b.bytes;
      if (err) {
        this.#fail(err);
        for (const b of batch) b.done(err);
        if (this.#closed) this.#release();
        return;
      }
      for (const b of batch) b.done();
      if (this.#queue.length) this.#next();
      else if (this.#closed) this.#release();
      else for (const fn of this.#idle.splice(0)) fn();
    });
  }

  /** One writev of `bufs` at the current position, continued after a short write. */
  #writev(bufs: Buffer[], cb: (err: Error | null) => void): void {
    fs.writev(this.#fd, bufs, this.#position, (err, n) => {
      if (err) return cb(err);
      this.#position += n;
      let rest = n;
      while (bufs.length && rest >= bufs[0].length) rest -= bufs.shift()!.length;
      if (bufs.length === 0) return cb(null);
      bufs[0] = bufs[0].subarray(rest);
      this.#writev(bufs, cb);
    });
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    this.#drop(err);
  }

  #drop(err: Error): void {
    const q = this.#queue;
    this.#queue = [];
    this.#queued -= q.reduce((a, b) => a + b.bytes, 0);
    for (const b of q) b.done(err);
    for (const fn of this.#idle.splice(0)) fn();
  }
}
