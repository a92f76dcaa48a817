// camwire demo: a Sender pushes a live synthetic camera (BMP frames), audio, commands and a
// file to a Receiver over TCP on loopback, and a second Receiver pulls the same kind of stream
// from a listening Sender. Prints one status line per second. Ctrl-C to stop.
import { Receiver, Sender } from '../dist/index.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const W = 320;
const H = 240;
const FPS = 15;

/** A real 24-bit BMP: a moving colour field with a bright bar that sweeps across. */
function bmpFrame(n) {
  const row = W * 3;
  const pixels = Buffer.alloc(row * H);
  const bar = (n * 4) % W;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = y * row + x * 3;
      const on = Math.abs(x - bar) < 6;
      pixels[o] = on ? 255 : (x + n) & 0xff; // blue
      pixels[o + 1] = on ? 255 : (y + 2 * n) & 0xff; // green
      pixels[o + 2] = on ? 255 : (x + y) & 0xff; // red
    }
  }
  const header = Buffer.alloc(54);
  header.write('BM', 0);
  header.writeUInt32LE(54 + pixels.length, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(W, 18);
  header.writeInt32LE(-H, 22); // top-down rows
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  header.writeUInt32LE(pixels.length, 34);
  return Buffer.concat([header, pixels]);
}

function stats() {
  return { frames: 0, bytes: 0, lat: [], commands: 0, audio: 0 };
}
function watch(rx, s) {
  rx.on('video', (f) => {
    s.frames++;
    s.bytes += f.data.length;
    s.lat.push(Date.now() - f.timestamp);
  });
  rx.on('audio', () => s.audio++);
  rx.on('command', () => s.commands++);
}

// Mode A, push: the receiver listens, the sender connects per media type when it has data.
const pushRx = new Receiver({ protocol: 'tcp', connection: 'sender-to-receiver', host: '127.0.0.1', port: 0, clientId: 'viewer' });
const pushStats = stats();
watch(pushRx, pushStats);
pushRx.on('fileEnd', (f) => console.log(`push receiver: file ${f.name} ${f.size} bytes, sha256 ok=${f.ok}`));
await pushRx.start();
const pushTx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: pushRx.port, clientId: 'camera-1', to: 'viewer' });
pushTx.on('connected', (ev) => console.log(`push sender: connected (${ev.mediaTypes[0]})`));
await pushTx.start();

// Mode B, pull: the sender listens, the receiver opens one channel per media type.
const pullTx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'camera-2' });
await pullTx.start();
const pullRx = new Receiver({
  protocol: 'tcp',
  connection: 'receiver-to-sender',
  senders: [{ host: '127.0.0.1', port: pullTx.port, clientId: 'camera-2' }],
  receiveMediaTypes: ['video', 'audio', 'command'],
});
const pullStats = stats();
watch(pullRx, pullStats);
pullRx.on('sessionConnected', () => console.log('pull receiver: session connected (video, audio, command channels)'));
await pullRx.start();

console.log(`camwire demo: push receiver on 127.0.0.1:${pushRx.port}, pull sender on 127.0.0.1:${pullTx.port}. Ctrl-C to stop.`);

let n = 0;
const video = setInterval(() => {
  const frame = bmpFrame(n++);
  pushTx.sendVideoFrame(frame, { imageType: 'bmp', width: W, height: H });
  pullTx.sendVideoFrame(frame, { imageType: 'bmp', width: W, height: H });
  const pcm = Buffer.alloc((48000 / FPS) * 2);
  pushTx.sendAudio(pcm, { codec: 'pcm_s16le', sampleRate: 48000, channels: 1 });
  pullTx.sendAudio(pcm, { codec: 'pcm_s16le', sampleRate: 48000, channels: 1 });
}, 1000 / FPS);

const file = path.join(os.tmpdir(), `camwire-demo-${process.pid}.bin`);
fs.writeFileSync(file, Buffer.alloc(2_000_000, 42));
pushTx.sendFile(file).finally(() => fs.rmSync(file, { force: true }));

function line(name, s) {
  const sorted = [...s.lat].sort((a, b) => a - b);
  const p50 = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  const out = `${name}: ${s.frames} fps, ${(s.bytes / 1e6).toFixed(2)} MB/s, latency p50 ${p50} ms, ${s.audio} audio chunks, ${s.commands} commands`;
  Object.assign(s, stats());
  return out;
}
const status = setInterval(async () => {
  const tick = n;
  await Promise.all([pushTx.sendCommand({ name: 'tick', params: { n: tick } }), pullTx.sendCommand({ name: 'tick', params: { n: tick } })]).catch(() => {});
  console.log(`${line('push', pushStats)} | ${line('pull', pullStats)} | dropped video ${pushTx.stats.dropped.video + pullTx.stats.dropped.video}`);
}, 1000);

async function shutdown() {
  clearInterval(video);
  clearInterval(status);
  await Promise.all([pushTx.stop(), pullRx.stop()]);
  await Promise.all([pushRx.stop(), pullTx.stop()]);
  process.exit(0);
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
if (process.env.CAMWIRE_DEMO_SECONDS) setTimeout(shutdown, Number(process.env.CAMWIRE_DEMO_SECONDS) * 1000);
