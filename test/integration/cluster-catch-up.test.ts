/**
 * A group's compressed video on a node that starts receiving the group (docs/cluster.md, Groups):
 * that node asks the others for their cached groups of pictures, so its first member starts at a
 * keyframe at once instead of at the group's next one. A real nats-server, nodes in this process.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { MediaServer, Receiver, type ClusterEvent, type MediaServerOptions } from '../../src/index.js';
import { next } from '../helpers/events.js';
import { startNats, type Nats } from '../helpers/nats.js';
import { startClient, type TestClient } from '../helpers/server-client.js';
import { until } from '../helpers/wait.js';

async function startNodes(t: TestContext, nats: Nats, n: number, o: MediaServerOptions = {}, prefix = `t${randomBytes(4).toString('hex')}`): Promise<MediaServer[]> {
  const nodes: MediaServer[] = [];
  for (let i = 0; i < n; i++) {
    const s = new MediaServer({ host: '127.0.0.1', ...o, cluster: { servers: nats.url, prefix, name: `node${i}` } });
    await s.start();
    t.after(() => s.stop());
    nodes.push(s);
  }
  return nodes;
}

/** Waits until `node` lists `members` (and only them) in group `group`. */
function hasMembers(node: MediaServer, group: string, members: string[]): Promise<void> {
  const now = (): string[] => [...(node.stats().groups.find((g) => g.id === group)?.members ?? [])].sort();
  const want = JSON.stringify([...members].sort());
  return until(() => JSON.stringify(now()) === want, { on: [[node, 'cluster']], timeoutMs: 5000, what: () => `${group} on ${node.stats().cluster?.node}: ${JSON.stringify(now())}, want ${want}` });
}

interface Got {
  name: string;
  keyframe: boolean;
  bytes: number;
  ok: boolean;
}

/** Records the group video `x` receives: each frame's name (its first bytes), whether a keyframe, whether its bytes are the ones sent. */
function record(x: Pick<TestClient, 'rx'>, size: number): Got[] {
  const got: Got[] = [];
  x.rx.on('video', (v: { data: Buffer; keyframe: boolean }) => {
    const name = v.data.subarray(0, v.data.indexOf(0x20)).toString();
    got.push({ name, keyframe: v.keyframe, bytes: v.data.length, ok: v.data.length === size && v.data.equals(frame(name, size)) });
  });
  return got;
}

/** Frame `name`'s bytes: its name, a space, then a fill that depends on the name. */
function frame(name: string, size: number): Buffer {
  const b = Buffer.alloc(size, name.length + Number(name.slice(1)));
  b.write(`${name} `);
  return b;
}

/** cam on node `a` and early on node `c`, both in group 'cast' as both nodes see it; early's video recorded. */
async function castWithEarly(t: TestContext, a: MediaServer, c: MediaServer, size: number) {
  const cam = await startClient(t, a, 'cam');
  const early = await startClient(t, c, 'early');
  await cam.tx.joinGroup('cast', { password: 'pw' });
  await hasMembers(c, 'cast', ['cam']);
  await early.tx.joinGroup('cast', { password: 'pw' });
  await hasMembers(a, 'cast', ['cam', 'early']);
  return { cam, early, seen: record(early, size) };
}

describe('cluster catch-up', () => {
  test('cluster - a group member joining on a node that did not receive the group starts at the keyframe with the frames since, even when the group is received elsewhere and the cached frames need several NATS messages', async (t) => {
    const nats = await startNats(t);
    // A GOP of 1.2 MB: more than one NATS message (1 MiB), within the caches and the readers' buffers.
    const big = { gopCache: { maxFrames: 300, maxBytes: 8_000_000 }, buffers: { video: 8_000_000 } };
    const [a, b, c] = await startNodes(t, nats, 3, big);
    const size = 400_000;
    assert.ok(a.stats().cluster!.maxMessage < 3 * size, 'the three cached frames need more than one NATS message');
    const { cam, early, seen } = await castWithEarly(t, a, c, size);
    const send = async (i: number, keyframe: boolean): Promise<void> => {
      cam.tx.sendVideoFrame(frame(`f${i}`, size), { imageType: 'avc1.42E01E', keyframe, width: 64, height: 48, group: 'cast' });
      // Each once node C's member has it: node A sent it by then, and cached it.
      await until(() => seen.some((g) => g.name === `f${i}`), { on: [[early.rx, 'video']], timeoutMs: 5000, what: `f${i} at the early member` });
    };
    // One keyframe, then a long group of pictures: no other keyframe comes in this test.
    await send(0, true);
    await send(1, false);
    await send(2, false);
    const late = await startClient(t, b, 'late');
    const got = record(late, size);
    await late.tx.joinGroup('cast', { password: 'pw' });
    await hasMembers(a, 'cast', ['cam', 'early', 'late']);
    await send(3, false);
    await send(4, false);
    await until(() => got.length >= 5, { on: [[late.rx, 'video']], timeoutMs: 5000, what: () => `the late member got ${JSON.stringify(got)}` });
    assert.deepEqual(got.map((g) => g.name), ['f0', 'f1', 'f2', 'f3', 'f4'], 'from the keyframe on, each frame once, in order');
    assert.equal(got[0].keyframe, true);
    assert.ok(got.every((g) => g.ok), 'every frame with its bytes');
    // Node B asked the two other nodes once, and offered node A's three cached frames to its member.
    assert.equal(b.stats().cluster!.catchUpAsked, 2);
    assert.equal(b.stats().cluster!.catchUpFrames, 3);
    assert.ok(a.stats().cluster!.catchUpAnswered >= 2, 'node C asked too, when early joined (nothing was cached then)');
    assert.equal(c.stats().cluster!.catchUpFrames, 0);
    // Node C's member got each frame once: the catch-up went to node B only.
    assert.deepEqual(seen.map((g) => g.name), ['f0', 'f1', 'f2', 'f3', 'f4']);
    assert.ok(seen.every((g) => g.ok));
  });

  test('cluster - a node that stopped receiving a group and receives it again does not serve its stale cached frames: its new member starts at the current group of pictures', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const cam = await startClient(t, a, 'cam');
    const watcher = await startClient(t, a, 'watcher');
    const early = await startClient(t, b, 'early');
    await cam.tx.joinGroup('cast', { password: 'pw' });
    await watcher.tx.joinGroup('cast', { password: 'pw' });
    await hasMembers(b, 'cast', ['cam', 'watcher']);
    await early.tx.joinGroup('cast', { password: 'pw' });
    await hasMembers(a, 'cast', ['cam', 'watcher', 'early']);
    const size = 1000;
    const watched = record(watcher, size);
    const seen = record(early, size);
    /** Sends frame `i` and waits until the watcher on node A and `x` (its record `at`) have it. */
    const send = async (i: number, keyframe: boolean, x: TestClient, at: Got[]): Promise<void> => {
      cam.tx.sendVideoFrame(frame(`f${i}`, size), { imageType: 'vp8', keyframe, width: 64, height: 48, group: 'cast' });
      await until(() => at.some((g) => g.name === `f${i}`) && watched.some((g) => g.name === `f${i}`), { on: [[x.rx, 'video'], [watcher.rx, 'video']], timeoutMs: 5000, what: `f${i}` });
    };
    await send(0, true, early, seen);
    await send(1, false, early, seen);
    // Node B's only member leaves: node B no longer receives the group (it keeps f0, f1 cached).
    await early.tx.leaveGroup('cast');
    await hasMembers(a, 'cast', ['cam', 'watcher']);
    await send(2, false, watcher, watched);
    await send(3, false, watcher, watched);
    const late = await startClient(t, b, 'late');
    const got = record(late, size);
    await late.tx.joinGroup('cast', { password: 'pw' });
    await hasMembers(a, 'cast', ['cam', 'watcher', 'late']);
    await send(4, false, late, got);
    await until(() => got.length >= 5, { on: [[late.rx, 'video']], timeoutMs: 5000, what: () => `the late member got ${JSON.stringify(got)}` });
    assert.deepEqual(got.map((g) => g.name), ['f0', 'f1', 'f2', 'f3', 'f4'], 'the group of pictures without a gap, each frame once');
    assert.equal(got[0].keyframe, true);
    assert.ok(got.every((g) => g.ok));
    assert.deepEqual(seen.map((g) => g.name), ['f0', 'f1']);
  });

  test('cluster - a member joining on another node while the source streams: live frames that come while the catch-up travels are neither lost nor repeated', async (t) => {
    const nats = await startNats(t);
    const [a, b, c] = await startNodes(t, nats, 3);
    const size = 500;
    const { cam, early, seen } = await castWithEarly(t, a, c, size);
    // One keyframe, then a frame every millisecond (at most 250: the GOP stays within the caches'
    // 300 frames) until the late member has some: the join and the catch-up happen while frames
    // flow, and some come live to node B while its catch-up is on its way.
    const most = 250;
    let i = 0;
    const sendNext = (): void => {
      if (i >= most) return;
      cam.tx.sendVideoFrame(frame(`f${i}`, size), { imageType: 'vp9', keyframe: i === 0, width: 64, height: 48, group: 'cast' });
      i++;
    };
    sendNext();
    await until(() => seen.length > 0, { on: [[early.rx, 'video']], timeoutMs: 5000, what: 'the first frame at the early member' });
    const timer = setInterval(sendNext, 1);
    t.after(() => clearInterval(timer));
    const late = await startClient(t, b, 'late');
    const got = record(late, size);
    await late.tx.joinGroup('cast', { password: 'pw' });
    const joinedAt = i;
    await until(() => got.length > 0 && (i > joinedAt + 20 || i === most), { on: [[late.rx, 'video']], timeoutMs: 5000, what: () => `the late member got ${got.length} frames, ${i} sent` });
    clearInterval(timer);
    const last = `f${i - 1}`;
    await until(() => got.some((g) => g.name === last) && seen.some((g) => g.name === last), { on: [[late.rx, 'video'], [early.rx, 'video']], timeoutMs: 5000, what: () => `${last} at both members` });
    const want = Array.from({ length: i }, (_, k) => `f${k}`);
    assert.deepEqual(got.map((g) => g.name), want, 'from the keyframe on, every frame once, in order');
    assert.equal(got[0].keyframe, true);
    assert.ok(got.every((g) => g.ok));
    assert.deepEqual(seen.map((g) => g.name), want);
    console.log(`# ${i} frames; the late member joined after f${joinedAt - 1}`);
  });

  test('cluster - the catch-up subject: a node answers a group\'s cached frames and then an empty end; a request that is not one gets the end alone, counted bad', async (t) => {
    const nats = await startNats(t);
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const [a] = await startNodes(t, nats, 1, {}, prefix);
    const cam = await startClient(t, a, 'cam');
    const watcher = await startClient(t, a, 'watcher');
    await cam.tx.joinGroup('cast', { password: 'pw' });
    await watcher.tx.joinGroup('cast', { password: 'pw' });
    const watched = record(watcher, 100);
    cam.tx.sendVideoFrame(frame('f0', 100), { imageType: 'avc1.42E01E', keyframe: true, width: 64, height: 48, group: 'cast' });
    await until(() => watched.length === 1, { on: [[watcher.rx, 'video']], timeoutMs: 5000, what: 'f0 at the watcher' });
    const { connect, createInbox } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: nats.url });
    t.after(() => nc.close());
    const ask = async (body: string): Promise<Buffer[]> => {
      const inbox = createInbox();
      const answers: Buffer[] = [];
      const sub = nc.subscribe(inbox, { timeout: 5000 });
      nc.publish(`${prefix}.n.node0.k`, body, { reply: inbox });
      for await (const m of sub) {
        answers.push(Buffer.from(m.data));
        if (m.data.length === 0) break;
      }
      return answers;
    };
    const answers = await ask(JSON.stringify({ group: 'cast' }));
    assert.equal(answers.length, 2, 'the frames in one message, then the end');
    assert.ok(answers[0].includes(frame('f0', 100)), 'the cached keyframe, with its bytes');
    assert.deepEqual(await ask(JSON.stringify({ group: 'none' })), [Buffer.alloc(0)]);
    const bad = a.stats().cluster!.bad;
    assert.deepEqual(await ask('not json'), [Buffer.alloc(0)]);
    assert.equal(a.stats().cluster!.bad, bad + 1);
  });

  test('cluster - video to one client: when it comes online on another node, and again after it left, it starts at the keyframe with the frames since (the sender\'s node starts each new client subject from its cache)', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 2);
    const size = 300;
    const cam = await startClient(t, a, 'cam');
    let unrouted = a.stats().unrouted.video;
    /** Sends frame `i` to bob while he is offline; resolves once node A counted it unrouted (and cached it). */
    const toNobody = async (i: number, keyframe: boolean): Promise<void> => {
      cam.tx.sendVideoFrame(frame(`f${i}`, size), { imageType: 'avc1.42E01E', keyframe, width: 64, height: 48, to: 'bob' });
      unrouted++;
      await until(() => a.stats().unrouted.video >= unrouted, { checkAfterMs: [20, 100, 300, 1000, 3000], what: () => `f${i} unrouted on node A` });
    };
    await toNobody(0, true);
    await toNobody(1, false);
    const bob = await startClient(t, b, 'bob');
    const first = record(bob, size);
    cam.tx.sendVideoFrame(frame('f2', size), { imageType: 'avc1.42E01E', keyframe: false, width: 64, height: 48, to: 'bob' });
    await until(() => first.some((g) => g.name === 'f2'), { on: [[bob.rx, 'video']], timeoutMs: 5000, what: () => `bob got ${JSON.stringify(first)}` });
    assert.deepEqual(first.map((g) => g.name), ['f0', 'f1', 'f2']);
    // bob goes (node A sees him offline), frames go by, and he comes back on node B.
    const offline = next(a, 'cluster', (ev: ClusterEvent) => ev.type === 'clientOffline' && ev.id === 'bob');
    await bob.rx.stop();
    await bob.tx.stop();
    await offline;
    await toNobody(3, false);
    await toNobody(4, false);
    const again = await startClient(t, b, 'bob');
    const got = record(again, size);
    cam.tx.sendVideoFrame(frame('f5', size), { imageType: 'avc1.42E01E', keyframe: false, width: 64, height: 48, to: 'bob' });
    await until(() => got.some((g) => g.name === 'f5'), { on: [[again.rx, 'video']], timeoutMs: 5000, what: () => `bob got ${JSON.stringify(got)}` });
    assert.deepEqual(got.map((g) => g.name), ['f0', 'f1', 'f2', 'f3', 'f4', 'f5'], 'the current group of pictures, not what node B cached before');
    assert.equal(got[0].keyframe, true);
    assert.ok(got.every((g) => g.ok));
  });
});

/**
 * cam on node `a` with default receivers bob (online on node `b`, seen by `a`, recorded) and carol
 * (not online yet); `online(id)` resolves when node `a` sees that client come online.
 */
async function camToBob(t: TestContext, a: MediaServer, b: MediaServer, size: number) {
  const cam = await startClient(t, a, 'cam');
  const online = (id: string): Promise<unknown> => next(a, 'cluster', (ev: ClusterEvent) => ev.type === 'clientOnline' && ev.id === id);
  const bobSeen = online('bob');
  const bob = await startClient(t, b, 'bob');
  await bobSeen;
  await cam.tx.addDefaultReceiver('bob');
  await cam.tx.addDefaultReceiver('carol');
  return { cam, bob, seen: record(bob, size), online };
}

describe('cluster catch-up: default receivers', () => {
  for (const where of [1, 2]) {
    test(`cluster - a second default receiver of a sender comes online on ${where === 1 ? 'the node where one already reads it' : 'a third node'}: the reader there gets each frame once, in order; the newcomer starts at the cached keyframe`, async (t) => {
      const nats = await startNats(t);
      const nodes = await startNodes(t, nats, 3);
      const [a, b] = nodes;
      const size = 300;
      const { cam, bob, seen, online } = await camToBob(t, a, b, size);
      /** Sends frame `i` to cam's default receivers (no `to`, no group) and waits until each reader in `at` has it. */
      const send = async (i: number, keyframe: boolean, at: [TestClient, Got[]][]): Promise<void> => {
        cam.tx.sendVideoFrame(frame(`f${i}`, size), { imageType: 'avc1.42E01E', keyframe, width: 64, height: 48 });
        await until(() => at.every(([, g]) => g.some((x) => x.name === `f${i}`)), { on: at.map(([x]) => [x.rx, 'video'] as [TestClient['rx'], string]), timeoutMs: 5000, what: () => `f${i}: ${JSON.stringify(at.map(([, g]) => g.map((x) => x.name)))}` });
      };
      // One keyframe, then a long group of pictures: no other keyframe comes in this test.
      await send(0, true, [[bob, seen]]);
      await send(1, false, [[bob, seen]]);
      const carolSeen = online('carol');
      const carol = await startClient(t, nodes[where], 'carol');
      const got = record(carol, size);
      await carolSeen;
      await send(2, false, [[bob, seen], [carol, got]]);
      await send(3, false, [[bob, seen], [carol, got]]);
      assert.deepEqual(seen.map((g) => g.name), ['f0', 'f1', 'f2', 'f3'], 'the reader already there: each frame once, in order');
      assert.deepEqual(got.map((g) => g.name), ['f0', 'f1', 'f2', 'f3'], 'the newcomer: from the cached keyframe on, each frame once');
      assert.equal(got[0].keyframe, true);
      assert.ok(seen.every((g) => g.ok) && got.every((g) => g.ok), 'every frame with its bytes');
    });
  }

  test('cluster - a second default receiver comes online on the node of the first while the sender streams: both get every frame once, in order, the newcomer from the keyframe', async (t) => {
    const nats = await startNats(t);
    const [a, b] = await startNodes(t, nats, 3);
    const size = 500;
    const { cam, bob, seen, online } = await camToBob(t, a, b, size);
    // One keyframe, then a frame every millisecond (at most 250: within the caches' 300 frames)
    // until carol has some: she comes online while frames flow.
    const most = 250;
    let i = 0;
    const sendNext = (): void => {
      if (i >= most) return;
      cam.tx.sendVideoFrame(frame(`f${i}`, size), { imageType: 'vp9', keyframe: i === 0, width: 64, height: 48 });
      i++;
    };
    sendNext();
    await until(() => seen.length > 0, { on: [[bob.rx, 'video']], timeoutMs: 5000, what: 'the first frame at bob' });
    const timer = setInterval(sendNext, 1);
    t.after(() => clearInterval(timer));
    // carol's receiver alone, recording from its start: the frames can come before its session is up.
    const carolSeen = online('carol');
    const carol = { rx: new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port: b.ports.tcp }], clientId: 'carol', reconnect: false }) };
    t.after(() => carol.rx.stop());
    const got = record(carol, size);
    await carol.rx.start();
    await carolSeen;
    const onlineAt = i;
    await until(() => got.length > 0 && (i > onlineAt + 20 || i === most), { on: [[carol.rx, 'video']], timeoutMs: 5000, what: () => `carol got ${got.length} frames, ${i} sent` });
    clearInterval(timer);
    const last = `f${i - 1}`;
    await until(() => got.some((g) => g.name === last) && seen.some((g) => g.name === last), { on: [[carol.rx, 'video'], [bob.rx, 'video']], timeoutMs: 5000, what: () => `${last} at both` });
    const want = Array.from({ length: i }, (_, k) => `f${k}`);
    assert.deepEqual(seen.map((g) => g.name), want, 'bob: every frame once, in order');
    assert.deepEqual(got.map((g) => g.name), want, 'carol: from the keyframe on, every frame once, in order');
    assert.equal(got[0].keyframe, true);
    assert.ok(seen.every((g) => g.ok) && got.every((g) => g.ok));
    console.log(`# ${i} frames; node A saw carol online after f${onlineAt - 1}`);
  });

  test('cluster - a default receiver that left comes back on the node where another still reads: it starts at the current keyframe, the other gets nothing twice', async (t) => {
    const nats = await startNats(t);
    const [a, b, c] = await startNodes(t, nats, 3);
    const size = 300;
    const cam = await startClient(t, a, 'cam');
    const online = (id: string): Promise<unknown> => next(a, 'cluster', (ev: ClusterEvent) => ev.type === 'clientOnline' && ev.id === id);
    const seenOnline = [online('bob'), online('dave')];
    const bob = await startClient(t, b, 'bob');
    const dave = await startClient(t, c, 'dave');
    await Promise.all(seenOnline);
    await cam.tx.addDefaultReceiver('bob');
    await cam.tx.addDefaultReceiver('dave');
    const seen = record(bob, size);
    const watched = record(dave, size);
    const send = async (i: number, keyframe: boolean, at: [TestClient, Got[]][]): Promise<void> => {
      cam.tx.sendVideoFrame(frame(`f${i}`, size), { imageType: 'avc1.42E01E', keyframe, width: 64, height: 48 });
      await until(() => at.every(([, g]) => g.some((x) => x.name === `f${i}`)), { on: at.map(([x]) => [x.rx, 'video'] as [TestClient['rx'], string]), timeoutMs: 5000, what: () => `f${i}: ${JSON.stringify(at.map(([, g]) => g.map((x) => x.name)))}` });
    };
    await send(0, true, [[bob, seen], [dave, watched]]);
    await send(1, false, [[bob, seen], [dave, watched]]);
    // dave goes (node A sees him offline), frames go by for bob alone, and dave comes back on node B.
    const offline = next(a, 'cluster', (ev: ClusterEvent) => ev.type === 'clientOffline' && ev.id === 'dave');
    await dave.rx.stop();
    await dave.tx.stop();
    await offline;
    await send(2, false, [[bob, seen]]);
    await send(3, false, [[bob, seen]]);
    const back = online('dave');
    const again = await startClient(t, b, 'dave');
    const got = record(again, size);
    await back;
    await send(4, false, [[bob, seen], [again, got]]);
    assert.deepEqual(seen.map((g) => g.name), ['f0', 'f1', 'f2', 'f3', 'f4']);
    assert.deepEqual(got.map((g) => g.name), ['f0', 'f1', 'f2', 'f3', 'f4'], 'the current group of pictures, each frame once');
    assert.deepEqual(watched.map((g) => g.name), ['f0', 'f1']);
    assert.equal(got[0].keyframe, true);
  });
});
