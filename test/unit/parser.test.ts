/**
 * FrameParser (src/protocol/parser.ts): frames split at any boundary, one error then silence,
 * bounded buffering.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CloseCode, ErrorCode } from '../../src/errors.js';
import { FIXED_HEADER_SIZE, Flag, Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer, encodeHeader, encodeKeepalive, type Frame, type FrameInit } from '../../src/protocol/frame.js';
import { FrameParser, HttpRequestOnTcpError, httpOnTcpAnswer } from '../../src/protocol/parser.js';
import {
  assertFrames,
  checkProtocolError,
  chunksOf,
  collect,
  encodeStream,
  fcParams,
  feed,
  FRAME_CASES,
  parsedFrameOf,
  pattern,
  splitAt,
} from '../helpers/protocol-fixtures.js';

const BIG: FrameInit = { kind: Kind.DATA, mediaType: MediaType.video, from: 'cam', seq: 99, payload: pattern(200 * 1024, 42) };

/** Every golden frame (several with empty payloads), a 200 KB frame, and a PING (empty payload) last. */
const STREAM: FrameInit[] = [...FRAME_CASES.map((c) => c.init), BIG, { kind: Kind.PING }];
/** Four small frames (one with an empty payload, one TRANSFORMED), for the every-split-point tests. */
const SMALL: FrameInit[] = [
  { kind: Kind.DATA, mediaType: MediaType.command, from: 'a', seq: 1, payload: Buffer.from('one') },
  { kind: Kind.PONG, to: 'é' },
  { kind: Kind.CLOSE, group: 'g', payload: Buffer.from([0x03, 0xe8, 0x21]) },
  { kind: Kind.DATA, mediaType: MediaType.audio, flags: Flag.TRANSFORMED, payload: Buffer.from([2, 0, 0, 0xbb, 0x80, 1, 0, 0xee]) },
];

function assertDelivers(inits: readonly FrameInit[], chunks: readonly Buffer[]): void {
  const c = collect();
  feed(c.parser, chunks);
  assert.deepEqual(c.errors, []);
  assertFrames(c.frames, inits.map(parsedFrameOf));
  assert.equal(c.parser.buffered, 0);
  assert.equal(c.parser.failed, false);
}

describe('FrameParser - frames', () => {
  test('a stream of frames (empty payloads, a 200 KB payload) fed whole', () => {
    assertDelivers(STREAM, [encodeStream(STREAM)]);
  });

  test('the same stream fed one byte at a time', () => {
    assertDelivers(STREAM, chunksOf(encodeStream(STREAM), 1));
  });

  test('the same stream fed in 7-byte and 1000-byte chunks', () => {
    const bytes = encodeStream(STREAM);
    assertDelivers(STREAM, chunksOf(bytes, 7));
    assertDelivers(STREAM, chunksOf(bytes, 1000));
  });

  test('four small frames (one TRANSFORMED) split at every possible point', () => {
    const bytes = encodeStream(SMALL);
    for (let i = 0; i <= bytes.length; i++) assertDelivers(SMALL, splitAt(bytes, [i]));
  });

  test('four small frames (one TRANSFORMED) split at every pair of points', () => {
    const bytes = encodeStream(SMALL);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) assertDelivers(SMALL, splitAt(bytes, [i, j]));
    }
  });

  test('the stream in random splits (fast-check)', () => {
    const bytes = encodeStream(STREAM);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), (points) => {
        assertDelivers(STREAM, splitAt(bytes, points));
      }),
      fcParams(200),
    );
  });

  test('a single PING fed whole is delivered (regression: empty payload at the end of the input)', () => {
    const c = collect();
    c.parser.push(encodeFrameBuffer({ kind: Kind.PING }));
    assertFrames(c.frames, [parsedFrameOf({ kind: Kind.PING })]);
    c.parser.push(encodeFrameBuffer({ kind: Kind.PONG, from: 'x' }));
    assertFrames(c.frames, [parsedFrameOf({ kind: Kind.PING }), parsedFrameOf({ kind: Kind.PONG, from: 'x' })]);
    assert.equal(c.parser.buffered, 0);
  });

  test('frames are delivered in order, synchronously inside push()', () => {
    const c = collect();
    const bytes = encodeStream(SMALL);
    c.parser.push(bytes.subarray(0, 60));
    const after60 = c.frames.length;
    c.parser.push(bytes.subarray(60));
    assert.equal(after60, 1);
    assertFrames(c.frames, SMALL.map(parsedFrameOf));
  });

  test('empty chunks are ignored', () => {
    const bytes = encodeStream(SMALL);
    assertDelivers(SMALL, [Buffer.alloc(0), bytes.subarray(0, 10), Buffer.alloc(0), bytes.subarray(10)]);
  });

  test('buffered counts the bytes of an incomplete frame', () => {
    const c = collect();
    const b = encodeFrameBuffer(SMALL[0]);
    c.parser.push(b.subarray(0, 10));
    assert.equal(c.parser.buffered, 10);
    c.parser.push(b.subarray(10, b.length - 1));
    assert.equal(c.parser.buffered, b.length - 1);
    c.parser.push(b.subarray(b.length - 1));
    assert.equal(c.parser.buffered, 0);
    assert.equal(c.frames.length, 1);
  });

  test('a payload of exactly maxPayload bytes is accepted', () => {
    const init: FrameInit = { kind: Kind.DATA, mediaType: MediaType.data, payload: pattern(1000) };
    const c = collect({ maxPayload: 1000 });
    c.parser.push(encodeFrameBuffer(init));
    assertFrames(c.frames, [parsedFrameOf(init)]);
  });

  test('a payload in one chunk is delivered as a view, not a copy', () => {
    const c = collect();
    const b = encodeFrameBuffer(SMALL[0]);
    c.parser.push(b);
    assert.equal(c.frames[0].payload.buffer, b.buffer);
  });
});

describe('FrameParser - errors', () => {
  test('garbage gives exactly one error, then further input is ignored', () => {
    const c = collect();
    c.parser.push(Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n+more bytes'));
    assert.equal(c.errors.length, 1);
    checkProtocolError(c.errors[0], ErrorCode.PROTOCOL_BAD_MAGIC, CloseCode.PROTOCOL_ERROR);
    assert.equal(c.parser.failed, true);
    assert.equal(c.parser.buffered, 0);
    c.parser.push(encodeStream(SMALL));
    c.parser.push(Buffer.from('more garbage, more garbage, more garbage, more garbage'));
    assert.equal(c.errors.length, 1);
    assert.equal(c.frames.length, 0);
    assert.equal(c.parser.buffered, 0);
  });

  test('HTTP where frames were expected is named: a request (HTTP client on the TCP port) or an answer (TCP client on an HTTP port)', () => {
    const req = collect();
    req.parser.push(Buffer.from('POST /camwire/v1/open HTTP/1.1\r\nHost: example\r\n\r\n'));
    assert.ok(req.errors[0] instanceof HttpRequestOnTcpError);
    assert.deepEqual([req.errors[0].code, req.errors[0].closeCode], [ErrorCode.WRONG_PROTOCOL, CloseCode.PROTOCOL_ERROR]);
    assert.match(req.errors[0].message, /this is a camwire TCP port; use --protocol tcp or port 7780 for http/);
    const answer = collect();
    answer.parser.push(Buffer.from('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'));
    checkProtocolError(answer.errors[0], ErrorCode.WRONG_PROTOCOL, CloseCode.PROTOCOL_ERROR);
    assert.ok(!(answer.errors[0] instanceof HttpRequestOnTcpError));
    assert.match(answer.errors[0].message, /the peer answered in HTTP: .*use --protocol http, or port 7700 for tcp/);
    assert.match(httpOnTcpAnswer(), /^HTTP\/1\.1 400 Bad Request\r\n[^]*x-camwire-error: CW_ERR_WRONG_PROTOCOL\r\n[^]*\r\n\r\nthis is a camwire TCP port/);
  });

  test('garbage shorter than a header waits; the error comes with the 36th byte', () => {
    const c = collect();
    const garbage = pattern(FIXED_HEADER_SIZE);
    c.parser.push(garbage.subarray(0, FIXED_HEADER_SIZE - 1));
    assert.equal(c.errors.length, 0);
    assert.equal(c.parser.failed, false);
    c.parser.push(garbage.subarray(FIXED_HEADER_SIZE - 1));
    assert.equal(c.errors.length, 1);
    assert.equal(c.parser.failed, true);
  });

  test('frames before the garbage are delivered, nothing after it', () => {
    const c = collect();
    c.parser.push(Buffer.concat([encodeStream(SMALL), pattern(40), encodeStream(SMALL)]));
    assertFrames(c.frames, SMALL.map(parsedFrameOf));
    assert.equal(c.errors.length, 1);
    assert.deepEqual(
      c.events.map((e) => e.type),
      ['frame', 'frame', 'frame', 'frame', 'error'],
    );
  });

  const headerErrors: { name: string; patch: (b: Buffer) => void; code: string; closeCode: number }[] = [
    { name: 'bad magic', patch: (b) => (b[0] = 0), code: ErrorCode.PROTOCOL_BAD_MAGIC, closeCode: CloseCode.PROTOCOL_ERROR },
    { name: 'version 2', patch: (b) => (b[2] = 2), code: ErrorCode.PROTOCOL_BAD_VERSION, closeCode: CloseCode.UNSUPPORTED_VERSION },
    { name: 'kind 9', patch: (b) => (b[3] = 9), code: ErrorCode.PROTOCOL_BAD_KIND, closeCode: CloseCode.PROTOCOL_ERROR },
    { name: 'media type 6', patch: (b) => (b[4] = 6), code: ErrorCode.PROTOCOL_BAD_MEDIA_TYPE, closeCode: CloseCode.PROTOCOL_ERROR },
    { name: 'flag 0x08 (first bit past TRANSFORMED)', patch: (b) => (b[5] = 0x08), code: ErrorCode.PROTOCOL_BAD_HEADER, closeCode: CloseCode.PROTOCOL_ERROR },
    { name: 'flag 0x10', patch: (b) => (b[5] = 0x10), code: ErrorCode.PROTOCOL_BAD_HEADER, closeCode: CloseCode.PROTOCOL_ERROR },
    { name: 'id length 65', patch: (b) => (b[33] = 65), code: ErrorCode.PROTOCOL_BAD_HEADER, closeCode: CloseCode.PROTOCOL_ERROR },
    { name: 'reserved byte', patch: (b) => (b[35] = 1), code: ErrorCode.PROTOCOL_BAD_HEADER, closeCode: CloseCode.PROTOCOL_ERROR },
  ];
  for (const e of headerErrors) {
    test(`${e.name} in the second frame, fed one byte at a time`, () => {
      const second = encodeFrameBuffer(SMALL[1]);
      e.patch(second);
      const c = collect();
      feed(c.parser, chunksOf(Buffer.concat([encodeFrameBuffer(SMALL[0]), second, encodeFrameBuffer(SMALL[2])]), 1));
      assertFrames(c.frames, [parsedFrameOf(SMALL[0])]);
      assert.equal(c.errors.length, 1);
      checkProtocolError(c.errors[0], e.code, e.closeCode);
      assert.equal(c.parser.failed, true);
    });
  }

  test('an oversized length is rejected once the 36-byte header is in, before any payload', () => {
    const c = collect({ maxPayload: 1024 });
    const header = encodeHeader({ kind: Kind.DATA, mediaType: MediaType.video }, 0xffffffff);
    for (let i = 0; i < FIXED_HEADER_SIZE - 1; i++) {
      c.parser.push(header.subarray(i, i + 1));
      assert.equal(c.errors.length, 0);
      assert.ok(c.parser.buffered <= FIXED_HEADER_SIZE);
    }
    c.parser.push(header.subarray(FIXED_HEADER_SIZE - 1));
    assert.equal(c.errors.length, 1);
    checkProtocolError(c.errors[0], ErrorCode.PROTOCOL_FRAME_TOO_LARGE, CloseCode.FRAME_TOO_LARGE);
    assert.equal(c.parser.failed, true);
    assert.equal(c.parser.buffered, 0);
    // The "payload" keeps coming: nothing is held, nothing more is reported.
    const junk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 16; i++) c.parser.push(junk);
    assert.equal(c.parser.buffered, 0);
    assert.equal(c.errors.length, 1);
    assert.equal(c.frames.length, 0);
  });

  test('a length of maxPayload + 1 is rejected with the header, the default limit being 8 MiB', () => {
    const c = collect();
    c.parser.push(encodeHeader({ kind: Kind.DATA, mediaType: MediaType.video }, 8 * 1024 * 1024 + 1));
    assert.equal(c.errors.length, 1);
    checkProtocolError(c.errors[0], ErrorCode.PROTOCOL_FRAME_TOO_LARGE, CloseCode.FRAME_TOO_LARGE);
  });

  test('an allowed large length holds only what has arrived', () => {
    const c = collect({ maxPayload: 1024 * 1024 });
    c.parser.push(encodeHeader({ kind: Kind.DATA, mediaType: MediaType.video }, 1024 * 1024));
    c.parser.push(Buffer.alloc(100));
    assert.equal(c.parser.buffered, FIXED_HEADER_SIZE + 100);
    assert.equal(c.errors.length, 0);
  });
});

describe('FrameParser - keepalives without a Frame (FrameSink.onKeepalive)', () => {
  /** A sink with onKeepalive: records both kinds of delivery; `take` says whether onKeepalive takes it. */
  function keepaliveSink(take = true) {
    const frames: Frame[] = [];
    const keepalives: Array<[number, number]> = [];
    const errors: Error[] = [];
    const parser = new FrameParser({
      onFrame: (f) => frames.push(f),
      onError: (e) => errors.push(e),
      onKeepalive: (kind, ts) => {
        keepalives.push([kind, ts]);
        return take;
      },
    });
    return { parser, frames, keepalives, errors };
  }
  const ping = encodeFrameBuffer({ kind: Kind.PING, mediaType: MediaType.video, sessionKey: 7n, timestamp: 1234.5 });
  const pong = encodeFrameBuffer({ kind: Kind.PONG, sessionKey: 7n, timestamp: 99 });

  test('a PING or PONG alone in a read goes to onKeepalive with its kind and timestamp, and makes no Frame', () => {
    const s = keepaliveSink();
    s.parser.push(ping);
    s.parser.push(pong);
    assert.deepEqual(s.keepalives, [[Kind.PING, 1234.5], [Kind.PONG, 99]]);
    assert.equal(s.frames.length, 0);
    assert.equal(s.errors.length, 0);
    assert.equal(s.parser.buffered, 0);
  });

  test('onKeepalive returning false has the keepalive delivered as a Frame', () => {
    const s = keepaliveSink(false);
    s.parser.push(ping);
    assert.equal(s.keepalives.length, 1);
    assert.equal(s.frames.length, 1);
    assert.equal(s.frames[0].kind, Kind.PING);
    assert.equal(s.frames[0].timestamp, 1234.5);
  });

  test('a keepalive with ids, split over reads, after a partial frame, or joined to another frame comes as a Frame', () => {
    const s = keepaliveSink();
    s.parser.push(encodeFrameBuffer({ kind: Kind.PING, from: 'rx' }));
    s.parser.push(ping.subarray(0, 10));
    s.parser.push(ping.subarray(10));
    const data = encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.data, payload: Buffer.from('x') });
    s.parser.push(data.subarray(0, 5));
    s.parser.push(Buffer.concat([data.subarray(5), pong]));
    s.parser.push(Buffer.concat([ping, pong]));
    assert.deepEqual(s.frames.map((f) => f.kind), [Kind.PING, Kind.PING, Kind.DATA, Kind.PONG, Kind.PING, Kind.PONG]);
    assert.equal(s.keepalives.length, 0);
  });

  test('a broken keepalive header is not taken: it fails as any other frame would', () => {
    for (const [name, bad, code] of [
      ['version 2', patch(ping, 2, 2), ErrorCode.PROTOCOL_BAD_VERSION],
      ['unknown flags', patch(ping, 5, 0x80), ErrorCode.PROTOCOL_BAD_HEADER],
      ['media type 9', patch(ping, 4, 9), ErrorCode.PROTOCOL_BAD_MEDIA_TYPE],
      ['reserved byte', patch(ping, 35, 1), ErrorCode.PROTOCOL_BAD_HEADER],
    ] as const) {
      const s = keepaliveSink();
      s.parser.push(bad);
      assert.equal(s.keepalives.length, 0, name);
      assert.equal(s.errors.length, 1, name);
      assert.equal((s.errors[0] as { code?: string }).code, code, name);
    }
  });

  test('encodeKeepalive writes the bytes the general encoder writes for the same PING or PONG', () => {
    for (const [kind, key, mt, from, ts] of [
      [Kind.PING, 0n, 0, undefined, 0],
      [Kind.PONG, 0xfedcba9876543210n, MediaType.file, undefined, 1.7e12 + 0.25],
      [Kind.PING, 1n, MediaType.audio, 'réceiver', 42],
    ] as const) {
      assert.deepEqual(encodeKeepalive(kind, key, mt, from, ts), encodeFrameBuffer({ kind, sessionKey: key, mediaType: mt, from, timestamp: ts }));
    }
  });
});

function patch(b: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(b);
  c[at] = v;
  return c;
}
