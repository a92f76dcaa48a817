/** H.264 Annex B helpers: access units cut at delimiters whatever the chunking; the SPS read. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AccessUnits, avcCodecString, findSps, isIdr, nalUnits, spsDimensions } from '../../src/protocol/h264.js';
import { h264Frames } from '../helpers/media.js';

test('h264 - access units are cut at their delimiters wherever the stream is split', async () => {
  const frames = await h264Frames(20, { width: 352, height: 288, gop: 5 });
  const stream = Buffer.concat(frames.map((f) => f.data));
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 30 }), (cuts) => {
      const out: Buffer[] = [];
      const s = new AccessUnits((au) => out.push(Buffer.from(au)));
      let at = 0;
      for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
        s.push(stream.subarray(at, c));
        at = c;
      }
      s.push(stream.subarray(at));
      s.flush();
      assert.deepEqual(out, frames.map((f) => f.data));
    }),
    { numRuns: 50 },
  );
  assert.deepEqual(frames.map((f) => f.keyframe), frames.map((_, i) => i % 5 === 0));
  const sps = findSps(frames[0].data)!;
  assert.match(avcCodecString(sps), /^avc1\.(42|4D|64)[0-9A-F]{4}$/);
  assert.deepEqual(spsDimensions(sps), { width: 352, height: 288 });
  assert.equal(findSps(frames[1].data), undefined);
  assert.equal(isIdr(frames[1].data), false);
});

test('h264 - an access unit over the bound is dropped and counted; a malformed SPS is a RangeError', () => {
  const aud = Buffer.from([0, 0, 0, 1, 9, 0xf0]);
  const out: Buffer[] = [];
  const s = new AccessUnits((au) => out.push(Buffer.from(au)), 1000);
  s.push(Buffer.concat([aud, Buffer.alloc(3000, 0x55)]));
  s.push(Buffer.concat([aud, Buffer.from([0, 0, 1, 0x65, 1, 2, 3])]));
  s.flush();
  assert.equal(s.dropped, 1);
  assert.equal(out.length, 1);
  assert.deepEqual(nalUnits(out[0]).map((n) => n.type), [9, 5]);
  assert.throws(() => spsDimensions(Buffer.from([0x67, 0x64])), RangeError);
  assert.throws(() => spsDimensions(Buffer.from([0x67, 0x42, 0, 0x1e, 0, 0, 0, 0])), RangeError);
});
