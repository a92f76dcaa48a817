/**
 * Change-detection benchmark: a synthetic screen share (test/helpers/screen-scene.ts: a still
 * 1280x720 desktop with windows of text, a moving 64x64 cursor, a clock that ticks every second)
 * at 30 frames/s, encoded the way a Sender's sendVideoPixels does it:
 *  - change mode (`video: { encoding: 'change' }`, the original's defaults, JPEG): bytes sent;
 *  - full JPEG frames at the same quality (`encoding: 'frames'`): bytes sent;
 *  - the differ's time per frame (FrameDiffer.diff of each frame against the picture the
 *    receivers hold, as the Sender keeps it), and once for a frame where every pixel changed;
 *  - the composer's time per frame (Picture.place of each update's rectangles, on the receiver's
 *    RGB picture), and the time to decode the update's images (sharp) that composing needs.
 * Bytes are frame bytes on the wire: header (36 + the ids) + video header (7, or 15 with a
 * rectangle) + image. Figures are per 30 s of the scene; a shorter run (--change-seconds) is
 * scaled to 30 s and says so.
 *
 *   npm run bench                                        # everything; this bench runs after the fan-out one
 *   npm run build:test && node build/bench/run.js --cases=change        # only this (or: --cases change)
 *   node build/bench/change.js --change-seconds=5        # alone, shorter
 *
 * Options: --change-seconds=30 --change-fps=30 --change-quality=80 --change-width=1280 --change-height=720
 * Prints a table and merges its results into bench/results.json under the key "change".
 */
import { mergeResults } from './results-file.js';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { FrameDiffer, cropRect } from '../src/media/change/differ.js';
import { Picture } from '../src/media/change/composer.js';
import { decodeToRgb } from '../src/media/change/image-codec.js';
import { CHANGE_DEFAULTS } from '../src/media/change/settings.js';
import { PixelVideo, type EncodedImage } from '../src/roles/change-video.js';
import { ScreenScene } from '../test/helpers/screen-scene.js';
import { median, num, ratio, table } from './table.js';

interface Config {
  seconds: number;
  fps: number;
  quality: number;
  width: number;
  height: number;
}

function parseArgs(argv: string[]): Config {
  const a = new Map(argv.map((s) => s.replace(/^--/, '').split('=', 2) as [string, string]));
  const n = (k: string, d: number): number => {
    const v = Number(a.get(k) ?? d);
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`--${k} must be a positive number`);
    return v;
  };
  return { seconds: n('change-seconds', 30), fps: n('change-fps', 30), quality: n('change-quality', 80), width: n('change-width', 1280), height: n('change-height', 720) };
}

/** Wire bytes of one video frame from client id `from` (no `to`, no group). */
function wireBytes(img: EncodedImage, from: string): number {
  return 36 + Buffer.byteLength(from) + (img.rect ? 15 : 7) + img.data.length;
}

function pct(v: number[], p: number): number {
  const s = [...v].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
}

/** Runs the change-detection benchmark, prints its table and merges its results into bench/results.json. */
export async function runChangeBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const cfg = parseArgs(argv);
  const frames = Math.round(cfg.seconds * cfg.fps);
  const per30 = (30 * cfg.fps) / frames;
  const { width, height } = cfg;
  const scene = new ScreenScene({ width, height, cursor: 64, fps: cfg.fps });
  const opts = { width, height, format: 'rgba' as const };
  console.log(
    `\ncamwire change-detection bench: a ${width}x${height} screen share (still desktop, moving 64x64 cursor, clock ticking every second), ` +
      `${cfg.fps} frames/s for ${cfg.seconds} s (${frames} frames${per30 !== 1 ? `; figures scaled to 30 s` : ''}), JPEG quality ${cfg.quality}; ` +
      `node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  const started = performance.now();

  // 1. Bytes: change mode and full frames, through the Sender's own encoder.
  const from = 'screen';
  const change = new PixelVideo({ encoding: 'change', quality: cfg.quality });
  const full = new PixelVideo({ encoding: 'frames', quality: cfg.quality });
  let changeBytes = 0;
  let fullBytes = 0;
  const updates: EncodedImage[][] = [];
  const encodeMs: number[] = [];
  for (let i = 0; i < frames; i++) {
    const px = scene.frame(i);
    const imgs: EncodedImage[] = [];
    const t0 = performance.now();
    await change.frame(px, opts, (img) => imgs.push(img));
    encodeMs.push(performance.now() - t0);
    for (const img of imgs) changeBytes += wireBytes(img, from);
    updates.push(imgs);
    await full.frame(px, opts, (img) => (fullBytes += wireBytes(img, from)));
  }

  // 2. The differ, as the Sender uses it: each frame against the picture the receivers hold.
  const differ = new FrameDiffer(width, height, 4, CHANGE_DEFAULTS);
  const ref = new Picture(width, height, 4, scene.frame(0));
  const diffMs: number[] = [];
  for (let i = 1; i < frames; i++) {
    const px = scene.frame(i);
    const t0 = performance.now();
    const rects = differ.diff(ref.data, px);
    diffMs.push(performance.now() - t0);
    for (const r of rects) ref.place(r, cropRect(px, width, 4, r));
  }
  // Worst case: every pixel changed (two unrelated frames).
  const a = new Uint8Array(width * height * 4).map((_, i) => (i * 7) & 0xff);
  const b = new Uint8Array(width * height * 4).map((_, i) => (i * 13 + 5) & 0xff);
  const worstMs: number[] = [];
  const worstSenderMs: number[] = [];
  for (let i = 0; i < 60; i++) {
    let t0 = performance.now();
    differ.diff(a, b);
    worstMs.push(performance.now() - t0);
    // As the Sender calls it: it gives up past half the pixels (a full frame is sent instead).
    t0 = performance.now();
    differ.diff(a, b, 0.5);
    worstSenderMs.push(performance.now() - t0);
  }

  // 3. The composer: decode each update's images (sharp), place the rectangles on an RGB picture.
  let picture: Picture | undefined;
  const placeMs: number[] = [];
  const decodeMs: number[] = [];
  for (const imgs of updates) {
    if (imgs.length === 0) continue;
    const t0 = performance.now();
    const decoded = await Promise.all(imgs.map((img) => decodeToRgb(img.data, img.width * img.height)));
    const t1 = performance.now();
    imgs.forEach((img, k) => {
      if (!img.rect) picture = new Picture(img.width, img.height, 3, decoded[k].data);
      else picture!.place(img.rect, decoded[k].data);
    });
    const t2 = performance.now();
    decodeMs.push(t1 - t0);
    if (imgs.some((img) => img.rect)) placeMs.push(t2 - t1);
  }
  const seconds = (performance.now() - started) / 1000;

  const s = change.stats;
  const rows = [
    ['full JPEG frames', num((fullBytes * per30) / 1e6, 2), num((fullBytes * per30 * 8) / 30 / 1e6, 2), String(Math.round(frames * per30)), '-', '1.00x'],
    ['change mode (rectangles)', num((changeBytes * per30) / 1e6, 3), num((changeBytes * per30 * 8) / 30 / 1e6, 3), `${Math.round(s.full * per30)} full + ${Math.round(s.rects * per30)} updates`, String(Math.round(s.unchanged * per30)), ratio(fullBytes, changeBytes)],
  ];
  console.log(table(['per 30 s', 'MB sent', 'Mbit/s', 'frames sent', 'unchanged (not sent)', 'fewer bytes'], rows, ['l', 'r', 'r', 'r', 'r', 'r']));
  const timing = [
    ['differ, per frame (scene)', num(median(diffMs), 3), num(pct(diffMs, 99), 3), num(Math.max(...diffMs), 3)],
    ['differ, every pixel changed (whole compare)', num(median(worstMs), 3), num(pct(worstMs, 99), 3), num(Math.max(...worstMs), 3)],
    ['differ, every pixel changed (Sender: stops past half)', num(median(worstSenderMs), 3), num(pct(worstSenderMs, 99), 3), num(Math.max(...worstSenderMs), 3)],
    ['composer: place rectangles, per update', num(median(placeMs), 3), num(pct(placeMs, 99), 3), num(Math.max(...placeMs), 3)],
    ['composer: decode the update (sharp)', num(median(decodeMs), 3), num(pct(decodeMs, 99), 3), num(Math.max(...decodeMs), 3)],
    ['sender: sendVideoPixels, diff + encode', num(median(encodeMs), 3), num(pct(encodeMs, 99), 3), num(Math.max(...encodeMs), 3)],
  ];
  console.log('\n' + table(['time, ms', 'median', 'p99', 'max'], timing, ['l', 'r', 'r', 'r']));
  const goal = fullBytes / changeBytes;
  const differMedian = median(diffMs);
  console.log(`\nGoal: at least 20x fewer bytes than full JPEG frames: ${goal.toFixed(1)}x (${goal >= 20 ? 'met' : 'NOT met'}); ` + `differ on ${width}x${height} RGBA within 5 ms: median ${differMedian.toFixed(2)} ms on the scene, ${median(worstMs).toFixed(2)} ms with every pixel changed (${median(worstMs) <= 5 ? 'met' : 'NOT met'} in the worst case; ${median(worstSenderMs).toFixed(2)} ms as the Sender compares it, giving up past half)`);
  console.log(`Run time ${seconds.toFixed(1)} s; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the host skews the times)`);

  mergeResults('change', {
    date: new Date().toISOString(),
    config: cfg,
    frames,
    per30sBytes: { full: Math.round(fullBytes * per30), change: Math.round(changeBytes * per30) },
    fewerBytes: goal,
    sent: { ...s },
    ms: {
      differMedian,
      differP99: pct(diffMs, 99),
      differWorstCaseMedian: median(worstMs),
      differWorstCaseSenderMedian: median(worstSenderMs),
      composePlaceMedian: median(placeMs),
      composeDecodeMedian: median(decodeMs),
      sendMedian: median(encodeMs),
    },
  });
}

// Run alone: node build/bench/change.js [options]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runChangeBench().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
