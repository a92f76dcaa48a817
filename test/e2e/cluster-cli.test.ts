/**
 * `camwire server --cluster`: a node run by the CLI as a child process beside one in this
 * process, on a real nats-server; then the child is killed with SIGKILL and the other node notices.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DeliveryError, MediaServer, type ClusterEvent } from '../../src/index.js';
import { cli } from '../helpers/cli.js';
import { next } from '../helpers/events.js';
import { startNats } from '../helpers/nats.js';
import { startClient, tempDir } from '../helpers/server-client.js';
import { once, until } from '../helpers/wait.js';

test('cluster cli - camwire server --cluster joins; messages, groups and hellos cross to it; killed with SIGKILL, the other node declares it gone and says its goodbyes', async (t) => {
  const nats = await startNats(t);
  const prefix = `cli${randomBytes(3).toString('hex')}`;
  // The file carries the cluster section (credentials would go there); the flags name the NATS and the node.
  const conf = path.join(tempDir(t), 'server.yaml');
  fs.writeFileSync(conf, `cluster:\n  servers: nats://127.0.0.1:1\n  prefix: ${prefix}\n`);
  const child = cli(t, ['server', '--config', conf, '--cluster', nats.url, '--cluster-name', 'cli-node', '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', '0', '--http-port', '0', '--memory', '--log-level', 'warn']);
  const [, tcp] = await child.waitFor(/tcp (\d+), udp/);
  await child.waitFor(/cluster: node cli-node on nats:\/\/127\.0\.0\.1:\d+/);

  const a = new MediaServer({ host: '127.0.0.1', cluster: { servers: nats.url, prefix, name: 'inproc' } });
  const onlineThere = new Set<string>();
  const down: string[] = [];
  a.on('cluster', (ev) => {
    if (ev.type === 'clientOnline') onlineThere.add(ev.id);
    if (ev.type === 'clientOffline') onlineThere.delete(ev.id);
    if (ev.type === 'nodeDown') down.push(ev.node);
  });
  await a.start();
  t.after(() => a.stop());
  const alice = await startClient(t, a, 'alice');

  const bob = await startClient(t, Number(tcp), 'bob');
  await until(() => onlineThere.has('bob'), { on: [[a, 'cluster']], timeoutMs: 5000, what: 'bob online on cli-node' });

  const got = next(bob.rx, 'command');
  await alice.tx.sendCommand({ name: 'ping', params: { n: 1 } }, { to: 'bob' });
  assert.equal((await got)[0].name, 'ping');
  const back = next(alice.rx, 'command');
  await bob.tx.sendCommand({ name: 'pong' }, { to: 'alice' });
  assert.equal((await back)[0].name, 'pong');

  // bob greets alice and shares a group with her, through his node.
  // (Joins on two nodes within the same few ms may each miss the other's notice: the memberships are
  // eventually shared, docs/cluster.md. So alice joins once her node has bob's membership.)
  const bobIn = once(a, 'cluster', 5000, (ev: ClusterEvent) => ev.type === 'memberJoined' && ev.id === 'bob', 'bob a member on the other node');
  await bob.tx.joinGroup('room');
  await bobIn;
  const joined = next(bob.rx, 'userJoinsGroup');
  await alice.tx.joinGroup('room');
  assert.deepEqual((await joined).slice(0, 2), ['room', 'alice']);
  await bob.tx.addDefaultReceiver('alice');
  const enter = next(alice.rx, 'userEnter');
  await bob.tx.helloToDefaultReceivers();
  assert.equal((await enter)[0], 'bob');

  // Killed: nobody can say bob's goodbyes for his node; alice's node does.
  const exit = next(alice.rx, 'userExit', (u: string) => u === 'bob', 15000);
  const left = next(alice.rx, 'userLeavesGroup', (g: string, u: string) => g === 'room' && u === 'bob', 15000);
  const killedAt = performance.now();
  child.child.kill('SIGKILL');
  await child.exited;
  await until(() => down.includes('cli-node') && !onlineThere.has('bob'), { on: [[a, 'cluster']], timeoutMs: 15000, what: 'cli-node declared gone' });
  process.stdout.write(`# node death noticed after ${Math.round(performance.now() - killedAt)} ms (heartbeat 1000 ms, dead after 4000 ms)\n`);
  await exit;
  await left;
  process.stdout.write(`# goodbye and group leave told after ${Math.round(performance.now() - killedAt)} ms\n`);
  assert.deepEqual(a.stats().cluster!.nodes, ['inproc']);
  assert.deepEqual(a.stats().groups.find((g) => g.id === 'room')?.members, ['alice']);
  await assert.rejects(alice.tx.sendCommand({ name: 'after' }, { to: 'bob' }), (err: Error) => err instanceof DeliveryError);
});
