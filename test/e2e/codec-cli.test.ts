/**
 * `camwire send --codec` as a user runs it: an ffmpeg that lacks the encoder is told so by name
 * (exit 4, before anything connects), a bad --bitrate is a usage error, and each codec's frames
 * reach a receiver with their codec string, keyframes first, and the size.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Receiver, type VideoFrame } from '../../src/index.js';
import { firstMjpegImage } from '../helpers/mjpeg-image.js';
import { cli } from '../helpers/cli.js';
import { within } from '../helpers/wait.js';

/** A folder on PATH whose `ffmpeg` lists only the mjpeg encoder (an ffmpeg built without the others). */
function poorFfmpeg(t: TestContext): NodeJS.ProcessEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-poor-ffmpeg-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'ffmpeg'), '#!/bin/sh\necho "Encoders:"\necho " V....D mjpeg                Motion JPEG"\n', { mode: 0o755 });
  return { PATH: `${dir}${path.delimiter}${process.env.PATH}` };
}

test('codec cli - an ffmpeg without the encoder is named (exit 4), before connecting', async (t) => {
  for (const [codec, named] of [['h264', /ffmpeg has no libx264 encoder, which --codec h264 needs/], ['av1', /no libaom-av1 or libsvtav1 encoder, which --codec av1 needs/]] as const) {
    const p = cli(t, ['send', '--server', '127.0.0.1:9', '--codec', codec], { env: poorFfmpeg(t) });
    assert.equal(await p.exited, 4, p.stderr());
    assert.match(p.stderr(), named);
    assert.doesNotMatch(p.stderr(), /connect/);
  }
});

test('codec cli - a bad --bitrate or --codec is a usage error (exit 2)', async (t) => {
  const a = cli(t, ['send', '--server', '127.0.0.1:9', '--codec', 'h264', '--bitrate', 'fast']);
  assert.equal(await a.exited, 2);
  assert.match(a.stderr(), /--bitrate: expected bits per second/);
  const b = cli(t, ['send', '--server', '127.0.0.1:9', '--codec', 'h265']);
  assert.equal(await b.exited, 2);
  assert.match(b.stderr(), /h265/);
});

for (const [codec, re] of [['h264', /^avc1\.[0-9A-F]{6}$/], ['vp8', /^vp8$/], ['vp9', /^vp09\.00\.\d\d\.08$/], ['av1', /^av01\.0\.\d\d[MH]\.08$/]] as const) {
  test(`codec cli - send --codec ${codec}: frames with the codec string, a keyframe first, the size`, { timeout: 60000 }, async (t) => {
    const rx = new Receiver({ protocol: 'tcp', connection: 'sender-to-receiver', host: '127.0.0.1', port: 0 });
    await rx.start();
    t.after(() => rx.stop());
    const got: VideoFrame[] = [];
    const enough = new Promise<void>((resolve) => rx.on('video', (v) => (got.push(v), got.length >= 20 && resolve())));
    const tx = cli(t, ['send', '--server', `127.0.0.1:${rx.port}`, '--id', 'cam', '--codec', codec, '--size', '320x240', '--fps', '15', '--keyint', '10']);
    await within(enough, 40000, `20 ${codec} frames`);
    tx.child.kill('SIGINT');
    assert.equal(await tx.exited, 0, tx.stderr());
    assert.equal(got[0].keyframe, true, 'the first frame is a keyframe');
    for (const v of got) {
      assert.match(v.imageType, re);
      assert.equal(v.width, 320);
      assert.equal(v.height, 240);
      assert.ok(Math.abs(Date.now() - v.timestamp) < 60000, 'the capture time is a time since the epoch');
    }
    // A bounded keyframe interval: every 10 frames at most (a receiver may miss frames, never keyframes here).
    assert.ok(got.filter((v) => v.keyframe).length >= 2, `keyframes: ${got.map((v) => (v.keyframe ? 'K' : '.')).join('')}`);
  });
}

test('codec cli - receive --mjpeg-port shows a compressed source as MJPEG (transcoded while watched)', { timeout: 60000 }, async (t) => {
  const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--mjpeg-port', '0']);
  const url = (await rx.waitFor(/mjpeg: (\S+)/))[1];
  const port = (await rx.waitFor(/listening on \S+:(\d+)/))[1];
  cli(t, ['send', '--server', `127.0.0.1:${port}`, '--id', 'cam', '--codec', 'vp8', '--size', '320x240', '--fps', '15', '--keyint', '15']);
  const jpeg = await firstMjpegImage(url, 30000);
  assert.ok(jpeg.length > 500, `a JPEG of ${jpeg.length} bytes`);
});

test('codec cli - an --input file: re-encoded to VP9 at --size, or its H.264 copied as it is (its own size)', { timeout: 60000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-codec-input-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const clip = path.join(dir, 'clip.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=352x288:rate=15', '-t', '3', '-c:v', 'libx264', '-bf', '0', '-g', '15', '-pix_fmt', 'yuv420p', clip]);
  for (const [codec, re, size] of [['vp9', /^vp09\./, [320, 240]], ['h264', /^avc1\./, [352, 288]]] as const) {
    const rx = new Receiver({ protocol: 'tcp', connection: 'sender-to-receiver', host: '127.0.0.1', port: 0 });
    await rx.start();
    t.after(() => rx.stop());
    const got: VideoFrame[] = [];
    const enough = new Promise<void>((resolve) => rx.on('video', (v) => (got.push(v), got.length >= 10 && resolve())));
    const tx = cli(t, ['send', '--server', `127.0.0.1:${rx.port}`, '--id', 'cam', '--input', clip, '--loop', '--codec', codec, '--size', '320x240']);
    await within(enough, 30000, `10 ${codec} frames`);
    tx.child.kill('SIGINT');
    await tx.exited;
    if (codec === 'h264') assert.match(tx.stdout(), /copying the input's H\.264 as it is/);
    else assert.doesNotMatch(tx.stdout(), /copying/);
    assert.equal(got[0].keyframe, true);
    for (const v of got) {
      assert.match(v.imageType, re);
      assert.deepEqual([v.width, v.height], size);
    }
  }
});
