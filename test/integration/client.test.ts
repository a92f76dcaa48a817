/**
 * Client: a MediaServer client in one object (issue 10, "A Client class for mode C"), on real
 * sockets: connect() resolves when both directions are up, or rejects with the real cause.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { Client, RemoteCloseError, type ClientOptions, type MediaServer } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startServer } from '../helpers/server-client.js';
import { ScreenScene } from '../helpers/screen-scene.js';

async function client(t: TestContext, o: ClientOptions): Promise<Client> {
  const c = new Client(o);
  t.after(() => c.close());
  await c.connect();
  return c;
}

function servers(t: TestContext, o: Parameters<typeof startServer>[1] = {}): Promise<MediaServer> {
  return startServer(t, { tcpPort: 0, udpPort: 0, httpPort: 0, ...o });
}

test('client - two clients through a server: groups, commands, data and video in one object each', async (t) => {
  const s = await servers(t);
  const alice = await client(t, { server: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'alice' });
  const bob = await client(t, { server: `http://127.0.0.1:${s.ports.http}`, clientId: 'bob' });
  assert.deepEqual((await alice.getAllOnlineUsers()).sort(), ['alice', 'bob']);
  await alice.joinGroup('room');
  const joined = next(alice, 'userJoinsGroup');
  await bob.joinGroup('room');
  assert.deepEqual((await joined).slice(0, 2), ['room', 'bob']);
  const cmd = next(bob, 'command');
  await alice.sendCommand({ name: 'zoom', params: { level: 2 } }, { to: 'bob' });
  const [c, meta] = await cmd;
  assert.deepEqual([c.name, c.params.level, meta.from], ['zoom', 2, 'alice']);
  const data = next(alice, 'data');
  await bob.sendData(Buffer.from('hi room'), { group: 'room' });
  assert.equal((await data)[0].toString(), 'hi room');
  const video = next(bob, 'video');
  alice.sendVideoFrame(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), { to: 'bob', imageType: 'jpeg', width: 1, height: 1 });
  assert.equal((await video)[1].from, 'alice');
});

test('client - udp:// pushes over UDP and pulls from `pull`', async (t) => {
  const s = await servers(t);
  const a = await client(t, { server: `udp://127.0.0.1:${s.ports.udp}`, pull: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'a' });
  const b = await client(t, { server: `127.0.0.1:${s.ports.tcp}`, clientId: 'b' });
  const got = next(b, 'command');
  await a.sendCommand({ name: 'ping' }, { to: 'b' });
  assert.equal((await got)[0].name, 'ping');
  assert.throws(() => new Client({ server: 'tcp://h:1', pull: 'udp://h:2', clientId: 'x' }), { code: 'CW_ERR_CONFIG_INVALID', message: /pulls over tcp or http/ });
  assert.throws(() => new Client({ server: 'tcp://h:1', clientId: '' }), { code: 'CW_ERR_CONFIG_INVALID' });
});

test('client - a wrong password rejects connect() at once with the refusal', { timeout: 15000 }, async (t) => {
  const s = await servers(t, { auth: { users: [{ user: 'alice', password: 'secret' }] } });
  const c = new Client({ server: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'alice', auth: { user: 'alice', password: 'nope' }, connectTimeoutMs: 60_000 });
  await assert.rejects(c.connect(), (e: unknown) => e instanceof RemoteCloseError && e.closeCode === 1202 && /wrong user name or password/.test(e.message));
  const ok = await client(t, { server: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'alice', auth: { user: 'alice', password: 'secret' } });
  assert.deepEqual(await ok.getAllOnlineUsers(), ['alice']);
});

test('client - the wrong port for the protocol is named; nobody there times out with the last failure', { timeout: 15000 }, async (t) => {
  const s = await servers(t);
  const wrong = new Client({ server: `http://127.0.0.1:${s.ports.tcp}`, clientId: 'x', connectTimeoutMs: 60_000 });
  await assert.rejects(wrong.connect(), { code: 'CW_ERR_WRONG_PROTOCOL', message: /this is a camwire TCP port/ });
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  const port = (blocker.address() as net.AddressInfo).port;
  await new Promise((r) => blocker.close(r));
  const none = new Client({ server: `tcp://127.0.0.1:${port}`, clientId: 'x', connectTimeoutMs: 500 });
  await assert.rejects(none.connect(), { code: 'CW_ERR_TRANSPORT_TIMEOUT', message: /client x: not connected within 500 ms: cannot connect to .*ECONNREFUSED/ });
  await assert.rejects(none.connect(), { code: 'CW_ERR_ALREADY_STARTED' });
});

test('client - change-detection video: sendVideoPixels sends rectangles through the server; requestFullFrame makes the next frame whole', async (t) => {
  const s = await servers(t);
  const W = 160;
  const H = 100;
  const cam = await client(t, { server: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'cam', to: 'viewer', sender: { video: { encoding: 'change', imageType: 'png' } } });
  const viewer = await client(t, { server: `tcp://127.0.0.1:${s.ports.tcp}`, clientId: 'viewer' });
  const scene = new ScreenScene({ width: W, height: H, cursor: 16, fps: 5 });
  const frames: Array<{ keyframe: boolean; rect: boolean }> = [];
  viewer.on('video', (v) => frames.push({ keyframe: v.keyframe, rect: v.rect !== undefined }));
  const sent: string[] = [];
  for (let n = 0; n < 3; n++) {
    const arrived = next(viewer, 'video');
    sent.push((await cam.sendVideoPixels(scene.frame(n), { width: W, height: H, format: 'rgba' })).sent);
    await arrived;
  }
  assert.deepEqual(sent, ['full', 'rects', 'rects']);
  assert.deepEqual(frames.map((f) => f.rect), [false, true, true]);
  const asked = next(cam, 'fullFrameRequest');
  assert.equal(viewer.requestFullFrame('cam'), true);
  assert.deepEqual((await asked)[0], { mediaIndex: 0 });
  const whole = next(viewer, 'video');
  assert.equal((await cam.sendVideoPixels(scene.frame(3), { width: W, height: H, format: 'rgba' })).sent, 'full');
  assert.equal((await whole)[0].keyframe, true);
  assert.equal(viewer.requestFullFrame('nobody-sends', 0), true, 'one video link from the server carries every sender');
});
