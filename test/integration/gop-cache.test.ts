/**
 * The server's GOP cache (docs/behaviour.md, section 5): a reader that joins a compressed source
 * starts at a keyframe, with the frames since it at once; bounded; off on request. Frames of a
 * named codec over real TCP links (their bytes need not be real H.264 for the server).
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Receiver, Sender, type MediaServer, type VideoFrame } from '../../src/index.js';
import { next, until } from '../helpers/events.js';
import { startServer } from '../helpers/server-client.js';
import { within } from '../helpers/wait.js';

const CODEC = 'avc1.42E01E';

async function camera(t: TestContext, server: MediaServer, to: string): Promise<Sender> {
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'cam', to });
  await tx.start();
  t.after(() => tx.stop());
  return tx;
}

/**
 * Sends frames named f<n> (keyframes where `keys` says), each once the server has the one before
 * (the sender's own queue is latest-wins).
 */
async function sendFrames(server: MediaServer, tx: Sender, from: number, keys: boolean[]): Promise<void> {
  for (const [i, key] of keys.entries()) {
    let off = (): void => undefined;
    const got = new Promise<void>((resolve) => (off = server.onVideo(() => resolve())));
    tx.sendVideoFrame(Buffer.from(`f${from + i}`), { imageType: CODEC, keyframe: key, width: 64, height: 48 });
    await within(got, 5000, `the server got f${from + i}`);
    off();
    // The turn's batch is delivered (and cached) at the end of the turn that read it.
    await new Promise((r) => setImmediate(r));
  }
}

/** A video-only pull Receiver of the server or pull Sender listening on TCP `port`, connected. */
async function reader(t: TestContext, port: number, id: string): Promise<{ rx: Receiver; got: VideoFrame[] }> {
  const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port }], clientId: id, reconnect: false, receiveMediaTypes: ['video'] });
  const got: VideoFrame[] = [];
  rx.on('video', (v) => got.push(v));
  t.after(() => rx.stop());
  const up = next(rx, 'sessionConnected');
  await rx.start();
  await up;
  return { rx, got };
}

const names = (got: VideoFrame[]): string[] => got.map((v) => v.data.toString());

test('gop cache - a late joiner gets the keyframe and the frames since at once, then the live frames', async (t) => {
  const server = await startServer(t);
  const tx = await camera(t, server, 'late');
  await sendFrames(server, tx, 0, [true, false, false, false]);
  assert.deepEqual(server.videoGop('cam').map((v) => v.data.toString()), ['f0', 'f1', 'f2', 'f3']);
  const { rx, got } = await reader(t, server.ports.tcp, 'late');
  // The cache went out when the next frame found the reader.
  await sendFrames(server, tx, 4, [false]);
  await until(rx, 'video', () => got.length >= 5, 5000);
  assert.deepEqual(names(got), ['f0', 'f1', 'f2', 'f3', 'f4']);
  assert.equal(got[0].keyframe, true);
  assert.equal(got[0].imageType, CODEC);
  // A new keyframe empties the cache.
  await sendFrames(server, tx, 5, [true, false]);
  assert.deepEqual(server.videoGop('cam').map((v) => v.data.toString()), ['f5', 'f6']);
});

test('gop cache - off: a reader that joins mid-GOP gets nothing before the next keyframe', async (t) => {
  const server = await startServer(t, { gopCache: false });
  const tx = await camera(t, server, 'late');
  await sendFrames(server, tx, 0, [true, false]);
  const { rx, got } = await reader(t, server.ports.tcp, 'late');
  await sendFrames(server, tx, 2, [false, false, true, false]);
  await until(rx, 'video', () => got.length >= 2, 5000);
  assert.deepEqual(names(got), ['f4', 'f5']);
  assert.deepEqual(server.videoGop('cam'), []);
});

test('gop cache - a GOP over maxFrames is not kept: the late joiner waits for the next keyframe', async (t) => {
  const server = await startServer(t, { gopCache: { maxFrames: 3 } });
  const tx = await camera(t, server, 'late');
  await sendFrames(server, tx, 0, [true, false, false, false]);
  assert.deepEqual(server.videoGop('cam'), []);
  const { rx, got } = await reader(t, server.ports.tcp, 'late');
  await sendFrames(server, tx, 4, [false, true, false]);
  await until(rx, 'video', () => got.length >= 2, 5000);
  assert.deepEqual(names(got), ['f5', 'f6']);
});

test('gop cache - JPEG sources are not cached; a bad gopCache option is refused', async (t) => {
  const server = await startServer(t);
  const tx = await camera(t, server, 'late');
  let off = (): void => undefined;
  const seen = new Promise<void>((resolve) => (off = server.onVideo(() => resolve())));
  tx.sendVideoFrame(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), { width: 1, height: 1 });
  await within(seen, 5000, 'the server got the frame');
  off();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(server.videoGop('cam'), []);
  await assert.rejects(async () => startServer(t, { gopCache: { frames: 3 } as never }), /gopCache/);
});

test('gop cache - maxBytes bounds all the sources of one client together', async (t) => {
  const server = await startServer(t, { gopCache: { maxBytes: 1024 } });
  const tx = await camera(t, server, 'late');
  for (const mediaIndex of [0, 1]) {
    let off = (): void => undefined;
    const got = new Promise<void>((resolve) => (off = server.onVideo(() => resolve())));
    tx.sendVideoFrame(Buffer.alloc(600, mediaIndex), { imageType: CODEC, keyframe: true, width: 64, height: 48, mediaIndex });
    await within(got, 5000, `the server got source ${mediaIndex}'s keyframe`);
    off();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(server.videoGop('cam', 0).length, 1);
  assert.deepEqual(server.videoGop('cam', 1), [], 'the second source would pass the client\'s 1024 bytes');
});

test("a Sender's pull reader that connects mid-GOP starts at the next keyframe (mode B)", async (t) => {
  const tx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'cam' });
  await tx.start();
  t.after(() => tx.stop());
  const { rx, got } = await reader(t, tx.port, 'desk');
  // The channel is new: the deltas of a group of pictures it did not see are dropped at once.
  tx.sendVideoFrame(Buffer.from('d1'), { imageType: CODEC, keyframe: false, width: 64, height: 48 });
  tx.sendVideoFrame(Buffer.from('d2'), { imageType: CODEC, keyframe: false, width: 64, height: 48 });
  tx.sendVideoFrame(Buffer.from('k3'), { imageType: CODEC, keyframe: true, width: 64, height: 48 });
  await until(rx, 'video', () => got.length >= 1, 5000);
  tx.sendVideoFrame(Buffer.from('d4'), { imageType: CODEC, keyframe: false, width: 64, height: 48 });
  await until(rx, 'video', () => got.length >= 2, 5000);
  assert.deepEqual(names(got), ['k3', 'd4']);
  assert.ok(tx.stats.dropped.video >= 2);
});
