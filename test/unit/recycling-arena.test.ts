/**
 * RecyclingArena (protocol/recycling-arena.ts): a full buffer is written again only when no hold
 * is left on it; a buffer still held, or not yet full, never is.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecyclingArena } from '../../src/protocol/recycling-arena.js';

/**
 * Fills the arena's current buffer to the end with takes of `n` bytes (holding it after each take
 * when `hold`); returns that buffer. The take that does not fit starts the next buffer (at 0).
 */
function fill(a: RecyclingArena, n: number, hold: boolean): { buf: Buffer; releases: Array<() => void> } {
  const releases: Array<() => void> = [];
  a.take(n);
  const buf = a.buffer;
  if (hold) releases.push(a.hold());
  for (let i = 0; i < 1_000_000; i++) {
    if (a.take(n) === 0) return { buf, releases };
    if (hold) releases.push(a.hold());
  }
  throw new Error('the arena never started a new buffer');
}

describe('RecyclingArena', () => {
  test('a full buffer without holds is used again at once', () => {
    const a = new RecyclingArena(1024, 4);
    const first = fill(a, 100, false).buf;
    assert.equal(a.buffer, first, 'the next buffer is the same memory');
  });

  test('a full buffer still held is not: a fresh one is taken', () => {
    const a = new RecyclingArena(1024, 4);
    const first = fill(a, 100, true).buf;
    assert.notEqual(a.buffer, first);
  });

  test('a held buffer is not used again until every hold is released, then it is', () => {
    const a = new RecyclingArena(1024, 4);
    const { buf: held, releases } = fill(a, 100, true);
    assert.ok(releases.length >= 10);
    const seen = new Set<Buffer>();
    for (let i = 0; i < 5; i++) {
      fill(a, 100, false);
      seen.add(a.buffer);
    }
    assert.ok(!seen.has(held), 'never handed out while held');
    for (const r of releases.slice(1)) r();
    fill(a, 100, false);
    assert.notEqual(a.buffer, held, 'one hold left: still not');
    const free = a.freeCount;
    releases[0]();
    assert.equal(a.freeCount, free + 1, 'released and full: free for reuse');
    // The current buffer, held, is left full: the next buffer is the one just released.
    const cur = a.buffer;
    a.hold();
    fill(a, 100, false);
    assert.notEqual(cur, held);
    assert.equal(a.buffer, held, 'used again');
  });

  test('a buffer whose holds are all released before it is full is not used again until it is full', () => {
    const a = new RecyclingArena(1024, 4);
    a.take(100);
    const cur = a.buffer;
    a.hold()();
    a.take(100);
    assert.equal(a.buffer, cur, 'still the current buffer, written on after its bytes');
    assert.equal(a.freeCount, 0, 'not on the free list while it is being filled');
  });

  test('holder() takes holds on the buffer it was taken in, after take() moved on to another', () => {
    const a = new RecyclingArena(1024, 4);
    a.take(600);
    const first = a.buffer;
    const holdFirst = a.holder();
    const r1 = holdFirst();
    a.take(600);
    assert.notEqual(a.buffer, first, 'a new buffer: the first is full');
    const r2 = holdFirst();
    r1();
    fill(a, 100, false);
    fill(a, 100, false);
    assert.notEqual(a.buffer, first, 'still held by the second hold');
    r2();
    // The current buffer, held, is left full: the next buffer is the one just released.
    a.hold();
    fill(a, 100, false);
    assert.equal(a.buffer, first, 'every hold released: used again');
  });

  test('at most `keep` free buffers are kept', () => {
    const a = new RecyclingArena(1024, 2);
    const held: Array<() => void> = [];
    for (let i = 0; i < 6; i++) held.push(...fill(a, 100, true).releases);
    for (const r of held) r();
    assert.equal(a.freeCount, 2);
  });
});
