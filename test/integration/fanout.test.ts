/**
 * Fan-out a turn at a time (docs/architecture.md, fan-out): the frames a client pushes in one
 * turn are a FrameBatch, encoded once and end to end (in a FrameArena, or as they arrived when
 * the forwarded header is as long as the received one), and a reader that keeps up writes the
 * batch as one piece. Readers behind, and every other reader, still get what they got before.
 */
import assert from 'node:assert/strict';
import { linkPair } from '../helpers/link-pair.js';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import {
  decodeFrame,
  encodeFrameBuffer,
  Flag,
  FrameArena,
  FrameBatch,
  FrameParser,
  Kind,
  MediaType,
  payloadLength,
  SharedEncoding,
  StreamLink,
  type Frame,
  type FrameInit,
} from '../../src/internal.js';
import { next } from '../helpers/events.js';
import { startClient, startServer } from '../helpers/server-client.js';

const media = (i: number, bytes: number, extra: Partial<FrameInit> = {}): FrameInit => ({
  kind: Kind.DATA,
  mediaType: MediaType.audio,
  from: 'pub',
  timestamp: 1000 + i,
  payload: Buffer.alloc(bytes, i & 0xff),
  ...extra,
});

/** Adds a frame to a batch with its payload size. */
const put = (b: FrameBatch, f: FrameInit): void => b.add(f, f.payload?.length ?? 0);

/** Every frame of a byte stream. */
function parseAll(...bufs: Buffer[]): Frame[] {
  const out: Frame[] = [];
  const p = new FrameParser({ onFrame: (f) => out.push(f), onError: (e) => assert.fail(e) });
  for (const b of bufs) p.push(b);
  assert.equal(p.buffered, 0, 'no partial frame left');
  return out;
}

describe('fan-out batches', () => {
  test('the frames of a batch lie end to end in the arena: one piece, decoded as the frames with the key asked', () => {
    const arena = new FrameArena();
    const batch = new FrameBatch('', '');
    for (let i = 0; i < 20; i++) put(batch, { ...media(i, 1000), shared: new SharedEncoding(arena) });
    assert.equal(batch.payloadBytes, 20_000);
    const pieces = batch.encoded(5n)!;
    assert.equal(pieces.length, 1, 'one piece');
    assert.equal(pieces[0].length, batch.wireBytes);
    const frames = parseAll(...pieces);
    assert.deepEqual(
      frames.map((f) => [f.sessionKey, f.timestamp, f.from, f.payload.length, f.payload[0]]),
      [...Array(20).keys()].map((i) => [5n, 1000 + i, 'pub', 1000, i]),
    );
    assert.equal(batch.encoded(5n), pieces, 'made once');
    assert.equal(batch.encoded(6n), undefined, 'another key sends the frames one by one');
  });

  test('a payload above the arena limit is not copied; join makes one Buffer of a batch of several pieces up to 256 KiB', () => {
    const arena = new FrameArena(64 * 1024, 16 * 1024);
    const big = media(1, 100_000);
    const batch = new FrameBatch('', '');
    put(batch, { ...media(0, 500), shared: new SharedEncoding(arena) });
    put(batch, { ...big, shared: new SharedEncoding(arena) });
    put(batch, { ...media(2, 500), shared: new SharedEncoding(arena) });
    const pieces = batch.encoded(1n)!;
    assert.equal(pieces.length, 4, 'small frame, big header, big payload, small frame');
    assert.equal(pieces[2], big.payload, 'the big payload itself');
    assert.deepEqual(parseAll(...pieces).map((f) => f.payload.length), [500, 100_000, 500]);

    const joined = new FrameBatch('', '');
    joined.join = true;
    for (let i = 0; i < 3; i++) put(joined, { ...media(i, i === 1 ? 20_000 : 500), shared: new SharedEncoding(arena) });
    const one = joined.encoded(1n)!;
    assert.equal(one.length, 1, 'small frames on average: joined');
    assert.deepEqual(parseAll(one[0]).map((f) => f.payload.length), [500, 20_000, 500]);
    const one64 = new FrameBatch('', '');
    one64.join = true;
    put(one64, { ...big, shared: new SharedEncoding(arena) });
    const single = one64.encoded(1n)!;
    assert.equal(single.length, 1, 'a frame of 100 KB and its header: one Buffer for all readers (a copy once, not a gathered write per reader)');
    assert.deepEqual(parseAll(single[0]).map((f) => f.payload.length), [100_000]);
    const large = new FrameBatch('', '');
    large.join = true;
    const huge = media(3, 300_000);
    put(large, { ...huge, shared: new SharedEncoding(arena) });
    const two = large.encoded(1n)!;
    assert.equal(two.length, 2, 'a batch above 256 KiB is not copied to join it');
    assert.equal(two[1], huge.payload, 'the payload itself');
  });

  test('a received frame is forwarded as it lies when the new header is as long: its header is written over, the payload not copied', () => {
    const wire = Buffer.concat([
      encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.video, flags: Flag.KEYFRAME | Flag.ACK_REQUESTED, seq: 9, sessionKey: 1n, from: 'pub', payload: Buffer.alloc(3000, 1) }),
      encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.video, seq: 10, sessionKey: 1n, from: 'pub', payload: Buffer.alloc(3000, 2) }),
    ]);
    const got: [Frame, Buffer][] = [];
    const p = new FrameParser({ onFrame: (f) => void got.push([f, f.raw as Buffer]), onError: (e) => assert.fail(e) });
    p.push(wire);
    const [[f1, raw1], [f2, raw2]] = got;
    assert.equal(raw1.buffer, wire.buffer, 'a view of what was read');
    assert.equal(raw1.byteOffset + raw1.length, raw2.byteOffset, 'end to end');
    const arena = new FrameArena();
    // As the relay forwards it: the same-length id, the server's key, seq 0, only KEYFRAME.
    const fwd = (f: Frame, raw: Buffer, from: string): FrameInit => ({
      kind: Kind.DATA,
      mediaType: f.mediaType,
      flags: f.flags & Flag.KEYFRAME,
      from,
      timestamp: f.timestamp,
      payload: f.payload,
      // The relay's fast path when the ids stay: only the fixed part of the header is rewritten.
      shared: new SharedEncoding(arena, raw, from === f.from),
    });
    const a = fwd(f1, raw1, 'pub');
    const h = a.shared!.header(a, 77n, a.payload!.length);
    assert.equal(a.shared!.whole(h), raw1, 'the received bytes themselves');
    const d = decodeFrame(raw1);
    assert.deepEqual([d.sessionKey, d.seq, d.flags, d.from, d.payload.equals(Buffer.alloc(3000, 1))], [77n, 0, Flag.KEYFRAME, 'pub', true]);
    // Another id length: encoded into the arena instead; what was received stays as it was.
    const before = Buffer.from(raw2);
    const b = fwd(f2, raw2, 'publisher');
    const h2 = b.shared!.header(b, 77n, b.payload!.length);
    const whole = b.shared!.whole(h2)!;
    assert.notEqual(whole.buffer, wire.buffer);
    assert.deepEqual(raw2, before);
    assert.equal(decodeFrame(whole).from, 'publisher');
  });

  test('a large frame that spans reads is handed as views of them and forwarded without a copy; its payload is joined only when read', () => {
    const payload = Buffer.alloc(100_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const wire = encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.video, flags: Flag.KEYFRAME, seq: 4, sessionKey: 1n, from: 'pub', payload });
    // Each read in memory of its own, as a socket delivers them.
    const reads = [wire.subarray(0, 30_000), wire.subarray(30_000, 64_000), wire.subarray(64_000)].map((r) => Buffer.from(r));
    const got: [Frame, readonly Buffer[]][] = [];
    const p = new FrameParser({ onFrame: (f) => void got.push([f, f.raw as readonly Buffer[]]), onError: (e) => assert.fail(e) });
    for (const r of reads) p.push(r);
    assert.equal(got.length, 1);
    const [f, raw] = got[0];
    assert.deepEqual(raw.map((r) => [r.buffer, r.byteOffset, r.length]), reads.map((r) => [r.buffer, r.byteOffset, r.length]), 'the reads themselves');
    const arena = new FrameArena();
    const init: FrameInit = { kind: Kind.DATA, mediaType: f.mediaType, flags: f.flags, from: 'pub', timestamp: f.timestamp, shared: new SharedEncoding(arena, raw) };
    const batch = new FrameBatch('', '');
    batch.add(init, payloadLength(f));
    assert.equal(batch.payloadBytes, 100_000);
    const pieces = batch.encoded(9n)!;
    assert.equal(pieces.length, 3, 'one piece per read');
    assert.equal(pieces[1], raw[1]);
    const [out] = parseAll(...pieces);
    assert.deepEqual([out.sessionKey, out.seq, out.from], [9n, 0, 'pub']);
    assert.ok(out.payload.equals(payload));
    // The received frame's payload, read only now, is joined from the reads.
    assert.ok(f.payload.equals(payload));
  });
});

/** A StreamLink to a socket whose writes are counted, and the frames the other end got. */
async function pair(t: TestContext): Promise<{ link: StreamLink; writes: number[]; got: Frame[]; arrived: (n: number) => Promise<void> }> {
  const { link, sock, got, arrived } = await linkPair(t);
  const writes: number[] = [];
  const s = sock as unknown as { _writev: (chunks: unknown[], cb: () => void) => void; _write: (c: unknown, e: string, cb: () => void) => void };
  const writev = s._writev.bind(sock);
  const write = s._write.bind(sock);
  s._writev = (chunks, cb) => (writes.push(chunks.length), writev(chunks, cb));
  s._write = (c, e, cb) => (writes.push(1), write(c, e, cb));
  return { link, writes, got, arrived };
}

describe('StreamLink.writeEncoded', () => {
  test('a batch in one piece that is all the turn holds is one plain write at once; after a send it joins the turn', async (t) => {
    const arena = new FrameArena();
    const batchOf = (from: number, n: number): FrameBatch => {
      const b = new FrameBatch('', '');
      for (let i = from; i < from + n; i++) put(b, { ...media(i, 800), shared: new SharedEncoding(arena) });
      return b;
    };
    const { link, writes, got, arrived } = await pair(t);
    const b1 = batchOf(0, 10);
    link.writeEncoded(b1.encoded(3n)!, b1.wireBytes);
    assert.deepEqual(writes, [1], 'written at once, one buffer');
    assert.equal(link.turnBytes, 0);
    await new Promise((r) => process.nextTick(r));
    // Next turn: a frame sent first, then a batch: the turn gathers both into one writev.
    link.send(media(10, 100), 3n);
    const b2 = batchOf(11, 5);
    link.writeEncoded(b2.encoded(3n)!, b2.wireBytes);
    assert.deepEqual(writes, [1], 'held until the turn ends');
    assert.ok(link.turnBytes > b2.wireBytes);
    await new Promise((r) => process.nextTick(r));
    assert.deepEqual(writes, [1, 2], 'the frame (header and payload in one piece: stream-link.ts, small frames), the batch as one piece');
    await arrived(16);
    assert.deepEqual(got.map((f) => f.timestamp), [...Array(16).keys()].map((i) => 1000 + i));
    assert.ok(got.every((f) => f.sessionKey === 3n));
  });
});

describe('MediaServer fan-out', () => {
  test('a burst of small frames in one turn reaches every reader whole and in order, attributed to the sender', async (t) => {
    const s = await startServer(t);
    const pub = await startClient(t, s, 'pub');
    const readers = await Promise.all(['r1', 'r2', 'r3'].map((id) => startClient(t, s, id)));
    for (const r of readers) await pub.tx.addDefaultReceiver(r.id);
    const N = 40;
    const got = readers.map(() => [] as number[]);
    const all = readers.map((r, k) => {
      r.rx.on('audio', (c, m) => {
        assert.equal(m.from, 'pub');
        got[k].push(c.data[0]);
      });
      return next(r.rx, 'audio', (c) => c.data[0] === N - 1);
    });
    for (let i = 0; i < N; i++) pub.tx.sendAudio(Buffer.alloc(1000, i));
    await Promise.all(all);
    for (const g of got) assert.deepEqual(g, [...Array(N).keys()]);
  });

  test('a reader behind leaves the shared batch for its latest-wins slot, then gets the newest frame; the others get every frame', async (t) => {
    const s = await startServer(t);
    // The slow reader pulls through a proxy that can stop forwarding to it.
    const toSlow: net.Socket[] = [];
    const proxy = net.createServer((client) => {
      const upstream = net.connect(s.ports.tcp, '127.0.0.1');
      toSlow.push(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      const kill = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', kill).on('close', kill);
      upstream.on('error', kill).on('close', kill);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    t.after(() => new Promise((r) => proxy.close(r)));
    const pub = await startClient(t, s, 'pub');
    const fast = await Promise.all(['f1', 'f2'].map((id) => startClient(t, s, id)));
    const slow = await startClient(t, s, 'slow', { pullPort: (proxy.address() as net.AddressInfo).port, rx: { receiveMediaTypes: ['video'] } });
    assert.equal(toSlow.length, 1, 'one channel: video');
    for (const r of [...fast, slow]) await pub.tx.addDefaultReceiver(r.id);
    const counts = new Map<string, number>();
    for (const r of [...fast, slow]) r.rx.on('video', () => counts.set(r.id, (counts.get(r.id) ?? 0) + 1));
    const N = 100;
    const slowLast = next(slow.rx, 'video', (v) => v.data[0] === N - 1, 20000);
    // 20 MB while the slow reader takes nothing: more than the socket buffers on its way hold.
    toSlow[0].pause();
    for (let i = 0; i < N; i++) {
      const each = Promise.all(fast.map((f) => next(f.rx, 'video', (v) => v.data[0] === i)));
      pub.tx.sendVideoFrame(Buffer.alloc(200_000, i), { keyframe: true });
      await each;
    }
    toSlow[0].resume();
    await slowLast;
    for (const f of fast) assert.equal(counts.get(f.id), N, `${f.id} got every frame`);
    assert.ok((counts.get('slow') ?? 0) < N, `the slow reader skipped frames (got ${counts.get('slow')})`);
    assert.ok(s.clients().find((c) => c.id === 'slow')!.dropped.video > 0, 'its drops are counted');
  });
});
