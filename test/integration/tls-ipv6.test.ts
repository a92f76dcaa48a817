/**
 * TLS for TCP and HTTP (also through a proxy's CONNECT tunnel), and IPv6 on every transport.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Receiver, Sender } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/tls');
const server = { cert: fs.readFileSync(path.join(dir, 'server.crt')), key: fs.readFileSync(path.join(dir, 'server.key')) };
const client = { ca: fs.readFileSync(path.join(dir, 'ca.crt')) };

let proxy: Proxy;
before(async () => {
  proxy = await startProxy();
});
after(async () => {
  await proxy.stop();
});

describe('tls', () => {
  test('tls - push over TCP with TLS delivers a command and video', async (t) => {
    const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, tls: server });
    await rx.start();
    t.after(() => rx.stop());
    const tx = new Sender({ protocol: 'tcp', host: 'localhost', port: rx.port, tls: client });
    await tx.start();
    t.after(() => tx.stop());
    const video = next(rx, 'video');
    tx.sendVideoFrame(Buffer.alloc(100_000, 1));
    await tx.sendCommand({ name: 'secure' });
    assert.equal((await video)[0].data.length, 100_000);
  });

  test('tls - pull over HTTPS through the proxy (CONNECT tunnel)', async (t) => {
    const tx = new Sender({ protocol: 'http', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, tls: server });
    await tx.start();
    t.after(() => tx.stop());
    const rx = new Receiver({
      protocol: 'http',
      connection: 'receiver-to-sender',
      senders: [{ host: '127.0.0.1', port: tx.port }],
      receiveMediaTypes: ['command', 'data'],
      tls: client,
      proxy: proxy.url,
      reconnect: false,
    });
    t.after(() => rx.stop());
    const up = next(rx, 'sessionConnected');
    await rx.start();
    await up;
    const got = next(rx, 'data');
    await tx.sendData(Buffer.from('through the tunnel'));
    assert.equal((await got)[0].toString(), 'through the tunnel');
    assert.ok(proxy.requests().some((l) => /CONNECT/.test(l)), 'the proxy saw a CONNECT');
  });

  test('tls - a server certificate from an unknown CA is refused with connectError', async (t) => {
    const rx = new Receiver({ protocol: 'tcp', host: '127.0.0.1', port: 0, tls: server });
    await rx.start();
    t.after(() => rx.stop());
    const tx = new Sender({ protocol: 'tcp', host: 'localhost', port: rx.port, tls: {}, reconnect: false });
    await tx.start();
    t.after(() => tx.stop());
    const failed = next(tx, 'connectError');
    tx.sendCommand({ name: 'x' }).catch(() => {});
    const [ev] = await failed;
    assert.equal(ev.error?.code, 'CW_ERR_TRANSPORT_CONNECT');
    assert.match(ev.error!.message, /certificate/);
  });
});

describe('ipv6', () => {
  for (const protocol of ['tcp', 'udp', 'http'] as const) {
    test(`ipv6 - push over ${protocol} on ::1`, async (t) => {
      const rx = new Receiver({ protocol, host: '::1', port: 0 });
      await rx.start();
      t.after(() => rx.stop());
      const tx = new Sender({ protocol, host: '::1', port: rx.port, clientId: 'v6' });
      await tx.start();
      t.after(() => tx.stop());
      const got = next(rx, 'command');
      await tx.sendCommand({ name: 'six' });
      const [, meta] = await got;
      assert.equal(meta.from, 'v6');
      assert.equal(meta.remoteAddress, '::1');
    });
  }

  test('ipv6 - pull over TCP on ::1', async (t) => {
    const tx = new Sender({ protocol: 'tcp', connection: 'receiver-to-sender', host: '::1', port: 0 });
    await tx.start();
    t.after(() => tx.stop());
    const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '::1', port: tx.port }], receiveMediaTypes: ['video'], reconnect: false });
    t.after(() => rx.stop());
    const up = next(rx, 'sessionConnected');
    await rx.start();
    await up;
    const got = next(rx, 'video');
    tx.sendVideoFrame(Buffer.alloc(10));
    await got;
  });
});
