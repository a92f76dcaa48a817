/**
 * The Docker Compose example (examples/cluster/docker-compose.yml; docs/cluster.md, Docker
 * Compose), run without Docker: the file is parsed with the project's YAML library and each
 * service's command runs as a local process, with the service's environment and its mounted
 * config files: the NATS service as `nats-server`, the camwire services as `camwire server` (this
 * build's CLI). What differs from Docker, and only that: the services' host names become
 * 127.0.0.1, NATS listens on a free port instead of 4222, its volume is a temporary folder, and
 * each node listens on ports of its own (port 0: `--host 127.0.0.1 --tcp-port 0 --udp-port 0
 * --http-port 0`, which override the config file) instead of the same container ports. The image
 * build (Dockerfile), the port mappings and the advertised addresses are not exercised.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import YAML from 'yaml';
import { cli, ROOT } from '../helpers/cli.js';
import { next } from '../helpers/events.js';
import { freePort } from '../helpers/ports.js';
import { startClient, tempDir } from '../helpers/server-client.js';
import { within } from '../helpers/wait.js';

const DIR = path.join(ROOT, 'examples/cluster');
const FILE = path.join(DIR, 'docker-compose.yml');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: string[];
}

/** Host paths of a service's bind mounts, by the container path (named volumes: undefined). */
function mounts(s: Service): Map<string, string | undefined> {
  const m = new Map<string, string | undefined>();
  for (const v of s.volumes ?? []) {
    const [src, dst] = v.split(':');
    m.set(dst, src.startsWith('.') || src.startsWith('/') ? path.resolve(DIR, src) : undefined);
  }
  return m;
}

/** Starts nats-server with the service's arguments; its volumes as temporary folders. */
async function startNatsService(t: TestContext, s: Service, port: number): Promise<void> {
  const m = mounts(s);
  const args = (s.command ?? []).map((a) => (m.has(a) ? (m.get(a) ?? tempDir(t)) : a));
  const p = spawn('nats-server', [...args, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => void p.kill('SIGKILL'));
  let log = '';
  await within(
    new Promise<void>((resolve, reject) => {
      p.once('error', reject);
      p.once('exit', (code) => reject(new Error(`nats-server exited (${code}):\n${log}`)));
      p.stderr!.on('data', (d: Buffer) => {
        if (log.length < 20000) log += d.toString();
        if (log.includes('Server is ready')) resolve();
      });
    }),
    15000,
    'nats-server ready',
  );
}

test('cluster compose - the example runs as local processes: NATS and three camwire nodes from its commands, config files and environment; clients on different nodes reach each other', async (t) => {
  const compose = YAML.parse(fs.readFileSync(FILE, 'utf8')) as { services: Record<string, Service> };
  const services = Object.entries(compose.services);
  const natsServices = services.filter(([, s]) => s.image?.startsWith('nats:'));
  const nodes = services.filter(([, s]) => s.command?.[0] === 'camwire');
  assert.equal(natsServices.length, 1, 'one NATS service');
  assert.equal(nodes.length, 3, 'three camwire services');
  const [natsName, natsService] = natsServices[0];
  assert.ok(natsService.command?.includes('-js'), 'NATS runs with JetStream');
  const natsPort = await freePort();
  await startNatsService(t, natsService, natsPort);

  // Host names of the services (nats://nats:4222) are 127.0.0.1 here, and NATS's port is the free one.
  const local = (a: string): string => a.replace(new RegExp(`^nats://${natsName}:4222$`), `nats://127.0.0.1:${natsPort}`);
  const ports: number[] = [];
  for (const [name, s] of nodes) {
    assert.deepEqual(s.depends_on, [natsName], `${name} starts after NATS`);
    const m = mounts(s);
    const args = s.command!.slice(1).map((a) => m.get(a) ?? local(a));
    for (const a of args) if (a.startsWith('/')) assert.ok(fs.existsSync(a), `${name}: ${a} is a file of the example`);
    const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, local(String(v))]));
    const node = cli(t, [...args, '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', '0', '--http-port', '0'], { env });
    const [, tcp] = await node.waitFor(/tcp (\d+), udp/);
    const clusterName = args[args.indexOf('--cluster-name') + 1];
    await node.waitFor(new RegExp(`cluster: node ${clusterName} on nats://127\\.0\\.0\\.1:${natsPort}`));
    ports.push(Number(tcp));
  }

  // One client per node. A receiver is welcomed once every live node has its record (docs/cluster.md, What is consistent).
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((id, i) => startClient(t, ports[i], id)));
  const got = next(bob.rx, 'command');
  await alice.tx.sendCommand({ name: 'a-to-b' }, { to: 'bob' });
  assert.deepEqual([(await got)[0].name, (await got)[1].from], ['a-to-b', 'alice']);
  const back = next(alice.rx, 'data');
  await carol.tx.sendData(Buffer.from('c-to-a'), { to: 'alice' });
  assert.equal((await back)[0].toString(), 'c-to-a');
  // A group with a member on each node.
  await alice.tx.joinGroup('compose', { password: 'pw' });
  for (const x of [bob, carol]) await x.tx.joinGroup('compose', { password: 'pw' });
  const frames = [alice, carol].map((x) => next(x.rx, 'video'));
  bob.tx.sendVideoFrame(Buffer.alloc(20_000, 9), { group: 'compose', width: 160, height: 120 });
  for (const [v, meta] of await Promise.all(frames)) assert.deepEqual([v.data.length, meta.from, meta.group], [20_000, 'bob', 'compose']);
});
