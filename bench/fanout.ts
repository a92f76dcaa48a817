/**
 * Fan-out benchmark of the MediaServer: one publisher to N readers through the server, beside
 * a raw Node relay measured the same way in the same run. Results and analysis: bench/FANOUT.md.
 *
 *   npm run bench                                  # the point-to-point bench, then this one
 *   npm run build:test && node build/bench/run.js --cases=fanout          # only this (or: --cases fanout)
 *   node build/bench/run.js --cases=fanout --fanout-n=100 --fanout-sizes=65536 --fanout-throttle=0 \
 *        --fanout-prof=/tmp/prof       # one case; both relay children run under --cpu-prof into /tmp/prof
 *
 * Options (all optional):
 *   --fanout-n=1,10,100,500   --fanout-sizes=1024,65536,524288   --fanout-rounds=3
 *   --fanout-ms=1200 (throughput, all rounds)   --fanout-lat-ms=600 (paced latency, all rounds)
 *   --fanout-systems=camwire,raw   --fanout-throttle=1 (0: skip the slow-reader comparison)
 *   --fanout-prof=DIR (relay children run with --cpu-prof, profiles in DIR)
 *   --fanout-server-import=index|module   what the camwire relay child imports: the package entry
 *       (src/index.js, as `import { MediaServer } from 'camwire'` and the CLI do; default) or only
 *       src/server/media-server.js
 *   --fanout-readers=receiver|lite   camwire readers: Receivers (default), or "lite" readers that
 *       speak the wire protocol on a bare socket (HELLO, then parse frames) to take Receiver's
 *       cost out of this process when looking at the server alone (diagnosis)
 *   --fanout-store=memory|sqlite   the camwire relay's ServerStore: MemoryStore (default) or a
 *       SqliteStore in a temp dir of its own (removed when the child stops)
 *   --fanout-store-check=1 (0: skip)   after the rest, N = 100 x 64 KB once more with the camwire
 *       relay on a MemoryStore and on a SqliteStore, printed as sqlite / memory
 * Prints tables and writes bench/fanout-results.json.
 *
 * Set-up, per (N, frame size), everything on 127.0.0.1 with port 0:
 *  - each relay runs in a child process of its own (camwire: a MediaServer with only its TCP
 *    port; raw: fanout-raw.ts), which measures its own CPU time (process.cpuUsage, between a
 *    'mark' and a 'report' asked over IPC) and peak RSS (VmHWM from /proc/self/status, i.e. the
 *    peak over the child's life with the N readers connected, plus sampling every 50 ms); a
 *    fresh child per (N, size), so peaks do not carry over;
 *  - this process holds the publishers and readers. camwire: a Sender (clientId 'pub', pushing
 *    over TCP) that lists every reader with addDefaultReceiver, and N Receivers pulling only
 *    ['video'] (one socket each; readers need no Sender, hence no group join and no command
 *    lane). Raw: one socket per reader plus the publisher's, 4-byte length-prefixed frames;
 *  - both systems of one (N, size) are open together and measured in interleaved rounds (the
 *    order rotates each round), so drift in machine speed hits both alike; throughput is the
 *    median of the rounds, latency percentiles come from the pooled samples, CPU is summed;
 *  - every payload carries performance.now() at the send call (float64 LE, bytes 0..7), a
 *    sequence number (8..11) and a run id (12..15); latency = the reader's 'video' event (raw:
 *    frame parsed) minus the stamp, on one clock since both ends live in this process.
 *
 * Offered load: a window. The publisher keeps at most W frames that have not yet reached every
 * fast reader (a frame counts as reached by a reader when that reader got it or a later one:
 * both relays keep only the newest frame for a reader that cannot keep up, so a frame may be
 * skipped). The next frame goes out as soon as the oldest one in the window reached everyone,
 * so the offered rate follows what the relay and its readers sustain instead of filling queues
 * (which would only measure queue sizes and drop counts), while W > 1 keeps the pipeline
 * publisher -> relay -> readers busy. W = clamp(min(1 MiB / size, 64 MiB / (N * size)), 1, 16):
 * about 1 MiB in flight per reader and at most 64 MiB over all readers, so N = 500 with 512 KB
 * frames (256 MB per frame round) runs with W = 1 and memory stays sane. A window that makes no
 * progress for 2 s is written off (counted; it should not happen).
 *  - throughput phase: window W; per round at least --fanout-ms / rounds and at least
 *    ceil(20 / rounds) frames (whichever is longer: the frame count bounds the heavy cases such
 *    as N = 500 x 512 KB), at most 15 s; delivered MB/s = payload bytes that reached the (fast)
 *    readers / (first send -> last delivery);
 *  - latency phase (the p50/p99 of the table): window 1, i.e. the next frame as soon as the
 *    previous one reached every fast reader: no queueing, each frame is one clean fan-out; at
 *    least --fanout-lat-ms / rounds and 4 frames per round; every reader's delivery is a sample;
 *  - relay CPU seconds over the throughput phases; peak RSS over the child's life.
 * Slow readers (N = 100, 64 KB): every tenth reader connects through a TCP relay in this
 * process that forwards to it at 10 KB/s; the window waits only for the fast readers, whose p99
 * is compared with the same set-up without slow readers (measured in the same rounds).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Receiver as ReceiverT } from '../src/receiver.js';
import { summarize, type LatencySummary } from './drive.js';
import { HOST, RelayChild, rawRig, serveControl, startThrottle, type ChildReport, type Rig, type Throttle } from './fanout-raw.js';
import { dimsFor } from './pair.js';
import { median, num, ratio, sizeName, sum, table } from './table.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const STAMP = 16;
const RING = 64;
const MAX_WINDOW = 16;
const STALL_MS = 2000;
const MAX_PHASE_MS = 15000;
const SLOW_RATE = 10 * 1024;
const SLOW_EVERY = 10;
const MiB = 1024 * 1024;

export type System = 'camwire' | 'raw';

export interface FanoutConfig {
  ns: number[];
  sizes: number[];
  systems: System[];
  rounds: number;
  throughputMs: number;
  latencyMs: number;
  warmupMs: number;
  throttle: boolean;
  profDir: string | undefined;
  serverImport: 'index' | 'module';
  readers: 'receiver' | 'lite';
  /** The camwire relay's store (the store check measures both). */
  store: FanoutStore;
  storeCheck: boolean;
}

export type FanoutStore = 'memory' | 'sqlite';

export function windowFor(n: number, size: number): number {
  return Math.max(1, Math.min(MAX_WINDOW, Math.floor(MiB / size), Math.floor((64 * MiB) / (n * size))));
}

// ---------------------------------------------------------------- camwire relay child

async function camwireChild(): Promise<void> {
  // Nothing of camwire is loaded before this line: the child's RSS is the server's.
  const { MediaServer } =
    process.env.CAMWIRE_FANOUT_IMPORT === 'module' ? await import('../src/server/media-server.js') : await import('../src/index.js');
  // --fanout-store=sqlite: a SqliteStore in a temp dir of this child, removed when it stops or exits.
  let store: import('../src/server/store/store.js').ServerStore | undefined;
  let storeDir: string | undefined;
  if (process.env.CAMWIRE_FANOUT_STORE === 'sqlite') {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { SqliteStore } = await import('../src/server/store/sqlite-store.js');
    const dir = (storeDir = mkdtempSync(path.join(os.tmpdir(), 'camwire-fanout-store-')));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    store = new SqliteStore({ dir });
  }
  const server = new MediaServer({ host: HOST, httpPort: false, udpPort: false, store });
  await server.start();
  let online = 0;
  /** Counters of clients that went offline (the server forgets them: keepClientInfo is off). */
  const gone = { writes: 0, dropped: 0 };
  /** Reader channels the server closed with an error (a stalled reader after timeouts.video). */
  let cut = 0;
  server.on('clientConnected', () => online++);
  server.on('clientDisconnected', (c) => {
    online--;
    gone.writes += c.out.video.frames;
    gone.dropped += c.dropped.video;
  });
  server.on('disconnect', (ev) => {
    if (ev.error && ev.clientId?.startsWith('r')) cut++;
  });
  serveControl({
    info: () => ({ port: server.ports.tcp, readers: online }),
    counters: () => {
      const s = server.stats();
      let framesIn = 0;
      let writes = gone.writes;
      let dropped = gone.dropped;
      for (const c of s.clients) {
        framesIn += c.in.video.frames;
        writes += c.out.video.frames;
        dropped += c.dropped.video;
      }
      return { framesIn, writes, dropped, cut, unrouted: s.unrouted.video };
    },
    stop: async () => {
      await server.stop();
      if (storeDir) (await import('node:fs')).rmSync(storeDir, { recursive: true, force: true });
    },
  });
}

// ---------------------------------------------------------------- camwire clients

/**
 * A "lite" camwire reader: a bare socket that sends a pull HELLO for video, then parses frames
 * with camwire's FrameParser and answers PINGs; no Receiver machinery.
 */
async function liteReader(port: number, id: string, onData: (d: Buffer) => void, problems: string[], closing: () => boolean): Promise<net.Socket> {
  const { encodeFrameBuffer } = await import('../src/protocol/frame.js');
  const { FrameParser } = await import('../src/protocol/parser.js');
  const { Kind, MediaType } = await import('../src/protocol/constants.js');
  const { decodeVideo, encodeJson } = await import('../src/protocol/messages.js');
  const sock = net.connect({ host: HOST, port });
  sock.setNoDelay(true);
  const key = BigInt(1 + Math.floor(Math.random() * 2 ** 48));
  return new Promise((resolve, reject) => {
    let welcomed = false;
    const parser = new FrameParser({
      onFrame: (f) => {
        if (!welcomed) {
          if (f.kind !== Kind.WELCOME) return reject(new Error(`${id}: expected WELCOME, got kind ${f.kind}`));
          welcomed = true;
          return resolve(sock);
        }
        if (f.kind === Kind.DATA) onData(decodeVideo(f.payload).data);
        else if (f.kind === Kind.PING) sock.write(encodeFrameBuffer({ kind: Kind.PONG, mediaType: MediaType.video, sessionKey: key, timestamp: f.timestamp }));
        else if (f.kind === Kind.CLOSE && !closing()) problems.push(`${id}: server closed the channel`);
      },
      onError: (e) => problems.push(`${id}: ${e.message}`),
    });
    sock.on('data', (c: Buffer) => parser.push(c));
    sock.on('error', (e) => {
      if (!welcomed) reject(e);
      else if (!closing()) problems.push(`${id}: ${e.message}`);
    });
    sock.write(
      encodeFrameBuffer({
        kind: Kind.HELLO,
        mediaType: MediaType.video,
        sessionKey: key,
        from: id,
        timestamp: Date.now(),
        payload: encodeJson({ role: 'pull', agent: 'camwire-fanout-bench' }),
      }),
    );
  });
}

async function camwireRig(child: RelayChild, n: number, portOf: (i: number) => number, readersKind: 'receiver' | 'lite'): Promise<Rig> {
  const { Sender } = await import('../src/sender.js');
  const { Receiver } = await import('../src/receiver.js');
  const problems: string[] = [];
  let closing = false;
  const note = (who: string, what: string) => (ev: { error?: Error }) => {
    if (!closing) problems.push(`${who} ${what}${ev.error ? `: ${ev.error.message}` : ''}`);
  };
  const pub = new Sender({ protocol: 'tcp', host: HOST, port: child.info.port, clientId: 'pub', idleTimeoutMs: 3_600_000, reconnect: false });
  pub.on('connectError', note('publisher', 'connectError'));
  pub.on('disconnect', (ev) => ev.error && note('publisher', 'disconnect')(ev));
  await pub.start();
  const readers: ReceiverT[] = [];
  const lite: net.Socket[] = [];
  let dims = dimsFor(0);
  let dimsSize = -1;
  const rig: Rig = {
    label: readersKind === 'lite' ? 'camwire (lite readers)' : 'camwire',
    n,
    onFrame: () => {},
    send(p: Buffer): void {
      if (p.length !== dimsSize) {
        dims = dimsFor(p.length);
        dimsSize = p.length;
      }
      pub.sendVideoFrame(p, { imageType: 'jpeg', width: dims.width, height: dims.height });
    },
    pubDropped: () => pub.stats.dropped.video,
    problems,
    async close(): Promise<void> {
      closing = true;
      await pub.stop();
      await Promise.all(readers.map((r) => r.stop()));
      for (const s of lite) s.destroy();
    },
  };
  for (let base = 0; base < n; base += 50) {
    const batch: Promise<void>[] = [];
    for (let i = base; i < Math.min(n, base + 50); i++) {
      if (readersKind === 'lite') {
        batch.push(
          liteReader(portOf(i), `r${i}`, (d) => rig.onFrame(i, d), problems, () => closing).then((s) => {
            lite.push(s);
          }),
        );
        continue;
      }
      const rx = new Receiver({
        protocol: 'tcp',
        connection: 'receiver-to-sender',
        senders: [{ host: HOST, port: portOf(i) }],
        clientId: `r${i}`,
        receiveMediaTypes: ['video'],
        reconnect: false,
      });
      readers.push(rx);
      rx.on('video', (f) => rig.onFrame(i, f.data));
      rx.on('disconnect', (ev) => ev.error && note(`reader ${i}`, 'disconnect')(ev));
      rx.on('protocolError', (err) => note(`reader ${i}`, 'protocolError')({ error: err }));
      batch.push(
        new Promise<void>((resolve, reject) => {
          rx.once('sessionConnected', () => resolve());
          rx.once('connectError', (ev) => reject(new Error(`reader ${i} could not connect: ${ev.error?.message}`)));
          rx.start().catch(reject);
        }),
      );
    }
    await Promise.all(batch);
  }
  // Default receivers: frames without `to` or `group` go to every listed reader.
  for (let base = 0; base < n; base += 16) {
    const ids: string[] = [];
    for (let i = base; i < Math.min(n, base + 16); i++) ids.push(`r${i}`);
    await Promise.all(ids.map((id) => pub.addDefaultReceiver(id)));
  }
  return rig;
}

// ---------------------------------------------------------------- the driver

let runIds = 0xfa0;

interface PhaseOptions {
  size: number;
  window: number;
  minMs: number;
  minFrames: number;
  maxMs: number;
  /** 1 for the readers the window waits for. */
  fast: Uint8Array;
}

export interface PhaseResult {
  window: number;
  sent: number;
  /** Frames that reached every fast reader. */
  completed: number;
  elapsedMs: number;
  /** Fast readers' deliveries and payload bytes. */
  delivered: number;
  bytes: number;
  /** Deliveries to slow readers. */
  slowDelivered: number;
  MBps: number;
  /** Fast readers' latency samples, ms (send call -> event), and their summary. */
  samples: number[];
  lat: LatencySummary;
  /** CPU of this process (publisher + readers), ms. */
  clientCpuMs: number;
  pubDropped: number;
  writeOffs: number;
  stray: number;
  bad: number;
  timedOut: boolean;
}

function runPhase(rig: Rig, o: PhaseOptions): Promise<PhaseResult> {
  const run = runIds++ >>> 0;
  const n = rig.n;
  let nFast = 0;
  for (let i = 0; i < n; i++) nFast += o.fast[i];
  const bufs: Buffer[] = [];
  for (let i = 0; i < o.window + 2; i++) bufs.push(Buffer.alloc(o.size, 0x30 + i));
  const newest = new Uint32Array(n);
  /** For seq in (completed, sent]: fast readers that got it or a later frame. */
  const reached = new Uint32Array(RING);
  const lat: number[] = [];
  let sent = 0;
  let completed = 0;
  let delivered = 0;
  let bytes = 0;
  let slowDelivered = 0;
  let stray = 0;
  let bad = 0;
  let writeOffs = 0;
  let scheduled = false;
  let stopping = false;
  let finished = false;
  const drop0 = rig.pubDropped();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let tLast = t0;
  let lastProgress = t0;

  return new Promise((resolve) => {
    const schedule = (): void => {
      if (!scheduled && !finished && !stopping) {
        scheduled = true;
        setImmediate(fill);
      }
    };
    const advance = (now: number): void => {
      let moved = false;
      while (completed < sent && reached[(completed + 1) % RING] >= nFast) {
        completed++;
        reached[completed % RING] = 0;
        moved = true;
      }
      if (moved) {
        lastProgress = now;
        schedule();
      }
    };
    rig.onFrame = (i: number, d: Buffer): void => {
      if (d.length < STAMP || d.readUInt32LE(12) !== run) {
        stray++;
        return;
      }
      const now = performance.now();
      if (d.length !== o.size) bad++;
      if (!o.fast[i]) {
        slowDelivered++;
        return;
      }
      const seq = d.readUInt32LE(8);
      lat.push(now - d.readDoubleLE(0));
      delivered++;
      bytes += d.length;
      tLast = now;
      const prev = newest[i];
      if (seq > prev) {
        newest[i] = seq;
        for (let s = Math.max(prev, completed) + 1; s <= seq; s++) reached[s % RING]++;
        advance(now);
      }
    };
    function fill(): void {
      scheduled = false;
      if (finished || stopping) return;
      const now = performance.now();
      if ((now - t0 >= o.minMs && completed >= o.minFrames) || now - t0 >= o.maxMs) {
        stopping = true;
        if (completed >= sent) finish(false);
        return;
      }
      while (sent - completed < o.window) {
        const seq = ++sent;
        const b = bufs[seq % bufs.length];
        b.writeDoubleLE(performance.now(), 0);
        b.writeUInt32LE(seq, 8);
        b.writeUInt32LE(run, 12);
        rig.send(b);
      }
    }
    const finish = (timedOut: boolean): void => {
      if (finished) return;
      finished = true;
      clearInterval(check);
      rig.onFrame = () => {};
      const cpu = process.cpuUsage(cpu0);
      const elapsedMs = tLast - t0;
      resolve({
        window: o.window,
        sent,
        completed,
        elapsedMs,
        delivered,
        bytes,
        slowDelivered,
        MBps: elapsedMs > 0 ? bytes / elapsedMs / 1000 : 0,
        samples: lat,
        lat: summarize(lat),
        clientCpuMs: (cpu.user + cpu.system) / 1000,
        pubDropped: rig.pubDropped() - drop0,
        writeOffs,
        stray,
        bad,
        timedOut,
      });
    };
    const check = setInterval(() => {
      const now = performance.now();
      if (stopping && completed >= sent) return finish(false);
      if (completed < sent && now - lastProgress > STALL_MS) {
        // Nothing reached every fast reader for STALL_MS: write the window off and go on.
        writeOffs++;
        for (let s = completed + 1; s <= sent; s++) reached[s % RING] = 0;
        completed = sent;
        lastProgress = now;
        if (stopping) return finish(true);
        schedule();
      } else if (!stopping && completed >= sent) schedule();
    }, 5);
    fill();
  });
}

// ---------------------------------------------------------------- one (N, size): all systems, interleaved rounds

interface Entry {
  system: System;
  /** Readers behind the 10 KB/s relay. */
  slow: number;
  /** camwire: the relay's store (default: --fanout-store). */
  store?: FanoutStore;
}

interface Open {
  e: Entry;
  child: RelayChild;
  throttle: Throttle | undefined;
  rig: Rig;
  fast: Uint8Array;
  setupMs: number;
  tps: PhaseResult[];
  lats: PhaseResult[];
  cpuMs: number;
  cpuUserMs: number;
  before: Record<string, number>;
}

export interface Measurement {
  system: System;
  /** camwire: the relay's store. */
  store?: FanoutStore;
  label: string;
  n: number;
  size: number;
  slow: number;
  window: number;
  setupMs: number;
  throughput: {
    /** Median over the rounds. */
    MBps: number;
    MBpsRounds: number[];
    sent: number;
    completed: number;
    delivered: number;
    bytes: number;
    slowDelivered: number;
    elapsedMs: number;
    pubDropped: number;
    writeOffs: number;
    clientCpuMs: number;
    /** Latency with W frames in flight (fast readers, pooled). */
    loaded: LatencySummary;
    bad: number;
  };
  latency: LatencySummary & { frames: number; slowDelivered: number; p99Rounds: number[]; writeOffs: number; bad: number };
  /** Relay child: CPU over the throughput phases (user + system, and user alone: JavaScript and libuv), ms. */
  relayCpuMs: number;
  relayCpuUserMs: number;
  /** Relay child's last report (peak RSS over its life). */
  relay: ChildReport;
  /** Relay counters over the measured rounds: frames in, writes (camwire: offered to readers), dropped for slow readers. */
  relayCounters: Record<string, number>;
  problems: string[];
}


async function open(e: Entry, n: number, cfg: FanoutConfig): Promise<Open> {
  const t0 = performance.now();
  const tag = `${e.system}-n${n}${e.slow ? `-slow${e.slow}` : ''}`;
  const execArgv = cfg.profDir ? ['--cpu-prof', `--cpu-prof-dir=${cfg.profDir}`, `--cpu-prof-name=${tag}-${Date.now()}.cpuprofile`] : [];
  const script = e.system === 'camwire' ? fileURLToPath(import.meta.url) : path.join(here, 'fanout-raw.js');
  const child = await RelayChild.start(script, e.system, execArgv, { CAMWIRE_FANOUT_IMPORT: cfg.serverImport, CAMWIRE_FANOUT_STORE: e.store ?? cfg.store });
  let throttle: Throttle | undefined;
  try {
    const isSlow = (i: number): boolean => e.slow > 0 && i % SLOW_EVERY === SLOW_EVERY - 1 && Math.floor(i / SLOW_EVERY) < e.slow;
    if (e.slow > 0) throttle = await startThrottle(child.info.port, SLOW_RATE);
    const portOf = (i: number): number => (isSlow(i) ? throttle!.port : child.info.port);
    const rig = e.system === 'camwire' ? await camwireRig(child, n, portOf, cfg.readers) : await rawRig(child, n, portOf);
    const fast = new Uint8Array(n);
    for (let i = 0; i < n; i++) fast[i] = isSlow(i) ? 0 : 1;
    return { e, child, throttle, rig, fast, setupMs: performance.now() - t0, tps: [], lats: [], cpuMs: 0, cpuUserMs: 0, before: {} };
  } catch (err) {
    await throttle?.close();
    await child.stop();
    throw err;
  }
}

async function close(o: Open): Promise<void> {
  await o.rig.close();
  await o.throttle?.close();
  await o.child.stop();
}

async function measureSet(n: number, size: number, entries: Entry[], cfg: FanoutConfig): Promise<Measurement[]> {
  const window = windowFor(n, size);
  const opened: Open[] = [];
  try {
    for (const e of entries) opened.push(await open(e, n, cfg));
    for (const o of opened) await runPhase(o.rig, { size, window, minMs: cfg.warmupMs, minFrames: 5, maxMs: MAX_PHASE_MS, fast: o.fast });
    for (const o of opened) o.before = (await o.child.mark()).counters;
    const tpFrames = Math.ceil(20 / cfg.rounds);
    for (let r = 0; r < cfg.rounds; r++) {
      const order = opened.map((_, i) => opened[(i + r) % opened.length]);
      for (const o of order) {
        await o.child.mark();
        o.tps.push(await runPhase(o.rig, { size, window, minMs: cfg.throughputMs / cfg.rounds, minFrames: tpFrames, maxMs: MAX_PHASE_MS, fast: o.fast }));
        const rep = await o.child.report();
        o.cpuMs += rep.cpuMs;
        o.cpuUserMs += rep.cpuUserMs;
        o.lats.push(await runPhase(o.rig, { size, window: 1, minMs: cfg.latencyMs / cfg.rounds, minFrames: 4, maxMs: MAX_PHASE_MS, fast: o.fast }));
      }
    }
    const out: Measurement[] = [];
    for (const o of opened) {
      const relay = await o.child.report();
      const relayCounters: Record<string, number> = {};
      for (const [k, v] of Object.entries(relay.counters)) relayCounters[k] = v - (o.before[k] ?? 0);
      const t = o.tps;
      const l = o.lats;
      const lat = summarize(l.flatMap((x) => x.samples));
      out.push({
        system: o.e.system,
        store: o.e.system === 'camwire' ? (o.e.store ?? cfg.store) : undefined,
        label: o.rig.label,
        n,
        size,
        slow: o.e.slow,
        window,
        setupMs: o.setupMs,
        throughput: {
          MBps: median(t.map((x) => x.MBps)),
          MBpsRounds: t.map((x) => x.MBps),
          sent: sum(t.map((x) => x.sent)),
          completed: sum(t.map((x) => x.completed)),
          delivered: sum(t.map((x) => x.delivered)),
          bytes: sum(t.map((x) => x.bytes)),
          slowDelivered: sum(t.map((x) => x.slowDelivered)),
          elapsedMs: sum(t.map((x) => x.elapsedMs)),
          pubDropped: sum(t.map((x) => x.pubDropped)),
          writeOffs: sum(t.map((x) => x.writeOffs)),
          clientCpuMs: sum(t.map((x) => x.clientCpuMs)),
          loaded: summarize(t.flatMap((x) => x.samples)),
          bad: sum(t.map((x) => x.bad)),
        },
        latency: {
          ...lat,
          frames: sum(l.map((x) => x.completed)),
          slowDelivered: sum(l.map((x) => x.slowDelivered)),
          p99Rounds: l.map((x) => x.lat.p99),
          writeOffs: sum(l.map((x) => x.writeOffs)),
          bad: sum(l.map((x) => x.bad)),
        },
        relayCpuMs: o.cpuMs,
        relayCpuUserMs: o.cpuUserMs,
        relay,
        relayCounters,
        problems: o.rig.problems,
      });
    }
    return out;
  } finally {
    for (const o of opened) await close(o);
  }
}

// ---------------------------------------------------------------- the benchmark

function parseArgs(argv: string[]): FanoutConfig {
  const a = new Map(
    argv.map((x) => {
      const [k, v = ''] = x.replace(/^--/, '').split('=', 2);
      return [k, v] as const;
    }),
  );
  const list = (k: string, def: string): number[] => (a.get(k) || def).split(',').map(Number);
  return {
    ns: list('fanout-n', '1,10,100,500'),
    sizes: list('fanout-sizes', '1024,65536,524288'),
    systems: (a.get('fanout-systems') || 'camwire,raw').split(',') as System[],
    rounds: Math.max(1, Number(a.get('fanout-rounds') || 3)),
    throughputMs: Number(a.get('fanout-ms') || 1200),
    latencyMs: Number(a.get('fanout-lat-ms') || 600),
    warmupMs: 200,
    throttle: (a.get('fanout-throttle') ?? '1') !== '0',
    profDir: a.get('fanout-prof') || undefined,
    serverImport: a.get('fanout-server-import') === 'module' ? 'module' : 'index',
    readers: a.get('fanout-readers') === 'lite' ? 'lite' : 'receiver',
    store: a.get('fanout-store') === 'sqlite' ? 'sqlite' : 'memory',
    storeCheck: (a.get('fanout-store-check') ?? '1') !== '0',
  };
}

const mib = (b: number): string => num(b / MiB);
const loadavg = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const cpuPerGB = (m: Measurement): number => m.relayCpuMs / (m.throughput.bytes / 1e9);
const clientPerGB = (m: Measurement): number => m.throughput.clientCpuMs / (m.throughput.bytes / 1e9);

function progress(m: Measurement): void {
  const t = m.throughput;
  const l = m.latency;
  console.log(
    `  ${m.system.padEnd(7)}${m.store === 'sqlite' ? ' (sqlite)' : ''} N=${String(m.n).padStart(3)} ${sizeName(m.size).padStart(6)}${m.slow ? ` (${m.slow} slow)` : ''}  W=${m.window}  ` +
      `${num(t.MBps).padStart(7)} MB/s (rounds ${t.MBpsRounds.map((x) => num(x)).join(' / ')}; ${t.completed} frames)  ` +
      `p50 ${num(l.p50)} ms  p99 ${num(l.p99)} ms  loaded p99 ${num(t.loaded.p99)} ms  relay CPU ${num(m.relayCpuMs / 1000)} s  ` +
      `peak RSS ${mib(m.relay.peakRss)} MiB  client CPU ${num(t.clientCpuMs / 1000)} s  relay drops ${m.relayCounters.dropped ?? 0}  ` +
      `setup ${num(m.setupMs / 1000)} s` +
      (t.writeOffs + l.writeOffs ? `  WRITE-OFFS ${t.writeOffs + l.writeOffs}` : '') +
      (t.bad + l.bad ? `  BAD ${t.bad + l.bad}` : ''),
  );
  for (const p of m.problems.slice(0, 5)) console.log(`    ! ${p}`);
  if (m.problems.length > 5) console.log(`    ! ... ${m.problems.length - 5} more`);
}

/** Runs the fan-out benchmark, prints its tables and writes bench/fanout-results.json. */
export async function runFanoutBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const cfg = parseArgs(argv);
  const started = performance.now();
  console.log(
    `\ncamwire fan-out bench (MediaServer, 1 publisher -> N readers): node ${process.version}, ${os.cpus().length} CPU ` +
      `(${os.cpus()[0]?.model ?? '?'}), relays in child processes, publishers and readers in this one; ${cfg.rounds} interleaved rounds; ` +
      `camwire server imports ${cfg.serverImport === 'index' ? 'the package entry' : 'only media-server.js'}; camwire readers: ${cfg.readers}; ` +
      `camwire store: ${cfg.store}; ` +
      `load average ${loadavg()}\n`,
  );
  const results: Measurement[] = [];
  for (const n of cfg.ns) {
    for (const size of cfg.sizes) {
      for (const m of await measureSet(n, size, cfg.systems.map((system) => ({ system, slow: 0 })), cfg)) {
        progress(m);
        results.push(m);
      }
    }
  }
  const throttled: Measurement[] = [];
  if (cfg.throttle) {
    console.log('\nSlow readers: N = 100, 64 KB, none vs 10 of the 100 readers behind a 10 KB/s relay');
    const entries = cfg.systems.flatMap((system) => [0, 10].map((slow) => ({ system, slow })));
    for (const m of await measureSet(100, 64 * 1024, entries, cfg)) {
      progress(m);
      throttled.push(m);
    }
  }
  const storeChecked: Measurement[] = [];
  if (cfg.storeCheck && cfg.systems.includes('camwire')) {
    console.log('\nStore check: N = 100, 64 KB, the camwire relay on a MemoryStore vs on a SqliteStore (temp dir)');
    const entries: Entry[] = (['memory', 'sqlite'] as const).map((store) => ({ system: 'camwire', slow: 0, store }));
    for (const m of await measureSet(100, 64 * 1024, entries, cfg)) {
      progress(m);
      storeChecked.push(m);
    }
  }
  const seconds = (performance.now() - started) / 1000;

  const find = (list: Measurement[], s: System, n: number, size: number, slow = 0): Measurement | undefined =>
    list.find((m) => m.system === s && m.n === n && m.size === size && m.slow === slow);
  const pairs = cfg.ns.flatMap((n) => cfg.sizes.map((size) => ({ n, size, c: find(results, 'camwire', n, size), r: find(results, 'raw', n, size) })));
  const v = (m: Measurement | undefined, f: (m: Measurement) => number): number => (m ? f(m) : NaN);

  const main = table(
    ['N', 'size', 'W', 'MB/s', 'raw', 'x raw', 'p50 ms', 'raw', 'x raw', 'p99 ms', 'raw', 'x raw', 'CPU s', 'raw', 'x raw', 'RSS MiB', 'raw', 'x raw'],
    pairs.map(({ n, size, c, r }) => {
      const cell = (f: (m: Measurement) => number, fmt: (x: number) => string = (x) => num(x)): string[] => [fmt(v(c, f)), fmt(v(r, f)), ratio(v(c, f), v(r, f))];
      return [
        String(n),
        sizeName(size),
        String(windowFor(n, size)),
        ...cell((m) => m.throughput.MBps),
        ...cell((m) => m.latency.p50),
        ...cell((m) => m.latency.p99),
        ...cell((m) => m.relayCpuMs / 1000),
        ...cell((m) => m.relay.peakRss, mib),
      ];
    }),
    ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const details = table(
    ['system', 'N', 'size', 'frames', 'elapsed s', 'deliv/exp', 'relay drops', 'pub drops', 'relay CPU ms/GB', 'x raw', 'client CPU ms/GB', 'x raw', 'loaded p50', 'loaded p99', 'lat n'],
    pairs.flatMap(({ c, r }) =>
      [c, r]
        .filter((m): m is Measurement => m !== undefined)
        .map((m) => {
          const t = m.throughput;
          const other = m === c ? r : undefined;
          return [
            m.system,
            String(m.n),
            sizeName(m.size),
            String(t.completed),
            num(t.elapsedMs / 1000),
            num(t.delivered / (t.sent * m.n), 3),
            String(m.relayCounters.dropped ?? 0),
            String(t.pubDropped),
            num(cpuPerGB(m)),
            other ? ratio(cpuPerGB(m), cpuPerGB(other)) : '',
            num(clientPerGB(m)),
            other ? ratio(clientPerGB(m), clientPerGB(other)) : '',
            num(t.loaded.p50),
            num(t.loaded.p99),
            String(m.latency.samples),
          ];
        }),
    ),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );

  console.log('\nFan-out through a relay, camwire MediaServer vs a raw Node relay (ratios camwire / raw):');
  console.log('MB/s = payload delivered to all readers per second (MB = 10^6 B; median of rounds) with W frames in flight;');
  console.log('p50/p99 = send call -> reader event with 1 frame in flight (every reader a sample); CPU s = relay process over');
  console.log('the throughput phases; RSS = relay process peak (VmHWM) over its life with the N readers connected\n');
  console.log(main);
  console.log('\nDetails of the throughput phases: deliv/exp = deliveries / (frames sent x N); relay drops = frames the relay skipped');
  console.log('for a reader that could not keep up (latest wins); pub drops = camwire publisher latest-wins drops; client CPU = this');
  console.log('process (publisher + N readers) per GB delivered; loaded p50/p99 = latency with W frames in flight, ms; lat n = latency samples\n');
  console.log(details);

  let throttleSummary: object[] | undefined;
  if (throttled.length) {
    const rows = cfg.systems.map((s) => ({ s, none: find(throttled, s, 100, 64 * 1024, 0), slow: find(throttled, s, 100, 64 * 1024, 10) }));
    console.log('\nSlow readers, N = 100, 64 KB: the 90 fast readers with no slow reader vs with 10 readers behind a 10 KB/s relay');
    console.log('(p99 = window-1 phase; loaded p99 = throughput phase; MB/s = to the fast readers; slow deliv = frames the slow readers got;');
    console.log('relay drops = frames skipped for readers that could not keep up; slow cut = slow readers the relay disconnected)\n');
    console.log(
      table(
        ['system', 'p99 none', 'p99 10 slow', 'x', 'loaded p99 none', '10 slow', 'x', 'MB/s none', '10 slow', 'x', 'slow deliv', 'relay drops', 'slow cut'],
        rows.map(({ s, none, slow }) => [
          s,
          num(v(none, (m) => m.latency.p99)),
          num(v(slow, (m) => m.latency.p99)),
          ratio(v(slow, (m) => m.latency.p99), v(none, (m) => m.latency.p99)),
          num(v(none, (m) => m.throughput.loaded.p99)),
          num(v(slow, (m) => m.throughput.loaded.p99)),
          ratio(v(slow, (m) => m.throughput.loaded.p99), v(none, (m) => m.throughput.loaded.p99)),
          num(v(none, (m) => m.throughput.MBps)),
          num(v(slow, (m) => m.throughput.MBps)),
          ratio(v(slow, (m) => m.throughput.MBps), v(none, (m) => m.throughput.MBps)),
          String(v(slow, (m) => m.throughput.slowDelivered + m.latency.slowDelivered)),
          String(v(slow, (m) => m.relayCounters.dropped ?? 0)),
          String(v(slow, (m) => m.relayCounters.cut ?? 0)),
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    throttleSummary = rows.map(({ s, none, slow }) => ({
      system: s,
      p99None: none?.latency.p99,
      p99Slow: slow?.latency.p99,
      loadedP99None: none?.throughput.loaded.p99,
      loadedP99Slow: slow?.throughput.loaded.p99,
    }));
  }

  let storeCheck: object | undefined;
  const sm = storeChecked.find((m) => m.store === 'memory');
  const sq = storeChecked.find((m) => m.store === 'sqlite');
  if (sm && sq) {
    const metrics: Array<[string, (m: Measurement) => number]> = [
      ['MB/s', (m) => m.throughput.MBps],
      ['p50 ms', (m) => m.latency.p50],
      ['p99 ms', (m) => m.latency.p99],
      ['loaded p99 ms', (m) => m.throughput.loaded.p99],
      ['relay CPU ms/GB', cpuPerGB],
      ['peak RSS MiB', (m) => m.relay.peakRss / MiB],
      ['set-up s', (m) => m.setupMs / 1000],
    ];
    console.log('\nStore check, N = 100, 64 KB: the camwire relay on a SqliteStore vs a MemoryStore (same rounds, interleaved; the media');
    console.log('path never touches the store, so sqlite / memory should be about 1 up to noise; set-up includes the relay child\'s');
    console.log('start and its store writes: one per client connection; contact lists are not stored, keepClientInfo being off)\n');
    console.log(table(['metric', 'memory', 'sqlite', 'sqlite/memory'], metrics.map(([k, f]) => [k, num(f(sm)), num(f(sq)), ratio(f(sq), f(sm))]), ['l', 'r', 'r', 'r']));
    storeCheck = Object.fromEntries(metrics.map(([k, f]) => [k, { memory: f(sm), sqlite: f(sq), ratio: f(sq) / f(sm) }]));
  }

  const g = pairs.find((p) => p.n === 100 && p.size === 64 * 1024);
  let goal: object | undefined;
  if (g?.c && g.r) {
    const tr = g.c.throughput.MBps / g.r.throughput.MBps;
    const rr = g.c.relay.peakRss / g.r.relay.peakRss;
    goal = { throughputRatio: tr, rssRatio: rr, throughputMet: tr >= 0.8, rssMet: rr < 2 };
    console.log(
      `\nGoal at N = 100, 64 KB: throughput ${tr.toFixed(2)}x raw (goal >= 0.80x: ${tr >= 0.8 ? 'met' : 'NOT met'}), ` +
        `peak RSS ${rr.toFixed(2)}x raw (goal < 2x: ${rr < 2 ? 'met' : 'NOT met'})`,
    );
  }
  const problems = [...results, ...throttled, ...storeChecked].flatMap((m) => m.problems.map((p) => `${m.system} N=${m.n} ${sizeName(m.size)}${m.slow ? ' slow' : ''}: ${p}`));
  if (problems.length) console.log(`\nUnexpected events: ${problems.length}\n  ${problems.slice(0, 20).join('\n  ')}`);
  let mainPeak = process.memoryUsage.rss();
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) mainPeak = Number(hwm[1]) * 1024;
  } catch {
    // not Linux: the current RSS will do
  }
  console.log(`\nFan-out run time: ${seconds.toFixed(1)} s; this process (publishers + readers) peaked at ${mib(mainPeak)} MiB RSS; load average at the end ${loadavg()} (other work on the host skews the figures)`);

  const out = path.resolve(here, '..', '..', 'bench', 'fanout-results.json');
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    config: { ...cfg, maxWindow: MAX_WINDOW, stallMs: STALL_MS, slowRate: SLOW_RATE },
    runSeconds: Number(seconds.toFixed(1)),
    mainPeakRss: mainPeak,
    loadAverageAtEnd: os.loadavg(),
    goal,
    throttle: throttleSummary,
    storeCheck,
    results,
    throttled,
    storeChecked,
  };
  writeFileSync(out, JSON.stringify(json, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2) + '\n');
  console.log(`Fan-out results written to ${path.relative(process.cwd(), out) || out}`);
}

if (process.env.CAMWIRE_FANOUT_CHILD === 'camwire' && process.send) {
  camwireChild().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
