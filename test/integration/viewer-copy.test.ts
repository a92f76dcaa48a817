/**
 * The web viewer reads a frame's image bytes only while someone watches its source (an MJPEG
 * viewer, a snapshot, a browser stream), and one JPEG frame a second per source otherwise, so a
 * snapshot answers at once: a server with a viewer nobody looks at does not copy every frame.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { MediaServer, Sender, WebViewer, type VideoTap } from '../../src/index.js';
import { jpegFrames } from '../helpers/media.js';
import { until } from '../helpers/wait.js';

test('viewer - frames are read (copied) only while watched', { timeout: 60000 }, async (t) => {
  let viewer: WebViewer | undefined;
  const server = new MediaServer({ host: '127.0.0.1', tcpPort: 0, udpPort: false, httpPort: 0, httpHandler: (req, res) => viewer?.handle(req, res) ?? false });
  await server.start();
  t.after(() => server.stop());
  // This tap runs before the viewer's (taps run in the order added) and counts the reads of each
  // frame's `data` that come after it.
  let reads = 0;
  let frames = 0;
  server.onVideo((v: VideoTap) => {
    frames++;
    const d = Object.getOwnPropertyDescriptor(v, 'data')!;
    Object.defineProperty(v, 'data', { configurable: true, enumerable: true, get: () => (reads++, d.get ? d.get.call(v) : d.value) });
  });
  viewer = new WebViewer(server);
  t.after(() => viewer?.close());

  const [jpeg] = await jpegFrames(1, 1920, 1080);
  // A frame larger than one socket read (64 KiB), so it spans reads as large video does.
  const image = Buffer.concat([jpeg.data, Buffer.alloc(Math.max(0, 100_000 - jpeg.data.length))]);
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'cam' });
  await tx.start();
  t.after(() => tx.stop());

  const N = 40;
  const started = Date.now();
  for (let i = 0; i < N; i++) {
    tx.sendVideoFrame(image, { imageType: 'jpeg', width: 1920, height: 1080 });
    // One at a time: the sender keeps only the newest frame while its link is busy.
    await until(() => frames === i + 1, { checkAfterMs: [5, 20, 100, 500, 2000], what: () => `frame ${i} reached the server (${frames})` });
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`${N} frames in ${seconds.toFixed(2)} s with nobody watching: the viewer read ${reads} of them`);
  // One a second for snapshots (the first at once), none for the source list's rates.
  assert.ok(reads <= Math.ceil(seconds) + 1, `the viewer read ${reads} of ${N} frames in ${seconds.toFixed(2)} s with nobody watching`);
  const src = () => (viewer!.sources().find((s) => s.client === 'cam') ?? assert.fail('no source'));
  assert.equal(src().imageType, 'jpeg');
  assert.equal(src().width, 1920);

  // Someone watches: every frame is read for them.
  let received = 0;
  const req = http.get(`http://127.0.0.1:${server.ports.http}/mjpeg/cam/0`, (res) => res.on('data', (c: Buffer) => (received += c.length)));
  req.on('error', () => {});
  t.after(() => req.destroy());
  await until(() => src().viewers === 1, { checkAfterMs: [10, 50, 200, 1000], what: 'the MJPEG viewer joined' });
  const before = reads;
  const W = 5;
  for (let i = 0; i < W; i++) {
    const at = frames;
    tx.sendVideoFrame(image, { imageType: 'jpeg', width: 1920, height: 1080 });
    await until(() => frames === at + 1, { checkAfterMs: [5, 20, 100, 500, 2000], what: 'a watched frame reached the server' });
  }
  assert.ok(reads - before >= W, `every watched frame is read (${reads - before} of ${W})`);
  await until(() => received >= W * image.length, { checkAfterMs: [10, 100, 500, 2000, 5000], what: () => `the MJPEG viewer got ${W} images (${received} bytes)` });
  req.destroy();
  await until(() => src().viewers === 0, { checkAfterMs: [10, 50, 200, 1000], what: 'the MJPEG viewer left' });
  // A snapshot with nobody watching: the kept frame, or the next one.
  const snap = new Promise<Buffer>((resolve, reject) =>
    http.get(`http://127.0.0.1:${server.ports.http}/snapshot/cam/0.jpg`, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts)));
    }).on('error', reject),
  );
  let answered = false;
  void snap.then(() => (answered = true));
  // Frames until it is answered (it waits for the next frame if it came after the last kept one).
  for (let i = 0; i < 100 && !answered; i++) {
    const at = frames;
    tx.sendVideoFrame(image, { imageType: 'jpeg', width: 1920, height: 1080 });
    await until(() => frames === at + 1 || answered, { checkAfterMs: [5, 20, 100, 500, 2000], what: 'a frame reached the server' });
  }
  assert.deepEqual(await snap, image, 'a snapshot answers');
});
