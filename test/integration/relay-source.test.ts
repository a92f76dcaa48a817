/**
 * Received media sent on as a source (issue 11, item 5): a Sender whose `source` is a Receiver
 * forwards what that Receiver gets from one client, not decoded and encoded again. A chain of
 * three hops, camera -> hub -> MediaServer -> viewer, across push, pull and relay: frames arrive
 * intact (image bytes, image type, size, rectangle, keyframe, timestamp, TRANSFORMED) and in
 * order, audio too; encrypted media crosses a hub and a server that have no key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { Receiver, Sender, type AudioChunk, type MediaServer, type MessageMeta, type VideoFrame, type VideoSendOptions, type VideoHookInfo, type VideoTap } from '../../src/index.js';
import { RelaySource } from '../../src/roles/relay-source.js';
import { next } from '../helpers/events.js';
import { later, open, seal } from '../helpers/media-hooks.js';
import { startClient, startServer, type TestClient } from '../helpers/server-client.js';

const KEY = randomBytes(32);
const HUB_KEY = randomBytes(32);

function image(n: number, size = 2000): Buffer {
  const b = randomBytes(size);
  b.writeUInt32BE(n, 0);
  return b;
}

interface Chain {
  server: MediaServer;
  camera: Sender;
  hubRx: Receiver;
  hubTx: Sender;
  viewer: TestClient;
}

/**
 * camera -> hub: the camera pushes to the hub's Receiver (`push`), or the hub's Receiver pulls
 * from the camera (`pull`). hub -> server: the hub's Sender, whose source is its Receiver, pushes
 * to the server, to the viewer. server -> viewer: the viewer pulls.
 */
async function chain(t: TestContext, hubIn: 'push' | 'pull', o: { camera?: object; hubRx?: object; hubTx?: object; viewerRx?: object; source?: object } = {}): Promise<Chain> {
  const server = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: false });
  const viewer = await startClient(t, server, 'viewer', { rx: { ...o.viewerRx } });
  let camera: Sender;
  let hubRx: Receiver;
  if (hubIn === 'push') {
    hubRx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, clientId: 'hub', ...o.hubRx });
    await hubRx.start();
    camera = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: hubRx.port, clientId: 'cam', ...o.camera });
    await camera.start();
  } else {
    camera = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'cam', ...o.camera });
    await camera.start();
    hubRx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: camera.port }], receiveMediaTypes: ['video', 'audio'], clientId: 'hub', reconnect: false, ...o.hubRx });
    await hubRx.start();
    await hubRx.whenConnected();
  }
  t.after(() => camera.stop());
  t.after(() => hubRx.stop());
  const hubTx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'hub', to: 'viewer', source: { receiver: hubRx, from: 'cam', ...o.source }, ...o.hubTx });
  await hubTx.start();
  t.after(() => hubTx.stop());
  return { server, camera, hubRx, hubTx, viewer };
}

/** Sends one frame from the camera and waits for what the viewer gets of it. */
async function hop(c: Chain, send: () => void): Promise<[VideoFrame, MessageMeta]> {
  const got = next(c.viewer.rx, 'video');
  send();
  return (await got) as [VideoFrame, MessageMeta];
}

const FRAMES: Array<[Buffer, VideoSendOptions]> = [
  [image(1), { imageType: 'jpeg', width: 320, height: 240, timestamp: 1_700_000_000_001.5 }],
  [image(2), { imageType: 'h264', width: 1280, height: 720, keyframe: true, timestamp: 1_700_000_000_002 }],
  [image(3), { imageType: 'h264', width: 1280, height: 720, keyframe: false, timestamp: 1_700_000_000_003 }],
  [image(4), { imageType: 'png', width: 1280, height: 720, rect: { x: 64, y: 32, w: 16, h: 8 }, keyframe: false, timestamp: 1_700_000_000_004 }],
  [image(5, 200_000), { imageType: 'jpeg', width: 4000, height: 3000, timestamp: 1_700_000_000_005 }],
];

for (const hubIn of ['push', 'pull'] as const) {
  describe(`relay source - camera -> hub (${hubIn}) -> server (relay) -> viewer (pull)`, () => {
    test('video frames arrive intact and in order, attributed to the hub; audio arrives whole and in order', { timeout: 30000 }, async (t) => {
      const c = await chain(t, hubIn);
      // Another client pushing to the hub is not the source: not forwarded.
      const other = hubIn === 'push' ? new Sender({ protocol: 'tcp', host: '127.0.0.1', port: c.hubRx.port, clientId: 'other' }) : undefined;
      if (other) {
        await other.start();
        t.after(() => other.stop());
      }
      const seen: number[] = [];
      c.viewer.rx.on('video', (v) => seen.push(v.data.readUInt32BE(0)));
      for (const [data, o] of FRAMES) {
        if (other) {
          const atHub = next(c.hubRx, 'video', (_v: VideoFrame, m: MessageMeta) => m.from === 'other');
          other.sendVideoFrame(image(99), { width: 1, height: 1 });
          await atHub;
        }
        const [v, m] = await hop(c, () => c.camera.sendVideoFrame(data, o));
        assert.deepEqual(v.data, data, 'image bytes unchanged');
        assert.equal(v.imageType, o.imageType);
        assert.equal(v.width, o.width);
        assert.equal(v.height, o.height);
        assert.deepEqual(v.rect, o.rect);
        assert.equal(v.keyframe, o.keyframe ?? true);
        assert.equal(v.timestamp, o.timestamp, 'the capture time goes on');
        assert.equal(m.from, 'hub');
        assert.equal(m.mediaIndex, 0);
      }
      assert.deepEqual(seen, [1, 2, 3, 4, 5], 'every frame, in order, and none of the other client');

      const A = 15;
      const chunks = Array.from({ length: A }, (_, i) => image(i + 1, 960));
      const audio: AudioChunk[] = [];
      const all = new Promise<void>((resolve) => c.viewer.rx.on('audio', (a) => audio.push(a) === A && resolve()));
      for (let i = 0; i < A; i++) c.camera.sendAudio(chunks[i], { codec: 'opus', sampleRate: 24000, channels: 2, timestamp: 5000 + i });
      await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`audio: ${audio.length} of ${A}`)), 15000))]);
      assert.deepEqual(audio.map((a) => a.data), chunks);
      assert.deepEqual(audio.map((a) => a.timestamp), chunks.map((_, i) => 5000 + i));
      for (const a of audio) {
        assert.equal(a.codec, 'opus');
        assert.equal(a.sampleRate, 24000);
        assert.equal(a.channels, 2);
      }
      assert.equal(c.hubTx.stats.sent.video.items, FRAMES.length);
      assert.equal(c.hubTx.stats.sent.audio.items, A);
    });
  });
}

test('relay source - encrypted media crosses a hub and a server without the key; only the viewer decrypts', { timeout: 30000 }, async (t) => {
  const c = await chain(t, 'push', {
    camera: { encodeVideo: later(seal(KEY)), encodeAudio: seal(KEY) },
    viewerRx: { decodeVideo: open(KEY), decodeAudio: later(open(KEY)) },
  });
  const taps: VideoTap[] = [];
  c.server.onVideo((v) => taps.push({ ...v, data: Buffer.from(v.data) }));
  // The hub forwards encrypted frames as they came: it listens to nothing and decodes nothing.
  const hubSaw: boolean[] = [];
  c.hubRx.onMedia((m) => hubSaw.push(m.transformed));
  for (const [data, o] of FRAMES) {
    const [v] = await hop(c, () => c.camera.sendVideoFrame(data, o));
    assert.deepEqual(v.data, data, 'decrypted by the viewer');
    assert.deepEqual(v.rect, o.rect);
    assert.equal(v.timestamp, o.timestamp);
  }
  assert.equal(taps.length, FRAMES.length);
  for (const [i, v] of taps.entries()) {
    assert.equal(v.transformed, true, 'the server relays the TRANSFORMED flag');
    assert.equal(v.from, 'hub');
    assert.equal(v.data.length, FRAMES[i][0].length + 28, 'the ciphertext, untouched');
    assert.equal(v.data.includes(FRAMES[i][0].subarray(64, 96)), false, 'no clear bytes at the server');
  }
  assert.deepEqual(hubSaw, FRAMES.map(() => true));
  assert.deepEqual(c.hubRx.stats.decodeErrors, { video: 0, audio: 0 }, 'a hub that does not listen does not try to decode');

  const got = next(c.viewer.rx, 'audio');
  const chunk = image(7, 480);
  c.camera.sendAudio(chunk, { timestamp: 42 });
  const [a] = (await got) as [AudioChunk];
  assert.deepEqual(a.data, chunk);
  assert.equal(a.timestamp, 42);
});

test('relay source - a hub with an encode hook encrypts the clear frames it forwards, and forwards encrypted ones as they are', { timeout: 30000 }, async (t) => {
  const used: string[] = [];
  const [byCamera, byHub] = [open(KEY), open(HUB_KEY)];
  const c = await chain(t, 'push', {
    camera: { encodeVideo: seal(KEY) },
    hubTx: { encodeVideo: seal(HUB_KEY) },
    source: { from: undefined },
    viewerRx: {
      // Whose key opens it says who encrypted it; encrypted twice, neither would.
      decodeVideo: (p: Buffer, info: VideoHookInfo) => {
        try {
          const out = byCamera(p, info);
          used.push('camera');
          return out;
        } catch {
          const out = byHub(p, info);
          used.push('hub');
          return out;
        }
      },
    },
  });
  const taps: VideoTap[] = [];
  c.server.onVideo((v) => taps.push({ ...v, data: Buffer.from(v.data) }));
  const clearCam = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: c.hubRx.port, clientId: 'cam2' });
  await clearCam.start();
  t.after(() => clearCam.stop());
  const [a, b] = [image(1), image(2)];
  const [v1] = await hop(c, () => clearCam.sendVideoFrame(a, { width: 8, height: 8, timestamp: 77 }));
  const [v2] = await hop(c, () => c.camera.sendVideoFrame(b, { width: 8, height: 8, timestamp: 78 }));
  assert.deepEqual([v1.data, v2.data], [a, b]);
  assert.deepEqual([v1.timestamp, v2.timestamp], [77, 78]);
  assert.deepEqual(used, ['hub', 'camera']);
  assert.deepEqual(taps.map((v) => [v.transformed, v.data.length]), [[true, a.length + 28], [true, b.length + 28]]);
  assert.equal(taps[0].data.includes(a.subarray(64, 96)), false);
});

test('relay source - videoIndex and audioIndex pick the original\'s channels; null turns one off', { timeout: 30000 }, async (t) => {
  const c = await chain(t, 'pull', { source: { videoIndex: 1, audioIndex: null, mediaIndex: 3 } });
  c.viewer.rx.on('audio', () => assert.fail('audio is off'));
  const seen: Array<[number, number]> = [];
  c.viewer.rx.on('video', (v, m) => seen.push([v.data.readUInt32BE(0), m.mediaIndex]));
  c.camera.sendVideoFrame(image(10), { mediaIndex: 0 });
  c.camera.sendAudio(image(11, 100));
  const [v, m] = await hop(c, () => c.camera.sendVideoFrame(image(12), { mediaIndex: 1 }));
  assert.equal(v.data.readUInt32BE(0), 12);
  assert.equal(m.mediaIndex, 3);
  assert.deepEqual(seen, [[12, 3]], 'only channel 1 went on');
});

test('relay source - option checks, and the full-frame seam asks the upstream receiver when it can', () => {
  assert.throws(() => new Sender({ port: 1, source: { receiver: {} as never } }), /source\.receiver/);
  assert.throws(() => new Sender({ port: 1, source: { receiver: new Receiver(), videoIndex: 70000 } }), /source\.videoIndex/);
  // A Receiver cannot ask for full frames yet (change detection builds that): false.
  assert.equal(new RelaySource({ receiver: new Receiver(), from: 'cam' }).requestFullFrame(), false);
  const asked: Array<[string, number]> = [];
  const upstream = { onMedia: () => () => undefined, requestFullFrame: (from: string, i: number) => asked.push([from, i]) > 0 };
  assert.equal(new RelaySource({ receiver: upstream, from: 'cam', videoIndex: 2 }).requestFullFrame(), true);
  assert.equal(new RelaySource({ receiver: upstream, from: 'cam', videoIndex: null }).requestFullFrame(), false);
  assert.deepEqual(asked, [['cam', 2]]);
});

test('relay source - a hub that serves pulls: camera pushes to the hub, viewers pull from the hub\'s Sender', { timeout: 30000 }, async (t) => {
  const hubRx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, clientId: 'hub' });
  await hubRx.start();
  t.after(() => hubRx.stop());
  const hubTx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'hub', source: { receiver: hubRx, from: 'cam' } });
  await hubTx.start();
  t.after(() => hubTx.stop());
  const viewers = [0, 1].map(() => new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: hubTx.port }], receiveMediaTypes: ['video', 'audio'], reconnect: false, decodeVideo: open(KEY) }));
  for (const v of viewers) {
    t.after(() => v.stop());
    await v.start();
    await v.whenConnected();
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the hub did not see 4 channels')), 10000);
    const check = (): void => {
      if (hubTx.stats.channels === 4) {
        clearTimeout(timer);
        resolve();
      }
    };
    hubTx.on('connected', check);
    check();
  });
  const camera = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: hubRx.port, clientId: 'cam', encodeVideo: seal(KEY) });
  await camera.start();
  t.after(() => camera.stop());
  for (let n = 1; n <= 3; n++) {
    const img = image(n);
    const got = viewers.map((v) => next(v, 'video'));
    camera.sendVideoFrame(img, { width: 16, height: 9, timestamp: 100 + n });
    for (const g of got) {
      const [v, m] = (await g) as [VideoFrame, MessageMeta];
      assert.deepEqual(v.data, img);
      assert.equal(v.timestamp, 100 + n);
      assert.equal(m.from, 'hub');
    }
  }
});
