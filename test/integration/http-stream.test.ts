/**
 * Streaming uploads over HTTP (docs/protocol.md, 6.5): a client link sends its frames in one
 * long chunked POST at a time; through a path that holds request bodies back (nginx's default
 * proxy_request_buffering) it notices within a second and uploads in POSTs instead. Either way
 * every message arrives once and in order. Also: what the server does with a bad stream.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { Sender } from '../../src/index.js';
import { Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer } from '../../src/protocol/frame.js';
import { encodeJson } from '../../src/protocol/handshake.js';
import { startNginx, startProxy } from '../helpers/proxy.js';
import { commandReceiver, commandTraffic } from '../helpers/http-traffic.js';

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
