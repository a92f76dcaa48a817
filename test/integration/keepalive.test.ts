/**
 * Keepalives on idle links (docs/protocol.md 3.4): the side that dialed pings, the side that
 * accepted only answers while its peer pings, yet still pings a silent peer and still finds a
 * dead one; a peer of the earlier version that pings on its own schedule is answered; the
 * clock's wheel still checks an idle link for a stall once it has bytes waiting.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { LinkClock, tickFor } from '../../src/link/link-clock.js';
import { pingAfter, type CloseInfo } from '../../src/link/frame-link.js';
import { StreamLink } from '../../src/internal.js';
import { MediaServer } from '../../src/index.js';
import { Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer, type Frame } from '../../src/protocol/frame.js';
import { encodeJson } from '../../src/protocol/handshake.js';
import { FrameParser } from '../../src/protocol/parser.js';
import { once, until } from '../helpers/wait.js';

/** A listener whose sockets become accepted StreamLinks with `o`; resolves the first one. */
async function acceptor(t: TestContext, o: ConstructorParameters<typeof StreamLink>[1]): Promise<{ port: number; link: Promise<StreamLink> }> {
  let got!: (l: StreamLink) => void;
  const link = new Promise<StreamLink>((r) => (got = r));
  const server = net.createServer((s) => {
    const l = new StreamLink(s, { ...o, accepted: true });
    t.after(() => l.close(1000, 'done'));
    got(l);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, link };
}

/** A bare socket peer that counts the PINGs and PONGs it gets; answers PINGs while `answer` holds. */
async function rawPeer(t: TestContext, port: number) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  t.after(() => sock.destroy());
  const peer = { sock, pings: 0, pongs: 0, answer: true, frames: [] as Frame[] };
  const parser = new FrameParser({
    onFrame: (f) => {
      peer.frames.push(f);
      if (f.kind === Kind.PING) {
        peer.pings++;
        if (peer.answer) sock.write(encodeFrameBuffer({ kind: Kind.PONG, timestamp: f.timestamp }));
      } else if (f.kind === Kind.PONG) peer.pongs++;
      sock.emit('frame', f);
    },
    onError: () => sock.destroy(),
  });
  sock.on('data', (d) => parser.push(d));
  return peer;
}

describe('keepalive: who pings an idle link', () => {
  test('pingAfter: the dialer waits keepaliveMs; the acceptor half its dead timer, within [keepaliveMs, 3 x keepaliveMs]', () => {
    assert.equal(pingAfter(5000, 15000, false), 5000);
    assert.equal(pingAfter(5000, 15000, true), 7500);
    assert.equal(pingAfter(5000, 60000, true), 15000);
    assert.equal(pingAfter(300, 6000, true), 900);
    assert.equal(pingAfter(5000, 6000, true), 5000);
    assert.equal(pingAfter(5000, 0, true), 5000);
    assert.equal(pingAfter(0, 15000, true), 0);
  });

  test('two idle links of this version: only the dialing side pings, and both stay open', async (t) => {
    const o = { keepaliveMs: 300, deadMs: 6000 };
    const clock = new LinkClock(tickFor(o.keepaliveMs, o.deadMs));
    const acc = await acceptor(t, { ...o, clock });
    const sock = net.connect(acc.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const dialer = new StreamLink(sock, { ...o, clock });
    t.after(() => dialer.close(1000, 'done'));
    const accepted = await acc.link;
    // What each side receives: count PINGs by spying on what each parser hands its link (a
    // Frame, or a keepalive alone in its read as its kind and timestamp).
    let dialerPings = 0;
    let acceptedPings = 0;
    type Spied = { receive(f: Frame): void; keepaliveIn(kind: number, ts: number): boolean };
    const spy = (link: StreamLink, onPing: () => void): void => {
      const l = link as unknown as Spied;
      const receive = l.receive.bind(link);
      const keepaliveIn = l.keepaliveIn.bind(link);
      l.receive = (f: Frame) => {
        if (f.kind === Kind.PING) onPing();
        receive(f);
      };
      l.keepaliveIn = (kind: number, ts: number) => {
        if (kind === Kind.PING) onPing();
        return keepaliveIn(kind, ts);
      };
    };
    spy(dialer, () => dialerPings++);
    spy(accepted, () => acceptedPings++);
    const closed: CloseInfo[] = [];
    for (const l of [dialer, accepted]) l.once('close', (c) => closed.push(c));
    await until(() => acceptedPings >= 4 || closed.length > 0, { on: [[sock, 'data']], timeoutMs: 15000, what: () => `accepted side got ${acceptedPings} PINGs` });
    t.diagnostic(`dialer sent ${acceptedPings} PINGs, the accepted side ${dialerPings}`);
    assert.deepEqual(closed, []);
    assert.equal(dialerPings, 0, 'the accepted side sent no PING while the dialer pinged');
  });

  test('a peer that pings on its own schedule (the earlier version) is answered, and the accepted side sends no PING', async (t) => {
    const acc = await acceptor(t, { keepaliveMs: 300, deadMs: 6000 });
    const peer = await rawPeer(t, acc.port);
    const link = await acc.link;
    const closed: CloseInfo[] = [];
    link.once('close', (c) => closed.push(c));
    // The earlier rule: a PING after keepaliveMs of silence, whatever comes back: here every 300 ms.
    const timer = setInterval(() => peer.sock.write(encodeFrameBuffer({ kind: Kind.PING, timestamp: Date.now() })), 300);
    t.after(() => clearInterval(timer));
    await until(() => peer.pongs >= 5 || closed.length > 0, { on: [[peer.sock, 'frame']], timeoutMs: 15000, what: () => `${peer.pongs} PONGs` });
    assert.deepEqual(closed, []);
    assert.equal(peer.pongs, 5, 'every PING answered');
    assert.equal(peer.pings, 0, 'no PING from the accepted side');
  });

  test('a peer that never pings but answers: the accepted side pings it and keeps the link', async (t) => {
    const acc = await acceptor(t, { keepaliveMs: 100, deadMs: 1000 });
    const peer = await rawPeer(t, acc.port);
    const link = await acc.link;
    const closed: CloseInfo[] = [];
    link.once('close', (c) => closed.push(c));
    // It pings after 300 ms of silence: 8 PINGs answered take longer than the dead timer, so the answers kept it open.
    await until(() => peer.pings >= 8 || closed.length > 0, { on: [[peer.sock, 'frame']], timeoutMs: 15000, what: () => `${peer.pings} PINGs` });
    assert.deepEqual(closed, []);
  });

  test('the accepted side that only answered still finds a dead peer: it pings the silent peer, then closes 1300', async (t) => {
    const acc = await acceptor(t, { keepaliveMs: 100, deadMs: 800 });
    const peer = await rawPeer(t, acc.port);
    const link = await acc.link;
    const closed = once(link, 'close', 15000) as Promise<[CloseInfo]>;
    // It pings for a while, and is answered ...
    const timer = setInterval(() => peer.sock.write(encodeFrameBuffer({ kind: Kind.PING, timestamp: Date.now() })), 100);
    await until(() => peer.pongs >= 3, { on: [[peer.sock, 'frame']], timeoutMs: 15000, what: () => `${peer.pongs} PONGs` });
    const pingsWhileItPinged = peer.pings;
    // ... then hangs: no PING, no answer, the socket still open.
    clearInterval(timer);
    peer.answer = false;
    const t0 = Date.now();
    const [info] = await closed;
    t.diagnostic(`closed ${Date.now() - t0} ms after the peer went silent (deadMs 800); PINGs from the accepted side while the peer pinged: ${pingsWhileItPinged}, after: ${peer.pings - pingsWhileItPinged}`);
    assert.equal(info.code, 1300);
    assert.equal(info.error?.code, 'CW_ERR_TRANSPORT_IDLE');
    assert.ok(peer.pings - pingsWhileItPinged >= 1, 'it pinged the silent peer before giving up');
    await until(() => peer.frames.some((f) => f.kind === Kind.CLOSE), { on: [[peer.sock, 'frame']], timeoutMs: 5000, what: 'CLOSE to the peer' });
  });

  test('a MediaServer answers a pull reader that pings and sends it no PING', async (t) => {
    // keepaliveMs 400: a dialer of this version pings 400 ms after the last answer, plus up to two
    // ticks (200 ms each): every 400-800 ms. Here every 700 ms: the server, which waits 1200 ms, only
    // answers (by the earlier rule it pinged after 400 ms as well).
    const s = new MediaServer({ host: '127.0.0.1', tcpPort: 0, httpPort: false, udpPort: false, keepaliveMs: 400, deadMs: 6000 });
    await s.start();
    t.after(() => s.stop());
    const peer = await rawPeer(t, s.ports.tcp!);
    peer.sock.write(encodeFrameBuffer({ kind: Kind.HELLO, mediaType: MediaType.audio, sessionKey: 7n, from: 'r1', payload: encodeJson({ role: 'pull' }) }));
    await until(() => peer.frames.some((f) => f.kind === Kind.WELCOME), { on: [[peer.sock, 'frame']], timeoutMs: 10000, what: 'WELCOME' });
    const timer = setInterval(() => peer.sock.write(encodeFrameBuffer({ kind: Kind.PING, mediaType: MediaType.audio, sessionKey: 7n, timestamp: Date.now() })), 700);
    t.after(() => clearInterval(timer));
    await until(() => peer.pongs >= 5 || peer.frames.some((f) => f.kind === Kind.CLOSE), { on: [[peer.sock, 'frame']], timeoutMs: 15000, what: () => `${peer.pongs} PONGs` });
    assert.equal(peer.pongs, 5);
    assert.equal(peer.pings, 0, 'the server sent no PING');
  });
});

describe('keepalive: the clock wheel', () => {
  test('an idle link parked on the wheel is checked again once bytes wait: a peer that reads nothing stalls it', async (t) => {
    const clock = new LinkClock(50);
    // The peer accepts and never reads.
    const held: net.Socket[] = [];
    const server = net.createServer((s) => void held.push(s.pause()));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => (held.forEach((s) => s.destroy()), server.close()));
    const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const link = new StreamLink(sock, { keepaliveMs: 0, deadMs: 0, clock });
    link.stallMs = 300;
    const closed = once(link, 'close', 15000) as Promise<[CloseInfo]>;
    // Let a few ticks pass (a probe on the same clock counts them): the idle link is parked.
    let ticks = 0;
    let ticked!: () => void;
    const probe = { tick: (): void => void (++ticks === 5 && ticked()) };
    await new Promise<void>((r) => ((ticked = r), clock.add(probe)));
    clock.delete(probe);
    assert.equal(link.closed, false);
    // Now give it 32 MiB at once: more than the socket buffers of the two ends take.
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 512; i++) link.send({ kind: Kind.DATA, mediaType: MediaType.data, payload: chunk });
    const [info] = await closed;
    assert.equal(info.code, 1300);
    assert.equal(info.error?.code, 'CW_ERR_TRANSPORT_TIMEOUT');
  });
});
