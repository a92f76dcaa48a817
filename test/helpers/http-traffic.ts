/**
 * Command traffic for the HTTP link tests (streams, proxies, tunnels): a push Receiver over HTTP
 * that records the commands it gets, and a Sender's burst of acknowledged commands between video
 * frames.
 */
import type { TestContext } from 'node:test';
import { Receiver, type Sender } from '../../src/index.js';

/** A push Receiver on HTTP (any free port); `got` lists the names of the commands it received, in order. */
export async function commandReceiver(t: TestContext): Promise<{ rx: Receiver; got: string[] }> {
  const rx = new Receiver({ protocol: 'http', host: '127.0.0.1', port: 0 });
  await rx.start();
  t.after(() => rx.stop());
  const got: string[] = [];
  rx.on('command', (c) => got.push(c.name));
  return { rx, got };
}

/** Commands `c0`..`c<n-1>`, `inFlight` at a time, each followed by a tiny video frame; resolves when all are acknowledged. */
export async function commandTraffic(tx: Sender, n: number, inFlight: number): Promise<void> {
  const sent: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    sent.push(tx.sendCommand({ name: `c${i}` }));
    if (sent.length % inFlight === 0) await Promise.all(sent.slice(-inFlight));
    tx.sendVideoFrame(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), { imageType: 'jpeg', width: 1, height: 1 });
  }
  await Promise.all(sent);
}
