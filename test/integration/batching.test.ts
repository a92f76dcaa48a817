/**
 * Write batching and the shared encoding of fanned-out frames (docs/architecture.md, flow
 * control): a TCP link hands everything sent in one event-loop turn to the socket as one write,
 * and a frame sent to many links is encoded once, whatever session key each link stamps.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linkPair } from '../helpers/link-pair.js';
import { decodeFrame, Kind, MediaType, SharedEncoding, encodeFrame, type FrameInit } from '../../src/internal.js';

const pair = linkPair;

const frame = (i: number, bytes = 100): FrameInit => ({ kind: Kind.DATA, mediaType: MediaType.audio, seq: i, from: 'a', payload: Buffer.alloc(bytes, i & 0xff) });

describe('batching', () => {
  test('everything sent in one turn is one write to the socket, counted in turnBytes until the turn ends', async (t) => {
    const { link, sock, got, arrived } = await pair(t);
    const writes: number[] = [];
    const s = sock as unknown as { _writev: (chunks: unknown[], cb: () => void) => void; _write: (c: unknown, e: string, cb: () => void) => void };
    const writev = s._writev.bind(sock);
    const write = s._write.bind(sock);
    s._writev = (chunks, cb) => (writes.push(chunks.length), writev(chunks, cb));
    s._write = (c, e, cb) => (writes.push(1), write(c, e, cb));
    let bytes = 0;
    for (let i = 0; i < 100; i++) {
      link.send(frame(i));
      bytes += encodeFrame(frame(i)).reduce((n, b) => n + b.length, 0);
    }
    assert.equal(link.turnBytes, bytes);
    assert.equal(link.backlog, bytes, 'the gathered bytes are backlog until written');
    assert.deepEqual(writes, [], 'nothing reaches the socket during the turn');
    await new Promise((r) => process.nextTick(r));
    assert.equal(link.turnBytes, 0);
    // Small frames of the link's own are encoded end to end in one buffer (stream-link.ts): one piece.
    assert.deepEqual(writes, [1], 'one write of the 100 frames');
    await arrived(100);
    assert.deepEqual(got.map((f) => f.seq), [...Array(100).keys()]);
  });

  test('a shared frame is encoded once for links of one session key; another key gets its own header, same payload', async (t) => {
    const init: FrameInit = { ...frame(7, 5000), shared: new SharedEncoding() };
    const [h1, p1] = encodeFrame(init, 5n);
    const [h2, p2] = encodeFrame(init, 5n);
    const [h3, p3] = encodeFrame(init, 9n);
    assert.equal(h1, h2, 'the same header buffer');
    assert.notEqual(h1, h3);
    assert.ok(p1 === p2 && p2 === p3 && p1 === init.payload, 'the payload is never copied');
    assert.equal(init.sessionKey, undefined, 'the frame is not changed');
    assert.equal(decodeFrame(Buffer.concat([h1, p1])).sessionKey, 5n);
    assert.equal(decodeFrame(Buffer.concat([h3, p3])).sessionKey, 9n);
    // A reliable copy for one reader ({ ...init, seq }) gets a header with its own seq.
    const [h4] = encodeFrame({ ...init, seq: 99 }, 5n);
    assert.equal(decodeFrame(Buffer.concat([h4, p1])).seq, 99);
    assert.equal(encodeFrame(init, 5n)[0], h1, 'the first header stays cached');
    // Over real links, each with its own key: every reader decodes its own key and the same bytes.
    const a = await pair(t);
    const b = await pair(t);
    a.link.send(init, 1n);
    b.link.send(init, 2n);
    await Promise.all([a.arrived(1), b.arrived(1)]);
    assert.deepEqual([a.got[0].sessionKey, b.got[0].sessionKey], [1n, 2n]);
    assert.deepEqual(a.got[0].payload, init.payload);
    assert.deepEqual(b.got[0].payload, init.payload);
  });
});
