/**
 * The fan-out bench's wire readers (bench/fanout-readers.ts): what the benchmark's figures rest
 * on. Frames as the MediaServer and the raw relay send them, split at every boundary and at
 * random ones, must come out with the stamp, seq, run and length they were sent with, whether
 * the reader reads them in place (a whole prefix in one read) or byte by byte across reads.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Flag, Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer, encodeHeader } from '../../src/protocol/frame.js';
import { encodeVideoHeader } from '../../src/protocol/messages.js';
import { STAMP, WireReader, type FrameSink, type Tracked } from '../../bench/fanout-readers.js';
import { fcParams, splitAt } from '../helpers/protocol-fixtures.js';

interface Sent {
  stamp: number;
  seq: number;
  run: number;
  /** The image data's length (the stamp included). */
  len: number;
}

interface VideoCase extends Sent {
  from: string;
  to: string;
  group: string;
  rect: boolean;
  /** A named codec (its name travels in the video header) or jpeg (a code). */
  codec: string;
}

function stampOf(s: Sent): Buffer {
  const p = Buffer.alloc(s.len, 0xa5);
  if (s.len >= STAMP) {
    p.writeDoubleLE(s.stamp, 0);
    p.writeUInt32LE(s.seq, 8);
    p.writeUInt32LE(s.run, 12);
  }
  return p;
}

/** A DATA video frame as the MediaServer sends it: fixed header, ids, video header, image data. */
function camwireFrame(c: VideoCase): Buffer {
  const vh = encodeVideoHeader({ imageType: c.codec, width: 640, height: 360, rect: c.rect ? { x: 1, y: 2, w: 3, h: 4 } : undefined });
  const data = stampOf(c);
  // The length given is the image data's: encodeHeader counts the video header (its prefix) in.
  const head = encodeHeader({ kind: Kind.DATA, mediaType: MediaType.video, flags: Flag.KEYFRAME, seq: 7, sessionKey: 99n, timestamp: 1, from: c.from, to: c.to, group: c.group }, data.length, vh);
  return Buffer.concat([head, data]);
}

/** A frame as the raw relay sends it: a 4-byte length, then the data. */
function rawFrame(s: Sent): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(s.len);
  return Buffer.concat([len, stampOf(s)]);
}

/** A reader with a recorder for a sink, and a socket that takes the PONGs it writes. */
function reader(cw: boolean): { r: WireReader; got: Sent[]; problems: string[]; pongs: Buffer[] } {
  const got: Sent[] = [];
  const problems: string[] = [];
  const pongs: Buffer[] = [];
  const sink: FrameSink = {
    // A frame too short for a stamp is reported with run -1 (never counted); its other fields are stale.
    frame: (_r: Tracked, _now: number, stamp: number, seq: number, run: number, len: number) => void got.push(run === -1 ? { stamp: 0, seq: 0, run, len } : { stamp, seq, run, len }),
    problem: (p: string) => void problems.push(p),
  };
  const r = new WireReader(sink, { i: 0, port: 0, id: 'r0', fast: true }, cw, 5n);
  r.sock = { write: (b: Buffer) => pongs.push(Buffer.from(b)), destroy: () => undefined } as unknown as WireReader['sock'];
  return { r, got, problems, pongs };
}

/** What the reader reports for a frame (as recorded above). */
function expected(s: Sent): Sent {
  return s.len >= STAMP ? { stamp: s.stamp, seq: s.seq, run: s.run, len: s.len } : { stamp: 0, seq: 0, run: -1, len: s.len };
}

/** Feeds `stream` in `pieces`, each copied into one shared read buffer at offset 0 (as net's onread does). */
function feedShared(r: WireReader, pieces: Buffer[]): void {
  const shared = Buffer.alloc(Math.max(1, ...pieces.map((p) => p.length)));
  for (const p of pieces) {
    p.copy(shared, 0);
    r.push(shared, 0, p.length);
  }
}

const VIDEO: VideoCase[] = [
  { stamp: 1.5e12 + 0.25, seq: 1, run: 3, len: 1024, from: 'pub', to: '', group: '', rect: false, codec: 'jpeg' },
  { stamp: 1.5e12 + 1.75, seq: 2, run: 3, len: STAMP, from: 'pub', to: 'r0', group: 'room', rect: true, codec: 'jpeg' },
  { stamp: 2, seq: 0xffffffff, run: 0x80000001, len: 40, from: 'a-longer-client-id', to: '', group: 'g', rect: false, codec: 'h265-test' },
  { stamp: 3, seq: 4, run: 3, len: STAMP - 1, from: 'pub', to: '', group: '', rect: true, codec: 'av1x' },
  { stamp: -0, seq: 5, run: 3, len: 3000, from: 'p', to: 'x', group: '', rect: true, codec: 'vp9-named' },
];

describe('fan-out bench wire readers', () => {
  test('camwire frames (with a PING among them) split at every point: the same stamps, seqs, runs and lengths, one PONG', () => {
    const ping = encodeFrameBuffer({ kind: Kind.PING, mediaType: MediaType.video, sessionKey: 1n, timestamp: 12345.5 });
    const stream = Buffer.concat([camwireFrame(VIDEO[0]), camwireFrame(VIDEO[1]), ping, ...VIDEO.slice(2).map(camwireFrame)]);
    for (let at = 0; at <= stream.length; at++) {
      const { r, got, problems, pongs } = reader(true);
      feedShared(r, splitAt(stream, [at]));
      assert.deepEqual(got, VIDEO.map(expected), `split at ${at}`);
      assert.deepEqual(problems, []);
      assert.equal(pongs.length, 1, `split at ${at}`);
      assert.equal(pongs[0].readDoubleBE(24), 12345.5);
    }
  });

  test('raw frames split at every point', () => {
    const sent: Sent[] = [
      { stamp: 10.5, seq: 1, run: 2, len: 1024 },
      { stamp: 11.5, seq: 2, run: 2, len: STAMP },
      { stamp: 12.5, seq: 3, run: 2, len: 3 },
      { stamp: 13.5, seq: 4, run: 2, len: 0 },
      { stamp: 14.5, seq: 0xfffffffe, run: 0xffffffff, len: 100 },
    ];
    const stream = Buffer.concat(sent.map(rawFrame));
    for (let at = 0; at <= stream.length; at++) {
      const { r, got, problems } = reader(false);
      feedShared(r, splitAt(stream, [at]));
      assert.deepEqual(got, sent.map(expected), `split at ${at}`);
      assert.deepEqual(problems, []);
    }
  });

  test('any frames, any reads (property)', () => {
    const sentArb = fc.record({
      stamp: fc.double({ noNaN: true }),
      seq: fc.nat({ max: 0xffffffff }),
      run: fc.nat({ max: 0xffffffff }),
      len: fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: 70_000 })),
    });
    const videoArb = fc.record({
      s: sentArb,
      from: fc.string({ minLength: 1, maxLength: 20 }),
      to: fc.string({ maxLength: 20 }),
      group: fc.string({ maxLength: 20 }),
      rect: fc.boolean(),
      codec: fc.constantFrom('jpeg', 'png', 'h264-x', 'a-much-longer-codec-name'),
    });
    fc.assert(
      fc.property(fc.boolean(), fc.array(videoArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (cw, cases, cuts) => {
        const frames: VideoCase[] = cases.map((c) => ({ ...c.s, from: c.from, to: c.to, group: c.group, rect: c.rect, codec: c.codec }));
        const stream = Buffer.concat(frames.map((f) => (cw ? camwireFrame(f) : rawFrame(f))));
        const { r, got, problems } = reader(cw);
        feedShared(r, splitAt(stream, cuts.map((c) => c % (stream.length + 1))));
        assert.deepEqual(problems, []);
        assert.deepEqual(got, frames.map(expected));
      }),
      fcParams(300),
    );
  });
});
