/**
 * The attack cases of the stress suite: floods of connections that never finish (bare TCP
 * connects, slowloris headers, slow bodies) and garbage on every port, each while a legitimate
 * client connects and streams. Attackers connect from loopback addresses other than 127.0.0.1
 * (127.1.x.y), so that the legitimate client is one remote address among many, as on a real
 * network.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { WebSocket } from 'ws';
import { Receiver, Sender } from '../../src/index.js';
import { encodeFrameBuffer } from '../../src/protocol/frame.js';
import { Kind } from '../../src/protocol/constants.js';
import { counter, figure, goal, sleep, startServer } from './common.js';

const FD_SLACK = 16;

// ------------------------------------------------------------------ the legitimate client

interface Legit {
  tx: Sender;
  rx: Receiver;
  connectMs: number;
  received(): number;
  stop(): Promise<void>;
}

/** alice pushes video to bob through the server; bob pulls. Resolves when bob's session is up. */
async function legitClient(port: number, tag: string): Promise<Legit> {
  const t0 = performance.now();
  const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port, clientId: `alice-${tag}`, reconnect: false });
  const rx = new Receiver({ protocol: 'tcp', connection: 'receiver-to-sender', senders: [{ host: '127.0.0.1', port }], clientId: `bob-${tag}`, reconnect: false, receiveMediaTypes: ['video', 'command'] });
  let n = 0;
  rx.on('video', () => n++);
  await tx.start();
  const up = new Promise<void>((resolve, reject) => {
    rx.once('sessionConnected', () => resolve());
    setTimeout(() => reject(new Error('receiver not connected within 10 s')), 10_000).unref();
  });
  await rx.start();
  await up;
  // The sender connects on its first message: the first frame through the server ends the connect.
  const first = new Promise<void>((resolve, reject) => {
    rx.once('video', () => resolve());
    setTimeout(() => reject(new Error('no video within 10 s')), 10_000).unref();
  });
  const ping = setInterval(() => tx.sendVideoFrame(Buffer.alloc(100), { to: `bob-${tag}` }), 50);
  try {
    await first;
  } finally {
    clearInterval(ping);
  }
  const connectMs = performance.now() - t0;
  await sleep(200);
  n = 0;
  return { tx, rx, connectMs, received: () => n, stop: async () => void (await Promise.allSettled([tx.stop(), rx.stop()])) };
}

/** Sends `fps` frames a second for `ms`; returns the fraction received. */
async function streamVideo(c: Legit, tag: string, fps: number, ms: number): Promise<{ sent: number; got: number }> {
  const start = c.received();
  const frame = Buffer.alloc(20_000, 9);
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < ms) {
    c.tx.sendVideoFrame(frame, { to: `bob-${tag}` });
    sent++;
    const due = t0 + (sent * 1000) / fps;
    await sleep(Math.max(0, due - performance.now()));
  }
  await sleep(500);
  return { sent, got: c.received() - start };
}

// ------------------------------------------------------------------ attackers

/** Loopback source addresses other than 127.0.0.1: 127.1.<i / 250>.<i % 250 + 1>. */
const attackerIp = (i: number): string => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

class Attack {
  readonly sockets = new Set<net.Socket>();
  opened = 0;
  refused = 0;
  cut = 0;
  stopped = false;

  /** Opens `n` connections from `ips` addresses, `batch` at a time; `onOpen` starts each one's behaviour. */
  async open(port: number, n: number, ips: number, ipBase: number, onOpen: (s: net.Socket) => void, batch = 100): Promise<void> {
    for (let i = 0; i < n && !this.stopped; i += batch) {
      const wave: Promise<void>[] = [];
      for (let j = i; j < Math.min(n, i + batch); j++) {
        wave.push(
          new Promise<void>((resolve) => {
            const s = net.connect({ host: '127.0.0.1', port, localAddress: attackerIp(ipBase + (j % ips)) });
            let up = false;
            let answer = '';
            s.on('error', () => {});
            s.on('data', (c: Buffer) => {
              if (answer.length < 16) answer += c.toString('latin1', 0, 16);
            });
            s.once('connect', () => {
              up = true;
              this.opened++;
              this.sockets.add(s);
              onOpen(s);
              resolve();
            });
            s.once('close', () => {
              this.sockets.delete(s);
              if (!up) return resolve();
              // Refused: closed before the server said anything, or with a 503. Otherwise cut (a
              // time limit's 408 or CLOSE frame, or evicted at maxPending).
              if (this.stopped) return;
              if (answer === '' ? performance.now() - t0 < 1000 : answer.startsWith('HTTP/1.1 503')) this.refused++;
              else this.cut++;
            });
            const t0 = performance.now();
          }),
        );
      }
      await Promise.all(wave);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
  }
}

/** Every `ms`, calls fn for each open socket of the attack; returns the stopper. */
function every(a: Attack, ms: number, fn: (s: net.Socket) => void): () => void {
  const t = setInterval(() => {
    for (const s of a.sockets) fn(s);
  }, ms);
  return () => clearInterval(t);
}

// ------------------------------------------------------------------ case 1: flood

export async function floodCase(scale: number): Promise<void> {
  console.log(`\n# flood: bare TCP connects, slowloris headers, slow bodies${scale < 1 ? ` (scaled to ${Math.round(scale * 100)}%)` : ''}`);
  const server = await startServer();
  const tag = 'flood';
  const stops: Array<() => void> = [];
  const bare = new Attack();
  const loris = new Attack();
  const slow = new Attack();
  try {
    await sleep(300);
    const base = server.fds();
    figure('server fds, baseline', String(base));
    const N = { bare: Math.round(5000 * scale), loris: Math.round(1000 * scale), slow: Math.round(1000 * scale) };
    const tAttack = performance.now();
    // 5000 bare connects from 50 addresses (100 each: beyond 32 pending per address, and together beyond 1024 pending).
    const bareDone = bare.open(server.ports.tcp, N.bare, 50, 0, () => {});
    // 1000 slowloris from 20 addresses: a request line, then a header line every 2 s, never the end.
    const lorisDone = loris.open(server.ports.http, N.loris, 20, 100, (s) => s.write('GET /stats HTTP/1.1\r\nhost: x\r\n'));
    stops.push(every(loris, 2000, (s) => s.write(`x-${crypto.randomInt(1e6)}: y\r\n`)));
    // 1000 slow bodies from 10 addresses: complete headers, then a byte every 2 s of a 1 MB body.
    const slowDone = slow.open(
      server.ports.http,
      N.slow,
      10,
      200,
      (s) => s.write(`POST /camwire/v1/open HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-camwire\r\ncontent-length: 1000000\r\n\r\n`),
      20,
    );
    stops.push(every(slow, 2000, (s) => s.write('z')));
    await sleep(1000);
    const peakSampler = setInterval(() => (peak = Math.max(peak, server.fds())), 250);
    let peak = server.fds();
    // Meanwhile, a legitimate client.
    let legit: Legit | undefined;
    try {
      legit = await legitClient(server.ports.tcp, tag);
      figure('legit client connect + first frame', `${legit.connectMs.toFixed(0)} ms`);
      goal(legit.connectMs <= 2000, `legit client connects within 2 s under attack (${legit.connectMs.toFixed(0)} ms)`);
      const { sent, got } = await streamVideo(legit, tag, 30, 8000);
      figure('legit video during the attack', `${got}/${sent} frames (${((got / sent) * 100).toFixed(1)}%)`);
      goal(got >= 0.8 * sent, `legit client receives >= 80% of its 30 fps video under attack (${((got / sent) * 100).toFixed(1)}%)`);
    } catch (err) {
      goal(false, `legit client under attack: ${(err as Error).message}`);
    }
    await Promise.all([bareDone, lorisDone, slowDone]);
    figure('attack connections opened', `bare ${bare.opened}, slowloris ${loris.opened}, slow body ${slow.opened}`);
    figure('attack connections refused (closed or 503)', `bare ${bare.refused}, slowloris ${loris.refused}, slow body ${slow.refused}`);
    // Let the server's time limits (handshake 10 s, headers 10 s) act on what it admitted.
    const sinceStart = performance.now() - tAttack;
    if (sinceStart < 13_000) await sleep(13_000 - sinceStart);
    clearInterval(peakSampler);
    figure('attack connections cut (time limit, evicted)', `bare ${bare.cut}, slowloris ${loris.cut}, slow body ${slow.cut}`);
    figure('server fds, peak during the attack', String(peak));
    figure('server fds, 13 s into the attack', String(server.fds()));
    const m = await server.metrics();
    figure('camwire_connections_refused_total', JSON.stringify(counter(m, 'camwire_connections_refused_total')));
    figure('camwire_bad_input_total', JSON.stringify(counter(m, 'camwire_bad_input_total')));
    // Bound: both ports' pending limits (1024 each), the slow bodies (past their handshake, 100 per
    // address, under the 256 per address), the legitimate client.
    const bound = base + 2 * 1024 + N.slow + 64;
    goal(peak <= bound, `server fds stay bounded by the connection limits during the attack (peak ${peak} <= ${bound})`);
    // The attackers stop; the slow bodies (whole-request limit 30 s) are cut by their own side here.
    for (const s of stops) s();
    bare.stop();
    loris.stop();
    slow.stop();
    await legit?.stop();
    const t0 = performance.now();
    let fds = server.fds();
    while (fds > base + FD_SLACK && performance.now() - t0 < 12_000) {
      await sleep(100);
      fds = server.fds();
    }
    figure('server fds after the attackers stopped', `${fds} (baseline ${base}) after ${(performance.now() - t0).toFixed(0)} ms`);
    goal(fds <= base + FD_SLACK, `server fds return to baseline + ${FD_SLACK} within the time limits (${fds} vs ${base})`);
  } finally {
    for (const s of stops) s();
    bare.stop();
    loris.stop();
    slow.stop();
    await server.stop();
  }
}

// ------------------------------------------------------------------ case 2: garbage

function rnd(n: number): Buffer {
  return crypto.randomBytes(n);
}

/** A valid frame header and payload with some bytes flipped, or with absurd fields. */
function structured(i: number): Buffer {
  const f = encodeFrameBuffer({ kind: [Kind.HELLO, Kind.DATA, Kind.ACK, Kind.CLOSE][i % 4]!, mediaType: ((i % 5) + 1) as 1, sessionKey: BigInt(i), from: `g${i}`, to: 'x', timestamp: Date.now(), payload: rnd(i % 300) });
  const out = Buffer.from(f);
  for (let k = 0; k < 1 + (i % 4); k++) out[crypto.randomInt(out.length)] = crypto.randomInt(256);
  return i % 5 === 0 ? out.subarray(0, crypto.randomInt(out.length)) : out;
}

function sendAndClose(port: number, bytes: Buffer[], ip: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: ip });
    s.on('error', () => {});
    s.on('data', () => {});
    s.once('connect', () => {
      for (const b of bytes) s.write(b);
      setTimeout(() => s.destroy(), 300);
    });
    s.once('close', () => resolve());
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

export async function garbageCase(): Promise<void> {
  console.log('\n# garbage on every port (TCP, HTTP, UDP, WebSocket)');
  const server = await startServer();
  const tag = 'garbage';
  try {
    const base = server.fds();
    const legit = await legitClient(server.ports.tcp, tag);
    const t0 = performance.now();
    let sent = 0;
    const httpGarbage = (i: number): Buffer[] => {
      switch (i % 6) {
        case 0: return [rnd(1 + crypto.randomInt(4000))];
        case 1: return [Buffer.from(`POST /camwire/v1/open HTTP/1.1\r\nhost: x\r\ncontent-length: 300\r\n\r\n`), rnd(300)];
        case 2: return [Buffer.from(`POST /camwire/v1/links/${rnd(8).toString('hex')}?wait=${crypto.randomInt(1e9)} HTTP/1.1\r\ncontent-length: 50\r\n\r\n`), structured(i).subarray(0, 50)];
        case 3: return [Buffer.from(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`)];
        case 4: return [Buffer.from(`GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\nzz\r\n`)];
        default: return [Buffer.from(`POST /ingest/x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nfffffff\r\n`), rnd(2000)];
      }
    };
    // Waves of garbage connections (TCP, HTTP), datagrams (UDP) and WebSocket messages.
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.1.9.1', () => r()));
    const jobs: Promise<void>[] = [];
    for (let wave = 0; wave < 10; wave++) {
      for (let i = 0; i < 40; i++) {
        const k = wave * 40 + i;
        const ip = attackerIp(1000 + (k % 200));
        jobs.push(sendAndClose(server.ports.tcp, k % 2 ? [rnd(1 + crypto.randomInt(3000))] : [structured(k), structured(k + 1)], ip));
        jobs.push(sendAndClose(server.ports.http, httpGarbage(k), ip));
        for (let d = 0; d < 10; d++) udp.send(d % 2 ? rnd(1 + crypto.randomInt(1400)) : structured(k * 10 + d), server.ports.udp, '127.0.0.1');
        sent += 3;
      }
      for (let w = 0; w < 5; w++) {
        jobs.push(
          new Promise<void>((resolve) => {
            const ws = new WebSocket(`ws://127.0.0.1:${server.ports.http}/camwire/v1/ws`, { localAddress: attackerIp(1300 + w) });
            ws.on('error', () => resolve());
            ws.on('close', () => resolve());
            ws.on('open', () => {
              for (let m = 0; m < 20; m++) ws.send(m % 2 ? rnd(1 + crypto.randomInt(2000)) : structured(m));
              ws.send('text, not binary');
              setTimeout(() => ws.terminate(), 300);
            });
            setTimeout(() => ws.terminate(), 3000).unref();
          }),
        );
      }
      legit.tx.sendVideoFrame(Buffer.alloc(5000), { to: `bob-${tag}` });
      await sleep(100);
    }
    await Promise.all(jobs);
    udp.close();
    figure('garbage sent', `${sent} connections and datagram bursts, 50 WebSockets, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const m = await server.metrics();
    figure('camwire_bad_input_total', JSON.stringify(counter(m, 'camwire_bad_input_total')));
    goal(server.proc.exitCode === null, 'the server survives garbage on every port');
    const { sent: vs, got } = await streamVideo(legit, tag, 30, 2000);
    figure('legit video after the garbage', `${got}/${vs} frames`);
    goal(got >= 0.8 * vs, `the legitimate client keeps working after the garbage (${got}/${vs})`);
    await legit.stop();
    // A new client connects too.
    const again = await legitClient(server.ports.tcp, tag + '2');
    figure('new client connect + first frame', `${again.connectMs.toFixed(0)} ms`);
    await again.stop();
    await sleep(1500);
    figure('server fds before / after', `${base} / ${server.fds()}`);
  } catch (err) {
    goal(false, `garbage case: ${(err as Error).message}`);
  } finally {
    await server.stop();
  }
}
