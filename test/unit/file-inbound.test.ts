/**
 * FileInbound with a fileDir: `fileData` reports a chunk once it is on disk (docs/api.md, Receiver
 * events), and a chunk still waiting for the disk when the transfer ends is neither reported nor
 * acknowledged.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CamwireError, ErrorCode } from '../../src/errors.js';
import type { FileDataInfo, FileEndInfo, MessageMeta } from '../../src/events.js';
import type { FrameLink } from '../../src/link/frame-link.js';
import { Answerer } from '../../src/media/answers.js';
import { FileInbound } from '../../src/media/file-inbound.js';
import { Flag, Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFileMessage, type FileMessage } from '../../src/protocol/file-messages.js';
import type { Frame } from '../../src/protocol/frame.js';

const meta: MessageMeta = { from: 'cam', to: '', group: '', mediaIndex: 0, remoteSessionKey: 1n, seq: 0, timestamp: 0, transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 1 };

let seq = 0;
function frame(m: FileMessage): Frame {
  const [head, data] = encodeFileMessage(m);
  const payload = data ? Buffer.concat([head, data]) : head;
  return { kind: Kind.DATA, mediaType: MediaType.file, flags: Flag.ACK_REQUESTED, mediaIndex: 0, seq: ++seq, sessionKey: 1n, timestamp: 0, from: 'cam', to: '', group: '', payload };
}

function setup(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-inbound-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const events: Array<{ ev: 'data'; info: FileDataInfo; onDisk: number } | { ev: 'end'; info: FileEndInfo }> = [];
  const answers: Array<{ kind: number; seq: number }> = [];
  let waiting: { n: number; resolve: () => void } | undefined;
  const link = {
    reliable: true,
    send: (f: { kind: number; seq: number }) => {
      answers.push({ kind: f.kind, seq: f.seq });
      if (waiting && answers.length >= waiting.n) waiting.resolve();
    },
  } as unknown as FrameLink;
  /** Resolves once `n` answers (ACK or NACK) have been sent. */
  const answered = (n: number): Promise<void> =>
    new Promise((resolve) => {
      if (answers.length >= n) resolve();
      else waiting = { n, resolve };
    });
  const part = path.join(dir, 'clip.bin.part');
  const inbound = new FileInbound(
    {
      fileStart: () => {},
      fileData: (info) => events.push({ ev: 'data', info, onDisk: fs.statSync(part).size }),
      fileEnd: (info) => events.push({ ev: 'end', info }),
      dropped: () => assert.fail('nothing is dropped'),
    },
    new Answerer(link, undefined),
    { fileDir: dir, busyFiles: new Set() },
  );
  return { dir, part, events, answers, answered, inbound };
}

const CHUNK = 64 * 1024;

test('FileInbound - fileData comes once the chunk is on disk, in order, all before fileEnd', async (t) => {
  const { dir, events, answers, answered, inbound } = setup(t);
  const content = randomBytes(CHUNK * 8);
  inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  assert.equal(answers.length, 1, 'the START is answered');
  const chunkSeqs: number[] = [];
  for (let o = 0; o < content.length; o += CHUNK) {
    const f = frame({ op: 'chunk', fileId: 1, offset: o, data: content.subarray(o, o + CHUNK) });
    chunkSeqs.push(f.seq);
    inbound.handle(f, meta);
  }
  assert.equal(events.length, 0, 'no chunk is reported before it is written');
  inbound.handle(frame({ op: 'end', fileId: 1, totalSize: content.length, sha256: createHash('sha256').update(content).digest() }), meta);
  await answered(10); // START, 8 chunks, END
  const data = events.filter((e) => e.ev === 'data');
  assert.deepEqual(data.map((e) => e.info.offset), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => i * CHUNK), 'every chunk, in file order');
  for (const e of data) assert.ok(e.onDisk >= e.info.offset + CHUNK, `chunk at ${e.info.offset} reported with ${e.onDisk} bytes on disk`);
  assert.equal(events.at(-1)!.ev, 'end');
  const end = events.at(-1)!.info as FileEndInfo;
  assert.equal(end.ok, true);
  assert.ok(fs.readFileSync(path.join(dir, 'clip.bin')).equals(content));
  assert.deepEqual(answers.slice(1, 9).map((a) => a.seq), chunkSeqs, 'each chunk acknowledged');
  assert.ok(answers.every((a) => a.kind === Kind.ACK));
});

test('FileInbound - a transfer that ends with chunks waiting for the disk reports and acknowledges only what was written', async (t) => {
  const { part, events, answers, answered, inbound } = setup(t);
  const content = randomBytes(CHUNK * 16);
  inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  for (let o = 0; o < CHUNK * 6; o += CHUNK) inbound.handle(frame({ op: 'chunk', fileId: 1, offset: o, data: content.subarray(o, o + CHUNK) }), meta);
  // The first chunk is on the thread pool, the other five queued behind it: the link ends now.
  inbound.dispose(meta, new CamwireError(ErrorCode.TRANSPORT_CLOSED, 'link closed'));
  assert.equal(events.length, 1);
  assert.equal(events[0].ev, 'end');
  assert.equal((events[0].info as FileEndInfo).ok, false);
  assert.equal(answers.filter((a) => a.kind === Kind.NACK).length, 5, 'the five queued chunks are refused at once');
  // The write in flight lands after the fileEnd, and its chunk is acknowledged (it is on disk),
  // but not reported.
  await answered(7); // START, 5 NACKs, the ACK of the chunk in flight
  assert.equal(events.length, 1, 'nothing is reported after fileEnd');
  const held = fs.readFileSync(part);
  assert.equal(held.length, CHUNK, 'only the write that was in flight landed; queued chunks were not written');
  assert.ok(held.equals(content.subarray(0, CHUNK)));
  assert.deepEqual(answers.map((a) => a.kind), [Kind.ACK, Kind.NACK, Kind.NACK, Kind.NACK, Kind.NACK, Kind.NACK, Kind.ACK], 'the START, five refused, then the chunk that was written');
});
