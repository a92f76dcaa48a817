/**
 * UDP push to a host given by name: the name is looked up once, when the link is made
 * (docs/architecture.md, transports). A name handed to the socket itself would be looked up for
 * every datagram on libuv's thread pool, where lookups finish out of order, so small frames
 * would leave in another order than they were sent, and a receiver's latest-wins video would
 * discard the ones that came late. A name that does not resolve ends the connect at once with an
 * error naming it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Sender, type ConnectionEvent } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { pushPair } from '../helpers/push-pair.js';
import { until } from '../helpers/wait.js';

describe('udp host names', () => {
  test('20 bursts of 32 small video frames to "localhost": every one arrives, in the order sent', async (t) => {
    const { rx, tx } = await pushPair(t, { protocol: 'udp' }, { host: 'localhost', clientId: 'named' });
    const got: number[] = [];
    rx.on('video', (v) => got.push(v.data.readUInt32BE(0)));
    // A burst at a time, each sent in one turn, the next once the last one is in: within a
    // burst, 32 lookups on the thread pool would race; between bursts nothing can overflow.
    for (let b = 0; b < 20; b++) {
      for (let i = b * 32; i < (b + 1) * 32; i++) {
        const data = Buffer.alloc(1024, i);
        data.writeUInt32BE(i, 0);
        tx.sendVideoFrame(data, { imageType: 'jpeg', width: 64, height: 48 });
      }
      await until(() => got.length + tx.stats.dropped.video >= (b + 1) * 32, {
        on: [[rx, 'video']],
        timeoutMs: 5000,
        what: () => `burst ${b}: ${got.length} frames in, ${tx.stats.dropped.video} dropped`,
      });
    }
    assert.deepEqual(got, [...got].sort((a, b) => a - b), 'in the order sent');
    assert.equal(got.length + tx.stats.dropped.video, 640, `delivered ${got.length} + dropped ${tx.stats.dropped.video}: none lost silently`);
  });

  test('a name that does not resolve: connectError names the host, without waiting for the connect timeout', async (t) => {
    const tx = new Sender({ protocol: 'udp', host: 'no-such-host.invalid', port: 7701, reconnect: false, connectTimeoutMs: 20000 });
    await tx.start();
    t.after(() => tx.stop());
    // Within 15 s: before the 20 s connect timeout could end it.
    const failed = next<[ConnectionEvent]>(tx, 'connectError', () => true, 15000);
    tx.sendCommand({ name: 'x' }).catch(() => {});
    const [ev] = await failed;
    assert.equal(ev.error?.code, 'CW_ERR_TRANSPORT_CONNECT', ev.error?.message);
    assert.match(ev.error!.message, /cannot resolve UDP host no-such-host\.invalid/);
  });
});
