/**
 * Limits on what a peer may claim in a file transfer, and bounded server spools
 * (docs/limits.md, Files):
 * - a Receiver with fileDir refuses a START larger than maxFileSize and a START whose offset is
 *   past the bytes it holds, before anything is created on disk; a real resume still works;
 * - it refuses a START whose bytes do not fit on the disk with the minFreeDiskBytes margin (a
 *   2 MiB tmpfs), counting transfers already accepted;
 * - a MediaServer keeps at most 256 KiB of a slow reader's queued file data in memory and at most
 *   spool.maxBytesPerReader (per reader) and spool.maxBytes (all readers) on disk; beyond that
 *   it refuses (NACK 1205, CW_ERR_FILE_NO_SPACE at the Sender), and other clients carry on.
 * Hostile peers are raw sockets speaking frames built with the internal codec.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { DeliveryError, ErrorCode, MediaServer, Receiver, Sender, type FileEndInfo } from '../../src/index.js';
import {
  decodeAck,
  decodeReason,
  encodeFileMessage,
  encodeFrameBuffer,
  encodeJson,
  Flag,
  FrameParser,
  Kind,
  MediaType,
  type FileMessage,
  type Frame,
} from '../../src/internal.js';
import { next } from '../helpers/events.js';
import { startClient, startServer, tempDir } from '../helpers/server-client.js';

const HOST = '127.0.0.1';
const TB = 2 ** 40;
const KiB = 1024;
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- a raw peer

/**
 * A camwire peer on a raw TCP socket: sends whatever frames the test builds, records every frame
 * it gets, answers PING, and (as a reader) acknowledges DATA only when told to.
 */
class RawPeer {
  readonly frames: Frame[] = [];
  readonly #socket: net.Socket;
  readonly #waiters = new Set<() => void>();
  #seq = 0;
  /** Reader: acknowledge every DATA as it comes (else they wait in `held`). */
  autoAck = false;
  readonly held: Frame[] = [];

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    const parser = new FrameParser(
      {
        onFrame: (f) => this.#onFrame(f),
        onError: (err) => socket.destroy(err),
      },
      { maxPayload: 16 * MiB },
    );
    socket.on('data', (c) => parser.push(c));
    socket.on('error', () => {});
  }

  /** Connects and completes the handshake for the file type. */
  static async open(port: number, from: string, role: 'push' | 'pull'): Promise<RawPeer> {
    const socket = net.connect(port, HOST);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const p = new RawPeer(socket);
    p.#send({ kind: Kind.HELLO, mediaType: MediaType.file, sessionKey: BigInt(1 + Math.floor(Math.random() * 2 ** 40)), from, timestamp: Date.now(), payload: encodeJson({ role, agent: 'file-limits-test' }) });
    const first = await p.frame((f) => f.kind === Kind.WELCOME || f.kind === Kind.CLOSE, 'the WELCOME');
    assert.equal(first.kind, Kind.WELCOME, `handshake refused: ${first.kind === Kind.CLOSE ? decodeReason(first.payload).reason : ''}`);
    return p;
  }

  #send(init: Parameters<typeof encodeFrameBuffer>[0]): void {
    this.#socket.write(encodeFrameBuffer(init));
  }

  #onFrame(f: Frame): void {
    // The parser hands views of the socket's chunks: keep copies.
    const copy = { ...f, payload: Buffer.from(f.payload) };
    this.frames.push(copy);
    if (f.kind === Kind.PING) this.#send({ kind: Kind.PONG, mediaType: f.mediaType, timestamp: f.timestamp });
    if (f.kind === Kind.DATA) {
      if (this.autoAck) this.ack(copy);
      else this.held.push(copy);
    }
    for (const w of [...this.#waiters]) w();
  }

  /** Sends a file message as a reliable DATA frame; returns its seq. */
  sendFile(m: FileMessage, to = ''): number {
    const seq = ++this.#seq;
    const [a, b] = encodeFileMessage(m);
    this.#send({ kind: Kind.DATA, mediaType: MediaType.file, flags: Flag.ACK_REQUESTED, seq, to, timestamp: Date.now(), payload: b ? Buffer.concat([a, b]) : a });
    return seq;
  }

  ack(f: Frame): void {
    this.#send({ kind: Kind.ACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq });
  }

  /** Acknowledges what is held, and from now on everything as it comes. */
  release(): void {
    this.autoAck = true;
    for (const f of this.held.splice(0)) this.ack(f);
  }

  /** The first frame (already received or coming) for which `pred` holds. */
  frame(pred: (f: Frame) => boolean, what: string, ms = 10000): Promise<Frame> {
    return this.when(() => this.frames.find(pred), what, ms);
  }

  /** The ACK or NACK of `seq`. */
  answer(seq: number, ms = 10000): Promise<Frame> {
    return this.frame((f) => (f.kind === Kind.ACK || f.kind === Kind.NACK) && f.seq === seq, `the answer to #${seq}`, ms);
  }

  /** Resolves with `get()`'s value once it is defined; checked on every frame. */
  when<T>(get: () => T | undefined | false, what: string, ms = 10000): Promise<T> {
    const now = get();
    if (now) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const v = get();
        if (!v) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

function nackOf(f: Frame): { code: number; reason: string } {
  assert.equal(f.kind, Kind.NACK, `expected a NACK, got kind ${f.kind}${f.kind === Kind.ACK ? ' (ACK)' : ''}`);
  return decodeReason(f.payload);
}

/** Every file and its size under `dir`, recursively: what a refused transfer must not change. */
function listing(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
      out[path.relative(dir, p)] = fs.statSync(p).size;
    }
  }
  return out;
}

function content(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff;
  return b;
}

async function startReceiver(t: TestContext, o: ConstructorParameters<typeof Receiver>[0]): Promise<Receiver> {
  const rx = new Receiver({ protocol: 'tcp', host: HOST, port: 0, ...o });
  await rx.start();
  t.after(() => rx.stop());
  return rx;
}

async function startSender(t: TestContext, port: number, o: ConstructorParameters<typeof Sender>[0] = {}): Promise<Sender> {
  const tx = new Sender({ protocol: 'tcp', host: HOST, port, ...o });
  await tx.start();
  t.after(() => tx.stop());
  return tx;
}

// ---------------------------------------------------------------- what a peer claims

describe('file limits - a Receiver checks what a START claims before creating anything', () => {
  test('a START announcing 1 TB is refused (NACK 1204) and nothing is created', async (t) => {
    const dir = tempDir(t, 'camwire-limits-');
    const rx = await startReceiver(t, { fileDir: dir });
    const starts: string[] = [];
    rx.on('fileStart', (f) => starts.push(f.name));
    const evil = await RawPeer.open(rx.port, 'evil', 'push');
    t.after(() => evil.close());

    const seq = evil.sendFile({ op: 'start', fileId: 1, name: 'huge.bin', totalSize: TB, offset: 0 });
    const { code, reason } = nackOf(await evil.answer(seq));
    assert.equal(code, 1204);
    assert.match(reason, /huge\.bin is 1099511627776 bytes.*at most 4294967296 bytes \(maxFileSize\)/);
    // Its chunks find no transfer.
    const chunk = evil.sendFile({ op: 'chunk', fileId: 1, offset: 0, data: Buffer.alloc(16, 1) });
    assert.equal(nackOf(await evil.answer(chunk)).code, 1104);
    assert.deepEqual(listing(dir), {}, 'nothing created');
    assert.deepEqual(starts, [], 'the application never saw it');
    assert.equal(rx.stats.dropped.file, 1);
  });

  test('a START whose offset is past the bytes held is refused: no sparse "verified" 1 TB file', async (t) => {
    const dir = tempDir(t, 'camwire-limits-');
    // No size limit at all: only the offset check stands between the claim and the disk.
    const rx = await startReceiver(t, { fileDir: dir, maxFileSize: Infinity });
    const ends: FileEndInfo[] = [];
    rx.on('fileEnd', (f) => ends.push(f));
    const evil = await RawPeer.open(rx.port, 'evil', 'push');
    t.after(() => evil.close());

    const tail = content(16);
    const start = evil.sendFile({ op: 'start', fileId: 2, name: 'sparse.bin', totalSize: TB, offset: TB - 16 });
    const { code, reason } = nackOf(await evil.answer(start));
    assert.equal(code, 1200);
    assert.match(reason, /sparse\.bin: the sender proposes to start at byte 1099511627760, but this receiver holds 0 bytes/);
    const chunk = evil.sendFile({ op: 'chunk', fileId: 2, offset: TB - 16, data: tail });
    const end = evil.sendFile({ op: 'end', fileId: 2, totalSize: TB, sha256: createHash('sha256').update(tail).digest() });
    assert.equal(nackOf(await evil.answer(chunk)).code, 1104);
    assert.equal(nackOf(await evil.answer(end)).code, 1104);
    assert.deepEqual(listing(dir), {}, 'no .part, no file');
    assert.deepEqual(ends, [], 'nothing was verified');
  });

  test('with a partial file: an offset past its size is refused and the file is untouched; up to its size the receiver answers where to resume', async (t) => {
    const dir = tempDir(t, 'camwire-limits-');
    const part = path.join(dir, 'doc.bin.part');
    const held = content(1000, 3);
    fs.writeFileSync(part, held);
    const rx = await startReceiver(t, { fileDir: dir });
    const evil = await RawPeer.open(rx.port, 'evil', 'push');
    t.after(() => evil.close());

    const past = evil.sendFile({ op: 'start', fileId: 3, name: 'doc.bin', totalSize: 5000, offset: 2000 });
    const refused = nackOf(await evil.answer(past));
    assert.equal(refused.code, 1200);
    assert.match(refused.reason, /holds 1000 bytes of it; propose 1000 or less/);
    assert.deepEqual(listing(dir), { 'doc.bin.part': 1000 });
    assert.ok(fs.readFileSync(part).equals(held), 'the partial file is unchanged');

    // Proposing 0 or exactly what is held: the ACK says 1000.
    for (const [fileId, offset] of [[4, 0], [5, 1000]] as const) {
      const seq = evil.sendFile({ op: 'start', fileId, name: 'doc.bin', totalSize: 5000, offset });
      const ack = await evil.answer(seq);
      assert.equal(ack.kind, Kind.ACK);
      assert.equal(decodeAck(ack.payload).resumeOffset, 1000);
      const abort = evil.sendFile({ op: 'abort', fileId, reason: 'test' });
      assert.equal((await evil.answer(abort)).kind, Kind.ACK);
    }
    assert.ok(fs.readFileSync(part).equals(held), 'still the same 1000 bytes');
  });

  test('a legitimate resume still works, and a file over maxFileSize rejects with CW_ERR_FILE_TOO_LARGE', async (t) => {
    const dir = tempDir(t, 'camwire-limits-');
    const inbox = path.join(dir, 'inbox');
    const data = content(700_000, 5);
    const src = path.join(dir, 'clip.bin');
    fs.writeFileSync(src, data);
    fs.mkdirSync(inbox);
    fs.writeFileSync(path.join(inbox, 'clip.bin.part'), data.subarray(0, 300_000));
    const rx = await startReceiver(t, { fileDir: inbox, maxFileSize: 1_000_000 });
    const tx = await startSender(t, rx.port, { fileChunkSize: 32 * KiB });

    const done = next(rx, 'fileEnd');
    const [res] = await tx.sendFile(src);
    assert.equal(res.offset, 300_000, 'resumed where the partial file ends');
    const [end] = await done;
    assert.equal(end.ok, true);
    assert.ok(fs.readFileSync(path.join(inbox, 'clip.bin')).equals(data));

    const big = path.join(dir, 'big.bin');
    fs.writeFileSync(big, content(1_000_001, 6));
    const before = listing(inbox);
    await assert.rejects(tx.sendFile(big), (err: unknown) => {
      assert.ok(err instanceof DeliveryError, String(err));
      assert.equal(err.code, ErrorCode.FILE_TOO_LARGE);
      assert.match(err.message, /1204 big\.bin is 1000001 bytes; this receiver takes files of at most 1000000 bytes/);
      return true;
    });
    assert.deepEqual(listing(inbox), before, 'nothing created for the refused file');
  });

  test('maxFileSize and minFreeDiskBytes are checked as options', () => {
    assert.throws(() => new Receiver({ maxFileSize: 0 }), { code: 'CW_ERR_CONFIG_INVALID', message: /maxFileSize.*Infinity for no limit/ });
    assert.throws(() => new Receiver({ maxFileSize: 1.5 }), { code: 'CW_ERR_CONFIG_INVALID' });
    assert.throws(() => new Receiver({ minFreeDiskBytes: -1 }), { code: 'CW_ERR_CONFIG_INVALID', message: /minFreeDiskBytes/ });
    new Receiver({ maxFileSize: Infinity, minFreeDiskBytes: 0 });
  });
});

// ---------------------------------------------------------------- free disk

/** Mounts a tmpfs of `size` on a fresh folder; undefined when mounting is not permitted here. */
function mountTmpfs(t: TestContext, size: string): { dir: string; cleanups: Array<() => Promise<void> | void> } | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    fs.rmdirSync(dir);
    t.skip(`cannot mount a ${size} tmpfs here (${String((err as Error).message).split('\n')[0]}): the free-disk check is not exercised`);
    return undefined;
  }
  // Everything that holds files open on the tmpfs is stopped first, then it is unmounted.
  const cleanups: Array<() => Promise<void> | void> = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c();
    execFileSync('umount', [dir]);
    fs.rmdirSync(dir);
  });
  return { dir, cleanups };
}

describe('file limits - free disk', () => {
  test('a START whose bytes do not fit on the disk with the margin is refused (CW_ERR_FILE_NO_SPACE); transfers in progress count', async (t) => {
    const fsx = mountTmpfs(t, '2m');
    if (!fsx) return;
    const inbox = path.join(fsx.dir, 'inbox');
    const rx = new Receiver({ protocol: 'tcp', host: HOST, port: 0, fileDir: inbox, minFreeDiskBytes: 256 * KiB });
    await rx.start();
    fsx.cleanups.push(() => rx.stop());
    const tx = new Sender({ protocol: 'tcp', host: HOST, port: rx.port });
    await tx.start();
    fsx.cleanups.push(() => tx.stop());
    const srcDir = tempDir(t, 'camwire-limits-src-');
    const big = path.join(srcDir, 'big.bin');
    fs.writeFileSync(big, content(3 * MiB));
    const small = path.join(srcDir, 'small.bin');
    fs.writeFileSync(small, content(512 * KiB, 2));

    const refusedEnd = next(rx, 'fileEnd');
    await assert.rejects(tx.sendFile(big), (err: unknown) => {
      assert.ok(err instanceof DeliveryError, String(err));
      assert.equal(err.code, ErrorCode.FILE_NO_SPACE);
      assert.match(err.message, /1205 .*not enough free disk: 3145728 bytes to write plus 262144 to keep free \(minFreeDiskBytes\), \d+ free/);
      return true;
    });
    const [end] = await refusedEnd;
    assert.equal(end.ok, false);
    assert.equal(end.error?.code, ErrorCode.FILE_NO_SPACE);
    assert.deepEqual(listing(inbox), {}, 'no .part was created');

    const [ok] = await tx.sendFile(small);
    assert.equal(ok.bytesSent, 512 * KiB);
    assert.equal(fs.statSync(path.join(inbox, 'small.bin')).size, 512 * KiB);

    // Two STARTs of 700 KiB: each fits alone, not both (the first one's bytes are still to come).
    const evil = await RawPeer.open(rx.port, 'evil', 'push');
    fsx.cleanups.push(() => evil.close());
    const first = evil.sendFile({ op: 'start', fileId: 1, name: 'one.bin', totalSize: 700 * KiB, offset: 0 });
    assert.equal((await evil.answer(first)).kind, Kind.ACK);
    const second = evil.sendFile({ op: 'start', fileId: 2, name: 'two.bin', totalSize: 700 * KiB, offset: 0 });
    const nack = nackOf(await evil.answer(second));
    assert.equal(nack.code, 1205);
    assert.match(nack.reason, /and 716800 for transfers in progress/);
    // Once the first transfer ends, its room is free again.
    assert.equal((await evil.answer(evil.sendFile({ op: 'abort', fileId: 1, reason: 'test' }))).kind, Kind.ACK);
    const third = evil.sendFile({ op: 'start', fileId: 3, name: 'two.bin', totalSize: 700 * KiB, offset: 0 });
    assert.equal((await evil.answer(third)).kind, Kind.ACK);
    assert.equal((await evil.answer(evil.sendFile({ op: 'abort', fileId: 3, reason: 'test' }))).kind, Kind.ACK);
  });

  test('the default margin (64 MiB) refuses even a small file on a nearly full disk', async (t) => {
    const fsx = mountTmpfs(t, '2m');
    if (!fsx) return;
    const rx = new Receiver({ protocol: 'tcp', host: HOST, port: 0, fileDir: fsx.dir });
    await rx.start();
    fsx.cleanups.push(() => rx.stop());
    const tx = new Sender({ protocol: 'tcp', host: HOST, port: rx.port });
    await tx.start();
    fsx.cleanups.push(() => tx.stop());
    const src = path.join(tempDir(t, 'camwire-limits-src-'), 'note.txt');
    fs.writeFileSync(src, 'a small note\n');
    await assert.rejects(tx.sendFile(src), { code: ErrorCode.FILE_NO_SPACE, message: /plus 67108864 to keep free/ });
    assert.deepEqual(listing(fsx.dir), {});
  });
});

// ---------------------------------------------------------------- the server's spool

/** A file chunk whose payload is exactly 64 KiB (11 bytes of header + data). */
const CHUNK_PAYLOAD = 64 * KiB;
const CHUNK_DATA = CHUNK_PAYLOAD - 11;
/** The server's in-flight window of file items toward a reader, and its memory part per reader. */
const WINDOW = 64;
const MEMORY = 256 * KiB;

function spoolBytes(dir: string): number {
  return Object.values(listing(dir)).reduce((a, b) => a + b, 0);
}

/**
 * Fills a slow reader's window: `WINDOW` chunks that it receives and does not acknowledge.
 * After this nothing leaves the reader's queue until it acknowledges.
 */
async function fillWindow(flood: RawPeer, reader: RawPeer, to: string, fileId: number): Promise<void> {
  const data = Buffer.alloc(CHUNK_DATA, fileId);
  // One at a time, each on to the reader before the next: none of them waits in the queue.
  for (let i = 0; i < WINDOW; i++) {
    const want = reader.held.length + 1;
    flood.sendFile({ op: 'chunk', fileId, offset: i * CHUNK_DATA, data }, to);
    await reader.when(() => reader.held.length >= want, `${to} to hold ${want} chunks`);
  }
}

/** Sends `n` chunks to `to` and waits for the answer to the last one; returns the NACKs among them. */
async function pushChunks(flood: RawPeer, to: string, fileId: number, n: number): Promise<{ seqs: number[]; nacks: Array<{ code: number; reason: string }> }> {
  const data = Buffer.alloc(CHUNK_DATA, fileId);
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push(flood.sendFile({ op: 'chunk', fileId, offset: (WINDOW + i) * CHUNK_DATA, data }, to));
  // The server answers in the order it read them: once the last is answered, all refusals are in.
  assert.equal((await flood.answer(seqs[n - 1])).kind, Kind.NACK, 'the last chunk is beyond every bound');
  const set = new Set(seqs);
  const nacks = flood.frames.filter((f) => f.kind === Kind.NACK && set.has(f.seq)).map(nackOf);
  return { seqs, nacks };
}

describe('file limits - MediaServer spool', () => {
  test('queued file data: 256 KiB in memory, then the spool up to its caps, then NACK 1205; other clients unaffected', async (t) => {
    const spoolDir = tempDir(t, 'camwire-spool-');
    const server: MediaServer = await startServer(t, {
      spoolDir,
      buffers: { file: 64 * MiB }, // the spool caps bind first
      spool: { maxBytesPerReader: 1 * MiB, maxBytes: 1.5 * MiB },
      timeouts: { file: 60000 },
    });
    const port = server.ports.tcp;
    const slow1 = await RawPeer.open(port, 'slow1', 'pull');
    t.after(() => slow1.close());
    const slow2 = await RawPeer.open(port, 'slow2', 'pull');
    t.after(() => slow2.close());
    const flood = await RawPeer.open(port, 'flood', 'push');
    t.after(() => flood.close());

    // slow1: 64 chunks in flight, then 40 more: 4 fit the memory part (4 x 64 KiB), 16 the
    // reader's 1 MiB spool, the other 20 are refused at once.
    await fillWindow(flood, slow1, 'slow1', 1);
    const one = await pushChunks(flood, 'slow1', 1, 40);
    assert.equal(one.nacks.length, 40 - MEMORY / CHUNK_PAYLOAD - MiB / CHUNK_PAYLOAD);
    for (const n of one.nacks) {
      assert.equal(n.code, 1205);
      assert.match(n.reason, /^slow1: file queue has no room: its spool holds 1048576 of 1048576 bytes/);
    }
    assert.equal(spoolBytes(spoolDir), 1 * MiB, 'the reader spool is at its cap, no more');

    // slow2: the server's 1.5 MiB leave it 512 KiB of spool.
    await fillWindow(flood, slow2, 'slow2', 2);
    const two = await pushChunks(flood, 'slow2', 2, 40);
    assert.equal(two.nacks.length, 40 - MEMORY / CHUNK_PAYLOAD - (512 * KiB) / CHUNK_PAYLOAD);
    for (const n of two.nacks) {
      assert.equal(n.code, 1205);
      assert.match(n.reason, /^slow2: file queue has no room: the spool space of all queues together is used up/);
    }
    assert.equal(spoolBytes(spoolDir), 1.5 * MiB, 'all spools together at the server cap');

    // A Sender's file to the flooded reader is refused at its START: a typed error.
    const carol = await startClient(t, server, 'carol');
    const srcDir = tempDir(t, 'camwire-limits-src-');
    const src = path.join(srcDir, 'report.bin');
    fs.writeFileSync(src, content(200 * KiB, 9));
    await assert.rejects(carol.tx.sendFile(src, { to: 'slow1' }), (err: unknown) => {
      assert.ok(err instanceof DeliveryError, String(err));
      assert.equal(err.code, ErrorCode.FILE_NO_SPACE);
      assert.match(err.message, /1205 slow1: file queue has no room/);
      return true;
    });

    // Other clients: a 3 MiB file and a command between two of them go through meanwhile.
    const inbox = tempDir(t, 'camwire-limits-inbox-');
    const alice = await startClient(t, server, 'alice');
    const bob = await startClient(t, server, 'bob', { rx: { fileDir: inbox } });
    const movie = path.join(srcDir, 'movie.bin');
    const movieData = content(3 * MiB, 4);
    fs.writeFileSync(movie, movieData);
    const got = next(bob.rx, 'fileEnd');
    const [res] = await alice.tx.sendFile(movie, { to: 'bob' });
    assert.equal(res.bytesSent, 3 * MiB);
    assert.equal((await got)[0].ok, true);
    assert.ok(fs.readFileSync(path.join(inbox, 'movie.bin')).equals(movieData));
    const cmd = next(bob.rx, 'command');
    await alice.tx.sendCommand({ name: 'ping' }, { to: 'bob' });
    assert.equal((await cmd)[0].name, 'ping');
    assert.equal(spoolBytes(spoolDir), 1.5 * MiB, 'the slow readers still hold their spools');

    // The slow readers catch up: everything the server took is delivered and acknowledged, and
    // the spool files are emptied.
    slow1.release();
    slow2.release();
    const accepted = [...one.seqs, ...two.seqs].filter((s) => !flood.frames.some((f) => f.kind === Kind.NACK && f.seq === s));
    for (const s of accepted) assert.equal((await flood.answer(s)).kind, Kind.ACK);
    assert.equal(accepted.length, 2 * (MEMORY / CHUNK_PAYLOAD) + (MiB + 512 * KiB) / CHUNK_PAYLOAD);
    assert.equal(spoolBytes(spoolDir), 0, 'emptied once nothing waits');
    const [after] = await carol.tx.sendFile(src, { to: 'slow1' });
    assert.equal(after.bytesSent, 200 * KiB, 'and the reader takes files again');
  });

  test('spool options are checked', () => {
    assert.throws(() => new MediaServer({ spool: { maxBytes: -1 } }), { code: 'CW_ERR_CONFIG_INVALID', message: /spool\.maxBytes/ });
    assert.throws(() => new MediaServer({ spool: { maxBytesPerReader: 1.5 } }), { code: 'CW_ERR_CONFIG_INVALID', message: /spool\.maxBytesPerReader/ });
    assert.throws(() => new MediaServer({ spool: { maxbytes: 1 } as never }), { code: 'CW_ERR_CONFIG_INVALID', message: /unknown field "maxbytes"/ });
    new MediaServer({ spool: { maxBytesPerReader: 0, maxBytes: 0 } });
  });
});
