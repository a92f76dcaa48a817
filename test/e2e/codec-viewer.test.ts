/**
 * Compressed video end to end in a real browser (Debian's Chromium through playwright-core):
 * an H.264 file from ffmpeg, sent by `camwire send --codec h264` (copied, not re-encoded) through
 * `camwire server`, decoded by the viewer page with WebCodecs. The frame counter advances, the
 * decoded picture has the source's colour, a late joiner gets a picture at once from the server's
 * GOP cache (the time is printed), and the MJPEG tile URL transcodes the source. Then bad input
 * from a library Sender: a corrupt access unit is counted and dropped, and a change of resolution
 * reconfigures the decoder at the keyframe.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Sender } from '../../src/index.js';
import { AnnexBSplitter, type AccessUnit } from '../../src/protocol/annexb.js';
import { firstMjpegImage } from '../helpers/mjpeg-image.js';
import { cli, cliServer } from '../helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
/** The source's colour (a solid picture), R G B. */
const COLOUR = [0x33, 0x66, 0xcc];

async function launch(t: TestContext): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does this)`);
  const b = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.after(() => b.close());
  return b;
}

function tmp(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-codec-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The frames a tile decoded (its data-decoded), 0 before the first. */
function decoded(page: Page, source: string): Promise<number> {
  return page.evaluate((s) => Number((document.querySelector(`figure[data-source="${s}"]`) as HTMLElement | null)?.dataset.decoded ?? 0), source);
}

/** The RGB of the middle of a tile's canvas. */
function middlePixel(page: Page, selector: string): Promise<number[]> {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data;
    return [d[0], d[1], d[2]];
  }, selector);
}

test('codec viewer - ffmpeg H.264 through camwire send and server, decoded by WebCodecs in Chromium; a late joiner, the MJPEG transcoder', { timeout: 120000 }, async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'blue.mp4');
  // 12 s, one keyframe every 10 s: a joiner without the GOP cache would wait for seconds.
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=0x${COLOUR.map((c) => c.toString(16).padStart(2, '0')).join('')}:size=320x240:rate=15`, '-t', '12', '-c:v', 'libx264', '-g', '150', '-bf', '0', '-pix_fmt', 'yuv420p', file]);
  const s = await cliServer(t);
  const tx = cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam1', '--input', file, '--loop', '--codec', 'h264']);
  await tx.waitFor(/copying the input's H\.264/);
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(s.url);
  const tile = 'figure[data-source="cam1/0"]';
  await page.waitForFunction((sel) => Number((document.querySelector(sel) as HTMLElement | null)?.dataset.decoded) >= 5, tile, { timeout: 30000 });
  const first = await decoded(page, 'cam1/0');
  await page.waitForFunction(([sel, n]) => Number((document.querySelector(sel as string) as HTMLElement).dataset.decoded) >= (n as number) + 10, [tile, first] as const, { timeout: 20000 });
  // The decoded picture is the source's colour (H.264 and the colour conversion may move it a little).
  const px = await middlePixel(page, `${tile} canvas.video`);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(px[i] - COLOUR[i]) <= 16, `pixel ${px} against ${COLOUR}`);
  const caption = (await page.textContent(`${tile} figcaption`)) ?? '';
  assert.match(caption, /320×240 avc1\.[0-9A-F]{6}/);
  assert.equal(await page.locator(`${tile} .note`).isVisible(), false, 'no note over a picture that shows');
  // A late joiner: a second page, mid-GOP; its first picture comes from the server's GOP cache.
  const late = await browser.newPage();
  await late.goto(s.url);
  await late.waitForFunction((sel) => Number((document.querySelector(sel) as HTMLElement | null)?.dataset.decoded) >= 1, tile, { timeout: 15000 });
  const ms = await late.evaluate((sel) => Number((document.querySelector(sel) as HTMLElement).dataset.firstPictureMs), tile);
  process.stdout.write(`late joiner's first decoded picture: ${ms} ms after asking for the stream (goal < 300 ms)\n`);
  // The MJPEG URL of the same source: ffmpeg transcodes it while someone watches.
  const jpeg = await firstMjpegImage(`${s.url}mjpeg/cam1/0`);
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
  const snap = await late.evaluate(async (u) => { const r = await fetch(u); return [r.status, r.headers.get('content-type')]; }, `${s.url}snapshot/cam1/0.jpg`);
  assert.deepEqual(snap, [200, 'image/jpeg']);
  // Nobody watches the MJPEG any more: the server's ffmpeg transcoder goes.
  // (No event tells the test that a child process of the server ended: ps is asked until a deadline.)
  const transcoders = (): number => {
    try {
      return execFileSync('ps', ['-o', 'comm=', '--ppid', String(s.proc.child.pid)], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === 'ffmpeg').length;
    } catch {
      return 0; // ps exits 1 when the server has no child at all
    }
  };
  const deadline = Date.now() + 10000;
  while (transcoders() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(transcoders(), 0, 'no ffmpeg left under the server once nobody watches');
});

test('codec viewer - VP8, VP9 and AV1 from camwire send --codec are decoded in Chromium too', { timeout: 120000 }, async (t) => {
  const s = await cliServer(t);
  for (const codec of ['vp8', 'vp9', 'av1']) cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', codec, '--codec', codec, '--size', '320x240', '--fps', '10', '--keyint', '20']);
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(s.url);
  for (const [codec, re] of [['vp8', /320×240 vp8/], ['vp9', /320×240 vp09\.00\.\d\d\.08/], ['av1', /320×240 av01\.0\.\d\d[MH]\.08/]] as const) {
    const tile = `figure[data-source="${codec}/0"]`;
    await page.waitForFunction((sel) => Number((document.querySelector(sel) as HTMLElement | null)?.dataset.decoded) >= 5, tile, { timeout: 40000 });
    assert.match((await page.textContent(`${tile} figcaption`)) ?? '', re);
    assert.equal(await page.evaluate((sel) => (document.querySelector(sel) as HTMLCanvasElement).width, `${tile} canvas.video`), 320);
  }
});

test('codec viewer - the page as a client (CamwireClient over WebSocket) decodes H.264 sent to it', { timeout: 90000 }, async (t) => {
  const s = await cliServer(t);
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(s.url);
  await page.fill('#me-id', 'web1');
  await page.click('#me-connect');
  await page.waitForFunction(() => /connected as web1/.test(document.getElementById('me-state')?.textContent ?? ''), undefined, { timeout: 15000 });
  cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam', '--to', 'web1', '--codec', 'h264', '--size', '320x240', '--fps', '15']);
  const tile = 'figure[data-mine="cam/0"]';
  await page.waitForFunction((sel) => Number((document.querySelector(sel) as HTMLElement | null)?.dataset.decoded) >= 10, tile, { timeout: 30000 });
  assert.equal(await page.evaluate((sel) => (document.querySelector(sel) as HTMLCanvasElement).width, `${tile} canvas`), 320);
  await page.waitForFunction((sel) => /avc1\.[0-9A-F]{6} \| fps [\d.]+ \| .* \| latency \d+ ms decoded/.test(document.querySelector(sel)?.textContent ?? ''), `${tile} figcaption`, { timeout: 5000 });
});

/** Access units of an H.264 clip made by ffmpeg: testsrc2 at `size`, a keyframe every 10 frames. */
function clip(size: string, frames: number): AccessUnit[] {
  const bytes = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=15`, '-frames:v', String(frames), '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-bf', '0', '-g', '10', '-pix_fmt', 'yuv420p', '-f', 'h264', 'pipe:1'], { maxBuffer: 64 << 20 });
  const out: AccessUnit[] = [];
  const s = new AnnexBSplitter((u) => out.push(u));
  s.push(bytes);
  s.end();
  return out;
}

test('codec viewer - bad input: a corrupt access unit is counted and dropped, the decoder goes on at the next keyframe; a resolution change reconfigures it', { timeout: 90000 }, async (t) => {
  const s = await cliServer(t);
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.tcp, clientId: 'bad' });
  await tx.start();
  t.after(() => tx.stop());
  const big = clip('320x240', 30);
  const small = clip('160x120', 30);
  // Frame 12 (a delta) replaced by garbage, and frame 15 (a delta) by an access unit with a start code and garbage slice bytes.
  const garbage = Buffer.from(Array.from({ length: 400 }, (_, i) => (i * 37 + 11) & 0xff));
  const corrupt = Buffer.concat([Buffer.from([0, 0, 0, 1, 0x41]), garbage]);
  const plan: Array<{ au: AccessUnit; data: Buffer }> = [
    ...big.map((au, i) => ({ au, data: i === 12 ? garbage : i === 15 ? corrupt : au.data })),
    ...small.map((au) => ({ au, data: au.data })),
  ];
  let i = 0;
  // The source's own pace: 15 frames a second, round and round.
  const timer = setInterval(() => {
    const { au, data } = plan[i++ % plan.length];
    tx.sendVideoFrame(data, { imageType: au.codec, keyframe: au.keyframe, width: au.width, height: au.height });
  }, 66);
  t.after(() => clearInterval(timer));
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(s.url);
  const tile = 'figure[data-source="bad/0"]';
  // Corrupt frames are counted (the garbage one is not H.264; the other is refused or fails to decode).
  await page.waitForFunction((sel) => Number((document.querySelector(sel) as HTMLElement | null)?.dataset.corrupt) >= 1, tile, { timeout: 30000 });
  // Both sizes show, in turn: the decoder is configured again at the keyframe of the new size.
  for (const w of [160, 320, 160]) {
    await page.waitForFunction(([sel, width]) => (document.querySelector(sel as string) as HTMLCanvasElement | null)?.width === width, [`${tile} canvas.video`, w] as const, { timeout: 20000 });
  }
  const n = await decoded(page, 'bad/0');
  await page.waitForFunction(([sel, m]) => Number((document.querySelector(sel as string) as HTMLElement).dataset.decoded) >= (m as number) + 20, [tile, n] as const, { timeout: 20000 });
  const corruptCount = await page.evaluate((sel) => Number((document.querySelector(sel) as HTMLElement).dataset.corrupt), tile);
  process.stdout.write(`bad input: ${corruptCount} corrupt frame(s) counted and dropped, decoding went on (${n + 20}+ frames)\n`);
});
