/**
 * Read-your-writes across a cluster (docs/cluster.md, "What is consistent"): when a receiver's
 * session is up, every node sees it online; when joinGroup or leaveGroup resolves, every node's
 * mirror of the group has the change. Checked at the very moment the client hears the answer
 * (no wait for the other nodes), then by acting on it at once from a client on another node.
 * Prints the time a connect and a join take on a cluster of three and on one server (same run).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { MediaServer, Receiver, Sender } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startNats, type Nats } from '../helpers/nats.js';
import { until } from '../helpers/wait.js';

interface Node {
  s: MediaServer;
  /** Clients of other nodes this node sees online (its `cluster` events). */
  remote: Set<string>;
}

/**
 * A loopback relay to NATS that delays what NATS sends by `ms` (in order): the node behind it
 * applies every KV change `ms` late, a slow watch made certain.
 */
async function laggingRelay(t: TestContext, nats: Nats, ms: number): Promise<string> {
  const port = Number(new URL(nats.url).port);
  const socks = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    socks.add(client).add(upstream);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => void setTimeout(() => client.writable && client.write(chunk), ms));
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const x of socks) x.destroy();
    server.close();
  });
  return `nats://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** Three nodes; with `lagMs`, the last one hears NATS that much late (its KV watch lags). */
async function startNodes(t: TestContext, nats: Nats, n: number, lagMs = 0): Promise<Node[]> {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const remote = new Set<string>();
    const servers = lagMs > 0 && i === n - 1 ? await laggingRelay(t, nats, lagMs) : nats.url;
    const s = new MediaServer({ host: '127.0.0.1', cluster: { servers, prefix, name: `node${i}` } });
    s.on('cluster', (ev) => {
      if (ev.type === 'clientOnline') remote.add(ev.id);
      if (ev.type === 'clientOffline') remote.delete(ev.id);
    });
    await s.start();
    t.after(() => s.stop());
    nodes.push({ s, remote });
  }
  await until(() => nodes.every((x) => x.s.stats().cluster!.nodes.length === n), { on: nodes.map((x) => [x.s, 'cluster'] as [MediaServer, string]), timeoutMs: 10000, what: 'the nodes see each other' });
  return nodes;
}

interface Started {
  tx: Sender;
  rx: Receiver;
  /** ms from rx.start() to its sessionConnected. */
  connectMs: number;
  /** Which other nodes saw it online at the moment its session came up. */
  seenAtWelcome: boolean[];
}

/** Starts a client on `s`; notes, when its receiver's session comes up, which of `others` see it online. */
async function client(t: TestContext, s: MediaServer, id: string, others: Node[] = []): Promise<Started> {
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: s.ports.tcp, clientId: id });
  const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: s.ports.tcp }], clientId: id, reconnect: false });
  await tx.start();
  t.after(() => tx.stop());
  t.after(() => rx.stop());
  let seenAtWelcome: boolean[] = [];
  // The listener runs when the session comes up, before anything else: what the nodes see then.
  rx.once('sessionConnected', () => (seenAtWelcome = others.map((n) => n.remote.has(id))));
  const up = next(rx, 'sessionConnected');
  const t0 = performance.now();
  await rx.start();
  await up;
  return { tx, rx, connectMs: performance.now() - t0, seenAtWelcome };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const ROUNDS = 12;

/** How late node2 hears NATS in the first two tests: well beyond a welcome's or a join answer's round trip. */
const LAG_MS = 40;

/** The members of group `g` as node `n` sees them. */
function members(n: Node, g = 'room'): string[] {
  return n.s.stats().groups.find((x) => x.id === g)?.members ?? [];
}

/** Three nodes, the third one's NATS lagging; alice (node a) and carol (node c, the lagging one) in 'room'. */
async function roomOfThree(t: TestContext) {
  const nats = await startNats(t);
  const nodes = await startNodes(t, nats, 3, LAG_MS);
  const [a, b, c] = nodes;
  const alice = await client(t, a.s, 'alice');
  const carol = await client(t, c.s, 'carol');
  await alice.tx.joinGroup('room');
  await carol.tx.joinGroup('room');
  return { nodes, a, b, c, alice, carol };
}

describe('cluster - read-your-writes', () => {
  test('cluster - a receiver is welcomed once every node sees it online: a command sent at once from another node reaches it', async (t) => {
    const nats = await startNats(t);
    const nodes = await startNodes(t, nats, 3, LAG_MS);
    const [a, b, c] = nodes;
    // Alice is on the node whose watch lags.
    const alice = await client(t, c.s, 'alice');
    for (let i = 0; i < ROUNDS; i++) {
      const id = `bob${i}`;
      const bob = await client(t, b.s, id, [a, c]);
      assert.deepEqual(bob.seenAtWelcome, [true, true], `${id}: seen online by node0 and node2 when its session came up`);
      const got = next(bob.rx, 'command');
      // At once, from a client on another node: delivered and acknowledged, not "not online on any node".
      await alice.tx.sendCommand({ name: `hi${i}` }, { to: id });
      assert.equal((await got)[0].name, `hi${i}`);
    }
    assert.ok(b.s.stats().cluster!.synced >= ROUNDS);
    assert.equal(b.s.stats().cluster!.syncLate, 0);
  });

  test('cluster - joinGroup and leaveGroup resolve once every node applied them: members, notices and group messages follow at once', async (t) => {
    const { nodes, b, alice, carol } = await roomOfThree(t);
    for (let i = 0; i < ROUNDS; i++) {
      const id = `bob${i}`;
      const bob = await client(t, b.s, id);
      // Alice acts on her notice that bob joined; carol, on another node, sends to the room.
      const notice = next(alice.rx, 'userJoinsGroup', (g: string, user: string) => g === 'room' && user === id);
      await bob.tx.joinGroup('room');
      for (const n of nodes) assert.ok(members(n).includes(id), `${id} in room on ${n.s.stats().cluster!.node} when joinGroup resolved`);
      await notice;
      const got = next(bob.rx, 'command');
      await alice.tx.sendCommand({ name: `from-alice${i}` }, { to: id });
      assert.equal((await got)[0].name, `from-alice${i}`);
      const got2 = next(bob.rx, 'command');
      await carol.tx.sendCommand({ name: `to-room${i}` }, { group: 'room' });
      assert.equal((await got2)[0].name, `to-room${i}`);
      await bob.tx.leaveGroup('room');
      for (const n of nodes) assert.ok(!members(n).includes(id), `${id} out of room on ${n.s.stats().cluster!.node} when leaveGroup resolved`);
    }
    assert.equal(b.s.stats().cluster!.syncLate, 0);
  });

  test('cluster - a member that disconnects, and a group deleted through the control API: the members are told once every node applied it', async (t) => {
    const { nodes, a, b, alice, carol } = await roomOfThree(t);
    for (let i = 0; i < 4; i++) {
      const id = `bob${i}`;
      const bob = await client(t, b.s, id);
      await bob.tx.joinGroup('room');
      // Bob's connections close: he drops out of the room on his node; alice hears it once every node, the lagging one too, applied it.
      let atNotice: boolean[] = [];
      const left = new Promise<void>((resolve) =>
        alice.rx.on('userLeavesGroup', (g: string, user: string) => {
          if (g !== 'room' || user !== id) return;
          atNotice = nodes.map((n) => members(n).includes(id));
          resolve();
        }),
      );
      await bob.rx.stop();
      await bob.tx.stop();
      await left;
      assert.deepEqual(atNotice, [false, false, false], `${id} out of room on every node when alice was told`);
    }
    // The control API of node0 deletes a group whose members are on node0 and on the lagging node2.
    await alice.tx.joinGroup('doomed');
    await carol.tx.joinGroup('doomed');
    const base = `http://127.0.0.1:${a.s.ports.http}/api/v1/groups/doomed`;
    const carolTold = next(carol.rx, 'userLeavesGroup', (g: string, user: string) => g === 'doomed' && user === 'alice');
    const res = await fetch(base, { method: 'DELETE' });
    assert.equal(res.status, 200);
    for (const n of nodes) assert.deepEqual(members(n, 'doomed'), [], `doomed empty on ${n.s.stats().cluster!.node} when the control API answered`);
    await carolTold;
    assert.equal(b.s.stats().cluster!.syncLate, 0);
  });

  test('cluster - the time a connect and a join take, on a cluster of three and on one server (printed)', async (t) => {
    const nats = await startNats(t);
    const nodes = await startNodes(t, nats, 3);
    const single = new MediaServer({ host: '127.0.0.1' });
    await single.start();
    t.after(() => single.stop());
    const figures: Record<string, { connect: number[]; join: number[] }> = { cluster: { connect: [], join: [] }, single: { connect: [], join: [] } };
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, s] of [['single', single], ['cluster', nodes[i % 3].s]] as const) {
        const x = await client(t, s, `m${i}`);
        figures[name].connect.push(x.connectMs);
        const t0 = performance.now();
        await x.tx.joinGroup('timing');
        figures[name].join.push(performance.now() - t0);
      }
    }
    const f = (name: string, what: 'connect' | 'join'): string => median(figures[name][what]).toFixed(2);
    console.log(
      `read-your-writes (median of ${ROUNDS}, load average ${os.loadavg()[0].toFixed(2)}): connect ${f('single', 'connect')} ms on one server, ${f('cluster', 'connect')} ms on a cluster of 3; ` +
        `join ${f('single', 'join')} ms on one server, ${f('cluster', 'join')} ms on a cluster of 3`,
    );
    assert.equal(figures.cluster.join.length, ROUNDS);
  });
});
