/**
 * Shared building blocks of the payload codecs: the bounds-checked Reader, the BAD_PAYLOAD
 * error, and the small string and range helpers the encoders use.
 */
import { CloseCode, ErrorCode, ProtocolError } from '../errors.js';
import { MAX_U48 } from './constants.js';

/** A ProtocolError with code CW_ERR_PROTOCOL_BAD_PAYLOAD. */
export function bad(message: string): ProtocolError {
  return new ProtocolError(ErrorCode.PROTOCOL_BAD_PAYLOAD, message, CloseCode.BAD_PAYLOAD);
}

/** A bounds-checked cursor over a payload. */
export class Reader {
  o = 0;
  constructor(readonly b: Buffer, readonly what: string) {}
  need(n: number): void {
    if (this.o + n > this.b.length) throw bad(`${this.what}: truncated at byte ${this.o} (need ${n} more)`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.o++];
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.o);
    this.o += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }
  u48(): number {
    this.need(6);
    const v = this.b.readUIntBE(this.o, 6);
    this.o += 6;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.b.readDoubleBE(this.o);
    this.o += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.b.readBigInt64BE(this.o);
    this.o += 8;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
  str(n: number): string {
    if (n === 0) return '';
    return this.bytes(n).toString('utf8');
  }
  rest(): Buffer {
    const v = this.b.subarray(this.o);
    this.o = this.b.length;
    return v;
  }
  end(): void {
    if (this.o !== this.b.length) throw bad(`${this.what}: ${this.b.length - this.o} unexpected trailing bytes`);
  }
}

/** Wire code of a known name in a code table (own keys only), or undefined. */
export function codeOf(table: Record<string, number>, name: string): number | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** A named codec: 1..255 UTF-8 bytes. */
export function codecName(name: string, what: string): Buffer {
  if (typeof name !== 'string' || name === '') throw new RangeError(`${what} must not be empty`);
  return shortStr(name, what);
}

/** The UTF-8 bytes of `s`, refusing more than `max` bytes. */
export function shortStr(s: string, what: string, max = 255): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > max) throw new RangeError(`${what} is ${b.length} bytes, the limit is ${max}`);
  return b;
}

/** The UTF-8 bytes of `s`, cut to at most `max` bytes without splitting a character. */
export function utf8Prefix(s: string, max: number): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return b;
  let n = max;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
  return b.subarray(0, n);
}
/** Throws a RangeError unless `v` is an integer in 0..2^48-1. */
export function checkU48(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U48) throw new RangeError(`${what} out of range: ${v}`);
}
