/**
 * A MediaServer client for tests: a Sender pushing to the server and a Receiver pulling from it,
 * sharing one client id; neither listens on any port.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { MediaServer, Receiver, Sender, SqliteStore, type ReceiverOptions, type SenderOptions } from '../../src/index.js';
import { next } from './events.js';
import { until, type Trigger } from './wait.js';

export interface TestClient {
  id: string;
  tx: Sender;
  rx: Receiver;
  /** The server it connected to (a node of a test cluster: chosen at random; see useCluster). */
  server?: MediaServer;
}

export interface ClientOptions {
  /** How the sender pushes. @default 'tcp' */
  push?: 'tcp' | 'udp' | 'http';
  /** How the receiver pulls. @default 'tcp' */
  pull?: 'tcp' | 'http';
  tx?: Partial<SenderOptions>;
  rx?: Partial<ReceiverOptions>;
  /** Port the receiver pulls from instead of the server's (a relay in front of it). */
  pullPort?: number;
}

/**
 * Starts a client and waits until its receiver's session is up. `server` is a MediaServer, or the
 * TCP port of one (a server in another process, a load balancer in front of several).
 */
export async function startClient(t: TestContext, server: MediaServer | number, id: string, o: ClientOptions = {}): Promise<TestClient> {
  // A receiver behind a relay reaches the server given: the client stays on it.
  if (typeof server !== 'number' && o.pullPort === undefined) server = serverFor(server);
  const push = o.push ?? 'tcp';
  const pull = o.pull ?? 'tcp';
  const portOf = (transport: 'tcp' | 'udp' | 'http'): number => (typeof server === 'number' ? server : server.ports[transport]);
  const tx = new Sender({ protocol: push, host: '127.0.0.1', port: portOf(push), clientId: id, ...o.tx });
  const rx = new Receiver({
    protocol: pull,
    connection: 'receiver-to-sender',
    senders: [{ host: '127.0.0.1', port: o.pullPort ?? portOf(pull) }],
    clientId: id,
    reconnect: false,
    ...o.rx,
  });
  await tx.start();
  t.after(() => tx.stop());
  t.after(() => rx.stop());
  const up = next(rx, 'sessionConnected');
  await rx.start();
  // No wait for the other nodes of a cluster: a node welcomes a receiver once every node sees it
  // online, and answers a join or leave once every node applied it (docs/cluster.md, "What is consistent").
  await up;
  return { id, tx, rx, server: typeof server === 'number' ? undefined : server };
}

/** The store startServer gives servers that get none: the library's default, or SQLite. */
let defaultStore: 'memory' | 'sqlite' = 'memory';

/** Runs the servers of this test process on that store (the server suite runs once with each). */
export function useStore(kind: 'memory' | 'sqlite'): void {
  defaultStore = kind;
}

/** A temporary folder, removed after the test. */
export function tempDir(t: TestContext, prefix = 'camwire-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/**
 * Starts a server on loopback with every port on, stopped after the test. After useCluster(),
 * starts a cluster instead (a nats-server and `nodes` MediaServers with the same options) and
 * returns its first node; startClient(t, thatNode, ...) then puts each client on a random node.
 */
export async function startServer(t: TestContext, o: ConstructorParameters<typeof MediaServer>[0] = {}): Promise<MediaServer> {
  if (topology) return startCluster(t, topology, o);
  const store = o.store ?? (defaultStore === 'sqlite' ? new SqliteStore({ dir: tempDir(t, 'camwire-store-') }) : undefined);
  const s = new MediaServer({ host: '127.0.0.1', ...o, store });
  await s.start();
  t.after(() => s.stop());
  return s;
}

// ---------------------------------------------------------------------------------------------
// The same scenarios on a cluster (docs/cluster.md): each client on a randomly chosen node.

interface Topology {
  nodes: number;
  seed: number;
}

interface TestCluster {
  nodes: MediaServer[];
  /** Per node: where it sees each client of another node online (from its `cluster` events). */
  seen: Map<MediaServer, Map<string, string>>;
  random: () => number;
}

let topology: Topology | undefined;
const clusters = new WeakMap<MediaServer, TestCluster>();

/**
 * Runs the servers of this test process as clusters of `nodes` MediaServers over a real
 * nats-server, each client on a node chosen by a PRNG seeded with `seed` and the test's name
 * (CAMWIRE_CLUSTER_SEED repeats a run). Returns the seed.
 */
export function useCluster(nodes = 3, seed = Number(process.env.CAMWIRE_CLUSTER_SEED ?? Math.floor(Math.random() * 2 ** 31))): number {
  topology = { nodes, seed };
  return seed;
}

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

async function startCluster(t: TestContext, top: Topology, o: NonNullable<ConstructorParameters<typeof MediaServer>[0]>): Promise<MediaServer> {
  const { startNats } = await import('./nats.js');
  const nats = await startNats(t);
  const prefix = `t${hash(`${t.fullName}${Math.random()}`).toString(16)}`;
  const nodes: MediaServer[] = [];
  const seen = new Map<MediaServer, Map<string, string>>();
  for (let i = 0; i < top.nodes; i++) {
    const store = o.store ?? (defaultStore === 'sqlite' ? new SqliteStore({ dir: tempDir(t, 'camwire-store-') }) : undefined);
    const s = new MediaServer({ host: '127.0.0.1', ...o, store, cluster: { servers: nats.url, prefix, name: `node${i}` } });
    const where = new Map<string, string>();
    s.on('cluster', (ev) => {
      if (ev.type === 'clientOnline') where.set(ev.id, ev.node);
      if (ev.type === 'clientOffline' && where.get(ev.id) === ev.node) where.delete(ev.id);
    });
    seen.set(s, where);
    await s.start();
    t.after(() => s.stop());
    nodes.push(s);
  }
  const random = prng(top.seed ^ hash(t.fullName));
  const c: TestCluster = { nodes, seen, random };
  for (const s of nodes) clusters.set(s, c);
  // Every node sees every other before a client comes.
  await until(() => nodes.every((s) => s.stats().cluster!.nodes.length === top.nodes), { on: nodes.map((s) => [s, 'cluster']), timeoutMs: 10000, what: 'the nodes see each other' });
  return nodes[0];
}

/** On one server: `s`. On a test cluster: one of its nodes, at random (seeded). */
export function serverFor(s: MediaServer): MediaServer {
  const c = clusters.get(s);
  return c ? c.nodes[Math.floor(c.random() * c.nodes.length)] : s;
}

/** The server client `c` connected to (`s` when it was not started by startClient on a server). */
export function serverOf(c: TestClient, s: MediaServer): MediaServer {
  return c.server ?? s;
}

/** The nodes of the test cluster `s` belongs to ([s] for a single server). */
export function nodesOf(s: MediaServer): MediaServer[] {
  return clusters.get(s)?.nodes ?? [s];
}

/**
 * Resolves once no node sees client `id` online any more (at once on one server). On a cluster,
 * a node learns that a client of another node went offline from NATS, a few ms after that node.
 */
export async function offlineEverywhere(s: MediaServer, id: string): Promise<void> {
  const c = clusters.get(s);
  if (!c) return;
  const ok = (): boolean => c.nodes.every((n) => !c.seen.get(n)!.has(id) && !n.clients().some((x) => x.id === id && x.online));
  await until(ok, { on: c.nodes.flatMap((n) => [[n, 'cluster'] as Trigger, [n, 'clientDisconnected'] as Trigger]), timeoutMs: 10000, what: `${id} offline on every node` });
}
