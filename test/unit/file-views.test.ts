/**
 * A large frame that spans reads, kept as views of those reads instead of joined: its payload
 * views (payloadViews), a file CHUNK's data as views (decodeFileChunkViews), a FileWriter and a
 * Spool taking pieces, and a relayed item in pieces (FrameInit.parts) encoded like its payload.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Kind, MediaType } from '../../src/protocol/constants.js';
import { decodeFileChunkViews, decodeFileMessage, encodeFileMessage } from '../../src/protocol/file-messages.js';
import { encodeFrame, encodeFrameBuffer, payloadViews, type Frame } from '../../src/protocol/frame.js';
import { FrameParser } from '../../src/protocol/parser.js';
import { FileWriter } from '../../src/media/file-writer.js';
import { Spool } from '../../src/media/spool.js';

/** Frames parsed from `wire` fed in `read`-byte pieces, each with its raw bytes as StreamLink sets them. */
function parse(wire: Buffer, read: number): Frame[] {
  const out: Frame[] = [];
  const p = new FrameParser({ onFrame: (f) => out.push(f), onError: (e) => assert.fail(e) });
  for (let i = 0; i < wire.length; i += read) p.push(Buffer.from(wire.subarray(i, i + read)));
  return out;
}

const join = (b: readonly Buffer[]): Buffer => Buffer.concat(b);

test('payloadViews - a frame that spanned reads: views of the reads that join to its payload; none for a frame in one read', () => {
  const data = randomBytes(200_000);
  const [head, chunkData] = encodeFileMessage({ op: 'chunk', fileId: 7, offset: 123_456, data }) as [Buffer, Buffer];
  const wire = encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.file, from: 'cam', to: 'reader', prefix: head, payload: chunkData });
  for (const read of [65_536, 1_000, 70]) {
    const [f] = parse(wire, read);
    const views = payloadViews(f);
    assert.ok(views && views.length > 1, `read ${read}: views`);
    assert.ok(join(views).equals(f.payload), `read ${read}: views join to the payload`);
    const msg = decodeFileChunkViews(views);
    if (views[0].length < 11) {
      assert.equal(msg, undefined, 'a CHUNK header cut between reads: decode the joined payload');
      continue;
    }
    assert.ok(msg);
    assert.equal(msg.fileId, 7);
    assert.equal(msg.offset, 123_456);
    assert.ok(join(msg.data).equals(data), `read ${read}: the chunk data`);
    const whole = decodeFileMessage(f.payload);
    assert.equal(whole.op, 'chunk');
  }
  const [small] = parse(encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.file, payload: Buffer.from('x') }), 65_536);
  assert.equal(payloadViews(small), undefined);
});

test('decodeFileChunkViews - only a CHUNK: START, END and ABORT decode from the joined payload', () => {
  const [start] = encodeFileMessage({ op: 'start', fileId: 1, name: 'a.bin', totalSize: 10, offset: 0 });
  assert.equal(decodeFileChunkViews([start]), undefined);
  assert.equal(decodeFileChunkViews([]), undefined);
});

test('FrameInit.parts - encoded exactly as the same payload given whole', () => {
  const parts = [randomBytes(1000), Buffer.alloc(0), randomBytes(70_000), randomBytes(5)];
  const base = { kind: Kind.DATA, mediaType: MediaType.file, seq: 9, from: 'cam', to: 'reader' } as const;
  const [h1, p1] = encodeFrame({ ...base, parts }, 5n);
  const [h2, p2] = encodeFrame({ ...base, payload: join(parts) }, 5n);
  assert.ok(h1.equals(h2));
  assert.ok(p1.equals(p2));
});

test('FileWriter and Spool - pieces land in order as one payload', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-views-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fd = fs.openSync(path.join(dir, 'f.part'), 'w+');
  const w = new FileWriter(fd, 0);
  const a = [randomBytes(3000), randomBytes(1), randomBytes(65_536)];
  const b = randomBytes(777);
  const c = [randomBytes(10), randomBytes(20_000)];
  await Promise.all([a, b, c].map((d) => new Promise<void>((resolve, reject) => w.write(d, (err) => (err ? reject(err) : resolve())))));
  w.close();
  assert.ok(fs.readFileSync(path.join(dir, 'f.part')).equals(Buffer.concat([...a, b, ...c])));

  const spool = new Spool(dir);
  t.after(() => spool.close());
  const t1 = spool.store(a);
  const t2 = spool.store(b);
  assert.ok(t1 && t2);
  assert.ok(spool.load(t1).equals(join(a)));
  assert.ok(spool.load(t2).equals(b));
});
