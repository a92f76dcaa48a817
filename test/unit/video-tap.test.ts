/**
 * A server's video tap decodes the media header of a large frame that spanned reads without
 * joining its payload; the image bytes are joined only when a tap reads `data`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../../src/errors.js';
import { Flag, Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer, type Frame } from '../../src/protocol/frame.js';
import { encodeVideoHeader } from '../../src/protocol/messages.js';
import { FrameParser } from '../../src/protocol/parser.js';
import { videoTap } from '../../src/server/video-tap.js';

/** The frames a parser makes of `wire` cut into pieces of `cut` bytes. */
function parse(wire: Buffer, cut: number): Frame[] {
  const out: Frame[] = [];
  const p = new FrameParser({ onFrame: (f) => out.push(f), onError: (e) => assert.fail(e) });
  for (let i = 0; i < wire.length; i += cut) p.push(Buffer.from(wire.subarray(i, i + cut)));
  return out;
}

/** Counts reads of `f.payload`. */
function countPayloadReads(f: Frame): () => number {
  let n = 0;
  let d: PropertyDescriptor | undefined;
  for (let o: object | null = f; o && !d; o = Object.getPrototypeOf(o)) d = Object.getOwnPropertyDescriptor(o, 'payload');
  const get = d!.get ? d!.get.bind(f) : () => d!.value as Buffer;
  Object.defineProperty(f, 'payload', { configurable: true, enumerable: true, get: () => (n++, get()) });
  return () => n;
}

function videoWire(image: Buffer, o: { rect?: { x: number; y: number; w: number; h: number }; imageType?: string } = {}): Buffer {
  return encodeFrameBuffer({
    kind: Kind.DATA,
    mediaType: MediaType.video,
    flags: Flag.KEYFRAME,
    mediaIndex: 2,
    timestamp: 1234,
    from: 'cam',
    prefix: encodeVideoHeader({ imageType: o.imageType ?? 'jpeg', width: 640, height: 480, ...(o.rect ? { rect: o.rect } : {}) }),
    payload: image,
  });
}

test('video tap - a frame that spanned reads: header and size without joining, data joined once on read', () => {
  const image = Buffer.alloc(200_000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7) & 0xff;
  const rect = { x: 1, y: 2, w: 3, h: 4 };
  // Cut right inside the media header too: its bytes come from two reads.
  for (const cut of [36 + 3 + 4, 65536]) {
    const [f] = parse(videoWire(image, { rect, imageType: 'avc1.42E01E' }), cut);
    assert.ok(Array.isArray(f.raw), 'the parser handed views of the reads');
    const reads = countPayloadReads(f);
    const v = videoTap('cam', f);
    assert.equal(reads(), 0, 'the payload was not joined for the header');
    assert.deepEqual(
      { from: v.from, mediaIndex: v.mediaIndex, imageType: v.imageType, width: v.width, height: v.height, keyframe: v.keyframe, transformed: v.transformed, timestamp: v.timestamp, size: v.size, rect: v.rect },
      { from: 'cam', mediaIndex: 2, imageType: 'avc1.42E01E', width: 640, height: 480, keyframe: true, transformed: false, timestamp: 1234, size: image.length, rect },
    );
    assert.deepEqual(v.data, image);
    assert.equal(v.data, v.data, 'joined once');
    assert.equal(reads(), 1);
  }
});

test('video tap - a frame in one piece is a view, as before', () => {
  const image = Buffer.from('not really a jpeg');
  const [f] = parse(videoWire(image), 1 << 20);
  const v = videoTap('cam', f);
  assert.deepEqual(v.data, image);
  assert.equal(v.size, image.length);
  assert.equal(v.data.buffer, f.payload.buffer, 'a view of the frame, no copy');
});

test('video tap - a header that does not decode throws the ProtocolError decodeVideo throws', () => {
  // A named codec whose name is longer than the payload; an unknown image type in a frame that spanned reads.
  for (const [payload, cut] of [
    [Buffer.from([0, 0, 1, 0, 1, 0, 200, 0x61]), 1 << 20],
    [Buffer.concat([Buffer.from([9, 0, 1, 0, 1, 0, 0]), Buffer.alloc(100_000)]), 65536],
  ] as const) {
    const [f] = parse(encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.video, from: 'cam', payload }), cut);
    assert.throws(() => videoTap('cam', f), ProtocolError);
  }
});
