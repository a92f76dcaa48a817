/**
 * Idle channels (issue 8, "Many idle channels"): what N open, silent pull channels cost a
 * MediaServer. The server runs in a child process of its own; another child opens the channels
 * as bare sockets speaking the pull protocol (HELLO with {"role":"pull"}, WELCOME, PING answered
 * with PONG), 5 per client id (one per media type), 500 at a time.
 *
 * Prints: the time the first 500 readers took to join; the server's RSS before and after (KB per
 * channel); the server's CPU while the channels sit idle for --idle-s seconds (every link's
 * keepalive, dead and stall checks run, and PINGs flow), as % of one core. The default, 24 s, is
 * three keepalive periods: both servers check every 500 ms and ping a client 7.5 s after they
 * last heard it, which a PONG puts 8 s after the last PING; so every client is pinged three
 * times in the period, whatever the phase of its joins (a 20 s period held two or three PINGs per
 * client, and the two servers' % of a core could differ by half for that alone). On a busy host a
 * server's ticks can run late, so that some of its clients wait 8.5 s and get two: the PINGs
 * each server answered are printed, and so is the CPU per exchange, which does not depend on them.
 *
 * --idle-peers: what the channels do about keepalives (docs/protocol.md 3.4):
 * - `answer` (default): they only answer the server's PINGs, as a bare reader does;
 * - `ping`: they also ping as a library Receiver (the dialing side) does: a client's 5 channels
 *   share liveness, and after 5 s (keepaliveMs) without hearing from the server on any of them,
 *   one of them pings, each time the next; one timer in the channels' process scans them every 500 ms;
 * - `ping-all`: every channel pings after 5 s without hearing from the server on it, as Receivers
 *   before liveness per session did.
 *
 * Baseline, in the same run: a raw Node server (net only) holding as many sockets, that answers
 * the HELLO with a WELCOME and every PING with a PONG, and pings a silent client's sockets as the
 * MediaServer does (one socket per client in turn, after 7.5 s without hearing it): the same
 * exchanges, the least a Node process can pay for them. Printed as camwire / raw ratios.
 *
 * --idle-keepalive=MS: keepaliveMs of the server and the peers (default 5000); deadMs is 3 times it.
 *
 * --idle-prof=DIR: CPU profiles of the idle period, camwire's and raw's (sampled every 100 µs:
 * the CPU figures of a profiled run include the profiler's own cost; compare profiles, not them).
 *
 * Also the server's CPU per join (user + system over all the joins, camwire and raw), and with
 * --join-prof=DIR CPU profiles of the joins (camwire's and raw's, sampled every 100 µs;
 * bench/prof-top.ts summarises them).
 *
 * --idle-perf=DIR, --join-perf=DIR: `perf record -F 1999 -g` of each server child (camwire's and
 * raw's) over exactly the idle period, or the joins (DIR/idle-server.data, DIR/idle-raw.data, ...).
 * The server children then run with --perf-basic-prof (JavaScript frames get names; the map
 * files are /tmp/perf-PID.map); read with `perf report -i FILE --no-children --sort dso,sym -g none`.
 * Unlike the inspector's wall-time samples, perf's cpu-clock samples count only time on a CPU.
 *
 * CAMWIRE_IDLE_SERVER_FLAGS="--trace-gc ..." (environment): more node flags for both server children.
 *
 * --idle-settle=S: the least seconds between the last join and the idle period (default 8). The
 * settle starts with a full GC of the joins' garbage (gc(), both servers). After a mark-compact,
 * once the allocation rate is low, V8's memory reducer runs two or three of its own, 0.5 s apart,
 * 8 to 25 s later; on a heap of 10,000 channels they cost 100 to 200 ms of the main thread, once,
 * more than a second of keepalives. So the settle goes on until the reducer has run and 3 s
 * passed since its last mark-compact (at most 45 s), and the idle period measures the steady
 * state; the mark-compacts of the settle and of the period are printed. The first keepalive
 * exchanges of a fresh server also run code the joins did not (its optimizing compiler works in
 * the background during them, and each object's first PING may change its shape): the settle
 * covers the first PINGs (after 7.5 s).
 *
 * Also printed: the server's CPU per keepalive exchange over the idle period (CPU time / PINGs
 * answered, the server's and the peers'), camwire's and raw's, and their ratio: it does not depend
 * on how many exchanges the period happened to hold.
 *
 *   node build/bench/run.js --cases=idle [--channels=10000] [--idle-s=24] [--idle-peers=answer|ping|ping-all] [--idle-keepalive=MS] [--idle-prof=DIR] [--join-prof=DIR] [--idle-perf=DIR] [--join-perf=DIR] [--idle-settle=S]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { writeHeapSnapshot } from 'node:v8';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCamwire } from './lib.js';
import { Kind, MEDIA_TYPES, MediaType } from '../src/protocol/constants.js';
import { encodeFrameBuffer, type Frame } from '../src/protocol/frame.js';
import { encodeJson } from '../src/protocol/handshake.js';
import { FrameParser } from '../src/protocol/parser.js';

/** This script: its children (`server`, `raw`, `channels`) also serve bench/joins.ts. */
export const SELF = fileURLToPath(import.meta.url);
const HOST = '127.0.0.1';
const BATCH = 500;
/** The longest settle (s): a server whose memory reducer has not run by then is measured as it is. */
const SETTLE_MAX_S = 45;
/** keepaliveMs of the server and the peers (--idle-keepalive); the server's deadMs is 3 times it, as by default. */
const KA = Number(process.env.CAMWIRE_IDLE_KEEPALIVE_MS || 5000);

type Msg = Record<string, unknown>;

export function rpc(cp: ChildProcess): (m: Msg, key: string, timeoutMs?: number) => Promise<unknown> {
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
  // The package as users load it (bench/lib.ts).
  const { MediaServer } = await loadCamwire();
  const s = new MediaServer({
    host: HOST,
    tcpPort: 0,
    httpPort: false,
    udpPort: false,
    maxClients: 100_000,
    keepaliveMs: KA,
    deadMs: 3 * KA,
    limits: { maxConnectionsPerIp: 100_000, maxPendingPerIp: BATCH, maxPending: BATCH * 2, maxConnections: 100_000 },
  });
  await s.start();
  measured('server', { port: () => s.ports.tcp, links: () => s.stats().links });
}
const gc = (globalThis as { gc?: () => void }).gc;

/** The raw baseline: net sockets, precomputed frames, one timer; liveness per client as the MediaServer's. */
async function rawChild(): Promise<void> {
  const WELCOME = encodeFrameBuffer({ kind: Kind.WELCOME, payload: encodeJson({ agent: 'raw' }) });
  const PING = encodeFrameBuffer({ kind: Kind.PING });
  const PONG = encodeFrameBuffer({ kind: Kind.PONG });
  /** Per client (HELLO session key): its sockets, when it was last heard, when pinged, whose turn. */
  interface Peer {
    socks: net.Socket[];
    heard: number;
    pinged: number;
    turn: number;
  }
  const peers = new Map<bigint, Peer>();
  let links = 0;
  const srv = net.createServer((sock) => {
    links++;
    let peer: Peer | undefined;
    sock.on('data', (d) => {
      if (!peer) {
        // The HELLO (one read: the peer sends it alone): its session key names the client.
        const key = d.readBigUInt64BE(16);
        peer = peers.get(key);
        if (!peer) peers.set(key, (peer = { socks: [], heard: 0, pinged: 0, turn: 0 }));
        peer.socks.push(sock);
        sock.write(WELCOME);
      } else {
        // Idle traffic: 36-byte PINGs and PONGs (the kind is byte 3).
        for (let o = 0; o + 36 <= d.length; o += 36) if (d[o + 3] === Kind.PING) sock.write(PONG);
      }
      peer.heard = Date.now();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => links--);
  });
  await new Promise<void>((r) => srv.listen(0, HOST, r));
  setInterval(() => {
    const now = Date.now();
    for (const p of peers.values()) {
      if (now - p.heard < 1.5 * KA || now - p.pinged < KA) continue;
      p.pinged = now;
      p.socks[p.turn++ % p.socks.length].write(PING);
    }
  }, 500);
  // --idle-prof=DIR and --join-prof=DIR: the raw server's idle period and joins are profiled too, for comparison.
  measured('raw', { port: () => (srv.address() as net.AddressInfo).port, links: () => links });
}

/**
 * A server child's side of the measurement (the camwire server's and the raw baseline's alike):
 * answers the parent's port, joinMark/joinRead (CPU of the joins) and mark/read (CPU of the idle
 * period) messages. --idle-prof=DIR (argv[3]): a CPU profile of the idle period only, through the
 * inspector, sampled every 100 µs; --join-prof=DIR (argv[4]): one of the joins.
 */
function measured(name: 'server' | 'raw', o: { port: () => number; links: () => number }): void {
  const profDir = process.argv[3];
  const joinProfDir = process.argv[4];
  if (profDir) mkdirSync(profDir, { recursive: true });
  if (joinProfDir) mkdirSync(joinProfDir, { recursive: true });
  const session = profDir || joinProfDir ? new Session() : undefined;
  session?.connect();
  const startProfile = (): Promise<unknown> => session!.post('Profiler.enable').then(() => session!.post('Profiler.setSamplingInterval', { interval: 100 })).then(() => session!.post('Profiler.start'));
  const saveProfile = async (dir: string, what: string): Promise<void> => {
    const { profile } = await session!.post('Profiler.stop');
    writeFileSync(path.join(dir, `${what}-${name}-${process.pid}.cpuprofile`), JSON.stringify(profile));
  };
  let cpu0 = process.cpuUsage();
  let t0 = 0;
  // Mark-compact GCs in the idle period (V8's memory reducer runs some once the allocation rate
  // falls; over a 10,000-channel heap one costs more than a second of keepalives): counted and printed.
  let majorGcs = 0;
  let majorGcMs = 0;
  /** Mark-compacts in the settle after the bench's own gc() (the memory reducer's, mostly), and when it began (0: not settling). */
  let settleGcs = 0;
  let settleGcMs = 0;
  let settleFrom = 0;
  let lastSettleGc = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      // Entries come after the fact: counted by when they started (not the bench's own gc() before the settle).
      if (t0 > 0 && e.startTime >= t0) {
        majorGcs++;
        majorGcMs += e.duration;
      } else if (settleFrom > 0 && e.startTime > settleFrom) {
        settleGcs++;
        settleGcMs += e.duration;
        lastSettleGc = e.startTime + e.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  let joinCpu0 = process.cpuUsage();
  process.on('message', async (m: Msg) => {
    if (m.port) process.send!({ port: o.port() });
    if (m.links) process.send!({ links: o.links() });
    if (m.joinMark) {
      if (joinProfDir) await startProfile();
      joinCpu0 = process.cpuUsage();
      process.send!({ joinMarked: true });
    }
    if (m.joinRead) {
      const u = process.cpuUsage(joinCpu0);
      if (joinProfDir) await saveProfile(joinProfDir, 'join');
      process.send!({ joinRead: { cpuMs: (u.user + u.system) / 1000 } });
    }
    if (m.collect) {
      // The joins' garbage is collected at the start of the settle, not in the idle period: this
      // mark-compact (like any) lets V8's memory reducer run its own some seconds later, once the
      // allocation rate is low, and the settle is long enough for them to fall before the period.
      gc?.();
      settleFrom = performance.now();
      lastSettleGc = 0;
      settleGcs = 0;
      settleGcMs = 0;
      process.send!({ collected: true });
    }
    if (m.settle) {
      const at = lastSettleGc > 0 ? performance.now() - lastSettleGc : -1;
      process.send!({ settle: { gcs: settleGcs, sinceGcMs: at } });
    }
    if (m.mark) {
      settleFrom = 0;
      if (profDir) await startProfile();
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      majorGcs = 0;
      majorGcMs = 0;
      // With tracing flags (CAMWIRE_IDLE_SERVER_FLAGS), where the idle period starts and ends in their output.
      if (process.env.CAMWIRE_IDLE_SERVER_FLAGS) console.log(`--- ${name}: idle period starts`);
      process.send!({ marked: true });
    }
    if (m.read) {
      const u = process.cpuUsage(cpu0);
      if (process.env.CAMWIRE_IDLE_SERVER_FLAGS && t0 > 0) console.log(`--- ${name}: idle period ends`);
      if (profDir && t0 > 0) await saveProfile(profDir, 'idle');
      // CAMWIRE_IDLE_HEAP_SNAPSHOT=DIR: the heap at the end of the idle period (what each idle channel holds).
      const snapDir = process.env.CAMWIRE_IDLE_HEAP_SNAPSHOT;
      if (snapDir && t0 > 0) {
        mkdirSync(snapDir, { recursive: true });
        writeHeapSnapshot(path.join(snapDir, `idle-${name}-${process.pid}.heapsnapshot`));
      }
      const idle = { cpuMs: (u.user + u.system) / 1000, sysMs: u.system / 1000, wallMs: performance.now() - t0, majorGcs, majorGcMs, settleGcs, settleGcMs };
      t0 = 0;
      gc?.();
      process.send!({ read: { ...idle, rss: process.memoryUsage().rss, links: o.links() } });
    }
  });
}

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
        if (now - heard[k] < KA) continue;
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

/** `perf record` of process `pid` into `file` until the returned stop() (SIGINT, then waits for perf to write its file). */
function perfRecord(pid: number, file: string): () => Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const perf = spawn('perf', ['record', '-F', '1999', '-g', '-o', file, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => perf.once('exit', () => resolve()));
  perf.once('error', (e) => console.error(`idle bench: perf record: ${e.message}`));
  return async () => {
    perf.kill('SIGINT');
    const t = setTimeout(() => perf.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  };
}

/** perf's options: where its recordings of the idle period and the joins go. */
interface PerfDirs {
  idle?: string;
  join?: string;
}

interface Round {
  links: number;
  firstBatchMs: number;
  allMs: number;
  /** Server CPU for all the joins, ms. */
  joinCpuMs: number;
  cpuPct: number;
  sysPct: number;
  /** CPU time of the idle period, ms. */
  idleCpuMs: number;
  /** Mark-compact GCs in the idle period, and their main-thread time (ms). */
  majorGcs: number;
  majorGcMs: number;
  /** Mark-compact GCs in the settle before the idle period (after the bench's own), and their main-thread time (ms). */
  settleGcs: number;
  settleGcMs: number;
  /** How long the settle took, s. */
  settledS: number;
  kbPerChannel: number;
  rssBefore: number;
  rssAfter: number;
  serverPings: number;
  peerPings: number;
  peerPongs: number;
  closed: number;
}

/** One server (camwire or the raw baseline) and a fresh channels child: joins, then the idle period. */
async function round(server: 'server' | 'raw', channels: number, idleS: number, peersMode: string, prof: string | undefined, keepaliveMs: number, joinProf?: string, perfDirs: PerfDirs = {}, settleS = 2): Promise<Round> {
  const env = { ...process.env, CAMWIRE_IDLE_KEEPALIVE_MS: String(keepaliveMs) };
  const execArgv = ['--expose-gc'];
  if (perfDirs.idle || perfDirs.join) execArgv.push('--perf-basic-prof');
  if (process.env.CAMWIRE_IDLE_SERVER_FLAGS) execArgv.push(...process.env.CAMWIRE_IDLE_SERVER_FLAGS.split(' ').filter(Boolean));
  const srv = fork(SELF, [server, prof ?? '', joinProf ?? ''], { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const peers = fork(SELF, ['channels', peersMode], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const toServer = rpc(srv);
  const toPeers = rpc(peers);
  try {
    const port = (await toServer({ port: true }, 'port')) as number;
    const before = (await toServer({ read: true }, 'read')) as { rss: number };
    await toServer({ joinMark: true }, 'joinMarked');
    // perf needs a moment to attach before what it records begins.
    const stopJoinPerf = perfDirs.join ? perfRecord(srv.pid!, path.join(perfDirs.join, `join-${server}.data`)) : undefined;
    if (stopJoinPerf) await new Promise((r) => setTimeout(r, 500));
    const opened = (await toPeers({ open: channels, port }, 'opened')) as { ms: number; firstBatchMs: number };
    const joined = (await toServer({ joinRead: true }, 'joinRead')) as { cpuMs: number };
    await stopJoinPerf?.();
    // Collect the joins' garbage, let the joins settle (handshake timers, first allocations, the
    // memory reducer's collections after that one), then measure the idle period.
    await toServer({ collect: true }, 'collected');
    const settleFrom = Date.now();
    await new Promise((r) => setTimeout(r, settleS * 1000));
    // Then until the memory reducer has run (a mark-compact after the bench's own) and 3 s passed
    // since its last: it runs two or three, 0.5 s apart. At most SETTLE_MAX_S in all.
    for (;;) {
      const st = (await toServer({ settle: true }, 'settle')) as { gcs: number; sinceGcMs: number };
      if ((st.gcs > 0 && st.sinceGcMs >= 3000) || Date.now() - settleFrom >= SETTLE_MAX_S * 1000) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const settledS = (Date.now() - settleFrom) / 1000;
    await toServer({ mark: true }, 'marked');
    type Counts = { pongs: number; pingsSent: number; pongsGot: number; closed: number };
    const c0 = (await toPeers({ pongs: true }, 'pongs')) as Counts;
    const stopIdlePerf = perfDirs.idle ? perfRecord(srv.pid!, path.join(perfDirs.idle, `idle-${server}.data`)) : undefined;
    await new Promise((r) => setTimeout(r, idleS * 1000));
    await stopIdlePerf?.();
    const after = (await toServer({ read: true }, 'read')) as { cpuMs: number; sysMs: number; wallMs: number; rss: number; links: number; majorGcs: number; majorGcMs: number; settleGcs: number; settleGcMs: number };
    const c1 = (await toPeers({ pongs: true }, 'pongs')) as Counts;
    return {
      links: after.links,
      firstBatchMs: opened.firstBatchMs,
      allMs: opened.ms,
      joinCpuMs: joined.cpuMs,
      cpuPct: (after.cpuMs / after.wallMs) * 100,
      sysPct: (after.sysMs / after.wallMs) * 100,
      idleCpuMs: after.cpuMs,
      majorGcs: after.majorGcs,
      majorGcMs: after.majorGcMs,
      settleGcs: after.settleGcs,
      settleGcMs: after.settleGcMs,
      settledS,
      kbPerChannel: (after.rss - before.rss) / 1024 / channels,
      rssBefore: before.rss,
      rssAfter: after.rss,
      serverPings: c1.pongs - c0.pongs,
      peerPings: c1.pingsSent - c0.pingsSent,
      peerPongs: c1.pongsGot - c0.pongsGot,
      closed: c1.closed,
    };
  } finally {
    srv.kill();
    peers.kill();
  }
}

export async function runIdleBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const arg = (k: string): string | undefined => argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1];
  const channels = Number(arg('channels') ?? 10_000);
  const idleS = Number(arg('idle-s') ?? 24);
  const prof = arg('idle-prof');
  const joinProf = arg('join-prof');
  const peersMode = arg('idle-peers') ?? 'answer';
  const ka = Number(arg('idle-keepalive') ?? 5000);
  const perfDirs: PerfDirs = { idle: arg('idle-perf'), join: arg('join-perf') };
  const settleS = Number(arg('idle-settle') ?? 8);
  const cw = await round('server', channels, idleS, peersMode, prof, ka, joinProf, perfDirs, settleS);
  const raw = await round('raw', channels, idleS, peersMode, prof, ka, joinProf, perfDirs, settleS);
  const x = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');
  const peersSay = (ka !== 5000 ? `keepaliveMs ${ka}, deadMs ${3 * ka}; ` : '') + (peersMode === 'ping' ? "ping after keepaliveMs of silence on any of a client's channels (one channel, in turn) and answer" : peersMode === 'ping-all' ? 'ping every channel after keepaliveMs of its silence and answer' : 'only answer PINGs');
  console.log(`\nIdle channels: ${cw.links} open pull channels (${channels / 5} clients x 5 types) on one MediaServer process (raw Node baseline: ${raw.links} sockets); peers ${peersSay}`);
  console.log(`  join: first ${BATCH} readers in ${(cw.firstBatchMs / 1000).toFixed(3)} s (goal <= 0.2 s), raw ${(raw.firstBatchMs / 1000).toFixed(3)} s (${x(cw.firstBatchMs, raw.firstBatchMs)}); all ${channels} in ${(cw.allMs / 1000).toFixed(2)} s, raw ${(raw.allMs / 1000).toFixed(2)} s`);
  const perJoin = (r: Round): number => (r.joinCpuMs * 1000) / channels;
  console.log(`  join CPU: camwire ${perJoin(cw).toFixed(0)} µs per join, raw ${perJoin(raw).toFixed(0)} µs (${x(perJoin(cw), perJoin(raw))}); ${channels} joins, server process, user + system`);
  for (const [name, r] of [['camwire', cw], ['raw', raw]] as const) {
    console.log(`  idle ${idleS} s, ${name}: server CPU ${r.cpuPct.toFixed(2)}% of a core (system ${r.sysPct.toFixed(2)}%); server PINGs ${r.serverPings} (answered), peer PINGs ${r.peerPings} (PONGs back ${r.peerPongs}); channels closed by the server ${r.closed}; mark-compact GCs ${r.majorGcs} (${r.majorGcMs.toFixed(0)} ms), and ${r.settleGcs} (${r.settleGcMs.toFixed(0)} ms) in the ${r.settledS.toFixed(1)} s settle before`);
  }
  console.log(`  CPU camwire / raw: ${x(cw.cpuPct, raw.cpuPct)} (goal: camwire < 1% of a core)`);
  const perExchange = (r: Round): number => (r.idleCpuMs * 1000) / Math.max(1, r.serverPings + r.peerPings);
  console.log(`  CPU per keepalive exchange: camwire ${perExchange(cw).toFixed(1)} µs, raw ${perExchange(raw).toFixed(1)} µs (${x(perExchange(cw), perExchange(raw))})`);
  console.log(`  RSS camwire ${(cw.rssBefore / 2 ** 20).toFixed(1)} -> ${(cw.rssAfter / 2 ** 20).toFixed(1)} MiB: ${cw.kbPerChannel.toFixed(1)} KB per channel (goal <= 10 KB); raw ${raw.kbPerChannel.toFixed(1)} KB (${x(cw.kbPerChannel, raw.kbPerChannel)})`);
}

const mode = process.argv[2];
if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const run = mode === 'server' ? serverChild() : mode === 'raw' ? rawChild() : mode === 'channels' ? channelsChild() : runIdleBench();
  run.catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
