/**
 * Connection limits of the listening ports (docs/limits.md, Connections), with small limits: per
 * address, in handshake per address, in handshake overall (the oldest is evicted). Refusals:
 * TCP closed at once, HTTP a bare 503 with `connection: close`; counted in /metrics. A client
 * that completes its handshake no longer counts as pending. The load version is the stress
 * suite (`npm run test:stress`).
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ConfigError, MediaServer, Receiver, Sender } from '../../src/index.js';
import { addressKey, defaultMaxConnections, openFileLimit } from '../../src/transport/connection-limits.js';
import { Kind, MediaType } from '../../src/protocol/constants.js';
import { encodeFrameBuffer } from '../../src/protocol/frame.js';
import { encodeJson } from '../../src/protocol/handshake.js';
import { next } from '../helpers/events.js';
import { until } from '../helpers/wait.js';
import { startClient, startServer } from '../helpers/server-client.js';

/** Opens a raw connection from `from`; resolves once connected, with what the server sends and when it closes. */
function raw(port: number, from = '127.0.0.1'): Promise<{ sock: net.Socket; data: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, localAddress: from });
    let data = '';
    sock.on('data', (c: Buffer) => (data += c.toString('latin1')));
    sock.on('error', () => {});
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.once('connect', () => resolve({ sock, data: () => data, closed }));
    sock.once('error', reject);
  });
}

/** Resolves once the socket has received an answer starting with `prefix`. */
function answered(c: { sock: net.Socket; data: () => string }, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!c.data().startsWith(prefix)) return;
      c.sock.off('data', onData);
      resolve();
    };
    const onData = (): void => void setImmediate(check);
    c.sock.on('data', onData);
    setTimeout(() => reject(new Error(`no ${prefix} answer; got ${JSON.stringify(c.data())}`)), 5000).unref();
    check();
  });
}

type RawConnection = Awaited<ReturnType<typeof raw>>;

/**
 * The HTTP port with maxPendingPerIp 1: `start` leaves a first connection from `address` pending,
 * so a second one from it gets a bare 503 and is closed (`refused` checks more of it); `finish`
 * ends the first one's handshake, and a third connection is admitted.
 */
async function pendingOnHttp(
  t: TestContext,
  address: string,
  o: { start(a: RawConnection): Promise<void>; refused?(b: RawConnection, s: MediaServer): Promise<void>; finish(a: RawConnection): Promise<void> },
): Promise<void> {
  const s = await startServer(t, { limits: { maxPendingPerIp: 1 } });
  const a = await raw(s.ports.http, address);
  await o.start(a);
  const b = await raw(s.ports.http, address);
  await b.closed;
  assert.match(b.data(), /^HTTP\/1\.1 503 Service Unavailable\r\n/, 'the first connection is still pending');
  await o.refused?.(b, s);
  await o.finish(a);
  assert.match(await statsFrom(s.ports.http, address), /^HTTP\/1\.1 200/);
  a.sock.destroy();
}

/** One GET /stats from `from` on a fresh connection: the whole answer (the server closes it). */
async function statsFrom(port: number, from: string): Promise<string> {
  const c = await raw(port, from);
  c.sock.write('GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  await c.closed;
  return c.data();
}

async function refusedCount(s: MediaServer, reason: string): Promise<number> {
  const text = await s.metrics.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`camwire_connections_refused_total{reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('connection limits', () => {
  test('limits - TCP: beyond maxPendingPerIp a new connection is closed at once and counted; another address is unaffected', async (t) => {
    const s = await startServer(t, { limits: { maxPendingPerIp: 2 } });
    const a = await raw(s.ports.tcp, '127.2.0.1');
    const b = await raw(s.ports.tcp, '127.2.0.1');
    const c = await raw(s.ports.tcp, '127.2.0.1');
    await c.closed;
    assert.equal(c.data(), '', 'nothing is said to a refused TCP connection');
    assert.equal(await refusedCount(s, 'pending_per_ip'), 1);
    // The pending ones are still open; a legitimate client from another address connects.
    assert.equal(a.sock.destroyed || b.sock.destroyed, false);
    const cl = await startClient(t, s, 'ok');
    assert.equal(cl.rx.sessionConnected, true);
    a.sock.destroy();
    b.sock.destroy();
  });

  test('limits - HTTP: beyond maxPendingPerIp a bare 503 with connection: close, then closed', async (t) => {
    await pendingOnHttp(t, '127.2.0.2', {
      // Headers not finished: pending.
      start: async (a) => void a.sock.write('GET /stats HTTP/1.1\r\nhost: x\r\n'),
      refused: async (b, s) => {
        assert.match(b.data(), /connection: close/i);
        assert.equal(await refusedCount(s, 'pending_per_ip'), 1);
      },
      // Once a's headers are complete it is no longer pending.
      finish: async (a) => {
        a.sock.write('\r\n');
        await answered(a, 'HTTP/1.1 200');
      },
    });
  });

  test('limits - HTTP: a connection upgraded to the byte stream (protocol.md 6.6) stays pending until its HELLO, as on TCP', async (t) => {
    await pendingOnHttp(t, '127.2.0.4', {
      start: async (a) => {
        a.sock.write('GET /camwire/v1/upgrade HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: camwire/1\r\n\r\n');
        await answered(a, 'HTTP/1.1 101 Switching Protocols');
      },
      // Its HELLO ends the handshake: a whole frame header (the WELCOME) comes behind the 101.
      finish: async (a) => {
        a.sock.write(encodeFrameBuffer({ kind: Kind.HELLO, mediaType: MediaType.video, sessionKey: 9n, from: 'up', payload: encodeJson({ role: 'push' }) }));
        const welcomed = (): boolean => {
          const at = a.data().indexOf('\r\n\r\n');
          if (at >= 0 && a.data().length >= at + 4 + 36) return true;
          if (a.sock.destroyed) throw new Error(`closed before the WELCOME; got ${JSON.stringify(a.data())}`);
          return false;
        };
        await until(welcomed, { on: [[a.sock, 'data', 'close']], timeoutMs: 5000, what: () => `a WELCOME behind the 101; got ${JSON.stringify(a.data())}` });
        assert.equal(a.data().charCodeAt(a.data().indexOf('\r\n\r\n') + 4 + 3), Kind.WELCOME);
      },
    });
  });

  test('limits - maxConnectionsPerIp counts established connections too', async (t) => {
    const s = await startServer(t, { limits: { maxConnectionsPerIp: 2 } });
    const a = await raw(s.ports.http, '127.2.0.3');
    a.sock.write('GET /stats HTTP/1.1\r\nhost: x\r\n\r\n');
    await answered(a, 'HTTP/1.1 200');
    const b = await raw(s.ports.http, '127.2.0.3');
    const c = await raw(s.ports.http, '127.2.0.3');
    await c.closed;
    assert.match(c.data(), /^HTTP\/1\.1 503/);
    assert.equal(await refusedCount(s, 'per_ip'), 1);
    a.sock.destroy();
    b.sock.destroy();
  });

  test('limits - at maxPending the oldest pending connection is evicted and the new one admitted', async (t) => {
    const s = await startServer(t, { limits: { maxPending: 2 } });
    const a = await raw(s.ports.tcp, '127.2.0.4');
    const b = await raw(s.ports.tcp, '127.2.0.5');
    const c = await raw(s.ports.tcp, '127.2.0.6');
    await a.closed;
    assert.equal(await refusedCount(s, 'pending'), 1);
    assert.equal(b.sock.destroyed || c.sock.destroyed, false);
    // A real client still gets in (evicting another idle one).
    const cl = await startClient(t, s, 'ok2');
    assert.equal(cl.rx.sessionConnected, true);
    b.sock.destroy();
    c.sock.destroy();
  });

  test('limits - maxConnections: established connections fill the port and the next is refused; a pending one is cut to make room', async (t) => {
    const s = await startServer(t, { limits: { maxConnections: 2 } });
    const a = await raw(s.ports.http, '127.2.1.1');
    a.sock.write('GET /stats HTTP/1.1\r\nhost: x\r\n\r\n');
    await answered(a, 'HTTP/1.1 200');
    // b is pending (no request yet): c takes its place.
    const b = await raw(s.ports.http, '127.2.1.2');
    const c = await raw(s.ports.http, '127.2.1.3');
    await b.closed;
    assert.equal(await refusedCount(s, 'pending'), 1);
    c.sock.write('GET /stats HTTP/1.1\r\nhost: x\r\n\r\n');
    await answered(c, 'HTTP/1.1 200');
    // Both established: the next one, from yet another address, is refused with a 503.
    const d = await raw(s.ports.http, '127.2.1.4');
    await d.closed;
    assert.match(d.data(), /^HTTP\/1\.1 503/);
    assert.equal(await refusedCount(s, 'total'), 1);
    // One leaves: there is room again, once the server has seen the close (no event of its own
    // tells us when: each try is answered, and a refused one ends with its own close).
    a.sock.destroy();
    let answer = '';
    for (let i = 0; i < 50 && !answer.startsWith('HTTP/1.1 200'); i++) {
      answer = await statsFrom(s.ports.http, '127.2.1.5');
    }
    assert.match(answer, /^HTTP\/1\.1 200/);
    c.sock.destroy();
  });

  test('limits - UDP: a peer beyond maxConnectionsPerIp is not answered and is counted; it gets in once another peer leaves', async (t) => {
    const s = await startServer(t, { limits: { maxConnectionsPerIp: 1 } });
    // bob pulls data only: one connection on the TCP port (each port counts on its own).
    const bob = await startClient(t, s, 'bob', { rx: { receiveMediaTypes: ['data'] } });
    const got: string[] = [];
    bob.rx.on('data', (d) => got.push(d.toString()));
    const udp = (id: string): Sender => new Sender({ protocol: 'udp', host: '127.0.0.1', port: s.ports.udp, clientId: id, connectTimeoutMs: 300, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const a = udp('udp-a');
    const b = udp('udp-b');
    t.after(() => Promise.all([a.stop(), b.stop()]));
    await a.start();
    await b.start();
    await a.sendData(Buffer.from('from a'), { to: 'bob' });
    // b's data lane is a second UDP peer from 127.0.0.1: its HELLO is not answered.
    const refused = next(b, 'connectError');
    const sent = b.sendData(Buffer.from('from b'), { to: 'bob' });
    await refused;
    assert.ok((await refusedCount(s, 'per_ip')) >= 1, 'the refusal is counted');
    assert.deepEqual(got, ['from a']);
    // a leaves (its CLOSE ends its link on the server): b's next attempt is admitted.
    await a.stop();
    await sent;
    assert.deepEqual(got, ['from a', 'from b']);
  });

  test('limits - a push Receiver takes the limits option on its own port', async (t) => {
    const rx = new Receiver({ protocol: 'tcp', connection: 'sender-to-receiver', host: '127.0.0.1', port: 0, clientId: 'rx', limits: { maxPendingPerIp: 1 } });
    await rx.start();
    t.after(() => rx.stop());
    const a = await raw(rx.port, '127.2.2.1');
    const b = await raw(rx.port, '127.2.2.1');
    await b.closed;
    assert.equal(b.data(), '');
    assert.equal(a.sock.destroyed, false, 'the first one is still pending');
    a.sock.destroy();
    assert.throws(() => new Receiver({ protocol: 'tcp', connection: 'sender-to-receiver', limits: { maxPending: 1.5 } }), (e: unknown) => e instanceof ConfigError && /option limits/.test(e.message));
  });

  test('limits - the default maxConnections follows the open-file limit', () => {
    const text = (soft: string): string => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 1048576              files\n`;
    assert.equal(openFileLimit(text('1024')), 1024);
    assert.equal(openFileLimit(text('unlimited')), undefined);
    assert.equal(openFileLimit('garbage'), undefined);
    assert.equal(defaultMaxConnections(1024), 384);
    assert.equal(defaultMaxConnections(65536), 32640);
    assert.equal(defaultMaxConnections(200), 64);
    assert.equal(defaultMaxConnections(undefined), 32640, 'unknown: as with 65 536');
  });

  test('limits - validate: bad values are a ConfigError naming the option; 0 means no limit', () => {
    assert.throws(() => new MediaServer({ limits: { maxPending: -1 } }), (e: unknown) => e instanceof ConfigError && /limits/.test(e.message));
    assert.throws(() => new MediaServer({ limits: { maxPendig: 3 } as never }), (e: unknown) => e instanceof ConfigError && /unknown field/.test(e.message));
    assert.doesNotThrow(() => new MediaServer({ limits: { maxConnections: 0, maxPending: 0, maxPendingPerIp: 0, maxConnectionsPerIp: 0 } }));
  });

  test('limits - addresses: IPv4-mapped as IPv4, IPv6 by /64', () => {
    assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('10.1.2.3'), '10.1.2.3');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});
