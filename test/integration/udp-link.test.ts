/**
 * UdpLink's own small frames (docs/protocol.md, 5.1): a frame that fits one datagram is written as
 * a fragment and frame header from the link's HeaderTemplate plus the payload as it is. The bytes
 * on the wire must be those of the common encoding (encodeFrame, then singleDatagram or
 * fragmentFrame), whatever changes from frame to frame, and a datagram waiting in the pacer's
 * queue must keep its header while later frames are written.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import dgram from 'node:dgram';
import {
  DATAGRAM_HEADER_SIZE,
  encodeFrame,
  fragmentFrame,
  Flag,
  Kind,
  MediaType,
  singleDatagram,
  UdpEndpoint,
  UdpLink,
  type FrameInit,
} from '../../src/internal.js';

/** A datagram sink on 127.0.0.1 and a wait for its n-th datagram that fails after `ms`, naming what it waited for. */
async function sink(): Promise<{ port: number; got: Buffer[]; until(n: number, what: string, ms?: number): Promise<void>; close(): void }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  let waiter: (() => void) | undefined;
  s.on('message', (d) => {
    got.push(d);
    waiter?.();
  });
  return {
    port: (s.address() as { port: number }).port,
    got,
    until(n, what, ms = 5000) {
      return new Promise<void>((resolve, reject) => {
        if (got.length >= n) return resolve();
        const timer = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`timed out after ${ms} ms waiting for ${what}: ${got.length} of ${n} datagrams came`));
        }, ms);
        waiter = () => {
          if (got.length < n) return;
          clearTimeout(timer);
          waiter = undefined;
          resolve();
        };
      });
    },
    close: () => s.close(),
  };
}

/** The datagrams the common path sends for `f` with `key` and fragment frameId `id`. */
function expected(f: FrameInit, key: bigint | undefined, id: number, datagramSize: number): Buffer[] {
  const [h, p] = encodeFrame(f, key ?? f.sessionKey);
  const parts = p.length ? [h, p] : [h];
  const single = singleDatagram(parts, id, datagramSize);
  return single ? [Buffer.concat(single)] : fragmentFrame(parts, id, datagramSize);
}

const payload = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe('UdpLink small frames', () => {
  test('every frame goes as the bytes of the common encoding, one datagram each while it fits, at the boundary too', async (t) => {
    const DGRAM = 600;
    const out = await sink();
    t.after(() => out.close());
    const ep = await UdpEndpoint.open({ host: '127.0.0.1', port: 0, type: 'udp4', datagramSize: DGRAM });
    const link = new UdpLink(ep, '127.0.0.1', out.port, { keepaliveMs: 0, deadMs: 0 }, () => {});
    t.after(() => (link.close(), ep.close()));
    const video = Buffer.from([1, 0, 160, 0, 120, 0, 0]);
    const otherVideo = Buffer.from([1, 0, 200, 0, 100, 0, 0]);
    const base: FrameInit = { kind: Kind.DATA, mediaType: MediaType.video, from: 'cam', to: '', group: '', timestamp: 1_700_000_000_123.5, prefix: video };
    // The header of `base` (fixed part, 'cam', the 7-byte video header), as the common encoding makes it.
    const hl = encodeFrame({ ...base, payload: Buffer.alloc(0) }, 5n)[0].length;
    const room = DGRAM - DATAGRAM_HEADER_SIZE;
    const sends: Array<{ f: FrameInit; key?: bigint }> = [
      { f: { ...base, payload: payload(100, 1), seq: 1 }, key: 5n },
      { f: { ...base, payload: payload(100, 2), seq: 2, flags: Flag.KEYFRAME, mediaIndex: 3 }, key: 5n },
      { f: { ...base, payload: payload(50, 3), seq: 3, timestamp: 42 }, key: 5n },
      // Every constant field changes once: the template must follow.
      { f: { ...base, payload: payload(60, 4), seq: 4 }, key: 0xffff_ffff_ffff_fff0n },
      { f: { ...base, payload: payload(60, 5), seq: 5, to: 'screen', group: 'room1' }, key: 5n },
      { f: { ...base, payload: payload(60, 6), seq: 6, from: 'cam2' }, key: 5n },
      { f: { ...base, payload: payload(60, 7), seq: 7, prefix: otherVideo }, key: 5n },
      { f: { ...base, payload: payload(60, 8), seq: 8, mediaType: MediaType.audio, prefix: undefined }, key: 5n },
      { f: { ...base, kind: Kind.DATA, mediaType: MediaType.command, prefix: undefined, payload: payload(30, 9), seq: 9, flags: Flag.ACK_REQUESTED }, key: 5n },
      // No payload, and the session key from the frame rather than the call.
      { f: { ...base, payload: Buffer.alloc(0), seq: 10, sessionKey: 9n } },
      // Exactly one datagram's room, then one byte more (two datagrams, the common path), then one less.
      { f: { ...base, payload: payload(room - hl, 11), seq: 11 }, key: 5n },
      { f: { ...base, payload: payload(room - hl + 1, 12), seq: 12 }, key: 5n },
      { f: { ...base, payload: payload(room - hl - 1, 13), seq: 13 }, key: 5n },
      { f: { ...base, payload: payload(3000, 14), seq: 14 }, key: 5n },
    ];
    let datagrams = 0;
    const counts: number[] = [];
    for (const s of sends) {
      const n = expected(s.f, s.key, 0, DGRAM).length;
      counts.push(n);
      datagrams += n;
      link.send(s.f, s.key);
    }
    assert.deepEqual(counts.slice(10, 13), [1, 2, 1], 'the boundary: room fits one datagram, room + 1 needs two');
    await out.until(datagrams, 'every datagram of the frames sent');
    let at = 0;
    let prevId: number | undefined;
    for (const [i, s] of sends.entries()) {
      const first = out.got[at];
      const id = first.readUInt32BE(4);
      if (prevId !== undefined) assert.equal(id, (prevId + 1) >>> 0, `frame ${i}: frame ids follow each other`);
      prevId = id;
      const want = expected(s.f, s.key, id, DGRAM);
      for (const [k, d] of want.entries()) assert.deepEqual(out.got[at + k], d, `frame ${i}, datagram ${k}: the common encoding's bytes`);
      at += want.length;
    }
    assert.equal(out.got.length, datagrams, 'nothing more');
  });

  test('datagrams waiting in the pacer keep their headers while two links write more frames', async (t) => {
    const out = await sink();
    t.after(() => out.close());
    // A 64 KiB bucket at 400 KB/s: most of 200 frames of 1000 bytes wait in the queue.
    const ep = await UdpEndpoint.open({ host: '127.0.0.1', port: 0, type: 'udp4', sendRate: 400_000, sendBurst: 65536 });
    const a = new UdpLink(ep, '127.0.0.1', out.port, { keepaliveMs: 0, deadMs: 0 }, () => {});
    const b = new UdpLink(ep, '127.0.0.1', out.port, { keepaliveMs: 0, deadMs: 0 }, () => {});
    t.after(() => (a.close(), b.close(), ep.close()));
    const sent: Array<{ f: FrameInit; key: bigint }> = [];
    for (let i = 0; i < 200; i++) {
      const f: FrameInit = { kind: Kind.DATA, mediaType: MediaType.video, from: i % 2 ? 'b' : 'a', seq: i, timestamp: i, payload: payload(1000, i) };
      const key = i % 2 ? 2n : 1n;
      (i % 2 ? b : a).send(f, key);
      sent.push({ f, key });
    }
    assert.ok(ep.backlog > 50_000, `frames wait for the pacer (backlog ${ep.backlog})`);
    await out.until(200, '200 paced datagrams', 10000);
    for (const [i, s] of sent.entries()) {
      const d = out.got[i];
      assert.deepEqual(d, expected(s.f, s.key, d.readUInt32BE(4), 1472)[0], `frame ${i}: sent as it was written`);
    }
  });
});
