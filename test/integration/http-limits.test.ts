/**
 * Time limits of the HTTP listeners (docs/limits.md), on a MediaServer's HTTP port and on a push
 * Receiver's HTTP port, with test-shortened limits. Each attack comes from a raw socket that
 * stalls in one phase of a request: the body (Content-Length or a huge chunk), the headers, an
 * idle keep-alive connection, a body that trickles past the whole-request limit, a WebSocket
 * upgrade whose headers never end. Each connection must close within its limit (plus slack for
 * a loaded machine, never before it), with a `408` where one can be sent and one
 * CW_ERR_TRANSPORT_TIMEOUT protocolError (none for an idle keep-alive socket), while a
 * well-behaved HTTP client on the same port (long polls longer than every limit, uploads)
 * keeps working without a disconnect. The MediaServer's ingest route streams: a slow but steady
 * upload outlives requestTimeoutMs, a stalled one ends. And a WebSocket peer that ignores the
 * close handshake after bad input is cut within about a second.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  ErrorCode,
  MediaServer,
  Receiver,
  Sender,
  type CamwireError,
  type CommandMessage,
  type ConnectionEvent,
  type HttpLimits,
  type PeerInfo,
} from '../../src/index.js';
import { startClient, startServer } from '../helpers/server-client.js';
import { once, until, within } from '../helpers/wait.js';

const HOST = '127.0.0.1';
const LIMITS: HttpLimits = { headersTimeoutMs: 500, bodyIdleTimeoutMs: 500, requestTimeoutMs: 1200, keepAliveTimeoutMs: 500 };
/** Long polls of the good clients wait longer than every limit above. */
const POLL_MS = 3000;
/** How late after its limit a connection may close on a busy machine. */
const SLACK_MS = 1500;
/** A limit must not fire this much before its time (timers and clocks differ by a few ms). */
const EARLY_MS = 50;

// ---------------------------------------------------------------- raw sockets

interface Raw {
  sock: net.Socket;
  /** Local port: the peer's remotePort in the listener's reports. */
  port: number;
  /** performance.now() before connecting: the system may give this port to a later socket, and reports older than this are another socket's. */
  openedAt: number;
  /** Everything the server sent so far. */
  text(): string;
  bytes(): Buffer;
  /** Resolves with performance.now() when the socket closes; never rejects. */
  closed: Promise<number>;
  isClosed(): boolean;
}

async function connect(t: TestContext, port: number): Promise<Raw> {
  const openedAt = performance.now();
  const sock = net.connect(port, HOST);
  const chunks: Buffer[] = [];
  let isClosed = false;
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    sock.once('close', () => {
      isClosed = true;
      resolve(performance.now());
    }),
  );
  t.after(() => sock.destroy());
  await once(sock, 'connect', 5000, () => true, 'raw connect');
  return {
    sock,
    port: sock.localPort!,
    openedAt,
    text: () => Buffer.concat(chunks).toString('latin1'),
    bytes: () => Buffer.concat(chunks),
    closed,
    isClosed: () => isClosed,
  };
}

/** Writes `data` and resolves with the time it was handed to the kernel. */
function send(r: Raw, data: string | Buffer): Promise<number> {
  return new Promise((resolve, reject) => r.sock.write(data, (err) => (err ? reject(err) : resolve(performance.now()))));
}

/**
 * Waits for the server to close `r`; checks it happened at `limitMs` after `from` (not before,
 * not much after; `graceMs` more is allowed where Node adds its own).
 */
async function closedAt(r: Raw, from: number, limitMs: number, what: string, graceMs = 0): Promise<number> {
  const at = await within(r.closed, limitMs + graceMs + SLACK_MS, `${what}: the server did not close the connection`);
  const took = at - from;
  assert.ok(took >= limitMs - EARLY_MS, `${what}: closed after ${took.toFixed(0)} ms, before its limit of ${limitMs} ms`);
  return took;
}

// ---------------------------------------------------------------- listeners under test

interface Env {
  name: string;
  port: number;
  /** protocolError events of the listening role. */
  errors: Array<{ err: CamwireError; peer: PeerInfo; at: number }>;
  /** Disconnects and connect errors of the good client. */
  trouble: string[];
  /** One command over the good client (uploaded by HTTP POST, delivered on a long poll). */
  round(name: string): Promise<void>;
}

function watchTrouble(out: string[], who: string, e: EventEmitter<any>, names: string[]): void {
  for (const n of names) (e as EventEmitter).on(n, (ev: ConnectionEvent) => out.push(`${who} ${n}: ${ev.error?.code ?? ''} ${ev.error?.message ?? ''}`));
}

async function commandRound(tx: Sender, rx: Receiver, name: string, to?: string): Promise<void> {
  const got = once<[CommandMessage]>(rx, 'command', 10000, (c) => c.name === name, `good command ${name}`);
  await Promise.all([got, within(tx.sendCommand({ name }, to ? { to } : {}), 10000, `good sendCommand ${name} not acknowledged`)]);
}

/** A MediaServer with short HTTP limits; good clients push and pull over HTTP. */
async function serverEnv(t: TestContext): Promise<Env & { server: MediaServer }> {
  const server = await startServer(t, { tcpPort: false, udpPort: false, http: LIMITS });
  const errors: Env['errors'] = [];
  server.on('protocolError', (err, peer) => errors.push({ err, peer, at: performance.now() }));
  // The good clients use requests (not the upgrade to a byte stream, docs/protocol.md 6.6): their polls and streams must pass the limits.
  const opts = { push: 'http', pull: 'http', tx: { pollMs: POLL_MS, idleTimeoutMs: 600000, httpUpgrade: 'never' }, rx: { pollMs: POLL_MS, httpUpgrade: 'never' } } as const;
  const a = await startClient(t, server, 'good-a', opts);
  const b = await startClient(t, server, 'good-b', opts);
  const trouble: string[] = [];
  for (const c of [a, b]) {
    watchTrouble(trouble, `${c.id} sender`, c.tx, ['connectError', 'disconnect']);
    watchTrouble(trouble, `${c.id} receiver`, c.rx, ['connectError', 'disconnect', 'sessionDisconnected']);
  }
  return { name: 'MediaServer', server, port: server.ports.http, errors, trouble, round: (name) => commandRound(a.tx, b.rx, name, 'good-b') };
}

/** A push Receiver listening on HTTP with short limits, and a good push Sender. */
async function receiverEnv(t: TestContext): Promise<Env & { rx: Receiver }> {
  const rx = new Receiver({ protocol: 'http', host: HOST, port: 0, clientId: 'rx', http: LIMITS });
  const errors: Env['errors'] = [];
  rx.on('protocolError', (err, peer) => errors.push({ err, peer, at: performance.now() }));
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'http', host: HOST, port: rx.port, clientId: 'good-tx', pollMs: POLL_MS, idleTimeoutMs: 600000, reconnect: false, httpUpgrade: 'never' });
  const trouble: string[] = [];
  watchTrouble(trouble, 'good sender', tx, ['connectError', 'disconnect']);
  watchTrouble(trouble, 'receiver', rx, ['disconnect']);
  await tx.start();
  t.after(() => tx.stop());
  await commandRound(tx, rx, 'connect');
  return { name: 'push Receiver', rx, port: rx.port, errors, trouble, round: (name) => commandRound(tx, rx, name) };
}

/** The timeout reports about one raw connection. */
function reportsFor(env: Env, r: Raw): string[] {
  return env.errors.filter((e) => e.peer.remotePort === r.port && e.at >= r.openedAt).map((e) => e.err.code);
}

// ---------------------------------------------------------------- attacks

const POST_HEAD = (path: string, extra: string): string => `POST ${path} HTTP/1.1\r\nHost: camwire\r\nContent-Type: application/x-camwire\r\n${extra}\r\n`;

/**
 * Content-Length 1000, 3 bytes, then nothing: ends at bodyIdleTimeoutMs, with a 408 unless the
 * route answered before reading the body (an unknown link: 404 at once).
 */
async function contentLengthStall(t: TestContext, env: Env, path: string, status = 408): Promise<void> {
  const r = await connect(t, env.port);
  const from = await send(r, `${POST_HEAD(path, 'Content-Length: 1000\r\n')}abc`);
  await closedAt(r, from, LIMITS.bodyIdleTimeoutMs, `${env.name} ${path}: Content-Length stall`);
  assert.match(r.text(), new RegExp(`^HTTP/1\\.1 ${status} `), `${env.name} ${path}: Content-Length stall is answered ${status}`);
  assert.equal(r.text().match(/HTTP\/1\.1 /g)?.length, 1, 'one answer only');
  assert.deepEqual(reportsFor(env, r), [ErrorCode.TRANSPORT_TIMEOUT], `${env.name} ${path}: one timeout report`);
}

/** A chunk of 2^64-1 bytes announced, 3 sent: ends at bodyIdleTimeoutMs with a 408. */
async function chunkedStall(t: TestContext, env: Env, path: string): Promise<void> {
  const r = await connect(t, env.port);
  const from = await send(r, `${POST_HEAD(path, 'Transfer-Encoding: chunked\r\n')}FFFFFFFFFFFFFFFF\r\nabc`);
  await closedAt(r, from, LIMITS.bodyIdleTimeoutMs, `${env.name} ${path}: chunked stall`);
  assert.match(r.text(), /^HTTP\/1\.1 408 /, `${env.name} ${path}: chunked stall is answered 408`);
  assert.deepEqual(reportsFor(env, r), [ErrorCode.TRANSPORT_TIMEOUT], `${env.name} ${path}: one timeout report`);
}

/** A request line cut in the middle: ends at headersTimeoutMs with a 408. */
async function headersSlowloris(t: TestContext, env: Env, head: string, what: string): Promise<void> {
  const r = await connect(t, env.port);
  const from = await send(r, head);
  await closedAt(r, from, LIMITS.headersTimeoutMs, `${env.name}: ${what}`);
  assert.match(r.text(), /^HTTP\/1\.1 408 /, `${env.name}: ${what} is answered 408`);
  assert.deepEqual(reportsFor(env, r), [ErrorCode.TRANSPORT_TIMEOUT], `${env.name}: ${what}: one timeout report`);
}

/** One whole request, answered, then silence: closed at keepAliveTimeoutMs, quietly. */
async function idleKeepAlive(t: TestContext, env: Env): Promise<void> {
  const r = await connect(t, env.port);
  await send(r, 'GET /no-such-path HTTP/1.1\r\nHost: camwire\r\n\r\n');
  await until(() => /\r\n\r\n/.test(r.text()) && r.text().endsWith('\n'), { on: [[r.sock, 'data']], timeoutMs: 5000, what: 'the 404 answer' });
  const from = performance.now();
  assert.match(r.text(), /^HTTP\/1\.1 404 /);
  assert.doesNotMatch(r.text(), /connection: close/i, 'the answer keeps the connection alive');
  // Node 20 closes 1 s after the keep-alive time it announces (so that clients close first).
  await closedAt(r, from, LIMITS.keepAliveTimeoutMs, `${env.name}: idle keep-alive socket`, 1000);
  assert.deepEqual(reportsFor(env, r), [], `${env.name}: an idle keep-alive socket is not bad input`);
}

/** Sends one byte every 100 ms until stopped or closed; returns the stop function. */
function trickle(r: Raw, byte: () => string): () => void {
  const timer = setInterval(() => {
    if (r.isClosed() || r.sock.destroyed) clearInterval(timer);
    else r.sock.write(byte());
  }, 100);
  return () => clearInterval(timer);
}

/** A body that keeps coming, a byte every 100 ms, on a non-streaming route: ends at requestTimeoutMs. */
async function slowBody(t: TestContext, env: Env, path: string): Promise<void> {
  const r = await connect(t, env.port);
  const from = await send(r, POST_HEAD(path, 'Content-Length: 100000\r\n'));
  const stop = trickle(r, () => 'x');
  try {
    await closedAt(r, from, LIMITS.requestTimeoutMs, `${env.name} ${path}: steady trickle`);
  } finally {
    stop();
  }
  assert.match(r.text(), /^HTTP\/1\.1 408 /, `${env.name} ${path}: trickle is answered 408`);
  assert.deepEqual(reportsFor(env, r), [ErrorCode.TRANSPORT_TIMEOUT]);
}

/** Every attack at once, while the good client exchanges commands before, during and after. */
async function attackAll(t: TestContext, env: Env, extra: Array<() => Promise<void>> = []): Promise<void> {
  await env.round('before');
  const during = env.round('during');
  await Promise.all([
    contentLengthStall(t, env, '/camwire/v1/open'),
    contentLengthStall(t, env, '/camwire/v1/links/AAAAAAAAAAAAAAAAAAAAAAAA', 404),
    chunkedStall(t, env, '/camwire/v1/open'),
    headersSlowloris(t, env, 'POST /camwire/v1/op', 'a request line cut short'),
    headersSlowloris(t, env, 'POST /camwire/v1/open HTTP/1.1\r\nHost: camwire\r\nContent-Le', 'headers cut short'),
    headersSlowloris(t, env, 'GET /camwire/v1/ws HTTP/1.1\r\nHost: camwire\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n', 'a WebSocket upgrade whose headers never end'),
    idleKeepAlive(t, env),
    slowBody(t, env, '/camwire/v1/open'),
    ...extra.map((f) => f()),
    during,
  ]);
  // The scenario itself: no traffic for longer than every limit, so the good client's long
  // polls wait through all of them (they are answered within POLL_MS, and must not be cut).
  const quiet = performance.now();
  await new Promise<void>((resolve) => setTimeout(resolve, LIMITS.requestTimeoutMs + 300));
  assert.ok(performance.now() - quiet < POLL_MS, 'the quiet time fits in one long poll');
  await env.round('after');
  assert.deepEqual(env.trouble, [], `${env.name}: the good client had trouble`);
  const others = env.errors.filter((e) => e.err.code !== ErrorCode.TRANSPORT_TIMEOUT);
  assert.deepEqual(others.map((e) => `${e.err.code} ${e.err.message}`), [], `${env.name}: only timeouts were reported`);
}

// ---------------------------------------------------------------- WebSocket

/** Unmasked server frames in `b` (after the 101 answer): their opcodes. */
function wsOpcodes(b: Buffer): number[] {
  const ops: number[] = [];
  let i = 0;
  while (i + 2 <= b.length) {
    let len = b[i + 1] & 0x7f;
    let at = i + 2;
    if (len === 126) {
      if (at + 2 > b.length) break;
      len = b.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      if (at + 8 > b.length) break;
      len = Number(b.readBigUInt64BE(at));
      at += 8;
    }
    if (at + len > b.length) break;
    ops.push(b[i] & 0x0f);
    i = at + len;
  }
  return ops;
}

/** A masked client text frame (camwire wants binary: bad input). */
function maskedText(s: string): Buffer {
  const p = Buffer.from(s);
  const mask = Buffer.from([1, 2, 3, 4]);
  const out = Buffer.alloc(6 + p.length);
  out[0] = 0x81;
  out[1] = 0x80 | p.length;
  mask.copy(out, 2);
  for (let i = 0; i < p.length; i++) out[6 + i] = p[i] ^ mask[i % 4];
  return out;
}

/** Upgrades, sends bad input, never answers the close handshake: cut within about 1 s. */
async function wsIgnoresClose(t: TestContext, env: Env): Promise<void> {
  const r = await connect(t, env.port);
  await send(
    r,
    'GET /camwire/v1/ws HTTP/1.1\r\nHost: camwire\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await until(() => r.text().includes('\r\n\r\n'), { on: [[r.sock, 'data']], timeoutMs: 5000, what: 'the 101 answer' });
  assert.match(r.text(), /^HTTP\/1\.1 101 /);
  const headerEnd = r.bytes().indexOf('\r\n\r\n') + 4;
  await send(r, maskedText('not a camwire frame'));
  await until(() => wsOpcodes(r.bytes().subarray(headerEnd)).includes(8), { on: [[r.sock, 'data']], timeoutMs: 5000, what: 'the WebSocket close frame' });
  const closeSeen = performance.now();
  const at = await within(r.closed, 1000 + SLACK_MS, `${env.name}: a WebSocket peer that ignores the close handshake stays connected`);
  assert.ok(at - closeSeen <= 1000 + SLACK_MS);
  const ops = wsOpcodes(r.bytes().subarray(headerEnd));
  assert.equal(ops[0], 2, 'camwire sends its CLOSE frame (binary) before the WebSocket close');
  await until(() => reportsFor(env, r).length > 0, { on: [[r.sock, 'close']], checkAfterMs: [100, 500], timeoutMs: 2000, what: 'a protocolError for the bad input' });
  assert.equal(reportsFor(env, r)[0], ErrorCode.PROTOCOL_BAD_HEADER);
}

// ---------------------------------------------------------------- tests

describe('HTTP limits: MediaServer', () => {
  test('every stalled phase closes at its limit (408 where possible), the good client keeps working; ingest streams steadily but not stalled', async (t) => {
    const env = await serverEnv(t);
    /** A steady ingest: a 1-byte chunk every 100 ms for longer than requestTimeoutMs, then the end. */
    const steadyIngest = async (): Promise<void> => {
      const r = await connect(t, env.port);
      const from = await send(r, POST_HEAD('/ingest/slow-cam', 'Transfer-Encoding: chunked\r\n').replace('application/x-camwire', 'multipart/x-mixed-replace'));
      const stop = trickle(r, () => '1\r\nx\r\n');
      // The scenario itself: keep streaming for longer than the whole-request limit.
      await new Promise<void>((resolve) => setTimeout(resolve, LIMITS.requestTimeoutMs + 800));
      stop();
      assert.ok(!r.isClosed(), `a steady ingest was cut after ${(performance.now() - from).toFixed(0)} ms`);
      await send(r, '0\r\n\r\n');
      await until(() => /\r\n\r\n[\s\S]*\n$/.test(r.text()), { on: [[r.sock, 'data'], [r.sock, 'close']], timeoutMs: 5000, what: 'the ingest answer' });
      assert.match(r.text(), /^HTTP\/1\.1 200 /, 'a steady ingest ends normally');
      assert.deepEqual(reportsFor(env, r), []);
    };
    /** An ingest that sends a few chunks, then stalls: ends at bodyIdleTimeoutMs. */
    const stalledIngest = async (): Promise<void> => {
      const r = await connect(t, env.port);
      await send(r, POST_HEAD('/ingest/stalled-cam', 'Transfer-Encoding: chunked\r\n'));
      const from = await send(r, '1\r\nx\r\n1\r\ny\r\n');
      await closedAt(r, from, LIMITS.bodyIdleTimeoutMs, 'stalled ingest');
      assert.match(r.text(), /^HTTP\/1\.1 408 /);
      assert.deepEqual(reportsFor(env, r), [ErrorCode.TRANSPORT_TIMEOUT]);
    };
    await attackAll(t, env, [
      steadyIngest,
      stalledIngest,
      () => contentLengthStall(t, env, '/ingest/cl-cam'),
      () => chunkedStall(t, env, '/ingest/chunked-cam'),
    ]);
  });

  test('a WebSocket peer that ignores the close handshake after bad input is cut within about 1 s', async (t) => {
    const env = await serverEnv(t);
    await wsIgnoresClose(t, env);
    await env.round('after ws');
    assert.deepEqual(env.trouble, []);
  });

  test('http limits are validated', () => {
    assert.throws(() => new MediaServer({ http: { bodyIdleTimeoutMs: 0 } }), /http\.bodyIdleTimeoutMs/);
    assert.throws(() => new MediaServer({ http: { nope: 1 } as never }), /unknown limit "nope"/);
    assert.throws(() => new Receiver({ protocol: 'tcp', http: { requestTimeoutMs: 1000 } }), /option http: only applies to protocol http/);
    assert.throws(() => new Sender({ protocol: 'http', http: { keepAliveTimeoutMs: 1.5 } }), /http\.keepAliveTimeoutMs/);
  });
});

describe('HTTP limits: push Receiver', () => {
  test('every stalled phase closes at its limit (408 where possible), the good sender keeps working', async (t) => {
    const env = await receiverEnv(t);
    await attackAll(t, env);
  });

  test('a WebSocket peer that ignores the close handshake after bad input is cut within about 1 s', async (t) => {
    const env = await receiverEnv(t);
    await wsIgnoresClose(t, env);
    await env.round('after ws');
    assert.deepEqual(env.trouble, []);
  });
});
