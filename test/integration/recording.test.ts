/**
 * Recording with true timing (issue 12, item 4): the Recorder writes each frame at its own
 * timestamp, JPEG through ffmpeg and compressed video remuxed, with the audio; checked with
 * ffprobe. Figures (durations against the wall clock) are printed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test, type TestContext } from 'node:test';
import { Sender } from '../../src/index.js';
import { ErrorCode } from '../../src/errors.js';
import { Recorder } from '../../src/media/recorder/recorder.js';
import { cli } from '../helpers/cli.js';
import { ffprobe, h264Frames, jpegFrames, lanesUp, opusPackets, paced, pcmChunk, vp9Frames } from '../helpers/media.js';
import { once } from '../helpers/wait.js';

const exec = promisify(execFile);

function tmp(t: TestContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-rec-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The video packets' presentation times in ms, as ffprobe reads them. */
async function videoTimes(file: string): Promise<number[]> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file]);
  return stdout.trim().split('\n').map((l) => Math.round(Number(l) * 1000)).sort((a, b) => a - b);
}

/** Uneven frame times: 10 frames/s, then 30, then 5 (what a constant-rate pipe got wrong). */
function unevenTimes(n: number, t0: number): number[] {
  const out: number[] = [];
  let t = t0;
  for (let i = 0; i < n; i++) {
    out.push(t);
    t += i < n / 3 ? 100 : i < (2 * n) / 3 ? 33 : 200;
  }
  return out;
}

describe('recorder', () => {
  for (const [kind, ext, audio] of [['h264', '.mkv', 'opus'], ['h264', '.mp4', 'pcm_s16le'], ['jpeg', '.mp4', 'pcm_s16le'], ['jpeg', '.mkv', 'opus'], ['vp9', '.webm', 'opus']] as const) {
    test(`recorder - ${kind} at uneven timestamps with ${audio} into ${ext}: every frame at its own time`, async (t) => {
      const frames = kind === 'h264' ? await h264Frames(45) : kind === 'vp9' ? await vp9Frames(45) : await jpegFrames(45);
      const t0 = 1_700_000_000_000;
      const times = unevenTimes(frames.length, t0);
      const spanMs = times[times.length - 1] - t0;
      const chunks = Math.floor(spanMs / 20);
      const opus = audio === 'opus' ? await opusPackets(chunks) : [];
      const file = path.join(tmp(t), `out${ext}`);
      const rec = new Recorder({ path: file });
      const errors: Error[] = [];
      rec.on('error', (e) => errors.push(e));
      let j = 0;
      for (let i = 0; i < frames.length; i++) {
        for (; j < chunks && t0 + j * 20 <= times[i]; j++) {
          rec.audio({ data: audio === 'opus' ? opus[j] : pcmChunk(j), codec: audio, sampleRate: 48000, channels: 1, timestamp: t0 + j * 20 });
        }
        rec.video({ ...frames[i], timestamp: times[i] });
      }
      const stats = await rec.close();
      assert.deepEqual(errors, []);
      assert.equal(stats.videoFrames, frames.length);
      const p = await ffprobe(file);
      console.log(`# ${kind}${ext}: ${frames.length} frames over ${spanMs} ms of frame time; ffprobe: duration ${p.duration.toFixed(3)} s, ${p.video?.frames} frames, ${p.video?.codec}, audio ${p.audio?.codec}`);
      assert.equal(p.video?.codec, kind === 'vp9' ? 'vp9' : 'h264');
      assert.equal(p.video?.frames, frames.length);
      assert.equal(p.audio?.codec, audio === 'opus' ? 'opus' : ext === '.mp4' && kind === 'jpeg' ? 'aac' : 'pcm_s16le');
      // Each frame where its timestamp says (to the millisecond).
      assert.deepEqual(await videoTimes(file), times.map((x) => x - t0));
      assert.ok(Math.abs(p.duration * 1000 - spanMs) / spanMs < 0.05, `duration ${p.duration} s for ${spanMs} ms`);
    });
  }

  test('recorder - compressed video starts at a keyframe; audio alone makes an audio-only file', async (t) => {
    const dir = tmp(t);
    const frames = await h264Frames(30, { gop: 10 });
    const rec = new Recorder({ path: path.join(dir, 'v.mkv'), expect: { audio: false } });
    frames.forEach((f, i) => rec.video({ ...f, timestamp: 1000 + i * 66 }));
    const s = await rec.close();
    // Frames 0..29 with an IDR at 0, 10, 20: nothing is dropped when the first is a keyframe.
    assert.equal(s.videoFrames, 30);
    // Sent without a size (sendVideoFrame's default 0x0): the size comes from the SPS.
    const sizeless = new Recorder({ path: path.join(dir, 'sizeless.mp4'), expect: { audio: false } });
    frames.forEach((f, i) => sizeless.video({ ...f, width: 0, height: 0, timestamp: 1000 + i * 66 }));
    await sizeless.close();
    assert.deepEqual(sizeless.tracks?.video && [sizeless.tracks.video.width, sizeless.tracks.video.height], [320, 240]);
    const sp = await ffprobe(path.join(dir, 'sizeless.mp4'));
    assert.deepEqual([sp.video?.width, sp.video?.height, sp.video?.frames], [320, 240, 30]);
    const late = new Recorder({ path: path.join(dir, 'late.mkv'), expect: { audio: false } });
    frames.slice(3).forEach((f, i) => late.video({ ...f, timestamp: 1000 + i * 66 }));
    const ls = await late.close();
    assert.deepEqual([ls.droppedVideo, ls.videoFrames], [7, 20]);
    assert.equal((await ffprobe(path.join(dir, 'late.mkv'))).video?.frames, 20);

    // A "keyframe" without its SPS (corrupt, or cut) cannot start an H.264 file: dropped, counted.
    const noSps = new Recorder({ path: path.join(dir, 'nosps.mkv'), expect: { audio: false } });
    noSps.video({ ...frames[0], data: Buffer.from([0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00]), timestamp: 900 });
    frames.forEach((f, i) => noSps.video({ ...f, timestamp: 1000 + i * 66 }));
    const ns = await noSps.close();
    assert.deepEqual([ns.droppedVideo, ns.videoFrames], [1, 30]);

    const audioOnly = new Recorder({ path: path.join(dir, 'a.mkv') });
    const opus = await opusPackets(100);
    opus.forEach((d, i) => audioOnly.audio({ data: d, codec: 'opus', sampleRate: 48000, channels: 1, timestamp: 5000 + i * 20 }));
    await audioOnly.close();
    const p = await ffprobe(path.join(dir, 'a.mkv'));
    assert.equal(p.video, undefined);
    assert.equal(p.audio?.codec, 'opus');
    assert.ok(Math.abs(p.duration - 2) < 0.1, `audio-only duration ${p.duration}`);
  });

  test('recorder - what cannot be recorded is an error event, never a throw: png, a missing ffmpeg, an unwritable folder', async (t) => {
    const dir = tmp(t);
    const png = new Recorder({ path: path.join(dir, 'p.mkv'), expect: { audio: false } });
    const pngErr = once(png, 'error', 5000);
    png.video({ data: Buffer.alloc(10), imageType: 'png', width: 2, height: 2, keyframe: true, timestamp: 1 });
    assert.equal((await pngErr)[0].code, ErrorCode.RECORD_UNSUPPORTED);
    png.video({ data: Buffer.alloc(10), imageType: 'png', width: 2, height: 2, keyframe: true, timestamp: 2 });
    await assert.rejects(png.close(), { code: ErrorCode.RECORD_UNSUPPORTED });
    assert.equal(png.stats.droppedVideo, 2);

    const [jpeg] = await jpegFrames(1);
    const noFfmpeg = new Recorder({ path: path.join(dir, 'j.mp4'), expect: { audio: false }, transcode: { ffmpegPath: '/nonexistent/ffmpeg' } });
    const missing = once(noFfmpeg, 'error', 5000);
    noFfmpeg.video({ ...jpeg, timestamp: 1 });
    assert.equal((await missing)[0].code, ErrorCode.FFMPEG_MISSING);
    await assert.rejects(noFfmpeg.close(), { code: ErrorCode.FFMPEG_MISSING });

    const [h264] = await h264Frames(1);
    const unwritable = new Recorder({ path: path.join(dir, 'no', 'such', 'dir', 'v.mp4'), expect: { audio: false } });
    const errors: Array<Error & { code?: string }> = [];
    unwritable.on('error', (e) => errors.push(e));
    unwritable.video({ ...h264, timestamp: 1 });
    // The muxer writes in chunks: the failure may show only when the file is finished.
    await assert.rejects(unwritable.close(), { code: ErrorCode.RECORD_FAILED });
    assert.deepEqual(errors.map((e) => e.code), [ErrorCode.RECORD_FAILED]);
    assert.throws(() => new Recorder({ path: path.join(dir, 'x.avi') }), { code: ErrorCode.RECORD_UNSUPPORTED });
  });
});

describe('receive --save', () => {
  test('receive --save - a source that changes size continues in out-2.mkv from the keyframe of the new size', async (t) => {
    const [small, large] = await Promise.all([h264Frames(20, { gop: 10 }), h264Frames(20, { width: 640, height: 360, gop: 10 })]);
    const frames = [...small, ...large];
    const dir = tmp(t);
    const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video', '--save', path.join(dir, 'out.mkv'), '--count', String(frames.length), '--quiet']);
    const port = Number((await rx.waitFor(/listening on [^:]+:(\d+)/))[1]);
    const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port });
    await tx.start();
    t.after(() => tx.stop());
    const up = lanesUp(tx, ['video']);
    await paced(frames.length, 15, (i, now) => tx.sendVideoFrame(frames[i].data, { imageType: frames[i].imageType, keyframe: frames[i].keyframe, width: frames[i].width, height: frames[i].height, timestamp: now }), undefined, up);
    assert.equal(await rx.exited, 0, rx.stderr());
    assert.match(rx.stderr(), /saved .*out\.mkv: 20 video frames/);
    assert.match(rx.stderr(), /saved .*out-2\.mkv: 20 video frames/);
    const probes = await Promise.all(['out.mkv', 'out-2.mkv'].map((f) => ffprobe(path.join(dir, f))));
    assert.deepEqual(probes.map((p) => [p.video?.width, p.video?.height, p.video?.frames]), [[320, 240, 20], [640, 360, 20]]);
  });

  for (const [kind, ext, audio] of [['jpeg', '.mp4', 'pcm_s16le'], ['h264', '.mkv', 'opus']] as const) {
    test(`receive --save - ${kind} with ${audio} audio, sent live at 15 frames/s, into ${ext}: duration, frames, codecs`, async (t) => {
      const n = 60;
      const frames = kind === 'h264' ? await h264Frames(n) : await jpegFrames(n);
      const opus = audio === 'opus' ? await opusPackets(250) : [];
      const file = path.join(tmp(t), `out${ext}`);
      const rx = cli(t, ['receive', '--listen', '127.0.0.1:0', '--types', 'video,audio', '--save', file, '--count', String(n), '--quiet']);
      const port = Number((await rx.waitFor(/listening on [^:]+:(\d+)/))[1]);
      const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port });
      await tx.start();
      t.after(() => tx.stop());
      const up = lanesUp(tx, ['video', 'audio']);
      const sent = await paced(
        n,
        15,
        (i, now) => tx.sendVideoFrame(frames[i].data, { imageType: frames[i].imageType, keyframe: frames[i].keyframe, width: 320, height: 240, timestamp: now }),
        (j, now) => tx.sendAudio(audio === 'opus' ? opus[j % opus.length] : pcmChunk(j), { codec: audio, sampleRate: 48000, channels: 1, timestamp: now }),
        up,
      );
      assert.equal(await rx.exited, 0, rx.stderr());
      assert.match(rx.stderr(), new RegExp(`saved .*out\\${ext}: ${n} video frames, \\d+ audio chunks, \\d+\\.\\d\\d s`));
      const wallMs = sent.last - sent.first + 1000 / 15;
      const p = await ffprobe(file);
      console.log(`# receive --save ${kind}${ext}: sent ${n} frames over ${wallMs.toFixed(0)} ms of wall clock; ffprobe: duration ${p.duration.toFixed(3)} s (${((p.duration * 1000) / wallMs).toFixed(3)}x), ${p.video?.frames} frames, ${p.video?.codec}, audio ${p.audio?.codec}`);
      assert.equal(p.video?.codec, 'h264');
      assert.equal(p.video?.frames, n);
      assert.equal(p.audio?.codec, audio === 'opus' ? 'opus' : 'aac');
      assert.ok(Math.abs(p.duration * 1000 - wallMs) / wallMs < 0.05, `duration ${p.duration} s for ${wallMs} ms of wall clock`);
    });
  }
});
