/**
 * UDP fragmentation and reassembly (src/protocol/fragment.ts): round trips at the size edges,
 * any arrival order, duplicates, loss and expiry, the memory bound, corrupt fragments, sources.
 * The clock is an argument, so everything here is deterministic.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CloseCode, ErrorCode } from '../../src/errors.js';
import { DATAGRAM_HEADER_SIZE, Kind, MediaType } from '../../src/protocol/constants.js';
import { decodeFrame, encodeFrameBuffer } from '../../src/protocol/frame.js';
import { DEFAULT_DATAGRAM_SIZE, fragmentFrame, parseFragmentHeader, Reassembler } from '../../src/protocol/fragment.js';
import { assertBuffers, assertFrames, assertProtocolError, fcParams, frameOf, hex, pattern } from '../helpers/protocol-fixtures.js';

const ROOM = DEFAULT_DATAGRAM_SIZE - DATAGRAM_HEADER_SIZE;
const T0 = 1_000_000;
const TIMEOUT = 2000;

/** Fields of a hand-made datagram; the defaults make a valid single-fragment datagram. */
interface DatagramFields {
  magic?: number;
  version?: number;
  reserved?: number;
  frameId?: number;
  index?: number;
  count?: number;
  frameLength?: number;
  offset?: number;
  payload?: Buffer;
}

function datagram(f: DatagramFields): Buffer {
  const payload = f.payload ?? Buffer.from('abcd');
  const d = Buffer.alloc(DATAGRAM_HEADER_SIZE + payload.length);
  d.writeUInt16BE(f.magic ?? 0x4355, 0);
  d[2] = f.version ?? 1;
  d[3] = f.reserved ?? 0;
  d.writeUInt32BE(f.frameId ?? 1, 4);
  d.writeUInt16BE(f.index ?? 0, 8);
  d.writeUInt16BE(f.count ?? 1, 10);
  d.writeUInt32BE(f.frameLength ?? payload.length, 12);
  d.writeUInt32BE(f.offset ?? 0, 16);
  payload.copy(d, DATAGRAM_HEADER_SIZE);
  return d;
}

/** Pushes datagrams in the given order; returns every frame delivered. */
function pushAll(r: Reassembler, source: string, datagrams: readonly Buffer[], now: number | (() => number) = T0): Buffer[] {
  const out: Buffer[] = [];
  for (const d of datagrams) {
    const f = r.push(source, d, now);
    if (f) out.push(f);
  }
  return out;
}

const SIZES: [string, number][] = [
  ['1 byte', 1],
  ["exactly one datagram's room", ROOM],
  ['room + 1', ROOM + 1],
  ['70 KB', 70 * 1024],
  ['4 MiB', 4 * 1024 * 1024],
];

describe('fragmentFrame', () => {
  test('encodes the fragment header (hand-written hex)', () => {
    const [d] = fragmentFrame(Buffer.from('hello'), 0x01020304);
    const expected = hex(`
      43 55         # 0  magic "CU"
      01            # 2  version 1
      00            # 3  reserved
      01 02 03 04   # 4  frame id
      00 00         # 8  fragment index 0
      00 01         # 10 fragment count 1
      00 00 00 05   # 12 frame length 5
      00 00 00 00   # 16 offset 0
      68 65 6c 6c 6f  # 20 "hello"
    `);
    assert.equal(d.toString('hex'), expected.toString('hex'));
  });

  for (const [name, size] of SIZES) {
    test(`${name}: datagrams fit the size, cover the frame in order, and carry consistent headers`, () => {
      const frame = pattern(size, size);
      const ds = fragmentFrame(frame, 77);
      assert.equal(ds.length, Math.max(1, Math.ceil(size / ROOM)));
      let offset = 0;
      ds.forEach((d, i) => {
        assert.ok(d.length <= DEFAULT_DATAGRAM_SIZE);
        const h = parseFragmentHeader(d, size);
        assert.deepEqual(h, { frameId: 77, index: i, count: ds.length, frameLength: size, offset });
        offset += d.length - DATAGRAM_HEADER_SIZE;
      });
      assert.equal(offset, size);
    });
  }

  test('one datagram\'s room gives one datagram of exactly the datagram size; room + 1 gives two', () => {
    const one = fragmentFrame(pattern(ROOM), 1);
    assert.equal(one.length, 1);
    assert.equal(one[0].length, DEFAULT_DATAGRAM_SIZE);
    const two = fragmentFrame(pattern(ROOM + 1), 1);
    assert.deepEqual(two.map((d) => d.length), [DEFAULT_DATAGRAM_SIZE, DATAGRAM_HEADER_SIZE + 1]);
  });

  test('frame ids are written modulo 2^32', () => {
    assert.equal(parseFragmentHeader(fragmentFrame(pattern(4), -1)[0], 100).frameId, 0xffffffff);
    assert.equal(parseFragmentHeader(fragmentFrame(pattern(4), 2 ** 32 + 3)[0], 100).frameId, 3);
  });

  test('a datagram size with room under 64 bytes is a RangeError', () => {
    assert.throws(() => fragmentFrame(pattern(10), 1, DATAGRAM_HEADER_SIZE + 63), RangeError);
    assert.equal(fragmentFrame(pattern(10), 1, DATAGRAM_HEADER_SIZE + 64).length, 1);
  });

  test('a frame needing more than 65535 datagrams is a RangeError', () => {
    const size = DATAGRAM_HEADER_SIZE + 64;
    assert.equal(fragmentFrame(Buffer.alloc(64 * 65535), 1, size).length, 65535);
    assert.throws(() => fragmentFrame(Buffer.alloc(64 * 65535 + 1), 1, size), RangeError);
  });
});

describe('Reassembler - round trips', () => {
  for (const [name, size] of SIZES) {
    test(`${name}: in order`, () => {
      const frame = pattern(size, size + 1);
      const r = new Reassembler();
      assertBuffers(pushAll(r, 'a', fragmentFrame(frame, 5)), [frame]);
      assert.equal(r.stats.completed, 1);
      assert.equal(r.bytes, 0);
      assert.equal(r.pendingCount, 0);
    });

    test(`${name}: in reverse order`, () => {
      const frame = pattern(size, size + 2);
      const r = new Reassembler();
      const ds = fragmentFrame(frame, 6).reverse();
      const out = pushAll(r, 'a', ds);
      assertBuffers(out, [frame]);
      assert.equal(r.bytes, 0);
    });
  }

  test('a real frame survives fragmentation and decodes', () => {
    const init = { kind: Kind.DATA, mediaType: MediaType.video, from: 'cam', seq: 3, payload: pattern(100_000) } as const;
    const r = new Reassembler();
    const [whole] = pushAll(r, '127.0.0.1:5000', fragmentFrame(encodeFrameBuffer(init), 1));
    assertFrames([decodeFrame(whole)], [frameOf(init)]);
  });

  test('a small datagram size works too', () => {
    const frame = pattern(5000, 3);
    const r = new Reassembler();
    assertBuffers(pushAll(r, 'a', fragmentFrame(frame, 1, 84).reverse()), [frame]);
  });

  test('any arrival order (fast-check shuffle), 70 KB and room + 1', () => {
    for (const size of [ROOM + 1, 70 * 1024]) {
      const frame = pattern(size, 9);
      const ds = fragmentFrame(frame, 12);
      fc.assert(
        fc.property(fc.shuffledSubarray(ds, { minLength: ds.length, maxLength: ds.length }), (order) => {
          const r = new Reassembler();
          const out: Buffer[] = [];
          order.forEach((d, i) => {
            const f = r.push('src', d, T0);
            if (i < order.length - 1) assert.equal(f, undefined);
            if (f) out.push(f);
          });
          assertBuffers(out, [frame]);
          assert.equal(r.bytes, 0);
        }),
        fcParams(100),
      );
    }
  });

  test('4 MiB in shuffled order', () => {
    const frame = pattern(4 * 1024 * 1024, 10);
    const ds = fragmentFrame(frame, 13);
    fc.assert(
      fc.property(fc.shuffledSubarray(ds, { minLength: ds.length, maxLength: ds.length }), (order) => {
        assertBuffers(pushAll(new Reassembler(), 'src', order), [frame]);
      }),
      fcParams(5),
    );
  });

  test('interleaved frames of one source with different ids', () => {
    const f1 = pattern(5000, 1);
    const f2 = pattern(7000, 2);
    const d1 = fragmentFrame(f1, 1);
    const d2 = fragmentFrame(f2, 2);
    const mixed: Buffer[] = [];
    for (let i = 0; i < Math.max(d1.length, d2.length); i++) {
      if (d2[i]) mixed.push(d2[i]);
      if (d1[i]) mixed.push(d1[i]);
    }
    const out = pushAll(new Reassembler(), 'a', mixed);
    assertBuffers(out, [f1, f2]);
  });
});

describe('Reassembler - duplicates and loss', () => {
  test('duplicates are counted and the frame is delivered once', () => {
    const frame = pattern(10_000, 4);
    const ds = fragmentFrame(frame, 1);
    const r = new Reassembler();
    const doubled = ds.slice(0, -1).flatMap((d) => [d, d]).concat(ds.slice(-1));
    assertBuffers(pushAll(r, 'a', doubled), [frame]);
    assert.equal(r.stats.duplicates, ds.length - 1);
    assert.equal(r.stats.completed, 1);
  });

  test('a missing fragment: no delivery, then expire(now + timeout) drops it', () => {
    const frame = pattern(10_000, 5);
    const ds = fragmentFrame(frame, 1);
    const r = new Reassembler({ timeoutMs: TIMEOUT });
    const without = ds.filter((_, i) => i !== 3);
    assertBuffers(pushAll(r, 'a', without, T0), []);
    assert.equal(r.pendingCount, 1);
    assert.equal(r.bytes, frame.length);
    assert.equal(r.expire(T0 + TIMEOUT - 1), 0);
    assert.equal(r.stats.incomplete, 0);
    assert.equal(r.expire(T0 + TIMEOUT), 1);
    assert.equal(r.stats.incomplete, 1);
    assert.equal(r.bytes, 0);
    assert.equal(r.pendingCount, 0);
    assert.equal(r.stats.completed, 0);
  });

  test('the missing fragment arriving after the expiry does not resurrect the frame', () => {
    const ds = fragmentFrame(pattern(5000, 6), 1);
    const r = new Reassembler({ timeoutMs: TIMEOUT });
    pushAll(r, 'a', ds.slice(1), T0);
    r.expire(T0 + TIMEOUT);
    assert.equal(r.push('a', ds[0], T0 + TIMEOUT + 1), undefined);
    assert.equal(r.stats.completed, 0);
  });

  test('starting a new frame expires old incomplete ones', () => {
    const r = new Reassembler({ timeoutMs: TIMEOUT });
    r.push('a', fragmentFrame(pattern(5000), 1)[0], T0);
    const f2 = pattern(3000, 2);
    assertBuffers(pushAll(r, 'a', fragmentFrame(f2, 2), T0 + TIMEOUT), [f2]);
    assert.equal(r.stats.incomplete, 1);
    assert.equal(r.bytes, 0);
  });

  test('expire keeps frames younger than the timeout', () => {
    const r = new Reassembler({ timeoutMs: TIMEOUT });
    r.push('a', fragmentFrame(pattern(5000), 1)[0], T0);
    r.push('a', fragmentFrame(pattern(5000), 2)[0], T0 + 1000);
    assert.equal(r.expire(T0 + TIMEOUT), 1);
    assert.equal(r.pendingCount, 1);
    assert.equal(r.expire(T0 + 1000 + TIMEOUT), 1);
    assert.equal(r.pendingCount, 0);
  });

  test('a clock given as a function is read once per frame of several datagrams, never for a single one', () => {
    const r = new Reassembler({ timeoutMs: TIMEOUT });
    let reads = 0;
    let t = T0;
    const clock = (): number => {
      reads++;
      return t;
    };
    const small = pattern(500, 3);
    assertBuffers(pushAll(r, 'a', fragmentFrame(small, 1), clock), [small]);
    assert.equal(reads, 0);
    const big = fragmentFrame(pattern(5000, 4), 2);
    assert.equal(r.push('a', big[0], clock), undefined);
    assert.equal(reads, 1);
    // The time read when it started is the one that expires it.
    t = T0 + TIMEOUT;
    r.push('a', fragmentFrame(pattern(5000, 5), 3)[0], clock);
    assert.equal(reads, 2);
    assert.equal(r.stats.incomplete, 1, 'the first big frame expired when the second started');
  });
});

describe('Reassembler - memory bound', () => {
  test('with maxBytes 1 MiB, starting many 300 KB frames never holds more than 1 MiB', () => {
    const maxBytes = 1024 * 1024;
    const size = 300 * 1024;
    const r = new Reassembler({ maxBytes });
    const frames = Array.from({ length: 20 }, (_, i) => pattern(size, i + 1));
    const fragments = frames.map((f, i) => fragmentFrame(f, i));
    // Start every frame (first fragment only), checking the bound after each datagram.
    fragments.forEach((ds, i) => {
      assert.equal(r.push('a', ds[0], T0), undefined);
      assert.ok(r.bytes <= maxBytes, `${r.bytes} bytes held after frame ${i}`);
    });
    const fit = Math.floor(maxBytes / size);
    assert.equal(r.pendingCount, fit);
    assert.equal(r.bytes, fit * size);
    assert.equal(r.stats.incomplete, frames.length - fit);
    // The newest frames survived and complete; the evicted ones never do.
    for (let i = frames.length - fit; i < frames.length; i++) {
      assertBuffers(pushAll(r, 'a', fragments[i].slice(1)), [frames[i]]);
      assert.ok(r.bytes <= maxBytes);
    }
    assert.equal(r.bytes, 0);
    assert.equal(r.stats.completed, fit);
  });

  test('round-robin arrival of 20 frames of 300 KB stays within 1 MiB', () => {
    const maxBytes = 1024 * 1024;
    const r = new Reassembler({ maxBytes });
    const fragments = Array.from({ length: 20 }, (_, i) => fragmentFrame(pattern(300 * 1024, i), i));
    let maxHeld = 0;
    for (let k = 0; k < fragments[0].length; k++) {
      for (const ds of fragments) {
        r.push('a', ds[k], T0);
        maxHeld = Math.max(maxHeld, r.bytes);
      }
    }
    assert.ok(maxHeld <= maxBytes);
    assert.ok(r.stats.incomplete > 0);
  });

  test('a frame larger than maxBytes is refused and counted', () => {
    const r = new Reassembler({ maxBytes: 10_000 });
    const ds = fragmentFrame(pattern(20_000), 1);
    assertBuffers(pushAll(r, 'a', ds), []);
    assert.equal(r.bytes, 0);
    assert.ok(r.stats.incomplete >= 1);
  });

  test('a frame larger than maxBytes does not evict frames that fit', () => {
    const r = new Reassembler({ maxBytes: 10_000 });
    const small = pattern(5000, 1);
    const ds = fragmentFrame(small, 1);
    r.push('a', ds[0], T0);
    r.push('b', fragmentFrame(pattern(20_000), 2)[0], T0);
    assertBuffers(pushAll(r, 'a', ds.slice(1)), [small]);
  });

  test('a frame larger than maxFrame is a bad fragment', () => {
    const r = new Reassembler({ maxFrame: 4096 });
    assertProtocolError(() => r.push('a', fragmentFrame(pattern(4097), 1)[0], T0), ErrorCode.PROTOCOL_BAD_FRAGMENT, CloseCode.PROTOCOL_ERROR);
    assert.equal(r.stats.corrupt, 1);
    assert.equal(r.bytes, 0);
  });
});

describe('Reassembler - corrupt input', () => {
  test('fragments disagreeing on frameLength: BAD_FRAGMENT, counted corrupt, the frame dropped', () => {
    const r = new Reassembler();
    const ds = fragmentFrame(pattern(5000), 1);
    r.push('a', ds[0], T0);
    const liar = Buffer.from(fragmentFrame(pattern(6000), 1)[1]);
    assertProtocolError(() => r.push('a', liar, T0), ErrorCode.PROTOCOL_BAD_FRAGMENT, CloseCode.PROTOCOL_ERROR);
    assert.equal(r.stats.corrupt, 1);
    assert.equal(r.bytes, 0);
    assert.equal(r.pendingCount, 0);
    // The rest of the original frame starts a new, never-completed entry instead of a corrupt delivery.
    assertBuffers(pushAll(r, 'a', ds.slice(1)), []);
  });

  test('fragments disagreeing on count: BAD_FRAGMENT', () => {
    const r = new Reassembler();
    r.push('a', datagram({ frameId: 9, index: 0, count: 3, frameLength: 100, offset: 0, payload: pattern(40) }), T0);
    const other = datagram({ frameId: 9, index: 1, count: 2, frameLength: 100, offset: 40, payload: pattern(60) });
    assertProtocolError(() => r.push('a', other, T0), ErrorCode.PROTOCOL_BAD_FRAGMENT, CloseCode.PROTOCOL_ERROR);
    assert.equal(r.stats.corrupt, 1);
  });

  const garbage: [string, Buffer, string][] = [
    ['empty', Buffer.alloc(0), ErrorCode.PROTOCOL_BAD_MAGIC],
    ['shorter than the header', datagram({}).subarray(0, DATAGRAM_HEADER_SIZE - 1), ErrorCode.PROTOCOL_BAD_MAGIC],
    ['a frame instead of a datagram', encodeFrameBuffer({ kind: Kind.PING }), ErrorCode.PROTOCOL_BAD_MAGIC],
    ['random bytes', pattern(100, 77), ErrorCode.PROTOCOL_BAD_MAGIC],
    ['version 2', datagram({ version: 2 }), ErrorCode.PROTOCOL_BAD_VERSION],
    ['reserved byte set', datagram({ reserved: 1 }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['count 0', datagram({ count: 0 }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['index = count', datagram({ index: 2, count: 2, frameLength: 8, offset: 4 }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['frame length 0', datagram({ frameLength: 0, payload: Buffer.alloc(0) }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['payload past the frame length', datagram({ frameLength: 3 }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['offset past the frame length', datagram({ index: 1, count: 2, frameLength: 4, offset: 4 }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['empty payload', datagram({ index: 0, count: 2, frameLength: 10, payload: Buffer.alloc(0) }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['last index not at the end', datagram({ index: 1, count: 2, frameLength: 100, offset: 10 }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
    ['reaching the end before the last index', datagram({ index: 0, count: 2, frameLength: 4 }), ErrorCode.PROTOCOL_BAD_FRAGMENT],
  ];
  for (const [name, d, code] of garbage) {
    test(`${name}: ProtocolError ${code}, counted corrupt`, () => {
      const r = new Reassembler();
      assertProtocolError(() => r.push('a', d, T0), code, CloseCode.PROTOCOL_ERROR);
      assert.equal(r.stats.corrupt, 1);
      assert.equal(r.bytes, 0);
    });
  }

  test('garbage in the middle of a frame does not disturb it', () => {
    const frame = pattern(5000, 8);
    const ds = fragmentFrame(frame, 1);
    const r = new Reassembler();
    const out: Buffer[] = [];
    for (const d of ds) {
      assert.throws(() => r.push('a', pattern(30, d.length), T0));
      const f = r.push('a', d, T0);
      if (f) out.push(f);
    }
    assertBuffers(out, [frame]);
    assert.equal(r.stats.corrupt, ds.length);
  });

  test('fragments that leave a gap are not delivered as a frame', () => {
    const r = new Reassembler();
    r.push('a', datagram({ frameId: 1, index: 0, count: 2, frameLength: 100, offset: 0, payload: pattern(10) }), T0);
    let delivered: Buffer | undefined;
    try {
      delivered = r.push('a', datagram({ frameId: 1, index: 1, count: 2, frameLength: 100, offset: 90, payload: pattern(10) }), T0);
    } catch (err) {
      assertProtocolError(() => {
        throw err;
      }, ErrorCode.PROTOCOL_BAD_FRAGMENT, CloseCode.PROTOCOL_ERROR);
    }
    // 80 of the 100 bytes were never received: delivering them would hand out uninitialised memory.
    assert.equal(delivered?.length, undefined, `delivered a ${delivered?.length}-byte frame from 20 received bytes`);
  });

  test('a single fragment must start at offset 0', () => {
    const r = new Reassembler();
    const d = datagram({ count: 1, frameLength: 100, offset: 10, payload: pattern(90) });
    assertProtocolError(() => r.push('a', d, T0), ErrorCode.PROTOCOL_BAD_FRAGMENT, CloseCode.PROTOCOL_ERROR);
  });
});

describe('Reassembler - sources', () => {
  test('two sources with the same frameId do not mix', () => {
    const fa = pattern(6000, 1);
    const fb = pattern(6000, 2);
    const da = fragmentFrame(fa, 42);
    const db = fragmentFrame(fb, 42);
    const r = new Reassembler();
    const got: [string, Buffer][] = [];
    for (let i = 0; i < da.length; i++) {
      const b = r.push('10.0.0.2:4000', db[da.length - 1 - i], T0);
      if (b) got.push(['b', b]);
      const a = r.push('10.0.0.1:4000', da[i], T0);
      if (a) got.push(['a', a]);
    }
    assert.deepEqual(got.map(([who]) => who), ['b', 'a']);
    assertBuffers(got.map(([, b]) => b), [fb, fa]);
    assert.equal(r.stats.corrupt, 0);
    assert.equal(r.stats.duplicates, 0);
  });

  test('forget(source) drops that source only', () => {
    const r = new Reassembler();
    const da = fragmentFrame(pattern(5000, 1), 1);
    const fb = pattern(5000, 2);
    const db = fragmentFrame(fb, 1);
    r.push('a', da[0], T0);
    r.push('a', fragmentFrame(pattern(3000, 3), 2)[0], T0);
    r.push('b', db[0], T0);
    assert.equal(r.pendingCount, 3);
    r.forget('a');
    assert.equal(r.pendingCount, 1);
    assert.equal(r.bytes, 5000);
    assert.equal(r.stats.incomplete, 2);
    assertBuffers(pushAll(r, 'b', db.slice(1)), [fb]);
    assertBuffers(pushAll(r, 'a', da.slice(1)), []);
    r.forget('nobody');
    assert.equal(r.stats.incomplete, 2);
  });

  test("forget('a') keeps source 'a#1'", () => {
    const r = new Reassembler();
    const f = pattern(5000, 4);
    const ds = fragmentFrame(f, 2);
    r.push('a#1', ds[0], T0);
    r.forget('a');
    assertBuffers(pushAll(r, 'a#1', ds.slice(1)), [f]);
  });
});

describe('fragmentFrame from parts', () => {
  test('a frame given as header and payload fragments exactly like the joined frame, at every split', () => {
    const frame = Buffer.alloc(5000);
    for (let i = 0; i < frame.length; i++) frame[i] = (i * 31) & 0xff;
    const joined = fragmentFrame(frame, 7, 576);
    for (const cut of [0, 1, 35, 556, 557, 1000, 4999, 5000]) {
      const parts = fragmentFrame([frame.subarray(0, cut), frame.subarray(cut)], 7, 576);
      assert.deepEqual(parts.map((d) => d.toString('hex')), joined.map((d) => d.toString('hex')), `split at ${cut}`);
    }
  });
});
