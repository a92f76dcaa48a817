/**
 * BitReader: most-significant-bit-first reads over a Buffer, as the H.264, VP9 and AV1 headers
 * are written. Reading past the end throws a RangeError (callers treat it as a malformed header).
 */
export class BitReader {
  readonly #b: Buffer;
  #pos = 0;

  constructor(b: Buffer) {
    this.#b = b;
  }

  /** Bits read so far. */
  get position(): number {
    return this.#pos;
  }

  bit(): number {
    const byte = this.#pos >>> 3;
    if (byte >= this.#b.length) throw new RangeError('bit reader: past the end');
    const v = (this.#b[byte] >> (7 - (this.#pos & 7))) & 1;
    this.#pos++;
    return v;
  }

  /** `n` bits (n <= 32) as an unsigned number. */
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    for (let i = 0; i < n; i++) this.bit();
  }

  /** Exp-Golomb ue(v) (H.264 7.2); at most 31 leading zeros. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError('bit reader: exp-Golomb code too long');
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.bits(zeros);
  }

  /** Exp-Golomb se(v). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
