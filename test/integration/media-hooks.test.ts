/**
 * Encode/decode hooks (issue 11, item 4) with real AES-256-GCM: through a MediaServer the
 * payload passes untouched and the server never sees the clear image (neither on the wire nor in
 * its video tap); a receiver without the key gets counted decode errors, not a crash; push and
 * pull direct too. A hook that throws or rejects drops one frame and the link goes on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { Client, ErrorCode, Receiver, Sender, WebViewer, type AudioChunk, type CamwireError, type VideoFrame, type VideoTap } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { captureProxy, later, open, seal } from '../helpers/media-hooks.js';
import { startClient, startServer } from '../helpers/server-client.js';

const KEY = randomBytes(32);
const OTHER_KEY = randomBytes(32);

/** A clear "image": random bytes with the frame number in front (a 32-byte slice of it occurs nowhere else). */
function image(n: number, size = 3000): Buffer {
  const b = randomBytes(size);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Collects `event` of `rx` until `done(items)` holds. */
function collect<T>(rx: Receiver, event: 'video' | 'audio', done: (items: T[]) => boolean, ms = 15000): Promise<T[]> {
  const items: T[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${items.length} ${event} items`)), ms);
    const on = (x: T): void => {
      items.push(x);
      if (done(items)) {
        clearTimeout(timer);
        rx.off(event, on as never);
        resolve(items);
      }
    };
    rx.on(event, on as never);
  });
}

/** Counts decodeError events of `rx` of one type until there are `n`. */
function decodeErrors(rx: Receiver, type: 'video' | 'audio', n: number): Promise<CamwireError[]> {
  const errs: CamwireError[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${errs.length} ${type} decode errors`)), 15000);
    const on = (err: CamwireError, t: string): void => {
      if (t !== type) return;
      if (errs.push(err) === n) {
        clearTimeout(timer);
        rx.off('decodeError', on);
        resolve(errs);
      }
    };
    rx.on('decodeError', on);
  });
}

test('through a MediaServer: AES-256-GCM video and audio pass untouched; the server never sees the clear image; a receiver without the key counts decode errors', { timeout: 60000 }, async (t: TestContext) => {
  const s = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: false });
  const toServer = await captureProxy(s.ports.tcp);
  t.after(() => toServer.close());
  const fromServer = await captureProxy(s.ports.tcp);
  t.after(() => fromServer.close());
  const taps: VideoTap[] = [];
  s.onVideo((v) => taps.push({ ...v, data: Buffer.from(v.data) }));

  const v1 = await startClient(t, s, 'v1', { pullPort: fromServer.port, rx: { decodeVideo: later(open(KEY)), decodeAudio: open(KEY) } });
  const v2 = await startClient(t, s, 'v2');
  const cam = await startClient(t, s, 'cam', { tx: { port: toServer.port, encodeVideo: later(seal(KEY)), encodeAudio: later(seal(KEY)) } });
  await cam.tx.addDefaultReceiver('v1');
  await cam.tx.addDefaultReceiver('v2');
  v2.rx.on('video', () => assert.fail('v2 has no key: no video may reach the application'));
  v2.rx.on('audio', () => assert.fail('v2 has no key: no audio may reach the application'));

  // Video: a burst, encrypted by an asynchronous hook that finishes out of order.
  const N = 12;
  const clear = Array.from({ length: N + 1 }, (_, n) => image(n));
  const v1Video = collect<VideoFrame>(v1.rx, 'video', (xs) => xs.at(-1)!.data.readUInt32BE(0) === N);
  const v2Errors = decodeErrors(v2.rx, 'video', 1);
  // One every 2 ms: the hooks (0..9 ms each) overlap and finish out of order.
  let n = 0;
  const pace = setInterval(() => {
    if (++n === N) clearInterval(pace);
    cam.tx.sendVideoFrame(clear[n], { imageType: 'jpeg', width: 640, height: 480 });
  }, 2);
  t.after(() => clearInterval(pace));
  const frames = await v1Video;
  const nums = frames.map((f) => f.data.readUInt32BE(0));
  console.log(`video: ${N} sent 2 ms apart, v1 got ${frames.length} (latest wins may skip some): ${nums.join(' ')}`);
  for (let i = 1; i < nums.length; i++) assert.ok(nums[i] > nums[i - 1], `frames in order: ${nums.join(' ')}`);
  for (const f of frames) {
    assert.deepEqual(f.data, clear[f.data.readUInt32BE(0)], 'decrypted to the clear image');
    assert.equal(f.imageType, 'jpeg');
    assert.equal(f.width, 640);
    assert.equal(f.height, 480);
    assert.equal(f.keyframe, true);
  }
  const [err] = await v2Errors;
  assert.equal(err.code, ErrorCode.MEDIA_DECODE);
  assert.match(err.message, /no decodeVideo hook/);

  // The server relayed ciphertext only: its tap saw TRANSFORMED frames with the header readable.
  assert.ok(taps.length >= frames.length);
  for (const v of taps) {
    assert.equal(v.transformed, true);
    assert.equal(v.imageType, 'jpeg');
    assert.equal(v.width, 640);
    assert.equal(v.keyframe, true);
    assert.equal(v.data.length, 3000 + 28, 'IV and tag added, nothing else');
    for (const c of clear.slice(1)) assert.equal(v.data.includes(c.subarray(100, 132)), false, 'the tap never holds clear bytes');
  }
  for (const c of clear.slice(1)) {
    assert.equal(toServer.carried(c.subarray(100, 132)), false, 'no clear bytes on the way to the server');
    assert.equal(fromServer.carried(c.subarray(100, 132)), false, 'no clear bytes on the way from the server');
  }

  // Audio: FIFO, every chunk arrives in order and decrypted.
  const A = 20;
  const chunks = Array.from({ length: A + 1 }, (_, n) => image(n, 960));
  const v1Audio = collect<AudioChunk>(v1.rx, 'audio', (xs) => xs.length === A);
  const v2AudioErrors = decodeErrors(v2.rx, 'audio', A);
  for (let n = 1; n <= A; n++) cam.tx.sendAudio(chunks[n], { codec: 'pcm_s16le', sampleRate: 16000, channels: 2 });
  const audio = await v1Audio;
  assert.deepEqual(audio.map((a) => a.data.readUInt32BE(0)), Array.from({ length: A }, (_, i) => i + 1));
  for (const a of audio) {
    assert.deepEqual(a.data, chunks[a.data.readUInt32BE(0)]);
    assert.equal(a.codec, 'pcm_s16le');
    assert.equal(a.sampleRate, 16000);
    assert.equal(a.channels, 2);
  }
  await v2AudioErrors;
  for (const c of chunks.slice(1)) assert.equal(toServer.carried(c.subarray(100, 132)), false, 'no clear audio on the wire');

  // v2 lives on, its decode errors counted; its session is still up.
  assert.equal(v2.rx.stats.decodeErrors.audio, A);
  assert.ok(v2.rx.stats.decodeErrors.video >= 1);
  assert.ok(v2.rx.stats.dropped.video >= v2.rx.stats.decodeErrors.video);
  assert.equal(v2.rx.sessionConnected, true);
  assert.deepEqual(cam.tx.stats.encodeErrors, { video: 0, audio: 0 });

  // The check can fail: a frame sent without a hook does carry its clear bytes through the same proxy.
  const plain = image(999);
  v2.rx.removeAllListeners('video');
  const got = next(v2.rx, 'video');
  const cam2 = await startClient(t, s, 'cam2', { tx: { port: toServer.port, to: 'v2' } });
  cam2.tx.sendVideoFrame(plain, { width: 1, height: 1 });
  const [v] = (await got) as [VideoFrame];
  assert.deepEqual(v.data, plain);
  assert.equal(toServer.carried(plain.subarray(100, 132)), true);
});

test('push direct: AES-256-GCM video; encode hooks that throw or reject drop one frame each with encodeError; a decode hook that throws drops one with decodeError; the link goes on', { timeout: 30000 }, async (t) => {
  let failDecode = -1;
  const decode = open(KEY);
  const rx = new Receiver({
    protocol: 'tcp',
    host: '127.0.0.1',
    port: 0,
    decodeVideo: (p, info) => {
      if (info.timestamp === failDecode) throw new Error('refused by the test');
      return decode(p, info);
    },
  });
  await rx.start();
  t.after(() => rx.stop());
  const enc = seal(KEY);
  const tx = new Sender({
    protocol: 'tcp',
    host: '127.0.0.1',
    port: rx.port,
    encodeVideo: (p, info) => {
      const n = p.readUInt32BE(0);
      if (n === 2) throw new Error('frame 2: thrown');
      if (n === 4) return Promise.reject(new Error('frame 4: rejected'));
      return n % 2 ? enc(p, info) : Promise.resolve(enc(p, info));
    },
  });
  await tx.start();
  t.after(() => tx.stop());
  const encodeErrors: string[] = [];
  tx.on('encodeError', (err, type, info) => encodeErrors.push(`${type} ${info.mediaIndex} ${err.code} ${err.message} (${(err.cause as Error).message})`));
  // One frame at a time: each either arrives or is reported.
  for (let n = 1; n <= 6; n++) {
    const img = image(n);
    if (n === 2 || n === 4) {
      const reported = next(tx, 'encodeError');
      tx.sendVideoFrame(img, { width: 2, height: 2, timestamp: 1000 + n });
      await reported;
      continue;
    }
    const got = next(rx, 'video');
    // The first frame is whole; the rest are rectangles on it (a rectangle needs its source's
    // full frame first, docs/behaviour.md): the hook sees and keeps the clear rectangle.
    const rect = n === 1 ? undefined : { x: 1, y: 1, w: 1, h: 1 };
    tx.sendVideoFrame(img, { width: 2, height: 2, timestamp: 1000 + n, rect, keyframe: n === 1 });
    const [v] = (await got) as [VideoFrame, unknown];
    assert.deepEqual(v.data, img);
    assert.deepEqual(v.rect, rect);
    assert.equal(v.keyframe, n === 1);
    assert.equal(v.timestamp, 1000 + n);
  }
  assert.deepEqual(encodeErrors, [
    `video 0 ${ErrorCode.MEDIA_ENCODE} encodeVideo hook failed: frame 2: thrown; the frame was dropped (frame 2: thrown)`,
    `video 0 ${ErrorCode.MEDIA_ENCODE} encodeVideo hook failed: frame 4: rejected; the frame was dropped (frame 4: rejected)`,
  ]);
  assert.deepEqual(tx.stats.encodeErrors, { video: 2, audio: 0 });
  assert.equal(tx.stats.sent.video.items, 4);

  // The decode hook throws for one frame: dropped and reported, the next one arrives.
  // (Decoding serves the video event: the application listens.)
  failDecode = 1007;
  const got = next(rx, 'video');
  const reported = next(rx, 'decodeError');
  tx.sendVideoFrame(image(7), { timestamp: 1007 });
  const [err, type, meta] = (await reported) as [CamwireError, string, { timestamp: number }];
  assert.equal(err.code, ErrorCode.MEDIA_DECODE);
  assert.equal(type, 'video');
  assert.equal(meta.timestamp, 1007);
  const img8 = image(8);
  tx.sendVideoFrame(img8, { timestamp: 1008 });
  assert.deepEqual(((await got) as [VideoFrame])[0].data, img8);
  assert.deepEqual(rx.stats.decodeErrors, { video: 1, audio: 0 });
  assert.equal(rx.stats.links, 1, 'the same link carried everything');
});

test('pull direct: AES-256-GCM video and audio from a pull Sender; a receiver with the wrong key counts decode errors', { timeout: 30000 }, async (t) => {
  const tx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'cam', encodeVideo: later(seal(KEY)), encodeAudio: seal(KEY) });
  await tx.start();
  t.after(() => tx.stop());
  const pull = (decodeKey: Buffer): Receiver =>
    new Receiver({
      protocol: 'tcp',
      connection: 'receiver-to-sender',
      senders: [{ host: '127.0.0.1', port: tx.port }],
      receiveMediaTypes: ['video', 'audio'],
      reconnect: false,
      decodeVideo: open(decodeKey),
      decodeAudio: later(open(decodeKey)),
    });
  const good = pull(KEY);
  const wrong = pull(OTHER_KEY);
  for (const rx of [good, wrong]) {
    t.after(() => rx.stop());
    await rx.start();
    await rx.whenConnected();
  }
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the sender did not see 4 channels')), 10000);
    const check = (): void => {
      if (tx.stats.channels === 4) {
        clearTimeout(timer);
        resolve();
      }
    };
    tx.on('connected', check);
    check();
  });
  wrong.on('video', () => assert.fail('the wrong key never yields a frame'));
  wrong.on('audio', () => assert.fail('the wrong key never yields a chunk'));
  const wrongVideo = decodeErrors(wrong, 'video', 1);
  const wrongAudio = decodeErrors(wrong, 'audio', 5);
  const img = image(1);
  const got = next(good, 'video');
  tx.sendVideoFrame(img, { imageType: 'png', width: 3, height: 4 });
  const [v] = (await got) as [VideoFrame];
  assert.deepEqual(v.data, img);
  assert.equal(v.imageType, 'png');
  const chunks = [1, 2, 3, 4, 5].map((n) => image(n, 200));
  const audio = collect<AudioChunk>(good, 'audio', (xs) => xs.length === 5);
  for (const c of chunks) tx.sendAudio(c, { codec: 'opus' });
  assert.deepEqual((await audio).map((a) => a.data), chunks, 'an asynchronous decode hook keeps the order');
  const [e] = await wrongVideo;
  assert.equal(e.code, ErrorCode.MEDIA_DECODE);
  assert.match(e.message, /decodeVideo hook failed/);
  await wrongAudio;
  assert.deepEqual(wrong.stats.decodeErrors, { video: 1, audio: 5 });
  assert.equal(wrong.sessionConnected, true);
});

test('Client: hooks from its sender and receiver options, on the relayed path and on a direct one; decodeError passed on', { timeout: 30000 }, async (t) => {
  const s = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: false });
  const server = `tcp://127.0.0.1:${s.ports.tcp}`;
  const b = new Client({ server, clientId: 'b', receiver: { decodeVideo: open(KEY) }, direct: { host: '127.0.0.1', port: 0 } });
  t.after(() => b.close());
  const c = new Client({ server, clientId: 'c' });
  t.after(() => c.close());
  const a = new Client({ server, clientId: 'a', sender: { encodeVideo: later(seal(KEY)) } });
  t.after(() => a.close());
  await Promise.all([a.connect(), b.connect(), c.connect()]);
  const taps: VideoTap[] = [];
  s.onVideo((v) => taps.push(v));

  // Relayed: b decrypts, c (no key) is told.
  const img1 = image(1);
  const atB = next(b, 'video');
  a.sendVideoFrame(img1, { to: 'b' });
  assert.deepEqual(((await atB) as [VideoFrame])[0].data, img1);
  // (One frame at a time: latest wins per source, whatever its addressee.)
  const atC = next(c, 'decodeError');
  a.sendVideoFrame(img1, { to: 'c' });
  const [err] = (await atC) as [CamwireError];
  assert.equal(err.code, ErrorCode.MEDIA_DECODE);
  assert.equal(taps.length, 2);

  // Direct: the same hooks on both ends; the server sees nothing of it.
  const offered = next(a, 'direct', (peer: string, state: string) => peer === 'b' && state === 'unknown');
  const wire = await captureProxy(b.directPort);
  t.after(() => wire.close());
  await b.offerDirect('a', `tcp://127.0.0.1:${wire.port}`);
  await offered;
  const up = next(a, 'direct', (peer: string, state: string) => peer === 'b' && state === 'up');
  const img2 = image(2);
  const direct = next(b, 'video', (v: VideoFrame) => v.data.readUInt32BE(0) === 2);
  a.sendVideoFrame(img2, { to: 'b' });
  await up;
  assert.deepEqual(((await direct) as [VideoFrame])[0].data, img2);
  // The path is up: the next frame goes direct only.
  const before = taps.length;
  const img3 = image(3);
  const onlyDirect = next(b, 'video', (v: VideoFrame) => v.data.readUInt32BE(0) === 3);
  a.sendVideoFrame(img3, { to: 'b' });
  assert.deepEqual(((await onlyDirect) as [VideoFrame])[0].data, img3, 'encrypted by the direct Sender, decrypted by the direct Receiver');
  assert.equal(taps.length, before, 'not through the server');
  assert.ok(wire.up.length > 0, 'the direct path carried it');
  for (const img of [img2, img3]) assert.equal(wire.carried(img.subarray(100, 132)), false, 'encrypted on the direct path');
});

test('web viewer: TRANSFORMED frames are counted in the source list but never served as pictures', { timeout: 30000 }, async (t) => {
  let viewer: WebViewer | undefined;
  const s = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: 0, httpHandler: (req, res) => viewer?.handle(req, res) ?? false });
  viewer = new WebViewer(s);
  t.after(() => viewer?.close());
  const tapped = (n: number): Promise<unknown> => {
    let seen = 0;
    return new Promise((resolve) => {
      const off = s.onVideo(() => {
        if (++seen === n) {
          off();
          resolve(undefined);
        }
      });
    });
  };
  const secret = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.ports.tcp, clientId: 'secret', encodeVideo: seal(KEY) });
  await secret.start();
  t.after(() => secret.stop());
  for (let n = 1; n <= 3; n++) {
    const seen = tapped(1);
    secret.sendVideoFrame(image(n), { width: 4, height: 4 });
    await seen;
  }
  const base = `http://127.0.0.1:${s.ports.http}`;
  const list = (await (await fetch(`${base}/api/sources`)).json()) as { sources: Array<{ client: string }> };
  assert.deepEqual(list.sources.map((x) => x.client), ['secret'], 'listed');
  const snap = await fetch(`${base}/snapshot/secret/0.jpg`);
  assert.equal(snap.status, 404, 'no picture of an encrypted source');
  await snap.body?.cancel();

  // The same route serves a clear source: the check can fail.
  const plain = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.ports.tcp, clientId: 'plain' });
  await plain.start();
  t.after(() => plain.stop());
  const one = tapped(1);
  const img = image(9);
  plain.sendVideoFrame(img, { width: 4, height: 4 });
  await one;
  const ok = await fetch(`${base}/snapshot/plain/0.jpg`);
  assert.equal(ok.status, 200);
  assert.deepEqual(Buffer.from(await ok.arrayBuffer()), img);
});

for (const transport of ['udp', 'http'] as const) {
  test(`push direct over ${transport}: TRANSFORMED video and audio decrypt at the receiver`, { timeout: 30000 }, async (t) => {
    const rx = new Receiver({ protocol: transport, host: '127.0.0.1', port: 0, decodeVideo: open(KEY), decodeAudio: later(open(KEY)) });
    await rx.start();
    t.after(() => rx.stop());
    const tx = new Sender({ protocol: transport, host: '127.0.0.1', port: rx.port, encodeVideo: later(seal(KEY)), encodeAudio: seal(KEY) });
    await tx.start();
    t.after(() => tx.stop());
    for (let n = 1; n <= 2; n++) {
      const img = image(n, 5000); // over UDP: several datagrams
      const got = next(rx, 'video');
      tx.sendVideoFrame(img, { width: 2, height: 2 });
      assert.deepEqual(((await got) as [VideoFrame])[0].data, img);
    }
    const chunks = [1, 2, 3].map((n) => image(n, 300));
    const audio = collect<AudioChunk>(rx, 'audio', (xs) => xs.length === 3);
    for (const c of chunks) tx.sendAudio(c);
    assert.deepEqual((await audio).map((a) => a.data), chunks);
    assert.deepEqual(rx.stats.decodeErrors, { video: 0, audio: 0 });
  });
}
