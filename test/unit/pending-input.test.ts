/**
 * PendingInput: length-prefixed units (here a 1-byte length, then that many bytes) read back
 * whole whatever the split of the input, a unit over the limit skipped as it comes and never held.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingInput } from '../../src/protocol/pending-input.js';

/** Parses 1-byte-length units from `chunks`; units longer than `max` are dropped. */
function units(chunks: Buffer[], max: number): { got: string[]; held: number[] } {
  const input = new PendingInput();
  const got: string[] = [];
  const held: number[] = [];
  for (const c of chunks) {
    input.add(c);
    for (;;) {
      const h = input.peek(1);
      if (!h) break;
      const size = h[0];
      if (size > max) {
        input.dropUnit(1 + size);
        continue;
      }
      const b = input.peek(1 + size);
      if (!b) break;
      got.push(b.toString('latin1', 1, 1 + size));
      input.consume(1 + size);
    }
    held.push(input.length);
  }
  return { got, held };
}

const unit = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
const stream = Buffer.concat([unit('abc'), unit(''), unit('x'.repeat(40)), unit('hello'), unit('de')]);

test('PendingInput - units come out whole at every split point, in one, two or byte-sized pieces', () => {
  const want = ['abc', '', 'hello', 'de'];
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j++) {
      const { got } = units([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)], 10);
      assert.deepEqual(got, want, `split at ${i}, ${j}`);
    }
  }
  const bytes = [...stream].map((b) => Buffer.from([b]));
  assert.deepEqual(units(bytes, 10).got, want);
});

test('PendingInput - a unit over the limit is skipped as it arrives: never more than a unit of the limit is held', () => {
  const bytes = [...stream].map((b) => Buffer.from([b]));
  const { held } = units(bytes, 10);
  // While the 40-byte unit arrives, nothing of it is kept.
  assert.ok(Math.max(...held) <= 1 + 10, `held at most ${Math.max(...held)} bytes`);
});
