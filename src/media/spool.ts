/**
 * Spool: a temporary file that holds queued payloads on disk instead of in memory (a server's
 * file buffers, docs/behaviour.md, section 5). Append-only while items wait; emptied when none do.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where a spooled payload sits in the file. */
export interface SpoolToken {
  offset: number;
  length: number;
}

export class Spool {
  readonly #dir: string;
  #fd: number | undefined;
  #file: string | undefined;
  #end = 0;
  #live = 0;

  /** @param dir folder for the spool file. @default os.tmpdir() */
  constructor(dir: string = os.tmpdir()) {
    this.#dir = dir;
  }

  /** Bytes in the spool file now. */
  get size(): number {
    return this.#end;
  }

  /** Writes a payload to disk and returns where it is. */
  store(data: Buffer): SpoolToken {
    if (this.#fd === undefined) {
      this.#file = path.join(this.#dir, `camwire-spool-${process.pid}-${Math.random().toString(36).slice(2)}`);
      this.#fd = fs.openSync(this.#file, 'w+', 0o600);
    }
    const token = { offset: this.#end, length: data.length };
    let done = 0;
    while (done < data.length) done += fs.writeSync(this.#fd, data, done, data.length - done, this.#end + done);
    this.#end += data.length;
    this.#live++;
    return token;
  }

  /** Reads a payload back; once every stored payload was read, the file is emptied. */
  load(t: SpoolToken): Buffer {
    const b = Buffer.allocUnsafe(t.length);
    let done = 0;
    while (done < t.length) {
      const n = fs.readSync(this.#fd!, b, done, t.length - done, t.offset + done);
      if (n === 0) throw new Error('spool file is shorter than expected');
      done += n;
    }
    this.release();
    return b;
  }

  /** Forgets one stored payload without reading it (its item was dropped). */
  release(): void {
    if (--this.#live === 0 && this.#fd !== undefined) {
      fs.ftruncateSync(this.#fd, 0);
      this.#end = 0;
    }
  }

  /** Deletes the file. */
  close(): void {
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    fs.rmSync(this.#file!, { force: true });
    this.#fd = undefined;
    this.#end = 0;
    this.#live = 0;
  }
}
