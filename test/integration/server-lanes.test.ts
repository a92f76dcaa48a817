/**
 * A sender's reliable queue through a MediaServer across reconnects (docs/protocol.md, 3.3): an
 * item resent on the queue's next link (same lane, same seq) is answered by the server, not
 * relayed to the reader a second time; the answer goes to the link the queue uses now.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { encodeCommand, encodeFrameBuffer, Flag, FrameParser, Kind, MediaType, type Frame } from '../../src/internal.js';
import { next } from '../helpers/events.js';
import { startClient, startServer } from '../helpers/server-client.js';

/** A bare push link for commands from `from`, naming its queue `lane`. */
async function pushLink(t: TestContext, port: number, from: string, lane: string): Promise<{ sock: net.Socket; frame: (pred: (f: Frame) => boolean) => Promise<Frame> }> {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  const parser = new FrameParser({ onFrame: (f) => (frames.push(f), waiters.forEach((w) => w())), onError: (e) => sock.destroy(e) }, {});
  sock.on('data', (c: Buffer) => parser.push(c));
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  sock.write(encodeFrameBuffer({ kind: Kind.HELLO, mediaType: MediaType.command, sessionKey: 7n, from, payload: Buffer.from(JSON.stringify({ role: 'push', lane })) }));
  const frame = (pred: (f: Frame) => boolean): Promise<Frame> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const f = frames.find(pred);
        if (!f) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(f);
      };
      const timer = setTimeout(() => (waiters.delete(check), reject(new Error('no such frame within 5 s'))), 5000);
      waiters.add(check);
      check();
    });
  await frame((f) => f.kind === Kind.WELCOME);
  return { sock, frame };
}

const command = (seq: number, name: string): Buffer =>
  encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.command, flags: Flag.ACK_REQUESTED, seq, sessionKey: 7n, from: 'pusher', to: 'bob', payload: encodeCommand({ name }) });

describe('server lanes', () => {
  test('an item resent on the queue\'s next link is acknowledged, not delivered twice', async (t) => {
    const s = await startServer(t);
    const bob = await startClient(t, s, 'bob');
    const got: string[] = [];
    bob.rx.on('command', (c) => got.push(c.name));

    const first = await pushLink(t, s.ports.tcp, 'pusher', 'a1');
    const delivered = next(bob.rx, 'command');
    first.sock.write(command(1, 'once'));
    await delivered;
    // The link breaks before the sender has seen the answer: it resends seq 1 on its next link.
    first.sock.destroy();
    const second = await pushLink(t, s.ports.tcp, 'pusher', 'a1');
    second.sock.write(command(1, 'once'));
    const ack = await second.frame((f) => f.kind === Kind.ACK && f.seq === 1);
    assert.equal(ack.mediaType, MediaType.command);
    // A new item of the same queue still goes through, once.
    const more = next(bob.rx, 'command');
    second.sock.write(command(2, 'twice-is-wrong'));
    await more;
    await second.frame((f) => f.kind === Kind.ACK && f.seq === 2);
    assert.deepEqual(got, ['once', 'twice-is-wrong']);

    // Another queue (another lane) of the same client is not confused with it.
    const other = await pushLink(t, s.ports.tcp, 'pusher', 'b2');
    const third = next(bob.rx, 'command');
    other.sock.write(command(1, 'other-queue'));
    await third;
    assert.deepEqual(got, ['once', 'twice-is-wrong', 'other-queue']);
  });
});
