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

export interface TestClient {
  id: string;
  tx: Sender;
  rx: Receiver;
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
  await up;
  return { id, tx, rx };
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

/** Starts a server on loopback with every port on, stopped after the test. */
export async function startServer(t: TestContext, o: ConstructorParameters<typeof MediaServer>[0] = {}): Promise<MediaServer> {
  const store = o.store ?? (defaultStore === 'sqlite' ? new SqliteStore({ dir: tempDir(t, 'camwire-store-') }) : undefined);
  const s = new MediaServer({ host: '127.0.0.1', ...o, store });
  await s.start();
  t.after(() => s.stop());
  return s;
}
