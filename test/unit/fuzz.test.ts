/**
 * Property and fuzz tests of the protocol layer (fast-check). Whatever bytes a peer sends, the codecs
 * return a value or throw a ProtocolError, and the parser reports at most one error and then stays
 * silent. Run counts are explicit; a failure prints its seed, replay it with CW_FC_SEED=<seed>.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CloseCode, ErrorCode, ProtocolError } from '../../src/errors.js';
import { FIXED_HEADER_SIZE, Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer } from '../../src/protocol/frame.js';
import { fragmentFrame, Reassembler } from '../../src/protocol/fragment.js';
import {
  decodeAck,
  decodeAudio,
  decodeCommand,
  decodeFileMessage,
  decodeHello,
  decodeReason,
  decodeVideo,
  decodeWelcome,
  encodeAck,
  encodeAudioHeader,
  encodeCommand,
  encodeFileMessage,
  encodeJson,
  encodeReason,
  encodeVideoHeader,
} from '../../src/protocol/messages.js';
import {
  ACK_CASES,
  arbFrameInit,
  arbSplitPoints,
  assertFrames,
  AUDIO_CASES,
  checkProtocolError,
  collect,
  COMMAND_CASES,
  encodeStream,
  fcParams,
  feed,
  FILE_CASES,
  FRAME_CASES,
  parsedFrameOf,
  HELLO_CASES,
  hex,
  REASON_CASES,
  splitAt,
  VIDEO_CASES,
  WELCOME_CASES,
  withSplits,
  type Collector,
} from '../helpers/protocol-fixtures.js';

/** Generated inputs per property; the total is well over 100,000. */
const RUNS = {
  parserBytes: 20_000,
  decoder: 5_000, // per decoder, 8 decoders
  roundTrip: 10_000,
  reassembler: 20_000,
  mutation: 15_000,
};

const MAX_PAYLOAD = 256;
const TRAILER = encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.data, from: 'tail', payload: Buffer.from('trailer') });

/** The parser's outcome is frames, then at most one ProtocolError, then nothing; buffering is bounded. */
function checkParserOutcome(c: Collector, inputLength: number): void {
  assert.ok(c.errors.length <= 1, `${c.errors.length} errors`);
  if (c.errors.length === 1) {
    assert.ok(c.errors[0] instanceof ProtocolError);
    assert.equal(c.events.at(-1)?.type, 'error', 'a frame was delivered after the error');
    assert.equal(c.parser.failed, true);
    assert.equal(c.parser.buffered, 0);
    // Further input is ignored.
    const before = c.events.length;
    c.parser.push(TRAILER);
    assert.equal(c.events.length, before);
    assert.equal(c.parser.buffered, 0);
  } else {
    assert.equal(c.parser.failed, false);
    assert.ok(c.parser.buffered <= inputLength);
  }
  const delivered = c.frames.reduce((n, f) => n + FIXED_HEADER_SIZE + f.payload.length, 0);
  assert.ok(delivered <= inputLength, 'frames hold more bytes than were fed');
  for (const f of c.frames) assert.ok(f.payload.length <= MAX_PAYLOAD);
}

/** Header-shaped bytes: plausible field values, sometimes wrong, then random bytes. */
const arbHeaderish: fc.Arbitrary<Buffer> = fc
  .record({
    magic: fc.constantFrom(0x4357, 0x4357, 0x4357, 0x4355, 0),
    version: fc.constantFrom(1, 1, 1, 0, 2),
    kind: fc.integer({ min: 0, max: 9 }),
    mediaType: fc.integer({ min: 0, max: 6 }),
    flags: fc.integer({ min: 0, max: 7 }),
    length: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.constantFrom(MAX_PAYLOAD, MAX_PAYLOAD + 1, 0xffffffff)),
    ids: fc.tuple(fc.integer({ min: 0, max: 66 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })),
    reserved: fc.constantFrom(0, 0, 0, 1),
    rest: fc.uint8Array({ maxLength: 200 }),
  })
  .map((h) => {
    const b = Buffer.alloc(FIXED_HEADER_SIZE);
    b.writeUInt16BE(h.magic, 0);
    b[2] = h.version;
    b[3] = h.kind;
    b[4] = h.mediaType;
    b[5] = h.flags;
    b.writeUInt32BE(h.length, 12);
    [b[32], b[33], b[34]] = h.ids;
    b[35] = h.reserved;
    return Buffer.concat([b, h.rest]);
  });

/** Valid frames followed by random bytes. */
const arbFramesThenGarbage: fc.Arbitrary<Buffer> = fc
  .tuple(fc.array(arbFrameInit({ maxPayload: 64 }), { maxLength: 3 }), fc.uint8Array({ maxLength: 80 }))
  .map(([inits, tail]) => Buffer.concat([encodeStream(inits), tail]));

describe('fuzz - FrameParser', () => {
  test('(a) arbitrary bytes in arbitrary splits: frames, then at most one ProtocolError, never a throw', () => {
    const arbBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)), arbHeaderish, arbFramesThenGarbage);
    fc.assert(
      fc.property(withSplits(arbBytes), ([bytes, points]) => {
        const c = collect({ maxPayload: MAX_PAYLOAD });
        feed(c.parser, splitAt(bytes, points));
        checkParserOutcome(c, bytes.length);
      }),
      fcParams(RUNS.parserBytes),
    );
  });

  test('(c) valid frames round trip through encodeFrame and the parser in random splits', () => {
    const arbStream = fc.array(arbFrameInit({ maxPayload: 200 }), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(
        arbStream.chain((inits) => fc.tuple(fc.constant(inits), arbSplitPoints(encodeStream(inits).length))),
        ([inits, points]) => {
          const c = collect();
          feed(c.parser, splitAt(encodeStream(inits), points));
          assert.deepEqual(c.errors, []);
          assertFrames(c.frames, inits.map(parsedFrameOf));
          assert.equal(c.parser.buffered, 0);
        },
      ),
      fcParams(RUNS.roundTrip),
    );
  });

  test('(e) one mutated byte in a valid frame, random splits: a frame or a ProtocolError, never a throw', () => {
    const arbCase = fc
      .tuple(arbFrameInit({ maxPayload: 64 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .chain(([init, pos, value]) => {
        const length = encodeFrameBuffer(init).length + TRAILER.length;
        return fc.tuple(fc.constant(init), fc.constant(pos), fc.constant(value), arbSplitPoints(length, 6));
      });
    fc.assert(
      fc.property(arbCase, ([init, pos, value, points]) => {
        const first = encodeFrameBuffer(init);
        const idsEnd = FIXED_HEADER_SIZE + first[32] + first[33] + first[34];
        const at = pos % first.length;
        const changed = first[at] !== value;
        first[at] = value;
        const bytes = Buffer.concat([first, TRAILER]);
        const c = collect({ maxPayload: MAX_PAYLOAD });
        feed(c.parser, splitAt(bytes, points));
        checkParserOutcome(c, bytes.length);
        if (!changed || at >= FIXED_HEADER_SIZE) {
          // The fixed header is intact: both frames arrive, and a payload byte changes only the payload.
          assert.equal(c.errors.length, 0);
          assert.equal(c.frames.length, 2);
          if (at >= idsEnd) {
            const payload = Buffer.from(init.payload!);
            payload[at - idsEnd] = value;
            assert.deepEqual(c.frames[0].payload, payload);
          }
        }
      }),
      fcParams(RUNS.mutation),
    );
  });
});

// ---------------------------------------------------------------- (b) payload decoders

/** Randomly mutated, truncated or extended versions of known-good encodings. */
function arbMutated(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc
    .record({
      seed: fc.constantFrom(...seeds),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      extra: fc.uint8Array({ maxLength: 3 }),
    })
    .map(({ seed, edits, cut, extra }) => {
      let b = Buffer.from(seed);
      for (const [i, v] of edits) if (b.length > 0) b[i % b.length] = v;
      if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
      return Buffer.concat([b, extra]);
    });
}

const arbRandom = fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u));
const arbJsonText = fc.oneof(
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc
    .record(
      {
        role: fc.oneof(fc.constantFrom('push', 'pull', 'relay'), fc.jsonValue()),
        agent: fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue()),
        auth: fc.oneof(
          fc.record({ user: fc.jsonValue(), password: fc.string(), token: fc.oneof(fc.string(), fc.integer()) }, { requiredKeys: [] }),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: [] },
    )
    .map((o) => Buffer.from(JSON.stringify(o))),
);

const withData = (h: Buffer, d: Buffer) => Buffer.concat([h, d]);
const DECODERS: { name: string; decode: (p: Buffer) => unknown; seeds: Buffer[]; json?: boolean }[] = [
  { name: 'decodeVideo', decode: decodeVideo, seeds: VIDEO_CASES.map((c) => withData(encodeVideoHeader(c.header), c.data.subarray(0, 4))) },
  { name: 'decodeAudio', decode: decodeAudio, seeds: AUDIO_CASES.map((c) => withData(encodeAudioHeader(c.header), c.data.subarray(0, 4))) },
  { name: 'decodeCommand', decode: decodeCommand, seeds: COMMAND_CASES.map((c) => encodeCommand(c.command)) },
  {
    name: 'decodeFileMessage',
    decode: decodeFileMessage,
    seeds: FILE_CASES.map((c) => Buffer.concat(encodeFileMessage(c.message).filter((b): b is Buffer => b !== undefined))),
  },
  { name: 'decodeHello', decode: decodeHello, seeds: HELLO_CASES.map((c) => encodeJson(c.hello)), json: true },
  { name: 'decodeWelcome', decode: decodeWelcome, seeds: WELCOME_CASES.map((c) => encodeJson(c.welcome)), json: true },
  { name: 'decodeReason', decode: decodeReason, seeds: REASON_CASES.map((c) => encodeReason(c.code, c.reason)) },
  { name: 'decodeAck', decode: decodeAck, seeds: ACK_CASES.map((c) => encodeAck(c.resumeOffset)).concat(hex('00')) },
];

describe('fuzz - payload decoders', () => {
  for (const d of DECODERS) {
    test(`(b) ${d.name}: arbitrary bytes return a value or throw ProtocolError BAD_PAYLOAD`, () => {
      const arb = d.json ? fc.oneof(arbRandom, arbMutated(d.seeds), arbJsonText) : fc.oneof(arbRandom, arbMutated(d.seeds));
      fc.assert(
        fc.property(arb, (payload) => {
          try {
            d.decode(payload);
          } catch (err) {
            checkProtocolError(err, ErrorCode.PROTOCOL_BAD_PAYLOAD, CloseCode.BAD_PAYLOAD);
          }
        }),
        fcParams(RUNS.decoder),
      );
    });
  }
});

// ---------------------------------------------------------------- (d) reassembler

const arbDatagram: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 60 }).map((u) => Buffer.from(u)),
  // Header-shaped: small ids, counts and lengths so fragments of one frame collide and disagree.
  fc
    .record({
      magic: fc.constantFrom(0x4355, 0x4355, 0x4355, 0x4357),
      version: fc.constantFrom(1, 1, 1, 2),
      reserved: fc.constantFrom(0, 0, 0, 1),
      frameId: fc.integer({ min: 0, max: 3 }),
      index: fc.integer({ min: 0, max: 4 }),
      count: fc.integer({ min: 0, max: 4 }),
      frameLength: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(600, 5000, 0xffffffff)),
      offset: fc.integer({ min: 0, max: 200 }),
      payload: fc.uint8Array({ maxLength: 60 }),
    })
    .map((h) => {
      const d = Buffer.alloc(20 + h.payload.length);
      d.writeUInt16BE(h.magic, 0);
      d[2] = h.version;
      d[3] = h.reserved;
      d.writeUInt32BE(h.frameId, 4);
      d.writeUInt16BE(h.index, 8);
      d.writeUInt16BE(h.count, 10);
      d.writeUInt32BE(h.frameLength, 12);
      d.writeUInt32BE(h.offset, 16);
      d.set(h.payload, 20);
      return d;
    }),
  // Real fragments of a small frame.
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 3 }), fc.nat())
    .map(([frame, id, pick]) => {
      const ds = fragmentFrame(Buffer.from(frame), id, 84);
      return ds[pick % ds.length];
    }),
);

describe('fuzz - Reassembler', () => {
  test('(d) arbitrary datagrams: push returns or throws ProtocolError; memory stays bounded', () => {
    const maxBytes = 300;
    const maxFrame = 4096;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b'), arbDatagram, fc.integer({ min: 0, max: 1500 })), { minLength: 1, maxLength: 12 }),
        (ops) => {
          const r = new Reassembler({ maxBytes, maxFrame, timeoutMs: 1000 });
          let now = 0;
          let thrown = 0;
          for (const [source, d, dt] of ops) {
            now += dt;
            try {
              const out = r.push(source, d, now);
              if (out !== undefined) assert.ok(Buffer.isBuffer(out) && out.length <= maxFrame);
            } catch (err) {
              assert.ok(err instanceof ProtocolError, `threw ${String(err)}`);
              thrown++;
            }
            assert.ok(r.bytes >= 0 && r.bytes <= maxBytes, `${r.bytes} bytes held`);
            if (r.pendingCount === 0) assert.equal(r.bytes, 0);
          }
          assert.equal(r.stats.corrupt, thrown);
          r.forget('a');
          r.forget('b');
          assert.equal(r.bytes, 0);
          assert.equal(r.pendingCount, 0);
        },
      ),
      fcParams(RUNS.reassembler),
    );
  });
});

describe('fuzz - golden frames', () => {
  test('every golden frame survives a random single-byte mutation without a non-protocol throw', () => {
    const seeds = FRAME_CASES.map((c) => encodeFrameBuffer(c.init));
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 255 }), (seed, pos, value) => {
        const b = Buffer.from(seed);
        b[pos % b.length] = value;
        const c = collect({ maxPayload: MAX_PAYLOAD });
        c.parser.push(Buffer.concat([b, TRAILER]));
        checkParserOutcome(c, b.length + TRAILER.length);
      }),
      fcParams(2_000),
    );
  });
});
