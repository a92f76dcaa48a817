/**
 * A loopback TCP relay that pipes each accepted connection to a target and lets a test cut
 * one connection, to make a single channel die.
 */
import net from 'node:net';

export interface TcpRelay {
  port: number;
  /** Connections in accept order: [client side, target side]. */
  pairs: Array<[net.Socket, net.Socket]>;
  /** Stops forwarding client → target on every connection, as a stalled peer would. */
  stall(): void;
  close(): Promise<void>;
}

/**
 * Starts a relay to `targetPort`. With `downRate` (bytes per second), data from the target to the
 * client is paced to that rate: a slow reader on a slow link.
 */
export function startTcpRelay(targetPort: number, targetHost = '127.0.0.1', downRate = 0): Promise<TcpRelay> {
  const pairs: Array<[net.Socket, net.Socket]> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    pairs.push([client, upstream]);
    client.pipe(upstream);
    if (downRate > 0) {
      client.setNoDelay(true);
      upstream.on('data', (chunk: Buffer) => {
        upstream.pause();
        client.write(chunk);
        setTimeout(() => upstream.resume(), (chunk.length / downRate) * 1000).unref();
      });
    } else upstream.pipe(client);
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        pairs,
        stall: () => {
          for (const [a, b] of pairs) {
            a.unpipe(b);
            a.pause();
          }
        },
        close: () =>
          new Promise<void>((r) => {
            for (const [a, b] of pairs) {
              a.destroy();
              b.destroy();
            }
            server.close(() => r());
          }),
      });
    });
  });
}
