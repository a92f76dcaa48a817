/**
 * TestPattern: the built-in video source renders real, deterministic JPEGs of a moving image
 * and emits them on a drift-free schedule until stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'jpeg-js';
import { TestPattern, type TestPatternRegion } from '../../src/sources/test-pattern.js';

const T = new Date(2026, 0, 2, 12, 34, 56, 789);

function rgbaOf(jpeg: Buffer): { data: Uint8Array; width: number; height: number } {
  return decode(jpeg, { useTArray: true, formatAsRGBA: true });
}

/** Mean absolute difference of the RGB channels of two decoded images inside region r. */
function meanDiff(a: Uint8Array, b: Uint8Array, width: number, r: TestPatternRegion): number {
  let sum = 0;
  for (let y = r.y; y < r.y + r.height; y++) {
    for (let x = r.x; x < r.x + r.width; x++) {
      const i = (y * width + x) * 4;
      sum += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
    }
  }
  return sum / (r.width * r.height * 3);
}

/** Number of Timeout handles the process holds (a stopped pattern must leave none behind). */
function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('test pattern - frame is a JPEG from SOI (FF D8) to EOI (FF D9)', async () => {
  const jpeg = (await new TestPattern().frame(0, T));
  assert.ok(Buffer.isBuffer(jpeg));
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
  assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9]);
});

test('test pattern - decodes to the configured size (defaults 640x360)', async () => {
  const d = rgbaOf((await new TestPattern().frame(5, T)));
  assert.deepEqual([d.width, d.height], [640, 360]);
  const p = new TestPattern({ width: 321, height: 97, quality: 30, label: 'odd size' });
  const e = rgbaOf((await p.frame(5, T)));
  assert.deepEqual([e.width, e.height, p.width, p.height], [321, 97, 321, 97]);
  assert.equal(e.data.length, 321 * 97 * 4);
});

test('test pattern - the box moves: frames with different n differ where the box is', async () => {
  const p = new TestPattern();
  const a = p.regions(10).box;
  const b = p.regions(11).box;
  assert.notEqual(a.x, b.x);
  assert.equal(a.y, b.y);
  const union: TestPatternRegion = {
    x: Math.min(a.x, b.x),
    y: a.y,
    width: Math.max(a.x, b.x) + a.width - Math.min(a.x, b.x),
    height: a.height,
  };
  const one = rgbaOf((await p.frame(10, T))).data;
  const two = rgbaOf((await p.frame(11, T))).data;
  assert.ok(meanDiff(one, two, 640, union) > 5, 'pixels around the box change between frames');
  // The box is bright: its centre is near white.
  const i = ((a.y + (a.height >> 1)) * 640 + a.x + (a.width >> 1)) * 4;
  assert.ok(one[i] > 220 && one[i + 1] > 220 && one[i + 2] > 220, `box centre is white, got ${one[i]},${one[i + 1]},${one[i + 2]}`);
});

test('test pattern - the box stays inside the image and comes back (bounces)', async () => {
  const p = new TestPattern({ width: 200, height: 120 });
  const xs = new Set<number>();
  for (let n = 0; n < 200; n++) {
    const b = p.regions(n).box;
    assert.ok(b.x >= 0 && b.x + b.width <= 200 && b.y >= 0 && b.y + b.height <= 120, `frame ${n}: box ${JSON.stringify(b)}`);
    xs.add(b.x);
  }
  assert.ok(xs.size > 10);
  assert.equal(p.regions(0).box.x, 0);
});

test('test pattern - the frame counter text changes between n=1 and n=2, the clock does not', async () => {
  const p = new TestPattern();
  const { counter, clock, label } = p.regions(1);
  assert.deepEqual(p.regions(2).counter, counter);
  const one = rgbaOf((await p.frame(1, T))).data;
  const two = rgbaOf((await p.frame(2, T))).data;
  // Only the last digit differs: look at its cell (6 font pixels of 4 screen pixels each).
  const lastDigit: TestPatternRegion = { x: counter.x + counter.width - 6 * 4, y: counter.y, width: 6 * 4, height: counter.height };
  assert.ok(meanDiff(one, two, 640, lastDigit) > 10, 'last digit changes');
  // Text sits on an opaque backing, so the scrolling bars behind it do not leak in.
  const inner = (r: TestPatternRegion): TestPatternRegion => ({ x: r.x + 8, y: r.y + 8, width: r.width - 16, height: r.height - 16 });
  assert.ok(meanDiff(one, two, 640, inner(clock)) < 2, 'same time, same clock');
  assert.ok(meanDiff(one, two, 640, inner(label)) < 2, 'same label');
});

test('test pattern - the clock shows milliseconds: 1 ms later changes the clock text', async () => {
  const p = new TestPattern();
  const { clock } = p.regions(0);
  const one = rgbaOf((await p.frame(0, T))).data;
  const two = rgbaOf((await p.frame(0, new Date(T.getTime() + 1)))).data;
  assert.ok(meanDiff(one, two, 640, clock) > 1);
});

test('test pattern - text is white on black and the label is upper-cased', async () => {
  const lower = new TestPattern({ label: 'cam one' });
  const upper = new TestPattern({ label: 'CAM ONE' });
  assert.ok((await lower.frame(3, T)).equals((await upper.frame(3, T))));
  const d = rgbaOf((await lower.frame(3, T))).data;
  const r = lower.regions(3).label;
  let dark = 0;
  let bright = 0;
  for (let y = r.y; y < r.y + r.height; y++) {
    for (let x = r.x; x < r.x + r.width; x++) {
      const v = d[(y * 640 + x) * 4 + 1];
      if (v < 40) dark++;
      else if (v > 215) bright++;
    }
  }
  assert.ok(dark > bright && bright > 0, `dark ${dark}, bright ${bright}`);
});

test('test pattern - same n and time give identical bytes', async () => {
  const p = new TestPattern();
  const a = (await p.frame(42, T));
  (await p.frame(43, new Date()));
  const b = (await p.frame(42, T));
  assert.ok(a.equals(b), 'the reused buffer is redrawn in full');
  assert.ok(a.equals((await new TestPattern().frame(42, T))), 'no state shared between instances matters');
  assert.ok(!a.equals((await p.frame(42, new Date(T.getTime() + 1000)))));
});

test('test pattern - quality changes the encoding', async () => {
  const low = (await new TestPattern({ quality: 10 }).frame(7, T));
  const high = (await new TestPattern({ quality: 95 }).frame(7, T));
  assert.ok(low.length < high.length, `${low.length} < ${high.length}`);
});

test('test pattern - bad options throw a RangeError naming the option', async () => {
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ width: 0 }, 'width'],
    [{ width: 640.5 }, 'width'],
    [{ width: '640' }, 'width'],
    [{ height: 100000 }, 'height'],
    [{ height: Number.NaN }, 'height'],
    [{ fps: 0 }, 'fps'],
    [{ fps: -1 }, 'fps'],
    [{ fps: Number.POSITIVE_INFINITY }, 'fps'],
    [{ fps: 1000 }, 'fps'],
    [{ quality: 0 }, 'quality'],
    [{ quality: 101 }, 'quality'],
    [{ quality: 50.5 }, 'quality'],
    [{ label: 7 }, 'label'],
    [{ label: 'x'.repeat(65) }, 'label'],
  ];
  for (const [options, name] of bad) {
    assert.throws(
      () => new TestPattern(options as never),
      (e: unknown) => e instanceof RangeError && e.message.includes(`option ${name}`) && (e as { code?: string }).code === 'CW_ERR_CONFIG_INVALID',
      JSON.stringify(options),
    );
  }
  const options = { width: 320 };
  const p = new TestPattern(options);
  assert.deepEqual(options, { width: 320 }, 'the caller\'s object is not written');
  assert.deepEqual([p.width, p.height, p.fps], [320, 360, 15]);
  assert.throws(() => p.frame(-1, T), RangeError);
  assert.throws(() => p.frame(1.5, T), RangeError);
  assert.throws(() => p.frame(1, new Date(Number.NaN)), RangeError);
});

test('test pattern - encode time at 640x360', async (t) => {
  const p = new TestPattern();
  (await p.frame(0, T)); // warm up the JIT
  const count = 20;
  let bytes = 0;
  const t0 = performance.now();
  for (let n = 1; n <= count; n++) bytes += (await p.frame(n, T)).length;
  const ms = (performance.now() - t0) / count;
  t.diagnostic(`640x360 q70: ${ms.toFixed(2)} ms per frame (draw + sharp encode), ${Math.round(bytes / count)} bytes per frame`);
});

test('test pattern - start emits numbered frames, stop() inside the callback ends them', async () => {
  const before = timeouts();
  const p = new TestPattern({ width: 64, height: 36, fps: 100 });
  const seen: Array<{ n: number; timestamp: number; size: number }> = [];
  let late = 0;
  await new Promise<void>((resolve) => {
    p.start((jpeg, info) => {
      if (!p.running) late++;
      assert.equal(jpeg[0], 0xff);
      assert.deepEqual([info.width, info.height], [64, 36]);
      seen.push({ n: info.n, timestamp: info.timestamp, size: jpeg.length });
      if (seen.length === 3) {
        p.stop();
        resolve();
      }
    });
    assert.equal(seen.length, 0, 'no frame inside start()');
    assert.ok(p.running);
  });
  assert.equal(late, 0);
  assert.deepEqual(seen.map((f) => f.n), [0, 1, 2]);
  assert.ok(seen[2].timestamp >= seen[0].timestamp);
  assert.equal(p.frames, 3);
  assert.equal(p.running, false);
  assert.equal(timeouts(), before, 'no timer left that could call back');
  p.stop(); // idempotent
});

test('test pattern - stop() between frames prevents further callbacks; start() again continues the count', async () => {
  const before = timeouts();
  const p = new TestPattern({ width: 64, height: 36, fps: 50 });
  let calls = 0;
  await new Promise<void>((resolve) => {
    p.start(() => {
      calls++;
      if (calls === 2) resolve();
    });
  });
  // The callback returned, so the next frame's timer is pending: stop() must cancel it.
  assert.ok(timeouts() > before);
  p.stop();
  assert.equal(timeouts(), before, 'the pending frame timer is cleared');
  assert.equal(calls, 2);
  assert.throws(() => {
    p.start(() => {});
    p.start(() => {});
  }, /already started/);
  p.stop();
  const n = await new Promise<number>((resolve) => {
    p.start((_jpeg, info) => {
      p.stop();
      resolve(info.n);
    });
  });
  assert.equal(n, 2);
  assert.equal(calls, 2, 'the first callback is not called again');
});

test('test pattern - a slow frame skips schedule slots instead of queueing them', async () => {
  const p = new TestPattern({ width: 32, height: 18, fps: 100 });
  const ns: number[] = [];
  await new Promise<void>((resolve) => {
    p.start((_jpeg, info) => {
      ns.push(info.n);
      if (info.n === 0) {
        // Hold the event loop for 5 slots (10 ms each): at least 3 must be skipped, not emitted back to back.
        const until = performance.now() + 50;
        while (performance.now() < until);
      } else {
        p.stop();
        resolve();
      }
    });
  });
  assert.deepEqual(ns, [0, 1]);
  assert.ok(p.skipped >= 3, `skipped ${p.skipped}`);
});

test('test pattern - rgba() gives the raw pixels the JPEG is made of; start(..., "rgba") emits them', async () => {
  const p = new TestPattern({ width: 64, height: 48 });
  const raw = await p.rgba(3, T);
  assert.equal(raw.length, 64 * 48 * 4);
  assert.ok(raw.equals(await p.rgba(3, T)), 'the same frame and time give the same pixels');
  assert.ok(!raw.equals(await p.rgba(4, T)), 'another frame differs');
  // The JPEG of the same frame decodes to about these pixels.
  const jpeg = rgbaOf(await new TestPattern({ width: 64, height: 48, quality: 100 }).frame(3, T));
  const box = { x: 0, y: 0, width: 64, height: 48 };
  assert.ok(meanDiff(jpeg.data, raw, 64, box) < 8, 'the JPEG is the raw frame, encoded');
  const got = await new Promise<{ image: Buffer; n: number }>((resolve) => {
    const q = new TestPattern({ width: 32, height: 32, fps: 50 });
    q.start((image, info) => {
      q.stop();
      resolve({ image, n: info.n });
    }, undefined, 'rgba');
  });
  assert.equal(got.image.length, 32 * 32 * 4);
  assert.equal(got.n, 0);
});
