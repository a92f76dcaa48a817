/**
 * The pure parsers of compressed video (docs/protocol.md, section 4.1): H.264 Annex B into
 * access units, IVF into VP8/VP9/AV1 frames. Streams made by real ffmpeg, fed whole and split at
 * every byte boundary (the same units must come out), plus hand-made bytes for the edge cases.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { AnnexBSplitter, parseSps, type AccessUnit } from '../../src/protocol/annexb.js';
import { FlvH264Splitter } from '../../src/protocol/flv.js';
import { IvfSplitter, type IvfFrame } from '../../src/protocol/ivf.js';
import { encodeArgs } from '../../src/sources/ffmpeg-codec.js';

/**
 * A short stream from ffmpeg: `frames` frames of testsrc2 at `size`, keyframe every `keyint`.
 * H.264 in Annex B (`-f h264`) unless `flv` (camwire's own output format for H.264).
 */
function encode(codec: 'h264' | 'vp8' | 'vp9' | 'av1', size: string, frames: number, keyint: number, extra: string[] = [], flv = false): Buffer {
  const format = codec === 'h264' && !flv ? ['-f', 'h264'] : [];
  const args = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=10`, '-frames:v', String(frames), ...encodeArgs({ codec, keyint }), ...extra, ...format, 'pipe:1'];
  // Extra output options go before the output: move the format to the end.
  return execFileSync('ffmpeg', args, { maxBuffer: 64 * 1024 * 1024 });
}

function splitH264(bytes: Buffer, cuts: number[], maxBytes?: number): { units: AccessUnit[]; dropped: number } {
  const units: AccessUnit[] = [];
  const s = new AnnexBSplitter((u) => units.push({ ...u, data: Buffer.from(u.data) }), { maxBytes });
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    s.push(bytes.subarray(at, c));
    at = c;
  }
  s.end();
  return { units, dropped: s.dropped };
}

function splitIvf(bytes: Buffer, cuts: number[], maxBytes?: number): { frames: IvfFrame[]; dropped: number } {
  const frames: IvfFrame[] = [];
  const s = new IvfSplitter((f) => frames.push({ ...f, data: Buffer.from(f.data) }), { maxBytes });
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    s.push(bytes.subarray(at, c));
    at = c;
  }
  return { frames, dropped: s.dropped };
}

/** The NAL unit types of an access unit, in order. */
function nalTypes(au: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 3 < au.length; i++) if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) out.push(au[i + 3] & 0x1f);
  return out;
}

test('annexb - ffmpeg H.264 cut into one access unit per frame, keyframes with SPS and PPS in front', () => {
  const bytes = encode('h264', '160x90', 12, 5);
  const { units, dropped } = splitH264(bytes, []);
  assert.equal(units.length, 12);
  assert.equal(dropped, 0);
  assert.deepEqual(units.map((u) => u.keyframe), [true, false, false, false, false, true, false, false, false, false, true, false]);
  for (const u of units) {
    assert.match(u.codec, /^avc1\.[0-9A-F]{6}$/);
    assert.equal(u.width, 160);
    assert.equal(u.height, 90);
    const types = nalTypes(u.data);
    if (u.keyframe) {
      assert.ok(types.indexOf(7) >= 0 && types.indexOf(8) > types.indexOf(7) && types.indexOf(5) > types.indexOf(8), `SPS, PPS, IDR in order: ${types}`);
    } else assert.ok(types.includes(1) && !types.includes(5));
  }
  // The units are the stream, cut: nothing lost or added.
  assert.ok(Buffer.concat(units.map((u) => u.data)).equals(bytes));
});

test('annexb - split at every byte boundary, the same units come out', () => {
  const bytes = encode('h264', '64x64', 4, 2);
  const whole = splitH264(bytes, []).units.map((u) => u.data.toString('hex'));
  assert.equal(whole.length, 4);
  for (let k = 1; k < bytes.length; k++) {
    const split = splitH264(bytes, [k]).units.map((u) => u.data.toString('hex'));
    assert.deepEqual(split, whole, `cut at ${k}`);
  }
  // And byte by byte.
  const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(splitH264(bytes, cuts).units.map((u) => u.data.toString('hex')), whole);
});

test('annexb - a picture in several slices is one access unit', () => {
  const bytes = encode('h264', '320x240', 6, 3, ['-threads', '4', '-x264-params', 'slices=4:repeat-headers=1']);
  const { units } = splitH264(bytes, []);
  assert.equal(units.length, 6);
  const slices = units.map((u) => nalTypes(u.data).filter((t) => t === 1 || t === 5).length);
  assert.ok(slices.every((n) => n > 1), `slices per unit: ${slices}`);
});

test('annexb - a keyframe without SPS and PPS gets the last ones put in front; garbage before the first start code is skipped', () => {
  const bytes = encode('h264', '64x64', 4, 2);
  const units = splitH264(bytes, []).units;
  // The second keyframe (unit 2) without its SPS and PPS: keep only its slices.
  const key2 = units[2].data;
  const idrAt = key2.indexOf(Buffer.from([0, 0, 1, 0x65]));
  const stripped = Buffer.concat([Buffer.from('garbage'), units[0].data, units[1].data, key2.subarray(idrAt), units[3].data]);
  const out = splitH264(stripped, []).units;
  assert.equal(out.length, 4);
  assert.ok(out[0].data.equals(units[0].data));
  assert.deepEqual(nalTypes(out[2].data).slice(0, 3), [7, 8, 5]);
  assert.equal(out[2].keyframe, true);
});

test('annexb - units before the first SPS are dropped; a unit over maxBytes is dropped and the next one comes out', () => {
  const bytes = encode('h264', '160x90', 6, 3);
  const units = splitH264(bytes, []).units;
  // Deltas first (no SPS yet): dropped, counted.
  const r = splitH264(Buffer.concat([units[1].data, units[2].data, ...units.map((u) => u.data)]), []);
  assert.equal(r.units.length, 6);
  assert.equal(r.dropped, 2);
  // A limit below the keyframes' size: they are dropped; the stream goes on.
  const limit = Math.max(...units.filter((u) => !u.keyframe).map((u) => u.data.length)) + 64;
  assert.ok(units[0].data.length > limit);
  const small = splitH264(bytes, [], limit);
  assert.ok(small.dropped >= 1);
  for (const u of small.units) assert.ok(u.data.length <= limit);
});

test('annexb - parseSps reads the size with cropping and the codec string', () => {
  const bytes = encode('h264', '640x360', 1, 1);
  const sps = splitH264(bytes, []).units[0].data;
  const at = sps.indexOf(Buffer.from([0, 0, 1, 0x67]));
  const end = sps.indexOf(Buffer.from([0, 0, 1]), at + 3);
  const info = parseSps(sps.subarray(at + 3, end - (sps[end - 1] === 0 ? 1 : 0)));
  assert.equal(info.width, 640);
  assert.equal(info.height, 360); // coded as 368 lines, cropped
  assert.equal(info.codec, `avc1.${sps.subarray(at + 4, at + 7).toString('hex').toUpperCase()}`);
  assert.throws(() => parseSps(Buffer.from([0x67, 0x42])), RangeError);
  assert.throws(() => parseSps(Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0x00, 0x00])), RangeError);
});

for (const [codec, prefix] of [['vp8', /^vp8$/], ['vp9', /^vp09\.00\.\d\d\.08$/], ['av1', /^av01\.0\.\d\d[MH]\.08$/]] as const) {
  test(`ivf - ffmpeg ${codec} cut into frames with keyframes, size and codec string; split at every boundary`, () => {
    const bytes = encode(codec, '96x64', 6, 3);
    const { frames, dropped } = splitIvf(bytes, []);
    assert.equal(dropped, 0);
    assert.equal(frames.length, 6);
    assert.deepEqual(frames.map((f) => f.keyframe), [true, false, false, true, false, false]);
    for (const f of frames) {
      assert.match(f.codec, prefix);
      assert.equal(f.width, 96);
      assert.equal(f.height, 64);
    }
    const whole = frames.map((f) => f.data.toString('hex'));
    for (let k = 1; k < bytes.length; k++) {
      assert.deepEqual(splitIvf(bytes, [k]).frames.map((f) => f.data.toString('hex')), whole, `cut at ${k}`);
    }
    // A frame over maxBytes is skipped (and the stream waits for the next keyframe).
    const limit = Math.max(...frames.filter((f) => !f.keyframe).map((f) => f.data.length)) + 1;
    if (frames[0].data.length > limit) {
      const r = splitIvf(bytes, [], limit);
      assert.equal(r.dropped + r.frames.length, 6);
      assert.ok(r.dropped >= 3, 'the first keyframe and the deltas after it');
      assert.ok(r.frames.every((f) => f.data.length <= limit));
      if (r.frames.length) assert.equal(r.frames[0].keyframe, true);
    }
  });
}

test('ivf - a header that is not IVF is an error; a truncated AV1 OBU does not throw from push', () => {
  assert.throws(() => new IvfSplitter(() => undefined).push(Buffer.alloc(40)), /DKIF/);
  const hdr = Buffer.alloc(32);
  hdr.write('DKIF', 0, 'latin1');
  hdr.writeUInt16LE(32, 6);
  hdr.write('AV01', 8, 'latin1');
  hdr.writeUInt16LE(64, 12);
  hdr.writeUInt16LE(64, 14);
  const frame = Buffer.alloc(12 + 3);
  frame.writeUInt32LE(3, 0);
  frame.set([0x32, 0x80, 0x80], 12); // an OBU whose size runs past the end
  const got: IvfFrame[] = [];
  const s = new IvfSplitter((f) => got.push(f));
  s.push(Buffer.concat([hdr, frame]));
  assert.equal(got.length, 0);
  assert.equal(s.dropped, 1);
});

function splitFlv(bytes: Buffer, cuts: number[], maxBytes?: number): { units: AccessUnit[]; dropped: number } {
  const units: AccessUnit[] = [];
  const s = new FlvH264Splitter((u) => units.push({ ...u, data: Buffer.from(u.data) }), { maxBytes });
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    s.push(bytes.subarray(at, c));
    at = c;
  }
  return { units, dropped: s.dropped };
}

test('flv - ffmpeg H.264 in FLV cut into Annex B access units at once, keyframes with SPS and PPS; split at every boundary', () => {
  const bytes = encode('h264', '96x64', 6, 3, [], true);
  assert.equal(bytes.toString('latin1', 0, 3), 'FLV');
  const { units, dropped } = splitFlv(bytes, []);
  assert.equal(dropped, 0);
  assert.equal(units.length, 6);
  assert.deepEqual(units.map((u) => u.keyframe), [true, false, false, true, false, false]);
  for (const u of units) {
    assert.match(u.codec, /^avc1\.[0-9A-F]{6}$/);
    assert.deepEqual([u.width, u.height], [96, 64]);
    const types = nalTypes(u.data);
    if (u.keyframe) assert.ok(types.indexOf(7) >= 0 && types.indexOf(8) > types.indexOf(7) && types.indexOf(5) > types.indexOf(8), `SPS, PPS, IDR: ${types}`);
  }
  // The units are Annex B: the Annex B splitter cuts their concatenation into the same units.
  const again = splitH264(Buffer.concat(units.map((u) => u.data)), []).units;
  assert.deepEqual(again.map((u) => u.data.toString('hex')), units.map((u) => u.data.toString('hex')));
  const whole = units.map((u) => u.data.toString('hex'));
  for (let k = 1; k < bytes.length; k++) assert.deepEqual(splitFlv(bytes, [k]).units.map((u) => u.data.toString('hex')), whole, `cut at ${k}`);
});

test('flv - a tag over maxBytes is skipped, and the units after it up to the next keyframe; bad input does not throw from a tag', () => {
  const bytes = encode('h264', '160x90', 6, 3, [], true);
  const units = splitFlv(bytes, []).units;
  const limit = Math.max(...units.filter((u) => !u.keyframe).map((u) => u.data.length)) + 64;
  const r = splitFlv(bytes, [], limit);
  assert.ok(r.dropped >= 1);
  for (const u of r.units) assert.ok(u.data.length <= limit + 64);
  if (r.units.length) assert.equal(r.units[0].keyframe, true);
  // A video tag whose NAL length runs past its end: dropped and counted, the parser goes on.
  const hdr = Buffer.from('464c5601010000000900000000', 'hex');
  const data = Buffer.from([0x27, 1, 0, 0, 0, 0, 0, 0, 99, 0x41]);
  const tag = Buffer.concat([Buffer.from([9, 0, 0, data.length, 0, 0, 0, 0, 0, 0, 0]), data, Buffer.alloc(4)]);
  const s = new FlvH264Splitter(() => assert.fail('no unit'));
  s.push(Buffer.concat([hdr, tag]));
  assert.equal(s.dropped, 1);
  assert.throws(() => new FlvH264Splitter(() => undefined).push(Buffer.alloc(20)), /FLV/);
});

test('fuzz - random bytes in random chunks: the parsers never throw past their header, and never emit more than maxBytes', () => {
  const seed = process.env.CW_FC_SEED ? Number(process.env.CW_FC_SEED) : undefined;
  const MAX = 4096;
  const chunked = fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 20000 }), fc.array(fc.nat(20000), { maxLength: 8 }));
  const feed = (push: (c: Buffer) => void, [bytes, cuts]: [Uint8Array, number[]]): void => {
    const b = Buffer.from(bytes);
    let at = 0;
    for (const c of [...cuts.sort((x, y) => x - y), b.length]) {
      push(b.subarray(at, Math.max(at, Math.min(c, b.length))));
      at = Math.max(at, Math.min(c, b.length));
    }
  };
  // Annex B: any bytes at all (it has no header); with start codes sprinkled in, to reach the NAL paths.
  const withStarts = chunked.map(([bytes, cuts]): [Uint8Array, number[]] => {
    const b = Buffer.from(bytes);
    for (let i = 0; i + 4 < b.length; i += 97) b.set([0, 0, 1, [0x67, 0x68, 0x65, 0x41, 0x09][i % 5]], i);
    return [b, cuts];
  });
  fc.assert(
    fc.property(withStarts, (input) => {
      const s = new AnnexBSplitter((u) => assert.ok(u.data.length <= MAX + 64), { maxBytes: MAX });
      feed((c) => s.push(c), input);
      s.end();
    }),
    { numRuns: 300, seed },
  );
  // IVF and FLV behind a valid header: the rest is random.
  const ivfHead = Buffer.from('444b494600002000564039300100010001000000010000000000000000000000'.replace('56403930', '56503830'), 'hex');
  const flvHead = Buffer.from('464c5601010000000900000000', 'hex');
  for (const [head, make] of [
    [ivfHead, () => new IvfSplitter((f) => assert.ok(f.data.length <= MAX), { maxBytes: MAX })],
    [flvHead, () => new FlvH264Splitter((u) => assert.ok(u.data.length <= MAX * 2), { maxBytes: MAX })],
  ] as const) {
    fc.assert(
      fc.property(chunked, ([bytes, cuts]) => {
        const s = make();
        feed((c) => s.push(c), [Buffer.concat([head, Buffer.from(bytes)]), cuts]);
      }),
      { numRuns: 300, seed },
    );
  }
});

test('ivf - an AV1 sequence header this parser does not follow (timing info) still gives keyframes, with the default codec string', () => {
  const bytes = Buffer.from(encode('av1', '96x64', 4, 2));
  // Set timing_info_present_flag in every sequence header OBU (type 1, with a one-byte size).
  for (let i = 32; i + 2 < bytes.length; i++) if (bytes[i] === 0x0a && bytes[i + 1] < 0x80 && (bytes[i + 2] & 0x18) === 0) bytes[i + 2] |= 0x04;
  const { frames } = splitIvf(bytes, []);
  assert.equal(frames.length, 4);
  assert.deepEqual(frames.map((f) => f.keyframe), [true, false, true, false]);
  assert.equal(frames[0].codec, 'av01.0.08M.08');
  assert.deepEqual([frames[0].width, frames[0].height], [96, 64], 'the size from the IVF header');
});
