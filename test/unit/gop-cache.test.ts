/**
 * GopCaches on its own: what a reader that starts on a batch is offered, the bounds, and the
 * release of a client's caches when it stops sending.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Flag, Kind, MediaType, type FrameInit } from '../../src/internal.js';
import { FrameBatch } from '../../src/protocol/fan-encoding.js';
import { GopCaches } from '../../src/server/gop-cache.js';
import type { Client } from '../../src/server/client.js';
import type { Reader } from '../../src/server/router.js';

function frame(name: string, key: boolean, mediaIndex = 0, bytes = 0): FrameInit {
  return { kind: Kind.DATA, mediaType: MediaType.video, flags: key ? Flag.KEYFRAME : 0, mediaIndex, from: 'cam', payload: bytes ? Buffer.alloc(bytes, 1) : Buffer.from(name) };
}

function batch(...frames: FrameInit[]): FrameBatch {
  const b = new FrameBatch('', '');
  for (const f of frames) b.add(f, f.payload!.length);
  return b;
}

/** A reader that records what it is offered (a whole batch as its frames). */
function reader(): Reader & { got: string[] } {
  const got: string[] = [];
  return {
    got,
    offer: (f) => (got.push(f.payload!.toString()), 0),
    offerBatch: (b) => (b.frames.forEach((f) => got.push(f.payload!.toString())), 0),
    submit: () => Promise.reject(new Error('not for video')),
  };
}

test('gop cache unit - a reader starting on a delta gets the cached keyframe and deltas first; one starting on a keyframe only the batch', () => {
  const g = new GopCaches({ maxFrames: 300, maxBytes: 1 << 20 });
  const cam = {} as Client;
  const early = reader();
  g.begin(cam, batch(frame('k0', true), frame('d1', false))).offer(early);
  const late = reader();
  const d = g.begin(cam, batch(frame('d2', false), frame('d3', false)));
  d.offer(early);
  d.offer(late);
  assert.deepEqual(early.got, ['k0', 'd1', 'd2', 'd3']);
  assert.deepEqual(late.got, ['k0', 'd1', 'd2', 'd3'], 'the cache before the batch, then the batch');
  // A batch with a new keyframe in the middle: a new reader starts at it (no stale deltas).
  const third = reader();
  g.begin(cam, batch(frame('d4', false), frame('k5', true), frame('d6', false))).offer(third);
  assert.deepEqual(third.got, ['k0', 'd1', 'd2', 'd3', 'd4', 'k5', 'd6'], 'starting on d4: the cache up to d3 first');
  assert.deepEqual(g.snapshot(cam, 0).map((f) => f.payload!.toString()), ['k5', 'd6']);
});

test('gop cache unit - without a cache a reader waits for the keyframe; sources are separate', () => {
  const g = new GopCaches({ maxFrames: 0, maxBytes: 0 });
  const cam = {} as Client;
  g.begin(cam, batch(frame('k0', true)));
  const r = reader();
  g.begin(cam, batch(frame('d1', false), frame('x0', true, 1), frame('k2', true), frame('d3', false))).offer(r);
  assert.deepEqual(r.got, ['x0', 'k2', 'd3']);
  assert.equal(g.bytes, 0);
});

test('gop cache unit - bytes are bounded per client and in total, and released when the client stops sending', () => {
  const g = new GopCaches({ maxFrames: 300, maxBytes: 10_000 });
  const a = {} as Client;
  const b = {} as Client;
  g.begin(a, batch(frame('', true, 0, 4000), frame('', false, 0, 4000)));
  g.begin(a, batch(frame('', true, 1, 4000)));
  assert.equal(g.snapshot(a, 1).length, 0, "over a's 10 000 bytes: source 1 is not kept");
  assert.equal(g.bytes, 8000);
  g.begin(b, batch(frame('', true, 0, 3000)));
  assert.equal(g.bytes, 11_000);
  g.forget(a);
  assert.equal(g.bytes, 3000);
  assert.deepEqual(g.snapshot(a, 0), []);
  // A keyframe replaces the group: the bytes go down with it.
  g.begin(b, batch(frame('', true, 0, 100)));
  assert.equal(g.bytes, 100);
});

test('gop cache unit - at most 64 sources per client, the least recently seen forgotten', () => {
  const g = new GopCaches({ maxFrames: 300, maxBytes: 1 << 20 });
  const a = {} as Client;
  for (let mi = 0; mi < 70; mi++) g.begin(a, batch(frame('', true, mi, 10)));
  assert.deepEqual(g.snapshot(a, 0), [], 'source 0 was forgotten');
  assert.equal(g.snapshot(a, 69).length, 1);
  assert.equal(g.bytes, 64 * 10);
});

test('gop cache unit - a cluster group: a live reader takes frames as they come; the frames of a group are listed per source; stale ones forgotten start readers again at a keyframe', () => {
  const g = new GopCaches({ maxFrames: 300, maxBytes: 1 << 20 });
  const cam = {} as Client;
  const to = (f: FrameInit, group: string): FrameInit => ({ ...f, group });
  g.begin(cam, batch(to(frame('k0', true), 'room'), to(frame('d1', false), 'room'), to(frame('x0', true, 1), 'other')));
  // A reader that stands for other nodes is never sent the cached frames (they ask for them).
  const live = reader();
  g.live(live);
  g.begin(cam, batch(to(frame('d2', false), 'room'))).offer(live);
  assert.deepEqual(live.got, ['d2']);
  // What a catch-up answer sends for 'room': its source's frames, keyframe first; not the other group's.
  assert.deepEqual(g.groupFrames(cam, 'room').map((s) => s.map((f) => f.payload!.toString())), [['k0', 'd1', 'd2']]);
  assert.deepEqual(g.groupFrames({} as Client, 'room'), []);
  assert.equal(g.holds(cam, 0), true);
  assert.equal(g.holds(cam, 2), false);
  // A reader started on the group's source; the group's frames go stale (its node stopped receiving it).
  const r = reader();
  g.begin(cam, batch(to(frame('d3', false), 'room'))).offer(r);
  assert.deepEqual(r.got, ['k0', 'd1', 'd2', 'd3']);
  g.forgetGroup(cam, 'room');
  assert.equal(g.holds(cam, 0), false);
  assert.equal(g.holds(cam, 1), true, 'the other group keeps its frames');
  // Deltas after the gap reach nobody who has to start again, the reader included; the next keyframe starts it.
  g.begin(cam, batch(to(frame('d7', false), 'room'), to(frame('k8', true), 'room'))).offer(r);
  assert.deepEqual(r.got, ['k0', 'd1', 'd2', 'd3', 'k8']);
});

test('gop cache unit - a cluster address list: its live reader takes each frame once, as it comes; each addressee that has not started gets the cached frames alone, once, as one batch; one starting at a keyframe gets nothing', () => {
  const g = new GopCaches({ maxFrames: 300, maxBytes: 1 << 20 });
  const cam = {} as Client;
  const bob = reader();
  const carol = reader();
  const list = reader();
  const batches: number[] = [];
  const counted = (r: Reader & { got: string[] }): Reader => ({ ...r, offerBatch: (b) => (batches.push(b.frames.length), r.offerBatch(b)) });
  let addressees: Reader[] = [];
  g.live(list, () => addressees);
  // bob's start: the list's first batch holds a keyframe; nothing goes to bob alone.
  const bobs = counted(bob);
  addressees = [bobs];
  g.begin(cam, batch(frame('k0', true), frame('d1', false))).offer(list);
  assert.deepEqual([list.got, bob.got], [['k0', 'd1'], []]);
  // carol comes: the next list (a new reader standing for bob and carol) takes the batch only; carol alone the cache before it.
  const list2 = reader();
  const carols = counted(carol);
  addressees = [bobs, carols];
  g.live(list2, () => addressees);
  g.begin(cam, batch(frame('d2', false), frame('x0', true, 1))).offer(list2);
  assert.deepEqual(list2.got, ['d2', 'x0'], 'each frame once, as it comes');
  assert.deepEqual(bob.got, [], 'bob started already: nothing twice');
  assert.deepEqual(carol.got, ['k0', 'd1'], 'carol: the cached frames before the batch');
  assert.deepEqual(batches, [2], 'in one batch');
  g.begin(cam, batch(frame('d3', false))).offer(list2);
  assert.deepEqual(carol.got, ['k0', 'd1'], 'once');
  // No cache (a delta first): nobody is started; a keyframe later in the batch starts them where it is.
  const dan = reader();
  addressees = [dan];
  g.begin(cam, batch(frame('y0', false, 2), frame('y1', true, 2))).offer(list2);
  g.begin(cam, batch(frame('y2', false, 2))).offer(list2);
  assert.deepEqual(dan.got, [], 'started at y1 (in the list), not sent y1 again');
});
