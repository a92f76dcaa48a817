/** The pictures a composing Receiver delivers (change-detection video), for the tests. */
import type { TestContext } from 'node:test';
import { Receiver, Sender, type ReceiverOptions, type SenderOptions, type VideoFrame } from '../../src/index.js';
import { until } from './wait.js';

/** The last composed picture a receiver delivered, and how many. */
export function pictures(rx: Receiver): { last: () => VideoFrame | undefined; count: () => number } {
  let last: VideoFrame | undefined;
  let n = 0;
  rx.on('video', (v: VideoFrame) => {
    last = v;
    n++;
  });
  return { last: () => last, count: () => n };
}

/** Waits until the receiver's latest picture is `want` (RGB). */
export async function shows(rx: Receiver, seen: { last: () => VideoFrame | undefined }, want: Buffer, what: string): Promise<void> {
  await until(() => seen.last()?.data.equals(want) ?? false, { on: [[rx, 'video']], what: () => `${what}: picture ${seen.last() ? 'differs' : 'never came'}` });
}

/** A PNG of one grey level `v`, `w` x `h` (sharp, loaded on first use). */
export async function png(w: number, h: number, v: number): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  return sharp(Buffer.alloc(w * h * 3, v), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/**
 * A composing push Receiver (RGB pictures, `video` options merged in) on a free TCP port and a
 * Sender pushing to it; both stop after the test. `seen` follows the receiver's pictures.
 */
export async function composingPair(
  t: TestContext,
  o: { video?: ReceiverOptions['video']; tx?: Partial<SenderOptions> } = {},
): Promise<{ rx: Receiver; tx: Sender; seen: ReturnType<typeof pictures> }> {
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, video: { compose: 'rgb', ...o.video } });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port, ...o.tx });
  await tx.start();
  t.after(() => tx.stop());
  return { rx, tx, seen: pictures(rx) };
}
