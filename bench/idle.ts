/**
 * Idle channels (issue 8, "Many idle channels"): what N open, silent pull channels cost a
 * MediaServer. The server runs in a child process of its own; another child opens the channels
 * as bare sockets speaking the pull protocol (HELLO with {"role":"pull"}, WELCOME, PING answered
 * with PONG), 5 per client id (one per media type), 500 at a time.
 *
 * Prints: the time the first 500 readers took to join; the server's RSS before and after (KB per
 * channel); the server's CPU while the channels sit idle for --idle-s seconds (every link's
 * keepalive, dead and stall checks run, and PINGs flow), as % of one core.
 *
 * --idle-peers: what the channels do about keepalives (docs/protocol.md 3.4):
 * - `answer` (default): they only answer the server's PINGs, as a bare reader does;
 * - `ping`: they also ping as a library Receiver (the dialing side) does: a client's 5 channels
 *   share liveness, and after 5 s (keepaliveMs) without hearing from the server on any of them,
 *   one of them pings, each time the next; one timer in the channels' process scans them every 500 ms;
 * - `ping-all`: every channel pings after 5 s without hearing from the server on it, as Receivers
 *   before liveness per session did.
 *
 *   node build/bench/run.js --cases=idle [--channels=10000] [--idle-s=20] [--idle-peers=answer|ping|ping-all] [--idle-prof=DIR]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MediaServer } from '../src/index.js';
import { Kind, MEDIA_TYPES, MediaType } from '../src/protocol/constants.js';
import { encodeFrameBuffer, type Frame } from '../src/protocol/frame.js';
import { encodeJson } from '../src/protocol/handshake.js';
import { FrameParser } from '../src/protocol/parser.js';

const SELF = fileURLToPath(import.meta.url);
const HOST = '127.0.0.1';
const BATCH = 500;

type Msg = Record<string, unknown>;

function rpc(cp: ChildProcess): (m: Msg, key: string, timeoutMs?: number) => Promise<unknown> {
  return (m, key, timeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`idle bench: no ${key} within ${timeoutMs} ms`)), timeoutMs);
      const on = (r: Msg): void => {
        if (!(key in r)) return;
        clearTimeout(t);
        cp.off('message', on);
        resolve(r[key]);
      };
      cp.on('message', on);
      cp.send(m);
    });
}

// ---------------------------------------------------------------- children

async function serverChild(): Promise<void> {
  // --idle-prof=DIR: a CPU profile of the idle period only (from mark to read), through the inspector.
  const profDir = process.argv[3];
  if (profDir) mkdirSync(profDir, { recursive: true });
  const session = profDir ? new Session() : undefined;
  session?.connect();
  const s = new MediaServer({
    host: HOST,
    tcpPort: 0,
    httpPort: false,
    udpPort: false,
    maxClients: 100_000,
    limits: { maxConnectionsPerIp: 100_000, maxPendingPerIp: BATCH, maxPending: BATCH * 2, maxConnections: 100_000 },
  });
  await s.start();
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  t0 = 0;
  process.on('message', async (m: Msg) => {
    if (m.port) process.send!({ port: s.ports.tcp });
    if (m.mark) {
      if (session) await session.post('Profiler.enable').then(() => session.post('Profiler.start'));
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      process.send!({ marked: true });
    }
    if (m.read) {
      const u = process.cpuUsage(cpu0);
      if (session && t0 > 0) {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(path.join(profDir, `idle-server-${process.pid}.cpuprofile`), JSON.stringify(profile));
      }
      gc?.();
      process.send!({ read: { cpuMs: (u.user + u.system) / 1000, wallMs: performance.now() - t0, rss: process.memoryUsage().rss, links: s.stats().links } });
    }
  });
}
const gc = (globalThis as { gc?: () => void }).gc;

async function channelsChild(): Promise<void> {
  const ping = process.argv[3] === 'ping' || process.argv[3] === 'ping-all';
  /** `ping`: liveness per client (5 channels); `ping-all`: per channel. */
  const per = process.argv[3] === 'ping' ? 5 : 1;
  const socks: net.Socket[] = [];
  /** Per client (`ping`) or channel (`ping-all`): when it last heard the server; and per channel its PING (reused: the timestamp is not read). */
  const heard: number[] = [];
  /** `ping`: which of a client's channels pings next. */
  const turn: number[] = [];
  const pingFrames: Buffer[] = [];
  let port = 0;
  let pongs = 0;
  let pingsSent = 0;
  let pongsGot = 0;
  let closed = 0;
  const open = (i: number, type: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const sock = net.connect(port, HOST);
      const key = BigInt(Math.floor(i / 5) + 1);
      const parser = new FrameParser({
        onFrame: (f: Frame) => {
          heard[Math.floor(i / per)] = Date.now();
          if (f.kind === Kind.WELCOME) resolve();
          else if (f.kind === Kind.PING) {
            pongs++;
            sock.write(encodeFrameBuffer({ kind: Kind.PONG, mediaType: type, sessionKey: key, timestamp: f.timestamp }));
          } else if (f.kind === Kind.PONG) pongsGot++;
          else if (f.kind === Kind.CLOSE) {
            closed++;
            reject(new Error(`channel ${i} closed by the server`));
          }
        },
        onError: reject,
      });
      sock.on('data', (d) => parser.push(d));
      sock.on('error', reject);
      sock.once('connect', () => sock.write(encodeFrameBuffer({ kind: Kind.HELLO, mediaType: type, sessionKey: key, from: `c${Math.floor(i / 5)}`, payload: encodeJson({ role: 'pull' }) })));
      socks[i] = sock;
      heard[Math.floor(i / per)] = Date.now();
      if (ping) pingFrames[i] = encodeFrameBuffer({ kind: Kind.PING, mediaType: type, sessionKey: key });
    });
  if (ping) {
    // The dialing side's rule: a PING after 5 s without hearing from the peer (on any channel of the client, for `ping`).
    setInterval(() => {
      const now = Date.now();
      for (let k = 0; k < heard.length; k++) {
        if (now - heard[k] < 5000) continue;
        heard[k] = now; // at most one PING per 5 s, answered or not
        const t = (turn[k] = ((turn[k] ?? -1) + 1) % per);
        const i = k * per + t;
        if (!socks[i]) continue;
        pingsSent++;
        socks[i].write(pingFrames[i]);
      }
    }, 500).unref();
  }
  process.on('message', async (m: Msg) => {
    if (m.open) {
      port = m.port as number;
      const n = m.open as number;
      const started = performance.now();
      let firstBatchMs = 0;
      for (let i = 0; i < n; i += BATCH) {
        const batch: Promise<void>[] = [];
        for (let j = i; j < Math.min(n, i + BATCH); j++) batch.push(open(j, MediaType[MEDIA_TYPES[j % 5]]));
        await Promise.all(batch);
        if (i === 0) firstBatchMs = performance.now() - started;
      }
      process.send!({ opened: { ms: performance.now() - started, firstBatchMs } });
    }
    if (m.pongs) process.send!({ pongs: { pongs, pingsSent, pongsGot, closed } });
  });
}

// ---------------------------------------------------------------- parent

export async function runIdleBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const arg = (k: string): string | undefined => argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1];
  const channels = Number(arg('channels') ?? 10_000);
  const idleS = Number(arg('idle-s') ?? 20);
  const prof = arg('idle-prof');
  const peersMode = arg('idle-peers') ?? 'answer';
  const server = fork(SELF, ['server', prof ?? ''], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const peers = fork(SELF, ['channels', peersMode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const toServer = rpc(server);
  const toPeers = rpc(peers);
  try {
    const port = (await toServer({ port: true }, 'port')) as number;
    const before = (await toServer({ read: true }, 'read')) as { rss: number };
    const opened = (await toPeers({ open: channels, port }, 'opened')) as { ms: number; firstBatchMs: number };
    // Let the joins settle (handshake timers, first allocations), then measure the idle period.
    await new Promise((r) => setTimeout(r, 2000));
    await toServer({ mark: true }, 'marked');
    type Counts = { pongs: number; pingsSent: number; pongsGot: number; closed: number };
    const c0 = (await toPeers({ pongs: true }, 'pongs')) as Counts;
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const after = (await toServer({ read: true }, 'read')) as { cpuMs: number; wallMs: number; rss: number; links: number };
    const c1 = (await toPeers({ pongs: true }, 'pongs')) as Counts;
    const pongs = c1.pongs - c0.pongs;
    const cpuPct = (after.cpuMs / after.wallMs) * 100;
    console.log(`\nIdle channels: ${after.links} open pull channels (${channels / 5} clients x 5 types) on one MediaServer process; peers ${peersMode === 'ping' ? 'ping after 5 s of silence on any of a client\'s channels (one channel, in turn) and answer' : peersMode === 'ping-all' ? 'ping every channel after 5 s of its silence and answer' : 'only answer PINGs'}`);
    console.log(`  join: first ${BATCH} readers in ${(opened.firstBatchMs / 1000).toFixed(3)} s (goal <= 0.2 s); all ${channels} in ${(opened.ms / 1000).toFixed(2)} s`);
    console.log(`  idle ${idleS} s: server CPU ${cpuPct.toFixed(2)}% of a core (goal < 1%); server PINGs ${pongs} (answered), peer PINGs ${c1.pingsSent - c0.pingsSent} (PONGs back ${c1.pongsGot - c0.pongsGot}); channels closed by the server ${c1.closed}`);
    console.log(`  RSS ${(before.rss / 2 ** 20).toFixed(1)} -> ${(after.rss / 2 ** 20).toFixed(1)} MiB: ${((after.rss - before.rss) / 1024 / channels).toFixed(1)} KB per channel (goal <= 10 KB)`);
  } finally {
    server.kill();
    peers.kill();
  }
}

const mode = process.argv[2];
if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const run = mode === 'server' ? serverChild() : mode === 'channels' ? channelsChild() : runIdleBench();
  run.catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
