/**
 * A server operator's first hour, as real processes: the docs' quickstarts run as written, and
 * every misconfiguration ends at once with one line naming the cause and the fix, and the exit
 * code docs/cli.md gives it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { camwireIn, folder, proc, shBlock } from '../helpers/operator.js';

test('operator - the cluster quickstart of docs/cluster.md, run as written in one folder: both nodes start, and a command crosses from a client of node a to a client of node b', async (t) => {
  const cwd = folder(t);
  const lines = shBlock('cluster.md');
  assert.equal(lines.length, 3, `docs/cluster.md's quickstart changed: ${lines.join(' | ')}`);
  // The only substitutions: free ports for the documented ones (this machine runs other tests), NATS's folder in the test's own.
  const ports = new Map<string, string>();
  for (const m of lines.join(' ').matchAll(/(?:port |:)(\d{4})\b/g)) if (!ports.has(m[1])) ports.set(m[1], String(await freePort()));
  const local = (l: string): string[] => l.replace(/\b(\d{4})\b/g, (p) => ports.get(p) ?? p).split(/\s+/);
  const [natsLine, ...nodes] = lines.map(local);
  assert.deepEqual(natsLine.slice(0, 3), ['nats-server', '-js', '-sd']);
  const nats = proc(t, 'nats-server', ['-js', '-sd', path.join(cwd, 'nats'), '-a', '127.0.0.1', '-p', ports.get('4222')!]);
  await nats.waitFor(/Server is ready/, 10000);
  const servers = nodes.map((args) => {
    assert.equal(args[0], 'camwire');
    return camwireIn(t, cwd, args.slice(1));
  });
  const tcp: string[] = [];
  for (const [i, s] of servers.entries()) {
    const name = nodes[i][nodes[i].indexOf('--cluster-name') + 1];
    await s.waitFor(new RegExp(`cluster: node ${name} on`), 15000);
    tcp.push((await s.waitFor(/camwire server on \S+: tcp (\d+)/))[1]);
  }
  const desk = camwireIn(t, cwd, ['receive', '--server', `127.0.0.1:${tcp[1]}`, '--id', 'desk', '--types', 'command']);
  await desk.waitFor(/"event":"sessionConnected"/);
  const ops = camwireIn(t, cwd, ['send', '--server', `127.0.0.1:${tcp[0]}`, '--id', 'ops', '--to', 'desk', '--command', 'zoom', '--param', 'level=2']);
  assert.equal(await ops.exit(), 0, ops.stderr());
  await desk.waitFor(/"command":"zoom","params":\{"level":2\},"from":"ops"/);
});
