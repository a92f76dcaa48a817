/**
 * FileInbound with a fileDir: `fileData` reports a chunk once it is on disk (docs/api.md, Receiver
 * events); chunks still waiting for the disk when the transfer ends are written but not reported,
 * and a resume of that file waits for them.
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
import { decodeAck } from '../../src/protocol/messages.js';
import type { Frame } from '../../src/protocol/frame.js';

const meta: MessageMeta = { from: 'cam', to: '', group: '', mediaIndex: 0, remoteSessionKey: 1n, seq: 0, timestamp: 0, transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 1 };

let seq = 0;
function frame(m: FileMessage): Frame {
  const [head, data] = encodeFileMessage(m);
  const payload = data ? Buffer.concat([head, data]) : head;
  return { kind: Kind.DATA, mediaType: MediaType.file, flags: Flag.ACK_REQUESTED, mediaIndex: 0, seq: ++seq, sessionKey: 1n, timestamp: 0, from: 'cam', to: '', group: '', payload };
}

/** One link's FileInbound writing into `dir`, with what it raised and answered. */
function peer(dir: string, shared: { busyFiles: Set<string>; closingFiles: Map<string, Array<() => void>>; pendingDisk: { bytes: number } }) {
  const events: Array<{ ev: 'data'; info: FileDataInfo; onDisk: number } | { ev: 'end'; info: FileEndInfo }> = [];
  const answers: Array<{ kind: number; seq: number; payload?: Buffer }> = [];
  let waiting: { n: number; resolve: () => void } | undefined;
  const link = {
    reliable: true,
    send: (f: { kind: number; seq: number; payload?: Buffer }) => {
      answers.push({ kind: f.kind, seq: f.seq, payload: f.payload });
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
    { fileDir: dir, ...shared },
  );
  return { dir, part, events, answers, answered, inbound };
}

/** A receiver's folder and its first link. */
function setup(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-inbound-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const shared = { busyFiles: new Set<string>(), closingFiles: new Map<string, Array<() => void>>(), pendingDisk: { bytes: 0 } };
  return { ...peer(dir, shared), pendingDisk: shared.pendingDisk, another: () => peer(dir, shared) };
}

const CHUNK = 64 * 1024;

test('FileInbound - fileData comes once the chunk is on disk, in order, all before fileEnd', { timeout: 10_000 }, async (t) => {
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

test('FileInbound - a transfer that ends with chunks waiting for the disk still writes them, and raises nothing after fileEnd', { timeout: 10_000 }, async (t) => {
  const { part, events, answers, answered, inbound, pendingDisk } = setup(t);
  const content = randomBytes(CHUNK * 16);
  inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  assert.equal(pendingDisk.bytes, content.length, 'the whole file is counted against the free disk');
  for (let o = 0; o < CHUNK * 6; o += CHUNK) inbound.handle(frame({ op: 'chunk', fileId: 1, offset: o, data: content.subarray(o, o + CHUNK) }), meta);
  // The first chunk is on the thread pool, the other five queued behind it: the link ends now.
  inbound.dispose(meta, new CamwireError(ErrorCode.TRANSPORT_CLOSED, 'link closed'));
  assert.equal(pendingDisk.bytes, CHUNK * 6, 'what will not come is let go; what still waits for the disk stays counted');
  assert.equal(events.length, 1);
  assert.equal(events[0].ev, 'end');
  assert.equal((events[0].info as FileEndInfo).ok, false);
  // The six chunks arrived in order and were hashed: they land after the fileEnd, each is
  // acknowledged once on disk (true, though the link is gone), none is raised.
  await answered(7);
  assert.deepEqual(answers.map((a) => a.kind), Array(7).fill(Kind.ACK), 'the START and the six chunks');
  assert.equal(events.length, 1, 'nothing is raised after fileEnd');
  assert.ok(fs.readFileSync(part).equals(content.subarray(0, CHUNK * 6)), 'the partial file holds every chunk that arrived');
  assert.equal(pendingDisk.bytes, 0, 'nothing is counted once they landed');
});

test('FileInbound - a resume that arrives while the broken transfer\'s last writes are on the thread pool is answered once they landed, with the offset they made', { timeout: 10_000 }, async (t) => {
  const first = setup(t);
  const content = randomBytes(CHUNK * 16);
  first.inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  for (let o = 0; o < CHUNK * 3; o += CHUNK) first.inbound.handle(frame({ op: 'chunk', fileId: 1, offset: o, data: content.subarray(o, o + CHUNK) }), meta);
  first.inbound.dispose(meta, new CamwireError(ErrorCode.TRANSPORT_CLOSED, 'link closed'));
  // The sender comes back on a new link before the write in flight (the first chunk) landed.
  const second = first.another();
  second.inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  assert.equal(second.answers.length, 0, 'not answered while the old transfer still writes');
  await second.answered(1);
  assert.equal(second.answers[0].kind, Kind.ACK);
  assert.equal(decodeAck(second.answers[0].payload!).resumeOffset, CHUNK * 3, 'resumes after the chunks that landed');
  for (let o = CHUNK * 3; o < content.length; o += CHUNK) second.inbound.handle(frame({ op: 'chunk', fileId: 1, offset: o, data: content.subarray(o, o + CHUNK) }), meta);
  second.inbound.handle(frame({ op: 'end', fileId: 1, totalSize: content.length, sha256: createHash('sha256').update(content.subarray(CHUNK * 3)).digest() }), meta);
  await second.answered(1 + 13 + 1);
  const end = second.events.at(-1)!;
  assert.equal(end.ev, 'end');
  assert.equal((end.info as FileEndInfo).ok, true);
  assert.ok(fs.readFileSync(path.join(first.dir, 'clip.bin')).equals(content));
});

test('FileInbound - a START waiting for the old transfer\'s last write is dropped when its own link ends first', { timeout: 10_000 }, async (t) => {
  const first = setup(t);
  const content = randomBytes(CHUNK * 4);
  first.inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  first.inbound.handle(frame({ op: 'chunk', fileId: 1, offset: 0, data: content.subarray(0, CHUNK) }), meta);
  first.inbound.dispose(meta, new CamwireError(ErrorCode.TRANSPORT_CLOSED, 'link closed'));
  const second = first.another();
  second.inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  second.inbound.dispose(meta, new CamwireError(ErrorCode.TRANSPORT_CLOSED, 'link closed'));
  await first.answered(2); // the START and the chunk that was in flight
  // The third link's START finds the name free: the second link's waiting START opened nothing.
  const third = first.another();
  third.inbound.handle(frame({ op: 'start', fileId: 1, name: 'clip.bin', totalSize: content.length, offset: 0 }), meta);
  await third.answered(1);
  assert.equal(third.answers[0].kind, Kind.ACK);
  assert.equal(decodeAck(third.answers[0].payload!).resumeOffset, CHUNK);
  assert.equal(second.answers.length, 0);
  assert.equal(second.events.length, 0);
  third.inbound.dispose(undefined, new CamwireError(ErrorCode.TRANSPORT_CLOSED, 'done'));
});
