/**
 * The viewer as a dashboard (issue 10, "Dashboard"), in Debian's Chromium at desktop and phone
 * sizes: per-tile fps, bitrate and latency sparklines, snapshot and fullscreen buttons, "—" for
 * an unknown latency (an HTTP ingest), and the server panel. Screenshots go to build/
 * (docs/viewer-desktop.png and docs/viewer-phone.png are copies of them).
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
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (npm test installs it as root)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}

const SIZES = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];

test('dashboard - sparklines, snapshot, fullscreen, "—" latency and the server panel, on desktop and phone', { timeout: 90000 }, async (t) => {
  const s = await cliServer(t);
  cli(t, ['send', '--server', `127.0.0.1:${s.tcp}`, '--id', 'cam1', '--fps', '10']);
  // An HTTP ingest: its frames carry the server's clock, so its latency is unknown.
  const ff = execFile('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', '60', '-q:v', '5', '-f', 'mpjpeg', `http://127.0.0.1:${s.http}/ingest/door`]);
  t.after(() => ff.kill('SIGKILL'));
  const browser = await launch();
  t.after(() => browser.close());
  for (const size of SIZES) {
    const page = await browser.newPage({ viewport: { width: size.width, height: size.height } });
    await page.goto(s.url);
    // Three polls have drawn every sparkline of the tile (a line needs two points).
    for (const metric of ['fps', 'bitrate', 'latency']) {
      await page.waitForFunction((m) => Number((document.querySelector(`figure[data-source="cam1/0"] canvas[data-metric="${m}"]`) as HTMLElement | null)?.dataset.points) >= 3, metric, { timeout: 30000 });
    }
    await page.waitForFunction(() => /latency —/.test(document.querySelector('figure[data-source="door/0"] figcaption')?.textContent ?? ''), undefined, { timeout: 30000 });
    assert.equal(await page.locator('figure[data-source="door/0"] canvas[data-metric="latency"]').getAttribute('data-points'), '0', 'no latency points for an unknown latency');
    // The server panel: counts and its own sparklines.
    await page.waitForFunction(() => Number((document.getElementById('server-traffic') as HTMLElement).dataset.points) >= 2, undefined, { timeout: 30000 });
    assert.match(await page.textContent('#server-counts') ?? '', /^0 online, 2 sending, 0 group\(s\), [1-9]\d* link\(s\), video [\d.]+ (kbit|Mbit)\/s$/);
    // Snapshot: a JPEG of the source, named for download.
    const snap = page.locator('figure[data-source="cam1/0"] a.snapshot');
    assert.equal(await snap.getAttribute('download'), 'cam1-0.jpg');
    const type = await page.evaluate(async (href) => (await fetch(href as string)).headers.get('content-type'), await snap.getAttribute('href'));
    assert.equal(type, 'image/jpeg');
    // Fullscreen: the tile fills the screen, and the same button leaves it.
    await page.click('figure[data-source="cam1/0"] button.fullscreen');
    await page.waitForFunction(() => (document.fullscreenElement as HTMLElement | null)?.dataset.source === 'cam1/0', undefined, { timeout: 10000 });
    await page.click('figure[data-source="cam1/0"] button.fullscreen');
    await page.waitForFunction(() => document.fullscreenElement === null, undefined, { timeout: 10000 });
    // Everything fits the screen's width.
    const box = await page.locator('figure[data-source="cam1/0"]').boundingBox();
    assert.ok(box && box.width <= size.width, `${size.name}: tile width ${box?.width}`);
    const spark = await page.locator('figure[data-source="cam1/0"] canvas[data-metric="bitrate"]').boundingBox();
    assert.ok(spark && spark.width > 40, `${size.name}: sparkline width ${spark?.width}`);
    await page.screenshot({ path: path.join(ROOT, 'build', `viewer-${size.name}.png`), fullPage: size.name === 'phone' });
    await page.close();
  }
});
