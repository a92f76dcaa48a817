/**
 * MediaServer (docs/behaviour.md, section 5): client -> server -> client scenarios over real loopback
 * sockets, in which no client listens on any port.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DeliveryError, Receiver, Sender, hashPassword } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { nodesOf, offlineEverywhere, serverFor, serverOf, startClient, startServer } from '../helpers/server-client.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function collect(rx: Receiver): string[] {
  const got: string[] = [];
  rx.on('command', (c, m) => got.push(`${c.name}<${m.from}`));
  return got;
}

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('routing', () => {
  test('routing - to: only the addressee, over every push transport, attributed to the sender id', async (t) => {
    const s = await startServer(t);
    const bob = await startClient(t, s, 'bob', { pull: 'http' });
    const carol = await startClient(t, s, 'carol');
    const bobGot = collect(bob.rx);
    const carolGot = collect(carol.rx);
    for (const push of ['tcp', 'udp', 'http'] as const) {
      const alice = await startClient(t, s, `alice-${push}`, { push });
      await alice.tx.sendCommand({ name: 'hi' }, { to: 'bob' });
      const video = next(bob.rx, 'video');
      alice.tx.sendVideoFrame(Buffer.alloc(150_000, 3), { to: 'bob', mediaIndex: 1 });
      const [v, m] = await video;
      assert.equal(v.data.length, 150_000);
      assert.equal(m.from, `alice-${push}`);
      assert.equal(m.mediaIndex, 1);
    }
    assert.deepEqual(bobGot, ['hi<alice-tcp', 'hi<alice-udp', 'hi<alice-http']);
    assert.deepEqual(carolGot, []);
  });

  test('routing - to: every media type by id, with its metadata and the sender id', async (t) => {
    const fsm = await import('node:fs');
    const os = await import('node:os');
    const dir = fsm.mkdtempSync(path.join(os.tmpdir(), 'camwire-types-'));
    t.after(() => fsm.rmSync(dir, { recursive: true, force: true }));
    const s = await startServer(t);
    const alice = await startClient(t, s, 'alice');
    const bob = await startClient(t, s, 'bob', { rx: { fileDir: dir } });
    const video = next(bob.rx, 'video');
    const audio = next(bob.rx, 'audio');
    const cmd = next(bob.rx, 'command');
    const data = next(bob.rx, 'data');
    const fileEnd = next(bob.rx, 'fileEnd');
    const jpeg = Buffer.alloc(70_000, 0xab);
    alice.tx.sendVideoFrame(jpeg, { to: 'bob', imageType: 'jpeg', width: 640, height: 480, mediaIndex: 2 });
    alice.tx.sendAudio(Buffer.alloc(1920, 1), { to: 'bob', codec: 'opus', sampleRate: 48000, channels: 2 });
    await alice.tx.sendCommand({ name: 'zoom', params: { level: 2 } }, { to: 'bob', mediaIndex: 1 });
    await alice.tx.sendData(Buffer.from('blob'), { to: 'bob' });
    const file = path.join(dir, 'clip.src');
    const content = Buffer.alloc(200_000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 31) & 0xff;
    fsm.writeFileSync(file, content);
    await alice.tx.sendFile(file, { to: 'bob', name: 'clip.bin' });
    const [v, vm] = await video;
    assert.deepEqual([v.imageType, v.width, v.height, vm.mediaIndex, vm.from], ['jpeg', 640, 480, 2, 'alice']);
    assert.ok(v.data.equals(jpeg));
    const [a, am] = await audio;
    assert.deepEqual([a.codec, a.sampleRate, a.channels, a.data.length, am.from], ['opus', 48000, 2, 1920, 'alice']);
    const [c, cm] = await cmd;
    assert.deepEqual([c.name, c.params.level, cm.mediaIndex, cm.from], ['zoom', 2, 1, 'alice']);
    const [d, dm] = await data;
    assert.deepEqual([d.toString(), dm.from], ['blob', 'alice']);
    const [fe] = await fileEnd;
    assert.equal(fe.ok, true);
    assert.ok(fsm.readFileSync(path.join(dir, 'clip.bin')).equals(content));
  });

  test('routing - group: every member but the sender; a non-member is refused', async (t) => {
    const s = await startServer(t);
    const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((id) => startClient(t, s, id)));
    for (const x of [a, b, c]) await x.tx.joinGroup('room');
    const got = [a, b, c, d].map((x) => collect(x.rx));
    await a.tx.sendCommand({ name: 'hello-room' }, { group: 'room' });
    assert.deepEqual(got, [[], ['hello-room<a'], ['hello-room<a'], []]);
    await assert.rejects(d.tx.sendCommand({ name: 'intruder' }, { group: 'room' }), (e: unknown) => e instanceof DeliveryError && /not a member/.test(e.message));
  });

  test('routing - default receivers; with none, reliable data is refused and media is counted as unrouted', async (t) => {
    const s = await startServer(t);
    const a = await startClient(t, s, 'a', { tx: { idleTimeoutMs: 50 } });
    const [b, c] = await Promise.all(['b', 'c'].map((id) => startClient(t, s, id)));
    await assert.rejects(a.tx.sendData(Buffer.from('nowhere')), (e: unknown) => e instanceof DeliveryError && /nowhere to send/.test(e.message));
    // The video connection closes when idle, after the server has handled every frame on it.
    const as = serverOf(a, s);
    const videoDone = next(as, 'disconnect', (ev) => ev.remoteSessionKey === a.tx.sessionKey && as.stats().unrouted.video === 1);
    a.tx.sendVideoFrame(Buffer.alloc(10));
    await videoDone;
    await a.tx.addDefaultReceiver('b');
    await a.tx.addDefaultReceiver('c');
    const got = [b, c].map((x) => {
      const d: string[] = [];
      x.rx.on('data', (buf, m) => d.push(`${buf}<${m.from}`));
      return d;
    });
    await a.tx.sendData(Buffer.from('x'));
    // `to` and `group` given in the call override the default receivers.
    await a.tx.sendData(Buffer.from('y'), { to: 'c' });
    assert.deepEqual(got, [['x<a'], ['x<a', 'y<a']]);
    await a.tx.removeDefaultReceiver('b');
    await a.tx.sendData(Buffer.from('z'));
    assert.deepEqual(got[0], ['x<a']);
    assert.equal(as.stats().unrouted.video, 1);
  });

  test('routing - allowed senders: a list lets only its members in; clear(false) blocks all, clear(true) allows all', async (t) => {
    const s = await startServer(t);
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => startClient(t, s, id)));
    await c.tx.addAllowedSender('a');
    await a.tx.sendCommand({ name: 'from-a' }, { to: 'c' });
    await assert.rejects(b.tx.sendCommand({ name: 'from-b' }, { to: 'c' }), DeliveryError);
    await c.tx.clearAllowedSenders(false);
    await assert.rejects(a.tx.sendCommand({ name: 'blocked' }, { to: 'c' }), DeliveryError);
    await c.tx.clearAllowedSenders(true);
    const got = collect(c.rx);
    await b.tx.sendCommand({ name: 'open-again' }, { to: 'c' });
    assert.deepEqual(got, ['open-again<b']);
    assert.ok(serverOf(c, s).clients().find((x) => x.id === 'c')!.dropped.command >= 2);
  });
});

describe('groups', () => {
  test('groups - the creator fixes name and password; a wrong password and onlyExisting are refused', async (t) => {
    const s = await startServer(t, { maxGroups: 2 });
    const [a, b] = await Promise.all(['a', 'b'].map((id) => startClient(t, s, id)));
    assert.deepEqual(await a.tx.joinGroup('g1', { name: 'Lobby', password: 'secret' }), { group: 'g1', owner: 'a', name: 'Lobby' });
    const errEv = next(b.rx, 'serverError');
    // The promise itself carries the specific code (and the receiver's serverError too).
    await assert.rejects(b.tx.joinGroup('g1', { password: 'guess' }), (e: unknown) => e instanceof DeliveryError && e.code === 'CW_ERR_GROUP_PASSWORD' && /^RVS_JOIN_GROUP refused by the server: wrong password for group "g1"$/.test(e.message));
    assert.equal((await errEv)[0].code, 'CW_ERR_GROUP_PASSWORD');
    const joined = next(a.rx, 'userJoinsGroup');
    assert.deepEqual(await b.tx.joinGroup('g1', { password: 'secret', name: 'ignored' }), { group: 'g1', owner: 'a', name: 'Lobby' });
    assert.deepEqual((await joined).slice(0, 2), ['g1', 'b']);
    await assert.rejects(b.tx.joinGroup('nope', { onlyExisting: true }), { code: 'CW_ERR_GROUP_NOT_FOUND', message: /does not exist/ });
    await a.tx.joinGroup('g2');
    await assert.rejects(a.tx.joinGroup('g3'), { code: 'CW_ERR_GROUP_LIMIT', message: /at most 2 groups/ });
    assert.deepEqual((await b.tx.getAllGroups()).sort(), ['g1', 'g2']);
    const info = next(b.rx, 'groupInfo');
    assert.deepEqual(await b.tx.getGroupInfo('g1'), { group: 'g1', owner: 'a', name: 'Lobby' });
    assert.deepEqual((await info)[0], { group: 'g1', owner: 'a', name: 'Lobby' });
    const left = next(a.rx, 'userLeavesGroup');
    await b.tx.leaveGroup('g1');
    assert.deepEqual((await left).slice(0, 2), ['g1', 'b']);
  });

  test('groups - temporary members leave on disconnect, permanent members stay (offline)', async (t) => {
    const s = await startServer(t);
    const owner = await startClient(t, s, 'owner');
    const temp = await startClient(t, s, 'temp');
    const perm = await startClient(t, s, 'perm');
    await owner.tx.joinGroup('room');
    await temp.tx.joinGroup('room');
    await perm.tx.joinGroup('room', { permanent: true });
    assert.deepEqual((await owner.tx.getGroupUsers('room')).sort(), ['owner', 'perm', 'temp']);
    const leaves: string[] = [];
    owner.rx.on('userLeavesGroup', (_g, u) => leaves.push(u));
    const goneTemp = next(owner.rx, 'userLeavesGroup', (_g, u) => u === 'temp');
    await temp.rx.stop();
    await goneTemp;
    const permOff = next(serverOf(perm, s), 'clientDisconnected', (c) => c.id === 'perm');
    await perm.rx.stop();
    await permOff;
    await offlineEverywhere(s, 'perm');
    assert.deepEqual((await owner.tx.getGroupUsers('room')).sort(), ['owner', 'perm']);
    assert.deepEqual(await owner.tx.getGroupUsers('room', { online: true }), ['owner']);
    assert.deepEqual(leaves, ['temp']);
  });
});

describe('contact lists', () => {
  test('contacts - hello and goodbye notify the list; the server says goodbye for a killed process', async (t) => {
    const s = await startServer(t);
    const carol = await startClient(t, s, 'carol');
    const a = await startClient(t, s, 'a');
    await a.tx.addDefaultReceiver('carol');
    const enter = next(carol.rx, 'userEnter');
    await a.tx.helloToDefaultReceivers();
    assert.equal((await enter)[0], 'a');
    const exit = next(carol.rx, 'userExit');
    await a.tx.goodbyeToDefaultReceivers();
    assert.equal((await exit)[0], 'a');

    // A real child process, killed with SIGKILL: it cannot say goodbye, the server does.
    const child = spawn(process.execPath, [path.join(root, 'test/fixtures/kill-me-client.mjs'), String(serverFor(s).ports.tcp), 'doomed', 'carol'], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    const entered = next(carol.rx, 'userEnter', (u) => u === 'doomed', 15000);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    await entered;
    const exited = next(carol.rx, 'userExit', (u) => u === 'doomed', 20000);
    child.kill('SIGKILL');
    assert.equal((await exited)[0], 'doomed');
  });

  test('contacts - a client that only pushes is owed its goodbye too, when its last push link closes', async (t) => {
    const s = await startServer(t);
    const carol = await startClient(t, s, 'carol');
    const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: serverFor(s).ports.tcp, clientId: 'pusher' });
    t.after(() => tx.stop());
    await tx.start();
    await tx.addDefaultReceiver('carol');
    const enter = next(carol.rx, 'userEnter');
    await tx.helloToDefaultReceivers();
    assert.equal((await enter)[0], 'pusher');
    const exit = next(carol.rx, 'userExit');
    await tx.stop();
    assert.equal((await exit)[0], 'pusher');
  });

  test('contacts - allowed-senders hello, media access request and allow, directory', async (t) => {
    const s = await startServer(t);
    const [a, b] = await Promise.all(['a', 'b'].map((id) => startClient(t, s, id)));
    await b.tx.addAllowedSender('a');
    const hello = next(a.rx, 'userEnter');
    await b.tx.helloToAllowedSenders();
    assert.equal((await hello)[0], 'b');
    // a asks b for its media; b's application agrees: a becomes one of b's default receivers.
    const asked = next(b.rx, 'mediaAccessRequest');
    await a.tx.sendMediaAccessRequest('b');
    assert.equal((await asked)[0].user, 'a');
    await b.tx.allowMediaAccess('a');
    const video = next(a.rx, 'video');
    b.tx.sendVideoFrame(Buffer.alloc(1000));
    assert.equal((await video)[1].from, 'b');
    const cancel = next(b.rx, 'mediaAccessCancelRequest');
    await a.tx.sendMediaAccessCancelRequest('b');
    assert.equal((await cancel)[0].user, 'a');
    await b.tx.cancelMediaAccess('a');
    await assert.rejects(b.tx.sendData(Buffer.from('x')), /nowhere/);
    assert.deepEqual((await a.tx.getAllOnlineUsers()).sort(), ['a', 'b']);
    const all = next(a.rx, 'allUsers');
    assert.deepEqual((await a.tx.getAllUsers()).sort(), ['a', 'b']);
    assert.deepEqual((await all)[0].sort(), ['a', 'b']);
  });

  test('contacts - keepClientInfo keeps a client\'s lists after it disconnects', async (t) => {
    const s = await startServer(t, { keepClientInfo: true });
    const a = await startClient(t, s, 'a');
    await a.tx.addDefaultReceiver('b');
    const off = next(serverOf(a, s), 'clientDisconnected');
    await a.rx.stop();
    await off;
    assert.deepEqual(serverOf(a, s).clients().find((c) => c.id === 'a')?.defaultReceivers, ['b']);
    assert.deepEqual(await a.tx.getAllUsers(), ['a']);
  });
});

describe('metrics', () => {
  test('metrics - bad input is counted by error code in /metrics', async (t) => {
    const s = await startServer(t);
    const reported = next(s, 'protocolError');
    const sock = net.connect(s.ports.tcp, '127.0.0.1');
    t.after(() => sock.destroy());
    sock.on('error', () => {});
    sock.write(Buffer.alloc(64, 0x41));
    const [err] = await reported;
    assert.equal(err.code, 'CW_ERR_PROTOCOL_BAD_MAGIC');
    assert.match(await s.metrics.metrics(), /camwire_bad_input_total\{code="CW_ERR_PROTOCOL_BAD_MAGIC"\} 1/);
  });
});

describe('identity', () => {
  test('identity - a second client with an online id disconnects the first, which does not fight back', async (t) => {
    const s = await startServer(t);
    const first = await startClient(t, s, 'same', { rx: { reconnect: { initialDelayMs: 20 } } });
    const kicked = next(first.rx, 'sessionDisconnected');
    const second = await startClient(t, s, 'same');
    const [ev] = await kicked;
    assert.match(ev.error?.message ?? '', /1203/);
    assert.equal(second.rx.sessionConnected, true);
    const a = await startClient(t, s, 'a');
    const got = next(second.rx, 'command');
    await a.tx.sendCommand({ name: 'which' }, { to: 'same' });
    assert.equal((await got)[0].name, 'which');
    assert.equal(first.rx.sessionConnected, false);
  });

  test('identity - the server sends commands to clients, lists and kicks them', async (t) => {
    const s = await startServer(t);
    const a = await startClient(t, s, 'a');
    const got = next(a.rx, 'command');
    await s.sendCommand('a', { name: 'from-server', params: { n: 1 } });
    assert.equal((await got)[1].from, 'server');
    // On a cluster, `s` may be another node than a's: clients() and kick() are about a node's own clients.
    const as = serverOf(a, s);
    assert.deepEqual(as.clients().map((c) => [c.id, c.online, c.channels.length]), [['a', true, 5]]);
    const down = next(a.rx, 'sessionDisconnected');
    assert.equal(as.kick('a'), true);
    await down;
    await assert.rejects(as.sendCommand('a', { name: 'gone' }), DeliveryError);
  });

  test('server commands - RVSU_ raises a server event and is not forwarded; RV_ and RVS_ are refused', async (t) => {
    const s = await startServer(t);
    const [a, b] = await Promise.all(['a', 'b'].map((id) => startClient(t, s, id)));
    await a.tx.addDefaultReceiver('b');
    const got = collect(b.rx);
    const ev = next(serverOf(a, s), 'serverCommand');
    await a.tx.sendCommand({ name: 'RVSU_RECORD', params: { on: true } }, { to: 'b' });
    const [cmd, meta] = await ev;
    assert.deepEqual([cmd.name, cmd.params.on, meta.from, meta.to], ['RVSU_RECORD', true, 'a', 'b']);
    assert.throws(() => a.tx.sendCommand({ name: 'RVSU_BIG', params: { x: 'x'.repeat(9000) } }), RangeError);
    assert.throws(() => a.tx.sendCommand({ name: 'RV_FAKE' }), { code: 'CW_ERR_COMMAND_RESERVED_NAME' });
    await a.tx.sendCommand({ name: 'normal' });
    assert.deepEqual(got, ['normal<a']);
  });
});

describe('authentication', () => {
  async function authServer(t: Parameters<typeof startServer>[0]) {
    return startServer(t, {
      auth: {
        users: [
          { user: 'ann', password: 'right', clientIds: ['cam-ann'] },
          { user: 'ben', passwordHash: await hashPassword('pw2') },
        ],
        verify: (req) => (req.token === 'tok-1' ? 'tokenuser' : false),
      },
    });
  }

  for (const push of ['tcp', 'udp', 'http'] as const) {
    test(`auth - a sender pushing over ${push} without valid credentials is refused with a clear error`, async (t) => {
      const s = await authServer(t);
      const bad = new Sender({ protocol: push, host: '127.0.0.1', port: s.ports[push], clientId: 'x', auth: { user: 'ben', password: 'wrong' }, reconnect: false });
      await bad.start();
      t.after(() => bad.stop());
      const refused = next(bad, 'connectError');
      bad.sendCommand({ name: 'x' }).catch(() => {});
      const [ev] = await refused;
      assert.equal(ev.error?.code, 'CW_ERR_REMOTE_CLOSE');
      assert.match(ev.error!.message, /1202 wrong user name or password/);
      const good = new Sender({ protocol: push, host: '127.0.0.1', port: s.ports[push], clientId: 'y', auth: { user: 'ben', password: 'pw2' } });
      await good.start();
      t.after(() => good.stop());
      await assert.rejects(good.sendData(Buffer.from('ok?')), /nowhere/); // admitted: the refusal is about routing
    });
  }

  for (const pull of ['tcp', 'http'] as const) {
    test(`auth - a receiver pulling over ${pull} without credentials gets sessionDisconnected with the refusal, and no retry storm`, async (t) => {
      const s = await authServer(t);
      const rx = new Receiver({ protocol: pull, connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: s.ports[pull] }], clientId: 'z' });
      t.after(() => rx.stop());
      const down = next(rx, 'sessionDisconnected');
      await rx.start();
      const [ev] = await down;
      assert.match(ev.error?.message ?? '', /1202 credentials required/);
      const ok = new Receiver({ protocol: pull, connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: s.ports[pull] }], clientId: 'tk', auth: { token: 'tok-1' } });
      t.after(() => ok.stop());
      const up = next(ok, 'sessionConnected');
      await ok.start();
      await up;
      assert.equal(s.clients().find((c) => c.id === 'tk')?.user, 'tokenuser');
    });
  }

  test('auth - with users, /stats, /metrics and the web routes need an HTTP login', async (t) => {
    const s = await authServer(t);
    const anon = await fetch(`http://127.0.0.1:${s.ports.http}/stats`);
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /Basic/);
    const bad = await fetch(`http://127.0.0.1:${s.ports.http}/metrics`, { headers: { authorization: 'Basic ' + Buffer.from('ann:wrong').toString('base64') } });
    assert.equal(bad.status, 401);
    const ok = await fetch(`http://127.0.0.1:${s.ports.http}/stats`, { headers: { authorization: 'Basic ' + Buffer.from('ann:right').toString('base64') } });
    assert.equal(ok.status, 200);
    assert.equal(typeof (await ok.json()).online, 'number');
  });

  test('auth - a client id bound to a user cannot be taken by another user', async (t) => {
    const s = await authServer(t);
    const thief = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.ports.tcp, clientId: 'cam-ann', auth: { user: 'ben', password: 'pw2' }, reconnect: false });
    await thief.start();
    t.after(() => thief.stop());
    const refused = next(thief, 'connectError');
    thief.sendCommand({ name: 'x' }).catch(() => {});
    assert.match((await refused)[0].error!.message, /belongs to another user/);
    const owner = await startClient(t, s, 'cam-ann', { tx: { auth: { user: 'ann', password: 'right' } }, rx: { auth: { user: 'ann', password: 'right' } } });
    assert.equal(owner.rx.sessionConnected, true);
  });
});

describe('slow readers', () => {
  test('slow reader - one reader at 10 KB/s beside fast readers: fast delivery unaffected, server memory bounded', async (t) => {
    const s = await startServer(t);
    const relay = await startTcpRelay(s.ports.tcp, '127.0.0.1', 10 * 1024);
    t.after(() => relay.close());
    const pub = await startClient(t, s, 'pub');
    const fast = await Promise.all(['f1', 'f2', 'f3'].map((id) => startClient(t, s, id)));
    const slow = await startClient(t, s, 'slow', { pullPort: relay.port, rx: { receiveMediaTypes: ['video', 'command'] } });
    await pub.tx.joinGroup('live');
    for (const x of [...fast, slow]) await x.tx.joinGroup('live');
    const counts = new Map<string, number>();
    for (const x of [...fast, slow]) x.rx.on('video', () => counts.set(x.id, (counts.get(x.id) ?? 0) + 1));
    const N = 150;
    const frame = Buffer.alloc(64 * 1024, 7);
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < N; i++) {
      const all = Promise.all(fast.map((f) => next(f.rx, 'video')));
      pub.tx.sendVideoFrame(frame, { group: 'live' });
      await all;
    }
    for (const f of fast) assert.equal(counts.get(f.id), N, `${f.id} got every frame`);
    const slowGot = counts.get('slow') ?? 0;
    assert.ok(slowGot < N / 2, `the slow reader got ${slowGot} of ${N}`);
    const info = s.clients().find((c) => c.id === 'slow')!;
    assert.ok(info.dropped.video > 0, 'drops for the slow reader are counted');
    assert.equal(serverOf(fast[0], s).clients().find((c) => c.id === 'f1')!.dropped.video, 0);
    const grown = process.memoryUsage().rss - rss0;
    assert.ok(grown < 150 * 1024 * 1024, `RSS grew ${Math.round(grown / 1048576)} MiB for ${N} frames of 64 KiB to 4 readers`);
    // Reliable data to the slow reader is not dropped: it arrives, late.
    const cmd = next(slow.rx, 'command', undefined, 20000);
    await pub.tx.sendCommand({ name: 'still-there' }, { to: 'slow' });
    assert.equal((await cmd)[0].name, 'still-there');
  });

  test('slow reader - a reader that does not drain gets reliable data refused back to the sender on overflow', async (t) => {
    const s = await startServer(t, { buffers: { data: 300_000 } });
    const relay = await startTcpRelay(s.ports.tcp);
    t.after(() => relay.close());
    const pub = await startClient(t, s, 'pub', { tx: { queueBytes: { data: 50_000_000 }, reliableWindow: 64 } });
    await startClient(t, s, 'stuck', { pullPort: relay.port, rx: { receiveMediaTypes: ['data'] } });
    // The reader stops reading: the server's socket to it fills, then its bounded queue.
    for (const [a, b] of relay.pairs) {
      a.pause();
      b.pause();
    }
    relay.stall();
    const firstRefusal = new Promise<Error>((resolve) => {
      for (let i = 0; i < 40; i++) {
        pub.tx.sendData(Buffer.alloc(100_000), { to: 'stuck' }).catch((e: Error) => {
          if (/queue is full/.test(e.message)) resolve(e);
        });
      }
    });
    const err = await firstRefusal;
    assert.ok(err instanceof DeliveryError, 'overflow is refused back to the sender, never dropped silently');
    assert.ok(s.clients().find((c) => c.id === 'stuck')!.dropped.data >= 1, 'and counted for the reader');
  });
});

describe('observability', () => {
  test('stats - JSON stats and Prometheus metrics on the HTTP port', async (t) => {
    const s = await startServer(t);
    const [a, b] = await Promise.all(['a', 'b'].map((id) => startClient(t, s, id)));
    await a.tx.joinGroup('g');
    await a.tx.sendCommand({ name: 'x' }, { to: 'b' });
    // One server, or each node of a cluster about its own clients (the groups are every node's).
    let online = 0;
    for (const n of nodesOf(s)) {
      const st = await get(n.ports.http, '/stats');
      assert.equal(st.status, 200);
      const j = JSON.parse(st.body);
      online += j.online;
      assert.deepEqual(j.groups, [{ id: 'g', name: '', owner: 'a', members: ['a'] }]);
      if (n === serverOf(b, s)) assert.equal(j.clients.find((c: { id: string }) => c.id === 'b').out.command.frames, 1);
      const m = await get(n.ports.http, '/metrics');
      assert.equal(m.status, 200);
      assert.match(m.body, new RegExp(`camwire_clients_online ${j.online}`));
    }
    assert.equal(online, 2);
    const m = await get(serverOf(a, s).ports.http, '/metrics');
    assert.match(m.body, /camwire_frames_total\{direction="in",type="command"\} \d+/);
  });
});

describe('files through the server', () => {
  test('files - a file relayed to a client with fileDir resumes from the offset the reader reports', async (t) => {
    const fsm = await import('node:fs');
    const os = await import('node:os');
    const dir = fsm.mkdtempSync(path.join(os.tmpdir(), 'camwire-relayfile-'));
    t.after(() => fsm.rmSync(dir, { recursive: true, force: true }));
    const content = Buffer.alloc(1_500_000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 3 + (i >> 9)) & 0xff;
    const src = path.join(dir, 'big.bin');
    fsm.writeFileSync(src, content);
    const inbox = path.join(dir, 'inbox');
    fsm.mkdirSync(inbox);
    // A partial copy is already there, as if an earlier transfer broke off.
    fsm.writeFileSync(path.join(inbox, 'big.bin.part'), content.subarray(0, 400_000));
    const s = await startServer(t);
    const a = await startClient(t, s, 'a', { tx: { fileChunkSize: 32 * 1024 } });
    const b = await startClient(t, s, 'b', { rx: { fileDir: inbox } });
    const end = next(b.rx, 'fileEnd');
    const [res] = await a.tx.sendFile(src, { to: 'b' });
    assert.equal(res.offset, 400_000);
    const [info] = await end;
    assert.equal(info.ok, true);
    assert.ok(fsm.readFileSync(path.join(inbox, 'big.bin')).equals(content));
  });
});
