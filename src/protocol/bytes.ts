/**
 * Big-endian fields of the wire headers as plain functions over byte indexes, for the code that
 * runs once per frame (header encode and decode, fragment headers, the fan-out's patched header).
 *
 * Why not Buffer's own methods: in Node 20, V8's optimizing compiler does not inline a method
 * loaded from a Buffer (`buf.readUInt32BE`, `buf.writeDoubleBE`, `buf.set`, `buf.subarray`...).
 * Every such load in optimized code calls the generic load IC, and then the method, which checks
 * its arguments again. Indexed byte access compiles to plain loads and stores, and these small
 * functions inline where they are called (docs/architecture.md, "Per-frame code").
 *
 * No bounds checks: the callers have checked the length of what they read or write (a parser
 * reads a header only once all its bytes are there). An index past the end reads as 0 and a
 * store past the end is ignored, as for any typed array; the tests feed every header at every
 * boundary (test/unit/bytes.test.ts, and the parsers' tests).
 */

/** The unsigned 16-bit big-endian integer at `b[at..at + 2]`. */
export function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

/** The unsigned 32-bit big-endian integer at `b[at..at + 4]`. */
export function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/** The signed 32-bit big-endian integer at `b[at..at + 4]`. */
export function i32(b: Uint8Array, at: number): number {
  return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}

/** Writes `v` (0..65535) as 16 bits big-endian at `b[at..at + 2]`. */
export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}

/** Writes `v` (0..2^32 - 1) as 32 bits big-endian at `b[at..at + 4]`. */
export function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

// One double's bytes, to move an IEEE 754 value in or out of a buffer. Used and left within one
// synchronous call, so sharing it holds no state between calls.
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
/** Index in f64Bytes of the most significant byte (7 on a little-endian machine). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 7 : 0;

/** The big-endian IEEE 754 double at `b[at..at + 8]`. */
export function getF64(b: Uint8Array, at: number): number {
  if (HI === 7) {
    f64Bytes[7] = b[at];
    f64Bytes[6] = b[at + 1];
    f64Bytes[5] = b[at + 2];
    f64Bytes[4] = b[at + 3];
    f64Bytes[3] = b[at + 4];
    f64Bytes[2] = b[at + 5];
    f64Bytes[1] = b[at + 6];
    f64Bytes[0] = b[at + 7];
  } else {
    for (let i = 0; i < 8; i++) f64Bytes[i] = b[at + i];
  }
  return f64[0];
}

/** Writes `v` as a big-endian IEEE 754 double at `b[at..at + 8]`. */
export function putF64(b: Uint8Array, at: number, v: number): void {
  f64[0] = v;
  if (HI === 7) {
    b[at] = f64Bytes[7];
    b[at + 1] = f64Bytes[6];
    b[at + 2] = f64Bytes[5];
    b[at + 3] = f64Bytes[4];
    b[at + 4] = f64Bytes[3];
    b[at + 5] = f64Bytes[2];
    b[at + 6] = f64Bytes[1];
    b[at + 7] = f64Bytes[0];
  } else {
    for (let i = 0; i < 8; i++) b[at + i] = f64Bytes[i];
  }
}

const typedSet = Uint8Array.prototype.set;
const bufferSubarray = Buffer.prototype.subarray;

/** `b.set(src, at)`, without loading the method from the Buffer (see above). */
export function setAt(b: Uint8Array, src: Uint8Array, at: number): void {
  typedSet.call(b, src, at);
}

/** `b.subarray(start, end)` as a Buffer over the same memory, without loading the method from it. */
export function view(b: Buffer, start: number, end?: number): Buffer {
  return bufferSubarray.call(b, start, end);
}
