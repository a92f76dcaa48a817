/**
 * StreamLink's small frames lie in a shared arena whose buffers are written again once the socket
 * has taken their writes (protocol/recycling-arena.ts). A reader that stops reading leaves writes
 * waiting in the socket for many arena buffers' worth of frames: every frame must still arrive
 * with the bytes it was sent with.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import net from 'node:net';
import { Kind, MediaType, StreamLink, type Frame } from '../../src/internal.js';
import { within } from '../helpers/wait.js';

const FRAMES = 8000;
const SIZE = 1000;
const PER_TURN = 200;

function payload(i: number): Buffer {
  const p = Buffer.alloc(SIZE, i & 0xff);
  p.writeUInt32BE(i, 0);
  return p;
}

describe('StreamLink small-frame arena', () => {
  test('8 MB of 1 KB frames to a reader that pauses: every frame arrives intact, in order', async (t) => {
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
    // The reader stops reading at once: the sender's writes wait in its socket.
    peer.pause();
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
    const all = new Promise<void>((resolve) => {
      wake = () => got.length >= FRAMES && resolve();
      wake();
    });
    peer.resume();
    await within(all, 20000, `waiting for ${FRAMES} frames`).catch((err: Error) => assert.fail(`${err.message}: ${got.length} came`));
    for (let i = 0; i < FRAMES; i++) {
      const f = got[i];
      assert.equal(f.seq, i, `frame ${i}: in order`);
      assert.ok(f.payload.equals(payload(i)), `frame ${i}: the bytes it was sent with`);
    }
  });
});
