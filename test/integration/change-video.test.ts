/**
 * Change-detection video end to end: a Sender in change mode sends only the changed rectangles
 * of raw frames, a Receiver composes them into the same picture (PNG, lossless, so the pictures
 * compare byte for byte), directly (push and pull) and through a MediaServer, where a reader
 * that joins late gets a full frame before any rectangle.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Receiver, Sender, type MessageMeta, type VideoFrame } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { until } from '../helpers/wait.js';
import { rgbaToRgb, ScreenScene } from '../helpers/screen-scene.js';
import { composingPair, pictures, png, shows } from '../helpers/pictures.js';
import { startClient, startServer } from '../helpers/server-client.js';

const W = 320;
const H = 200;

test('change mode, push over TCP: rectangles composed into the sent picture; unchanged frames are not sent', async (t) => {
  const { rx, tx, seen } = await composingPair(t, { tx: { video: { encoding: 'change', imageType: 'png' } } });
  const scene = new ScreenScene({ width: W, height: H, cursor: 32, fps: 4 });

  const first = await tx.sendVideoPixels(scene.frame(0), { width: W, height: H, format: 'rgba' });
  assert.equal(first.sent, 'full');
  await shows(rx, seen, rgbaToRgb(scene.frame(0)), 'the first full frame');
  let rectBytes = 0;
  for (let n = 1; n <= 12; n++) {
    const r = await tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' });
    assert.equal(r.sent, 'rects', `frame ${n}`);
    rectBytes += r.bytes;
    await shows(rx, seen, rgbaToRgb(scene.frame(n)), `frame ${n}`);
  }
  const items = tx.stats.sent.video.items;
  assert.deepEqual(await tx.sendVideoPixels(scene.frame(12), { width: W, height: H, format: 'rgba' }), { sent: 'unchanged', rects: 0, bytes: 0 });
  assert.equal(tx.stats.sent.video.items, items, 'an identical frame sends nothing');
  assert.ok(rectBytes < first.bytes * 12, `12 updates took ${rectBytes} bytes, one full frame ${first.bytes}`);
  assert.deepEqual({ ...tx.stats.pixels }, { frames: 14, full: 1, rects: 12, unchanged: 1, skipped: 0 });
  const c = rx.stats.compose!;
  assert.equal(c.refused, 0);
  assert.equal(c.waiting, 0);
  assert.ok(c.placed >= 12, `placed ${c.placed}`);

  // requestFullFrame(): the next frame goes whole.
  tx.requestFullFrame();
  assert.equal((await tx.sendVideoPixels(scene.frame(13), { width: W, height: H, format: 'rgba' })).sent, 'full');
  await shows(rx, seen, rgbaToRgb(scene.frame(13)), 'the requested full frame');
});

test('change mode: fullFrameInterval sends every Nth frame whole; RGB input; a receiver without compose gets the rectangles', async (t) => {
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port, video: { encoding: 'change', fullFrameInterval: 3 } });
  await tx.start();
  t.after(() => tx.stop());
  const frames: VideoFrame[] = [];
  rx.on('video', (v) => frames.push(v));
  const scene = new ScreenScene({ width: W, height: H, cursor: 24, fps: 1000 });
  const kinds: string[] = [];
  for (let n = 0; n < 7; n++) kinds.push((await tx.sendVideoPixels(rgbaToRgb(scene.frame(n)), { width: W, height: H, format: 'rgb' })).sent);
  assert.deepEqual(kinds, ['full', 'rects', 'rects', 'full', 'rects', 'rects', 'full']);
  await until(() => frames.filter((f) => f.keyframe).length === 3 && frames.length >= 7, { on: [[rx, 'video']], what: () => `${frames.length} frames` });
  for (const f of frames) {
    assert.equal(f.imageType, 'jpeg');
    assert.equal(f.keyframe, f.rect === undefined, 'a full frame is a keyframe, a rectangle is not');
    if (f.rect) assert.ok(f.rect.x + f.rect.w <= W && f.rect.y + f.rect.h <= H);
  }
});

test('change mode, pull: a receiver that connects later gets a full frame first (its queue asks the Sender for one)', async (t) => {
  const tx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, video: { encoding: 'change', imageType: 'png' } });
  await tx.start();
  t.after(() => tx.stop());
  const rx1 = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: tx.port }], receiveMediaTypes: ['video'], video: { compose: 'rgb' } });
  await rx1.start();
  t.after(() => rx1.stop());
  await rx1.whenConnected();
  const seen1 = pictures(rx1);
  const scene = new ScreenScene({ width: W, height: H, cursor: 32, fps: 5 });
  for (let n = 0; n < 4; n++) await tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' });
  await shows(rx1, seen1, rgbaToRgb(scene.frame(3)), 'first receiver');

  const rx2 = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: tx.port }], receiveMediaTypes: ['video'], video: { compose: 'rgb' } });
  await rx2.start();
  t.after(() => rx2.stop());
  await rx2.whenConnected();
  const seen2 = pictures(rx2);
  // The next frame is rectangles, which the new channel may not send before a full frame: it
  // drops them and asks; the frame after is whole.
  assert.equal((await tx.sendVideoPixels(scene.frame(4), { width: W, height: H, format: 'rgba' })).sent, 'rects');
  assert.equal((await tx.sendVideoPixels(scene.frame(5), { width: W, height: H, format: 'rgba' })).sent, 'full');
  await shows(rx2, seen2, rgbaToRgb(scene.frame(5)), 'late receiver');
  await shows(rx1, seen1, rgbaToRgb(scene.frame(5)), 'first receiver');
  assert.equal(rx2.stats.compose!.waiting, 0, 'no rectangle reached the late receiver before its full frame');
});

test('change mode through a MediaServer: a reader that joins late gets a full frame first (the server asks the sender)', async (t) => {
  const server = await startServer(t);
  const cam = await startClient(t, server, 'cam', { tx: { to: 'viewer', video: { encoding: 'change', imageType: 'png' } } });
  const scene = new ScreenScene({ width: W, height: H, cursor: 32, fps: 5 });
  // Nobody to send to yet: the server counts the frames as unrouted. Waited for: a frame still on
  // its way when the viewer joins goes to it, before the test listens to its video, and a
  // Receiver decodes (and composes) only the types its application listens to; its full frame
  // would be ignored there, and the server would let the next rectangle through to it.
  for (let n = 0; n < 3; n++) await cam.tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' });
  await until(() => server.stats().unrouted.video === 3, { checkAfterMs: [10, 50, 200, 1000, 3000], what: () => `${server.stats().unrouted.video} of the 3 frames reached the server` });

  const viewer = await startClient(t, server, 'viewer', { rx: { receiveMediaTypes: ['video', 'command'], video: { compose: 'rgb' } } });
  const seen = pictures(viewer.rx);
  const asked = next(cam.tx, 'fullFrameRequest');
  assert.equal((await cam.tx.sendVideoPixels(scene.frame(3), { width: W, height: H, format: 'rgba' })).sent, 'rects');
  assert.deepEqual((await asked)[0], { mediaIndex: 0 });
  assert.equal((await cam.tx.sendVideoPixels(scene.frame(4), { width: W, height: H, format: 'rgba' })).sent, 'full');
  await shows(viewer.rx, seen, rgbaToRgb(scene.frame(4)), 'the late reader');
  for (let n = 5; n < 9; n++) {
    assert.equal((await cam.tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' })).sent, 'rects');
    await shows(viewer.rx, seen, rgbaToRgb(scene.frame(n)), `frame ${n}`);
  }
  assert.equal(viewer.rx.stats.compose!.waiting, 0);
  assert.equal(viewer.rx.stats.compose!.refused, 0);
});

test('through a MediaServer: a reader that meets a bad rectangle asks, and the server passes the request to the sender', async (t) => {
  const server = await startServer(t);
  const viewer = await startClient(t, server, 'viewer', { rx: { receiveMediaTypes: ['video', 'command'], video: { compose: 'rgb' } } });
  const cam = await startClient(t, server, 'cam', { tx: { to: 'viewer' } });
  const seen = pictures(viewer.rx);
  cam.tx.sendVideoFrame(await png(32, 32, 50), { imageType: 'png', width: 32, height: 32, mediaIndex: 3 });
  await shows(viewer.rx, seen, Buffer.alloc(32 * 32 * 3, 50), 'the full frame');
  const asked = next(cam.tx, 'fullFrameRequest');
  cam.tx.sendVideoFrame(await png(8, 8, 1), { imageType: 'png', width: 32, height: 32, keyframe: false, rect: { x: 30, y: 0, w: 8, h: 8 }, mediaIndex: 3 });
  assert.deepEqual((await asked)[0], { mediaIndex: 3 });
  assert.equal(viewer.rx.stats.compose!.refused, 1);
  assert.equal(viewer.rx.stats.compose!.requests, 1);
});

test('bad input: a rectangle before any full frame, outside the picture, or disagreeing in size is counted and dropped, never applied', async (t) => {
  const { rx, tx, seen } = await composingPair(t);
  const refused: string[] = [];
  const metas: MessageMeta[] = [];
  rx.on('video', (_v, m) => metas.push(m));

  // A full frame whose image disagrees with its header's size: refused, and the receiver asks the
  // sender for a full frame. (A Sender never sends a rectangle before its source's keyframe on a
  // link, so this is how a receiver meets a delta with no picture.) The rectangle after it waits.
  const asked = next(tx, 'fullFrameRequest');
  tx.sendVideoFrame(await png(32, 32, 10), { imageType: 'png', width: 64, height: 64 });
  assert.deepEqual((await asked)[0], { mediaIndex: 0 });
  tx.sendVideoFrame(await png(8, 8, 200), { imageType: 'png', width: 64, height: 64, keyframe: false, rect: { x: 0, y: 0, w: 8, h: 8 } });
  await until(() => rx.stats.compose!.waiting === 1 && rx.stats.compose!.refused === 1, { on: [[tx, 'fullFrameRequest']], checkAfterMs: [50, 200, 1000, 3000], what: () => `compose stats ${JSON.stringify(rx.stats.compose)}` });
  assert.equal(seen.count(), 0, 'nothing shown before the first full frame');

  tx.sendVideoFrame(await png(64, 64, 10), { imageType: 'png', width: 64, height: 64 });
  const base = Buffer.alloc(64 * 64 * 3, 10);
  await shows(rx, seen, base, 'the full frame');
  const bad = async (rect: { x: number; y: number; w: number; h: number }, img: Buffer, width = 64, height = 64): Promise<void> => {
    const before = rx.stats.compose!.refused;
    tx.sendVideoFrame(img, { imageType: 'png', width, height, keyframe: false, rect });
    await until(() => rx.stats.compose!.refused === before + 1, { on: [[rx, 'video']], checkAfterMs: [20, 100, 500, 2000], what: () => `refusal of ${JSON.stringify(rect)}` });
    refused.push(JSON.stringify(rect));
    // A good full frame again, so the next bad piece meets a showing picture.
    tx.sendVideoFrame(await png(64, 64, 10), { imageType: 'png', width: 64, height: 64 });
  };
  await bad({ x: 60, y: 0, w: 8, h: 8 }, await png(8, 8, 200)); // outside
  await bad({ x: 0, y: 0, w: 8, h: 8 }, await png(8, 8, 200), 32, 64); // header size disagrees with the picture
  await bad({ x: 0, y: 0, w: 8, h: 8 }, await png(9, 8, 200)); // image size disagrees with the rectangle
  await bad({ x: 0, y: 0, w: 8, h: 8 }, Buffer.from('not an image at all')); // undecodable
  assert.equal(refused.length, 4);
  assert.equal(rx.stats.compose!.refused, 5);
  // None of them touched the picture; a good rectangle still applies.
  tx.sendVideoFrame(await png(4, 4, 99), { imageType: 'png', width: 64, height: 64, keyframe: false, rect: { x: 2, y: 2, w: 4, h: 4 } });
  const want = Buffer.from(base);
  for (let y = 2; y < 6; y++) want.fill(99, (y * 64 + 2) * 3, (y * 64 + 6) * 3);
  await shows(rx, seen, want, 'the good rectangle after the bad ones');
  assert.ok(metas.every((m) => m.mediaIndex === 0));
});

test('ignoreCorruptedFrames: false waits for the next full frame after a bad rectangle; true goes on', async (t) => {
  for (const ignore of [false, true]) {
    const { rx, tx, seen } = await composingPair(t, { video: { ignoreCorruptedFrames: ignore } });
    tx.sendVideoFrame(await png(16, 16, 0), { imageType: 'png', width: 16, height: 16 });
    await shows(rx, seen, Buffer.alloc(16 * 16 * 3, 0), 'full frame');
    tx.sendVideoFrame(Buffer.from('garbage'), { imageType: 'png', width: 16, height: 16, keyframe: false, rect: { x: 0, y: 0, w: 4, h: 4 } });
    tx.sendVideoFrame(await png(16, 1, 255), { imageType: 'png', width: 16, height: 16, keyframe: false, rect: { x: 0, y: 15, w: 16, h: 1 } });
    const after = Buffer.alloc(16 * 16 * 3, 0);
    after.fill(255, 15 * 16 * 3);
    if (ignore) {
      await shows(rx, seen, after, 'the rectangle after the bad one (ignoreCorruptedFrames)');
    } else {
      await until(() => rx.stats.compose!.waiting === 1, { on: [[rx, 'video']], checkAfterMs: [20, 100, 500, 2000], what: 'the rectangle after the bad one dropped' });
      assert.equal(seen.count(), 1, 'nothing new until the next full frame');
      tx.sendVideoFrame(await png(16, 16, 7), { imageType: 'png', width: 16, height: 16 });
      await shows(rx, seen, Buffer.alloc(16 * 16 * 3, 7), 'the next full frame');
    }
    assert.equal(rx.stats.compose!.refused, 1);
  }
});

test('sendVideoPixels refuses pixels that disagree with the size and format; bad video options are ConfigErrors', async (t) => {
  assert.throws(() => new Sender({ port: 1, video: { encoding: 'diff' as 'change' } }), { code: 'CW_ERR_CONFIG_INVALID' });
  assert.throws(() => new Sender({ port: 1, video: { encoding: 'change', minChangeAreaSize: -1 } }), /minChangeAreaSize/);
  assert.throws(() => new Receiver({ port: 0, video: { compose: 'gif' as 'png' } }), { code: 'CW_ERR_CONFIG_INVALID' });
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port, video: { encoding: 'change' } });
  await tx.start();
  t.after(() => tx.stop());
  assert.throws(() => tx.sendVideoPixels(new Uint8Array(10), { width: 4, height: 4, format: 'rgb' }), RangeError);
  assert.throws(() => tx.sendVideoPixels(new Uint8Array(48), { width: 4, height: 4, format: 'bgr' as 'rgb' }), RangeError);
  assert.throws(() => tx.sendVideoPixels(new Uint8Array(0), { width: 0, height: 4, format: 'rgb' }), RangeError);
});

for (const [mode, protocol] of [
  ['push', 'udp'],
  ['push', 'http'],
  ['pull', 'tcp'],
  ['pull', 'http'],
] as const) {
  test(`a composing Receiver's full-frame request reaches the Sender (${mode} over ${protocol})`, async (t) => {
    let tx: Sender;
    let rx: Receiver;
    if (mode === 'push') {
      rx = new Receiver({ protocol, host: '127.0.0.1', port: 0, video: { compose: 'rgb' } });
      await rx.start();
      tx = new Sender({ protocol, host: '127.0.0.1', port: rx.port });
      await tx.start();
    } else {
      tx = new Sender({ protocol, connection: 'receiver-to-sender', host: '127.0.0.1', port: 0 });
      await tx.start();
      rx = new Receiver({ protocol, connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: tx.port }], receiveMediaTypes: ['video'], video: { compose: 'rgb' } });
      await rx.start();
      await rx.whenConnected();
    }
    t.after(() => tx.stop());
    t.after(() => rx.stop());
    const seen = pictures(rx);
    tx.sendVideoFrame(await png(16, 16, 9), { imageType: 'png', width: 16, height: 16, mediaIndex: 1 });
    await shows(rx, seen, Buffer.alloc(16 * 16 * 3, 9), 'the full frame');
    const asked = next(tx, 'fullFrameRequest');
    tx.sendVideoFrame(await png(4, 4, 1), { imageType: 'png', width: 16, height: 16, keyframe: false, rect: { x: 14, y: 0, w: 4, h: 4 }, mediaIndex: 1 });
    assert.deepEqual((await asked)[0], { mediaIndex: 1 });
    assert.equal(rx.stats.compose!.refused, 1);
  });
}

test('a lost rectangle over UDP (numbered frames, protocol.md 4.1): counted; the Receiver waits for the full frame it asks for', async (t) => {
  const { LossyRelay } = await import('../helpers/lossy-relay.js');
  const rx = new Receiver({ protocol: 'udp', host: '127.0.0.1', port: 0, video: { compose: 'rgb' } });
  await rx.start();
  t.after(() => rx.stop());
  // Drops the first fragment of the third rectangle frame: that frame never completes.
  let rects = 0;
  const relay = await LossyRelay.start({
    target: { port: rx.port },
    drop: (dir, _n, d) => {
      if (dir !== 'up' || d.length < 60 || d.readUInt16BE(0) !== 0x4355 || d.readUInt16BE(8) !== 0) return false;
      if (d[23] !== 3 || d[24] !== 1) return false;
      const payload = 20 + 36 + d[52] + d[53] + d[54];
      return d[payload + 5] === 1 && ++rects === 3;
    },
  });
  t.after(() => relay.close());
  const tx = new Sender({ protocol: 'udp', host: '127.0.0.1', port: relay.port, video: { encoding: 'change', imageType: 'png' } });
  await tx.start();
  t.after(() => tx.stop());
  const seen = pictures(rx);
  const scene = new ScreenScene({ width: W, height: H, cursor: 32, fps: 1000 });
  let asked = false;
  tx.on('fullFrameRequest', () => (asked = true));
  let n = 0;
  assert.equal((await tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' })).sent, 'full');
  await shows(rx, seen, rgbaToRgb(scene.frame(n)), 'the first full frame');
  let sent = 0;
  while (!asked) {
    n++;
    assert.ok(n < 50, 'the loss was never noticed');
    const r = await tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' });
    assert.equal(r.sent, 'rects');
    sent += r.rects;
    // Each update is shown before the next is sent, until the lost one (the third rectangle); the
    // rectangle after it shows the gap.
    if (sent < 3) await shows(rx, seen, rgbaToRgb(scene.frame(n)), `frame ${n}`);
    else if (sent > 3) await until(() => asked, { on: [[tx, 'fullFrameRequest']], checkAfterMs: [20, 100, 500, 2000], what: () => `the gap noticed (${JSON.stringify(rx.stats.compose)})` });
  }
  assert.equal(rx.stats.compose!.lost, 1);
  n++;
  assert.equal((await tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' })).sent, 'full');
  await shows(rx, seen, rgbaToRgb(scene.frame(n)), 'the full frame after the loss');
  assert.equal(rx.stats.compose!.refused, 0);
});

test('ignoreCorruptedFrames with numbered frames: a gap is counted; true places the next rectangle anyway, false waits', async (t) => {
  for (const ignore of [true, false]) {
    const { rx, tx, seen } = await composingPair(t, { video: { ignoreCorruptedFrames: ignore } });
    tx.sendVideoFrame(await png(8, 8, 0), { imageType: 'png', width: 8, height: 8, seq: 1 });
    await shows(rx, seen, Buffer.alloc(8 * 8 * 3, 0), 'full frame');
    // Frame 2 never comes; frame 3 is a rectangle.
    tx.sendVideoFrame(await png(8, 1, 255), { imageType: 'png', width: 8, height: 8, keyframe: false, rect: { x: 0, y: 0, w: 8, h: 1 }, seq: 3 });
    const placed = Buffer.alloc(8 * 8 * 3, 0).fill(255, 0, 8 * 3);
    if (ignore) await shows(rx, seen, placed, 'the rectangle after the gap');
    else {
      await until(() => rx.stats.compose!.waiting === 1, { checkAfterMs: [20, 100, 500, 2000], what: 'the rectangle after the gap dropped' });
      assert.equal(rx.stats.compose!.requests, 1);
    }
    assert.equal(rx.stats.compose!.lost, 1);
  }
});
