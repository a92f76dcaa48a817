/**
 * Outboxes: the per-link and per-reader queues with each media type's policy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { AudioOutbox, Flag, Kind, ReliableOutbox, VideoOutbox, type FrameInit } from '../../src/internal.js';
import { Spool, SpoolBudget } from '../../src/media/spool.js';
import { encodeVideoHeader } from '../../src/protocol/messages.js';

function frame(from: string, n: number, bytes = 10, key = true, mediaIndex = 0): FrameInit {
  const payload = Buffer.alloc(bytes, n & 0xff);
  return { kind: Kind.DATA, mediaType: 1, from, mediaIndex, flags: key ? Flag.KEYFRAME : 0, seq: n, payload };
}

/** A video frame whose payload starts with a video header (4.1) without a rectangle: the outbox reads hasRect. */
function vframe(from: string, n: number, bytes = 10, key = true, mediaIndex = 0): FrameInit {
  const f = frame(from, n, bytes, key, mediaIndex);
  encodeVideoHeader({ imageType: 'jpeg', width: 1, height: 1 }).copy(f.payload!);
  return f;
}

describe('VideoOutbox', () => {
  test('latest wins per source (sender id and media index)', () => {
    const v = new VideoOutbox();
    v.offer(vframe('a', 1));
    v.offer(vframe('a', 2));
    v.offer(vframe('b', 3));
    v.offer(vframe('a', 4, 10, true, 1));
    assert.equal(v.dropped, 1);
    assert.deepEqual([v.next()?.seq, v.next()?.seq, v.next()?.seq, v.next()], [2, 3, 4, undefined]);
  });

  test('delta frames queue behind their source\'s waiting frame: a group of pictures stays whole', () => {
    const v = new VideoOutbox();
    v.offer(vframe('a', 1, 10, true));
    assert.equal(v.offer(vframe('a', 2, 10, false)), 0, 'a delta replaces nothing');
    v.offer(vframe('b', 3, 10, true));
    assert.equal(v.offer(vframe('a', 4, 10, false)), 0);
    assert.deepEqual([v.next()?.seq, v.next()?.seq, v.next()?.seq, v.next()?.seq, v.next()], [1, 3, 2, 4, undefined]);
    assert.equal(v.dropped, 0);
    v.offer(vframe('a', 5, 10, false));
    v.offer(vframe('a', 6, 10, true));
    assert.deepEqual([v.next()?.seq, v.next()], [6, undefined], 'a keyframe replaces what waits of its source');
    assert.equal(v.dropped, 1);
  });

  test('a delta chain over the byte bound, or over 300 frames, drops its source until the next keyframe, and asks for one', () => {
    const asked: string[] = [];
    const v = new VideoOutbox(100, (f) => asked.push(f.from ?? ''));
    v.offer(vframe('a', 1, 40, true));
    v.offer(vframe('a', 2, 40, false));
    assert.equal(v.offer(vframe('a', 3, 40, false)), 3, 'the keyframe, the delta before, and this one');
    assert.deepEqual(asked, ['a']);
    assert.equal(v.offer(vframe('a', 4, 10, false)), 1, 'deltas are skipped while the source waits');
    assert.equal(v.next(), undefined);
    v.offer(vframe('a', 5, 10, true));
    assert.equal(v.next()?.seq, 5);
    const long = new VideoOutbox();
    long.offer(vframe('a', 0, 10, true));
    for (let i = 1; i <= 300; i++) assert.equal(long.offer(vframe('a', i, 10, false)), 0, `delta ${i} queues`);
    assert.equal(long.offer(vframe('a', 301, 10, false)), 302);
    assert.equal(long.next(), undefined);
  });

  test('a frame may skip the queue only when nothing waits and its source is not waiting for a keyframe', () => {
    const v = new VideoOutbox(25);
    assert.equal(v.canSkipQueue(vframe('a', 1, 10, false)), true);
    v.offer(vframe('a', 1, 10, true));
    assert.equal(v.canSkipQueue(vframe('b', 2)), false, 'something waits');
    v.offer(vframe('a', 2, 10, false));
    v.offer(vframe('a', 3, 10, false)); // over the bound: a must wait for the next keyframe
    assert.equal(v.next(), undefined);
    assert.equal(v.canSkipQueue(vframe('a', 4, 10, false)), false, 'a delta of a source waiting for a keyframe');
    assert.equal(v.canSkipQueue(vframe('b', 5, 10, false)), true, 'another source is not held up');
  });

  test('a source whose waiting frame the byte cap dropped skips its delta frames until its next keyframe', () => {
    const v = new VideoOutbox(150);
    v.offer(frame('a', 1, 100, true));
    v.offer(frame('b', 2, 100, true)); // over the cap: a's keyframe goes
    assert.equal(v.next()?.seq, 2);
    assert.equal(v.canSkipQueue(frame('a', 3, 10, false)), false, 'a waits for a keyframe');
    v.offer(frame('a', 3, 10, false));
    assert.equal(v.next(), undefined, 'a delta of a, without the frame it refers to, is dropped');
    v.offer(frame('a', 4, 10, true));
    assert.equal(v.next()?.seq, 4);
  });

  test('startAtKey: each source starts at its keyframe, its deltas before it are dropped', () => {
    const v = new VideoOutbox(Infinity, undefined, true);
    assert.equal(v.canSkipQueue(frame('a', 1, 10, false)), false);
    assert.equal(v.offer(frame('a', 1, 10, false)), 1);
    assert.equal(v.next(), undefined);
    v.offer(frame('a', 2, 10, true));
    assert.equal(v.next()?.seq, 2);
    assert.equal(v.canSkipQueue(frame('a', 3, 10, false)), true, 'a started: its deltas go on');
    assert.equal(v.canSkipQueue(frame('b', 4, 10, false)), false, 'b has not started');
    assert.equal(v.clear, false, 'never clear for a whole batch: each frame is looked at');
  });

  test('a byte cap across sources drops the oldest waiting frame, never the newest', () => {
    const v = new VideoOutbox(250);
    for (const [i, src] of ['a', 'b', 'c', 'd'].entries()) v.offer(vframe(src, i, 100));
    assert.equal(v.dropped, 2);
    assert.deepEqual([v.next()?.from, v.next()?.from, v.next()], ['c', 'd', undefined]);
    const big = new VideoOutbox(50);
    big.offer(vframe('a', 9, 400));
    assert.equal(big.next()?.seq, 9, 'one frame larger than the cap still goes: the newest always stays');
  });
});

describe('AudioOutbox', () => {
  test('drops the oldest chunk on overflow, by count and by bytes', () => {
    const a = new AudioOutbox(3, 1000);
    for (let i = 0; i < 5; i++) a.offer(frame('a', i));
    assert.equal(a.dropped, 2);
    assert.deepEqual([a.next()?.seq, a.next()?.seq, a.next()?.seq, a.next()], [2, 3, 4, undefined]);
    const b = new AudioOutbox(100, 250);
    for (let i = 0; i < 4; i++) b.offer(frame('a', i, 100));
    assert.equal(b.dropped, 2);
  });
});

describe('ReliableOutbox', () => {
  function outbox(o: Partial<ConstructorParameters<typeof ReliableOutbox>[0]> = {}): ReliableOutbox {
    return new ReliableOutbox({ mediaType: 'file', maxBytes: 10_000_000, window: 2, timeoutMs: 60000, retransmitMs: 0, onTimeout: () => {}, ...o });
  }

  test('a window of in-flight items; an ACK opens it again and resolves the item', async () => {
    const r = outbox();
    const p = [r.submit(frame('a', 0)), r.submit(frame('a', 0)), r.submit(frame('a', 0))];
    const f1 = r.next(Date.now())!;
    const f2 = r.next(Date.now())!;
    assert.equal(r.next(Date.now()), undefined, 'window of 2');
    assert.ok((f1.flags! & Flag.ACK_REQUESTED) !== 0);
    r.ack(f1.seq!, { resumeOffset: 5 });
    assert.deepEqual(await p[0], { resumeOffset: 5 });
    assert.ok(r.next(Date.now()));
    r.nack(f2.seq!, 1200, 'no');
    await assert.rejects(p[1], { code: 'CW_ERR_DELIVERY_REFUSED' });
    r.failAll(new Error('x') as never);
    await assert.rejects(p[2], { code: 'CW_ERR_DELIVERY_CLOSED' });
    r.dispose();
  });

  test('a full queue refuses at once', async () => {
    const r = outbox({ maxBytes: 25 });
    const ok = r.submit(frame('a', 0, 20));
    await assert.rejects(r.submit(frame('a', 0, 20)), { code: 'CW_ERR_DELIVERY_QUEUE_FULL' });
    r.failAll(new Error('x') as never);
    await assert.rejects(ok);
    r.dispose();
  });

  test('payloads beyond the memory budget wait in the spool file and come back intact', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-spool-test-'));
    const spool = new Spool(dir);
    const r = outbox({ window: 100, spool, memoryBytes: 1000 });
    const sent = Array.from({ length: 10 }, (_, i) => frame('a', i, 400));
    const ps = sent.map((f) => r.submit(f));
    assert.ok(spool.size >= 400 * 7, `spooled ${spool.size} bytes`);
    assert.equal(fs.readdirSync(dir).length, 1);
    for (let i = 0; i < 10; i++) {
      const f = r.next(Date.now())!;
      assert.ok(f.payload!.equals(sent[i].payload!), `item ${i} comes back intact`);
      r.ack(f.seq!, {});
    }
    await Promise.all(ps);
    assert.equal(spool.size, 0, 'the spool file is emptied once nothing waits');
    r.dispose();
    assert.equal(fs.readdirSync(dir).length, 0, 'and deleted on dispose');
    fs.rmSync(dir, { recursive: true });
  });

  test('requeue(): items sent and not acknowledged go again on the next link, same seq and payload, before queued ones', async () => {
    const r = outbox({ window: 2 });
    r.keepForNextLink = true;
    const ps = [0, 1, 2].map((i) => r.submit(frame('a', i, 10 + i)));
    const a = r.next(Date.now())!;
    const b = r.next(Date.now())!;
    r.requeue(); // the link closed
    const a2 = r.next(Date.now())!;
    const b2 = r.next(Date.now())!;
    assert.deepEqual([a2.seq, b2.seq], [a.seq, b.seq]);
    assert.ok(a2.payload!.equals(a.payload!) && b2.payload!.length === 11, 'payloads kept for the next link');
    r.ack(a2.seq!, {});
    r.ack(b2.seq!, {});
    const c = r.next(Date.now())!;
    r.ack(c.seq!, {});
    await Promise.all(ps);
    assert.equal(r.busy, false);
    r.dispose();
  });

  test('over UDP a deadline fails only its item and does not close the link; over TCP it does', async () => {
    for (const retransmitMs of [200, 0]) {
      const timeouts: unknown[] = [];
      const r = outbox({ window: 4, timeoutMs: 30, retransmitMs, onTimeout: (e) => timeouts.push(e) });
      const late = r.submit(frame('a', 0));
      r.next(Date.now());
      await assert.rejects(late, { code: 'CW_ERR_DELIVERY_TIMEOUT' });
      const next = r.submit(frame('a', 1));
      const f = r.next(Date.now())!;
      r.ack(f.seq!, {});
      await next;
      assert.equal(timeouts.length, retransmitMs ? 0 : 1, `onTimeout calls with retransmitMs ${retransmitMs}`);
      r.dispose();
    }
  });

  test('the retransmission timeout follows the measured round trip (srtt + 4 rttvar, 50..2000 ms), with backoff', () => {
    const r = outbox({ window: 100, retransmitMs: 200 });
    assert.equal(r.rto, 200, 'before any sample');
    for (let i = 0; i < 20; i++) {
      r.submit(frame('a', i)).catch(() => {});
      const f = r.next(Date.now())!;
      r.ack(f.seq!, {}); // a round trip of about 0 ms: the RTO goes to its floor
    }
    assert.equal(r.rto, 50);
    r.submit(frame('a', 99)).catch(() => {});
    const now = Date.now();
    const f = r.next(now)!;
    assert.equal(r.next(now + 49), undefined, 'not before the RTO');
    const again = r.next(now + 50)!;
    assert.equal(again.seq, f.seq);
    assert.equal(again.wire, f.wire, "a retransmission reuses the first send's fragment frameId holder");
    assert.equal(r.next(now + 50 + 99), undefined, 'then twice the RTO');
    assert.equal(r.next(now + 50 + 100)!.seq, f.seq);
    r.failAll(new Error('x') as never);
    r.dispose();
  });
});

describe('Spool', () => {
  function withDir<T>(fn: (dir: string) => T): T {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-spool-test-'));
    try {
      return fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const bytes = (n: number, v: number): Buffer => Buffer.alloc(n, v);

  test('a reader a little behind reuses the ring: the file never grows past its cap', () =>
    withDir((dir) => {
      const s = new Spool(dir, { maxBytes: 1000 });
      let waiting = s.store(bytes(400, 0))!;
      for (let i = 1; i < 50; i++) {
        // one payload waits, the next comes, then the reader takes the older one
        const t = s.store(bytes(400, i));
        assert.ok(t, `payload ${i} fits`);
        assert.ok(s.size <= 800, `the file is ${s.size} bytes`);
        assert.ok(s.load(waiting).equals(bytes(400, i - 1)), `payload ${i - 1} intact`);
        waiting = t;
      }
      assert.ok(s.load(waiting).equals(bytes(400, 49)));
      assert.equal(s.size, 0);
      s.close();
    }));

  test('payloads come back intact through many wraps, in order, and the file is emptied when nothing waits', () =>
    withDir((dir) => {
      const s = new Spool(dir, { maxBytes: 4096 });
      const waiting: Array<{ t: NonNullable<ReturnType<Spool['store']>>; v: number; n: number }> = [];
      let v = 0;
      for (let round = 0; round < 500; round++) {
        const n = 100 + ((round * 37) % 900);
        const t = s.store(bytes(n, ++v & 0xff));
        if (t) waiting.push({ t, v: v & 0xff, n });
        assert.ok(s.size <= 4096, `file is ${s.size} bytes`);
        assert.equal(s.held, waiting.reduce((sum, w) => sum + w.n, 0));
        if (round % 3 !== 0 && waiting.length) {
          const w = waiting.shift()!;
          assert.ok(s.load(w.t).equals(bytes(w.n, w.v)), `payload ${w.v} intact`);
        }
      }
      for (const w of waiting.splice(0)) assert.ok(s.load(w.t).equals(bytes(w.n, w.v)));
      assert.equal(s.size, 0);
      assert.equal(s.held, 0);
      s.close();
    }));

  test('beyond its cap a payload is refused; a payload released out of order frees its space once those before it go', () =>
    withDir((dir) => {
      const s = new Spool(dir, { maxBytes: 1000 });
      const a = s.store(bytes(300, 1))!;
      const b = s.store(bytes(300, 2))!;
      const c = s.store(bytes(300, 3))!;
      assert.equal(s.store(bytes(300, 4)), undefined);
      assert.equal(s.refusal, 'spool');
      s.release(b); // dropped while a still waits: nothing is freed yet
      assert.equal(s.held, 900);
      assert.ok(s.load(a).equals(bytes(300, 1)));
      assert.equal(s.held, 300, 'a and b are past the head now');
      assert.ok(s.store(bytes(300, 5)), 'room again');
      assert.ok(s.load(c).equals(bytes(300, 3)));
      s.close();
    }));

  test('spools sharing a budget stay within it together, and give it back when emptied or closed', () =>
    withDir((dir) => {
      const budget = new SpoolBudget(1000);
      const s1 = new Spool(dir, { maxBytes: 800, budget });
      const s2 = new Spool(dir, { maxBytes: 800, budget });
      const a = s1.store(bytes(700, 1))!;
      assert.equal(budget.used, 700);
      assert.equal(s2.store(bytes(400, 2)), undefined);
      assert.equal(s2.refusal, 'budget');
      const b = s2.store(bytes(300, 3))!;
      assert.ok(b);
      assert.equal(budget.used, 1000);
      s1.load(a);
      assert.equal(budget.used, 300, 'an emptied spool gives its bytes back');
      assert.ok(s2.store(bytes(400, 4)));
      s2.close();
      assert.equal(budget.used, 0);
      s1.close();
    }));

  test('a spool that cannot write its file gives its space back, and its outbox rejects (never throws)', async () => {
    const budget = new SpoolBudget(10_000);
    const gone = path.join(os.tmpdir(), `camwire-no-such-dir-${process.pid}`, 'x');
    const s = new Spool(gone, { budget });
    assert.throws(() => s.store(bytes(100, 1)), { code: 'ENOENT' });
    assert.equal(budget.used, 0);
    assert.equal(s.size, 0);
    const r = new ReliableOutbox({ mediaType: 'file', maxBytes: 1e9, window: 1, timeoutMs: 60000, retransmitMs: 0, onTimeout: () => {}, spool: s, memoryBytes: 0 });
    await assert.rejects(r.submit(frame('a', 1, 100)), { code: 'CW_ERR_DELIVERY_REFUSED', message: /cannot spool: ENOENT/ });
    assert.equal(r.size, 0);
    r.dispose();
  });

  test('a ReliableOutbox refuses what its spool cannot take (CW_ERR_FILE_NO_SPACE), without keeping it in memory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-spool-test-'));
    const spool = new Spool(dir, { maxBytes: 1000 });
    const r = new ReliableOutbox({ mediaType: 'file', maxBytes: 1e9, window: 1, timeoutMs: 60000, retransmitMs: 0, onTimeout: () => {}, spool, memoryBytes: 500 });
    const ok = [r.submit(frame('a', 1, 400)), r.submit(frame('a', 2, 400)), r.submit(frame('a', 3, 400))];
    await assert.rejects(r.submit(frame('a', 4, 400)), { code: 'CW_ERR_FILE_NO_SPACE', message: /spool holds 800 of 1000 bytes/ });
    assert.equal(r.size, 3);
    assert.equal(r.bytes, 1200);
    assert.equal(spool.held, 800);
    for (let i = 1; i <= 3; i++) {
      const f = r.next(Date.now())!;
      assert.equal(f.payload![0], i);
      r.ack(f.seq!, {});
    }
    await Promise.all(ok);
    assert.equal(spool.size, 0);
    r.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});
