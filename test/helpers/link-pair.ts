/**
 * A connected pair of StreamLinks on loopback for link-level tests: ours (with its raw socket),
 * and the frames the other end received.
 */
import net from 'node:net';
import type { TestContext } from 'node:test';
import { StreamLink, type Frame } from '../../src/internal.js';

export interface LinkPair {
  link: StreamLink;
  sock: net.Socket;
  got: Frame[];
  /** Resolves once the other end has received `n` frames in all (no timer: on each frame). */
  arrived(n: number): Promise<void>;
}

export async function linkPair(t: TestContext): Promise<LinkPair> {
  const got: Frame[] = [];
  let want = 0;
  let wake: (() => void) | undefined;
  const server = net.createServer((s) => {
    new StreamLink(s, { keepaliveMs: 0, deadMs: 0 }).on('frame', (f) => {
      got.push(f);
      if (got.length >= want) wake?.();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const link = new StreamLink(sock, { keepaliveMs: 0, deadMs: 0 });
  t.after(() => link.close(1000, 'done'));
  const arrived = (n: number): Promise<void> => {
    want = n;
    return got.length >= n ? Promise.resolve() : new Promise<void>((r) => (wake = r));
  };
  return { link, sock, got, arrived };
}
