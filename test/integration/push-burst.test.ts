/**
 * A push Sender over TCP with frames sent in one event-loop turn: they are gathered into one
 * write at the end of the turn, so a burst that fits the turn's bound (1 MiB) reaches the
 * receiver whole; only what waits in the link from earlier turns sends video to latest-wins.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pushPair } from '../helpers/push-pair.js';
import { count } from '../helpers/events.js';

test('TCP push - 8 video frames of 64 KiB sent in one turn all arrive, none dropped', async (t) => {
  const { rx, tx } = await pushPair(t, { protocol: 'tcp', receiveMediaTypes: ['video'] }, { clientId: 'cam' });
  const got: number[] = [];
  rx.on('video', (v) => got.push(v.data.readUInt32BE(0)));
  // The lane connects on the first frame; the burst goes once it is open.
  const first = Buffer.alloc(100);
  first.writeUInt32BE(1000, 0);
  tx.sendVideoFrame(first);
  await count(rx, 'video', 1);
  for (let i = 0; i < 8; i++) {
    const b = Buffer.alloc(64 * 1024, i);
    b.writeUInt32BE(i, 0);
    tx.sendVideoFrame(b);
  }
  await count(rx, 'video', 8);
  assert.deepEqual(got, [1000, 0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(tx.stats.dropped.video, 0);
});
