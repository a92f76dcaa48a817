/**
 * A Sender's file window (docs/protocol.md, 3.2 and 4.4): a peer that announces `fileWindow` in
 * its WELCOME gets at most that much unacknowledged, however slowly it answers; a peer that
 * announces none (an earlier version) gets the fixed reliableWindow x fileChunkSize, and so does
 * any peer when the Sender's reliableWindow is given; a Receiver
 * and a MediaServer announce theirs, and a server's smaller file queue bounds the sender's window
 * instead of refusing its chunks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Receiver, Sender, type FileProgress } from '../../src/index.js';
import { decodeFileMessage, encodeAck, encodeFrameBuffer, encodeJson, FrameParser, Kind, MediaType, type Frame } from '../../src/internal.js';
import { RECEIVER_FILE_WINDOW } from '../../src/media/file-writer.js';
import { serverFileWindow } from '../../src/server/admission.js';
import { next } from '../helpers/events.js';
import { startClient, startServer, tempDir } from '../helpers/server-client.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A file receiver on a raw socket: WELCOMEs with `welcome` as its payload, records the bytes of
 * chunks it has not acknowledged (and their most), and acknowledges each chunk at once ('each'),
 * or only once the sender has sent nothing for a moment ('quiet': a reader that lets the sender
 * fill its window, then takes everything).
 */
class RawFileReceiver {
  readonly server: net.Server;
  unacked: Frame[] = [];
  unackedBytes = 0;
  maxUnacked = 0;
  readonly hash = createHash('sha256');
  readonly ended: Promise<string>;
  #end!: (sha256: string) => void;
  #quiet: NodeJS.Timeout | undefined;

  constructor(
    readonly welcome: object,
    readonly policy: 'each' | 'quiet',
  ) {
    this.ended = new Promise((r) => (this.#end = r));
    this.server = net.createServer((s) => this.#serve(s));
  }

  async listen(t: TestContext): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    t.after(() => {
      clearTimeout(this.#quiet);
      this.server.close();
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  #serve(s: net.Socket): void {
    s.on('error', () => {});
    this.server.on('close', () => s.destroy());
    const send = (init: Parameters<typeof encodeFrameBuffer>[0]): void => void s.write(encodeFrameBuffer(init));
    const ack = (f: Frame, payload: Buffer = Buffer.alloc(0)): void => send({ kind: Kind.ACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload });
    const ackAll = (): void => {
      for (const f of this.unacked.splice(0)) ack(f);
      this.unackedBytes = 0;
    };
    const parser = new FrameParser({
      onError: (err) => s.destroy(err),
      onFrame: (f) => {
        if (f.kind === Kind.HELLO) {
          send({ kind: Kind.WELCOME, mediaType: f.mediaType, sessionKey: 7n, to: f.from, timestamp: Date.now(), payload: encodeJson(this.welcome) });
          return;
        }
        if (f.kind === Kind.PING) return send({ kind: Kind.PONG, mediaType: f.mediaType, timestamp: f.timestamp });
        if (f.kind !== Kind.DATA || f.mediaType !== MediaType.file) return;
        const m = decodeFileMessage(f.payload);
        if (m.op === 'start') return ack(f, encodeAck(m.offset));
        if (m.op === 'chunk') {
          this.hash.update(m.data);
          this.unacked.push(f);
          this.unackedBytes += m.data.length;
          this.maxUnacked = Math.max(this.maxUnacked, this.unackedBytes);
          if (this.policy === 'each') return ackAll();
          clearTimeout(this.#quiet);
          this.#quiet = setTimeout(ackAll, 20);
          return;
        }
        if (m.op === 'end') {
          ackAll();
          ack(f);
          this.#end(this.hash.digest('hex'));
        }
      },
    });
    s.on('data', (c) => parser.push(c));
  }
}

function sourceFile(t: TestContext, bytes: number): { file: string; sha256: string } {
  const dir = tempDir(t, 'camwire-window-');
  const file = path.join(dir, 'src.bin');
  const content = randomBytes(bytes);
  fs.writeFileSync(file, content);
  return { file, sha256: createHash('sha256').update(content).digest('hex') };
}

async function sender(t: TestContext, port: number, o: ConstructorParameters<typeof Sender>[0] = {}): Promise<{ tx: Sender; windows: number[] }> {
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port, ...o });
  await tx.start();
  t.after(() => tx.stop());
  const windows: number[] = [];
  tx.on('fileProgress', (p: FileProgress) => windows.push(p.window));
  return { tx, windows };
}

test('file window - a peer that announces none (an earlier version) gets reliableWindow x fileChunkSize, never more', async (t) => {
  const peer = new RawFileReceiver({ agent: 'earlier/0.1' }, 'quiet');
  // The default reliableWindow (16) of 16 KiB chunks.
  const { tx, windows } = await sender(t, await peer.listen(t), { fileChunkSize: 16 * KiB, queueBytes: { file: 64 * MiB } });
  const src = sourceFile(t, 4 * MiB);
  const [res] = await tx.sendFile(src.file);
  assert.equal(res.sha256, src.sha256);
  assert.equal(await peer.ended, src.sha256);
  assert.ok(peer.maxUnacked <= 256 * KiB, `at most 16 x 16 KiB unacknowledged, saw ${peer.maxUnacked}`);
  assert.ok(windows.length > 0 && windows.every((w) => w === 256 * KiB), `the window stays 256 KiB: ${[...new Set(windows)].join(', ')}`);
});

test('file window - a given reliableWindow stays the fixed window, even toward a peer that announces a larger one', async (t) => {
  const peer = new RawFileReceiver({ fileWindow: 32 * MiB }, 'quiet');
  const { tx, windows } = await sender(t, await peer.listen(t), { reliableWindow: 4, fileChunkSize: 64 * KiB, queueBytes: { file: 64 * MiB } });
  const src = sourceFile(t, 4 * MiB);
  const [res] = await tx.sendFile(src.file);
  assert.equal(res.sha256, src.sha256);
  assert.equal(await peer.ended, src.sha256);
  assert.ok(peer.maxUnacked <= 256 * KiB, `at most 4 x 64 KiB unacknowledged, saw ${peer.maxUnacked}`);
  assert.ok(windows.every((w) => w === 256 * KiB), `the window stays 256 KiB: ${[...new Set(windows)].join(', ')}`);
});

test('file window - a slow reader that announces 1 MiB never has more unacknowledged, though the sender could queue 64 MiB', async (t) => {
  const peer = new RawFileReceiver({ fileWindow: 1 * MiB }, 'quiet');
  const { tx, windows } = await sender(t, await peer.listen(t), { fileChunkSize: 16 * KiB, queueBytes: { file: 64 * MiB } });
  const src = sourceFile(t, 8 * MiB);
  const [res] = await tx.sendFile(src.file);
  assert.equal(res.sha256, src.sha256);
  assert.equal(await peer.ended, src.sha256);
  assert.ok(peer.maxUnacked <= 1 * MiB, `at most 1 MiB unacknowledged, saw ${peer.maxUnacked}`);
  assert.ok(windows.every((w) => w >= 256 * KiB && w <= 1 * MiB), `windows within 256 KiB..1 MiB: ${[...new Set(windows)].join(', ')}`);
});

test('file window - a Receiver announces its window: the sender grows past its floor, within that and its own queue', async (t) => {
  const dir = tempDir(t, 'camwire-window-rx-');
  const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, fileDir: dir });
  await rx.start();
  t.after(() => rx.stop());
  // A floor of 16 chunks of 16 KiB: any path faster than 1 MB/s outgrows it.
  const { tx, windows } = await sender(t, rx.port, { fileChunkSize: 16 * KiB });
  const src = sourceFile(t, 16 * MiB);
  const end = next(rx, 'fileEnd');
  const [res] = await tx.sendFile(src.file);
  const [info] = await end;
  assert.equal(info.ok, true);
  assert.equal(info.sha256, src.sha256);
  assert.equal(res.sha256, src.sha256);
  const cap = Math.min(RECEIVER_FILE_WINDOW, 10_485_760);
  assert.ok(windows.every((w) => w >= 256 * KiB && w <= cap), `windows within 256 KiB..${cap}: ${[...new Set(windows)].join(', ')}`);
  assert.ok(Math.max(...windows) > 256 * KiB, 'the window grew past the floor');
});

test('file window - through a MediaServer whose file queue is 2 MiB: the sender keeps within it, nothing is refused', async (t) => {
  const s = await startServer(t, { buffers: { file: 2 * MiB } });
  const inbox = tempDir(t, 'camwire-window-inbox-');
  // A sender that could queue 64 MiB, with a floor of 16 x 256 KiB: more than that server's queue.
  const a = await startClient(t, s, 'a', { tx: { queueBytes: { file: 64 * MiB } } });
  const b = await startClient(t, s, 'b', { rx: { fileDir: inbox } });
  const windows: number[] = [];
  a.tx.on('fileProgress', (p: FileProgress) => windows.push(p.window));
  const src = sourceFile(t, 12 * MiB);
  const end = next(b.rx, 'fileEnd');
  const [res] = await a.tx.sendFile(src.file, { to: 'b' });
  const [info] = await end;
  assert.equal(info.ok, true);
  assert.equal(res.sha256, src.sha256);
  assert.equal(createHash('sha256').update(fs.readFileSync(info.path!)).digest('hex'), src.sha256);
  const cap = serverFileWindow(2 * MiB);
  assert.ok(windows.every((w) => w <= cap), `windows at most ${cap}: ${[...new Set(windows)].join(', ')}`);
});
