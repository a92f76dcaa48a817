/**
 * Shared fixtures for the protocol unit tests: golden tables (one per message type, used by the
 * decode, encode and fuzz tests), a collecting FrameSink, chunk-splitting helpers and
 * fast-check arbitraries for frames and split points.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ProtocolError } from '../../src/errors.js';
import { Flag, Kind, MAX_U48, MediaType, type ParamTypeName } from '../../src/protocol/constants.js';
import { encodeFrameBuffer, type Frame, type FrameInit } from '../../src/protocol/frame.js';
import { FrameParser, type FrameParserOptions } from '../../src/protocol/parser.js';
import {
  encodeJson,
  encodeReason,
  type AudioHeader,
  type Command,
  type FileMessage,
  type Hello,
  type ParamValue,
  type VideoHeader,
  type Welcome,
} from '../../src/protocol/messages.js';

// ---------------------------------------------------------------- bytes

/** Parses annotated hex: everything after `#` on a line is a comment, whitespace is ignored. */
export function hex(annotated: string): Buffer {
  const digits = annotated
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex fixture: ${digits}`);
  return Buffer.from(digits, 'hex');
}

/** Deterministic, non-repeating-looking bytes (so misplaced offsets show up in comparisons). */
export function pattern(length: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Splits `buf` at the given points (any order, duplicates allowed: they give empty chunks). */
export function splitAt(buf: Buffer, points: readonly number[]): Buffer[] {
  const sorted = [...points].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of sorted) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** Splits `buf` into chunks of `size` bytes (the last one may be shorter). */
export function chunksOf(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < buf.length; o += size) out.push(buf.subarray(o, o + size));
  return out;
}

/** Short, exact stand-in for a buffer in assertion diffs: hex up to 64 bytes, else length + sha256. */
export function digest(b: Buffer): string {
  return b.length <= 64 ? b.toString('hex') : `${b.length} bytes, sha256 ${createHash('sha256').update(b).digest('hex')}`;
}

/** Asserts two lists of buffers are equal byte for byte, with a readable diff for large ones. */
export function assertBuffers(actual: readonly Buffer[], expected: readonly Buffer[]): void {
  assert.deepEqual(actual.map(digest), expected.map(digest));
}

/** Asserts two lists of frames are equal, payloads compared via {@link digest}. */
export function assertFrames(actual: readonly Frame[], expected: readonly Frame[]): void {
  const bytes = (raw: Frame['raw']) => (raw === undefined ? undefined : digest(Buffer.isBuffer(raw) ? raw : Buffer.concat(raw)));
  const short = (f: Frame) => ({ ...f, payload: digest(f.payload), raw: bytes(f.raw) });
  assert.deepEqual(actual.map(short), expected.map(short));
}

// ---------------------------------------------------------------- errors

/** Asserts that `fn` throws a ProtocolError with exactly this `code` and `closeCode`. */
export function assertProtocolError(fn: () => unknown, code: string, closeCode: number): void {
  assert.throws(fn, (err: unknown) => {
    checkProtocolError(err, code, closeCode);
    return true;
  });
}

/** Asserts that `err` is a ProtocolError with exactly this `code` and `closeCode`. */
export function checkProtocolError(err: unknown, code: string, closeCode: number): void {
  assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
  assert.equal(err.code, code);
  assert.equal(err.closeCode, closeCode);
  assert.equal(err.name, 'ProtocolError');
}

// ---------------------------------------------------------------- parser sink

/** One thing the parser handed to its sink, in order. */
export type SinkEvent = { type: 'frame'; frame: Frame } | { type: 'error'; error: ProtocolError };

/** A FrameParser wired to a sink that records everything, in order. */
export interface Collector {
  parser: FrameParser;
  events: SinkEvent[];
  frames: Frame[];
  errors: ProtocolError[];
}

/** Creates a FrameParser whose sink records frames and errors. */
export function collect(options?: FrameParserOptions): Collector {
  const events: SinkEvent[] = [];
  const frames: Frame[] = [];
  const errors: ProtocolError[] = [];
  const parser = new FrameParser(
    {
      onFrame(frame) {
        events.push({ type: 'frame', frame });
        frames.push(frame);
      },
      onError(error) {
        events.push({ type: 'error', error });
        errors.push(error);
      },
    },
    options,
  );
  return { parser, events, frames, errors };
}

/** Pushes each chunk in turn. */
export function feed(parser: FrameParser, chunks: readonly Buffer[]): void {
  for (const c of chunks) parser.push(c);
}

// ---------------------------------------------------------------- frames

/** The Frame a decoder must produce for `init` (omitted fields are 0 or ''). */
export function frameOf(init: FrameInit, raw?: Buffer): Frame {
  return {
    kind: init.kind,
    mediaType: init.mediaType ?? 0,
    flags: init.flags ?? 0,
    mediaIndex: init.mediaIndex ?? 0,
    seq: (init.seq ?? 0) >>> 0,
    sessionKey: init.sessionKey ?? 0n,
    timestamp: init.timestamp ?? 0,
    from: init.from ?? '',
    to: init.to ?? '',
    group: init.group ?? '',
    payload: init.payload ?? Buffer.alloc(0),
    // Every decoded frame has these from its creation (one object shape: frame.ts, readFrame).
    repeat: false,
    raw,
  };
}

/** The frame a stream parser delivers for `init`: as frameOf, with its bytes as read (Frame.raw). */
export function parsedFrameOf(init: FrameInit): Frame {
  return frameOf(init, encodeFrameBuffer(init));
}

/** Encodes frames back to back into one buffer. */
export function encodeStream(inits: readonly FrameInit[]): Buffer {
  return Buffer.concat(inits.map((f) => encodeFrameBuffer(f)));
}

/** A golden frame; `hex`, when present, is the exact encoding (annotated). */
export interface FrameCase {
  name: string;
  init: FrameInit;
  hex?: string;
}

/** 64 bytes of ASCII: the longest id. */
export const ID64_ASCII = 'a'.repeat(64);
/** 64 bytes of UTF-8 in 16 four-byte characters: the longest id. */
export const ID64_UNICODE = '😀'.repeat(16);
/** 65 bytes: one too many. */
export const ID65 = 'b'.repeat(65);
/** A short id mixing 1-, 2-, 3- and 4-byte UTF-8 sequences (20 bytes). */
export const ID_UNICODE = 'Zoë-東京-🎥';

/** Golden frames: every kind and media type, extreme field values, ids of 0/64 bytes and unicode. */
export const FRAME_CASES: readonly FrameCase[] = [
  {
    name: 'data video, all fields set (hand-written hex)',
    init: {
      kind: Kind.DATA,
      mediaType: MediaType.video,
      flags: Flag.KEYFRAME | Flag.ACK_REQUESTED,
      mediaIndex: 0x0102,
      seq: 0x01020304,
      sessionKey: 0x1122334455667788n,
      timestamp: 1.5,
      from: 'ab',
      to: '',
      group: 'g',
      payload: Buffer.from('hi'),
    },
    hex: `
      43 57                     # 0  magic "CW"
      01                        # 2  version 1
      03                        # 3  kind DATA
      01                        # 4  media type video
      03                        # 5  flags KEYFRAME | ACK_REQUESTED
      01 02                     # 6  media index 0x0102
      01 02 03 04               # 8  seq 0x01020304
      00 00 00 02               # 12 payload length 2
      11 22 33 44 55 66 77 88   # 16 session key
      3f f8 00 00 00 00 00 00   # 24 timestamp 1.5 (float64 BE)
      02                        # 32 from length
      00                        # 33 to length
      01                        # 34 group length
      00                        # 35 reserved
      61 62                     # 36 from "ab"
      67                        # 38 group "g"
      68 69                     # 39 payload "hi"
    `,
  },
  {
    name: 'ping, all defaults (hand-written hex)',
    init: { kind: Kind.PING },
    hex: `
      43 57 01 06               # magic, version 1, kind PING
      00 00 00 00               # media type 0, flags 0, media index 0
      00 00 00 00               # seq 0
      00 00 00 00               # payload length 0
      00 00 00 00 00 00 00 00   # session key 0
      00 00 00 00 00 00 00 00   # timestamp 0
      00 00 00 00               # id lengths 0 0 0, reserved
    `,
  },
  { name: 'hello', init: { kind: Kind.HELLO, from: 'cam-1', payload: encodeJson({ role: 'push', agent: 'camwire/0.1' }) } },
  { name: 'welcome', init: { kind: Kind.WELCOME, to: 'cam-1', payload: encodeJson({ agent: 'camwire-server' }) } },
  {
    name: 'data video keyframe, max media index, seq and session key',
    init: {
      kind: Kind.DATA,
      mediaType: MediaType.video,
      flags: Flag.KEYFRAME,
      mediaIndex: 65535,
      seq: 0xffffffff,
      sessionKey: 2n ** 64n - 1n,
      timestamp: 1_700_000_000_123.25,
      from: 'cam-1',
      payload: pattern(100, 2),
    },
  },
  {
    name: 'data video, keyframe and transformed (hand-written hex)',
    init: { kind: Kind.DATA, mediaType: MediaType.video, flags: Flag.KEYFRAME | Flag.TRANSFORMED, seq: 0, from: 'c', payload: Buffer.from([0x01, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0xa5]) },
    hex: `
      43 57 01 03               # magic "CW", version 1, kind DATA
      01                        # media type video
      05                        # flags KEYFRAME | TRANSFORMED
      00 00                     # media index 0
      00 00 00 00               # seq 0
      00 00 00 08               # payload length 8
      00 00 00 00 00 00 00 00   # session key 0
      00 00 00 00 00 00 00 00   # timestamp 0
      01 00 00 00               # from length 1, to 0, group 0, reserved
      63                        # from "c"
      01 00 02 00 01 00 00      # video header: jpeg 2x1, no rect, no name (never transformed)
      a5                        # the transformed image byte
    `,
  },
  { name: 'data audio', init: { kind: Kind.DATA, mediaType: MediaType.audio, seq: 7, payload: pattern(33, 3) } },
  {
    name: 'data command, ack requested',
    init: { kind: Kind.DATA, mediaType: MediaType.command, flags: Flag.ACK_REQUESTED, seq: 1, payload: pattern(12, 4) },
  },
  {
    name: 'data file, both flags',
    init: { kind: Kind.DATA, mediaType: MediaType.file, flags: Flag.KEYFRAME | Flag.ACK_REQUESTED, payload: pattern(9, 5) },
  },
  { name: 'data data, empty payload', init: { kind: Kind.DATA, mediaType: MediaType.data, seq: 2 } },
  { name: 'ack, empty payload', init: { kind: Kind.ACK, mediaType: MediaType.command, seq: 1 } },
  { name: 'nack', init: { kind: Kind.NACK, mediaType: MediaType.file, seq: 3, payload: encodeReason(1201, 'not allowed') } },
  { name: 'pong', init: { kind: Kind.PONG, timestamp: -1.25 } },
  { name: 'close', init: { kind: Kind.CLOSE, payload: encodeReason(1000, 'bye') } },
  {
    name: 'ids of 64 ASCII bytes',
    init: { kind: Kind.DATA, mediaType: MediaType.data, from: ID64_ASCII, to: ID64_ASCII, group: ID64_ASCII, payload: pattern(5, 6) },
  },
  {
    name: 'ids of 64 UTF-8 bytes (4-byte characters)',
    init: { kind: Kind.DATA, mediaType: MediaType.data, from: ID64_UNICODE, to: ID64_UNICODE, group: ID64_UNICODE, payload: pattern(5, 7) },
  },
  {
    name: 'unicode ids',
    init: { kind: Kind.DATA, mediaType: MediaType.command, from: ID_UNICODE, to: 'Ωmega', group: 'グループ', payload: pattern(3, 8) },
  },
  { name: 'only a group id', init: { kind: Kind.DATA, mediaType: MediaType.data, group: 'room', payload: pattern(1, 9) } },
  { name: 'only a to id', init: { kind: Kind.DATA, mediaType: MediaType.data, to: 'viewer', payload: pattern(2, 10) } },
];

/** Options for {@link arbFrameInit}. */
export interface ArbFrameOptions {
  minPayload?: number;
  maxPayload?: number;
}

const arbId = fc
  .oneof(fc.string({ unit: 'grapheme', maxLength: 16 }), fc.string({ unit: 'grapheme-ascii', maxLength: 64 }))
  .filter((s) => Buffer.byteLength(s, 'utf8') <= 64);

/** Any valid FrameInit, every field set. */
export function arbFrameInit(options: ArbFrameOptions = {}): fc.Arbitrary<FrameInit> {
  return fc.record({
    kind: fc.integer({ min: 1, max: 8 }) as fc.Arbitrary<Kind>,
    mediaType: fc.integer({ min: 0, max: 5 }),
    flags: fc.integer({ min: 0, max: 7 }),
    mediaIndex: fc.integer({ min: 0, max: 0xffff }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    sessionKey: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    timestamp: fc.double(),
    from: arbId,
    to: arbId,
    group: arbId,
    payload: fc
      .uint8Array({ minLength: options.minPayload ?? 0, maxLength: options.maxPayload ?? 300 })
      .map((u) => Buffer.from(u)),
  });
}

/** Split points for a buffer of `length` bytes (0..length, duplicates give empty chunks). */
export function arbSplitPoints(length: number, maxCount = 12): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: length }), { maxLength: maxCount });
}

/** A buffer together with split points for it. */
export function withSplits(arb: fc.Arbitrary<Buffer>, maxCount = 12): fc.Arbitrary<[Buffer, number[]]> {
  return arb.chain((b) => arbSplitPoints(b.length, maxCount).map((p): [Buffer, number[]] => [b, p]));
}

/** fast-check parameters: explicit run count; `CW_FC_SEED=<n>` replays a printed seed. */
export function fcParams(numRuns: number): fc.Parameters<unknown> {
  const seed = process.env.CW_FC_SEED;
  return seed === undefined ? { numRuns } : { numRuns, seed: Number(seed) };
}

// ---------------------------------------------------------------- message golden tables

/** A golden video payload: header plus image bytes. `hex` is the encoded header alone. */
export interface VideoCase {
  name: string;
  header: VideoHeader;
  data: Buffer;
  hex?: string;
}

export const VIDEO_CASES: readonly VideoCase[] = [
  {
    name: 'jpeg, no rect',
    header: { imageType: 'jpeg', width: 640, height: 480 },
    data: Buffer.from([0xff, 0xd8, 0xff, 0xd9]),
    hex: `
      01          # image type jpeg
      02 80       # width 640
      01 e0       # height 480
      00          # no rect
      00          # codec name length 0
    `,
  },
  { name: 'hwl', header: { imageType: 'hwl', width: 320, height: 240 }, data: pattern(20, 11) },
  { name: 'bmp', header: { imageType: 'bmp', width: 1, height: 1 }, data: pattern(3, 12) },
  {
    name: 'png with rect',
    header: { imageType: 'png', width: 1920, height: 1080, rect: { x: 10, y: 20, w: 300, h: 400 } },
    data: pattern(50, 13),
    hex: `
      04                        # image type png
      07 80 04 38               # 1920 x 1080
      01                        # has rect
      00 0a 00 14 01 2c 01 90   # x 10, y 20, w 300, h 400
      00                        # codec name length 0
    `,
  },
  {
    name: 'named codec',
    header: { imageType: 'h264', width: 1280, height: 720 },
    data: pattern(40, 14),
    hex: `
      00                # named codec
      05 00 02 d0       # 1280 x 720
      00                # no rect
      04 68 32 36 34    # name "h264"
    `,
  },
  {
    name: 'named codec with rect and unicode name',
    header: { imageType: 'vp9-ü', width: 65535, height: 65535, rect: { x: 65535, y: 0, w: 1, h: 65535 } },
    data: Buffer.alloc(0),
  },
  { name: 'named codec of 255 bytes', header: { imageType: 'c'.repeat(255), width: 0, height: 0 }, data: pattern(2, 15) },
  { name: 'jpeg with empty image', header: { imageType: 'jpeg', width: 2, height: 2 }, data: Buffer.alloc(0) },
];

/** A golden audio payload. `hex` is the encoded header alone. */
export interface AudioCase {
  name: string;
  header: AudioHeader;
  data: Buffer;
  hex?: string;
}

export const AUDIO_CASES: readonly AudioCase[] = [
  {
    name: 'pcm_s16le stereo 48 kHz',
    header: { codec: 'pcm_s16le', sampleRate: 48000, channels: 2 },
    data: pattern(64, 16),
    hex: `
      01            # codec pcm_s16le
      00 00 bb 80   # sample rate 48000
      02            # channels 2
      00            # codec name length 0
    `,
  },
  { name: 'opus mono', header: { codec: 'opus', sampleRate: 48000, channels: 1 }, data: pattern(20, 17) },
  {
    name: 'named codec',
    header: { codec: 'aac', sampleRate: 44100, channels: 2 },
    data: pattern(10, 18),
    hex: `
      00            # named codec
      00 00 ac 44   # sample rate 44100
      02            # channels 2
      03 61 61 63   # name "aac"
    `,
  },
  { name: 'extreme values, empty data', header: { codec: 'opus', sampleRate: 0xffffffff, channels: 255 }, data: Buffer.alloc(0) },
];

/** What decodeCommand must return, with plain (not null-prototype) objects. */
export interface DecodedCommand {
  name: string;
  params: Record<string, ParamValue>;
  types: Record<string, ParamTypeName>;
}

/** A golden command: what is encoded and what the decoder must return. */
export interface CommandCase {
  name: string;
  command: Command;
  decoded: DecodedCommand;
  hex?: string;
}

const bytesView = new Uint8Array([9, 9, 1, 2, 3, 9]).subarray(2, 5);

export const COMMAND_CASES: readonly CommandCase[] = [
  {
    name: 'no params',
    command: { name: 'stop' },
    decoded: { name: 'stop', params: {}, types: {} },
    hex: `
      04 73 74 6f 70   # name "stop"
      00 00            # 0 params
    `,
  },
  {
    name: 'one int',
    command: { name: 'go', params: { n: 1 } },
    decoded: { name: 'go', params: { n: 1 }, types: { n: 'int' } },
    hex: `
      02 67 6f                  # name "go"
      00 01                     # 1 param
      01 6e                     # key "n"
      02                        # type int
      00 00 00 00 00 00 00 01   # int64 1
    `,
  },
  {
    name: 'explicit float 2',
    command: { name: 'f', params: { x: { type: 'float', value: 2 } } },
    decoded: { name: 'f', params: { x: 2 }, types: { x: 'float' } },
    hex: `
      01 66                     # name "f"
      00 01                     # 1 param
      01 78                     # key "x"
      03                        # type float
      40 00 00 00 00 00 00 00   # float64 2.0
    `,
  },
  {
    name: 'every param type',
    command: {
      name: 'move',
      params: {
        s: 'héllo 🎥',
        neg: -5,
        big: 2n ** 60n + 1n,
        f: 1.25,
        yes: true,
        no: false,
        raw: new Uint8Array([0, 1, 255]),
        two: { type: 'float', value: 2 },
      },
    },
    decoded: {
      name: 'move',
      params: {
        s: 'héllo 🎥',
        neg: -5,
        big: 2n ** 60n + 1n,
        f: 1.25,
        yes: true,
        no: false,
        raw: Buffer.from([0, 1, 255]),
        two: 2,
      },
      types: { s: 'string', neg: 'int', big: 'int', f: 'float', yes: 'bool', no: 'bool', raw: 'bytes', two: 'float' },
    },
    hex: `
      04 6d 6f 76 65                      # name "move"
      00 08                               # 8 params
      01 73 01 00 00 00 0b                # "s" string, 11 bytes
      68 c3 a9 6c 6c 6f 20 f0 9f 8e a5    #   "héllo 🎥"
      03 6e 65 67 02                      # "neg" int
      ff ff ff ff ff ff ff fb             #   -5
      03 62 69 67 02                      # "big" int
      10 00 00 00 00 00 00 01             #   2^60 + 1
      01 66 03                            # "f" float
      3f f4 00 00 00 00 00 00             #   1.25
      03 79 65 73 04 01                   # "yes" bool true
      02 6e 6f 04 00                      # "no" bool false
      03 72 61 77 05 00 00 00 03 00 01 ff # "raw" bytes [0, 1, 255]
      03 74 77 6f 03                      # "two" float
      40 00 00 00 00 00 00 00             #   2.0
    `,
  },
  {
    name: 'int boundaries: safe integers stay numbers, larger ones are bigints',
    command: {
      name: 'ints',
      params: {
        maxSafe: Number.MAX_SAFE_INTEGER,
        minSafe: Number.MIN_SAFE_INTEGER,
        aboveSafe: 2n ** 53n,
        belowSafe: -(2n ** 53n),
        numberAboveSafe: 2 ** 60,
        min64: -(2n ** 63n),
        max64: 2n ** 63n - 1n,
        smallBigint: 7n,
        zero: 0,
      },
    },
    decoded: {
      name: 'ints',
      params: {
        maxSafe: Number.MAX_SAFE_INTEGER,
        minSafe: Number.MIN_SAFE_INTEGER,
        aboveSafe: 2n ** 53n,
        belowSafe: -(2n ** 53n),
        numberAboveSafe: 2n ** 60n,
        min64: -(2n ** 63n),
        max64: 2n ** 63n - 1n,
        smallBigint: 7,
        zero: 0,
      },
      types: {
        maxSafe: 'int',
        minSafe: 'int',
        aboveSafe: 'int',
        belowSafe: 'int',
        numberAboveSafe: 'int',
        min64: 'int',
        max64: 'int',
        smallBigint: 'int',
        zero: 'int',
      },
    },
  },
  {
    name: 'special floats',
    command: { name: 'floats', params: { nan: NaN, inf: Infinity, ninf: -Infinity, tiny: 5e-324, negZero: { type: 'float', value: -0 } } },
    decoded: {
      name: 'floats',
      params: { nan: NaN, inf: Infinity, ninf: -Infinity, tiny: 5e-324, negZero: -0 },
      types: { nan: 'float', inf: 'float', ninf: 'float', tiny: 'float', negZero: 'float' },
    },
  },
  {
    name: 'explicit types',
    command: {
      name: 'typed',
      params: {
        i: { type: 'int', value: 3n },
        s: { type: 'string', value: 'x' },
        b: { type: 'bool', value: false },
        by: { type: 'bytes', value: Buffer.from('ab') },
        iFromNumber: { type: 'int', value: -42 },
      },
    },
    decoded: {
      name: 'typed',
      params: { i: 3, s: 'x', b: false, by: Buffer.from('ab'), iFromNumber: -42 },
      types: { i: 'int', s: 'string', b: 'bool', by: 'bytes', iFromNumber: 'int' },
    },
  },
  {
    name: 'empty values, unicode keys and a bytes view with an offset',
    command: { name: 'Ω', params: { '': '', 'ключ': new Uint8Array(0), view: bytesView } },
    decoded: {
      name: 'Ω',
      params: { '': '', 'ключ': Buffer.alloc(0), view: Buffer.from([1, 2, 3]) },
      types: { '': 'string', 'ключ': 'bytes', view: 'bytes' },
    },
  },
  {
    name: 'names of 255 bytes',
    command: { name: 'n'.repeat(255), params: { ['k'.repeat(255)]: 'v' } },
    decoded: { name: 'n'.repeat(255), params: { ['k'.repeat(255)]: 'v' }, types: { ['k'.repeat(255)]: 'string' } },
  },
];

/** A golden file message; `hex` is the full encoding (header plus chunk data). */
export interface FileCase {
  name: string;
  message: FileMessage;
  hex?: string;
}

const SHA256_EMPTY = Buffer.from('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex');

export const FILE_CASES: readonly FileCase[] = [
  {
    name: 'start',
    message: { op: 'start', fileId: 7, name: 'a.bin', totalSize: 1000, offset: 0 },
    hex: `
      01                  # op START
      00 00 00 07         # file id 7
      00 00 00 00 03 e8   # total size 1000 (48-bit)
      00 00 00 00 00 00   # offset 0
      00 05               # name length 5
      61 2e 62 69 6e      # "a.bin"
    `,
  },
  {
    name: 'start resuming at the end of a 2^48-1 byte file, unicode name',
    message: { op: 'start', fileId: 0xffffffff, name: 'vidéo/📁.mp4', totalSize: MAX_U48, offset: MAX_U48 },
  },
  { name: 'start with a 1024-byte name', message: { op: 'start', fileId: 0, name: 'x'.repeat(1024), totalSize: 5, offset: 3 } },
  {
    name: 'chunk',
    message: { op: 'chunk', fileId: 7, offset: 512, data: Buffer.from('xyz') },
    hex: `
      02                  # op CHUNK
      00 00 00 07         # file id 7
      00 00 00 00 02 00   # offset 512
      78 79 7a            # data "xyz"
    `,
  },
  { name: 'chunk, empty, max offset', message: { op: 'chunk', fileId: 1, offset: MAX_U48, data: Buffer.alloc(0) } },
  {
    name: 'end',
    message: { op: 'end', fileId: 7, totalSize: 0, sha256: SHA256_EMPTY },
    hex: `
      03                                                # op END
      00 00 00 07                                       # file id 7
      00 00 00 00 00 00                                 # total size 0
      e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24   # sha256("")
      27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55
    `,
  },
  {
    name: 'abort',
    message: { op: 'abort', fileId: 7, reason: 'disk full' },
    hex: `
      04                              # op ABORT
      00 00 00 07                     # file id 7
      00 09                           # reason length 9
      64 69 73 6b 20 66 75 6c 6c      # "disk full"
    `,
  },
  { name: 'abort without a reason', message: { op: 'abort', fileId: 8, reason: '' } },
];

export const HELLO_CASES: readonly { name: string; hello: Hello }[] = [
  { name: 'push', hello: { role: 'push' } },
  { name: 'pull with agent', hello: { role: 'pull', agent: 'camwire/0.1.0' } },
  { name: 'full auth', hello: { role: 'push', agent: 'x', auth: { user: 'u', password: 'p', token: 't' } } },
  { name: 'empty auth', hello: { role: 'pull', auth: {} } },
];

export const WELCOME_CASES: readonly { name: string; welcome: Welcome }[] = [
  { name: 'empty', welcome: {} },
  { name: 'agent', welcome: { agent: 'camwire-server/0.1.0' } },
];

export const REASON_CASES: readonly { name: string; code: number; reason: string; hex?: string }[] = [
  {
    name: 'protocol error',
    code: 1100,
    reason: 'bad',
    hex: `
      04 4c      # code 1100
      62 61 64   # "bad"
    `,
  },
  { name: 'empty reason', code: 1000, reason: '' },
  { name: 'max code, unicode reason', code: 65535, reason: 'adiós 👋' },
  { name: 'reason of 1024 bytes', code: 1500, reason: 'r'.repeat(1024) },
];

export const ACK_CASES: readonly { name: string; resumeOffset?: number; hex: string }[] = [
  { name: 'plain', hex: '' },
  { name: 'resume at 0', resumeOffset: 0, hex: '00 00 00 00 00 00' },
  { name: 'resume at 0x010203040506', resumeOffset: 0x010203040506, hex: '01 02 03 04 05 06' },
  { name: 'resume at 2^48-1', resumeOffset: MAX_U48, hex: 'ff ff ff ff ff ff' },
];

/** Turns decodeCommand's null-prototype records into plain objects for deepStrictEqual. */
export function plainCommand(c: { name: string; params: Record<string, ParamValue>; types: Record<string, ParamTypeName> }): DecodedCommand {
  return { name: c.name, params: { ...c.params }, types: { ...c.types } };
}
