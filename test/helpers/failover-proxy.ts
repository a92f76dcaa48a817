/**
 * A TCP load balancer for tests: each accepted connection goes to the first backend port that
 * accepts it, in the order `backends()` gives for that connection (a draining or dead server
 * refuses, so the next one gets it; rotate the list for round robin).
 */
import net from 'node:net';
import type { TestContext } from 'node:test';

export interface FailoverProxy {
  port: number;
  /** Backend port of each connection, in accept order. */
  chosen: number[];
}

export async function startFailoverProxy(t: TestContext, backends: () => number[]): Promise<FailoverProxy> {
  const chosen: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.pause();
    const ports = backends();
    const tryFrom = (i: number): void => {
      if (i >= ports.length) {
        client.destroy();
        return;
      }
      const up = net.connect(ports[i], '127.0.0.1');
      up.once('error', () => tryFrom(i + 1));
      up.once('connect', () => {
        sockets.add(up);
        up.on('close', () => sockets.delete(up));
        up.removeAllListeners('error');
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
        client.on('close', () => up.destroy());
        up.on('close', () => client.destroy());
        chosen.push(ports[i]);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    tryFrom(0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return { port: (server.address() as net.AddressInfo).port, chosen };
}
