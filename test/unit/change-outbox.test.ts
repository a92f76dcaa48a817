/**
 * The latest-wins video queue with change-detection rectangles: a rectangle is never replaced,
 * a source that falls behind is resynchronised with a full frame it asks for, and a rectangle
 * never goes before its source's keyframe.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Flag, Kind, VideoOutbox, type FrameInit } from '../../src/internal.js';
import { videoHasRect } from '../../src/media/media-outbox.js';
import { encodeVideoHeader } from '../../src/protocol/messages.js';

let n = 0;
/** A video frame as a Sender queues it: the media header in `prefix`. */
function vf(from: string, key: boolean, rect = !key, bytes = 100, mediaIndex = 0): FrameInit {
  const prefix = encodeVideoHeader({ imageType: 'jpeg', width: 640, height: 480, rect: rect ? { x: 0, y: 0, w: 8, h: 8 } : undefined });
  return { kind: Kind.DATA, mediaType: 1, from, mediaIndex, flags: key ? Flag.KEYFRAME : 0, seq: ++n, prefix, payload: Buffer.alloc(bytes) };
}

/** The same as a MediaServer forwards it: header and image in `payload`. */
function relayed(f: FrameInit): FrameInit {
  return { ...f, prefix: undefined, payload: Buffer.concat([f.prefix!, f.payload!]) };
}

function drain(v: VideoOutbox): number[] {
  const out: number[] = [];
  for (let f = v.next(); f; f = v.next()) out.push(f.seq!);
  return out;
}

describe('VideoOutbox with rectangles', () => {
  test('videoHasRect reads the header from the prefix or the payload', () => {
    assert.equal(videoHasRect(vf('a', true)), false);
    assert.equal(videoHasRect(vf('a', false)), true);
    assert.equal(videoHasRect(relayed(vf('a', false))), true);
    assert.equal(videoHasRect(relayed(vf('a', true))), false);
  });

  test('rectangles queue behind their source\'s waiting frame, in order; nothing is dropped', () => {
    const asked: string[] = [];
    const v = new VideoOutbox(Infinity, (f) => asked.push(f.from!));
    const key = vf('a', true);
    const r = [vf('a', false), vf('a', false), vf('a', false)];
    v.offer(key);
    for (const f of r) v.offer(f);
    const b = vf('b', true);
    v.offer(b);
    // Round-robin between sources: a's keyframe, b's frame, then a's rectangles in order.
    assert.deepEqual(drain(v), [key.seq, b.seq, ...r.map((f) => f.seq)]);
    assert.equal(v.dropped, 0);
    assert.deepEqual(asked, []);
  });

  test('a keyframe replaces the source\'s waiting frame and rectangles', () => {
    const v = new VideoOutbox();
    v.offer(vf('a', true));
    v.offer(vf('a', false));
    v.offer(vf('a', false));
    const k2 = vf('a', true);
    v.offer(k2);
    assert.deepEqual(drain(v), [k2.seq]);
    assert.equal(v.dropped, 3);
  });

  test('a rectangle before its source\'s keyframe is dropped and a full frame asked for (late joiner)', () => {
    const asked: number[] = [];
    const v = new VideoOutbox(Infinity, (f) => asked.push(f.mediaIndex ?? 0));
    const orphan = relayed(vf('a', false, true, 100, 2));
    assert.equal(v.canSkipQueue(orphan), false);
    assert.equal(v.offer(orphan), 1);
    assert.deepEqual(asked, [2]);
    assert.equal(v.offer(relayed(vf('a', false, true, 100, 2))), 1, 'still waiting: dropped, not asked again at once');
    assert.deepEqual(asked, [2]);
    const key = relayed(vf('a', true, false, 100, 2));
    // The keyframe takes the queue, which ends the wait; rectangles may follow it.
    assert.equal(v.canSkipQueue(key), false);
    v.offer(key);
    assert.deepEqual(drain(v), [key.seq]);
    assert.equal(v.canSkipQueue(relayed(vf('a', false, true, 100, 2))), true);
  });

  test('a chain over 64 rectangles drops the source\'s deltas until a keyframe, which it asks for', () => {
    const asked: string[] = [];
    const v = new VideoOutbox(Infinity, (f) => asked.push(f.from!));
    v.offer(vf('a', true));
    for (let i = 0; i < 64; i++) v.offer(vf('a', false));
    assert.deepEqual(asked, []);
    v.offer(vf('a', false));
    assert.deepEqual(asked, ['a']);
    assert.equal(v.dropped, 66);
    assert.deepEqual(drain(v), []);
    v.offer(vf('a', false));
    assert.equal(v.dropped, 67);
    const k = vf('a', true);
    v.offer(k);
    assert.deepEqual(drain(v), [k.seq]);
  });

  test('the byte cap drops a rectangle source whole and asks for its keyframe; the newest frame stays', () => {
    const asked: string[] = [];
    const v = new VideoOutbox(350, (f) => asked.push(f.from!));
    v.offer(vf('a', true));
    v.offer(vf('a', false));
    const b = vf('b', true, false, 200);
    v.offer(b);
    assert.deepEqual(asked, ['a']);
    assert.deepEqual(drain(v), [b.seq]);
    v.offer(vf('a', false));
    assert.deepEqual(drain(v), [], 'a waits for its keyframe');
  });
});
