/**
 * The cost of media hooks: video frames pushed over TCP on 127.0.0.1, one at a time (the next
 * leaves when the previous arrived), without hooks, with synchronous AES-256-GCM encode and
 * decode hooks (node:crypto), and with the same hooks returning Promises. Prints frames per
 * second and the time per frame; asserts nothing.
 *
 *   node build/bench/run.js --cases=hooks [--hooks-ms=2000] [--hooks-sizes=65536,1048576]
 *   (npm run bench runs it after the others)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { MediaHook, VideoFrame } from '../src/index.js';
import { loadCamwire } from './lib.js';
import { table } from './table.js';

const KEY = randomBytes(32);

const seal: MediaHook<unknown> = (p) => {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', KEY, iv);
  const body = Buffer.concat([c.update(p), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
};
const open: MediaHook<unknown> = (p) => {
  const d = createDecipheriv('aes-256-gcm', KEY, p.subarray(0, 12));
  d.setAuthTag(p.subarray(12, 28));
  return Buffer.concat([d.update(p.subarray(28)), d.final()]);
};
const async = (h: MediaHook<unknown>): MediaHook<unknown> => (p, i) => Promise.resolve().then(() => h(p, i));

type Mode = 'none' | 'aes-gcm' | 'aes-gcm async';

async function run(mode: Mode, size: number, MS: number): Promise<{ fps: number; msPerFrame: number }> {
  const hooks = mode === 'none' ? {} : mode === 'aes-gcm' ? { enc: seal, dec: open } : { enc: async(seal), dec: async(open) };
  // The package as users load it (bench/lib.ts).
  const { Receiver, Sender } = await loadCamwire();
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, receiveMediaTypes: ['video'], decodeVideo: hooks.dec });
  await rx.start();
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port, encodeVideo: hooks.enc });
  await tx.start();
  const frame = randomBytes(size);
  let frames = 0;
  let measuring = false;
  const t0 = { at: 0 };
  const done = new Promise<number>((resolve) => {
    const warmUntil = performance.now() + 300;
    rx.on('video', (v: VideoFrame) => {
      if (v.data.length !== size) throw new Error('bad frame');
      const now = performance.now();
      if (!measuring && now >= warmUntil) {
        measuring = true;
        t0.at = now;
      } else if (measuring) frames++;
      if (measuring && now - t0.at >= MS) return resolve(now - t0.at);
      tx.sendVideoFrame(frame);
    });
  });
  tx.sendVideoFrame(frame);
  const elapsed = await done;
  await tx.stop();
  await rx.stop();
  return { fps: (frames * 1000) / elapsed, msPerFrame: elapsed / frames };
}

/** Runs the hooks bench and prints its table. */
export async function runHooksBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const args = new Map(argv.map((a) => a.replace(/^--/, '').split('=', 2) as [string, string]));
  const ms = Number(args.get('hooks-ms') ?? 2000);
  const sizes = (args.get('hooks-sizes') ?? '65536,1048576').split(',').map(Number);
  const rows: string[][] = [];
  for (const size of sizes) {
    const base = await run('none', size, ms);
    for (const mode of ['none', 'aes-gcm', 'aes-gcm async'] as const) {
      const r = mode === 'none' ? base : await run(mode, size, ms);
      rows.push([`${size / 1024} KiB`, mode, r.fps.toFixed(0), r.msPerFrame.toFixed(3), (r.msPerFrame / base.msPerFrame).toFixed(2)]);
    }
  }
  console.log('\nMedia hooks: one video frame at a time over TCP push, AES-256-GCM encode + decode per frame');
  console.log(table(['frame', 'hooks', 'frames/s', 'ms/frame', 'x no hooks'], rows, ['r', 'l', 'r', 'r', 'r']));
}
