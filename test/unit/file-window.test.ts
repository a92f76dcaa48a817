/**
 * FileWindow (a Sender's file window sized to the path) and the `fileWindow` member of a WELCOME
 * (docs/protocol.md, 3.2 and 4.4). Time is given to the window, so these run on no clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FileWindow } from '../../src/roles/file-window.js';
import { decodeWelcome, encodeJson, MAX_FILE_WINDOW } from '../../src/protocol/messages.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Acknowledges `bytes` in `chunk`-sized pieces, `msPerChunk` apart, from `t0`; returns the time after. */
function ackAt(w: FileWindow, bytes: number, chunk: number, msPerChunk: number, t0: number): number {
  let t = t0;
  for (let done = 0; done < bytes; done += chunk) {
    t += msPerChunk;
    w.acked(chunk, t);
  }
  return t;
}

test('file window - starts at the floor and, on a fast path, grows to the cap (never past it)', () => {
  const w = new FileWindow(4 * MiB, 32 * MiB, 250);
  assert.equal(w.limit, 4 * MiB);
  // 256 KiB every 1 ms: 256 MB/s, so 250 ms hold far more than the cap.
  ackAt(w, 12 * MiB, 256 * KiB, 1, 0);
  assert.equal(w.limit, 32 * MiB);
});

test('file window - a slow path keeps the floor: a window never waits much longer than the horizon', () => {
  const w = new FileWindow(4 * MiB, 32 * MiB, 250);
  // 256 KiB every 100 ms: 2.6 MB/s, 250 ms of it is 655 KB, below the floor.
  ackAt(w, 12 * MiB, 256 * KiB, 100, 0);
  assert.equal(w.limit, 4 * MiB);
});

test('file window - follows the rate: between floor and cap it is rate x horizon, and shrinks when the path slows', () => {
  const w = new FileWindow(1 * MiB, 64 * MiB, 250);
  // 64 KiB every 1 ms: 250 ms of it.
  const t = ackAt(w, 40 * MiB, 64 * KiB, 1, 0);
  assert.equal(w.limit, 250 * 64 * KiB);
  // Then 64 KiB every 4 ms.
  ackAt(w, 40 * MiB, 64 * KiB, 4, t);
  assert.equal(w.limit, 250 * 16 * KiB);
});

test('file window - a peer that takes less than the floor lowers it; never below one byte', () => {
  assert.equal(new FileWindow(4 * MiB, 1 * MiB).limit, 1 * MiB);
  const w = new FileWindow(4 * MiB, 0);
  assert.equal(w.limit, 1);
  ackAt(w, 1 * MiB, 64 * KiB, 1, 0);
  assert.equal(w.limit, 1);
});

test('WELCOME fileWindow - read when a positive integer, capped, ignored otherwise (an earlier peer sends none)', () => {
  assert.equal(decodeWelcome(encodeJson({ agent: 'x', fileWindow: 9_830_400 })).fileWindow, 9_830_400);
  assert.equal(decodeWelcome(encodeJson({ fileWindow: 2 ** 40 })).fileWindow, MAX_FILE_WINDOW);
  for (const bad of [0, -1, 1.5, '1000', null, {}, Number.MAX_VALUE]) {
    assert.equal(decodeWelcome(encodeJson({ fileWindow: bad })).fileWindow, undefined, JSON.stringify(bad));
  }
  assert.equal(decodeWelcome(encodeJson({ agent: 'camwire/0.1' })).fileWindow, undefined);
  assert.equal(decodeWelcome(Buffer.alloc(0)).fileWindow, undefined);
});
