/**
 * HTTP through a forward proxy's CONNECT tunnel (docs/protocol.md, 6.3 "Proxies";
 * `proxyTunnel`): with 'auto' (the default) a link asks the proxy for a tunnel and speaks the
 * same camwire HTTP inside it; a proxy that refuses CONNECT, answers it with garbage or never
 * answers it gets plain proxied requests instead, decided once per link. With 'always' the same
 * proxies give a typed error (CW_ERR_TRANSPORT_PROXY) within the connect timeout.
 * The proxy is a real tinyproxy; the misbehaving ones are a front that passes every other
 * request on to it.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Receiver, Sender, type ConnectionEvent, type SenderOptions } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { startConnectTrap, startProxy } from '../helpers/proxy.js';
import { once } from '../helpers/wait.js';
import { commandReceiver, commandTraffic } from '../helpers/http-traffic.js';

const N = 40;
const expected = Array.from({ length: N }, (_, i) => `c${i}`);

const connects = (lines: string[]): number => lines.filter((l) => /: CONNECT \S+ HTTP/.test(l)).length;
const proxiedPosts = (lines: string[]): number => lines.filter((l) => /: POST http:\/\/\S+ HTTP/.test(l)).length;
const opens = (lines: string[]): number => lines.filter((l) => /: POST http:\/\/\S+\/camwire\/v1\/open HTTP/.test(l)).length;

/** A push Sender through `proxy`; sends N acknowledged commands (8 in flight) between video frames. Returns the ms it took. */
async function push(t: TestContext, port: number, o: Partial<SenderOptions>): Promise<number> {
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port, reconnect: false, ...o });
  await tx.start();
  t.after(() => tx.stop());
  const t0 = Date.now();
  await commandTraffic(tx, N, 8);
  const ms = Date.now() - t0;
  await tx.stop();
  return ms;
}

/** A Sender whose tunnel fails in 'always': its first command lane attempt ends in connectError. */
async function refusedTunnel(t: TestContext, port: number, proxy: string): Promise<{ ev: ConnectionEvent; ms: number }> {
  const tx = new Sender({ protocol: 'http', host: '127.0.0.1', port, proxy, proxyTunnel: 'always', reconnect: false, connectTimeoutMs: 2000 });
  await tx.start();
  t.after(() => tx.stop());
  const t0 = Date.now();
  const failed = once<[ConnectionEvent]>(tx, 'connectError', 10000);
  const sent = tx.sendCommand({ name: 'never' }).then(
    () => 'acknowledged',
    (err: Error) => err.message,
  );
  const [ev] = await failed;
  const ms = Date.now() - t0;
  assert.notEqual(await sent, 'acknowledged');
  return { ev, ms };
}

test('http tunnel - a proxy that allows CONNECT carries the link in a tunnel: no proxied request, every command acknowledged in order', async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const { rx, got } = await commandReceiver(t);
  const ms = await push(t, rx.port, { proxy: proxy.url });
  assert.deepEqual(got, expected);
  const lines = proxy.requests();
  // Two links (command, video), each with a few sockets, each socket one CONNECT.
  assert.ok(connects(lines) >= 2, lines.join('\n'));
  assert.equal(proxiedPosts(lines), 0, `nothing went to the proxy as a request:\n${lines.join('\n')}`);
  process.stdout.write(`# ${N} commands through a tinyproxy tunnel in ${ms} ms, ${connects(lines)} CONNECTs\n`);
});

test('http tunnel - a proxy that wants credentials gets them on the CONNECT (proxy URL user:pass); without them the link fails, typed', async (t) => {
  const proxy = await startProxy({ basicAuth: { user: 'cam', password: 's3cret' } });
  t.after(() => proxy.stop());
  const { rx, got } = await commandReceiver(t);
  const withAuth = proxy.url.replace('http://', 'http://cam:s3cret@');
  await push(t, rx.port, { proxy: withAuth, proxyTunnel: 'always' });
  assert.deepEqual(got, expected);
  assert.equal(proxiedPosts(proxy.requests()), 0);
  const { ev } = await refusedTunnel(t, rx.port, proxy.url);
  assert.equal(ev.error?.code, 'CW_ERR_TRANSPORT_PROXY');
  assert.match(ev.error!.message, /refused CONNECT .*407/);
});

test('http tunnel - pull over HTTP through the tunnel (the Receiver dials)', async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const tx = new Sender({ protocol: 'http', connection: 'receiver-to-sender', host: '127.0.0.1', port: 0, clientId: 'cam' });
  await tx.start();
  t.after(() => tx.stop());
  const rx = new Receiver({
    protocol: 'http',
    connection: 'receiver-to-sender',
    senders: [{ host: '127.0.0.1', port: tx.port, clientId: 'cam' }],
    receiveMediaTypes: ['command'],
    proxy: proxy.url,
    reconnect: false,
  });
  const up = once(rx, 'sessionConnected', 10000);
  await rx.start();
  t.after(() => rx.stop());
  await up;
  const got: string[] = [];
  rx.on('command', (c) => got.push(c.name));
  for (let i = 0; i < 10; i++) await tx.sendCommand({ name: `p${i}` });
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `p${i}`));
  const lines = proxy.requests();
  assert.ok(connects(lines) >= 1, lines.join('\n'));
  assert.equal(proxiedPosts(lines), 0, lines.join('\n'));
});

test('http tunnel - a proxy that refuses CONNECT (403): each link tries once, then sends plain proxied requests; every command acknowledged', async (t) => {
  const proxy = await startProxy({ connectPorts: [443] });
  t.after(() => proxy.stop());
  const { rx, got } = await commandReceiver(t);
  const ms = await push(t, rx.port, { proxy: proxy.url });
  assert.deepEqual(got, expected);
  const lines = proxy.requests();
  assert.ok(opens(lines) >= 2, lines.join('\n'));
  // The refusal is remembered for the link's life: one CONNECT per link, none after.
  assert.equal(connects(lines), opens(lines), lines.join('\n'));
  assert.ok(proxiedPosts(lines) > opens(lines), lines.join('\n'));
  process.stdout.write(`# ${N} commands after a refused CONNECT in ${ms} ms\n`);
});

test("http tunnel - proxyTunnel 'always' through a proxy that refuses CONNECT: connectError CW_ERR_TRANSPORT_PROXY", async (t) => {
  const proxy = await startProxy({ connectPorts: [443] });
  t.after(() => proxy.stop());
  const { rx } = await commandReceiver(t);
  const { ev, ms } = await refusedTunnel(t, rx.port, proxy.url);
  assert.equal(ev.error?.code, 'CW_ERR_TRANSPORT_PROXY');
  assert.match(ev.error!.message, /refused CONNECT .*403/);
  assert.equal(proxiedPosts(proxy.requests()), 0);
  process.stdout.write(`# refused tunnel reported in ${ms} ms\n`);
});

test("http tunnel - proxyTunnel 'never' sends proxied requests and no CONNECT", async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const { rx, got } = await commandReceiver(t);
  await push(t, rx.port, { proxy: proxy.url, proxyTunnel: 'never' });
  assert.deepEqual(got, expected);
  const lines = proxy.requests();
  assert.equal(connects(lines), 0, lines.join('\n'));
  assert.ok(proxiedPosts(lines) > 0);
});

for (const mode of ['garbage', 'silent'] as const) {
  const what = mode === 'garbage' ? 'answers CONNECT with bytes that are not HTTP' : 'never answers CONNECT';
  test(`http tunnel - a proxy that ${what}: 'auto' falls back to proxied requests; every command acknowledged`, async (t) => {
    const proxy = await startProxy();
    t.after(() => proxy.stop());
    const trap = await startConnectTrap(proxy.port, mode);
    t.after(() => trap.close());
    const { rx, got } = await commandReceiver(t);
    const ms = await push(t, rx.port, { proxy: trap.url });
    assert.deepEqual(got, expected);
    const lines = proxy.requests();
    assert.ok(opens(lines) >= 2, lines.join('\n'));
    assert.equal(trap.connects, opens(lines), 'one CONNECT per link, then none');
    assert.equal(connects(lines), 0);
    process.stdout.write(`# ${mode} CONNECT: ${N} commands in ${ms} ms (a silent proxy costs each link its 3 s probe)\n`);
  });

  test(`http tunnel - a proxy that ${what}: 'always' fails with CW_ERR_TRANSPORT_PROXY within the connect timeout`, async (t) => {
    const proxy = await startProxy();
    t.after(() => proxy.stop());
    const trap = await startConnectTrap(proxy.port, mode);
    t.after(() => trap.close());
    const { rx } = await commandReceiver(t);
    const { ev, ms } = await refusedTunnel(t, rx.port, trap.url);
    assert.equal(ev.error?.code, 'CW_ERR_TRANSPORT_PROXY', ev.error?.message);
    assert.equal(trap.passed, 0, 'nothing went around the tunnel');
    process.stdout.write(`# ${mode} CONNECT with 'always': ${ev.error!.message} after ${ms} ms\n`);
  });
}

test('http tunnel - proxyTunnel is checked in the constructor', () => {
  const bad = (o: Partial<SenderOptions>, message: RegExp): void =>
    assert.throws(() => new Sender({ protocol: 'http', host: '127.0.0.1', port: 1, proxy: 'http://127.0.0.1:3128', ...o }), { name: 'ConfigError', code: 'CW_ERR_CONFIG_INVALID', message });
  bad({ proxyTunnel: 'sometimes' as never }, /proxyTunnel.*must be auto, always or never/);
  bad({ protocol: 'tcp', proxy: undefined, proxyTunnel: 'always' }, /proxyTunnel.*only applies to protocol http/);
  bad({ tls: {}, proxyTunnel: 'never' }, /proxyTunnel.*always tunnels/);
  assert.doesNotThrow(() => new Sender({ protocol: 'http', host: '127.0.0.1', port: 1, proxy: 'http://127.0.0.1:3128', proxyTunnel: 'always' }));
});

test('http tunnel - the CLI: --proxy-tunnel always through a proxy that refuses CONNECT is exit 3; never goes plain and delivers', async (t) => {
  const refusing = await startProxy({ connectPorts: [443] });
  t.after(() => refusing.stop());
  const { rx, got } = await commandReceiver(t);
  const server = `http://127.0.0.1:${rx.port}`;
  const always = cli(t, ['send', '--server', server, '--proxy', refusing.url, '--proxy-tunnel', 'always', '--command', 'a', '--connect-timeout', '3']);
  assert.equal(await always.exited, 3, always.stderr());
  assert.match(always.stderr(), /refused CONNECT .*403/);
  const never = cli(t, ['send', '--server', server, '--proxy', refusing.url, '--proxy-tunnel', 'never', '--command', 'b']);
  assert.equal(await never.exited, 0, never.stderr());
  assert.deepEqual(got, ['b']);
  const lines = refusing.requests();
  // The 'always' sender asked for a tunnel on each attempt until its connect timeout; the 'never' one (after it) never did.
  const firstPost = lines.findIndex((l) => /: POST http:/.test(l));
  assert.ok(firstPost > 0 && connects(lines.slice(0, firstPost)) >= 1, lines.join('\n'));
  assert.equal(connects(lines.slice(firstPost)), 0, lines.join('\n'));
});
