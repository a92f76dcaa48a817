/**
 * Codec benchmark: what compressed video buys (issue: compressed video). Two parts.
 *
 * 1. Bytes per second at equal quality. For 640x360 and 1280x720, two contents (camwire's test
 *    pattern, rendered as JPEG at quality 100, and ffmpeg's testsrc2), 2 s at 30 frames/s: each
 *    codec with camwire's own encoder settings (MJPEG: ffmpeg's mjpeg at -q:v; H.264 and VP9:
 *    sources/ffmpeg-codec.ts, low latency, constant quality) at the lowest quality whose SSIM
 *    against the source (ffmpeg's ssim filter, mean over the frames) is at least 0.95, found by
 *    bisection of -q:v or -crf. Goal: H.264 at least 5x smaller than MJPEG.
 * 2. Glass-to-glass latency on loopback: `camwire server`, `camwire send --codec h264 --size
 *    1280x720 --fps 30` (the test pattern through ffmpeg's x264), and Chromium decoding it with
 *    the viewer's VideoPainter (WebCodecs); per painted frame, browser Date.now() minus the
 *    frame's capture timestamp (the pattern's), p50 and p99. The same for VP9 and for MJPEG
 *    (createImageBitmap) beside it. Goal: H.264 p50 at most 100 ms at 1280x720, 30 frames/s.
 *
 *   npm run bench                                  # everything; this bench runs after the others
 *   node build/bench/run.js --cases=codec          # only this
 *   node build/bench/codec.js [--codec-parts=size,latency] [--codec-seconds=10]
 *
 * Prints tables; merges its results into bench/results.json under the key "codec".
 */
import { mergeResults } from './results-file.js';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { encodeArgs } from '../src/sources/ffmpeg-codec.js';
import { TestPattern } from '../src/sources/test-pattern.js';
import { num, ratio, table } from './table.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const FPS = 30;
const SECONDS = 2;
const SSIM_GOAL = 0.95;

function ffmpeg(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', ['-hide_banner', '-nostdin', '-y', ...args], { maxBuffer: 64 << 20 }, (err, _out, stderr) => (err ? reject(new Error(`ffmpeg ${args.join(' ')}: ${stderr}`)) : resolve(stderr)));
  });
}

type Codec = 'mjpeg' | 'h264' | 'vp9';

/** The quality knob of each codec: its range (best first) and the encoder arguments at a value. */
const KNOB: Record<Codec, { lo: number; hi: number; args: (v: number) => string[]; ext: string }> = {
  mjpeg: { lo: 2, hi: 31, args: (q) => ['-c:v', 'mjpeg', '-q:v', String(q), '-pix_fmt', 'yuvj420p', '-f', 'mjpeg'], ext: 'mjpeg' },
  h264: { lo: 10, hi: 51, args: (crf) => encodeArgs({ codec: 'h264', keyint: FPS * 2, crf }), ext: 'h264' },
  vp9: { lo: 10, hi: 63, args: (crf) => encodeArgs({ codec: 'vp9', keyint: FPS * 2, crf }), ext: 'ivf' },
};

/** The mean SSIM of `file` against `ref`, frame by frame. */
async function ssim(file: string, ref: string): Promise<number> {
  // Both in limited-range 4:2:0 (MJPEG decodes to full range), frame n against frame n.
  const norm = `scale=out_range=limited,format=yuv420p,settb=1/${FPS},setpts=N`;
  const err = await ffmpeg(['-i', file, '-i', ref, '-lavfi', `[0:v]${norm}[a];[1:v]${norm}[b];[a][b]ssim`, '-f', 'null', '-']);
  const m = /All:([\d.]+)/.exec(err);
  if (!m) throw new Error(`no SSIM in: ${err.slice(-300)}`);
  return Number(m[1]);
}

interface SizeResult {
  content: string;
  size: string;
  codec: Codec;
  knob: number;
  ssim: number;
  bytesPerSecond: number;
}

/** The smallest encoding of `ref` by `codec` with SSIM >= the goal (bisection of its quality knob). */
async function smallest(dir: string, ref: string, codec: Codec): Promise<{ knob: number; ssim: number; bytes: number }> {
  const k = KNOB[codec];
  let lo = k.lo;
  let hi = k.hi;
  let best: { knob: number; ssim: number; bytes: number } | undefined;
  const tryAt = async (v: number): Promise<{ ssim: number; bytes: number }> => {
    const out = path.join(dir, `${codec}-${v}.${k.ext}`);
    await ffmpeg(['-i', ref, ...k.args(v), out]);
    const r = { ssim: await ssim(out, ref), bytes: statSync(out).size };
    rmSync(out);
    return r;
  };
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const r = await tryAt(mid);
    if (r.ssim >= SSIM_GOAL) {
      best = { knob: mid, ...r };
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (!best) best = { knob: k.lo, ...(await tryAt(k.lo)) };
  return best;
}

/** The reference clips: y4m (raw 4:2:0) of each content at `size`. */
async function references(dir: string, w: number, h: number): Promise<Array<{ content: string; file: string }>> {
  const frames = FPS * SECONDS;
  const pattern = new TestPattern({ width: w, height: h, fps: FPS, quality: 100 });
  const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
  const jpegs: Buffer[] = [];
  for (let n = 0; n < frames; n++) jpegs.push(await pattern.frame(n, new Date(t0 + (n * 1000) / FPS)));
  const mj = path.join(dir, `pattern-${w}.mjpeg`);
  writeFileSync(mj, Buffer.concat(jpegs));
  const patternRef = path.join(dir, `pattern-${w}.y4m`);
  await ffmpeg(['-framerate', String(FPS), '-f', 'mjpeg', '-i', mj, '-pix_fmt', 'yuv420p', patternRef]);
  rmSync(mj);
  const testsrcRef = path.join(dir, `testsrc2-${w}.y4m`);
  await ffmpeg(['-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${FPS}`, '-frames:v', String(frames), '-pix_fmt', 'yuv420p', testsrcRef]);
  return [
    { content: 'test pattern', file: patternRef },
    { content: 'testsrc2', file: testsrcRef },
  ];
}

async function sizePart(): Promise<SizeResult[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'camwire-codec-bench-'));
  const out: SizeResult[] = [];
  try {
    for (const [w, h] of [[640, 360], [1280, 720]]) {
      for (const ref of await references(dir, w, h)) {
        for (const codec of ['mjpeg', 'h264', 'vp9'] as Codec[]) {
          const r = await smallest(dir, ref.file, codec);
          out.push({ content: ref.content, size: `${w}x${h}`, codec, knob: r.knob, ssim: r.ssim, bytesPerSecond: r.bytes / SECONDS });
          process.stdout.write('.');
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write('\n');
  return out;
}

// ---------------------------------------------------------------- glass to glass

interface LatencyResult {
  codec: Codec;
  frames: number;
  fps: number;
  p50: number;
  p99: number;
}

function camwire(args: string[]): { child: ChildProcess; line: (re: RegExp) => Promise<RegExpMatchArray> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CAMWIRE_DATA_DIR: '' } });
  let text = '';
  const waiters = new Set<() => void>();
  const on = (d: Buffer): void => {
    text += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', on);
  child.stderr!.on('data', on);
  return {
    child,
    line: (re) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`camwire ${args.join(' ')}: no ${re} in 20 s: ${text}`)), 20000);
        const check = (): void => {
          const m = re.exec(text);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function latencyPart(seconds: number): Promise<LatencyResult[]> {
  const server = camwire(['server', '--memory', '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', 'off', '--http-port', '0', '--log-level', 'warn']);
  const out: LatencyResult[] = [];
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    const tcp = (await server.line(/tcp (\d+)/))[1];
    const url = (await server.line(/viewer: (\S+)/))[1];
    for (const codec of ['h264', 'vp9', 'mjpeg'] as Codec[]) {
      const id = `g2g-${codec}`;
      const tx = camwire(['send', '--server', `127.0.0.1:${tcp}`, '--id', id, '--size', '1280x720', '--fps', String(FPS), '--codec', codec, '--quality', '80']);
      try {
        const page = await browser.newPage();
        await page.goto(url);
        const samples = await page.evaluate(
          async ([src, ms]) => {
            const script: string = '/camwire.js';
            const { VideoPainter, streamVideo } = await import(script);
            const canvas = document.createElement('canvas');
            const lat: number[] = [];
            let warm = true;
            const painter = new VideoPainter(canvas, () => undefined, (st: { latency: number }) => warm || lat.push(st.latency));
            const ctl = new AbortController();
            // The source may not be listed yet: retry the stream until it answers.
            const run = async (): Promise<void> => {
              while (!ctl.signal.aborted) {
                try {
                  await streamVideo('/stream/' + src + '/0', (v: unknown) => painter.push(v), ctl.signal);
                } catch {
                  await new Promise((r) => setTimeout(r, 200));
                }
              }
            };
            void run();
            await new Promise((r) => setTimeout(r, 3000));
            warm = false;
            await new Promise((r) => setTimeout(r, ms));
            ctl.abort();
            return lat;
          },
          [id, seconds * 1000] as const,
        );
        await page.close();
        const sorted = [...samples].sort((a, b) => a - b);
        out.push({ codec, frames: samples.length, fps: samples.length / seconds, p50: pct(sorted, 50), p99: pct(sorted, 99) });
      } finally {
        tx.child.kill('SIGTERM');
      }
    }
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
  }
  return out;
}

export async function runCodecBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const args = new Map(argv.map((a) => a.replace(/^--/, '').split('=', 2) as [string, string]));
  const parts = (args.get('codec-parts') ?? 'size,latency').split(',');
  const seconds = Number(args.get('codec-seconds') ?? 10);
  console.log(`\ncamwire codec bench: node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const json: Record<string, unknown> = {};
  if (parts.includes('size')) {
    console.log(`\nBytes per second at SSIM >= ${SSIM_GOAL} (${SECONDS} s at ${FPS} frames/s; the lowest quality that keeps the SSIM):`);
    const rows = await sizePart();
    json.size = rows;
    const out: string[][] = [];
    for (const size of ['640x360', '1280x720']) {
      for (const content of ['test pattern', 'testsrc2']) {
        const of = (c: Codec): SizeResult => rows.find((r) => r.size === size && r.content === content && r.codec === c)!;
        const [m, h, v] = [of('mjpeg'), of('h264'), of('vp9')];
        out.push([size, content, `${num((m.bytesPerSecond * 8) / 1e6, 2)} (q ${m.knob}, ${m.ssim.toFixed(3)})`, `${num((h.bytesPerSecond * 8) / 1e6, 3)} (crf ${h.knob}, ${h.ssim.toFixed(3)})`, `${num((v.bytesPerSecond * 8) / 1e6, 3)} (crf ${v.knob}, ${v.ssim.toFixed(3)})`, ratio(m.bytesPerSecond, h.bytesPerSecond), ratio(m.bytesPerSecond, v.bytesPerSecond)]);
      }
    }
    console.log(table(['size', 'content', 'MJPEG Mbit/s (knob, SSIM)', 'H.264 Mbit/s', 'VP9 Mbit/s', 'MJPEG/H.264', 'MJPEG/VP9'], out, ['l', 'l', 'r', 'r', 'r', 'r', 'r']));
    console.log('Goal: H.264 at least 5x smaller than MJPEG.');
  }
  if (parts.includes('latency')) {
    console.log(`\nGlass to glass on loopback, 1280x720 at ${FPS} frames/s (test pattern capture -> camwire send -> server -> Chromium painted frame), ${seconds} s after 3 s of warm-up:`);
    const rows = await latencyPart(seconds);
    json.latency = rows;
    console.log(table(['codec', 'frames painted', 'fps', 'p50 ms', 'p99 ms'], rows.map((r) => [r.codec, String(r.frames), num(r.fps, 1), num(r.p50, 0), num(r.p99, 0)]), ['l', 'r', 'r', 'r', 'r']));
    console.log('Goal: H.264 p50 at most 100 ms.');
  }
  mergeResults('codec', json);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runCodecBench().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
