/**
 * The composer's full frames (docs/api.md, "Change-detection video"): a frame already in the
 * output's format goes out in the turn it arrived; one overtaken while it waits behind a decode is
 * counted, never dropped silently.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessageMeta, VideoFrame } from '../../src/events.js';
import { VideoComposer } from '../../src/media/change/video-composer.js';
import { png } from '../helpers/pictures.js';
import { EventEmitter } from 'node:events';
import { once } from '../helpers/wait.js';

function meta(seq: number): MessageMeta {
  return { from: 'cam', to: '', group: '', mediaIndex: 0, remoteSessionKey: 1n, seq, timestamp: 0, transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 1 } as MessageMeta;
}

function full(data: Buffer, imageType: string, timestamp: number): VideoFrame {
  return { data, imageType, width: 8, height: 8, keyframe: true, timestamp };
}

test('composer - full frames in the output format, several in one turn: each delivered at once, in order', async () => {
  const out: number[] = [];
  const c = new VideoComposer({ output: 'png', quality: 80, ignoreCorruptedFrames: false }, (v) => out.push(v.timestamp), () => {});
  const img = await png(8, 8, 100);
  for (let i = 0; i < 5; i++) c.handle(full(img, 'png', i), meta(0));
  assert.deepEqual(out, [0, 1, 2, 3, 4], 'every frame delivered within the turn it was handed over');
  assert.equal(c.stats.pictures, 5);
  assert.equal(c.stats.superseded, 0);
  c.dispose();
});

test('composer - a full frame that must be decoded and is overtaken by a newer one is counted as superseded', async () => {
  const pictures = new EventEmitter();
  const c = new VideoComposer({ output: 'jpeg', quality: 80, ignoreCorruptedFrames: false }, (v) => pictures.emit('picture', v), () => {});
  const [a, b] = await Promise.all([png(8, 8, 10), png(8, 8, 200)]);
  const shown = once<[VideoFrame]>(pictures, 'picture', 10_000, () => true, 'the composed picture');
  c.handle(full(a, 'png', 1), meta(0));
  c.handle(full(b, 'png', 2), meta(0));
  const [v] = await shown;
  assert.equal(c.stats.superseded, 1, 'the older frame is counted');
  assert.equal(c.stats.pictures, 1);
  assert.equal(v.imageType, 'jpeg');
  assert.equal(v.timestamp, 2, 'the newest frame is the one shown');
  c.dispose();
});
