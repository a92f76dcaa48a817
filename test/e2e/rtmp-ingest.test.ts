/**
 * Publishing from OBS (issue 12, item 5): `camwire send --input rtmp://... --listen-input` takes
 * an RTMP publish (ffmpeg as the client, which OBS behaves like) and forwards its H.264 as it
 * came, one access unit per frame, and its AAC audio as Opus, through a MediaServer to a reader.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { FfmpegIngest, type AudioChunk, type VideoFrame } from '../../src/index.js';
import type { IngestVideo } from '../../src/sources/ingest.js';
import { AccessUnits, nalUnits } from '../../src/protocol/h264.js';
import { cli } from '../helpers/cli.js';
import { startClient, startServer, tempDir } from '../helpers/server-client.js';
import { once, until } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';

const exec = promisify(execFile);


/** The slice NAL units (types 1 and 5) of access units, as hex: what re-encoding would change. */
function slices(units: Buffer[]): string[] {
  return units.flatMap((u) => nalUnits(u).filter((n) => n.type === 1 || n.type === 5).map((n) => u.subarray(n.start, n.end).toString('hex')));
}

describe('rtmp ingest', () => {
  test('rtmp ingest - an RTMP publish (H.264 + AAC) reaches a reader through the server: access units as published, audio as Opus', async (t) => {
    const dir = tempDir(t, 'camwire-rtmp-');
    // The publisher's clip: H.264 without B-frames (as OBS's low-latency settings), AAC audio.
    const clip = path.join(dir, 'clip.flv');
    await exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-f', 'lavfi', '-i', 'sine=f=440', '-t', '6', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-g', '15', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ar', '44100', clip]);
    const source: Buffer[] = [];
    const split = new AccessUnits((au) => source.push(Buffer.from(au)));
    split.push((await exec('ffmpeg', ['-v', 'error', '-i', clip, '-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,h264_metadata=aud=insert', '-f', 'h264', 'pipe:1'], { encoding: 'buffer', maxBuffer: 1 << 26 })).stdout);
    split.flush();

    const server = await startServer(t);
    const desk = await startClient(t, server, 'desk');
    const video: VideoFrame[] = [];
    const audio: AudioChunk[] = [];
    desk.rx.on('video', (v) => video.push({ ...v, data: Buffer.from(v.data) }));
    desk.rx.on('audio', (a) => audio.push(a));
    const port = await freePort();
    const obs = cli(t, ['send', '--server', `127.0.0.1:${server.ports.tcp}`, '--id', 'obs', '--to', 'desk', '--input', `rtmp://127.0.0.1:${port}/live`, '--listen-input']);
    await obs.waitFor(/waiting for a publish on rtmp:/);
    const publisher = spawn('ffmpeg', ['-v', 'error', '-re', '-i', clip, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${port}/live/stream-key`], { stdio: 'ignore' });
    t.after(() => publisher.kill('SIGKILL'));
    await obs.waitFor(/publisher connected/);
    await until(() => video.length >= 45 && audio.length >= 100, { on: [[desk.rx, 'video', 'audio']], timeoutMs: 20000, what: () => `${video.length} frames, ${audio.length} audio chunks` });
    // The publisher leaves; the ingest listens again.
    await obs.waitFor(/publisher left; waiting for a publish/, 20000);
    const first = video[0];
    assert.match(first.imageType, /^avc1\.[0-9A-F]{6}$/);
    assert.deepEqual([first.width, first.height, first.keyframe], [320, 240, true]);
    // SPS and PPS before every keyframe.
    for (const v of video.filter((x) => x.keyframe)) assert.deepEqual(nalUnits(v.data).map((n) => n.type).filter((n) => n === 7 || n === 8), [7, 8]);
    // Not re-encoded: the slices that arrived are the publisher's, in order.
    const got = slices(video.map((v) => v.data));
    const from = slices(source);
    const at = from.indexOf(got[0]);
    console.log(`# rtmp ingest: ${video.length} of ${source.length} access units and ${audio.length} Opus chunks reached the reader; ${video.filter((v) => v.keyframe).length} keyframes; the first received is the publisher's access unit ${source.findIndex((u) => slices([u])[0] === got[0])}`);
    // From the publisher's first access unit on: nothing lost while ffmpeg probed or the Sender connected.
    assert.equal(at, 0, 'the first slice received is the publisher\'s first');
    assert.deepEqual(got, from.slice(at, at + got.length));
    assert.deepEqual([audio[0].codec, audio[0].sampleRate, audio[0].channels], ['opus', 48000, 2]);
    obs.child.kill('SIGINT');
    assert.equal(await obs.exited, 0, obs.stderr());
  });

  test('srt ingest - an SRT publish (MPEG-TS, H.264 + AAC) becomes access units and Opus packets', async (t) => {
    const port = await freePort();
    const ingest = new FfmpegIngest({ url: `srt://127.0.0.1:${port}` });
    t.after(() => ingest.stop());
    const video: IngestVideo[] = [];
    let audio = 0;
    ingest.on('video', (v) => video.push(v));
    ingest.on('audio', () => audio++);
    const published = once(ingest, 'publish', 20000);
    ingest.start();
    // ffmpeg's SRT listener is up a moment after it starts: the publisher calls until it is (as OBS retries).
    let done = false;
    void published.then(() => (done = true), () => {});
    const publish = (): void => {
      const p = spawn('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-f', 'lavfi', '-i', 'sine=f=440', '-t', '4', '-c:v', 'libx264', '-bf', '0', '-g', '15', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'mpegts', `srt://127.0.0.1:${port}?mode=caller`], { stdio: 'ignore' });
      t.after(() => p.kill('SIGKILL'));
      p.once('exit', (code) => code !== 0 && !done && setTimeout(publish, 200));
    };
    publish();
    await published;
    await once(ingest, 'unpublish', 20000);
    console.log(`# srt ingest: ${video.length} access units, ${audio} Opus packets`);
    assert.ok(video.length >= 15, `${video.length} access units`);
    assert.ok(audio >= 50, `${audio} Opus packets`);
    assert.match(video[0].imageType, /^avc1\./);
    assert.deepEqual([video[0].width, video[0].height, video[0].keyframe], [320, 240, true]);
  });

  test('rtmp ingest - an RTMP port in use ends send --listen-input with the port named (exit 3)', async (t) => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    t.after(() => taken.close());
    const port = (taken.address() as net.AddressInfo).port;
    const server = await startServer(t);
    const p = cli(t, ['send', '--server', `127.0.0.1:${server.ports.tcp}`, '--id', 'obs', '--input', `rtmp://127.0.0.1:${port}/live`, '--listen-input']);
    assert.equal(await p.exited, 3, p.stderr());
    assert.match(p.stderr(), new RegExp(`RTMP port ${port} is already in use`));
  });

  test('rtmp ingest - --listen-input needs an rtmp:// or srt:// input (exit 2)', async (t) => {
    const p = cli(t, ['send', '--server', '127.0.0.1:9', '--input', 'clip.mp4', '--listen-input']);
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /--listen-input needs --input rtmp:\/\/HOST:PORT\/APP or srt:\/\/HOST:PORT/);
  });
});
