/**
 * StreamLink's small frames lie in a shared arena whose buffers are written again once the socket
 * has taken their writes (protocol/recycling-arena.ts). A reader that stops reading leaves writes
 * waiting in the socket for many arena buffers' worth of frames: every frame must still arrive
 * with the bytes it was sent with.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import net from 'node:net';
import { FrameBatch, Kind, MediaType, SharedEncoding, StreamLink, type Frame } from '../../src/internal.js';
import { JOIN_MAX } from '../../src/protocol/fan-encoding.js';
import { RecyclingArena } from '../../src/protocol/recycling-arena.js';
import { within } from '../helpers/wait.js';

const FRAMES = 8000;
const SIZE = 1000;
const PER_TURN = 200;

function payload(i: number): Buffer {
  const p = Buffer.alloc(SIZE, i & 0xff);
  p.writeUInt32BE(i, 0);
  return p;
}

/** A connected pair: the sending StreamLink's socket, and the receiving end (paused at once) with the frames it got. */
async function pausedPair(t: import('node:test').TestContext): Promise<{ sock: net.Socket; peer: net.Socket; got: Frame[]; all: (n: number) => Promise<void> }> {
  const got: Frame[] = [];
  let wake: (() => void) | undefined;
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await within(new Promise((r) => server.once('listening', r)), 5000, 'the listening socket');
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => (sock.destroy(), server.close()));
  await within(new Promise((r) => sock.once('connect', r)), 5000, 'the connection');
  const peer = await within(accepted, 5000, 'the accepted socket');
  t.after(() => peer.destroy());
  new StreamLink(peer, { keepaliveMs: 0, deadMs: 0 }).on('frame', (f) => {
    got.push(f);
    wake?.();
  });
  peer.pause();
  const all = (n: number): Promise<void> =>
    new Promise<void>((resolve) => {
      wake = () => got.length >= n && resolve();
      wake();
    });
  return { sock, peer, got, all };
}

describe('StreamLink small-frame arena', () => {
  test('8 MB of 1 KB frames to a reader that pauses: every frame arrives intact, in order', async (t) => {
    // The reader stops reading at once: the sender's writes wait in its socket.
    const { sock, peer, got, all } = await pausedPair(t);
    const link = new StreamLink(sock, { keepaliveMs: 0, deadMs: 0, highWaterMark: 1 << 30 });
    // Frames in turns of PER_TURN (each turn is one write), a new turn after each setImmediate.
    let maxWaiting = 0;
    for (let i = 0; i < FRAMES; i += PER_TURN) {
      for (let k = i; k < i + PER_TURN; k++) {
        link.send({ kind: Kind.DATA, mediaType: MediaType.data, seq: k, timestamp: k, payload: payload(k) });
      }
      await new Promise((r) => setImmediate(r));
      maxWaiting = Math.max(maxWaiting, sock.writableLength);
    }
    assert.ok(maxWaiting > 256 * 1024, `writes waited in the sender's socket (${maxWaiting} bytes at most): many arena buffers were held`);
    peer.resume();
    await within(all(FRAMES), 20000, `waiting for ${FRAMES} frames`).catch((err: Error) => assert.fail(`${err.message}: ${got.length} came`));
    for (let i = 0; i < FRAMES; i++) {
      const f = got[i];
      assert.equal(f.seq, i, `frame ${i}: in order`);
      assert.ok(f.payload.equals(payload(i)), `frame ${i}: the bytes it was sent with`);
    }
  });
});

describe('fan-out batches joined into reused memory (FrameBatch.joinArena)', () => {
  test('batches of frames in several pieces, joined in a shared arena, to a reader that pauses: every frame arrives intact, in order', async (t) => {
    const { sock, peer, got, all } = await pausedPair(t);
    const link = new StreamLink(sock, { keepaliveMs: 0, deadMs: 0, highWaterMark: 1 << 30 });
    // Two spare buffers of 256 KiB, as a server's fan-out has: far less than what waits below.
    const joins = new RecyclingArena(JOIN_MAX, 2);
    const BATCHES = 200;
    const PER_BATCH = 2;
    const BIG = 30_000;
    const big = (i: number): Buffer => {
      const p = Buffer.alloc(BIG, i & 0xff);
      p.writeUInt32BE(i, 0);
      return p;
    };
    let maxWaiting = 0;
    let seq = 0;
    for (let b = 0; b < BATCHES; b++) {
      const batch = new FrameBatch('', '');
      batch.join = true;
      batch.joinArena = joins;
      for (let k = 0; k < PER_BATCH; k++, seq++) {
        // No arena for the SharedEncoding: each frame is a header and its payload, two pieces.
        batch.add({ kind: Kind.DATA, mediaType: MediaType.video, seq, timestamp: seq, payload: big(seq), shared: new SharedEncoding() }, BIG);
      }
      const pieces = batch.encoded(5n)!;
      assert.equal(pieces.length, 1, 'joined');
      assert.equal(pieces[0].buffer.byteLength, JOIN_MAX, 'in the join arena');
      link.writeEncoded(pieces, batch.wireBytes, batch);
      // As FanOut does once every reader got it: the batch lets go of the memory; the write still holds it.
      batch.release();
      if (b % 2 === 1) await new Promise((r) => setImmediate(r));
      maxWaiting = Math.max(maxWaiting, sock.writableLength);
    }
    assert.ok(maxWaiting > 4 * JOIN_MAX, `writes waited in the sender's socket (${maxWaiting} bytes at most): many join buffers were held`);
    peer.resume();
    const n = BATCHES * PER_BATCH;
    await within(all(n), 20000, `waiting for ${n} frames`).catch((err: Error) => assert.fail(`${err.message}: ${got.length} came`));
    for (let i = 0; i < n; i++) {
      assert.equal(got[i].seq, i, `frame ${i}: in order`);
      assert.ok(got[i].payload.equals(big(i)), `frame ${i}: the bytes it was sent with`);
      assert.equal(got[i].sessionKey, 5n);
    }
  });
});
