/**
 * The web viewer in a real browser (Debian's Chromium through playwright-core): it shows the
 * test pattern moving, and a command sent from the page reaches a CLI receiver.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { cli, cliServer, ROOT } from '../helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';

async function launch(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does this)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // A synthetic camera, so getUserMedia works headless.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
    ],
  });
}

test('viewer - the test pattern moves on the page, and a command sent from the page reaches a CLI receiver', async (t) => {
  const s = await cliServer(t);
  cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam1', '--fps', '10']);
  const rx = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'desk', '--types', 'command']);
  await rx.waitFor(/"event":"sessionConnected"/);
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  await page.goto(s.url);
  const img = page.locator('figure[data-source="cam1/0"] img');
  await img.waitFor({ timeout: 20000 });
  await page.waitForFunction(() => {
    const i = document.querySelector('figure[data-source="cam1/0"] img') as HTMLImageElement | null;
    return i !== null && i.naturalWidth === 640;
  }, undefined, { timeout: 20000 });
  // Two screenshots of the video differ: the picture is live (the test pattern moves every frame).
  // Polling with a short pause: the browser paints MJPEG parts with no event the page can wait on.
  const first = await img.screenshot();
  let second = first;
  const deadline = Date.now() + 15000;
  while (second.equals(first) && Date.now() < deadline) {
    await page.waitForTimeout(150);
    second = await img.screenshot();
  }
  assert.ok(!second.equals(first), 'the picture changed between two screenshots');
  await page.screenshot({ path: path.join(ROOT, 'build', 'viewer.png') });
  // A command from the page, to the CLI receiver (a client of the server named "desk").
  await page.waitForFunction(() => [...document.querySelectorAll('#cmd-to option')].some((o) => (o as HTMLOptionElement).value === 'desk'), undefined, { timeout: 20000 });
  await page.selectOption('#cmd-to', 'desk');
  await page.fill('#cmd-name', 'ptz');
  await page.fill('#cmd-params', 'pan=5\nmode=auto');
  await page.click('#cmd button[type=submit]');
  await page.waitForFunction(() => document.getElementById('cmd-result')?.textContent === 'acknowledged', undefined, { timeout: 20000 });
  await rx.waitFor(/"command":"ptz","params":\{"pan":5,"mode":"auto"\},"from":"server"/);
  // Phone-sized screen: the video tile fits the width.
  await page.setViewportSize({ width: 390, height: 844 });
  const box = await img.boundingBox();
  assert.ok(box && box.width <= 390 && box.width > 300, `tile width ${box?.width} on a 390 px screen`);
});

test('viewer - the page is a client over WebSocket: it joins a group, shows the group\'s video, and sends commands as itself', async (t) => {
  const s = await cliServer(t);
  const inbox = path.join(ROOT, 'build', 'inbox-desk');
  fs.rmSync(inbox, { recursive: true, force: true });
  const rx = cli(t, ['receive', '--server', `127.0.0.1:${s.tcp}`, '--id', 'desk', '--types', 'command,file', '--files', inbox]);
  await rx.waitFor(/"event":"sessionConnected"/);
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  await page.goto(s.url);
  await page.fill('#me-id', 'web1');
  await page.fill('#me-group', 'room');
  await page.click('#me-connect');
  await page.waitForFunction(() => document.getElementById('me-state')?.textContent === 'connected as web1 in room', undefined, { timeout: 20000 });
  // A CLI sender publishes video and audio into the group; the page receives both over its own channels.
  const wav = path.join(ROOT, 'build', 'tone.wav');
  await new Promise<void>((resolve, reject) =>
    execFile('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '20', wav], (err) => (err ? reject(err) : resolve())),
  );
  cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam2', '--group', 'room', '--fps', '10', '--size', '320x180', '--audio-input', wav]);
  await page.waitForFunction(() => {
    const c = document.querySelector('figure[data-mine="cam2/0"] canvas') as HTMLCanvasElement | null;
    return c !== null && c.width === 320;
  }, undefined, { timeout: 20000 });
  await page.waitForFunction(() => /fps [1-9]/.test(document.querySelector('figure[data-mine="cam2/0"] figcaption')?.textContent ?? ''), undefined, { timeout: 20000 });
  await page.waitForFunction(() => /audio: [1-9]\d* chunks, pcm_s16le 48000 Hz, [1-9]\d* played/.test(document.getElementById('me-audio')?.textContent ?? ''), undefined, { timeout: 20000 });
  // A command from the page goes out as web1 (not as the server).
  await page.waitForFunction(() => [...document.querySelectorAll('#cmd-to option')].some((o) => (o as HTMLOptionElement).value === 'desk'), undefined, { timeout: 20000 });
  await page.selectOption('#cmd-to', 'desk');
  await page.fill('#cmd-name', 'hello');
  await page.fill('#cmd-params', 'n=1');
  await page.click('#cmd button[type=submit]');
  await page.waitForFunction(() => document.getElementById('cmd-result')?.textContent === 'acknowledged', undefined, { timeout: 20000 });
  await rx.waitFor(/"command":"hello","params":\{"n":1\},"from":"web1"/);
  // A file from the page, chunked and SHA-256 checked, lands in the CLI receiver's folder.
  const content = Buffer.alloc(300_000);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 0xff;
  await page.setInputFiles('#file-input', { name: 'from-browser.bin', mimeType: 'application/octet-stream', buffer: content });
  await page.waitForFunction(() => /from-browser\.bin: 300000 bytes, sha256 [0-9a-f]{16}… verified/.test(document.getElementById('file-result')?.textContent ?? ''), undefined, { timeout: 20000 });
  await rx.waitFor(/"fileEnd":"from-browser.bin","size":300000,"ok":true/);
  assert.ok(fs.readFileSync(path.join(inbox, 'from-browser.bin')).equals(content));
  // Contact lists and the directory work from the browser too.
  const seen = await page.evaluate(async () => {
    const script = '/camwire.js'; // served by the page's server, not a module of this test
    const { CamwireClient } = await import(script);
    const c = new CamwireClient('ws://' + location.host + '/camwire/v1/ws', 'web2');
    await c.connect(['command']);
    await c.contacts('default', 'add', 'desk');
    const users = await c.users(true);
    c.close();
    return users;
  });
  assert.ok(seen.includes('web1') && seen.includes('desk') && seen.includes('web2'), `online users seen from the browser: ${seen}`);
  // The server counts the browser as an ordinary client, in the group.
  const stats = await (await fetch(`${s.url}stats`)).json();
  const web1 = stats.clients.find((c: { id: string }) => c.id === 'web1');
  assert.deepEqual([web1?.online, web1?.groups], [true, ['room']]);
  // The browser's camera (Chromium's synthetic one) becomes web1's video: the server's viewer lists it.
  await page.click('#me-camera');
  await page.waitForFunction(async () => {
    const r = await (await fetch('/api/sources')).json();
    return r.sources.some((x: { client: string; imageType: string; width: number }) => x.client === 'web1' && x.imageType === 'jpeg' && x.width > 0);
  }, undefined, { timeout: 20000, polling: 250 });
});

test('viewer - Opus audio from a CLI sender is decoded (WebCodecs) and played by the page', async (t) => {
  const s = await cliServer(t);
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(s.url);
  await page.fill('#me-id', 'ears');
  await page.fill('#me-group', 'radio');
  await page.click('#me-connect');
  await page.waitForFunction(() => document.getElementById('me-state')?.textContent === 'connected as ears in radio', undefined, { timeout: 20000 });
  const wav = path.join(ROOT, 'build', 'tone-opus.wav');
  await new Promise<void>((resolve, reject) =>
    execFile('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=48000', '-t', '20', wav], (err) => (err ? reject(err) : resolve())),
  );
  cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'radio1', '--group', 'radio', '--fps', '2', '--size', '64x64', '--audio-input', wav, '--audio-codec', 'opus']);
  await page.waitForFunction(() => /audio: [1-9]\d* chunks, opus 48000 Hz, [1-9]\d* played/.test(document.getElementById('me-audio')?.textContent ?? ''), undefined, { timeout: 20000 });
});
