/**
 * HTTP links that upgrade to camwire's byte stream (docs/protocol.md 6.6): a dialler over HTTP
 * with a direct connection or a CONNECT tunnel asks `GET /camwire/v1/upgrade`; on 101 the link
 * is a stream link on that socket. A path or a server that does not upgrade (nginx, which drops
 * the Upgrade header; an older camwire, which destroys the socket) gives the request-based link,
 * and the role remembers it for that target. `httpUpgrade: 'never'` never asks.
 * A front in the tests relays each connection to the real Receiver and records the first request
 * line of every connection, so the test sees what went over the wire.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Receiver, Sender, type ConnectionEvent, type SenderOptions } from '../../src/index.js';
import { Kind, MediaType } from '../../src/protocol/constants.js';
import { decodeFrame, encodeFrameBuffer } from '../../src/protocol/frame.js';
import { decodeReason } from '../../src/protocol/messages.js';
import { encodeJson } from '../../src/protocol/handshake.js';
import { splice, startNginx, startProxy, tcpFront } from '../helpers/proxy.js';
import { startServer } from '../helpers/server-client.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';
import { fileURLToPath } from 'node:url';
import { once, until, within } from '../helpers/wait.js';

const UPGRADE_LINE = 'GET /camwire/v1/upgrade HTTP/1.1';

interface Front {
  port: number;
  /** The first request line of every connection, in order. */
  lines: string[];
}

/**
 * A TCP front for `target`: records the first line of each connection, then relays it byte for
 * byte; with `dropUpgrade` it destroys a connection whose first request is the upgrade, as a
 * camwire without it does (its WebSocket acceptor destroys unknown upgrade requests); with
 * `silentUpgrade` it never answers one.
 */
async function startFront(t: TestContext, target: number, o: { dropUpgrade?: boolean; silentUpgrade?: boolean } = {}): Promise<Front> {
  const front: Front = { port: 0, lines: [] };
  const tcp = await tcpFront(
    (head) => head.includes('\r\n'),
    (client, head, sockets) => {
      const line = head.toString('latin1', 0, head.indexOf('\r\n'));
      front.lines.push(line);
      if (o.dropUpgrade && line === UPGRADE_LINE) return void client.destroy();
      // Silent: read and ignore whatever comes, answer nothing (until the test ends).
      if (o.silentUpgrade && line === UPGRADE_LINE) return void client.resume();
      splice(client, target, head, sockets);
    },
  );
  front.port = tcp.port;
  t.after(() => tcp.close());
  return front;
}

const upgrades = (lines: string[]): number => lines.filter((l) => l === UPGRADE_LINE).length;
const opens = (lines: string[]): number => lines.filter((l) => /^POST \S*\/camwire\/v1\/open HTTP/.test(l)).length;

/** A push Receiver over HTTP with a file directory, recording what arrives and the transports of its links. */
async function receiver(t: TestContext): Promise<{ rx: Receiver; dir: string; commands: string[]; videos: number[]; transports: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-upgrade-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rx = new Receiver({ protocol: 'http', host: '127.0.0.1', port: 0, fileDir: dir });
  await rx.start();
  t.after(() => rx.stop());
  const r = { rx, dir, commands: [] as string[], videos: [] as number[], transports: [] as string[] };
  rx.on('command', (c) => r.commands.push(c.name));
  rx.on('video', (v) => r.videos.push(v.data.readUInt32BE(0)));
  rx.on('connected', (ev: ConnectionEvent) => r.transports.push(ev.transport));
  return r;
}

/**
 * Pushes a command (acknowledged), then 20 video frames of 64 KiB with a command after each
 * (so each is delivered before the next), then a 1 MiB file; checks that all of it arrived.
 */
async function traffic(t: TestContext, port: number, r: Awaited<ReturnType<typeof receiver>>, o: Partial<SenderOptions>): Promise<void> {
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port, reconnect: false, ...o });
  await tx.start();
  t.after(() => tx.stop());
  await tx.sendCommand({ name: 'first' });
  const frame = Buffer.alloc(64 * 1024, 7);
  for (let i = 0; i < 20; i++) {
    frame.writeUInt32BE(i, 0);
    tx.sendVideoFrame(frame, { imageType: 'jpeg', width: 640, height: 480 });
    await tx.sendCommand({ name: `c${i}` });
  }
  await until(() => r.videos.includes(19), { on: [[r.rx, 'video']], timeoutMs: 10000, what: () => `video frame 19 (got ${r.videos.join(',')})` });
  const file = path.join(r.dir, '..', `upgrade-src-${process.pid}-${Date.now()}.bin`);
  const bytes = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32BE(i, i);
  fs.writeFileSync(file, bytes);
  t.after(() => fs.rmSync(file, { force: true }));
  const [result] = await tx.sendFile(file, { name: 'upgrade.bin' });
  assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(fs.readFileSync(path.join(r.dir, 'upgrade.bin')), bytes);
  assert.deepEqual(r.commands, ['first', ...Array.from({ length: 20 }, (_, i) => `c${i}`)]);
  assert.equal(r.videos.at(-1), 19);
  await tx.stop();
}

test('http upgrade - a direct push upgrades each link to a stream: no request-based open; video, acknowledged commands and a file arrive', async (t) => {
  const r = await receiver(t);
  const front = await startFront(t, r.rx.port);
  await traffic(t, front.port, r, {});
  // One connection per link (command, video, file), each opened by the upgrade.
  assert.equal(upgrades(front.lines), 3, front.lines.join('\n'));
  assert.equal(front.lines.length, 3, `nothing but the upgrades:\n${front.lines.join('\n')}`);
  assert.deepEqual(r.transports, ['http', 'http', 'http'], 'an upgraded link reports transport http');
});

test('http upgrade - through tinyproxy with CONNECT allowed, the links upgrade inside the tunnel', async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const r = await receiver(t);
  // The proxy tunnels to the front, which sees the bytes inside the tunnel.
  const front = await startFront(t, r.rx.port);
  await traffic(t, front.port, r, { proxy: proxy.url });
  assert.equal(upgrades(front.lines), 3, front.lines.join('\n'));
  assert.equal(opens(front.lines), 0, front.lines.join('\n'));
  const proxied = proxy.requests();
  assert.equal(proxied.filter((l) => /: CONNECT \S+ HTTP/.test(l)).length, 3, proxied.join('\n'));
  assert.equal(proxied.filter((l) => /: POST http:/.test(l)).length, 0, proxied.join('\n'));
});

test('http upgrade - a server that destroys the upgrade request (an older camwire): the link falls back to requests, later links skip the upgrade; everything arrives', async (t) => {
  const r = await receiver(t);
  const front = await startFront(t, r.rx.port, { dropUpgrade: true });
  await traffic(t, front.port, r, {});
  // The command lane asked first (its command was acknowledged before anything else was sent);
  // the role remembered the refusal, so the video and file lanes went straight to requests.
  assert.equal(upgrades(front.lines), 1, front.lines.join('\n'));
  assert.equal(opens(front.lines), 3, front.lines.join('\n'));
  assert.deepEqual(r.transports, ['http', 'http', 'http']);
});

test('http upgrade - a path that never answers the upgrade: the link falls back after min(3 s, half the connect timeout) and delivers; the next link does not ask', async (t) => {
  const r = await receiver(t);
  const front = await startFront(t, r.rx.port, { silentUpgrade: true });
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: front.port, reconnect: false, connectTimeoutMs: 2000 });
  await tx.start();
  t.after(() => tx.stop());
  await tx.sendCommand({ name: 'late' });
  tx.sendVideoFrame(Buffer.alloc(1000, 1), { imageType: 'jpeg', width: 1, height: 1 });
  await tx.sendCommand({ name: 'later' });
  await until(() => r.videos.length === 1, { on: [[r.rx, 'video']], timeoutMs: 10000, what: 'the video frame after the silent upgrade' });
  assert.deepEqual(r.commands, ['late', 'later']);
  assert.equal(upgrades(front.lines), 1, front.lines.join('\n'));
  assert.equal(opens(front.lines), 2, front.lines.join('\n'));
});

test('http upgrade - behind nginx, which does not pass the Upgrade header (405 from the server): requests, and everything arrives', async (t) => {
  const r = await receiver(t);
  const nginx = await startNginx(r.rx.port, { buffering: false });
  t.after(() => nginx.stop());
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: nginx.port, reconnect: false });
  await tx.start();
  t.after(() => tx.stop());
  for (let i = 0; i < 10; i++) await tx.sendCommand({ name: `n${i}` });
  tx.sendVideoFrame(Buffer.alloc(1000, 1), { imageType: 'jpeg', width: 1, height: 1 });
  await tx.sendCommand({ name: 'last' });
  await until(() => r.videos.length === 1, { on: [[r.rx, 'video']], timeoutMs: 10000, what: 'the video frame behind nginx' });
  assert.deepEqual(r.commands, [...Array.from({ length: 10 }, (_, i) => `n${i}`), 'last']);
  await tx.stop();
  let lines: string[] = [];
  await until(() => (lines = nginx.requests()).filter((l) => l.startsWith('POST /camwire/v1/open')).length === 2, {
    checkAfterMs: [50, 200, 500, 1000, 2000, 4000],
    timeoutMs: 5000,
    what: () => `nginx to log two opens:\n${lines.join('\n')}`,
  });
  assert.equal(lines.filter((l) => l === 'GET /camwire/v1/upgrade').length, 1, lines.join('\n'));
});

test("http upgrade - httpUpgrade 'never' never asks: request-based links", async (t) => {
  const r = await receiver(t);
  const front = await startFront(t, r.rx.port);
  await traffic(t, front.port, r, { httpUpgrade: 'never' });
  assert.equal(upgrades(front.lines), 0, front.lines.join('\n'));
  assert.equal(opens(front.lines), 3, front.lines.join('\n'));
});

test("http upgrade - absolute-form requests to a proxy (proxyTunnel 'never') never ask", async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const r = await receiver(t);
  const front = await startFront(t, r.rx.port);
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: front.port, proxy: proxy.url, proxyTunnel: 'never', reconnect: false });
  await tx.start();
  t.after(() => tx.stop());
  await tx.sendCommand({ name: 'plain' });
  assert.deepEqual(r.commands, ['plain']);
  assert.equal(upgrades(front.lines), 0, front.lines.join('\n'));
  assert.ok(opens(front.lines) >= 1, front.lines.join('\n'));
});

test('http upgrade - pull over HTTP: the Receiver\'s channels upgrade; commands arrive in order', async (t) => {
  const tx = new Sender({ protocol: 'http', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'cam' });
  await tx.start();
  t.after(() => tx.stop());
  const front = await startFront(t, tx.port);
  const rx = new Receiver({ protocol: 'http', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: front.port, clientId: 'cam' }], receiveMediaTypes: ['command', 'video'], reconnect: false });
  const up = once<[ConnectionEvent]>(rx, 'sessionConnected', 10000, () => true, 'the pull session over the upgraded channels');
  await rx.start();
  t.after(() => rx.stop());
  assert.equal((await up)[0].transport, 'http');
  const got: string[] = [];
  rx.on('command', (c) => got.push(c.name));
  for (let i = 0; i < 10; i++) await tx.sendCommand({ name: `p${i}` });
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `p${i}`));
  assert.equal(upgrades(front.lines), 2, front.lines.join('\n'));
  assert.equal(front.lines.length, 2, front.lines.join('\n'));
});

test('http upgrade - through a MediaServer\'s HTTP port: the pushing Sender\'s and the pulling Receiver\'s links upgrade; video and commands are relayed', async (t) => {
  const server = await startServer(t, { tcpPort: 0, httpPort: 0, udpPort: false });
  const front = await startFront(t, server.ports.http);
  const rx = new Receiver({ protocol: 'http', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: front.port }], clientId: 'desk', receiveMediaTypes: ['video', 'command'], reconnect: false });
  const up = once<[ConnectionEvent]>(rx, 'sessionConnected', 10000, () => true, 'the desk session through the server');
  await rx.start();
  t.after(() => rx.stop());
  await up;
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: front.port, clientId: 'cam', to: 'desk', reconnect: false });
  await tx.start();
  t.after(() => tx.stop());
  const got: string[] = [];
  const videos: number[] = [];
  rx.on('command', (c) => got.push(c.name));
  rx.on('video', (v) => videos.push(v.data.readUInt32BE(0)));
  const frame = Buffer.alloc(64 * 1024, 3);
  for (let i = 0; i < 5; i++) {
    frame.writeUInt32BE(i, 0);
    tx.sendVideoFrame(frame, { imageType: 'jpeg', width: 640, height: 480 });
    await tx.sendCommand({ name: `m${i}` });
  }
  await until(() => videos.includes(4), { on: [[rx, 'video']], timeoutMs: 10000, what: () => `the 5th relayed video frame (got ${videos.join(',')})` });
  assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
  // The receiver's two channels and the sender's two lanes.
  assert.equal(upgrades(front.lines), 4, front.lines.join('\n'));
  assert.equal(front.lines.length, 4, front.lines.join('\n'));
});

/** A raw client of `port` that asks for the upgrade; resolves once the 101 came, with what followed it and how the socket ended. */
async function rawUpgrade(t: TestContext, port: number): Promise<{ sock: net.Socket; answer: string; closed: Promise<string> }> {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  let answer = '';
  let gotHead!: () => void;
  const head = new Promise<void>((resolve) => (gotHead = resolve));
  sock.on('data', (d: Buffer) => {
    answer += d.toString('latin1');
    if (answer.includes('\r\n\r\n')) gotHead();
  });
  sock.on('error', () => {});
  const closed = new Promise<string>((resolve) => sock.on('close', () => resolve(answer)));
  sock.write(`GET /camwire/v1/upgrade HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: upgrade\r\nupgrade: camwire/1\r\n\r\n`);
  await within(Promise.race([head, closed]), 5000, 'an answer to the upgrade request (or the connection closing)');
  return { sock, answer, closed };
}

test('http upgrade - the server side: garbage after the 101 closes that connection (CLOSE 1100, protocolError); no HELLO within connectTimeoutMs closes it (CW_ERR_PROTOCOL_HANDSHAKE_TIMEOUT); a HELLO in the same write as the request is answered', async (t) => {
  const rx = new Receiver({ protocol: 'http', host: '127.0.0.1', port: 0, connectTimeoutMs: 400 });
  await rx.start();
  t.after(() => rx.stop());
  const bad: string[] = [];
  rx.on('protocolError', (e) => bad.push(e.code));

  const garbage = await rawUpgrade(t, rx.port);
  assert.match(garbage.answer, /^HTTP\/1\.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: camwire\/1\r\n\r\n/);
  garbage.sock.write('this is not a camwire frame, not at all');
  const afterGarbage = await within(garbage.closed, 5000, 'the server to close the connection that sent garbage');
  // The CLOSE frame behind the 101: magic CW, version 1, kind 8.
  const frames = Buffer.from(afterGarbage.slice(afterGarbage.indexOf('\r\n\r\n') + 4), 'latin1');
  const close = decodeFrame(frames);
  assert.equal(close.kind, Kind.CLOSE);
  assert.equal(decodeReason(close.payload).code, 1100);

  const silent = await rawUpgrade(t, rx.port);
  await within(silent.closed, 5000, 'the server to close an upgraded connection that sent no HELLO within connectTimeoutMs');
  await until(() => bad.length === 2, { on: [[rx, 'protocolError']], timeoutMs: 5000, what: () => `two protocolErrors (got ${bad.join(', ')})` });
  assert.deepEqual(bad, ['CW_ERR_PROTOCOL_BAD_MAGIC', 'CW_ERR_PROTOCOL_HANDSHAKE_TIMEOUT']);

  // Request and HELLO in one write: the bytes behind the request are the link's first.
  const sock = net.connect(rx.port, '127.0.0.1');
  t.after(() => sock.destroy());
  const hello = encodeFrameBuffer({ kind: Kind.HELLO, mediaType: MediaType.command, sessionKey: 5n, payload: encodeJson({ role: 'push' }) });
  let got = Buffer.alloc(0);
  const welcome = new Promise<void>((resolve) =>
    sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const at = got.indexOf('\r\n\r\n');
      if (at >= 0 && got.length >= at + 4 + 36) resolve();
    }),
  );
  sock.write(Buffer.concat([Buffer.from(`GET /camwire/v1/upgrade HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: camwire/1\r\n\r\n`, 'latin1'), hello]));
  await within(welcome, 5000, 'the WELCOME behind the 101');
  const first = got.subarray(got.indexOf('\r\n\r\n') + 4);
  assert.equal(first[3], Kind.WELCOME);
});

test('http upgrade - HTTPS: the upgrade runs inside TLS, one connection per link (requests take more); commands arrive', async (t) => {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/tls');
  const server = { cert: fs.readFileSync(path.join(dir, 'server.crt')), key: fs.readFileSync(path.join(dir, 'server.key')) };
  const client = { ca: fs.readFileSync(path.join(dir, 'ca.crt')) };
  const rx = new Receiver({ protocol: 'http', host: '127.0.0.1', port: 0, tls: server });
  await rx.start();
  t.after(() => rx.stop());
  const got: string[] = [];
  rx.on('command', (c) => got.push(c.name));
  const connections = async (o: Partial<SenderOptions>): Promise<number> => {
    const relay = await startTcpRelay(rx.port);
    t.after(() => relay.close());
    const tx = new Sender({ protocol: 'http', host: 'localhost', port: relay.port, tls: client, reconnect: false, ...o });
    await tx.start();
    t.after(() => tx.stop());
    for (let i = 0; i < 5; i++) {
      tx.sendVideoFrame(Buffer.alloc(1000, i), { imageType: 'jpeg', width: 1, height: 1 });
      await tx.sendCommand({ name: `s${i}` });
    }
    await tx.stop();
    return relay.pairs.length;
  };
  assert.equal(await connections({}), 2, 'the command and video links, one upgraded connection each');
  assert.deepEqual(got, ['s0', 's1', 's2', 's3', 's4']);
  assert.ok((await connections({ httpUpgrade: 'never' })) > 2, 'request-based links use more connections (a poll beside the uploads)');
});

test('http upgrade - an upgraded connection is no longer an HTTP request: the port\'s request time limits (200-300 ms here) do not cut it', async (t) => {
  const rx = new Receiver({ protocol: 'http', host: '127.0.0.1', port: 0, http: { headersTimeoutMs: 200, bodyIdleTimeoutMs: 200, requestTimeoutMs: 300, keepAliveTimeoutMs: 200 } });
  await rx.start();
  t.after(() => rx.stop());
  const bad: string[] = [];
  rx.on('protocolError', (e) => bad.push(e.message));
  const front = await startFront(t, rx.port);
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: front.port, reconnect: false });
  const lost: string[] = [];
  tx.on('disconnect', (ev) => lost.push(ev.error?.message ?? 'closed'));
  await tx.start();
  t.after(() => tx.stop());
  // Eight commands 250 ms apart: the link lives for about 2 s, several times each limit.
  for (let i = 0; i < 8; i++) {
    await tx.sendCommand({ name: `slow${i}` });
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(lost, []);
  assert.deepEqual(bad, []);
  assert.deepEqual(front.lines, [UPGRADE_LINE], 'one upgraded connection carried them all');
});

test('http upgrade - httpUpgrade is checked in the constructor', () => {
  const bad = (o: Partial<SenderOptions>, message: RegExp): void =>
    assert.throws(() => new Sender({ protocol: 'http', host: '127.0.0.1', port: 1, ...o }), { name: 'ConfigError', code: 'CW_ERR_CONFIG_INVALID', message });
  bad({ httpUpgrade: 'always' as never }, /httpUpgrade.*must be auto or never/);
  bad({ protocol: 'tcp', httpUpgrade: 'never' }, /httpUpgrade.*only applies to protocol http/);
  assert.doesNotThrow(() => new Receiver({ protocol: 'http', host: '127.0.0.1', port: 0, httpUpgrade: 'never' }));
});
