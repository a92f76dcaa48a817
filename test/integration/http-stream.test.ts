/**
 * Streaming uploads over HTTP (docs/protocol.md, 6.5): a client link sends its frames in one
 * long chunked POST at a time; through a path that holds request bodies back (nginx's default
 * proxy_request_buffering) it notices within a second and uploads in POSTs instead. Either way
 * every message arrives once and in order. Also: what the server does with a bad stream.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { Receiver, Sender } from '../../src/index.js';
import { Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer } from '../../src/protocol/frame.js';
import { encodeJson } from '../../src/protocol/handshake.js';
import { HttpPoster } from '../../src/transport/http.js';
import { startNginx, startProxy } from '../helpers/proxy.js';
import { commandReceiver, commandTraffic } from '../helpers/http-traffic.js';
import { once, until } from '../helpers/wait.js';

const N = 150;

const expected = Array.from({ length: N }, (_, i) => `c${i}`);
const streams = (lines: string[]): number => lines.filter((l) => /^POST \S*\/camwire\/v1\/links\/[\w-]+\/stream$/.test(l)).length;
const posts = (lines: string[]): number => lines.filter((l) => /^POST \S*\/camwire\/v1\/links\/[\w-]+$/.test(l)).length;
const opens = (lines: string[]): number => lines.filter((l) => /^POST \S*\/camwire\/v1\/open$/.test(l)).length;

/** nginx logs a request when it ends: read its log until `ok` holds (every 20 ms, at most 5 s). */
async function logged(nginx: { requests(): string[] }, ok: (lines: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = nginx.requests();
    if (ok(lines) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('http stream - through a real forward proxy (tinyproxy) uploads stream; every command arrives once, in order', async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const { rx, got } = await commandReceiver(t);
  // Requests to the proxy, not a CONNECT tunnel (http-tunnel.test.ts): the proxy itself relays the stream.
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: rx.port, proxy: proxy.url, proxyTunnel: 'never' });
  await tx.start();
  await commandTraffic(tx, N, 16);
  await tx.stop();
  assert.deepEqual(got, expected);
  const lines = proxy.requests();
  assert.ok(lines.some((l) => /\/camwire\/v1\/links\/[\w-]+\/stream HTTP/.test(l)), 'uploads went as streams through the proxy');
});

test('http stream - through tinyproxy (requests to the proxy), a stream ended at 64 MiB is followed by the next one on a fresh connection; the link goes on', async (t) => {
  // tinyproxy closes its client connection after every answer but drops the answer's
  // `connection: close`; the next stream, opened the moment the last one is answered, must not
  // go on that connection (it failed with "socket hang up" and lost the link).
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const rx = new Receiver({ protocol: 'http', host: '127.0.0.1', port: 0, receiveMediaTypes: ['video'] });
  await rx.start();
  t.after(() => rx.stop());
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: rx.port, proxy: proxy.url, proxyTunnel: 'never' });
  const lost: string[] = [];
  tx.on('disconnect', (ev) => ev.error && lost.push(ev.error.message));
  await tx.start();
  t.after(() => tx.stop());
  // 1100 frames of 64 KiB delivered (72 MB, past the 64 MiB a stream carries), 4 in flight; each
  // names its number. (Frames sent before the link is up are dropped, latest-wins, and counted.)
  const total = 1100;
  let sent = 0;
  let got = 0;
  let last = -1;
  const frame = Buffer.alloc(64 * 1024);
  const send = (): void => {
    frame.writeUInt32BE(sent++, 0);
    tx.sendVideoFrame(frame, { imageType: 'jpeg', width: 640, height: 480 });
  };
  const pump = (): void => {
    for (let n = 0; n < 4 && got < total && sent - got - tx.stats.dropped.video < 4; n++) send();
  };
  // The first frame opens the lane; the rest follow once it is up.
  const first = once(rx, 'video');
  send();
  await first;
  rx.on('video', (v) => {
    got++;
    last = v.data.readUInt32BE(0);
    pump();
  });
  pump();
  await until(() => (got >= total && last === sent - 1) || lost.length > 0, {
    on: [[rx, 'video'], [tx, 'disconnect']],
    timeoutMs: 30000,
    what: () => `${total} frames to arrive, the last one last (sent ${sent}, got ${got}, last ${last}, lost: ${lost.join('; ')})`,
  });
  assert.deepEqual(lost, [], 'the link was not lost');
  assert.equal(last, sent - 1);
  assert.ok(streams(proxy.requests().map((l) => /(POST \S+)/.exec(l)?.[1] ?? '')) >= 2, 'the upload went on in a second stream');
});

test('http stream - behind nginx streaming both ways, uploads stay streams', async (t) => {
  const { rx, got } = await commandReceiver(t);
  const nginx = await startNginx(rx.port, { buffering: false });
  t.after(() => nginx.stop());
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: nginx.port });
  await tx.start();
  await commandTraffic(tx, N, 16);
  await tx.stop();
  assert.deepEqual(got, expected);
  // Each link (one per media type used) streams.
  const lines = await logged(nginx, (l) => opens(l) === 2 && streams(l) >= 2);
  assert.ok(streams(lines) >= 2, lines.join('\n'));
  // At most the final CLOSE goes in a POST of its own.
  assert.ok(posts(lines) <= 1, lines.join('\n'));
});

test('http stream - behind nginx with its default request buffering, the link falls back to POSTs within a second; nothing is lost or reordered', async (t) => {
  const { rx, got } = await commandReceiver(t);
  const nginx = await startNginx(rx.port, { buffering: true });
  t.after(() => nginx.stop());
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port: nginx.port });
  await tx.start();
  const t0 = Date.now();
  await commandTraffic(tx, N, 16);
  const ms = Date.now() - t0;
  await tx.stop();
  assert.deepEqual(got, expected);
  const lines = await logged(nginx, (l) => opens(l) === 2 && streams(l) >= 2);
  assert.equal(streams(lines), 2, `one stream per link (the probe), then POSTs:\n${lines.join('\n')}`);
  assert.ok(posts(lines) >= 2, lines.join('\n'));
  process.stdout.write(`# ${N} commands behind a buffering nginx in ${ms} ms (the probe holds the first ones about 1 s)\n`);
});

test('http stream - a poll that arrives after a stream\'s first bytes is answered at once, naming the stream (the probe does not wait out the poll)', async (t) => {
  // Through a proxy the stream and the poll race; when the stream's bytes win, the waiting poll
  // must still learn of them, or a client whose path holds the stream's answer back (tinyproxy)
  // falls back to POSTs for good after its 1 s probe.
  const { rx } = await commandReceiver(t);
  const hello = encodeFrameBuffer({ kind: Kind.HELLO, mediaType: MediaType.command, sessionKey: 7n, payload: encodeJson({ role: 'push' }) });
  const opened = await fetch(`http://127.0.0.1:${rx.port}/camwire/v1/open`, { method: 'POST', body: new Uint8Array(hello), headers: { 'content-type': 'application/x-camwire' } });
  await opened.arrayBuffer();
  const id = opened.headers.get('x-camwire-link')!;
  // The first 10 bytes of a frame: the stream has begun, no frame is complete (nothing to send back).
  const partial = encodeFrameBuffer({ kind: Kind.DATA, mediaType: MediaType.command, payload: Buffer.from('{}') }).subarray(0, 10);
  const s = net.connect(rx.port, '127.0.0.1');
  t.after(() => s.destroy());
  const head = once(s, 'data');
  s.write(`POST /camwire/v1/links/${id}/stream HTTP/1.1\r\nhost: x\r\nx-camwire-up: 1\r\ntransfer-encoding: chunked\r\n\r\n${partial.length.toString(16)}\r\n${partial.toString('latin1')}\r\n`);
  assert.match(String((await head)[0]), /^HTTP\/1\.1 200/, 'the stream is answered at once');
  const ac = new AbortController();
  t.after(() => ac.abort());
  // wait=30000: without the answer at once, this poll would be held past the deadline below.
  const poll = fetch(`http://127.0.0.1:${rx.port}/camwire/v1/links/${id}?wait=30000`, { method: 'POST', signal: ac.signal, headers: { 'x-camwire-down-ack': '0' } });
  const res = await Promise.race([poll, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the poll was held: it did not learn of the stream')), 10000).unref())]);
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-camwire-stream-seen'), '1');
});

test('http stream - a stream that breaks the framing fails its link (CLOSE 1100); a stream out of upload order is refused (1104)', async (t) => {
  const { rx } = await commandReceiver(t);
  const bad: string[] = [];
  rx.on('protocolError', (e) => bad.push(e.code));
  const open = async (): Promise<string> => {
    const hello = encodeFrameBuffer({ kind: Kind.HELLO, mediaType: MediaType.command, sessionKey: 7n, payload: encodeJson({ role: 'push' }) });
    const res = await fetch(`http://127.0.0.1:${rx.port}/camwire/v1/open`, { method: 'POST', body: new Uint8Array(hello), headers: { 'content-type': 'application/x-camwire' } });
    await res.arrayBuffer();
    return res.headers.get('x-camwire-link')!;
  };
  const raw = (id: string, up: number, body: Buffer): Promise<string> =>
    new Promise((resolve) => {
      const s = net.connect(rx.port, '127.0.0.1');
      let answer = '';
      s.on('data', (d) => (answer += d.toString('latin1')));
      s.on('close', () => resolve(answer));
      s.on('error', () => resolve(answer));
      s.write(`POST /camwire/v1/links/${id}/stream HTTP/1.1\r\nhost: x\r\nx-camwire-up: ${up}\r\ntransfer-encoding: chunked\r\n\r\n`);
      s.write(`${body.length.toString(16)}\r\n`);
      s.write(body);
      s.end('\r\n0\r\n\r\n');
    });
  const garbage = await raw(await open(), 1, Buffer.from('this is not a camwire frame at all'));
  assert.match(garbage, /^HTTP\/1\.1 200/, 'a stream is answered at once');
  const wrongOrder = await raw(await open(), 5, Buffer.alloc(0));
  assert.match(wrongOrder, /^HTTP\/1\.1 400/);
  assert.match(wrongOrder, /streaming upload 5 is not the next upload \(1\)/);
  assert.deepEqual(bad.sort(), ['CW_ERR_PROTOCOL_BAD_HEADER', 'CW_ERR_PROTOCOL_UNEXPECTED']);
});

test('http stream - what is written in one event-loop turn goes as one chunk of the body (size line, the pieces, CRLF); the next turn is the next chunk', async (t) => {
  // A bare HTTP server that keeps the raw bytes of one streaming request and answers when its last chunk came.
  let raw = Buffer.alloc(0);
  let whole!: (b: Buffer) => void;
  const body = new Promise<Buffer>((resolve) => (whole = resolve));
  const server = net.createServer((s) => {
    s.on('data', (d: Buffer) => {
      raw = Buffer.concat([raw, d]);
      if (!raw.includes('\r\n0\r\n\r\n')) return;
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
      whole(raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const poster = new HttpPoster({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  t.after(() => poster.close());
  const stream = poster.openStream('/camwire/v1/links/0123456789abcdef/stream', { 'x-camwire-up': '1' });
  stream.write(Buffer.from('aaaa'));
  stream.write(Buffer.from('bbbbbb'));
  stream.write(Buffer.from('cc'));
  await new Promise((r) => setImmediate(r));
  stream.write(Buffer.from('dddd'));
  stream.end();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the stream\'s last chunk never reached the server')), 10000).unref());
  const got = (await Promise.race([body, timeout])).toString('latin1');
  assert.match(got, /^POST \/camwire\/v1\/links\/0123456789abcdef\/stream HTTP\/1\.1\r\n/);
  assert.match(got, /\r\ntransfer-encoding: chunked\r\n/i);
  assert.equal(got.slice(got.indexOf('\r\n\r\n') + 4), 'c\r\naaaabbbbbbcc\r\n4\r\ndddd\r\n0\r\n\r\n');
  const res = await Promise.race([stream.done, timeout]);
  assert.equal(res.status, 200);
});
