/**
 * Media hooks (src/media/transform.ts): results in the order of the frames whatever order the
 * hooks finish in, a bounded queue that drops the oldest, and failures that drop one frame.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/errors.js';
import { EncodeHooks, HookQueue, runHook } from '../../src/media/transform.js';
import { Flag, Kind, MediaType } from '../../src/protocol/constants.js';
import type { FrameInit } from '../../src/protocol/frame.js';

/** A promise and the functions that settle it. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets settled promises run their callbacks. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('HookQueue', () => {
  test('a ready value with nothing waiting is delivered at once', () => {
    const out: number[] = [];
    const q = new HookQueue<number>((v) => out.push(v), () => assert.fail('nothing is dropped'));
    q.push(1, 10);
    q.push(2, 10);
    assert.deepEqual(out, [1, 2]);
    assert.equal(q.waiting, 0);
  });

  test('results that finish in reverse order are delivered in the order pushed', async () => {
    const out: number[] = [];
    const q = new HookQueue<number>((v) => out.push(v), () => assert.fail('nothing is dropped'));
    const d = [deferred<number>(), deferred<number>(), deferred<number>()];
    for (const x of d) q.push(x.promise, 1);
    q.push(4, 1); // ready, but behind three that are not
    assert.deepEqual(out, []);
    d[2].resolve(3);
    d[1].resolve(2);
    await settle();
    assert.deepEqual(out, []);
    d[0].resolve(1);
    await settle();
    assert.deepEqual(out, [1, 2, 3, 4]);
    assert.equal(q.waiting, 0);
  });

  test('an undefined result (a failed hook) is skipped, the rest go on in order', async () => {
    const out: number[] = [];
    const q = new HookQueue<number>((v) => out.push(v), () => undefined);
    const a = deferred<number | undefined>();
    q.push(a.promise, 1);
    q.push(undefined, 1);
    q.push(3, 1);
    a.resolve(undefined);
    await settle();
    assert.deepEqual(out, [3]);
  });

  test('beyond its item bound the oldest waiting entry is dropped and counted; its late result is ignored', async () => {
    const out: number[] = [];
    let dropped = 0;
    const q = new HookQueue<number>((v) => out.push(v), () => dropped++, 3, 1e9);
    const d = Array.from({ length: 5 }, () => deferred<number>());
    for (const x of d) q.push(x.promise, 1);
    assert.equal(dropped, 2);
    assert.equal(q.waiting, 3);
    d.forEach((x, i) => x.resolve(i + 1));
    await settle();
    assert.deepEqual(out, [3, 4, 5]);
  });

  test('beyond its byte bound the oldest is dropped; the newest always stays', async () => {
    const out: number[] = [];
    let dropped = 0;
    const q = new HookQueue<number>((v) => out.push(v), () => dropped++, 100, 10);
    const a = deferred<number>();
    const b = deferred<number>();
    q.push(a.promise, 6);
    q.push(b.promise, 60); // alone over the bound: kept
    assert.equal(dropped, 1);
    a.resolve(1);
    b.resolve(2);
    await settle();
    assert.deepEqual(out, [2]);
  });
});

describe('runHook', () => {
  const info = { mediaIndex: 0 };
  test('a Buffer or Uint8Array result is taken as it is; anything else fails', () => {
    const errors: unknown[] = [];
    const fail = (e: unknown): number => errors.push(e);
    assert.deepEqual(runHook(() => Buffer.from([1]), Buffer.alloc(0), info, 10, fail), Buffer.from([1]));
    assert.deepEqual(runHook(() => new Uint8Array([2, 3]), Buffer.alloc(0), info, 10, fail), Buffer.from([2, 3]));
    assert.equal(runHook(() => 'text' as unknown as Buffer, Buffer.alloc(0), info, 10, fail), undefined);
    assert.equal(runHook(() => Buffer.alloc(11), Buffer.alloc(0), info, 10, fail), undefined);
    assert.equal(runHook(() => { throw new Error('boom'); }, Buffer.alloc(0), info, 10, fail), undefined);
    assert.equal(errors.length, 3);
    assert.ok(errors[0] instanceof TypeError);
    assert.ok(errors[1] instanceof RangeError);
    assert.equal((errors[2] as Error).message, 'boom');
  });

  test('a rejected promise fails and resolves to undefined', async () => {
    const errors: unknown[] = [];
    const r = runHook(() => Promise.reject(new Error('no key')), Buffer.alloc(0), info, 10, (e) => errors.push(e));
    assert.ok(r instanceof Promise);
    assert.equal(await r, undefined);
    assert.equal((errors[0] as Error).message, 'no key');
  });
});

describe('EncodeHooks', () => {
  const video = (n: number): FrameInit => ({ kind: Kind.DATA, mediaType: MediaType.video, flags: Flag.KEYFRAME, prefix: Buffer.from([9, 9]), payload: Buffer.from([n]) });
  const info = { mediaIndex: 0, imageType: 'jpeg', width: 1, height: 1, keyframe: true, timestamp: 0 };

  test('transforms the payload only, keeps the media header (prefix), sets TRANSFORMED, keeps order across async hooks', async () => {
    const sent: FrameInit[] = [];
    const errors: string[] = [];
    let allSent!: () => void;
    const done = new Promise<void>((r) => (allSent = r));
    const hooks = new EncodeHooks({
      // Later frames finish first.
      encodeVideo: async (p) => {
        await new Promise((r) => setTimeout(r, 30 - p[0] * 5));
        if (p[0] === 3) throw new Error('frame 3 refused');
        return Buffer.from([p[0] + 100]);
      },
      maxPayload: 100,
      send: (_t, init) => {
        if (sent.push(init) === 4) allSent();
      },
      error: (_t, err) => errors.push(`${err.code}: ${err.message}`),
      dropped: () => assert.fail('nothing is dropped'),
    });
    assert.equal(hooks.has('video'), true);
    assert.equal(hooks.has('audio'), false);
    const frames = [1, 2, 3, 4, 5].map(video);
    for (const f of frames) hooks.submit('video', f, info);
    await done;
    assert.deepEqual(sent.map((f) => f.payload![0]), [101, 102, 104, 105]);
    for (const f of sent) {
      assert.deepEqual(f.prefix, Buffer.from([9, 9]));
      assert.equal(f.flags, Flag.KEYFRAME | Flag.TRANSFORMED);
    }
    assert.deepEqual(errors, [`${ErrorCode.MEDIA_ENCODE}: encodeVideo hook failed: frame 3 refused; the frame was dropped`]);
    // The caller's frames are not changed.
    assert.equal(frames[0].flags, Flag.KEYFRAME);
    assert.deepEqual(frames[0].payload, Buffer.from([1]));
  });
});
