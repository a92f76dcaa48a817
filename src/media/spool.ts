/**
 * Spool: a temporary file that holds queued payloads on disk instead of in memory (a server's
 * file buffers, docs/behaviour.md, section 5).
 *
 * The file is a ring: payloads are written at the tail and, queued in order, read back from the
 * head, so a reader that is always a little behind reuses the same space instead of making the
 * file grow. Its size is bounded twice: by the spool's own `maxBytes`, and by a SpoolBudget that
 * all spools of one server share. A payload that does not fit is refused (`store()` returns
 * undefined): the caller refuses the item, it never keeps it in memory instead.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where a spooled payload sits in the file. */
export interface SpoolToken {
  offset: number;
  length: number;
  /** Read back or released; its space is reused once every earlier token is done too. */
  done?: boolean;
}

/** Disk bytes shared by every spool of one owner (a MediaServer): the sum of their file sizes. */
export class SpoolBudget {
  #used = 0;

  /** @param maxBytes most bytes all spool files together may hold. */
  constructor(readonly maxBytes: number) {}

  /** Bytes the spool files hold now. */
  get used(): number {
    return this.#used;
  }

  /** Takes `n` bytes if they fit; false otherwise. */
  take(n: number): boolean {
    if (this.#used + n > this.maxBytes) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used -= n;
  }
}

/** Options of a Spool. */
export interface SpoolOptions {
  /** Most bytes this spool's file may hold. @default Infinity */
  maxBytes?: number;
  /** Shared with other spools: their files together stay within its `maxBytes`. */
  budget?: SpoolBudget;
}

/** Why the last store() refused its payload. */
export type SpoolRefusal = 'spool' | 'budget';

export class Spool {
  readonly #dir: string;
  readonly #max: number;
  readonly #budget: SpoolBudget | undefined;
  #fd: number | undefined;
  #file: string | undefined;
  /** The file's size: the bytes this spool counts against its budget. */
  #end = 0;
  /** Where the next payload goes. */
  #tail = 0;
  /** True when the tail went back to the start of the file while older payloads wait past it. */
  #wrapped = false;
  /** Stored payloads in the order they were stored; those before `#head` are done. */
  readonly #tokens: SpoolToken[] = [];
  /** The oldest payload not yet done: its offset is where a wrapped-around tail must stop. */
  #head = 0;
  /** Bytes of payloads stored and not yet past the head. */
  #held = 0;
  /** Why the last store() refused, when it did. */
  refusal: SpoolRefusal | undefined;

  /** @param dir folder for the spool file. @default os.tmpdir() */
  constructor(dir: string = os.tmpdir(), o: SpoolOptions = {}) {
    this.#dir = dir;
    this.#max = o.maxBytes ?? Infinity;
    this.#budget = o.budget;
  }

  /** Bytes in the spool file now. */
  get size(): number {
    return this.#end;
  }

  /** Bytes of the payloads waiting in it (at most `size`). */
  get held(): number {
    return this.#held;
  }

  /** The most bytes this spool's file may hold. */
  get maxBytes(): number {
    return this.#max;
  }

  /**
   * Writes a payload (whole, or pieces in order) to disk and returns where it is; undefined when it does not fit (see
   * `refusal`). Throws the system error when the file cannot be written.
   */
  store(data: Buffer | readonly Buffer[]): SpoolToken | undefined {
    const pieces = Buffer.isBuffer(data) ? [data] : data;
    let n = 0;
    for (const piece of pieces) n += piece.length;
    const end = this.#end;
    const wrapped = this.#wrapped;
    const at = this.#place(n);
    if (at === undefined) return undefined;
    this.refusal = undefined;
    try {
      if (this.#fd === undefined) {
        this.#file = path.join(this.#dir, `camwire-spool-${process.pid}-${Math.random().toString(36).slice(2)}`);
        this.#fd = fs.openSync(this.#file, 'w+', 0o600);
      }
      let pos = at;
      for (const piece of pieces) {
        let done = 0;
        while (done < piece.length) done += fs.writeSync(this.#fd, piece, done, piece.length - done, pos + done);
        pos += piece.length;
      }
    } catch (err) {
      // Not stored (disk full, I/O error): the space it was given is free again.
      this.#wrapped = wrapped;
      this.#shrink(end);
      throw err;
    }
    const token: SpoolToken = { offset: at, length: n };
    this.#tail = at + n;
    this.#held += n;
    this.#tokens.push(token);
    return token;
  }

  /** Where a payload of `n` bytes can go, growing the file within both bounds; undefined if nowhere. */
  #place(n: number): number | undefined {
    if (this.#held + n > this.#max) {
      this.refusal = 'spool';
      return undefined;
    }
    const head = this.#head < this.#tokens.length ? this.#tokens[this.#head].offset : this.#tail;
    if (this.#wrapped) {
      // Waiting payloads lie at [head, end) and [0, tail): only the gap between them is free.
      if (this.#tail + n <= head) return this.#tail;
      this.refusal = 'spool';
      return undefined;
    }
    // Waiting payloads lie at [head, tail).
    if (this.#tail + n <= this.#end) return this.#tail;
    const grow = this.#tail + n - this.#end;
    if (this.#tail + n <= this.#max && (!this.#budget || this.#budget.take(grow))) {
      this.#end += grow;
      return this.#tail;
    }
    // The file cannot grow: start again at the beginning, in front of the oldest payload.
    if (n <= head) {
      this.#wrapped = true;
      return 0;
    }
    this.refusal = this.#tail + n > this.#max ? 'spool' : 'budget';
    return undefined;
  }

  /** Reads a payload back; its space is reused once every payload stored before it was read too. */
  load(t: SpoolToken): Buffer {
    const b = Buffer.allocUnsafe(t.length);
    let done = 0;
    while (done < t.length) {
      const n = fs.readSync(this.#fd!, b, done, t.length - done, t.offset + done);
      if (n === 0) throw new Error('spool file is shorter than expected');
      done += n;
    }
    this.release(t);
    return b;
  }

  /** Forgets a stored payload without reading it (its item was dropped). */
  release(t: SpoolToken): void {
    if (t.done) return;
    t.done = true;
    let prev: SpoolToken | undefined;
    while (this.#head < this.#tokens.length && this.#tokens[this.#head].done) {
      prev = this.#tokens[this.#head++];
      this.#held -= prev.length;
    }
    if (!prev) return;
    if (this.#head === this.#tokens.length) {
      // Nothing waits: empty the file.
      this.#tokens.length = 0;
      this.#head = 0;
      this.#tail = 0;
      this.#wrapped = false;
      this.#shrink(0);
      return;
    }
    if (this.#head > 64 && this.#head * 2 > this.#tokens.length) {
      this.#tokens.splice(0, this.#head);
      this.#head = 0;
    }
    // The head passed the end of the file and went on at its start: the ring is straight again,
    // and what lies past the tail is free.
    if (this.#wrapped && this.#tokens[this.#head].offset < prev.offset) {
      this.#wrapped = false;
      this.#shrink(this.#tail);
    }
  }

  #shrink(to: number): void {
    if (to >= this.#end) return;
    if (this.#fd !== undefined) fs.ftruncateSync(this.#fd, to);
    this.#budget?.give(this.#end - to);
    this.#end = to;
  }

  /** Deletes the file. */
  close(): void {
    this.#tokens.length = 0;
    this.#head = 0;
    this.#tail = 0;
    this.#held = 0;
    this.#wrapped = false;
    this.#budget?.give(this.#end);
    this.#end = 0;
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    fs.rmSync(this.#file!, { force: true });
    this.#fd = undefined;
  }
}
