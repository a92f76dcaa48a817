/**
 * FileWriter: chunks written in order off the event loop, one write at a time (so the file is
 * always a contiguous prefix), each chunk answered once written; closing writes what is queued
 * first and never closes the descriptor under a write; the queue is bounded.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { FileWriter, MAX_QUEUED_BYTES } from '../../src/media/file-writer.js';

function tmpFile(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-writer-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'f.part');
}

const chunk = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

test('FileWriter - chunks land in order from the start position; each is answered once on disk, in order', async (t) => {
  const file = tmpFile(t);
  fs.writeFileSync(file, 'HEAD');
  const fd = fs.openSync(file, 'r+');
  const w = new FileWriter(fd, 4);
  const answered: number[] = [];
  const sizes: number[] = [];
  const all = Array.from({ length: 50 }, (_, i) =>
    new Promise<void>((resolve, reject) =>
      w.write(chunk(1000 + i, i), (err) => {
        if (err) return reject(err);
        answered.push(i);
        // Written means on disk: the file already holds every byte up to this chunk.
        sizes.push(fs.fstatSync(fd).size);
        resolve();
      }),
    ),
  );
  assert.equal(w.idle, false);
  await Promise.all(all);
  assert.deepEqual(answered, [...Array(50).keys()]);
  let end = 4;
  for (let i = 0; i < 50; i++) {
    end += 1000 + i;
    assert.ok(sizes[i] >= end, `chunk ${i} answered before it was written`);
  }
  const idle = new Promise<void>((r) => w.whenIdle(r));
  await idle;
  w.close();
  const got = fs.readFileSync(file);
  assert.equal(got.subarray(0, 4).toString(), 'HEAD');
  let at = 4;
  for (let i = 0; i < 50; i++) {
    assert.ok(got.subarray(at, at + 1000 + i).equals(chunk(1000 + i, i)), `chunk ${i}`);
    at += 1000 + i;
  }
  assert.equal(got.length, at);
});

test('FileWriter - close during a write: the write in flight and the chunks queued behind it land, in order, then the descriptor closes', async (t) => {
  const file = tmpFile(t);
  const fd = fs.openSync(file, 'w');
  const w = new FileWriter(fd, 0);
  const results: Array<string> = [];
  const first = new Promise<void>((r) => w.write(chunk(1 << 20, 1), (err) => (results.push(err ? `err ${err.message}` : 'ok 1'), r())));
  // The first write is on the thread pool now; these two wait behind it.
  const second = new Promise<void>((r) => w.write(chunk(10, 2), (err) => (results.push(err ? `err ${err.message}` : 'ok 2'), r())));
  const third = new Promise<void>((r) => w.write(chunk(10, 3), (err) => (results.push(err ? `err ${err.message}` : 'ok 3'), r())));
  let closedAt = -1;
  const closed = new Promise<void>((r) => w.close(() => ((closedAt = results.length), r())));
  // A write after close is answered with an error at once, and not written.
  let late: Error | undefined;
  w.write(chunk(1, 4), (err) => (late = err));
  assert.match(String(late), /closed/);
  await Promise.all([first, second, third, closed]);
  assert.deepEqual(results, ['ok 1', 'ok 2', 'ok 3']);
  assert.equal(closedAt, 3, 'closed once every queued chunk was written');
  assert.ok(fs.readFileSync(file).equals(Buffer.concat([chunk(1 << 20, 1), chunk(10, 2), chunk(10, 3)])));
});

test('FileWriter - close when idle closes at once and says so', (t) => {
  const fd = fs.openSync(tmpFile(t), 'w');
  const w = new FileWriter(fd, 0);
  let closed = false;
  w.close(() => (closed = true));
  assert.equal(closed, true);
  assert.throws(() => fs.fstatSync(fd), /EBADF/);
});

test('FileWriter - more than MAX_QUEUED_BYTES waiting for the disk fails the transfer with a sentence naming the window', async (t) => {
  const file = tmpFile(t);
  const fd = fs.openSync(file, 'w');
  t.after(() => w.close());
  const w = new FileWriter(fd, 0);
  const errors: string[] = [];
  const big = chunk(8 * 1024 * 1024, 7);
  const n = MAX_QUEUED_BYTES / big.length + 2;
  const done = Array.from({ length: n }, () => new Promise<void>((r) => w.write(big, (err) => (err && errors.push(err.message), r()))));
  await Promise.all(done);
  assert.ok(errors.length >= 1);
  assert.match(errors[0], /bytes of chunks wait for the disk; the sender's window \(reliableWindow x fileChunkSize\) is larger than this disk can take/);
  assert.ok(w.failed);
});
