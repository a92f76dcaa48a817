/**
 * Drain tells clients where to go (docs/cluster.md, Drain; docs/protocol.md 3.5, the redirect):
 * a draining node closes each client's links with 1001 and the address of another live node, and
 * Senders and Receivers with reconnect go there, without a load balancer; when that address does
 * not answer, they go back to their configured address.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { Client, MediaServer, type ConnectionEvent, type MediaServerOptions } from '../../src/index.js';
import { startNats, type Nats } from '../helpers/nats.js';
import { startClient, type TestClient } from '../helpers/server-client.js';
import { startFailoverProxy } from '../helpers/failover-proxy.js';
import { until } from '../helpers/wait.js';
import { groupLoad } from '../helpers/cluster-load.js';

async function startNodes(t: TestContext, nats: Nats, opts: MediaServerOptions[]): Promise<MediaServer[]> {
  const prefix = `d${randomBytes(4).toString('hex')}`;
  const nodes: MediaServer[] = [];
  for (const [i, o] of opts.entries()) {
    const s = new MediaServer({ host: '127.0.0.1', ...o, cluster: { servers: nats.url, prefix, name: `node${i}`, heartbeatMs: 200, deadAfterMs: 1000, ...o.cluster } });
    await s.start();
    t.after(() => s.stop());
    nodes.push(s);
  }
  await until(() => nodes.every((s) => s.stats().cluster!.nodes.length === nodes.length), { on: nodes.map((s) => [s, 'cluster']), timeoutMs: 5000, what: 'nodes see each other' });
  return nodes;
}

/** The node where `id` is online, if any. */
function nodeOf(nodes: MediaServer[], id: string): MediaServer | undefined {
  return nodes.find((s) => s.clients().some((c) => c.id === id && c.online));
}

function freeClosedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe('cluster drain with redirects', () => {
  test('cluster drain - a bad advertise option is refused by name', () => {
    assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', advertise: { tcp: 0 } } }), /cluster\.advertise\.tcp/);
    assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', advertise: { host: 'a b' } } }), /cluster\.advertise\.host/);
    assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', advertise: { port: 1 } as never } }), /cluster\.advertise/);
  });

  test('cluster drain - without a load balancer, each client is told a live node and moves there (receiver and sender lanes), keeps its group; video resumes; no acknowledged command is lost', async (t) => {
    const nats = await startNats(t);
    const nodes = await startNodes(t, nats, [{}, {}, {}]);
    const [n0, n1, n2] = nodes;
    const retry = { initialDelayMs: 20, maxDelayMs: 200 };
    // bob and dave connect to node0 by its own address: no load balancer, no list of addresses.
    const bob = await startClient(t, n0.ports.tcp, 'bob', { tx: { reconnect: retry }, rx: { reconnect: retry } });
    const dave = await startClient(t, n0.ports.tcp, 'dave', { tx: { reconnect: retry }, rx: { reconnect: retry } });
    const alice = await startClient(t, n1, 'alice');
    for (const c of [alice, bob, dave]) await c.tx.joinGroup('room');
    await until(() => nodes.every((s) => s.stats().groups.find((g) => g.id === 'room')?.members.length === 3), { on: nodes.map((s) => [s, 'cluster']), timeoutMs: 5000, what: 'room everywhere' });

    // Where each client dials from now on (receiver channels and sender lanes).
    const dials = new Map<string, number[]>();
    const watch = (c: TestClient): void => {
      const note = (ev: ConnectionEvent): void => void (dials.get(c.id) ?? dials.set(c.id, []).get(c.id)!).push(ev.remotePort);
      c.rx.on('connecting', note);
      c.tx.on('connecting', note);
    };
    watch(bob);
    watch(dave);

    // Load: video to the group at about 30 frames/s, commands to bob one after the other.
    const load = await groupLoad(t, alice, bob, 'room');
    const { frameTimes, received, acked } = load;

    const drainedAt = performance.now();
    const drained = n0.drain();
    // Both end up on the other nodes, each where its redirect pointed, without a load balancer.
    await until(() => [bob, dave].every((c) => { const h = nodeOf(nodes, c.id); return h !== undefined && h !== n0; }), { on: [n1, n2].map((s) => [s, 'clientConnected']), timeoutMs: 10000, what: 'bob and dave on other nodes' });
    const movedAt = performance.now();
    await drained;
    for (const c of [bob, dave]) {
      const home = nodeOf(nodes, c.id)!;
      // Every dial after the drain went to the node it was sent to: never back to node0.
      assert.ok((dials.get(c.id) ?? []).length > 0, `${c.id} dialled again`);
      assert.deepEqual([...new Set(dials.get(c.id))], [home.ports.tcp], `${c.id}'s dials after the drain`);
    }
    const after = frameTimes.length;
    await until(() => frameTimes.length >= after + 5, { on: [[bob.rx, 'video']], what: 'video after the move' });
    // bob's sender follows its redirect too: a command from bob reaches alice.
    const got = new Promise<string>((resolve) => alice.rx.once('command', (c) => resolve(c.name)));
    await bob.tx.sendCommand({ name: 'from-bob' }, { to: 'alice' });
    assert.equal(await got, 'from-bob');
    assert.deepEqual(nodeOf(nodes, 'bob')!.stats().groups.find((g) => g.id === 'room')?.members.sort(), ['alice', 'bob', 'dave']);
    await load.stop();
    process.stdout.write(`# drain with redirects: clients on other nodes ${Math.round(movedAt - drainedAt)} ms after drain(); longest video gap ${Math.round(load.longestGap())} ms; commands acked ${acked.length}, refused ${load.refused()}; bob -> ${nodeOf(nodes, 'bob')!.stats().cluster!.node}, dave -> ${nodeOf(nodes, 'dave')!.stats().cluster!.node}\n`);
    assert.deepEqual(acked.filter((n) => !received.has(n)), [], 'every acknowledged command reached bob');
  });

  test('cluster drain - a Client whose sender was idle at the drain follows the redirect its receiver got', async (t) => {
    const nats = await startNats(t);
    const nodes = await startNodes(t, nats, [{}, {}]);
    const [n0, n1] = nodes;
    const alice = await startClient(t, n1, 'alice');
    const bob = new Client({ server: `tcp://127.0.0.1:${n0.ports.tcp}`, clientId: 'bob', reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, sender: { idleTimeoutMs: 50 } });
    t.after(() => bob.close());
    await bob.connect();
    // Its sender's connections close when idle: none is open when node0 drains.
    await until(() => !n0.clients().some((c) => c.id === 'bob' && c.pushLinks > 0), { on: [[n0, 'disconnect']], timeoutMs: 5000, what: "bob's push links idle-closed" });
    const dials: number[] = [];
    bob.sender.on('connecting', (ev) => dials.push(ev.remotePort));
    await n0.drain();
    await until(() => nodeOf(nodes, 'bob') === n1, { on: [[n1, 'clientConnected']], timeoutMs: 10000, what: 'bob on node1' });
    const got = new Promise<string>((resolve) => alice.rx.once('command', (c) => resolve(c.name)));
    await bob.sendCommand({ name: 'after-drain' }, { to: 'alice' });
    assert.equal(await got, 'after-drain');
    assert.deepEqual([...new Set(dials)], [n1.ports.tcp], 'the sender went straight to node1');
  });

  test('cluster drain - a redirect to an address that does not answer: the client goes back to its configured address', async (t) => {
    const nats = await startNats(t);
    const closed = await freeClosedPort();
    // node1 advertises a port where nothing listens.
    const nodes = await startNodes(t, nats, [{}, { cluster: { servers: nats.url, advertise: { host: '127.0.0.1', tcp: closed } } }]);
    const [n0, n1] = nodes;
    const lb = await startFailoverProxy(t, () => [n0.ports.tcp, n1.ports.tcp]);
    const retry = { initialDelayMs: 20, maxDelayMs: 200 };
    const bob = await startClient(t, lb.port, 'bob', { tx: { reconnect: retry }, rx: { reconnect: retry } });
    assert.ok(nodeOf(nodes, 'bob') === n0);
    const failedAt: number[] = [];
    bob.rx.on('connectError', (ev) => failedAt.push(ev.remotePort));
    const back = new Promise<ConnectionEvent>((resolve) => bob.rx.on('sessionConnected', resolve));
    await n0.drain();
    const ev = await back;
    assert.ok(failedAt.includes(closed), `tried the redirect first: ${JSON.stringify(failedAt)}`);
    assert.equal(ev.remotePort, lb.port, 'then its configured address');
    await until(() => nodeOf(nodes, 'bob') === n1, { on: [[n1, 'clientConnected']], what: 'bob on node1 through its configured address' });
  });
});
