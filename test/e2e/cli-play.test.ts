/**
 * `camwire receive --play` with compressed video: a real ffplay (headless: SDL's dummy video and
 * audio drivers) shows H.264 and then, from another sender, VP8 at another size. What proves
 * that frames reached ffplay and were decoded is ffplay's own log (FFREPORT, debug level): it
 * logs "Video frame changed from size:... to size:WxH" for its first decoded frame and at each
 * size change. Video no output can show (BMP, a codec camwire does not decode) is said once per
 * image type.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Sender } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

/** The text of ffplay's report files in `dir` (ffmpeg's, also there, are left out). */
function ffplayLog(dir: string): string {
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('ffplay-'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}

test('cli play - receive --play shows H.264, then VP8 at another size, through ffplay (decoded frames in its log)', { timeout: 90000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-play-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Every ffplay/ffmpeg the receiver starts writes its log at debug level (48) to dir/<program>-<time>.log.
  const env = { SDL_VIDEODRIVER: 'dummy', SDL_AUDIODRIVER: 'dummy', FFREPORT: `file=${dir}/%p-%t.log:level=48` };
  const watcher = fs.watch(dir);
  t.after(() => watcher.close());
  const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--play', '--quiet'], { env });
  const port = (await rx.waitFor(/listening on \S+:(\d+)/, 20000))[1];
  const decoded = (size: string): RegExp => new RegExp(`Video frame changed from size:\\S+ format:\\S+ serial:-?\\d+ to size:${size} `);
  const shown = (size: string, codec: string): Promise<void> =>
    until(() => decoded(size).test(ffplayLog(dir)), {
      on: [[watcher, 'change', 'rename'], [rx.child.stderr!, 'data'], [rx.child, 'exit']],
      timeoutMs: 40000,
      what: () => `ffplay's log to show a decoded ${size} frame of the ${codec} sender; receive stderr: ${rx.stderr()}; ffplay log tail: ${ffplayLog(dir).slice(-1500)}`,
    });

  const h264 = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'cam', '--codec', 'h264', '--size', '320x240', '--fps', '15', '--keyint', '10']);
  await shown('320x240', 'H.264');
  h264.child.kill('SIGINT');
  await h264.exited;

  // Another codec and size: the transcoder starts again at the VP8 keyframe; the same ffplay goes on.
  const vp8 = cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'cam', '--codec', 'vp8', '--size', '160x120', '--fps', '15', '--keyint', '10']);
  await shown('160x120', 'VP8');
  vp8.child.kill('SIGINT');
  await vp8.exited;

  rx.child.kill('SIGINT');
  assert.equal(await rx.exited, 0, rx.stderr());
  // One ffplay for both: the size change is logged by the ffplay that showed the H.264.
  assert.equal(fs.readdirSync(dir).filter((f) => f.startsWith('ffplay-')).length, 1);
  assert.match(ffplayLog(dir), /Input #0, mjpeg, from 'pipe:0'/);
  // The warning for video --play cannot show is not given for H.264 or VP8.
  assert.doesNotMatch(rx.stderr(), /--play (takes|shows)/);
});

test('cli play - receive --play says once per image type that BMP or an unknown codec does not reach ffplay', { timeout: 60000 }, async (t) => {
  const env = { SDL_VIDEODRIVER: 'dummy', SDL_AUDIODRIVER: 'dummy' };
  const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--play', '--quiet', '--log-format', 'pretty'], { env });
  const port = Number((await rx.waitFor(/listening on \S+:(\d+)/, 20000))[1]);
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port, clientId: 'cam' });
  await tx.start();
  t.after(() => tx.stop());
  // Two sources (a Sender's latest frame of one source replaces the one before): frames until the receiver has said both (each said once however many come).
  const frames = setInterval(() => {
    tx.sendVideoFrame(Buffer.from('not decoded'), { imageType: 'bmp', width: 16, height: 16 });
    tx.sendVideoFrame(Buffer.from('not decoded'), { imageType: 'hvc1.1.6.L93.B0', width: 16, height: 16, keyframe: true, mediaIndex: 1 });
  }, 50);
  t.after(() => clearInterval(frames));
  await rx.waitFor(/--play shows JPEG, H\.264, VP8, VP9 and AV1 video only: this bmp video does not reach it/, 20000);
  await rx.waitFor(/--play shows JPEG, H\.264, VP8, VP9 and AV1 video only: this hvc1\.1\.6\.L93\.B0 video does not reach it/, 20000);
  clearInterval(frames);
  await tx.stop();
  rx.child.kill('SIGINT');
  assert.equal(await rx.exited, 0, rx.stderr());
  const warnings = rx.stderr().split('\n').filter((l) => / WARN /.test(l));
  assert.equal(warnings.length, 2, rx.stderr());
});

test('cli play - a .mjpeg output that cannot keep up skips frames, counted in the status line; the newest goes on', { timeout: 60000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-busy-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A FIFO that this process holds open and never reads: the receiver's writes fill it, then wait.
  const fifo = path.join(dir, 'out.mjpeg');
  execFileSync('mkfifo', [fifo]);
  const held = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  t.after(() => fs.closeSync(held));
  const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--save', fifo, '--quiet']);
  const port = Number((await rx.waitFor(/listening on \S+:(\d+)/, 20000))[1]);
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port });
  await tx.start();
  t.after(() => tx.stop());
  // 20 KB JPEG-typed frames, 20 per second: the 64 KiB pipe is full after a few.
  const frame = Buffer.alloc(20_000, 7);
  const timer = setInterval(() => tx.sendVideoFrame(frame, { imageType: 'jpeg', width: 320, height: 240 }), 50);
  t.after(() => clearInterval(timer));
  const m = await rx.waitFor(/, (\d+) skipped by a busy output/, 30000);
  assert.ok(Number(m[1]) > 0);
});
