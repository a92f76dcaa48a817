/**
 * Change-detection video in a real browser (Debian's Chromium through playwright-core): the
 * browser client (/camwire.js) pulls video from a MediaServer and composes a change-mode source
 * on a canvas (VideoCanvas). It joins after the source started sending rectangles, so it also
 * shows that a late reader gets a full frame first. Lossless PNG, so the canvas must equal the
 * last frame sent.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { MediaServer, Sender, WebViewer } from '../../src/index.js';
import { rgbaToRgb, ScreenScene } from '../helpers/screen-scene.js';

const CHROMIUM = '/usr/bin/chromium';
const W = 320;
const H = 180;

test('browser - the client composes a change-detection source on a canvas, full frame first', async (t) => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  let viewer: WebViewer | undefined;
  const server = new MediaServer({ host: '127.0.0.1', tcpPort: 0, udpPort: false, httpPort: 0, httpHandler: (req, res) => viewer?.handle(req, res) ?? false });
  await server.start();
  t.after(() => server.stop());
  viewer = new WebViewer(server);
  t.after(() => viewer?.close());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'screen', to: 'web', video: { encoding: 'change', imageType: 'png' } });
  await tx.start();
  t.after(() => tx.stop());
  const scene = new ScreenScene({ width: W, height: H, cursor: 24, fps: 5 });
  // The source is already sending when the browser joins: its first frame is unrouted.
  await tx.sendVideoPixels(scene.frame(0), { width: W, height: H, format: 'rgba' });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.ports.http}/`);
  await page.evaluate(async () => {
    const { CamwireClient, VideoCanvas } = await import('/camwire.js' as string);
    const client = new CamwireClient(`ws://${location.host}/camwire/v1/ws`, 'web');
    const canvas = document.createElement('canvas');
    canvas.id = 'composed';
    document.body.append(canvas);
    const drawer = new VideoCanvas(canvas, { needFullFrame: (f: { from: string; mediaIndex: number }) => client.requestFullFrame(f.from, f.mediaIndex) });
    const w = window as unknown as Record<string, unknown>;
    w.drawer = drawer;
    w.kinds = [];
    client.addEventListener('video', (ev: Event) => {
      const v = (ev as CustomEvent).detail;
      (w.kinds as string[]).push(v.rect ? 'rect' : 'full');
      void drawer.draw(v);
    });
    await client.connect(['video']);
  });

  const asked = new Promise<void>((resolve) => tx.once('fullFrameRequest', () => resolve()));
  let n = 1;
  let atFull = 0;
  // Rectangles until the server, on the page's behalf, asks for a full frame; then more rectangles.
  for (let settled = false; !settled; n++) {
    const r = await tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' });
    if (r.sent === 'full') (settled = true), (atFull = tx.stats.sent.video.items);
    else await Promise.race([asked, new Promise((r) => setImmediate(r))]);
    assert.ok(n < 200, 'no full frame was asked for');
  }
  for (let k = 0; k < 6; k++, n++) assert.equal((await tx.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' })).sent, 'rects');
  const last = n - 1;
  const want = [...rgbaToRgb(scene.frame(last))];
  const rects = tx.stats.sent.video.items - atFull;
  // Wait until the page drew everything that reached it, then compare the canvas with the last frame.
  await page.waitForFunction(
    (min) => {
      const d = (window as unknown as { drawer: { stats: { placed: number }; pending: number } }).drawer;
      return d.stats.placed >= min && d.pending === 0;
    },
    rects,
    { timeout: 20000 },
  );
  const got = await page.evaluate(() => {
    const c = document.getElementById('composed') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const rgb: number[] = [];
    for (let i = 0; i < d.length; i += 4) rgb.push(d[i], d[i + 1], d[i + 2]);
    const w = window as unknown as { kinds: string[]; drawer: { stats: unknown } };
    return { width: c.width, height: c.height, rgb, kinds: w.kinds, stats: w.drawer.stats };
  });
  console.log(`browser composed ${JSON.stringify(got.stats)} from ${got.kinds.length} frames (${rects} rectangles sent after the full frame)`);
  assert.deepEqual([got.width, got.height], [W, H]);
  assert.equal(got.kinds[0], 'full', 'the first frame the page got is a full frame');
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got.rgb[i]));
  assert.ok(maxDiff <= 2, `canvas differs from the last frame by up to ${maxDiff}`);
});
