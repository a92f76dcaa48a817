/**
 * PendingInput: the bytes a parser of length-prefixed units (FLV tags, IVF frames) holds between
 * reads. Chunks are kept as they came and joined only once a unit is complete, so a unit that
 * arrives in many reads is copied once, not once per read; the bytes of a unit too large to keep
 * are thrown away as they arrive, never held.
 */
const EMPTY = Buffer.alloc(0);

export class PendingInput {
  #parts: Buffer[] = [];
  #length = 0;
  /** Bytes of a dropped unit still to come, thrown away as they arrive. */
  #skip = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Takes a read (less what remains of a dropped unit). */
  add(chunk: Buffer): void {
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, chunk.length);
      this.#skip -= n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length === 0) return;
    this.#parts.push(chunk);
    this.#length += chunk.length;
  }

  /** The first `n` held bytes in one Buffer (it may hold more after them), or undefined while fewer have come. */
  peek(n: number): Buffer | undefined {
    if (this.#length < n) return undefined;
    if (n === 0) return this.#parts[0] ?? EMPTY;
    if (this.#parts[0].length < n) this.#parts = [Buffer.concat(this.#parts, this.#length)];
    return this.#parts[0];
  }

  /** Forgets the first `n` held bytes (n <= length). */
  consume(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const p = this.#parts[0];
      if (p.length <= n) {
        n -= p.length;
        this.#parts.shift();
      } else {
        this.#parts[0] = p.subarray(n);
        n = 0;
      }
    }
  }

  /** Drops a unit of `total` bytes from the front: the part held now, and the rest as it arrives. */
  dropUnit(total: number): void {
    const here = Math.min(this.#length, total);
    this.consume(here);
    this.#skip = total - here;
  }
}
