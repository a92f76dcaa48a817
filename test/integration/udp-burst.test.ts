/**
 * UDP push under a burst (docs/architecture.md, flow control): the sender paces what it hands
 * to the socket, so a burst of large video frames waits in its latest-wins slot, where the
 * skipped frames are counted, and the newest frame arrives, instead of overflowing the
 * receiver's socket buffer and losing the newest frames silently.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dgram from 'node:dgram';
import { pushPair } from '../helpers/push-pair.js';
import { UdpEndpoint } from '../../src/internal.js';

describe('udp burst', () => {
  test('40 video frames of 300 KB at once: the newest arrives, and every frame is delivered or counted as dropped', async (t) => {
    const { rx, tx } = await pushPair(t, { protocol: 'udp' }, { clientId: 'burst' });
    const got: number[] = [];
    const last = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`frame 39 never arrived; got ${got.join(',')}`)), 15000);
      rx.on('video', (v) => {
        got.push(v.data.readUInt32BE(0));
        if (got.at(-1) === 39) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (let i = 0; i < 40; i++) {
      const data = Buffer.alloc(300_000, i);
      data.writeUInt32BE(i, 0);
      tx.sendVideoFrame(data, { imageType: 'jpeg', width: 640, height: 480 });
    }
    await last;
    const dropped = tx.stats.dropped.video;
    assert.ok(dropped > 0, 'the sender skipped frames, and counted them');
    assert.equal(got.length + dropped, 40, `delivered ${got.length} + dropped ${dropped}: none lost silently`);
    assert.deepEqual(got, [...got].sort((a, b) => a - b), 'in order');
  });

  test('the endpoint paces: beyond its bucket, datagrams wait (counted as backlog) and go out at the set rate, then drain', async (t) => {
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    t.after(() => sink.close());
    let received = 0;
    sink.on('message', (d) => (received += d.length));
    const ep = await UdpEndpoint.open({ host: '127.0.0.1', port: 0, type: 'udp4', sendRate: 2_000_000, sendBurst: 65536 });
    t.after(() => ep.close());
    const frame = Buffer.alloc(200_000, 7);
    const drained = new Promise<number>((r) => ep.once('drain', () => r(performance.now())));
    const t0 = performance.now();
    ep.sendEncoded(frame, '127.0.0.1', (sink.address() as { port: number }).port);
    assert.ok(ep.backlog > 100_000, `about 135 KB wait for the pacer (backlog ${ep.backlog})`);
    const t1 = await drained;
    assert.equal(ep.backlog, 0);
    // 200 KB minus a 64 KB bucket at 2 MB/s: at least ~60 ms (timers may run late, never early).
    assert.ok(t1 - t0 >= 55, `drained after ${(t1 - t0).toFixed(1)} ms`);
  });
});
