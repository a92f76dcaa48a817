/**
 * The per-frame byte helpers (src/protocol/bytes.ts) against Buffer's own methods, which they
 * replace on the hot paths: the same values at every offset of a buffer, and the same bytes
 * written, including the edge values (sign bit, NaN, infinities, -0, subnormals).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getF64, i32, put16, put32, putF64, setAt, u16, u32, view } from '../../src/protocol/bytes.js';
import { fcParams } from '../helpers/protocol-fixtures.js';

const EDGE_DOUBLES = [0, -0, 1, -1, NaN, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, 2 ** 53, 1.5e12, 1764643200123.5];
const EDGE_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

describe('bytes: reads', () => {
  test('u16, u32, i32 and getF64 read what Buffer reads, at every offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 40 }), (bytes) => {
        const b = Buffer.from(bytes);
        for (let at = 0; at + 8 <= b.length; at++) {
          assert.equal(u16(b, at), b.readUInt16BE(at));
          assert.equal(u32(b, at), b.readUInt32BE(at));
          assert.equal(i32(b, at), b.readInt32BE(at));
          assert.ok(Object.is(getF64(b, at), b.readDoubleBE(at)), `double at ${at}`);
        }
      }),
      fcParams(300),
    );
  });

  test('a view of a larger buffer reads from its own offset, not the memory before it', () => {
    const whole = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]);
    const v = whole.subarray(4);
    assert.equal(u16(v, 0), 0x0102);
    assert.equal(u32(v, 0), 0x01020304);
    assert.ok(Object.is(getF64(v, 0), v.readDoubleBE(0)));
  });
});

describe('bytes: writes', () => {
  test('put16, put32 and putF64 write the bytes Buffer writes, and nothing around them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.double(), fc.integer({ min: 0, max: 16 }), (a, b, d, at) => {
        const mine = Buffer.alloc(32, 0xaa);
        const theirs = Buffer.alloc(32, 0xaa);
        put16(mine, at, a);
        theirs.writeUInt16BE(a, at);
        assert.deepEqual(mine, theirs);
        put32(mine, at + 2, b);
        theirs.writeUInt32BE(b, at + 2);
        assert.deepEqual(mine, theirs);
        putF64(mine, at + 6, d);
        theirs.writeDoubleBE(d, at + 6);
        assert.deepEqual(mine, theirs);
      }),
      fcParams(300),
    );
  });

  test('edge values round-trip', () => {
    const b = Buffer.alloc(8);
    for (const v of EDGE_U32) {
      put32(b, 0, v);
      assert.equal(u32(b, 0), v);
      assert.equal(b.readUInt32BE(0), v);
      assert.equal(i32(b, 0), v | 0);
      put16(b, 4, v & 0xffff);
      assert.equal(u16(b, 4), v & 0xffff);
    }
    for (const v of EDGE_DOUBLES) {
      putF64(b, 0, v);
      assert.ok(Object.is(getF64(b, 0), v), `${v}`);
      assert.ok(Object.is(b.readDoubleBE(0), v), `${v} as Buffer reads it`);
    }
  });

  test('setAt copies as set() does, overlapping ranges included; view() is a Buffer over the same memory', () => {
    const b = Buffer.from('0123456789');
    setAt(b, Buffer.from('ab'), 3);
    assert.equal(b.toString(), '012ab56789');
    setAt(b, b.subarray(0, 5), 2);
    assert.equal(b.toString(), '01012ab789');
    assert.throws(() => setAt(b, Buffer.alloc(4), 8), RangeError);
    const v = view(b, 2, 5);
    assert.ok(Buffer.isBuffer(v));
    assert.equal(v.toString(), '012');
    v[0] = 0x78;
    assert.equal(b[2], 0x78);
    assert.equal(view(b, 7).toString(), '789');
  });
});
