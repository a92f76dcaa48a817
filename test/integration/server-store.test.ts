/**
 * The MediaServer's state across restarts (docs/behaviour.md, section 7): what a SqliteStore
 * keeps, what it does not, two servers on one folder, and a store whose writes fail.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { DeliveryError, ErrorCode, MediaServer, MemoryStore, Receiver, SqliteStore, StoreError, type MediaServerOptions } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startClient, tempDir, type TestClient } from '../helpers/server-client.js';

async function server(t: TestContext, dir: string, o: MediaServerOptions = {}): Promise<MediaServer> {
  const s = new MediaServer({ host: '127.0.0.1', store: new SqliteStore({ dir }), ...o });
  await s.start();
  t.after(() => s.stop());
  return s;
}

async function leave(...clients: TestClient[]): Promise<void> {
  for (const c of clients) {
    await c.tx.stop();
    await c.rx.stop();
  }
}

describe('server store', () => {
  test('restart - groups, permanent members, kept lists and known clients are back; temporary state is not', async (t) => {
    const dir = tempDir(t);
    const s1 = await server(t, dir, { keepClientInfo: true });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => startClient(t, s1, id)));
    await a.tx.joinGroup('room', { permanent: true, name: 'Room', password: 'pw' });
    await b.tx.joinGroup('room', { permanent: true, password: 'pw' });
    await c.tx.joinGroup('room', { password: 'pw' });
    await c.tx.joinGroup('lobby', { permanent: false });
    await a.tx.addDefaultReceiver('b');
    await b.tx.addAllowedSender('a');
    await c.tx.clearAllowedSenders(false);
    await leave(a, b, c);
    await s1.stop();

    const s2 = await server(t, dir, { keepClientInfo: true });
    const byId = Object.fromEntries(s2.clients().map((x) => [x.id, x]));
    assert.deepEqual(Object.keys(byId).sort(), ['a', 'b', 'c']);
    assert.ok(Object.values(byId).every((x) => !x.online && x.lastSeen >= x.firstSeen && x.firstSeen > 0));
    assert.deepEqual(s2.stats().groups, [{ id: 'room', name: 'Room', owner: 'a', members: ['a', 'b'] }]);
    assert.deepEqual([byId.a.defaultReceivers, byId.b.allowedSenders, byId.c.allowedSenders, byId.a.allowedSenders], [['b'], ['a'], [], 'all']);

    const d = await startClient(t, s2, 'd');
    assert.deepEqual((await d.tx.getAllUsers()).sort(), ['a', 'b', 'c', 'd']);
    assert.deepEqual(await d.tx.getAllOnlineUsers(), ['d']);
    assert.deepEqual((await d.tx.getGroupUsers('room')).sort(), ['a', 'b']);
    assert.deepEqual(await d.tx.getGroupUsers('room', { online: true }), []);
    assert.deepEqual(await d.tx.getAllGroups(), ['room']);
    // The password was kept as a hash, and still decides.
    await assert.rejects(d.tx.joinGroup('room', { password: 'wrong' }), (e: unknown) => e instanceof DeliveryError && /wrong password/.test(e.message));
    assert.deepEqual(await d.tx.joinGroup('room', { password: 'pw' }), { group: 'room', owner: 'a', name: 'Room' });

    // Reconnecting clients carry on: a's default receivers still lead to b, whose filter lets a in.
    const [a2, b2] = await Promise.all(['a', 'b'].map((id) => startClient(t, s2, id)));
    const got = next(b2.rx, 'data');
    await a2.tx.sendData(Buffer.from('after the restart'));
    assert.equal(String((await got)[0]), 'after the restart');
    const inRoom = next(d.rx, 'command');
    await a2.tx.sendCommand({ name: 'hello-room' }, { group: 'room' });
    assert.equal((await inRoom)[1].from, 'a');
  });

  test('restart - without keepClientInfo the lists go when the client does, the directory stays', async (t) => {
    const dir = tempDir(t);
    const s1 = await server(t, dir);
    const a = await startClient(t, s1, 'a');
    await a.tx.addDefaultReceiver('b');
    const off = next(s1, 'clientDisconnected');
    await leave(a);
    await off;
    assert.deepEqual(s1.clients().find((x) => x.id === 'a')?.defaultReceivers, []);
    await s1.stop();
    const s2 = await server(t, dir);
    assert.deepEqual(s2.clients().map((x) => [x.id, x.online, x.defaultReceivers]), [['a', false, []]]);
  });

  test('restart - users added at run time log in after a restart; configured ones cannot be replaced', async (t) => {
    const dir = tempDir(t);
    const auth = { users: [{ user: 'admin', password: 'admin-pw' }] };
    const s1 = await server(t, dir, { auth });
    await s1.addUser({ user: 'carol', password: 'carol-pw', clientIds: ['carol-cam'] });
    await assert.rejects(s1.addUser({ user: 'admin', password: 'x' }), /comes from the configuration/);
    await s1.stop();
    const s2 = await server(t, dir, { auth });
    const ok = await startClient(t, s2, 'carol-cam', { tx: { auth: { user: 'carol', password: 'carol-pw' } }, rx: { auth: { user: 'carol', password: 'carol-pw' } } });
    await ok.tx.joinGroup('g');
    // Her id stays hers: another user cannot take it.
    const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: s2.ports.tcp }], clientId: 'carol-cam', auth: { user: 'admin', password: 'admin-pw' }, reconnect: false });
    t.after(() => rx.stop());
    const refused = next(rx, 'sessionDisconnected');
    await rx.start();
    assert.match((await refused)[0].error?.message ?? '', /1202/);
    assert.equal(s2.removeUser('carol'), true);
    await s2.stop();
    const s3 = await server(t, dir, { auth });
    await assert.rejects(s3.addUser({ user: 'dave', password: '' }), /needs user and password/);
    assert.equal(s3.removeUser('carol'), false);
  });

  test('two servers on one folder: the second is refused with STORE_LOCKED, the first goes on', async (t) => {
    const dir = tempDir(t);
    const s1 = await server(t, dir);
    const s2 = new MediaServer({ host: '127.0.0.1', store: new SqliteStore({ dir }) });
    await assert.rejects(s2.start(), (e: unknown) => e instanceof StoreError && e.code === ErrorCode.STORE_LOCKED && /another camwire server/i.test(e.message));
    assert.deepEqual(s2.ports, { tcp: 0, http: 0, udp: 0 });
    const a = await startClient(t, s1, 'a');
    await a.tx.joinGroup('still-works');
  });

  test('a store write that fails is logged and counted, and the server goes on from memory', async (t) => {
    class FailingStore extends MemoryStore {
      override putMember(): void {
        throw new StoreError(ErrorCode.STORE_WRITE, 'disk on fire');
      }
    }
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (o: object, msg?: string) => errors.push(`${msg} ${(o as { op?: string }).op}`) };
    const s = new MediaServer({ host: '127.0.0.1', store: new FailingStore(), logger });
    await s.start();
    t.after(() => s.stop());
    const [a, b] = await Promise.all(['a', 'b'].map((id) => startClient(t, s, id)));
    await a.tx.joinGroup('room', { permanent: true });
    await b.tx.joinGroup('room', { permanent: true });
    assert.deepEqual(errors, ['store write failed; going on from memory putMember', 'store write failed; going on from memory putMember']);
    assert.match(await s.metrics.metrics(), /camwire_store_errors_total 2/);
    const got = next(b.rx, 'command');
    await a.tx.sendCommand({ name: 'x' }, { group: 'room' });
    assert.equal((await got)[0].name, 'x');
  });
});
