/**
 * A slow node does not slow the others (docs/cluster.md, A slow node): a node in its own process
 * whose event loop is blocked most of the time, while video flows to a group with readers on a
 * fast node and on the slow one. The fast node's reader keeps receiving; the slow node drops (and
 * counts) video at its pending limits; commands to its reader are acknowledged or refused,
 * visibly, never lost.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MediaServer } from '../../src/index.js';
import { startNats } from '../helpers/nats.js';
import { startClient } from '../helpers/server-client.js';
import { until, within } from '../helpers/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function httpJson(port: number, p: string): Promise<any> {
  const r = await fetch(`http://127.0.0.1:${port}${p}`);
  return p === '/metrics' ? r.text() : r.json();
}

test('cluster slow node - its pending limits drop video for it, not for the others; commands to its reader are acknowledged or refused', async (t) => {
  const nats = await startNats(t);
  const prefix = `s${randomBytes(4).toString('hex')}`;
  const nodes: MediaServer[] = [];
  const online = new Map<MediaServer, Set<string>>();
  for (const name of ['node0', 'node1']) {
    const s = new MediaServer({ host: '127.0.0.1', cluster: { servers: nats.url, prefix, name } });
    const seen = new Set<string>();
    s.on('cluster', (ev) => {
      if (ev.type === 'clientOnline') seen.add(ev.id);
      if (ev.type === 'clientOffline') seen.delete(ev.id);
    });
    online.set(s, seen);
    await s.start();
    t.after(() => s.stop());
    nodes.push(s);
  }
  const [a, b] = nodes;
  // node2: blocked 250 ms of every 300 ms, pending limit 4 messages.
  const child = spawn(process.execPath, [path.join(root, 'test/fixtures/busy-node.mjs'), nats.url, prefix, 'node2', '250', '300', '4'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const ports = await within(
    new Promise<{ tcp: number; http: number }>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n')) resolve((JSON.parse(line) as { ports: { tcp: number; http: number } }).ports);
      });
      child.once('exit', (code) => reject(new Error(`busy node exited early (${code})`)));
    }),
    20000,
    'the busy node started',
  );
  await until(() => a.stats().cluster!.nodes.length === 3 && b.stats().cluster!.nodes.length === 3, { on: [[a, 'cluster'], [b, 'cluster']], timeoutMs: 10000, what: 'three nodes' });

  const alice = await startClient(t, a.ports.tcp, 'alice');
  const fast = await startClient(t, b.ports.tcp, 'fast');
  const slow = await startClient(t, ports.tcp, 'slow', { rx: { connectTimeoutMs: 10000 } });
  for (const c of [alice, fast, slow]) await c.tx.joinGroup('live');
  await until(() => ['fast', 'slow'].every((id) => online.get(a)!.has(id)) && a.stats().groups.find((g) => g.id === 'live')?.members.length === 3, {
    on: [[a, 'cluster']],
    timeoutMs: 10000,
    what: () => `node0 sees the readers and the group: ${JSON.stringify(a.stats().groups)}`,
  });

  const got = { fast: 0, slow: 0 };
  fast.rx.on('video', () => got.fast++);
  slow.rx.on('video', () => got.slow++);
  const received = new Set<string>();
  slow.rx.on('command', (c) => received.add(c.name));

  // Video to the group at 50 frames/s for 3 s; meanwhile commands to the slow node's reader.
  const N = 150;
  const frame = Buffer.alloc(64 * 1024, 9);
  const results: Array<Promise<'acked' | 'refused'>> = [];
  for (let i = 0; i < N; i++) {
    alice.tx.sendVideoFrame(frame, { group: 'live', width: 64, height: 64 });
    if (i % 15 === 0) results.push(alice.tx.sendCommand({ name: `c${i}` }, { to: 'slow' }).then(() => 'acked' as const, () => 'refused' as const));
    await new Promise((r) => setTimeout(r, 20));
  }
  // Every command settles: acknowledged by the reader, or refused back to the sender.
  const settled = await within(Promise.all(results), 30000, 'commands to the slow node settled');
  await until(() => got.fast >= N * 0.8, { on: [[fast.rx, 'video']], timeoutMs: 5000, what: () => `fast reader got ${got.fast} of ${N}` });
  const st = await httpJson(ports.http, '/stats');
  const metrics: string = await httpJson(ports.http, '/metrics');
  process.stdout.write(
    `# slow node: fast reader ${got.fast}/${N} frames, slow reader ${got.slow}/${N}; slow node dropped ${st.cluster.dropped} at its pending limits (peak ${st.cluster.pendingPeak} waiting); commands ${settled.filter((x) => x === 'acked').length} acked, ${settled.filter((x) => x === 'refused').length} refused; publisher node failed ${a.stats().cluster!.failed}, dropped ${a.stats().cluster!.dropped}\n`,
  );
  assert.ok(st.cluster.dropped > 0, 'the slow node dropped video at its pending limits, and counted it');
  assert.match(metrics, /camwire_dropped_total\{type="video",reason="cluster_pending"\} [1-9]/);
  assert.equal(a.stats().cluster!.dropped, 0, 'the publisher node dropped nothing');
  assert.equal(b.stats().cluster!.dropped, 0, 'the fast node dropped nothing');
  assert.ok(got.slow < got.fast, `the slow node's reader got fewer frames (${got.slow}) than the fast one (${got.fast})`);
  // Nothing acknowledged is lost.
  for (const [i, r] of settled.entries()) if (r === 'acked') assert.ok(received.has(`c${i * 15}`), `c${i * 15} acked and received`);
});

test('cluster slow node - bad pending limits are refused by name', () => {
  assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', pending: { messages: 0 } } }), /cluster\.pending\.messages/);
  assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', pending: { bytes: 1.5 } } }), /cluster\.pending\.bytes/);
  assert.throws(() => new MediaServer({ cluster: { servers: 'nats://x', pending: { frames: 3 } as never } }), /cluster\.pending/);
});
