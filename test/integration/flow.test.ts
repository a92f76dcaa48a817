/**
 * Flow control and failures: resumable files, bounded memory toward a stalled receiver,
 * refusals when a reliable queue is full, and the per-type timeout ending a stalled link.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DeliveryError, Receiver, Sender } from '../../src/index.js';
import { next, until } from '../helpers/events.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';

test('file - an interrupted transfer resumes from the offset the receiver reports', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-resume-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const content = Buffer.alloc(2_000_000);
  for (let i = 0; i < content.length; i++) content[i] = (i * 7 + (i >> 11)) & 0xff;
  const src = path.join(dir, 'movie.bin');
  fs.writeFileSync(src, content);
  const inbox = path.join(dir, 'inbox');

  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, fileDir: inbox });
  await rx.start();
  t.after(() => rx.stop());
  const relay = await startTcpRelay(rx.port);
  t.after(() => relay.close());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: relay.port, fileChunkSize: 16 * 1024, reliableWindow: 4 });
  await tx.start();
  t.after(() => tx.stop());

  let cut = false;
  let cutEnd = 0;
  rx.on('fileData', (f) => {
    if (!cut && f.offset > 600_000) {
      cut = true;
      cutEnd = f.offset + f.data.length;
      for (const [a, b] of relay.pairs) {
        a.destroy();
        b.destroy();
      }
    }
  });
  const firstEnd = next(rx, 'fileEnd');
  await assert.rejects(tx.sendFile(src), DeliveryError);
  const [broken] = await firstEnd;
  assert.equal(broken.ok, false);
  // fileData reports a chunk once it is on disk, so the partial file holds at least up to the
  // chunk that triggered the cut. A lower bound: chunks that had arrived but still waited for the
  // disk when the link broke are written after the fileEnd (the file stays a contiguous prefix),
  // so the receiver may hold more by the time it answers the resume.
  const have = fs.statSync(path.join(inbox, 'movie.bin.part')).size;
  assert.ok(have >= cutEnd && have < content.length, `partial file holds ${have} bytes; fileData had reported ${cutEnd} written`);

  const done = next(rx, 'fileEnd');
  const [res] = await tx.sendFile(src);
  assert.ok(res.offset >= have && res.offset < content.length, `resumed at ${res.offset}, the partial file held at least ${have}`);
  assert.equal(res.bytesSent, content.length - res.offset, 'the sender continued where the receiver said');
  const [end] = await done;
  assert.equal(end.ok, true);
  assert.equal(end.offset, res.offset);
  assert.equal(end.sha256, createHash('sha256').update(content.subarray(res.offset)).digest('hex'));
  assert.ok(fs.readFileSync(end.path!).equals(content), 'the file on disk is whole and identical');
  assert.ok(!fs.existsSync(path.join(inbox, 'movie.bin.part')));
});

test('backpressure - toward a stalled receiver video drops, memory stays bounded, and the video timeout ends the link', async (t) => {
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await rx.start();
  t.after(() => rx.stop());
  const relay = await startTcpRelay(rx.port);
  t.after(() => relay.close());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: relay.port, timeouts: { video: 800 }, reconnect: { initialDelayMs: 60000 } });
  await tx.start();
  t.after(() => tx.stop());
  const first = next(rx, 'video');
  tx.sendVideoFrame(Buffer.alloc(1024));
  await first;
  relay.stall();
  const gone = next(tx, 'disconnect');
  const frame = Buffer.alloc(256 * 1024, 1);
  const rssBefore = process.memoryUsage().rss;
  const N = 2000;
  for (let i = 0; i < N; i++) {
    tx.sendVideoFrame(frame);
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  const grown = process.memoryUsage().rss - rssBefore;
  // 2000 frames of 256 KiB are 500 MiB; a bounded sender holds one pending frame plus socket buffers.
  assert.ok(grown < 100 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MiB`);
  assert.ok(tx.stats.dropped.video > N * 0.9, `dropped ${tx.stats.dropped.video} of ${N}`);
  const [ev] = await gone;
  assert.equal(ev.error?.code, 'CW_ERR_TRANSPORT_TIMEOUT');
});

test('backpressure - a full reliable queue refuses at once; unacknowledged items fail after their timeout', async (t) => {
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await rx.start();
  t.after(() => rx.stop());
  const relay = await startTcpRelay(rx.port);
  t.after(() => relay.close());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: relay.port, queueBytes: { data: 250_000 }, timeouts: { data: 700 }, reconnect: { initialDelayMs: 60000 } });
  await tx.start();
  t.after(() => tx.stop());
  await tx.sendData(Buffer.alloc(10));
  relay.stall();
  const blob = Buffer.alloc(100_000);
  const a = tx.sendData(blob);
  const b = tx.sendData(blob);
  a.catch(() => {});
  b.catch(() => {});
  await assert.rejects(tx.sendData(blob), { code: 'CW_ERR_DELIVERY_QUEUE_FULL' });
  await assert.rejects(a, (e: unknown) => e instanceof DeliveryError && ['CW_ERR_DELIVERY_TIMEOUT', 'CW_ERR_DELIVERY_CLOSED'].includes(e.code));
  await assert.rejects(b, DeliveryError);
});

test('receiver - data addressed to another client id is dropped and counted; the sender is told', async (t) => {
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, clientId: 'me' });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: rx.port });
  await tx.start();
  t.after(() => tx.stop());
  const got: string[] = [];
  rx.on('data', (d) => got.push(d.toString()));
  await tx.sendData(Buffer.from('mine'), { to: 'me' });
  await assert.rejects(tx.sendData(Buffer.from('theirs'), { to: 'someone-else' }), { code: 'CW_ERR_DELIVERY_REFUSED' });
  await until(rx, 'data', () => rx.stats.dropped.data === 1);
  assert.deepEqual(got, ['mine']);
});
