/**
 * Liveness per peer session (docs/protocol.md 3.4): the channels of one pull session share one
 * keepalive and dead timer, on the MediaServer (accepting side) and on the Receiver (dialing
 * side). Real sockets on 127.0.0.1; the peers are bare sockets speaking the protocol, or a real
 * Receiver behind a relay that can go silent without closing anything.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { MediaServer, Receiver, Sender } from '../../src/index.js';
import type { ConnectionEvent } from '../../src/events.js';
import { Kind, MEDIA_TYPES, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer, type Frame } from '../../src/protocol/frame.js';
import { encodeJson } from '../../src/protocol/handshake.js';
import { FrameParser } from '../../src/protocol/parser.js';
import { until } from '../helpers/wait.js';

const HOST = '127.0.0.1';

async function server(t: TestContext, o: { keepaliveMs: number; deadMs: number }): Promise<MediaServer> {
  const s = new MediaServer({ host: HOST, tcpPort: 0, httpPort: false, udpPort: false, ...o });
  await s.start();
  t.after(() => s.stop());
  return s;
}

interface Channel {
  type: number;
  sock: net.Socket;
  frames: Frame[];
  /** Answers PINGs with PONGs while true. */
  answer: boolean;
  pings: number;
  pongs: number;
  closed: boolean;
}

/** Opens the 5 pull channels of one session (client `id`, session key `key`) as bare sockets; resolves once all are welcomed. */
async function session(t: TestContext, port: number, id: string, key: bigint): Promise<Channel[]> {
  const all: Channel[] = [];
  for (const name of MEDIA_TYPES) {
    const type = MediaType[name];
    const sock = net.connect(port, HOST);
    t.after(() => sock.destroy());
    const ch: Channel = { type, sock, frames: [], answer: true, pings: 0, pongs: 0, closed: false };
    const parser = new FrameParser({
      onFrame: (f) => {
        ch.frames.push(f);
        if (f.kind === Kind.PING) {
          ch.pings++;
          if (ch.answer) sock.write(encodeFrameBuffer({ kind: Kind.PONG, mediaType: type, sessionKey: key, timestamp: f.timestamp }));
        } else if (f.kind === Kind.PONG) ch.pongs++;
        else if (f.kind === Kind.CLOSE) ch.closed = true;
        sock.emit('frame', f);
      },
      onError: () => sock.destroy(),
    });
    sock.on('data', (d) => parser.push(d));
    sock.on('close', () => {
      ch.closed = true;
      sock.emit('frame');
    });
    await new Promise((r) => sock.once('connect', r));
    sock.write(encodeFrameBuffer({ kind: Kind.HELLO, mediaType: type, sessionKey: key, from: id, payload: encodeJson({ role: 'pull' }) }));
    all.push(ch);
  }
  await until(() => all.every((c) => c.frames.some((f) => f.kind === Kind.WELCOME)), { on: all.map((c) => [c.sock, 'frame']), what: 'five WELCOMEs' });
  return all;
}

const ping = (ch: Channel, key: bigint): boolean => ch.sock.write(encodeFrameBuffer({ kind: Kind.PING, mediaType: ch.type, sessionKey: key, timestamp: Date.now() }));

describe('liveness per session: the MediaServer', () => {
  test('a session whose PINGs all go on one channel keeps its other four channels, which hear nothing and answer nothing', async (t) => {
    const s = await server(t, { keepaliveMs: 300, deadMs: 800 });
    const chs = await session(t, s.ports.tcp, 'r1', 11n);
    // The four quiet channels answer nothing: with a dead timer per channel they would close (1300) after 800 ms.
    // The test pings every 100 ms, a third of keepaliveMs, so that a late timer on a loaded machine is not silence.
    for (const c of chs.slice(1)) c.answer = false;
    const timer = setInterval(() => ping(chs[0], 11n), 100);
    t.after(() => clearInterval(timer));
    // 15 answered PINGs, one per 100 ms or more: longer than the dead timer.
    await until(() => chs[0].pongs >= 15 || chs.some((c) => c.closed), { on: chs.map((c) => [c.sock, 'frame']), timeoutMs: 20000, what: () => `${chs[0].pongs} PONGs` });
    assert.deepEqual(chs.map((c) => c.closed), [false, false, false, false, false]);
    assert.equal(s.stats().links, 5);
    assert.deepEqual(chs.map((c) => c.pings), [0, 0, 0, 0, 0], 'the server heard the session: it sent no PING');
  });

  test('a peer that pings every channel (earlier versions) is answered on each, and gets no PING', async (t) => {
    const s = await server(t, { keepaliveMs: 300, deadMs: 800 });
    const chs = await session(t, s.ports.tcp, 'r1', 12n);
    const timer = setInterval(() => chs.forEach((c) => ping(c, 12n)), 100);
    t.after(() => clearInterval(timer));
    await until(() => chs.every((c) => c.pongs >= 10) || chs.some((c) => c.closed), { on: chs.map((c) => [c.sock, 'frame']), timeoutMs: 20000, what: () => `PONGs ${chs.map((c) => c.pongs)}` });
    assert.deepEqual(chs.map((c) => c.closed), [false, false, false, false, false]);
    assert.deepEqual(chs.map((c) => c.pings), [0, 0, 0, 0, 0]);
  });

  test('a silent session: the server pings one channel at a time, in turn; when the one it pinged closes, the others take over', async (t) => {
    const s = await server(t, { keepaliveMs: 100, deadMs: 800 });
    const chs = await session(t, s.ports.tcp, 'r1', 13n);
    const order: number[] = [];
    for (const [i, c] of chs.entries()) c.sock.on('frame', (f?: Frame) => f?.kind === Kind.PING && order.push(i));
    await until(() => order.length >= 1, { on: chs.map((c) => [c.sock, 'frame']), timeoutMs: 20000, what: 'a first PING' });
    const first = order[0];
    chs[first].sock.end();
    // Twelve more answered PINGs, at least 100 ms apart: more than the dead timer, for the four left.
    await until(() => order.length >= 13 || chs.some((c, i) => i !== first && c.closed), { on: chs.map((c) => [c.sock, 'frame']), timeoutMs: 20000, what: () => `PINGs on ${order}` });
    const after = order.slice(1);
    t.diagnostic(`PINGs on channels ${order}`);
    assert.ok(!after.includes(first), 'no PING on the closed channel');
    assert.deepEqual(new Set(after.slice(0, 4)).size, 4, 'each of the four in turn');
    assert.deepEqual(chs.map((c, i) => i === first || !c.closed), [true, true, true, true, true]);
    await until(() => s.stats().links === 4, { on: chs.map((c) => [c.sock, 'frame']), checkAfterMs: [100, 500, 2000], what: () => `${s.stats().links} links` });
  });
});

describe('liveness per session: a pull Sender', () => {
  test('a receiver session whose PINGs all go on one channel keeps its other four channels', async (t) => {
    const tx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: HOST, port: 0, clientId: 'cam', keepaliveMs: 300, deadMs: 800 });
    await tx.start();
    t.after(() => tx.stop());
    const chs = await session(t, tx.port, 'r1', 21n);
    for (const c of chs.slice(1)) c.answer = false;
    const timer = setInterval(() => ping(chs[0], 21n), 100);
    t.after(() => clearInterval(timer));
    await until(() => chs[0].pongs >= 15 || chs.some((c) => c.closed), { on: chs.map((c) => [c.sock, 'frame']), timeoutMs: 20000, what: () => `${chs[0].pongs} PONGs` });
    assert.deepEqual(chs.map((c) => c.closed), [false, false, false, false, false]);
    assert.equal(tx.stats.channels, 5);
    assert.deepEqual(chs.map((c) => c.pings), [0, 0, 0, 0, 0]);
  });
});

/** A relay between a Receiver and a server that can go silent: it keeps reading both sides and forwards nothing, counting the PINGs it swallows. */
async function blackholeRelay(t: TestContext, target: number) {
  const r = { port: 0, cut: false, up: 0, down: 0, conns: 0 };
  const count = (dir: 'up' | 'down'): FrameParser =>
    new FrameParser({ onFrame: (f) => r.cut && f.kind === Kind.PING && r[dir]++, onError: () => undefined });
  const socks: net.Socket[] = [];
  const srv = net.createServer((a) => {
    r.conns++;
    const b = net.connect(target, HOST);
    socks.push(a, b);
    const pu = count('up');
    const pd = count('down');
    a.on('data', (d) => (pu.push(d), r.cut || b.write(d)));
    b.on('data', (d) => (pd.push(d), r.cut || a.write(d)));
    // Silent means silent: once cut, one side closing is not passed on to the other.
    a.on('error', () => r.cut || b.destroy()).on('close', () => r.cut || b.destroy());
    b.on('error', () => r.cut || a.destroy()).on('close', () => r.cut || a.destroy());
  });
  await new Promise<void>((res) => srv.listen(0, HOST, res));
  t.after(() => (socks.forEach((s) => s.destroy()), srv.close()));
  r.port = (srv.address() as net.AddressInfo).port;
  return r;
}

describe('liveness per session: the Receiver', () => {
  test('a peer gone silent without closing: both sides close all five channels 1300, with one PING per period in all, not one per channel', async (t) => {
    const timers = { keepaliveMs: 100, deadMs: 800 };
    const s = await server(t, timers);
    const relay = await blackholeRelay(t, s.ports.tcp);
    const rx = new Receiver({ clientId: 'r1', server: `${HOST}:${relay.port}`, reconnect: false, ...timers });
    t.after(() => rx.stop());
    const serverGone: ConnectionEvent[] = [];
    s.on('disconnect', (ev) => serverGone.push(ev));
    const rxGone: ConnectionEvent[] = [];
    rx.on('disconnect', (ev) => rxGone.push(ev));
    let ended: ConnectionEvent | undefined;
    rx.on('sessionDisconnected', (ev) => (ended = ev));
    await rx.start();
    await rx.whenConnected();
    assert.equal(relay.conns, 5);
    relay.cut = true;
    await until(() => serverGone.length === 5 && ended !== undefined, { on: [[s, 'disconnect'], [rx, 'sessionDisconnected']], timeoutMs: 20000, what: () => `server disconnects ${serverGone.length}, receiver session ended ${ended !== undefined}` });
    t.diagnostic(`PINGs swallowed: receiver -> server ${relay.up}, server -> receiver ${relay.down}`);
    assert.deepEqual(serverGone.map((e) => e.error?.code), Array(5).fill('CW_ERR_TRANSPORT_IDLE'));
    assert.equal(ended!.error?.code, 'CW_ERR_TRANSPORT_IDLE');
    assert.equal(rxGone.length, 5);
    // PINGs come at least keepaliveMs apart, and only while the silence is shorter than deadMs
    // (plus one tick of the stamp of the last arrival): at most deadMs / keepaliveMs + 1 per session.
    // A timer per channel would send about five times that.
    assert.ok(relay.up >= 1 && relay.up <= 10, `receiver PINGs during the silence: ${relay.up}`);
    assert.ok(relay.down <= 10, `server PINGs during the silence: ${relay.down}`);
  });
});
