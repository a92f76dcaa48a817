/**
 * The web viewer composes change-detection sources: its snapshot (and MJPEG stream) of a source
 * that sends rectangles is the whole picture; a viewer that starts while the source already
 * sends rectangles has the server ask the sender for a full frame.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { MediaServer, Sender, WebViewer } from '../../src/index.js';
import { until } from '../helpers/wait.js';
import { rgbaToRgb, ScreenScene } from '../helpers/screen-scene.js';

function get(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    }).on('error', reject);
  });
}

test('viewer - a change-detection source is composed for snapshots, full frame asked for when the viewer starts late', async (t) => {
  const sharp = (await import('sharp')).default;
  let viewer: WebViewer | undefined;
  const server = new MediaServer({ host: '127.0.0.1', tcpPort: 0, udpPort: false, httpPort: 0, httpHandler: (req, res) => viewer?.handle(req, res) ?? false });
  await server.start();
  t.after(() => server.stop());
  const W = 320;
  const H = 180;
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'screen', video: { encoding: 'change', imageType: 'png' } });
  await tx.start();
  t.after(() => tx.stop());
  const scene = new ScreenScene({ width: W, height: H, cursor: 24, fps: 5 });
  await tx.sendVideoPixels(scene.frame(0), { width: W, height: H, format: 'rgba' });
  await until(() => server.stats().unrouted.video === 1, { checkAfterMs: [20, 100, 500, 2000], what: 'the first frame reached the server' });

  viewer = new WebViewer(server);
  t.after(() => viewer?.close());
  let asked = 0;
  tx.on('fullFrameRequest', () => asked++);
  let n = 1;
  // Rectangles the viewer cannot place until it asked for, and got, a full frame.
  while (asked === 0) {
    assert.equal((await tx.sendVideoPixels(scene.frame(n++), { width: W, height: H, format: 'rgba' })).sent, 'rects');
    await until(() => asked > 0 || server.stats().unrouted.video >= n, { on: [[tx, 'fullFrameRequest']], checkAfterMs: [20, 100, 500, 2000], what: 'the rectangle reached the server' });
  }
  assert.equal((await tx.sendVideoPixels(scene.frame(n++), { width: W, height: H, format: 'rgba' })).sent, 'full');
  for (let k = 0; k < 4; k++) assert.equal((await tx.sendVideoPixels(scene.frame(n++), { width: W, height: H, format: 'rgba' })).sent, 'rects');
  const url = `http://127.0.0.1:${server.ports.http}/snapshot/screen/0`;
  const api = async (): Promise<Array<{ client: string; imageType: string; width: number; composed: number }>> =>
    JSON.parse((await get(`http://127.0.0.1:${server.ports.http}/api/sources`)).body.toString()).sources;
  /** Snapshots, one after the other, until one shows frame `k` (the rectangles are placed asynchronously). */
  const showsFrame = async (k: number): Promise<void> => {
    const want = rgbaToRgb(scene.frame(k));
    let diff = Infinity;
    const deadline = Date.now() + 6000;
    while (diff >= 4) {
      assert.ok(Date.now() < deadline, `snapshot differs from frame ${k} by ${diff} on average after 6 s`);
      const r = await get(url);
      if (r.status !== 200) continue;
      const { data, info } = await sharp(r.body).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      if (info.width !== W || info.height !== H) continue;
      let sum = 0;
      for (let i = 0; i < data.length; i++) sum += Math.abs(data[i] - want[i]);
      diff = sum / data.length;
    }
  };
  await until(() => (server.clients().find((c) => c.id === 'screen')?.in.video.frames ?? 0) >= n, { checkAfterMs: [20, 100, 500, 2000], what: 'every frame reached the server' });
  assert.equal((await api())[0].composed, 0, 'nobody watched: no picture was encoded');
  await showsFrame(n - 1);
  const sources = await api();
  assert.deepEqual(sources.map((s) => [s.client, s.imageType, s.width]), [['screen', 'jpeg', W]]);
  const composed = sources[0].composed;
  assert.ok(composed >= 1);
  // Nobody watching again: rectangles are placed, not encoded; the next snapshot shows the latest.
  for (let k = 0; k < 3; k++) assert.equal((await tx.sendVideoPixels(scene.frame(n++), { width: W, height: H, format: 'rgba' })).sent, 'rects');
  await until(() => (server.clients().find((c) => c.id === 'screen')?.in.video.frames ?? 0) >= n, { checkAfterMs: [20, 100, 500, 2000], what: 'every frame reached the server' });
  assert.equal((await api())[0].composed, composed, 'no picture encoded while nobody watched');
  await showsFrame(n - 1);
});
