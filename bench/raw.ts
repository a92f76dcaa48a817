/**
 * Raw baselines: the least code that moves the same frames over the same sockets.
 *  - TCP: a Node net socket pair (noDelay, as camwire sets), 4-byte big-endian length + payload;
 *    everything sent in one event-loop turn goes to the socket as one write (corked until the turn
 *    ends, process.nextTick), as camwire's stream links do; a tiny incremental parser on the other end.
 *  - UDP: a bare dgram pair with camwire's socket buffer sizes (4 MiB); each frame is cut into
 *    datagrams of at most 1472 bytes with a 12-byte header (frame id, index, count, total length)
 *    and reassembled on the other end; a frame left incomplete when a later one completes is
 *    dropped and counted.
 *  - HTTP through a proxy, as a request to it: one chunked POST (absolute-form URL) to the proxy
 *    carrying the TCP pair's 4-byte-length frames, Node's http on both ends (Node gathers a turn's
 *    writes into one write). The baseline of camwire's requests to a proxy (`proxyTunnel: 'never'`):
 *    a proxy may relay a request body differently from a CONNECT tunnel (tinyproxy reads a tunnel
 *    2 KB at a time).
 * Header fields are read and written with the plain byte functions camwire's per-frame code uses
 * (src/protocol/bytes.ts: in Node 20 a method loaded from a Buffer is not inlined), so the baseline
 * does not pay a cost camwire avoids.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import type { Pair } from './pair.js';
import { LengthFramer } from './fanout-raw.js';
import { put16, put32, u16, u32, view } from '../src/protocol/bytes.js';

const HOST = '127.0.0.1';


/** Raw TCP: net socket pair with a 4-byte length prefix. */
export async function rawTcpPair(proxyPort?: number): Promise<Pair> {
  const server = net.createServer({ noDelay: true });
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const client = proxyPort ? await tunnel(proxyPort, port) : net.connect({ host: HOST, port });
  if (!proxyPort) await once(client, 'connect');
  client.setNoDelay(true);
  const [sock] = await accepted;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    client.uncork();
  };
  const pair: Pair = {
    label: proxyPort ? 'raw tcp via proxy' : 'raw tcp',
    lossy: false,
    handler: () => {},
    send(p: Buffer): void {
      const h = Buffer.allocUnsafe(4);
      put32(h, 0, p.length);
      // The first frame of a turn corks the socket until the turn ends: one write per turn.
      if (!corked) {
        corked = true;
        client.cork();
        process.nextTick(uncork);
      }
      client.write(h);
      client.write(p);
    },
    dropped: () => 0,
    extra: () => ({}),
    async close(): Promise<void> {
      const closed = Promise.all([once(client, 'close'), once(sock, 'close')]);
      client.end();
      sock.end();
      await closed;
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const parser = new LengthFramer((whole) => pair.handler(view(whole, 4)));
  sock.on('data', (c: Buffer) => parser.push(c));
  return pair;
}

const DGRAM = 1472;
const UDP_HDR = 12;
const ROOM = DGRAM - UDP_HDR;
const SOCK_BUF = 4 * 1024 * 1024;

async function bindUdp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, HOST);
  await once(s, 'listening');
  // The same hint camwire gives (the kernel may cap it at net.core.rmem_max / wmem_max).
  s.setRecvBufferSize(SOCK_BUF);
  s.setSendBufferSize(SOCK_BUF);
  return s;
}

interface PendingFrame {
  buf: Buffer;
  got: Uint8Array;
  have: number;
  count: number;
}

/** Raw UDP: dgram pair, fragmentation into ≤1472-byte datagrams, reassembly. */
export async function rawUdpPair(): Promise<Pair> {
  const rx = await bindUdp();
  const tx = await bindUdp();
  const port = rx.address().port;
  let frameId = 0;
  let incomplete = 0;
  const pending = new Map<number, PendingFrame>();
  const pair: Pair = {
    label: 'raw udp',
    lossy: true,
    handler: () => {},
    send(p: Buffer): void {
      const id = frameId++ >>> 0;
      const count = Math.max(1, Math.ceil(p.length / ROOM));
      for (let i = 0; i < count; i++) {
        const off = i * ROOM;
        const h = Buffer.allocUnsafe(UDP_HDR);
        put32(h, 0, id);
        put16(h, 4, i);
        put16(h, 6, count);
        put32(h, 8, p.length);
        // Unconnected send, as camwire's endpoint does; header and slice go out as one datagram.
        tx.send([h, view(p, off, Math.min(p.length, off + ROOM))], port, HOST);
      }
    },
    dropped: () => 0,
    extra: () => ({ incomplete: incomplete + pending.size }),
    async close(): Promise<void> {
      await Promise.all([new Promise<void>((r) => tx.close(() => r())), new Promise<void>((r) => rx.close(() => r()))]);
    },
  };
  rx.on('message', (d: Buffer) => {
    if (d.length < UDP_HDR) return;
    const id = u32(d, 0);
    const index = u16(d, 4);
    const count = u16(d, 6);
    const total = u32(d, 8);
    if (count === 1) {
      pair.handler(view(d, UDP_HDR));
      return;
    }
    let p = pending.get(id);
    if (!p) {
      p = { buf: Buffer.allocUnsafe(total), got: new Uint8Array(count), have: 0, count };
      pending.set(id, p);
    }
    if (p.got[index]) return;
    p.got[index] = 1;
    p.have++;
    d.copy(p.buf, index * ROOM, UDP_HDR);
    if (p.have < p.count) return;
    pending.delete(id);
    // Frames are sent in order: an older frame still missing pieces will not complete.
    for (const k of pending.keys()) {
      if (k < id) {
        pending.delete(k);
        incomplete++;
      }
    }
    pair.handler(p.buf);
  });
  return pair;
}

/** Raw HTTP through the proxy on `proxyPort`: one chunked POST to it (absolute-form) whose body is length-prefixed frames. */
export async function rawHttpProxyPair(proxyPort: number): Promise<Pair> {
  let framer: LengthFramer | undefined;
  let answered!: () => void;
  const done = new Promise<void>((resolve) => (answered = resolve));
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => framer!.push(c));
    req.on('end', () => res.end());
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const target = `${HOST}:${port}`;
  const req = http.request({ host: HOST, port: proxyPort, method: 'POST', path: `http://${target}/raw`, headers: { host: target }, agent: false });
  req.on('response', (res) => {
    res.resume();
    res.on('end', answered);
  });
  req.flushHeaders();
  const pair: Pair = {
    label: 'raw http via proxy',
    lossy: false,
    handler: () => {},
    send(p: Buffer): void {
      const h = Buffer.allocUnsafe(4);
      put32(h, 0, p.length);
      req.write(h);
      req.write(p);
    },
    dropped: () => 0,
    extra: () => ({}),
    async close(): Promise<void> {
      req.end();
      await Promise.race([done, new Promise((r) => setTimeout(r, 5000).unref())]);
      req.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  framer = new LengthFramer((whole) => pair.handler(view(whole, 4)));
  return pair;
}

/** A TCP connection to HOST:`port` through the HTTP proxy on `proxyPort` (a CONNECT tunnel): the plain way through a proxy. */
async function tunnel(proxyPort: number, port: number): Promise<net.Socket> {
  const sock = net.connect({ host: HOST, port: proxyPort });
  await once(sock, 'connect');
  sock.write(`CONNECT ${HOST}:${port} HTTP/1.1\r\nhost: ${HOST}:${port}\r\n\r\n`);
  let head = '';
  for (;;) {
    const [chunk] = (await once(sock, 'data')) as [Buffer];
    head += chunk.toString('latin1');
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) continue;
    if (!/^HTTP\/1\.[01] 200/.test(head)) throw new Error(`proxy refused CONNECT: ${head.split('\r\n')[0]}`);
    if (end + 4 < head.length) throw new Error('proxy sent bytes after its CONNECT answer');
    return sock;
  }
}
