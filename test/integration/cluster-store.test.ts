/**
 * Shared state of a cluster (docs/cluster.md, Users and Known clients): users added at run time
 * and the clients every node has seen, in the KV buckets `<prefix>_users` and `<prefix>_known`.
 * A real nats-server with JetStream, two or three MediaServers in this process.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { Kvm, KvWatchInclude } from '@nats-io/kv';
import { hashPassword, MediaServer, MemoryStore, Receiver, type ClusterEvent, type MediaServerOptions } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startNats, type Nats } from '../helpers/nats.js';
import { startClient } from '../helpers/server-client.js';
import { until } from '../helpers/wait.js';

interface Node {
  s: MediaServer;
  events: ClusterEvent[];
  store: MemoryStore;
}

const auth = { users: [{ user: 'admin', password: 'admin-pw' }] };

function newPrefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

async function startNode(t: TestContext, nats: Nats, prefix: string, name: string, o: MediaServerOptions & { store?: MemoryStore } = {}): Promise<Node> {
  const events: ClusterEvent[] = [];
  const store = o.store ?? new MemoryStore();
  const log = (lvl: string) => (obj: object, msg?: string) => process.env.CSTORE_LOG && console.log(`# ${name} ${lvl} ${msg} ${JSON.stringify(obj)}`);
  const logger = { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') };
  const s = new MediaServer({ host: '127.0.0.1', auth, logger, ...o, store, cluster: { servers: nats.url, prefix, name } });
  s.on('cluster', (ev) => events.push(ev));
  await s.start();
  t.after(() => s.stop());
  return { s, events, store };
}

/** Tries to log in on `s` as `user` with client id `id`: '' when let in, else the refusal. */
async function login(t: TestContext, s: MediaServer, id: string, user: string, password: string): Promise<string> {
  const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: s.ports.tcp }], clientId: id, auth: { user, password }, reconnect: false });
  t.after(() => rx.stop());
  const up = next(rx, 'sessionConnected').then(() => '');
  const refused = next(rx, 'sessionDisconnected').then(([ev]) => ev.error?.message ?? 'disconnected');
  await rx.start();
  const r = await Promise.race([up, refused]);
  up.catch(() => {});
  refused.catch(() => {});
  await rx.stop();
  return r;
}

/** Waits until `n` raised a `cluster` event of `type` for `user`. */
function userEvent(n: Node, type: 'userAdded' | 'userRemoved', user: string): Promise<void> {
  const has = (): boolean => n.events.some((e) => e.type === type && e.user === user);
  return until(has, { on: [[n.s, 'cluster']], timeoutMs: 10000, what: `${type} ${user} on ${n.s.stats().cluster?.node}` });
}

/** Waits until `n` heard from the bucket of each of `ids` (event clientKnown). */
function knows(n: Node, ids: string[]): Promise<void> {
  const has = (): boolean => ids.every((id) => n.events.some((e) => e.type === 'clientKnown' && e.id === id));
  return until(has, { on: [[n.s, 'cluster']], timeoutMs: 5000, what: () => `${n.s.stats().cluster?.node} knows ${ids.join(', ')}: ${JSON.stringify(n.events.filter((e) => e.type === 'clientKnown'))}` });
}

describe('cluster store', () => {
  test('cluster store - a user added on node A logs in on node B; removed on B, A refuses it', async (t) => {
    const nats = await startNats(t);
    const prefix = newPrefix();
    const a = await startNode(t, nats, prefix, 'a');
    const b = await startNode(t, nats, prefix, 'b');
    await a.s.addUser({ user: 'carol', password: 'carol-pw', clientIds: ['carol-cam'] });
    await userEvent(b, 'userAdded', 'carol');
    assert.deepEqual(b.events.find((e) => e.type === 'userAdded'), { type: 'userAdded', node: 'a', user: 'carol' });
    assert.equal(await login(t, b.s, 'carol-cam', 'carol', 'carol-pw'), '');
    assert.match(await login(t, b.s, 'carol-cam', 'carol', 'wrong'), /1202 wrong user name or password/);
    // Her client id is hers on B too.
    assert.match(await login(t, b.s, 'carol-cam', 'admin', 'admin-pw'), /1202 client id "carol-cam" belongs to another user/);
    // B keeps her in its own store (its SQLite, in production) as well.
    assert.deepEqual((await b.store.open()).users.map((u) => [u.user, u.clientIds]), [['carol', ['carol-cam']]]);

    assert.equal(b.s.removeUser('carol'), true);
    // B refuses her at once; A once its watch applied the removal.
    assert.match(await login(t, b.s, 'carol-cam', 'carol', 'carol-pw'), /1202/);
    await userEvent(a, 'userRemoved', 'carol');
    assert.match(await login(t, a.s, 'carol-cam', 'carol', 'carol-pw'), /1202/);
    assert.deepEqual((await a.store.open()).users, []);
    assert.equal(a.s.removeUser('carol'), false);
    // A user of a node's configuration is not replaced from the cluster, nor from the API.
    await assert.rejects(b.s.addUser({ user: 'admin', password: 'x' }), /comes from the configuration/);
    assert.equal(await login(t, a.s, 'adm', 'admin', 'admin-pw'), '');
  });

  test('cluster store - two nodes adding the same user at once: one is refused and told, every node agrees on the other', async (t) => {
    const nats = await startNats(t);
    const prefix = newPrefix();
    const a = await startNode(t, nats, prefix, 'a');
    const b = await startNode(t, nats, prefix, 'b');
    const [ha, hb] = await Promise.all([hashPassword('pw-a'), hashPassword('pw-b')]);
    for (let round = 0; round < 3; round++) {
      const user = `dan${round}`;
      // Same tick: both writes race in NATS.
      const results = await Promise.allSettled([a.s.addUser({ user, passwordHash: ha }), b.s.addUser({ user, passwordHash: hb })]);
      const ok = results.map((r) => r.status === 'fulfilled');
      console.log(`# round ${round}: addUser on a ${results[0].status}, on b ${results[1].status}`);
      assert.ok(ok[0] || ok[1], 'at least one addUser resolves');
      for (const r of results) if (r.status === 'rejected') assert.match((r.reason as Error).message, /changed on another node at the same time/);
      // Which password is the user's now: the same on both nodes, and one whose addUser resolved.
      const works = async (s: MediaServer): Promise<string[]> => {
        const out: string[] = [];
        if ((await login(t, s, `${user}-x`, user, 'pw-a')) === '') out.push('a');
        if ((await login(t, s, `${user}-y`, user, 'pw-b')) === '') out.push('b');
        return out;
      };
      await until(() => a.events.filter((e) => e.type === 'userAdded' && e.user === user).length === b.events.filter((e) => e.type === 'userAdded' && e.user === user).length, {
        on: [[a.s, 'cluster'], [b.s, 'cluster']],
        timeoutMs: 5000,
        what: 'both nodes applied the same changes',
      });
      const onA = await works(a.s);
      const onB = await works(b.s);
      assert.deepEqual(onA, onB);
      assert.equal(onA.length, 1);
      if (!ok[0] || !ok[1]) assert.deepEqual(onA, [ok[0] ? 'a' : 'b']);
    }
  });

  test('cluster store - two nodes giving one client id to two users at once: one addUser is refused, the id has one owner everywhere', async (t) => {
    const nats = await startNats(t);
    const prefix = newPrefix();
    const a = await startNode(t, nats, prefix, 'a');
    const b = await startNode(t, nats, prefix, 'b');
    const [he, hf] = await Promise.all([hashPassword('pw-e'), hashPassword('pw-f')]);
    const results = await Promise.allSettled([a.s.addUser({ user: 'erin', passwordHash: he, clientIds: ['cam'] }), b.s.addUser({ user: 'fred', passwordHash: hf, clientIds: ['cam'] })]);
    console.log(`# addUser erin on a ${results[0].status}, fred on b ${results[1].status}`);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one of them owns the id');
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.match((rejected.reason as Error).message, /belongs to user/);
    const [owner, pw, other, otherPw] = results[0].status === 'fulfilled' ? ['erin', 'pw-e', 'fred', 'pw-f'] : ['fred', 'pw-f', 'erin', 'pw-e'];
    // The refused user was put back (it did not exist): on no node.
    for (const n of [a, b]) {
      await until(() => !n.events.some((e) => e.type === 'userAdded' && e.user === other) || n.events.some((e) => e.type === 'userRemoved' && e.user === other), { on: [[n.s, 'cluster']], timeoutMs: 5000, what: `${other} gone` });
      assert.equal(await login(t, n.s, 'cam', owner, pw), '');
      assert.match(await login(t, n.s, 'other-cam', other, otherPw), /1202/);
    }
  });

  test('cluster store - getAllUsers lists every client seen by any node, online or not, the same on every node; writes are coalesced', async (t) => {
    const nats = await startNats(t);
    const prefix = newPrefix();
    const noAuth = { auth: undefined };
    const a = await startNode(t, nats, prefix, 'a', noAuth);
    const b = await startNode(t, nats, prefix, 'b', noAuth);
    // Count the writes of one client's record, from NATS itself.
    const nc = await connect({ servers: nats.url });
    t.after(() => nc.close());
    const kv = await new Kvm(nc).open(`${prefix}_known`);
    const writes = await kv.watch({ key: Buffer.from('flappy').toString('base64url'), include: KvWatchInclude.UpdatesOnly });
    let flappyWrites = 0;
    const wrote = new EventEmitter();
    void (async () => {
      for await (const e of writes) if (e.operation === 'PUT') wrote.emit('put', ++flappyWrites);
    })();
    t.after(() => writes.stop());

    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    // Seen on A, gone since: known only to A's directory, and through the bucket to B.
    const cycles = 10;
    for (let i = 0; i < cycles; i++) {
      const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: a.s.ports.tcp }], clientId: 'flappy', reconnect: false });
      const up = next(rx, 'sessionConnected');
      await rx.start();
      await up;
      const gone = next(a.s, 'clientDisconnected');
      await rx.stop();
      await gone;
    }
    // Each node writes what it saw once per second; the others raise clientKnown when it arrives.
    await knows(b, ['alice', 'flappy']);
    await knows(a, ['bob']);
    const want = ['alice', 'bob', 'flappy'];
    assert.deepEqual((await alice.tx.getAllUsers()).sort(), want);
    assert.deepEqual((await bob.tx.getAllUsers()).sort(), want);
    assert.deepEqual(b.events.find((e) => e.type === 'clientKnown' && e.id === 'flappy'), { type: 'clientKnown', node: 'a', id: 'flappy' });
    // Online users: only those online.
    assert.deepEqual((await bob.tx.getAllOnlineUsers()).sort(), ['alice', 'bob']);
    // This test's own watch may be a little behind the nodes'.
    await until(() => flappyWrites >= 1, { on: [[wrote, 'put']], timeoutMs: 5000, what: 'flappy written' });
    console.log(`# flappy: ${cycles * 2} connects and disconnects, ${flappyWrites} writes of its record`);
    assert.ok(flappyWrites < cycles * 2, `coalesced: ${flappyWrites} writes for ${cycles * 2} changes`);
  });

  test('cluster store - a node started later has the users and the known clients at once; its own store agrees with the cluster', async (t) => {
    const nats = await startNats(t);
    const prefix = newPrefix();
    // A node with no users starts first; then one that brings users from its own store (a single
    // server moving to a cluster): they become the cluster's.
    await startNode(t, nats, prefix, 'z');
    const first = new MemoryStore();
    first.putUser({ user: 'gina', passwordHash: await hashPassword('gina-pw'), clientIds: [] });
    const a = await startNode(t, nats, prefix, 'a', { store: first });
    const b = await startNode(t, nats, prefix, 'b');
    assert.equal(await login(t, b.s, 'gina-1', 'gina', 'gina-pw'), '');
    await a.s.addUser({ user: 'hank', password: 'hank-pw' });
    const alice = await startClient(t, a.s, 'alice', { tx: { auth: { user: 'hank', password: 'hank-pw' } }, rx: { auth: { user: 'hank', password: 'hank-pw' } } });
    // Their records are in the bucket once the other node heard of them (gina-1: the login above).
    await knows(b, ['alice']);
    await knows(a, ['gina-1']);
    b.s.removeUser('gina');
    await userEvent(a, 'userRemoved', 'gina');

    // A node whose own store disagrees: it has gina (removed since), an old hank, and ivan (never in the cluster).
    const late = new MemoryStore();
    late.putUser({ user: 'gina', passwordHash: await hashPassword('gina-pw'), clientIds: [] });
    late.putUser({ user: 'hank', passwordHash: await hashPassword('old-pw'), clientIds: [] });
    late.putUser({ user: 'ivan', passwordHash: await hashPassword('ivan-pw'), clientIds: [] });
    late.putClient({ id: 'old-client', firstSeen: 1, lastSeen: 2 });
    const c = await startNode(t, nats, prefix, 'c', { store: late });
    // The bucket wins: right after start(), with no waiting.
    assert.equal(await login(t, c.s, 'hank-2', 'hank', 'hank-pw'), '');
    assert.match(await login(t, c.s, 'hank-3', 'hank', 'old-pw'), /1202/);
    assert.match(await login(t, c.s, 'gina-2', 'gina', 'gina-pw'), /1202/);
    assert.match(await login(t, c.s, 'ivan-1', 'ivan', 'ivan-pw'), /1202/);
    assert.deepEqual((await late.open()).users.map((u) => u.user).sort(), ['hank']);
    // Its own known client reaches the others; it lists theirs.
    const carl = await startClient(t, c.s, 'carl', { tx: { auth: { user: 'hank', password: 'hank-pw' } }, rx: { auth: { user: 'hank', password: 'hank-pw' } } });
    await knows(a, ['old-client', 'carl', 'hank-2']);
    const want = ['alice', 'carl', 'gina-1', 'hank-2', 'old-client'];
    assert.deepEqual((await carl.tx.getAllUsers()).sort(), want);
    assert.deepEqual((await alice.tx.getAllUsers()).sort(), want);
  });
  test('cluster store - NATS away: logins go on from memory, addUser is refused, a removal reaches the other node once NATS is back', async (t) => {
    const nats = await startNats(t);
    const prefix = newPrefix();
    const a = await startNode(t, nats, prefix, 'a');
    const b = await startNode(t, nats, prefix, 'b');
    await a.s.addUser({ user: 'jo', password: 'jo-pw' });
    await userEvent(b, 'userAdded', 'jo');
    const lost = [a, b].map((n) => until(() => n.events.some((e) => e.type === 'natsLost'), { on: [[n.s, 'cluster']], what: 'natsLost' }));
    await nats.kill();
    await Promise.all(lost);
    assert.equal(await login(t, b.s, 'jo-1', 'jo', 'jo-pw'), '');
    await assert.rejects(a.s.addUser({ user: 'kim', password: 'kim-pw' }), (err: Error & { code?: string }) => err.code === 'CW_ERR_CLUSTER_CONNECT' && /kim/.test(err.message));
    assert.match(await login(t, a.s, 'kim-1', 'kim', 'kim-pw'), /1202/);
    // Removed on A while NATS is away: refused on A at once, still let in on B (it cannot know yet).
    assert.equal(a.s.removeUser('jo'), true);
    assert.match(await login(t, a.s, 'jo-2', 'jo', 'jo-pw'), /1202/);
    assert.equal(await login(t, b.s, 'jo-3', 'jo', 'jo-pw'), '');
    const back = [a, b].map((n) => until(() => n.events.some((e) => e.type === 'natsBack'), { on: [[n.s, 'cluster']], timeoutMs: 10000, what: 'natsBack' }));
    await nats.restart();
    await Promise.all(back);
    await userEvent(b, 'userRemoved', 'jo');
    assert.match(await login(t, b.s, 'jo-4', 'jo', 'jo-pw'), /1202/);
    // And the cluster takes users again.
    await b.s.addUser({ user: 'kim', password: 'kim-pw' });
    await userEvent(a, 'userAdded', 'kim');
    assert.equal(await login(t, a.s, 'kim-2', 'kim', 'kim-pw'), '');
  });
});
