/**
 * Server-side recording (issue 12, item 4): `record` records every source in segments cut at
 * keyframes, with retention by age and bytes, and a recorder that fails never touches relaying.
 * Checked with ffprobe; durations against the wall clock are printed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Sender } from '../../src/index.js';
import { ffprobe, h264Frames, jpegFrames, lanesUp, opusPackets, paced, pcmChunk, type Probe, type TestFrame } from '../helpers/media.js';
import { startClient, startServer, tempDir } from '../helpers/server-client.js';
import { until } from '../helpers/wait.js';

/** A sender pushing `frames` live at 15 frames/s with 20 ms audio chunks; resolves with the wall-clock span. */
async function push(tx: Sender, frames: TestFrame[], audio: 'opus' | 'pcm_s16le', opus: Buffer[] = []): Promise<number> {
  const up = lanesUp(tx, ['video', 'audio']);
  const s = await paced(
    frames.length,
    15,
    (i, now) => tx.sendVideoFrame(frames[i].data, { imageType: frames[i].imageType, keyframe: frames[i].keyframe, width: 320, height: 240, timestamp: now }),
    (j, now) => tx.sendAudio(audio === 'opus' ? opus[j % opus.length] : pcmChunk(j), { codec: audio, sampleRate: 48000, channels: 1, timestamp: now }),
    up,
  );
  return s.last - s.first + 1000 / 15;
}

function segments(dir: string, client: string): string[] {
  const d = path.join(dir, client);
  return fs.existsSync(d) ? fs.readdirSync(d).sort().map((f) => path.join(d, f)) : [];
}

describe('server recording', () => {
  test('server recording - an H.264 + Opus source and a JPEG + PCM source, each in 2 s segments: frames, codecs, audio, duration', async (t) => {
    const dir = tempDir(t, 'camwire-srec-');
    const server = await startServer(t, { record: { dir, segmentMs: 2000 } });
    const n = 75;
    const [h264, jpeg, opus] = await Promise.all([h264Frames(n, { gop: 15 }), jpegFrames(n), opusPackets(300)]);
    const a = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'cam-h264' });
    const b = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'cam/jpeg' });
    await Promise.all([a.start(), b.start()]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    const [wallA, wallB] = await Promise.all([push(a, h264, 'opus', opus), push(b, jpeg, 'pcm_s16le')]);
    // Everything received is written before stop() resolves.
    await until(() => server.stats().clients.every((c) => c.in.video.frames === n), { timeoutMs: 10000, checkAfterMs: [100, 500, 1000, 3000], what: () => JSON.stringify(server.stats().clients.map((c) => [c.id, c.in.video, c.in.audio])) });
    await server.stop();
    const rec = server.recording!.stats;
    assert.equal(rec.errors, 0);
    for (const [client, wall, audio] of [['cam-h264', wallA, 'opus'], ['cam_jpeg-', wallB, 'pcm_s16le']] as const) {
      const folder = fs.readdirSync(dir).find((f) => f.startsWith(client))!;
      const files = segments(dir, folder);
      const probes: Probe[] = await Promise.all(files.map((f) => ffprobe(f)));
      const frames = probes.reduce((x, p) => x + (p.video?.frames ?? 0), 0);
      const duration = probes.reduce((x, p) => x + p.duration, 0);
      console.log(`# server ${client}: ${files.length} segments (${probes.map((p) => `${p.duration.toFixed(2)} s/${p.video?.frames}`).join(', ')}), ${frames} frames of ${n}, ${duration.toFixed(3)} s for ${(wall / 1000).toFixed(3)} s of wall clock (${((duration * 1000) / wall).toFixed(3)}x)`);
      assert.ok(files.length >= 2, `${files.length} segments`);
      assert.ok(files.every((f) => f.endsWith('.mkv')));
      assert.equal(frames, n);
      for (const p of probes) {
        assert.equal(p.video?.codec, 'h264');
        assert.equal(p.audio?.codec, audio);
      }
      assert.ok(Math.abs(duration * 1000 - wall) / wall < 0.05, `${duration} s recorded for ${wall} ms`);
    }
  });

  test('server recording - a source that changes size starts a new segment at the keyframe of the new size', async (t) => {
    const dir = tempDir(t, 'camwire-srec-');
    const server = await startServer(t, { record: { dir, segmentMs: 60_000 } });
    const [small, large] = await Promise.all([h264Frames(20, { gop: 10 }), h264Frames(20, { width: 640, height: 360, gop: 10 })]);
    const frames = [...small, ...large];
    const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'cam1' });
    await tx.start();
    t.after(() => tx.stop());
    const up = lanesUp(tx, ['video']);
    await paced(frames.length, 15, (i, now) => tx.sendVideoFrame(frames[i].data, { imageType: frames[i].imageType, keyframe: frames[i].keyframe, width: frames[i].width, height: frames[i].height, timestamp: now }), undefined, up);
    await until(() => server.stats().clients.some((c) => c.in.video.frames === frames.length), { timeoutMs: 10000, checkAfterMs: [100, 1000, 3000] });
    await server.stop();
    const probes = await Promise.all(segments(dir, 'cam1').map((f) => ffprobe(f)));
    assert.deepEqual(probes.map((p) => [p.video?.width, p.video?.height, p.video?.frames]), [[320, 240, 20], [640, 360, 20]]);
  });

  test('server recording - retention: segments beyond maxBytes go, oldest first; segments older than maxAgeMs go', async (t) => {
    const dir = tempDir(t, 'camwire-srec-');
    // A segment left by an earlier run, a day old.
    fs.mkdirSync(path.join(dir, 'cam1'));
    const stale = path.join(dir, 'cam1', '2020-01-01T00-00-00.000Z.mkv');
    fs.writeFileSync(stale, Buffer.alloc(1000));
    fs.utimesSync(stale, new Date(Date.now() - 86_400_000), new Date(Date.now() - 86_400_000));
    const maxBytes = 70_000;
    const server = await startServer(t, { record: { dir, segmentMs: 1000, maxBytes, maxAgeMs: 3_600_000 } });
    const deleted: string[] = [];
    server.recording!.on('deleted', (f) => deleted.push(f));
    await until(() => deleted.includes(stale), { on: [[server.recording!, 'deleted']], timeoutMs: 5000, what: 'the day-old segment deleted' });
    const frames = await h264Frames(90, { gop: 15 });
    const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: server.ports.tcp, clientId: 'cam1' });
    await tx.start();
    t.after(() => tx.stop());
    const finished: string[] = [];
    server.recording!.on('segment', (s) => finished.push(s.file));
    const up = lanesUp(tx, ['video']);
    await paced(frames.length, 15, (i, now) => tx.sendVideoFrame(frames[i].data, { imageType: frames[i].imageType, keyframe: frames[i].keyframe, width: 320, height: 240, timestamp: now }), undefined, up);
    await until(() => deleted.length >= 2, { on: [[server.recording!, 'deleted']], timeoutMs: 10000, what: () => `deleted ${deleted.length}, finished ${finished.length}` });
    await server.stop();
    const left = segments(dir, 'cam1');
    const bytes = left.reduce((x, f) => x + fs.statSync(f).size, 0);
    console.log(`# retention: ${finished.length} segments finished, ${deleted.length} deleted (the stale one included), ${left.length} left, ${bytes} bytes (maxBytes ${maxBytes})`);
    assert.ok(bytes <= maxBytes, `${bytes} bytes left`);
    assert.ok(left.length >= 1);
    // The oldest went: every deleted segment of this run is older than every one left.
    const names = (fs: string[]): string[] => fs.map((f) => path.basename(f));
    const gone = names(deleted.filter((f) => f !== stale));
    assert.ok(gone.length >= 1);
    assert.ok(gone.every((g) => names(left).every((l) => g < l)), `deleted ${gone} left ${names(left)}`);
    assert.equal(server.recording!.stats.deleted, deleted.length);
  });

  test('server recording - a recorder that fails (its folder cannot be made) is logged and counted; relaying goes on', async (t) => {
    const base = tempDir(t, 'camwire-srec-');
    const file = path.join(base, 'a-file');
    fs.writeFileSync(file, 'not a folder');
    const lines: string[] = [];
    const logger = { error: (o: object, msg: string) => lines.push(`${msg} ${JSON.stringify(o)}`), warn: () => {}, info: () => {}, debug: () => {}, trace: () => {}, fatal: () => {}, child: () => logger } as never;
    const server = await startServer(t, { record: { dir: path.join(file, 'rec') }, logger });
    const cam = await startClient(t, server, 'cam');
    const desk = await startClient(t, server, 'desk');
    const frames = await jpegFrames(20);
    let got = 0;
    desk.rx.on('video', () => got++);
    const up = lanesUp(cam.tx, ['video']);
    await paced(frames.length, 15, (i, now) => cam.tx.sendVideoFrame(frames[i].data, { to: 'desk', width: 320, height: 240, timestamp: now }), undefined, up);
    await until(() => got === frames.length, { on: [[desk.rx, 'video']], timeoutMs: 10000, what: () => `${got} frames relayed` });
    assert.ok(server.recording!.stats.errors >= 1);
    assert.match(lines.join('\n'), /recording failed; relaying goes on/);
    const metrics = await (await fetch(`http://127.0.0.1:${server.ports.http}/metrics`)).text();
    assert.match(metrics, /camwire_recording_total\{event="error"\} [1-9]/);
  });
});
