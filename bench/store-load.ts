/**
 * The load generator of the store benchmark (bench/store.ts), run as a child process of its own
 * (fork of this file with CAMWIRE_STORE_CHILD=load), so its CPU does not count as the server's
 * and its own CPU can be reported. Also the small IPC helper both children of that bench use.
 *
 * N clients, each as a MediaServer client is set up (test/helpers/server-client.ts): a Receiver
 * pulling only the command channel (the server's RV_ notifications come there) and a Sender
 * pushing to the server's TCP port, with the same clientId. Each client keeps `depth` requests
 * in flight (one loop per slot; the server answers a client's requests in order). Operations:
 *  - perm:     sender.joinGroup('p-<i>-<j>', { permanent: true }): a new group each time
 *              (the server stores the group and the permanent member);
 *  - temp:     alternately joinGroup('t-<i>') (temporary, a new member of a group that exists:
 *              'holder' made it, permanent, at set-up) and leaveGroup('t-<i>'): nothing stored;
 *  - contacts: alternately addDefaultReceiver('x<i>') and removeDefaultReceiver('x<i>'): the
 *              server stores the client's contact lists (it runs with keepClientInfo).
 * No group has a password (an scrypt check would dominate the figures).
 */
import { performance } from 'node:perf_hooks';
import type { Receiver as ReceiverT } from '../src/receiver.js';
import type { Sender as SenderT } from '../src/sender.js';
import { loadCamwire } from './lib.js';

export const HOST = '127.0.0.1';
export type StoreOp = 'perm' | 'temp' | 'contacts';

/** A message from the parent: an operation name and its arguments; the reply carries the same id. */
export interface IpcRequest {
  id: number;
  op: string;
  [k: string]: unknown;
}

/**
 * Child side of the bench's IPC: answers each request with its handler's result (or
 * `{ error }`); 'stop' replies, then exits. Sends `{ id: 0, ...ready }` first. Exits when the
 * parent goes away.
 */
export function serveIpc(handlers: Record<string, (m: IpcRequest) => unknown>, ready: object, onStop: () => Promise<void>): void {
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= onStop().catch((err: Error) => console.error(`store bench child: stop failed: ${err.message}`)));
  process.on('message', (m: IpcRequest) => {
    if (m.op === 'stop') {
      void stop().then(() => process.send?.({ id: m.id }, undefined, undefined, () => process.exit(0)));
      return;
    }
    const h = handlers[m.op];
    Promise.resolve()
      .then(() => {
        if (!h) throw new Error(`unknown op ${m.op}`);
        return h(m);
      })
      .then(
        (r) => process.send?.({ id: m.id, ...(r as object) }),
        (err: Error) => process.send?.({ id: m.id, error: err?.stack ?? String(err) }),
      );
  });
  process.on('disconnect', () => void stop().then(() => process.exit(0)));
  process.send?.({ id: 0, ...ready });
}

/** What one measured run returns to the parent. */
export interface LoadRun {
  op: StoreOp;
  /** Requests that completed (acknowledged) / were refused or failed. */
  ok: number;
  errors: number;
  errorSamples: string[];
  /** First request issued -> last one settled. */
  elapsedMs: number;
  /** Per acknowledged request: the call -> its promise resolved, ms. */
  latencies: number[];
  /** This process over the run (user + system), ms. */
  cpuMs: number;
  /** Whether some request was still outstanding when the run gave up waiting. */
  timedOut: boolean;
}

interface Client {
  i: number;
  tx: SenderT;
  rx: ReceiverT;
  /** Per operation: requests issued so far (alternating operations use its parity). */
  next: Record<StoreOp, number>;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
};

async function loadChild(): Promise<void> {
  const { Sender, Receiver } = await loadCamwire();
  const clients: Client[] = [];
  let holder: SenderT | undefined;
  let depth = 1;

  const request = (c: Client, op: StoreOp): Promise<unknown> => {
    const j = c.next[op]++;
    switch (op) {
      case 'perm':
        return c.tx.joinGroup(`p-${c.i}-${j}`, { permanent: true });
      case 'temp':
        return j % 2 === 0 ? c.tx.joinGroup(`t-${c.i}`) : c.tx.leaveGroup(`t-${c.i}`);
      case 'contacts':
        return j % 2 === 0 ? c.tx.addDefaultReceiver(`x${c.i}`) : c.tx.removeDefaultReceiver(`x${c.i}`);
    }
  };

  const setup = async (m: IpcRequest): Promise<object> => {
    const port = m.port as number;
    const n = m.clients as number;
    depth = m.depth as number;
    const senderOptions = { protocol: 'tcp' as const, host: HOST, port, idleTimeoutMs: 3_600_000, reconnect: false as const };
    // The groups of the temporary joins: made (permanent, so they stay) by a client that has no
    // receiver and so gets no notifications.
    holder = new Sender({ ...senderOptions, clientId: 'holder' });
    await holder.start();
    for (let i = 0; i < n; i++) await holder.joinGroup(`t-${i}`, { permanent: true });
    for (let i = 0; i < n; i++) {
      const rx = new Receiver({
        protocol: 'tcp',
        connection: 'receiver-to-sender',
        senders: [{ host: HOST, port }],
        clientId: `c${i}`,
        receiveMediaTypes: ['command'],
        reconnect: false,
      });
      const tx = new Sender({ ...senderOptions, clientId: `c${i}` });
      clients.push({ i, tx, rx, next: { perm: 0, temp: 0, contacts: 0 } });
      await new Promise<void>((resolve, reject) => {
        rx.once('sessionConnected', () => resolve());
        rx.once('connectError', (ev) => reject(new Error(`client c${i}'s receiver could not connect: ${ev.error?.message}`)));
        rx.start().catch(reject);
      });
      await tx.start();
      // Opens the command lane (and proves the client is known): a read, nothing stored.
      await tx.getGroupInfo(`t-${i}`);
    }
    return { clients: clients.length };
  };

  const run = async (m: IpcRequest): Promise<LoadRun> => {
    const op = m.kind as StoreOp;
    const ms = m.ms as number;
    const latencies: number[] = [];
    const errorSamples: string[] = [];
    let ok = 0;
    let errors = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + ms;
    let tLast = t0;
    const loop = async (c: Client): Promise<void> => {
      while (performance.now() < deadline) {
        const t = performance.now();
        try {
          await request(c, op);
          const now = performance.now();
          latencies.push(now - t);
          ok++;
          tLast = now;
        } catch (err) {
          errors++;
          tLast = performance.now();
          if (errorSamples.length < 5) errorSamples.push(`c${c.i}: ${(err as Error).message}`);
        }
      }
    };
    const loops: Promise<void>[] = [];
    for (const c of clients) for (let k = 0; k < depth; k++) loops.push(loop(c));
    let timedOut = false;
    try {
      // A request that gets no answer fails after the sender's command timeout (15 s).
      await withTimeout(Promise.all(loops), 20_000, 'outstanding requests');
    } catch (err) {
      timedOut = true;
      errorSamples.push((err as Error).message);
    }
    const cpu = process.cpuUsage(cpu0);
    return { op, ok, errors, errorSamples, elapsedMs: tLast - t0, latencies, cpuMs: (cpu.user + cpu.system) / 1000, timedOut };
  };

  const stop = async (): Promise<void> => {
    await withTimeout(Promise.all([...clients.flatMap((c) => [c.tx.stop(), c.rx.stop()]), holder?.stop()]), 5000, 'stopping the clients').catch(() => {});
  };

  serveIpc({ setup, run }, { pid: process.pid }, stop);
}

if (process.env.CAMWIRE_STORE_CHILD === 'load' && process.send) {
  loadChild().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
