/** The pictures a composing Receiver delivers (change-detection video), for the tests. */
import type { Receiver, VideoFrame } from '../../src/index.js';
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
