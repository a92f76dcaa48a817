/**
 * Change detection: the differ (changed rectangles of raw RGB/RGBA frames, with the original's
 * thresholds) and the composer (rectangles placed on a picture).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FrameDiffer, cropRect, type PixelChannels } from '../../src/media/change/differ.js';
import { Picture } from '../../src/media/change/composer.js';
import { CHANGE_DEFAULTS, resolveChangeSettings } from '../../src/media/change/settings.js';

const noMin = { ...CHANGE_DEFAULTS, minChangeAreaSize: 0 };

function frame(w: number, h: number, ch: number, fill = 0): Uint8Array {
  return new Uint8Array(w * h * ch).fill(fill);
}

function paint(f: Uint8Array, w: number, ch: number, x: number, y: number, rw: number, rh: number, rgb: [number, number, number]): void {
  for (let yy = y; yy < y + rh; yy++) {
    for (let xx = x; xx < x + rw; xx++) {
      const i = (yy * w + xx) * ch;
      f[i] = rgb[0];
      f[i + 1] = rgb[1];
      f[i + 2] = rgb[2];
    }
  }
}

/** True when every pixel of a and b is within the threshold (the differ's own rule). */
function within(a: Uint8Array, b: Uint8Array, ch: number, t: number): boolean {
  for (let i = 0; i < a.length; i += ch) {
    if (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]) > 3 * t) return false;
  }
  return true;
}

describe('FrameDiffer', () => {
  test('identical frames produce no rectangle', () => {
    for (const ch of [3, 4] as const) {
      const d = new FrameDiffer(100, 50, ch, CHANGE_DEFAULTS);
      const a = frame(100, 50, ch, 77);
      assert.deepEqual(d.diff(a, Uint8Array.from(a)), []);
    }
  });

  test('one changed area gives its tight bounding box and changed-pixel count', () => {
    const d = new FrameDiffer(200, 100, 4, CHANGE_DEFAULTS);
    const a = frame(200, 100, 4);
    const b = Uint8Array.from(a);
    paint(b, 200, 4, 37, 21, 30, 12, [200, 10, 10]);
    assert.deepEqual(d.diff(a, b), [{ x: 37, y: 21, w: 30, h: 12, changed: 360 }]);
  });

  test('two distant areas give two rectangles; alpha alone is no change', () => {
    const d = new FrameDiffer(256, 256, 4, CHANGE_DEFAULTS);
    const a = frame(256, 256, 4);
    const b = Uint8Array.from(a);
    paint(b, 256, 4, 0, 0, 8, 8, [255, 255, 255]);
    paint(b, 256, 4, 200, 180, 50, 60, [0, 0, 90]);
    for (let i = 3; i < b.length; i += 4) b[i] = 255;
    const r = d.diff(a, b).sort((p, q) => p.x - q.x);
    assert.deepEqual(r, [
      { x: 0, y: 0, w: 8, h: 8, changed: 64 },
      { x: 200, y: 180, w: 50, h: 60, changed: 3000 },
    ]);
  });

  test('pixelColorThreshold 8: a change of 24 over three channels is not a change, 25 is', () => {
    const d = new FrameDiffer(16, 16, 3, noMin);
    const a = frame(16, 16, 3, 100);
    const b = Uint8Array.from(a);
    b[0] = 108;
    b[1] = 108;
    b[2] = 108; // (8+8+8)/3 = 8, not above 8
    assert.deepEqual(d.diff(a, b), []);
    b[2] = 109;
    assert.deepEqual(d.diff(a, b), [{ x: 0, y: 0, w: 1, h: 1, changed: 1 }]);
  });

  test('a negative pixelColorThreshold uses the per-channel thresholds', () => {
    const s = resolveChangeSettings({ pixelColorThreshold: -1, pixelColorThresholdR: 50, pixelColorThresholdG: 0, pixelColorThresholdB: 50, minChangeAreaSize: 0 });
    const d = new FrameDiffer(8, 8, 3, s);
    const a = frame(8, 8, 3, 100);
    const b = Uint8Array.from(a);
    b[0] = 140; // R +40: under 50
    b[5] = 101; // pixel 1, B +1: under 50
    assert.deepEqual(d.diff(a, b), []);
    b[4] = 101; // pixel 1, G +1: above 0
    assert.deepEqual(d.diff(a, b), [{ x: 1, y: 0, w: 1, h: 1, changed: 1 }]);
  });

  test('minChangeAreaSize 10 drops an area of 9 changed pixels, keeps 10', () => {
    const d = new FrameDiffer(64, 64, 4, CHANGE_DEFAULTS);
    const a = frame(64, 64, 4);
    const b = Uint8Array.from(a);
    paint(b, 64, 4, 5, 5, 3, 3, [255, 0, 0]);
    assert.deepEqual(d.diff(a, b), []);
    paint(b, 64, 4, 8, 5, 1, 1, [255, 0, 0]);
    assert.equal(d.diff(a, b)[0]?.changed, 10);
  });

  test('with maxShare, gives up (undefined) once more than that share of the pixels changed', () => {
    const d = new FrameDiffer(32, 32, 3, noMin);
    const a = frame(32, 32, 3);
    const b = Uint8Array.from(a);
    paint(b, 32, 3, 0, 0, 32, 16, [255, 255, 255]); // exactly half
    assert.deepEqual(d.diff(a, b, 0.5), [{ x: 0, y: 0, w: 32, h: 16, changed: 512 }]);
    paint(b, 32, 3, 0, 16, 1, 1, [255, 255, 255]); // one pixel more
    assert.equal(d.diff(a, b, 0.5), undefined);
    assert.equal(d.diff(a, b).length, 1, 'without maxShare it goes on');
  });

  test('refuses frames of the wrong size and sizes outside 1..65535', () => {
    const d = new FrameDiffer(10, 10, 3, CHANGE_DEFAULTS);
    assert.throws(() => d.diff(frame(10, 10, 3), frame(10, 10, 4)), RangeError);
    assert.throws(() => new FrameDiffer(0, 10, 3, CHANGE_DEFAULTS), RangeError);
    assert.throws(() => new FrameDiffer(70000, 10, 3, CHANGE_DEFAULTS), RangeError);
  });

  test('property: placing the rectangles (with no minimum area) on the old picture gives the new one within the threshold', () => {
    const arb = fc
      .record({ w: fc.integer({ min: 1, max: 70 }), h: fc.integer({ min: 1, max: 50 }), ch: fc.constantFrom<PixelChannels>(3, 4), t: fc.integer({ min: 0, max: 40 }), seed: fc.integer() })
      .chain((p) =>
        fc.record({
          p: fc.constant(p),
          base: fc.uint8Array({ minLength: p.w * p.h * p.ch, maxLength: p.w * p.h * p.ch }),
          edits: fc.array(fc.record({ x: fc.nat(p.w - 1), y: fc.nat(p.h - 1), rw: fc.integer({ min: 1, max: 20 }), rh: fc.integer({ min: 1, max: 20 }), dv: fc.integer({ min: -255, max: 255 }) }), { maxLength: 6 }),
        }),
      );
    fc.assert(
      fc.property(arb, ({ p, base, edits }) => {
        const next = Uint8Array.from(base);
        for (const e of edits) {
          for (let y = e.y; y < Math.min(p.h, e.y + e.rh); y++) {
            for (let x = e.x; x < Math.min(p.w, e.x + e.rw); x++) {
              const i = (y * p.w + x) * p.ch;
              next[i] = Math.max(0, Math.min(255, next[i] + e.dv));
              next[i + 2] = Math.max(0, Math.min(255, next[i + 2] - e.dv));
            }
          }
        }
        const d = new FrameDiffer(p.w, p.h, p.ch, { ...noMin, pixelColorThreshold: p.t });
        const rects = d.diff(base, next);
        const pic = new Picture(p.w, p.h, p.ch, base);
        for (const r of rects) {
          assert.ok(r.x >= 0 && r.y >= 0 && r.w >= 1 && r.h >= 1 && r.x + r.w <= p.w && r.y + r.h <= p.h);
          assert.ok(r.changed >= 1 && r.changed <= r.w * r.h);
          assert.equal(pic.place(r, cropRect(next, p.w, p.ch, r)), undefined);
        }
        assert.ok(within(pic.data, next, p.ch, p.t));
        if (within(base, next, p.ch, p.t)) assert.equal(rects.length, 0);
      }),
      { numRuns: 300 },
    );
  });

  test('property: with the default minimum area, only areas smaller than it are left unsent', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ x: fc.nat(59), y: fc.nat(59), n: fc.integer({ min: 1, max: 5 }) }), { maxLength: 5 }), (spots) => {
        // Spots of n x n changed pixels, each in its own 16x16 block region far from the others.
        const w = 128;
        const a = frame(w, w, 3);
        const b = Uint8Array.from(a);
        const placed = spots.map((s, i) => ({ x: (i % 2) * 64 + (s.x % 40), y: Math.floor(i / 2) * 40 + (s.y % 20), n: s.n }));
        for (const s of placed) paint(b, w, 3, s.x, s.y, s.n, s.n, [255, 255, 255]);
        const rects = new FrameDiffer(w, w, 3, CHANGE_DEFAULTS).diff(a, b);
        const total = rects.reduce((t, r) => t + r.changed, 0);
        for (const r of rects) assert.ok(r.changed >= 10);
        const big = placed.filter((s) => s.n * s.n >= 10).reduce((t, s) => t + s.n * s.n, 0);
        assert.ok(total >= big, `sent ${total} changed pixels, spots of 10 or more hold ${big}`);
      }),
      { numRuns: 200 },
    );
  });
});

describe('Picture', () => {
  test('places a rectangle row by row', () => {
    const p = new Picture(4, 3, 3);
    assert.equal(p.place({ x: 1, y: 1, w: 2, h: 2 }, Buffer.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4])), undefined);
    assert.deepEqual([...p.data.subarray(12, 24)], [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0]);
    assert.deepEqual([...p.data.subarray(24, 36)], [0, 0, 0, 3, 3, 3, 4, 4, 4, 0, 0, 0]);
  });

  test('refuses, changing nothing, a rectangle outside the picture, an empty one or pixels of the wrong size', () => {
    const p = new Picture(10, 10, 3, new Uint8Array(300).fill(9));
    const px = Buffer.alloc(4 * 4 * 3, 1);
    assert.equal(p.place({ x: 7, y: 0, w: 4, h: 4 }, px), 'outside');
    assert.equal(p.place({ x: 0, y: 7, w: 4, h: 4 }, px), 'outside');
    assert.equal(p.place({ x: 0, y: 0, w: 0, h: 4 }, px), 'outside');
    assert.equal(p.place({ x: 0, y: 0, w: 4, h: 3 }, px), 'pixels');
    assert.equal(p.replace(Buffer.alloc(299)), 'pixels');
    assert.ok(p.data.every((v) => v === 9));
  });
});

describe('resolveChangeSettings', () => {
  test('defaults are the original\'s; bad values name the setting', () => {
    assert.deepEqual(resolveChangeSettings(), { pixelColorThreshold: 8, pixelColorThresholdR: 8, pixelColorThresholdG: 8, pixelColorThresholdB: 8, minChangeAreaSize: 10, fullFrameInterval: 0, frameDifferenceInterval: 0 });
    assert.equal(resolveChangeSettings({ pixelColorThreshold: -1 }).pixelColorThreshold, -1);
    assert.throws(() => resolveChangeSettings({ minChangeAreaSize: -1 }), /minChangeAreaSize/);
    assert.throws(() => resolveChangeSettings({ fullFrameInterval: 1.5 }), /fullFrameInterval/);
    assert.throws(() => resolveChangeSettings({ pixelColorThresholdR: 1000 }), /pixelColorThresholdR/);
  });
});
