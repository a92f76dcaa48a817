/**
 * A cluster of MediaServers over NATS (docs/cluster.md): a real nats-server with JetStream, two or
 * three MediaServers in this process, clients on different nodes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { DeliveryError, MediaServer, type ClusterEvent, type MediaServerOptions } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startNats, type Nats } from '../helpers/nats.js';
import { startClient, startServer, type TestClient } from '../helpers/server-client.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';
import { startFailoverProxy } from '../helpers/failover-proxy.js';
import { checkAnswer } from '../helpers/openapi.js';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/server-client.js';
import { Receiver, Sender } from '../../src/index.js';
import { until, within } from '../helpers/wait.js';
import { groupLoad } from '../helpers/cluster-load.js';

/** A node and the remote clients it has seen come online (from its `cluster` events). */
interface Node {
  s: MediaServer;
  remote: Set<string>;
  events: ClusterEvent[];
  /** The cluster's subject prefix. */
  prefix: string;
}

async function startNodes(t: TestContext, nats: Nats, n: number, o: MediaServerOptions = {}): Promise<Node[]> {
  // A prefix of its own per test: the buckets of other tests are not seen.
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const nodes: Node[] = [];
  for (let i = 0; i < n; i++) {
    const remote = new Set<string>();
    const events: ClusterEvent[] = [];
    const s = new MediaServer({ host: '127.0.0.1', ...o, cluster: { servers: nats.url, prefix, name: `node${i}`, ...o.cluster } });
    s.on('cluster', (ev) => {
      events.push(ev);
      if (ev.type === 'clientOnline') remote.add(ev.id);
      if (ev.type === 'clientOffline') remote.delete(ev.id);
    });
    await s.start();
    t.after(() => s.stop());
    nodes.push({ s, remote, events, prefix });
  }
  return nodes;
}

/** Waits until `node` lists `members` (and only them) in group `group`. */
function hasMembers(node: Node, group: string, members: string[]): Promise<void> {
  const now = (): string[] => [...(node.s.stats().groups.find((g) => g.id === group)?.members ?? [])].sort();
  const want = JSON.stringify([...members].sort());
  return until(() => JSON.stringify(now()) === want, { on: [[node.s, 'cluster']], timeoutMs: 5000, what: () => `${group} on ${node.s.stats().cluster?.node}: ${JSON.stringify(now())}, want ${want}` });
}

/** Waits until `node` knows that `id` is online on another node. */
/**
 * The first byte of each of the next `n` audio frames `x` receives: every frame must be 3200 bytes
 * of one fill (no bytes of another frame), and carry `meta`'s fields when given.
 */
function audioFills(x: TestClient, n: number, meta?: { group: string; from: string }): Promise<number[]> {
  return new Promise((resolve) => {
    const fills: number[] = [];
    const on = (f: { data: Buffer }, m: { group: string; from: string }): void => {
      assert.equal(f.data.length, 3200);
      if (meta) {
        assert.equal(m.group, meta.group);
        assert.equal(m.from, meta.from);
      }
      assert.ok(f.data.every((v) => v === f.data[0]), 'one frame, one fill: no bytes of another frame');
      fills.push(f.data[0]);
      if (fills.length === n) {
        x.rx.off('audio', on);
        resolve(fills);
      }
    };
    x.rx.on('audio', on);
  });
}

function sees(node: Node, id: string, online = true): Promise<void> {
  return until(() => node.remote.has(id) === online, { on: [[node.s, 'cluster']], timeoutMs: 5000, what: `${id} ${online ? 'online' : 'offline'} elsewhere` });
}

describe('cluster', () => {
  test('cluster - a server joins with the cluster option; stats name the node and the nodes it sees', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    await until(() => a.s.stats().cluster!.nodes.length === 2, { on: [[a.s, 'cluster']], timeoutMs: 5000, what: 'node1 seen by node0' });
    const st = a.s.stats().cluster!;
    assert.equal(st.node, 'node0');
    assert.deepEqual([...st.nodes].sort(), ['node0', 'node1']);
    assert.equal(st.connected, true);
    assert.equal(st.maxMessage, 1024 * 1024);
    assert.equal(b.s.stats().cluster!.node, 'node1');
    // A server without the option reports no cluster.
    const single = await startServer(t);
    assert.equal(single.stats().cluster, undefined);
  });

  test('cluster - a NATS that is not there fails start() with CW_ERR_CLUSTER_CONNECT, and nothing stays bound', async (t) => {
    const nats = await startNats(t);
    await nats.kill();
    const s = new MediaServer({ host: '127.0.0.1', cluster: { servers: nats.url } });
    await assert.rejects(s.start(), (err: Error & { code?: string }) => err.code === 'CW_ERR_CLUSTER_CONNECT' && err.message.includes(nats.url) && /start nats-server with JetStream there/.test(err.message));
    assert.deepEqual(s.ports, { tcp: 0, http: 0, udp: 0 });
  });

  test('cluster - bad cluster options are refused by name', () => {
    assert.throws(() => new MediaServer({ cluster: { servers: 'localhost:4222' } }), /cluster\.servers/);
    assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', prefix: 'a b' } }), /cluster\.prefix/);
    assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', user: 'u' } }), /cluster\.user/);
    assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', heartbeatMs: 1000, deadAfterMs: 1500 } }), /cluster\.deadAfterMs/);
  });

  test('cluster - private commands and data by id across nodes, acknowledged by the real receiver', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    await sees(a, 'bob');
    const got: string[] = [];
    bob.rx.on('command', (c, m) => got.push(`${c.name}<${m.from}`));
    for (let i = 0; i < 20; i++) await alice.tx.sendCommand({ name: `c${i}`, params: { i } }, { to: 'bob' });
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `c${i}<alice`));
    const data = next(bob.rx, 'data');
    const blob = randomBytes(300_000);
    await alice.tx.sendData(blob, { to: 'bob' });
    const [d, m] = await data;
    assert.ok(Buffer.compare(d, blob) === 0);
    assert.equal(m.from, 'alice');
    // Both ways.
    const back = next(alice.rx, 'command');
    await bob.tx.sendCommand({ name: 'reply' }, { to: 'alice' });
    assert.equal((await back)[0].name, 'reply');
    const st = a.s.stats().cluster!;
    assert.ok(st.published >= 21, `published ${st.published}`);
    assert.equal(st.failed, 0);
  });

  test('cluster - a file across nodes resumes from the receiver\'s offset, chunk by chunk acknowledged by the receiver', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const dir = tempDir(t);
    const content = randomBytes(1_000_000);
    const src = path.join(dir, 'big.bin');
    fs.writeFileSync(src, content);
    const inbox = path.join(dir, 'inbox');
    fs.mkdirSync(inbox);
    // A partial copy is already there, as if an earlier transfer broke off.
    fs.writeFileSync(path.join(inbox, 'big.bin.part'), content.subarray(0, 400_000));
    const alice = await startClient(t, a.s, 'alice', { tx: { fileChunkSize: 32 * 1024 } });
    const bob = await startClient(t, b.s, 'bob', { rx: { fileDir: inbox } });
    await sees(a, 'bob');
    const end = next(bob.rx, 'fileEnd');
    const [res] = await alice.tx.sendFile(src, { to: 'bob' });
    assert.equal(res.offset, 400_000);
    assert.equal((await end)[0].ok, true);
    assert.ok(fs.readFileSync(path.join(inbox, 'big.bin')).equals(content));
    assert.ok(a.s.stats().cluster!.published >= 600_000 / (32 * 1024), `published ${a.s.stats().cluster!.published}`);
  });

  test('cluster - a command whose receiver never acknowledges it fails for the sender (the ACK comes from the receiver, not the node)', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2, { timeouts: { command: 1500 } });
    const alice = await startClient(t, a.s, 'alice');
    const relay = await startTcpRelay(b.s.ports.tcp);
    t.after(() => relay.close());
    const bob = await startClient(t, b.s, 'bob', { pullPort: relay.port });
    await sees(a, 'bob');
    // Bob's receiver gets frames but its ACKs no longer reach node1.
    relay.stall();
    const got = next(bob.rx, 'command');
    const sent = alice.tx.sendCommand({ name: 'unanswered' }, { to: 'bob' });
    assert.equal((await got)[0].name, 'unanswered');
    await assert.rejects(sent, (err: Error) => err instanceof DeliveryError);
  });

  test('cluster - a reliable item to a client that left every node fails visibly; video to it is counted unrouted', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    await sees(a, 'bob');
    await bob.rx.stop();
    await sees(a, 'bob', false);
    await assert.rejects(alice.tx.sendCommand({ name: 'late' }, { to: 'bob' }), (err: Error) => err instanceof DeliveryError && /bob/.test(err.message));
    alice.tx.sendVideoFrame(Buffer.alloc(1000), { to: 'bob', width: 8, height: 8 });
    await until(() => a.s.stats().unrouted.video === 1, { checkAfterMs: [50, 200, 1000, 3000], what: () => `unrouted ${JSON.stringify(a.s.stats().unrouted)}` });
    assert.equal(a.s.stats().cluster!.published, 0);
  });

  test('cluster - video, audio and commands across nodes: default receivers on most nodes get one message (the shared subject), commands one request per node, the node of each reader delivers to it, frames too large for NATS are dropped and counted', async (t) => {
    const nats = await startNats(t);
    const [a, b, c] = await startNodes(t, nats, 3);
    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    const carol = await startClient(t, c.s, 'carol');
    const dave = await startClient(t, a.s, 'dave');
    const bea = await startClient(t, b.s, 'bea');
    // Online on node C but not one of alice's default receivers: the shared message is not for her.
    await startClient(t, c.s, 'cleo');
    for (const id of ['bob', 'bea', 'carol']) await sees(a, id);
    for (const id of ['bob', 'bea', 'carol', 'dave']) await alice.tx.addDefaultReceiver(id);
    const frames = [bob, bea, carol, dave].map((x) => next(x.rx, 'video'));
    const img = randomBytes(200_000);
    const before = a.s.stats().cluster!.published;
    alice.tx.sendVideoFrame(img, { width: 640, height: 360, mediaIndex: 2 });
    for (const [v, m] of await Promise.all(frames)) {
      assert.ok(Buffer.compare(v.data, img) === 0);
      assert.equal(m.from, 'alice');
      assert.equal(m.mediaIndex, 2);
    }
    // Addressees on both other nodes: one message on the shared subject, which NATS copies to each node.
    assert.equal(a.s.stats().cluster!.published - before, 1, 'one message for the two other nodes (bob, bea and carol listed in it)');
    // Node C delivered that message to carol and, in the same call, to no one else there.
    const out = (n: Node, id: string): number => n.s.stats().clients.find((x) => x.id === id)!.out.video.frames;
    assert.deepEqual([out(c, 'carol'), out(c, 'cleo'), out(b, 'bob'), out(b, 'bea')], [1, 0, 1, 1]);
    // A command to the default receivers: one request per node, acknowledged once all four did.
    const cmds = [bob, bea, carol, dave].map((x) => next(x.rx, 'command'));
    await alice.tx.sendCommand({ name: 'to-all' });
    for (const [c, m] of await Promise.all(cmds)) assert.deepEqual([c.name, m.from], ['to-all', 'alice']);
    const audio = next(carol.rx, 'audio');
    alice.tx.sendAudio(Buffer.alloc(640, 7), { to: 'carol', codec: 'pcm', sampleRate: 16000, channels: 1 });
    assert.equal((await audio)[0].data.length, 640);
    // Beyond NATS's max_payload (1 MiB here): dropped for the other nodes, still delivered on this one.
    const local = next(dave.rx, 'video');
    alice.tx.sendVideoFrame(Buffer.alloc(1_200_000, 1), { width: 640, height: 360 });
    assert.equal((await local)[0].data.length, 1_200_000);
    // Counted once: it was one message (on the shared subject) for both other nodes.
    await until(() => a.s.stats().cluster!.dropped === 1, { on: [[dave.rx, 'video']], checkAfterMs: [100, 500], what: () => `dropped ${a.s.stats().cluster!.dropped}` });
    assert.match(await a.s.metrics.metrics(), /camwire_dropped_total\{type="video",reason="cluster_too_large"\} 1/);
    // A command too large for NATS is refused with the reason.
    await assert.rejects(alice.tx.sendData(Buffer.alloc(1_100_000), { to: 'bob' }), /larger than the cluster's message limit/);
  });

  test('cluster - frames sent in one turn to readers on another node: each reader there gets every frame, in order, with its bytes', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    const bea = await startClient(t, b.s, 'bea');
    for (const id of ['bob', 'bea']) await sees(a, id);
    for (const id of ['bob', 'bea']) await alice.tx.addDefaultReceiver(id);
    const n = 8;
    const both = Promise.all([audioFills(bob, n), audioFills(bea, n)]);
    // In one turn: the node reads them together and sends them to node B as one batch.
    for (let i = 0; i < n; i++) alice.tx.sendAudio(Buffer.alloc(3200, i + 1), { codec: 'pcm', sampleRate: 16000, channels: 1 });
    const want = Array.from({ length: n }, (_, i) => i + 1);
    for (const fills of await within(both, 10000, `${n} audio frames at bob and bea`)) assert.deepEqual(fills, want);
    console.log(`# ${n} audio frames in one turn: ${a.s.stats().cluster!.published} messages published by node A`);
  });

  test('cluster - contact lists: hello and goodbye reach contacts on other nodes; so do media-access requests', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    await sees(a, 'bob');
    await sees(b, 'alice');
    await alice.tx.addDefaultReceiver('bob');
    const enter = next(bob.rx, 'userEnter');
    await alice.tx.helloToDefaultReceivers();
    assert.equal((await enter)[0], 'alice');
    // An allowed-senders list on bob that does not name the server does not stop notices, as on one server.
    await bob.tx.addAllowedSender('carol');
    const asked = next(alice.rx, 'mediaAccessRequest');
    await bob.tx.sendMediaAccessRequest('alice');
    assert.equal((await asked)[0].user, 'bob');
    // alice's receiver goes: the server says goodbye for her, across the cluster.
    const exit = next(bob.rx, 'userExit');
    await alice.rx.stop();
    assert.equal((await exit)[0], 'alice');
  });

  test('cluster - groups with members on three nodes: one publish per message, each node delivers to its members; reliable items acknowledged by every member', async (t) => {
    const nats = await startNats(t);
    const [a, b, c] = await startNodes(t, nats, 3);
    const alice = await startClient(t, a.s, 'alice');
    const amy = await startClient(t, a.s, 'amy');
    const bob = await startClient(t, b.s, 'bob');
    const carol = await startClient(t, c.s, 'carol');
    const outsider = await startClient(t, c.s, 'outsider');
    await alice.tx.joinGroup('room', { name: 'Room', password: 'pw' });
    // The other nodes have the group (and its password) before their clients join it (docs/cluster.md: eventually shared).
    for (const n of [b, c]) await hasMembers(n, 'room', ['alice']);
    const told = next(alice.rx, 'userJoinsGroup', (g: string, u: string) => g === 'room' && u === 'carol');
    for (const x of [amy, bob, carol]) await x.tx.joinGroup('room', { password: 'pw' });
    await told;
    // A wrong password is refused on any node: the group's password travelled with it.
    await assert.rejects(outsider.tx.joinGroup('room', { password: 'nope' }), /password/);
    for (const n of [a, b, c]) await hasMembers(n, 'room', ['alice', 'amy', 'bob', 'carol']);
    for (const id of ['bob', 'carol']) await sees(a, id);
    const info = await bob.tx.getGroupInfo('room');
    assert.deepEqual({ owner: info.owner, name: info.name }, { owner: 'alice', name: 'Room' });
    assert.deepEqual((await carol.tx.getGroupUsers('room', { online: true })).sort(), ['alice', 'amy', 'bob', 'carol']);

    const before = a.s.stats().cluster!.published;
    const frames = [amy, bob, carol].map((x) => next(x.rx, 'video'));
    const img = randomBytes(50_000);
    alice.tx.sendVideoFrame(img, { group: 'room', width: 320, height: 240 });
    for (const [v, m] of await Promise.all(frames)) {
      assert.ok(Buffer.compare(v.data, img) === 0);
      assert.equal(m.from, 'alice');
      assert.equal(m.group, 'room');
    }
    assert.equal(a.s.stats().cluster!.published - before, 1, 'one NATS message for two other nodes');

    const got = [amy, bob, carol].map((x) => next(x.rx, 'command'));
    await alice.tx.sendCommand({ name: 'hello-room' }, { group: 'room' });
    for (const [cmd, m] of await Promise.all(got)) {
      assert.equal(cmd.name, 'hello-room');
      assert.equal(m.from, 'alice');
    }
    // From a member on another node, to members on all three.
    const back = [alice, amy, bob].map((x) => next(x.rx, 'data'));
    await carol.tx.sendData(Buffer.from('from carol'), { group: 'room' });
    for (const [d] of await Promise.all(back)) assert.equal(d.toString(), 'from carol');
    // Only members speak in a group, whichever node they are on.
    await assert.rejects(outsider.tx.sendCommand({ name: 'x' }, { group: 'room' }), /not a member/);

    // carol leaves: the others are told, and every node drops her.
    const left = next(bob.rx, 'userLeavesGroup', (g: string, u: string) => g === 'room' && u === 'carol');
    await carol.tx.leaveGroup('room');
    await left;
    for (const n of [a, b, c]) await hasMembers(n, 'room', ['alice', 'amy', 'bob']);
  });

  test('cluster - frames sent in one turn to a group with two members on another node: each gets every frame, in order, with its bytes', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    const bea = await startClient(t, b.s, 'bea');
    await alice.tx.joinGroup('turn', { password: 'pw' });
    await hasMembers(b, 'turn', ['alice']);
    for (const x of [bob, bea]) await x.tx.joinGroup('turn', { password: 'pw' });
    await hasMembers(a, 'turn', ['alice', 'bob', 'bea']);
    const n = 8;
    const both = Promise.all([audioFills(bob, n, { group: 'turn', from: 'alice' }), audioFills(bea, n, { group: 'turn', from: 'alice' })]);
    const before = a.s.stats().cluster!.published;
    for (let i = 0; i < n; i++) alice.tx.sendAudio(Buffer.alloc(3200, i + 1), { codec: 'pcm', sampleRate: 16000, channels: 1, group: 'turn' });
    const want = Array.from({ length: n }, (_, i) => i + 1);
    for (const fills of await within(both, 10000, `${n} audio frames at bob and bea`)) assert.deepEqual(fills, want);
    const published = a.s.stats().cluster!.published - before;
    assert.ok(published >= 1 && published <= n, `${published} messages for ${n} frames`);
    console.log(`# ${n} group audio frames in one turn: ${published} messages published by node A for 2 members on node B`);
  });

  test('cluster - a compressed source to a group: a member joining late on another node starts at the keyframe, with the frames since (that node\'s GOP cache)', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const cam = await startClient(t, a.s, 'cam');
    const early = await startClient(t, b.s, 'early');
    await cam.tx.joinGroup('gop', { password: 'pw' });
    await hasMembers(b, 'gop', ['cam']);
    await early.tx.joinGroup('gop', { password: 'pw' });
    await hasMembers(a, 'gop', ['cam', 'early']);
    const seen: string[] = [];
    early.rx.on('video', (v: { data: Buffer }) => seen.push(v.data.toString()));
    const send = async (i: number, keyframe: boolean): Promise<void> => {
      cam.tx.sendVideoFrame(Buffer.from(`f${i}`), { imageType: 'avc1.42E01E', keyframe, width: 64, height: 48, group: 'gop' });
      // Each once the early member (on node B, as the late one) has it: node B cached it by then.
      await until(() => seen.includes(`f${i}`), { on: [[early.rx, 'video']], timeoutMs: 5000, what: `f${i} at the early member` });
    };
    await send(0, true);
    await send(1, false);
    await send(2, false);
    const late = await startClient(t, b.s, 'late');
    const got: Array<{ name: string; keyframe: boolean }> = [];
    late.rx.on('video', (v: { data: Buffer; keyframe: boolean }) => got.push({ name: v.data.toString(), keyframe: v.keyframe }));
    await late.tx.joinGroup('gop', { password: 'pw' });
    await hasMembers(a, 'gop', ['cam', 'early', 'late']);
    await send(3, false);
    await until(() => got.length >= 4, { on: [[late.rx, 'video']], timeoutMs: 5000, what: () => `late got ${JSON.stringify(got)}` });
    assert.deepEqual(got.map((g) => g.name), ['f0', 'f1', 'f2', 'f3']);
    assert.equal(got[0].keyframe, true);
    // The early member got each frame once: node A sends the group's frames as they come, not its cached ones again.
    await until(() => seen.includes('f3'), { on: [[early.rx, 'video']], timeoutMs: 5000, what: 'f3 at the early member' });
    assert.deepEqual(seen, ['f0', 'f1', 'f2', 'f3']);
  });

  test('cluster - two nodes racing to create and join the same group agree on one description and lose no member', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const onA = await Promise.all(Array.from({ length: 5 }, (_, i) => startClient(t, a.s, `a${i}`)));
    const onB = await Promise.all(Array.from({ length: 5 }, (_, i) => startClient(t, b.s, `b${i}`)));
    // Both creators at once, each with its own name; then everyone at once.
    await Promise.all([onA[0].tx.joinGroup('race', { name: 'from-a' }), onB[0].tx.joinGroup('race', { name: 'from-b' })]);
    await Promise.all([...onA.slice(1), ...onB.slice(1)].map((x) => x.tx.joinGroup('race')));
    const all = [...onA, ...onB].map((x) => x.id);
    await hasMembers(a, 'race', all);
    await hasMembers(b, 'race', all);
    const ia = await onA[3].tx.getGroupInfo('race');
    const ib = await onB[3].tx.getGroupInfo('race');
    assert.deepEqual(ia, ib);
    assert.ok(['from-a', 'from-b'].includes(ia.name), ia.name);
    // Concurrent leaves from both sides: the rest stays.
    await Promise.all([onA[1].tx.leaveGroup('race'), onB[1].tx.leaveGroup('race'), onA[2].tx.leaveGroup('race'), onB[2].tx.leaveGroup('race')]);
    const rest = ['a0', 'a3', 'a4', 'b0', 'b3', 'b4'];
    await hasMembers(a, 'race', rest);
    await hasMembers(b, 'race', rest);
  });

  test('cluster - NATS restarted: local delivery goes on, cross-node delivery fails visibly, and both come back with NATS', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const alice = await startClient(t, a.s, 'alice');
    const amy = await startClient(t, a.s, 'amy');
    const bob = await startClient(t, b.s, 'bob');
    await sees(a, 'bob');
    const lost = [a, b].map((n) => until(() => n.events.some((e) => e.type === 'natsLost'), { on: [[n.s, 'cluster']], what: 'natsLost' }));
    await nats.kill();
    await Promise.all(lost);
    assert.equal(a.s.stats().cluster!.connected, false);
    // This node's own clients are served as before.
    const local = next(amy.rx, 'command');
    await alice.tx.sendCommand({ name: 'still-here' }, { to: 'amy' });
    assert.equal((await local)[0].name, 'still-here');
    // Another node's: refused at once, and counted.
    await assert.rejects(alice.tx.sendCommand({ name: 'across' }, { to: 'bob' }), (err: Error) => err instanceof DeliveryError && /NATS connection is down/.test(err.message));
    alice.tx.sendVideoFrame(Buffer.alloc(2000), { to: 'bob', width: 8, height: 8 });
    await until(() => a.s.stats().cluster!.dropped >= 1, { checkAfterMs: [50, 200, 1000], what: 'video dropped for the other node' });
    assert.match(await a.s.metrics.metrics(), /camwire_dropped_total\{type="video",reason="cluster_unreachable"\} 1/);
    assert.ok(a.s.stats().cluster!.failed >= 1);

    const back = [a, b].map((n) => until(() => n.events.some((e) => e.type === 'natsBack'), { on: [[n.s, 'cluster']], timeoutMs: 10000, what: 'natsBack' }));
    await nats.restart();
    await Promise.all(back);
    // Cross-node delivery again, and presence changes are seen again (the watches came back).
    const got = next(bob.rx, 'command');
    await alice.tx.sendCommand({ name: 'across-again' }, { to: 'bob' });
    assert.equal((await got)[0].name, 'across-again');
    const carol = await startClient(t, b.s, 'carol');
    await sees(a, 'carol');
    const toCarol = next(carol.rx, 'command');
    await alice.tx.sendCommand({ name: 'new-here' }, { to: 'carol' });
    assert.equal((await toCarol)[0].name, 'new-here');
    assert.deepEqual([...a.s.stats().cluster!.nodes].sort(), ['node0', 'node1']);
  });

  test('cluster - contact lists follow a client to another node: its default receivers and allowed senders hold there', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const bob = await startClient(t, b.s, 'bob');
    const carol = await startClient(t, b.s, 'carol');
    const first = await startClient(t, a.s, 'alice', { rx: { reconnect: false } });
    await first.tx.addDefaultReceiver('bob');
    await first.tx.addAllowedSender('bob');
    // alice's node stops: her links close, and she connects to the other node.
    await a.s.stop();
    await sees(b, 'alice', false);
    const again = await startClient(t, b.s, 'alice');
    const got = next(bob.rx, 'data');
    await again.tx.sendData(Buffer.from('no address given'));
    assert.equal((await got)[0].toString(), 'no address given');
    const info = b.s.clients().find((c) => c.id === 'alice')!;
    assert.deepEqual(info.defaultReceivers, ['bob']);
    assert.deepEqual(info.allowedSenders, ['bob']);
    // Her allowed senders hold on the new node: carol is refused, bob gets through.
    await assert.rejects(carol.tx.sendCommand({ name: 'x' }, { to: 'alice' }), DeliveryError);
    const fromBob = next(again.rx, 'command');
    await bob.tx.sendCommand({ name: 'y' }, { to: 'alice' });
    assert.equal((await fromBob)[0].name, 'y');
  });

  test('cluster - drain (POST /api/v1/drain): the client moves to another node behind a load balancer, keeps its group, video resumes, no acknowledged command is lost', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const ports = [a.s.ports.tcp, b.s.ports.tcp];
    const lb = await startFailoverProxy(t, () => ports);
    const retry = { initialDelayMs: 20, maxDelayMs: 200 };
    const bob = await startClient(t, lb.port, 'bob', { tx: { reconnect: retry }, rx: { reconnect: retry } });
    assert.equal(lb.chosen[0], ports[0]);
    const alice = await startClient(t, b.s, 'alice');
    await alice.tx.joinGroup('room');
    await bob.tx.joinGroup('room');
    await hasMembers(b, 'room', ['alice', 'bob']);
    await sees(b, 'bob');

    // Load: video to the group at about 30 frames/s, commands to bob one after the other.
    const load = await groupLoad(t, alice, bob, 'room');
    const { frameTimes, received, acked } = load;

    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: a.s.ports.http, method: 'POST', path: '/api/v1/drain' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual([answer.status, JSON.parse(answer.body)], [202, { draining: true }]);
    assert.deepEqual(checkAnswer('post', '/api/v1/drain', answer.status, JSON.parse(answer.body)), []);
    const drainedAt = performance.now();
    await until(() => b.events.some((e) => e.type === 'nodeDown' && e.node === 'node0'), { on: [[b.s, 'cluster']], timeoutMs: 15000, what: 'node0 drained and gone' });
    // bob is on node1 now, still in the group, and video comes again.
    await until(() => b.s.clients().some((c) => c.id === 'bob' && c.online), { on: [[b.s, 'clientConnected']], what: 'bob on node1' });
    // It went there by the drain's redirect (cluster-drain.test.ts), or through the load balancer.
    const after = frameTimes.length;
    await until(() => frameTimes.length >= after + 5, { on: [[bob.rx, 'video']], what: () => `video after the move: ${JSON.stringify(b.s.stats().groups)} ${JSON.stringify(b.s.clients().map((c) => [c.id, c.channels, c.pushLinks, c.out.video, c.dropped.video]))} unrouted ${JSON.stringify(b.s.stats().unrouted)} bob rx ${bob.rx.sessionConnected} events ${JSON.stringify(b.events)}` });
    await hasMembers(b, 'room', ['alice', 'bob']);
    await load.stop();
    process.stdout.write(`# drain: longest gap between video frames ${Math.round(load.longestGap())} ms; commands acked ${acked.length}, refused ${load.refused()}; node0 gone ${Math.round(performance.now() - drainedAt)} ms after the request\n`);
    assert.deepEqual(acked.filter((n) => !received.has(n)), [], 'every acknowledged command reached bob');
  });

  test('cluster - a rolling restart of all three nodes under load, behind a load balancer: no acknowledged command is lost, video comes back', async (t) => {
    const nats = await startNats(t);
    const prefix = `r${randomBytes(4).toString('hex')}`;
    const startNode = async (name: string): Promise<MediaServer> => {
      const s = new MediaServer({ host: '127.0.0.1', cluster: { servers: nats.url, prefix, name } });
      await s.start();
      t.after(() => s.stop());
      return s;
    };
    const nodes = [await startNode('n0'), await startNode('n1'), await startNode('n2')];
    const ports = nodes.map((n) => n.ports.tcp);
    // Affinity, as a load balancer needs here: every connection of a client (one per channel) to the
    // same node, the first that accepts; a draining node refuses, so its clients move together.
    const lb = await startFailoverProxy(t, () => ports);
    const retry = { initialDelayMs: 20, maxDelayMs: 200 };
    const viaLb = (id: string): Promise<TestClient> => startClient(t, lb.port, id, { tx: { reconnect: retry }, rx: { reconnect: retry } });
    const cam = await viaLb('cam');
    const readers = await Promise.all(['r0', 'r1', 'r2', 'r3', 'r4'].map(viaLb));
    await cam.tx.joinGroup('room');
    for (const r of readers) await r.tx.joinGroup('room');
    const everyone = ['cam', ...readers.map((r) => r.id)];
    await until(() => nodes.every((n) => JSON.stringify(n.stats().groups.find((g) => g.id === 'room')?.members.sort()) === JSON.stringify(everyone)), {
      on: nodes.map((n) => [n, 'cluster'] as [MediaServer, string]),
      what: 'the group on every node',
    });
    await until(() => readers.every((r) => nodes.some((n) => n.stats().cluster!.nodes.length === 3 && n.clients().some((c) => c.id === r.id && c.online))), { checkAfterMs: [100, 500, 1000], what: 'readers online' });

    const frames = new Map<string, number[]>(readers.map((r) => [r.id, []]));
    const received = new Map<string, Set<string>>(readers.map((r) => [r.id, new Set()]));
    for (const r of readers) {
      r.rx.on('video', () => frames.get(r.id)!.push(performance.now()));
      r.rx.on('command', (c) => received.get(r.id)!.add(c.name));
    }
    const video = setInterval(() => cam.tx.sendVideoFrame(Buffer.alloc(10_000, 1), { group: 'room', width: 64, height: 64 }), 33);
    t.after(() => clearInterval(video));
    const acked: Array<[string, string]> = [];
    let refused = 0;
    let sending = true;
    t.after(() => (sending = false));
    const commands = (async () => {
      for (let i = 0; sending; i++) {
        const to = readers[i % readers.length].id;
        try {
          await cam.tx.sendCommand({ name: `c${i}` }, { to });
          acked.push([to, `c${i}`]);
        } catch {
          refused++;
          await new Promise((r) => setImmediate(r));
        }
      }
    })();
    await until(() => acked.length >= 20, { on: readers.map((r) => [r.rx, 'command'] as [Receiver, string]), what: 'load flowing' });

    // Each node in turn: drained, then replaced by a new one on another port.
    for (let i = 0; i < 3; i++) {
      const at = performance.now();
      await nodes[i].drain();
      nodes[i] = await startNode(`n${i}b`);
      ports[i] = nodes[i].ports.tcp;
      process.stdout.write(`# node ${i} drained and replaced in ${Math.round(performance.now() - at)} ms\n`);
    }
    const counts = new Map(readers.map((r) => [r.id, frames.get(r.id)!.length]));
    await until(() => readers.every((r) => frames.get(r.id)!.length >= counts.get(r.id)! + 5), { on: readers.map((r) => [r.rx, 'video'] as [Receiver, string]), timeoutMs: 15000, what: () => `video after the restarts: ${JSON.stringify([...frames].map(([id, f]) => [id, f.length - counts.get(id)!]))}; per node, its readers and the group: ${JSON.stringify(nodes.map((n) => [n.stats().cluster!.node, n.clients().filter((c) => c.id.startsWith('r')).map((c) => [c.id, c.online, c.channels, c.pushLinks]), n.stats().groups.find((g) => g.id === 'room')?.members]))}` });
    sending = false;
    await commands;
    const lost = acked.filter(([to, name]) => !received.get(to)!.has(name));
    const gaps = readers.map((r) => Math.max(...frames.get(r.id)!.slice(1).map((x, k) => x - frames.get(r.id)![k])));
    process.stdout.write(`# rolling restart: commands acked ${acked.length}, refused ${refused}, acknowledged but lost ${lost.length}; longest video gap per reader ${gaps.map((g) => Math.round(g)).join(', ')} ms\n`);
    assert.deepEqual(lost, []);
    for (const n of nodes) assert.deepEqual(n.stats().groups.find((g) => g.id === 'room')?.members.sort(), everyone);
  });

  test('cluster - malformed messages and records on NATS are dropped and counted; the node goes on', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const alice = await startClient(t, a.s, 'alice');
    const bob = await startClient(t, b.s, 'bob');
    await sees(a, 'bob');
    const { connect } = await import('@nats-io/transport-node');
    const { Kvm } = await import('@nats-io/kv');
    const nc = await connect({ servers: nats.url });
    t.after(() => nc.close());
    // bob's subject (docs/cluster.md): bytes that are not frames, then a request with a frame header that lies.
    const bobSubject = `${b.prefix}.c.${Buffer.from('bob').toString('base64url')}`;
    nc.publish(bobSubject, Buffer.from('not a camwire frame at all'));
    const refused = await nc.request(bobSubject, Buffer.alloc(40, 0x43), { timeout: 2000 });
    assert.match(Buffer.from(refused.data).toString(), /"ok":false/);
    // A bad record in the presence bucket.
    const kvm = new Kvm(nc);
    const clients = await kvm.open(`${b.prefix}_clients`);
    await clients.put('Ym9ndXM', 'not json');
    await until(() => b.s.stats().cluster!.bad >= 2 && a.s.stats().cluster!.bad >= 1, { checkAfterMs: [50, 200, 500, 1000, 2000], what: () => `bad: a ${a.s.stats().cluster!.bad}, b ${b.s.stats().cluster!.bad}` });
    // Both nodes go on.
    const got = next(bob.rx, 'command');
    await alice.tx.sendCommand({ name: 'after' }, { to: 'bob' });
    assert.equal((await got)[0].name, 'after');
  });

  test('cluster - a client id that comes online on another node takes over: the earlier receiver is disconnected (1203)', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const first = await startClient(t, a.s, 'same', { rx: { reconnect: false } });
    const kicked = next(first.rx, 'sessionDisconnected');
    const second = await startClient(t, b.s, 'same');
    const [ev] = await kicked;
    assert.match(ev.error?.message ?? '', /1203/);
    assert.equal(second.rx.sessionConnected, true);
    // Messages for the id now go to the second one, from either node.
    const alice = await startClient(t, a.s, 'alice');
    await sees(a, 'same');
    const got = next(second.rx, 'command');
    await alice.tx.sendCommand({ name: 'which' }, { to: 'same' });
    assert.equal((await got)[0].name, 'which');
    assert.equal(a.s.clients().find((c) => c.id === 'same')?.online, false);
  });
});
