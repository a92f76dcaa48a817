/**
 * The browser client (/camwire.js) in Chromium marks TRANSFORMED video (issue 11, item 4): an
 * encrypted frame arrives with `transformed: true` and its ciphertext, a clear one with `false`
 * and its bytes, so a page can decrypt (WebCrypto) or skip what it cannot show.
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { Sender, WebViewer, type ClientInfo } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startServer } from '../helpers/server-client.js';

const CHROMIUM = '/usr/bin/chromium';

test('browser client - TRANSFORMED video arrives flagged, with the bytes the encode hook made', { timeout: 60000 }, async (t) => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  let viewer: WebViewer | undefined;
  const s = await startServer(t, { tcpPort: 0, udpPort: false, httpPort: 0, httpHandler: (req, res) => viewer?.handle(req, res) ?? false });
  viewer = new WebViewer(s);
  t.after(() => viewer?.close());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${s.ports.http}/`);

  const online = next(s, 'clientConnected', (c: ClientInfo) => c.id === 'web');
  const seen = page.evaluate(async () => {
    const script = '/camwire.js'; // served by the page's server
    const { CamwireClient } = await import(script);
    const c = new CamwireClient('ws://' + location.host + '/camwire/v1/ws', 'web');
    const frames: Array<{ transformed: boolean; bytes: number[] }> = [];
    const two = new Promise<void>((resolve) =>
      c.addEventListener('video', (e: CustomEvent) => {
        frames.push({ transformed: e.detail.transformed, bytes: [...e.detail.data] });
        if (frames.length === 2) resolve();
      }),
    );
    await c.connect(['video']);
    await two;
    c.close();
    return frames;
  });
  await online;

  const key = randomBytes(32);
  const clear = randomBytes(64);
  const iv = randomBytes(12);
  const encrypt = (p: Buffer): Buffer => {
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(p), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  };
  const secret = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.ports.tcp, clientId: 'secret', to: 'web', encodeVideo: encrypt });
  const plain = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.ports.tcp, clientId: 'plain', to: 'web' });
  for (const x of [secret, plain]) {
    await x.start();
    t.after(() => x.stop());
  }
  const tapped = (): Promise<void> => new Promise((resolve) => {
    const off = s.onVideo(() => {
      off();
      resolve();
    });
  });
  let one = tapped();
  secret.sendVideoFrame(clear, { width: 8, height: 8 });
  await one;
  one = tapped();
  plain.sendVideoFrame(clear, { width: 8, height: 8 });
  await one;
  const frames = await seen;
  assert.deepEqual(frames[0], { transformed: true, bytes: [...encrypt(clear)] }, 'the ciphertext, flagged');
  assert.deepEqual(frames[1], { transformed: false, bytes: [...clear] });
});
