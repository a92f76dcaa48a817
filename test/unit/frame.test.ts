/**
 * Frame codec (src/protocol/frame.ts): golden table, hand-written hex, round trips and every
 * header check of docs/protocol.md section 2.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, ErrorCode, ProtocolError } from '../../src/errors.js';
import { DEFAULT_MAX_PAYLOAD, FIXED_HEADER_SIZE, Kind, MediaType } from '../../src/protocol/constants.js';
import {
  checkFixedHeader,
  decodeFrame,
  encodeFrame,
  encodeFrameBuffer,
  encodeHeader,
  readFrame,
  type FrameInit,
} from '../../src/protocol/frame.js';
import {
  assertFrames,
  assertProtocolError,
  FRAME_CASES,
  frameOf,
  hex,
  ID65,
  ID64_ASCII,
  ID64_UNICODE,
  pattern,
} from '../helpers/protocol-fixtures.js';

/** A valid frame with ids and a payload; tests below patch single header bytes of it. */
const BASE: FrameInit = { kind: Kind.DATA, mediaType: MediaType.video, from: 'ab', to: 'c', group: 'd', payload: Buffer.from('xyz') };

function patched(patch: (b: Buffer) => void, init: FrameInit = BASE): Buffer {
  const b = encodeFrameBuffer(init);
  patch(b);
  return b;
}

describe('frame - golden table', () => {
  for (const c of FRAME_CASES) {
    test(`${c.name}: encode then decode gives the same frame`, () => {
      const encoded = encodeFrameBuffer(c.init);
      assertFrames([decodeFrame(encoded)], [frameOf(c.init)]);
    });
    if (c.hex !== undefined) {
      const expected = hex(c.hex);
      test(`${c.name}: encodes to the hand-written bytes`, () => {
        assert.equal(encodeFrameBuffer(c.init).toString('hex'), expected.toString('hex'));
      });
      test(`${c.name}: decodes the hand-written bytes`, () => {
        assertFrames([decodeFrame(expected)], [frameOf(c.init)]);
      });
    }
  }

  test('the fixed header is 36 bytes and ids follow it in from, to, group order', () => {
    const b = encodeFrameBuffer({ kind: Kind.DATA, from: 'F', to: 'TT', group: 'GGG', payload: Buffer.from('P') });
    assert.equal(b.length, FIXED_HEADER_SIZE + 6 + 1);
    assert.deepEqual([b[32], b[33], b[34], b[35]], [1, 2, 3, 0]);
    assert.equal(b.toString('latin1', FIXED_HEADER_SIZE), 'FTTGGGP');
  });

  test('64-byte ids: ASCII and 4-byte UTF-8 both encode to 64 bytes', () => {
    for (const id of [ID64_ASCII, ID64_UNICODE]) {
      const b = encodeFrameBuffer({ kind: Kind.PING, from: id });
      assert.equal(b[32], 64);
      assert.equal(decodeFrame(b).from, id);
    }
  });
});

describe('encodeFrame', () => {
  test('returns the header and the payload itself, uncopied', () => {
    const payload = pattern(10);
    const [h, p] = encodeFrame({ kind: Kind.DATA, mediaType: MediaType.data, payload });
    assert.equal(p, payload);
    assert.equal(h.length, FIXED_HEADER_SIZE);
    assert.equal(h.readUInt32BE(12), 10);
  });

  test('without a payload returns an empty payload buffer', () => {
    const [h, p] = encodeFrame({ kind: Kind.PING });
    assert.equal(p.length, 0);
    assert.equal(h.readUInt32BE(12), 0);
  });

  test('encodeFrameBuffer equals header + payload', () => {
    const init: FrameInit = { kind: Kind.DATA, mediaType: MediaType.audio, from: 'x', payload: pattern(7) };
    const [h, p] = encodeFrame(init);
    assert.deepEqual(encodeFrameBuffer(init), Buffer.concat([h, p]));
  });

  test('a prefix goes on the wire in the header buffer, before the uncopied payload, and counts as payload', () => {
    const prefix = Buffer.from('HDR');
    const payload = pattern(10);
    const [h, p] = encodeFrame({ kind: Kind.DATA, mediaType: MediaType.video, prefix, payload });
    assert.equal(p, payload);
    assert.equal(h.length, FIXED_HEADER_SIZE + prefix.length);
    assert.equal(h.readUInt32BE(12), prefix.length + payload.length);
    assert.deepEqual(decodeFrame(Buffer.concat([h, p])).payload, Buffer.concat([prefix, payload]));
    assert.deepEqual(decodeFrame(encodeFrameBuffer({ kind: Kind.DATA, prefix })).payload, prefix);
  });

  test('encodeHeader writes the given payload length without a payload', () => {
    const h = encodeHeader({ kind: Kind.DATA, mediaType: MediaType.video }, 123456);
    assert.equal(h.readUInt32BE(12), 123456);
  });

  test('seq is written modulo 2^32', () => {
    assert.equal(decodeFrame(encodeFrameBuffer({ kind: Kind.PING, seq: 2 ** 32 + 5 })).seq, 5);
    assert.equal(decodeFrame(encodeFrameBuffer({ kind: Kind.PING, seq: -1 })).seq, 0xffffffff);
  });

  test('media index, session key out of range are RangeErrors', () => {
    assert.throws(() => encodeHeader({ kind: Kind.DATA, mediaIndex: 65536 }, 0), RangeError);
    assert.throws(() => encodeHeader({ kind: Kind.DATA, sessionKey: 2n ** 64n }, 0), RangeError);
    assert.throws(() => encodeHeader({ kind: Kind.DATA, sessionKey: -1n }, 0), RangeError);
  });

  test('kind, media type and flags outside their wire ranges are RangeErrors', () => {
    assert.throws(() => encodeHeader({ kind: 9 as Kind }, 0), RangeError);
    assert.throws(() => encodeHeader({ kind: Kind.DATA, mediaType: 261 }, 0), RangeError);
    assert.throws(() => encodeHeader({ kind: Kind.DATA, flags: 0x08 }, 0), RangeError);
    assert.throws(() => encodeHeader({ kind: Kind.DATA, flags: 0x100 }, 0), RangeError);
  });

  test('an id over 64 UTF-8 bytes is caller misuse: a RangeError', () => {
    for (const field of ['from', 'to', 'group'] as const) {
      assert.throws(() => encodeHeader({ kind: Kind.DATA, [field]: ID65 }, 0), RangeError);
    }
    // 22 three-byte characters = 66 bytes although the string has only 22 code units.
    assert.throws(() => encodeHeader({ kind: Kind.DATA, from: '東'.repeat(22) }, 0), RangeError);
  });
});

describe('decodeFrame', () => {
  test('returns the payload as a view of the input', () => {
    const b = encodeFrameBuffer(BASE);
    const f = decodeFrame(b);
    assert.equal(f.payload.buffer, b.buffer);
    assert.equal(f.payload.toString(), 'xyz');
  });

  test('rejects bad magic', () => {
    assertProtocolError(() => decodeFrame(patched((b) => (b[0] = 0x58))), ErrorCode.PROTOCOL_BAD_MAGIC, CloseCode.PROTOCOL_ERROR);
    assertProtocolError(() => decodeFrame(patched((b) => (b[1] = 0x55))), ErrorCode.PROTOCOL_BAD_MAGIC, CloseCode.PROTOCOL_ERROR);
  });

  test('rejects version 0 and 2 with close code 1101', () => {
    for (const v of [0, 2, 255]) {
      assertProtocolError(
        () => decodeFrame(patched((b) => (b[2] = v))),
        ErrorCode.PROTOCOL_BAD_VERSION,
        CloseCode.UNSUPPORTED_VERSION,
      );
    }
  });

  test('rejects kind 0 and 9', () => {
    for (const k of [0, 9, 255]) {
      assertProtocolError(() => decodeFrame(patched((b) => (b[3] = k))), ErrorCode.PROTOCOL_BAD_KIND, CloseCode.PROTOCOL_ERROR);
    }
  });

  test('accepts every kind 1..8 and media type 0..5', () => {
    for (let k = 1; k <= 8; k++) {
      for (let m = 0; m <= 5; m++) {
        const f = decodeFrame(patched((b) => ((b[3] = k), (b[4] = m))));
        assert.equal(f.kind, k);
        assert.equal(f.mediaType, m);
      }
    }
  });

  test('rejects media type 6', () => {
    for (const m of [6, 255]) {
      assertProtocolError(() => decodeFrame(patched((b) => (b[4] = m))), ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, CloseCode.PROTOCOL_ERROR);
    }
  });

  test('rejects unknown flag bits', () => {
    for (const flags of [0x08, 0x0f, 0x80, 0xff]) {
      assertProtocolError(() => decodeFrame(patched((b) => (b[5] = flags))), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
    }
  });

  test('accepts flags 0..7 (KEYFRAME, ACK_REQUESTED, TRANSFORMED)', () => {
    for (let flags = 0; flags <= 7; flags++) assert.equal(decodeFrame(patched((b) => (b[5] = flags))).flags, flags);
  });

  test('rejects a payload length over maxPayload with close code 1102', () => {
    const b = encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.data, payload: pattern(101) });
    assertProtocolError(() => decodeFrame(b, 100), ErrorCode.PROTOCOL_FRAME_TOO_LARGE, CloseCode.FRAME_TOO_LARGE);
    assert.equal(decodeFrame(b, 101).payload.length, 101);
  });

  test('rejects a length field over the default maxPayload without reading a payload', () => {
    const b = patched((x) => x.writeUInt32BE(DEFAULT_MAX_PAYLOAD + 1, 12));
    assertProtocolError(() => decodeFrame(b), ErrorCode.PROTOCOL_FRAME_TOO_LARGE, CloseCode.FRAME_TOO_LARGE);
    assertProtocolError(
      () => decodeFrame(patched((x) => x.writeUInt32BE(0xffffffff, 12))),
      ErrorCode.PROTOCOL_FRAME_TOO_LARGE,
      CloseCode.FRAME_TOO_LARGE,
    );
  });

  test('rejects an id length of 65 in each position', () => {
    for (const off of [32, 33, 34]) {
      assertProtocolError(() => decodeFrame(patched((b) => (b[off] = 65))), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
    }
  });

  test('rejects the reserved byte set', () => {
    for (const v of [1, 0x80]) {
      assertProtocolError(() => decodeFrame(patched((b) => (b[35] = v))), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
    }
  });

  test('rejects a buffer one byte short or long of the length the header gives', () => {
    const b = encodeFrameBuffer(BASE);
    assertProtocolError(() => decodeFrame(b.subarray(0, b.length - 1)), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
    assertProtocolError(() => decodeFrame(Buffer.concat([b, Buffer.from([0])])), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
    // Two frames back to back are not one frame.
    assertProtocolError(() => decodeFrame(Buffer.concat([b, b])), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
  });

  test('rejects a buffer shorter than the fixed header', () => {
    const b = encodeFrameBuffer({ kind: Kind.PING });
    for (let n = 0; n < FIXED_HEADER_SIZE; n++) {
      assertProtocolError(() => decodeFrame(b.subarray(0, n)), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
    }
  });

  test('rejects a buffer truncated inside the ids', () => {
    const b = encodeFrameBuffer({ kind: Kind.PING, from: 'abcdef' });
    assertProtocolError(() => decodeFrame(b.subarray(0, FIXED_HEADER_SIZE + 3)), ErrorCode.PROTOCOL_BAD_HEADER, CloseCode.PROTOCOL_ERROR);
  });

  test('checks magic before version before kind before media type', () => {
    const all = patched((b) => ((b[0] = 0), (b[2] = 2), (b[3] = 0), (b[4] = 9)));
    assertProtocolError(() => decodeFrame(all), ErrorCode.PROTOCOL_BAD_MAGIC, CloseCode.PROTOCOL_ERROR);
    all.writeUInt16BE(0x4357, 0);
    assertProtocolError(() => decodeFrame(all), ErrorCode.PROTOCOL_BAD_VERSION, CloseCode.UNSUPPORTED_VERSION);
    all[2] = 1;
    assertProtocolError(() => decodeFrame(all), ErrorCode.PROTOCOL_BAD_KIND, CloseCode.PROTOCOL_ERROR);
    all[3] = 1;
    assertProtocolError(() => decodeFrame(all), ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, CloseCode.PROTOCOL_ERROR);
  });
});

describe('checkFixedHeader', () => {
  test('returns the ids and payload lengths', () => {
    const b = encodeFrameBuffer(BASE);
    assert.deepEqual(checkFixedHeader(b, 0, DEFAULT_MAX_PAYLOAD), { idsLength: 4, payloadLength: 3 });
  });

  test('reads at an offset', () => {
    const b = Buffer.concat([Buffer.from('junk'), encodeFrameBuffer(BASE)]);
    assert.deepEqual(checkFixedHeader(b, 4, DEFAULT_MAX_PAYLOAD), { idsLength: 4, payloadLength: 3 });
    assert.throws(() => checkFixedHeader(b, 0, DEFAULT_MAX_PAYLOAD), ProtocolError);
  });

  test('payload length equal to maxPayload passes, one more fails', () => {
    const h = encodeHeader({ kind: Kind.DATA }, 1000);
    assert.equal(checkFixedHeader(h, 0, 1000).payloadLength, 1000);
    assertProtocolError(() => checkFixedHeader(h, 0, 999), ErrorCode.PROTOCOL_FRAME_TOO_LARGE, CloseCode.FRAME_TOO_LARGE);
  });

  test('id lengths of 64 pass', () => {
    const h = encodeHeader({ kind: Kind.DATA, from: ID64_ASCII, to: ID64_ASCII, group: ID64_UNICODE }, 0);
    assert.equal(checkFixedHeader(h, 0, 0).idsLength, 192);
  });
});

describe('readFrame', () => {
  test('builds a frame from a header at an offset and a separate payload', () => {
    const h = encodeHeader({ kind: Kind.DATA, mediaType: MediaType.file, seq: 9, from: 'me' }, 2);
    const buf = Buffer.concat([Buffer.from('xx'), h]);
    const payload = Buffer.from('ok');
    const f = readFrame(buf, 2, payload);
    assertFrames([f], [frameOf({ kind: Kind.DATA, mediaType: MediaType.file, seq: 9, from: 'me', payload })]);
    assert.equal(f.payload, payload);
  });
});
