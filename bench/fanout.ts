/**
 * Fan-out benchmark of the MediaServer: one publisher to N readers through the server, beside
 * the best plain Node relay we know, measured the same way in the same run. Results and
 * analysis: bench/FANOUT.md.
 *
 *   npm run bench                                  # the point-to-point bench, then this one, then the store bench
 *   npm run build:test && node build/bench/run.js --cases=fanout          # only this (or: --cases fanout)
 *   node build/bench/run.js --cases=fanout --fanout-n=100 --fanout-sizes=1024 --fanout-throttle=0 \
 *        --fanout-paced=0 --fanout-store-check=0 --fanout-prof=/tmp/prof   # one case, relays under --cpu-prof
 *   node build/bench/prof-top.js /tmp/prof/camwire-*.cpuprofile      # top self-time functions of a profile
 *
 * Options (all optional):
 *   --fanout-n=1,100,500   --fanout-sizes=1024,65536,524288   --fanout-rounds=3
 *   --fanout-ms=2400 (throughput, all rounds)   --fanout-lat-ms=1200 (window-1 latency, all rounds)
 *   --fanout-systems=camwire,raw
 *   --fanout-paced=1 (0: skip)   --fanout-paced-case=100x65536@30   --fanout-paced-ms=9000 (all rounds)
 *       the paced-latency case: N readers, frames of that size at that many frames per second
 *   --fanout-throttle=1 (0: skip the slow-reader comparison)
 *   --fanout-prof=DIR (relay children run with --cpu-prof, profiles in DIR; summarise with prof-top.js)
 *   CAMWIRE_FANOUT_DEBUG=1 (environment): log each set-up step and phase to stderr
 *   CAMWIRE_FANOUT_MEM=1 (environment): each relay prints its heap, external and ArrayBuffer
 *       memory at its sampled peak RSS (stderr); CAMWIRE_FANOUT_MEM=trace: also a timeline of them
 *       every 50 ms (RSS, heap used, new and old space committed, external, ArrayBuffers)
 *   CAMWIRE_FANOUT_RELAY_FLAGS="--trace-gc ..." (environment): more node flags for the relays
 *   CAMWIRE_FANOUT_RAW_SF=1 (environment): the raw relay stores and forwards (a frame goes out
 *       once whole, as views of its reads, as camwire's does; a diagnostic of peak RSS)
 *   CAMWIRE_FANOUT_RAW_ITER=1 (environment): the raw relay forwards the publisher's reads of one
 *       event-loop iteration as one chunk at its end (setImmediate), as camwire's server batches
 *       them (a diagnostic; the reference forwards each read)
 *   CAMWIRE_FANOUT_HEAP_SAMPLE=DIR (environment): each relay writes a sampling heap profile (the
 *       inspector's, 16 KiB interval) of what survived young-generation GCs to DIR on stop
 *       (CAMWIRE_FANOUT_HEAP_SAMPLE_ALL=1: of everything allocated); summarise with build/bench/heap-top.js
 *   CAMWIRE_FANOUT_VIEWER=1 (environment): the camwire relay has a WebViewer that nobody watches,
 *       as `camwire server` has
 *   CAMWIRE_FANOUT_GC_EXPERIMENT=MS (environment, with RELAY_FLAGS=--expose-gc): the camwire relay
 *       runs a full GC every MS ms (a diagnostic: how much of its peak RSS is uncollected garbage);
 *       with CAMWIRE_FANOUT_GC_MINOR=1 a young-generation GC (scavenge) instead
 *   --fanout-window=W   W frames in flight in every throughput phase instead of the formula below
 *       (a diagnostic: whether a figure is the relay's throughput or the pipeline's latency)
 *   --fanout-reader-procs=2   child processes that host the readers (1 for N = 1)
 *   --fanout-readers=wire|receiver   camwire readers: bare sockets speaking the pull protocol
 *       (default; "lite" is accepted for wire), or library Receivers in the reader children (an
 *       end-to-end case: the readers' cost is then the Receiver's, not the server's)
 *   --fanout-pub=wire|sender   camwire publisher: a bare socket speaking the push protocol
 *       (default), or a library Sender
 *   --fanout-server-import=package|index|module   what the camwire relay child imports: the
 *       package as published (dist/index.js, bundled: what `import { MediaServer } from 'camwire'`
 *       and the CLI load; default; `npm run bench` builds it), the entry's modules one by one as
 *       tsc compiled them (build/src/index.js; the default with CAMWIRE_BENCH_IMPORT=build), or only
 *       build/src/server/media-server.js
 *   --fanout-store=memory|sqlite   the camwire relay's ServerStore: MemoryStore (default) or a
 *       SqliteStore in a temp dir of its own (removed when the child stops)
 *   --fanout-store-check=1 (0: skip)   after the rest, N = 100 x 64 KB once more with the camwire
 *       relay on a MemoryStore and on a SqliteStore, printed as sqlite / memory
 * Prints tables and writes bench/fanout-results.json.
 *
 * Processes, everything on 127.0.0.1 with port 0:
 *  - the relay under test, in a child process of its own, fresh for each (N, frame size):
 *    camwire: a MediaServer with only its TCP port (fanout-relay.ts, which loads the package and the control channel only);
 *    raw: the raw relay of fanout-raw.ts, which writes each chunk read from the publisher to
 *    every reader with one write (the reference of every ratio; its policy for a reader that
 *    cannot keep up is described there). Each measures its own CPU time (process.cpuUsage,
 *    between a 'mark' and a 'report' asked over IPC) and peak RSS (VmHWM);
 *  - the readers, in --fanout-reader-procs child processes (fanout-readers.ts), shared by the
 *    two relays of a case: raw wire-protocol parsers on bare sockets, one shared read buffer per
 *    process, no object per frame;
 *  - the publisher, in this process (fanout-pub.ts): a bare socket writing raw framing or
 *    camwire's push protocol, all frames of one event-loop turn in one write.
 * This process, and each reader child, measure their CPU per phase, printed as % of one core:
 * when a harness process is near a full core (>= 85%) the figure it limits is marked '!'.
 *
 * Each (N, size): both relays are open at once and measured in interleaved rounds (the order
 * rotates each round), so drift in machine speed hits both alike; throughput is the median of
 * the rounds, latency percentiles come from the pooled samples, CPU is summed.
 *
 * Every payload carries the send time on the shared clock (fanout-readers.ts: clock(),
 * performance.timeOrigin + performance.now(), comparable across processes; the offsets are
 * measured and printed at start) as float64 LE in bytes 0..7, a sequence number (8..11) and a
 * run id (12..15). Latency = the reader's clock() when the frame's last byte is parsed minus
 * the stamp.
 *
 * Offered load: a window. The publisher keeps at most W frames that have not yet reached every
 * fast reader (a frame counts as reached by a reader when that reader got it or a later one:
 * both relays skip frames for a reader that cannot keep up). The reader children tell this
 * process, once per event-loop turn, the newest seq all their fast readers reached; the next
 * frame goes out as soon as the oldest in the window reached everyone. So the offered rate
 * follows what the relay sustains instead of filling queues, and W > 1 keeps the pipeline
 * publisher -> relay -> readers busy. W = clamp(min(1 MiB / size, 64 MiB / (N * size)), 1, 256).
 * A window that makes no progress for 2 s is written off (counted; it should not happen).
 *  - throughput phase: window W; per round at least --fanout-ms / rounds and at least
 *    max(2, min(ceil(20 / rounds), ceil(64 MiB / (N * size)))) frames, at most 15 s; delivered
 *    MB/s = payload bytes that reached the fast readers / (first send -> last delivery);
 *  - latency phase (p50/p99 of the table): window 1, i.e. the next frame as soon as the
 *    previous one reached every reader: each frame is one clean fan-out; at least
 *    --fanout-lat-ms / rounds and max(2, min(4, ceil(32 MiB / (N * size)))) frames per round;
 *    every reader's delivery is a sample;
 *  - paced latency (--fanout-paced-case, 100 readers x 64 KB at 30 frames/s): frames sent on a
 *    fixed schedule whatever the readers do (open loop), --fanout-paced-ms over all rounds;
 *  - relay CPU over the throughput phases, per delivered GB; peak RSS over the child's life.
 * Slow readers (N = 100, 64 KB): every tenth reader connects through a TCP relay in this
 * process that forwards to it at 10 KB/s; the window waits only for the fast readers, whose p99
 * is compared with the same set-up without slow readers (measured in the same rounds).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { HOST, RelayChild, startThrottle, type ChildReport, type Throttle } from './fanout-raw.js';
import { camwireSenderPublisher, camwireWirePublisher, rawPublisher, type Publisher } from './fanout-pub.js';
import { clock, ReaderPool, type ReaderKind, type ReaderSpec } from './fanout-readers.js';
import { median, num, ratio, sizeName, sum, table } from './table.js';
import { summarize, type LatencySummary } from './drive.js';
import { benchImport } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAX_WINDOW = 256;
/** Paced phases: at most this many frames in flight (a tick finding more sends nothing and counts as late). */
const PACED_IN_FLIGHT = 64;
const STALL_MS = 2000;
const MAX_PHASE_MS = 15000;
const SLOW_RATE = 10 * 1024;
const SLOW_EVERY = 10;
/** A harness process at this share of one core (or more) may be what limits a figure. */
const HOT_PCT = 85;
const MiB = 1024 * 1024;

export type System = 'camwire' | 'raw';
export type FanoutStore = 'memory' | 'sqlite';

export interface FanoutConfig {
  ns: number[];
  sizes: number[];
  systems: System[];
  rounds: number;
  throughputMs: number;
  latencyMs: number;
  warmupMs: number;
  throttle: boolean;
  paced: { n: number; size: number; fps: number; ms: number } | undefined;
  profDir: string | undefined;
  serverImport: 'package' | 'index' | 'module';
  readers: 'wire' | 'receiver';
  pub: 'wire' | 'sender';
  readerProcs: number;
  /** The camwire relay's store (the store check measures both). */
  store: FanoutStore;
  storeCheck: boolean;
  /** --fanout-window=W: every throughput phase with W frames in flight instead of windowFor's (a diagnostic; 0: windowFor). */
  window: number;
}

export function windowFor(n: number, size: number): number {
  return Math.max(1, Math.min(MAX_WINDOW, Math.floor(MiB / size), Math.floor((64 * MiB) / (n * size))));
}

const throughputFrames = (n: number, size: number, rounds: number): number =>
  Math.max(2, Math.min(Math.ceil(20 / rounds), Math.ceil((64 * MiB) / (n * size))));
const latencyFrames = (n: number, size: number): number => Math.max(2, Math.min(4, Math.ceil((32 * MiB) / (n * size))));

// ---------------------------------------------------------------- latency summaries

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------- one phase

let runIds = 0xfa0;
let rigIds = 1;

interface PhaseOptions {
  size: number;
  window: number;
  minMs: number;
  minFrames: number;
  maxMs: number;
  /** Paced (open loop): one frame every intervalMs, whatever the readers do. */
  intervalMs?: number;
}

interface PhaseResult {
  sent: number;
  /** Frames that reached every fast reader. */
  completed: number;
  elapsedMs: number;
  delivered: number;
  bytes: number;
  slowDelivered: number;
  MBps: number;
  samples: Float64Array;
  lat: LatencySummary;
  /** This process (the publisher): CPU and wall time of the phase, ms. */
  pubCpuMs: number;
  wallMs: number;
  /** Each reader child hosting the rig: CPU and wall ms over the phase. */
  readers: Array<{ cpuMs: number; wallMs: number }>;
  pubDropped: number;
  writeOffs: number;
  /** Paced: ticks with no frame sent (too many in flight). */
  late: number;
  stray: number;
  bad: number;
  problems: string[];
}

const bufferPool = new Map<number, Buffer[]>();
function buffers(size: number, count: number): Buffer[] {
  const have = bufferPool.get(size) ?? [];
  while (have.length < count) have.push(Buffer.alloc(size, 0x30 + have.length));
  bufferPool.set(size, have);
  return have.slice(0, count);
}

function runPhase(pool: ReaderPool, o: Open, ph: PhaseOptions): Promise<PhaseResult> {
  const abandon = { fn: (): void => {} };
  return within(phase(pool, o, ph, abandon), ph.maxMs + 30_000, `a phase of ${o.label}`).catch((err: Error) => {
    abandon.fn();
    throw err;
  });
}

function phase(pool: ReaderPool, o: Open, ph: PhaseOptions, abandon: { fn: () => void }): Promise<PhaseResult> {
  const run = runIds++ >>> 0;
  debug('phase', o.label, o.rig, run, ph);
  const paced = ph.intervalMs !== undefined;
  const bufs = buffers(ph.size, (paced ? PACED_IN_FLIGHT : ph.window) + 2);
  let sent = 0;
  let completed = 0;
  let writeOffs = 0;
  let late = 0;
  let scheduled = false;
  let stopping = false;
  let finished = false;
  let t0 = 0;
  let lastProgress = 0;
  let cpu0 = process.cpuUsage();
  let pacer: NodeJS.Timeout | undefined;
  let check: NodeJS.Timeout | undefined;
  const drop0 = o.pub.dropped();

  return new Promise((resolve, reject) => {
    abandon.fn = (): void => {
      finished = true;
      clearInterval(check);
      clearTimeout(pacer);
    };
    const schedule = (): void => {
      if (!scheduled && !finished && !stopping) {
        scheduled = true;
        setImmediate(fill);
      }
    };
    const sendOne = (): void => {
      const seq = ++sent;
      const b = bufs[seq % bufs.length];
      b.writeDoubleLE(clock(), 0);
      b.writeUInt32LE(seq, 8);
      b.writeUInt32LE(run, 12);
      o.pub.send(b);
    };
    const timeUp = (now: number): boolean => (now - t0 >= ph.minMs && completed >= ph.minFrames) || now - t0 >= ph.maxMs;
    function fill(): void {
      scheduled = false;
      if (finished || stopping) return;
      if (timeUp(clock())) {
        stopping = true;
        if (completed >= sent) finish().catch(reject);
        return;
      }
      if (!paced) while (sent - completed < ph.window) sendOne();
    }
    let due = 0;
    function tick(): void {
      if (finished || stopping) return;
      const now = clock();
      if (now - t0 >= ph.minMs) {
        stopping = true;
        if (completed >= sent) finish().catch(reject);
        return;
      }
      if (sent - completed < PACED_IN_FLIGHT) sendOne();
      else late++;
      due += ph.intervalMs!;
      if (due < now) due = now;
      pacer = setTimeout(tick, Math.max(0, due - clock()));
    }
    const finish = async (): Promise<void> => {
      if (finished) return;
      finished = true;
      clearInterval(check);
      clearTimeout(pacer);
      const cpu = process.cpuUsage(cpu0);
      const wallMs = clock() - t0;
      debug('phase end', run, { sent, completed, writeOffs });
      const t = await pool.end(o.rig);
      const elapsedMs = t.lastT > t0 ? t.lastT - t0 : 0;
      resolve({
        sent,
        completed,
        elapsedMs,
        delivered: t.delivered,
        bytes: t.bytes,
        slowDelivered: t.slowDelivered,
        MBps: elapsedMs > 0 ? t.bytes / elapsedMs / 1000 : 0,
        samples: t.samples,
        lat: summarize(t.samples),
        pubCpuMs: (cpu.user + cpu.system) / 1000,
        wallMs,
        readers: t.children,
        pubDropped: o.pub.dropped() - drop0,
        writeOffs,
        late,
        stray: t.stray,
        bad: t.bad,
        problems: t.problems,
      });
    };
    pool
      .phase(o.rig, run, ph.size, (c) => {
        const v = Math.min(c, sent);
        if (v > completed) {
          completed = v;
          lastProgress = clock();
          if (stopping && completed >= sent) finish().catch(reject);
          else if (!paced) schedule();
        }
      })
      .then(() => {
        cpu0 = process.cpuUsage();
        t0 = lastProgress = due = clock();
        check = setInterval(() => {
          const now = clock();
          if (stopping && completed >= sent) return void finish().catch(reject);
          if (completed < sent && now - lastProgress > STALL_MS) {
            // Nothing reached every fast reader for STALL_MS: write the window off and go on.
            writeOffs++;
            pool.skip(o.rig, sent);
            completed = sent;
            lastProgress = now;
            if (stopping) return void finish().catch(reject);
            if (!paced) schedule();
          } else if (!stopping && !paced && completed >= sent) schedule();
        }, 5);
        if (paced) tick();
        else fill();
      }, reject);
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
  label: string;
  rig: number;
  child: RelayChild;
  throttle: Throttle | undefined;
  pub: Publisher;
  setupMs: number;
  tps: PhaseResult[];
  lats: PhaseResult[];
  paced: PhaseResult[];
  /** Relay CPU over the throughput (matrix) or paced phases, and the wall time it was measured over. */
  cpuMs: number;
  cpuUserMs: number;
  cpuWallMs: number;
  before: Record<string, number>;
}

/** Harness and relay load over a set of phases, % of one core. */
export interface Load {
  pubCpuPct: number;
  /** One per reader child hosting the rig. */
  readerCpuPct: number[];
  relayCpuPct: number;
  /** Publisher + reader children + relay: how much of the machine (100% per core) the bench used. */
  allCpuPct: number;
  /** Which harness processes were at HOT_PCT or more: 'publisher', 'readers #k'. */
  hot: string[];
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
  throughput?: {
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
    /** Latency with W frames in flight (fast readers, pooled). */
    loaded: LatencySummary;
    bad: number;
    stray: number;
    load: Load;
  };
  latency?: LatencySummary & { frames: number; slowDelivered: number; p99Rounds: number[]; writeOffs: number; bad: number };
  paced?: LatencySummary & { fps: number; frames: number; late: number; p99Rounds: number[]; writeOffs: number; bad: number; load: Load };
  /** Relay child: CPU over the throughput (or paced) phases (user + system, and user alone), ms. */
  relayCpuMs: number;
  relayCpuUserMs: number;
  /** Relay child's last report (peak RSS over its life). */
  relay: ChildReport;
  /** Relay counters over the measured rounds (camwire: frames in, writes = frames offered to readers, dropped for slow readers). */
  relayCounters: Record<string, number>;
  problems: string[];
}

function loadOf(phases: PhaseResult[], relayCpuMs: number, relayWallMs: number): Load {
  const wall = sum(phases.map((p) => p.wallMs));
  const pubCpuPct = (100 * sum(phases.map((p) => p.pubCpuMs))) / wall;
  const kids = phases[0]?.readers.length ?? 0;
  const readerCpuPct: number[] = [];
  for (let k = 0; k < kids; k++) {
    readerCpuPct.push((100 * sum(phases.map((p) => p.readers[k].cpuMs))) / sum(phases.map((p) => p.readers[k].wallMs)));
  }
  const hot: string[] = [];
  if (pubCpuPct >= HOT_PCT) hot.push('publisher');
  readerCpuPct.forEach((p, k) => p >= HOT_PCT && hot.push(`readers #${k + 1}`));
  const relayCpuPct = (100 * relayCpuMs) / relayWallMs;
  return { pubCpuPct, readerCpuPct, relayCpuPct, allCpuPct: pubCpuPct + sum(readerCpuPct) + relayCpuPct, hot };
}

/** Rejects when `p` takes longer than `ms` (so that a stuck child fails one set instead of hanging the bench). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

const debug = (...a: unknown[]): void => void (process.env.CAMWIRE_FANOUT_DEBUG && console.error(`[fanout ${(performance.now() / 1000).toFixed(1)} s]`, ...a));

async function open(pool: ReaderPool, e: Entry, n: number, size: number, cfg: FanoutConfig): Promise<Open> {
  const t0 = performance.now();
  debug('open', e, n, size);
  const tag = `${e.system}-n${n}-${size}${e.slow ? `-slow${e.slow}` : ''}`;
  const execArgv = cfg.profDir ? ['--cpu-prof', `--cpu-prof-dir=${cfg.profDir}`, `--cpu-prof-name=${tag}-${Date.now()}.cpuprofile`] : [];
  // CAMWIRE_FANOUT_RELAY_FLAGS (environment): more node flags for the relay children, e.g. --trace-gc.
  if (process.env.CAMWIRE_FANOUT_RELAY_FLAGS) execArgv.push(...process.env.CAMWIRE_FANOUT_RELAY_FLAGS.split(' ').filter(Boolean));
  const script = path.join(here, e.system === 'camwire' ? 'fanout-relay.js' : 'fanout-raw.js');
  const child = await RelayChild.start(script, e.system, execArgv, { CAMWIRE_FANOUT_IMPORT: cfg.serverImport, CAMWIRE_FANOUT_STORE: e.store ?? cfg.store });
  let throttle: Throttle | undefined;
  const rig = rigIds++;
  try {
    const isSlow = (i: number): boolean => e.slow > 0 && i % SLOW_EVERY === SLOW_EVERY - 1 && Math.floor(i / SLOW_EVERY) < e.slow;
    if (e.slow > 0) throttle = await startThrottle(child.info.port, SLOW_RATE);
    const specs: ReaderSpec[] = [];
    for (let i = 0; i < n; i++) specs.push({ i, port: isSlow(i) ? throttle!.port : child.info.port, id: `r${i}`, fast: !isSlow(i) });
    const kind: ReaderKind = e.system === 'raw' ? 'raw' : cfg.readers === 'receiver' ? 'receiver' : 'camwire';
    debug('relay child started', child.pid);
    await pool.open(rig, kind, specs);
    debug('readers open');
    let pub: Publisher;
    if (e.system === 'raw') {
      // The relay counts its readers once their role byte arrived.
      for (let t = 0; ; t++) {
        const { readers } = await child.request<{ readers: number }>('info');
        if (readers >= n) break;
        if (t > 1000) throw new Error(`raw relay counts ${readers} of ${n} readers`);
        await new Promise((r) => setTimeout(r, 5));
      }
      pub = await rawPublisher(child.info.port);
    } else {
      const ids = specs.map((s) => s.id);
      pub = cfg.pub === 'sender' ? await camwireSenderPublisher(child.info.port, ids) : await camwireWirePublisher(child.info.port, ids);
    }
    debug('publisher ready');
    const label =
      e.system === 'raw' ? 'raw relay' : `camwire${cfg.pub === 'sender' ? ' (Sender pub)' : ''}${cfg.readers === 'receiver' ? ' (Receiver readers)' : ''}`;
    return { e, label, rig, child, throttle, pub, setupMs: performance.now() - t0, tps: [], lats: [], paced: [], cpuMs: 0, cpuUserMs: 0, cpuWallMs: 0, before: {} };
  } catch (err) {
    await pool.close(rig);
    await throttle?.close();
    await child.stop();
    throw err;
  }
}

async function close(pool: ReaderPool, o: Open): Promise<void> {
  await pool.close(o.rig);
  await o.pub.close();
  await o.throttle?.close();
  await o.child.stop();
}

async function measured<T>(o: Open, fn: () => Promise<T>): Promise<T> {
  // Counters only before the rounds and after them (measureSet): not around every phase.
  await o.child.mark(false);
  const w0 = clock();
  const r = await fn();
  const rep = await o.child.report(false);
  o.cpuWallMs += clock() - w0;
  o.cpuMs += rep.cpuMs;
  o.cpuUserMs += rep.cpuUserMs;
  return r;
}

async function measureSet(pool: ReaderPool, n: number, size: number, entries: Entry[], cfg: FanoutConfig, fps?: number): Promise<Measurement[]> {
  const window = cfg.window || windowFor(n, size);
  const opened: Open[] = [];
  try {
    for (const e of entries) opened.push(await within(open(pool, e, n, size, cfg), 60_000, `setting up ${e.system} N=${n} ${sizeName(size)}`));
    for (const o of opened) await runPhase(pool, o, { size, window, minMs: cfg.warmupMs, minFrames: 2, maxMs: MAX_PHASE_MS });
    for (const o of opened) o.before = (await o.child.mark()).counters;
    const tpFrames = throughputFrames(n, size, cfg.rounds);
    for (let r = 0; r < cfg.rounds; r++) {
      const order = opened.map((_, i) => opened[(i + r) % opened.length]);
      for (const o of order) {
        if (fps !== undefined) {
          const ms = cfg.paced!.ms / cfg.rounds;
          o.paced.push(await measured(o, () => runPhase(pool, o, { size, window, minMs: ms, minFrames: 0, maxMs: ms, intervalMs: 1000 / fps })));
          continue;
        }
        o.tps.push(await measured(o, () => runPhase(pool, o, { size, window, minMs: cfg.throughputMs / cfg.rounds, minFrames: tpFrames, maxMs: MAX_PHASE_MS })));
        o.lats.push(await runPhase(pool, o, { size, window: 1, minMs: cfg.latencyMs / cfg.rounds, minFrames: latencyFrames(n, size), maxMs: MAX_PHASE_MS }));
      }
    }
    const out: Measurement[] = [];
    for (const o of opened) {
      const relay = await o.child.report();
      const relayCounters: Record<string, number> = {};
      for (const [k, v] of Object.entries(relay.counters)) relayCounters[k] = v - (o.before[k] ?? 0);
      const t = o.tps;
      const l = o.lats;
      const pc = o.paced;
      const all = [...t, ...l, ...pc];
      const m: Measurement = {
        system: o.e.system,
        store: o.e.system === 'camwire' ? (o.e.store ?? cfg.store) : undefined,
        label: o.label,
        n,
        size,
        slow: o.e.slow,
        window,
        setupMs: o.setupMs,
        relayCpuMs: o.cpuMs,
        relayCpuUserMs: o.cpuUserMs,
        relay,
        relayCounters,
        problems: [...o.pub.problems, ...all.flatMap((x) => x.problems)],
      };
      if (t.length) {
        m.throughput = {
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
          loaded: summarize(concat(t.map((x) => x.samples))),
          bad: sum(t.map((x) => x.bad)),
          stray: sum(t.map((x) => x.stray)),
          load: loadOf(t, o.cpuMs, o.cpuWallMs),
        };
      }
      if (l.length) {
        m.latency = {
          ...summarize(concat(l.map((x) => x.samples))),
          frames: sum(l.map((x) => x.completed)),
          slowDelivered: sum(l.map((x) => x.slowDelivered)),
          p99Rounds: l.map((x) => x.lat.p99),
          writeOffs: sum(l.map((x) => x.writeOffs)),
          bad: sum(l.map((x) => x.bad)),
        };
      }
      if (pc.length) {
        m.paced = {
          ...summarize(concat(pc.map((x) => x.samples))),
          fps: fps!,
          frames: sum(pc.map((x) => x.sent)),
          late: sum(pc.map((x) => x.late)),
          p99Rounds: pc.map((x) => x.lat.p99),
          writeOffs: sum(pc.map((x) => x.writeOffs)),
          bad: sum(pc.map((x) => x.bad)),
          load: loadOf(pc, o.cpuMs, o.cpuWallMs),
        };
      }
      out.push(m);
    }
    return out;
  } finally {
    for (const o of opened) await within(close(pool, o), 30_000, `closing ${o.label}`).catch((err: Error) => console.log(`  ! ${err.message}`));
  }
}

/** measureSet, or nothing (and a note) when the set fails. */
async function trySet(pool: ReaderPool, n: number, size: number, entries: Entry[], cfg: FanoutConfig, fps?: number): Promise<Measurement[]> {
  try {
    return await measureSet(pool, n, size, entries, cfg, fps);
  } catch (err) {
    console.log(`  ! N=${n} ${sizeName(size)} (${entries.map((e) => e.system).join(', ')}) failed: ${(err as Error).message}`);
    return [];
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
  const pc = /^(\d+)x(\d+)@([\d.]+)$/.exec(a.get('fanout-paced-case') || '100x65536@30');
  if (!pc) throw new Error('--fanout-paced-case must look like 100x65536@30 (readers x bytes @ frames/s)');
  return {
    ns: list('fanout-n', '1,100,500'),
    sizes: list('fanout-sizes', '1024,65536,524288'),
    systems: (a.get('fanout-systems') || 'camwire,raw').split(',') as System[],
    rounds: Math.max(1, Number(a.get('fanout-rounds') || 3)),
    throughputMs: Number(a.get('fanout-ms') || 2400),
    latencyMs: Number(a.get('fanout-lat-ms') || 1200),
    warmupMs: 200,
    throttle: (a.get('fanout-throttle') ?? '1') !== '0',
    paced: (a.get('fanout-paced') ?? '1') !== '0' ? { n: Number(pc[1]), size: Number(pc[2]), fps: Number(pc[3]), ms: Number(a.get('fanout-paced-ms') || 9000) } : undefined,
    profDir: a.get('fanout-prof') || undefined,
    serverImport: serverImport(a.get('fanout-server-import')),
    readers: a.get('fanout-readers') === 'receiver' ? 'receiver' : 'wire',
    pub: a.get('fanout-pub') === 'sender' ? 'sender' : 'wire',
    readerProcs: Math.max(1, Number(a.get('fanout-reader-procs') || 2)),
    store: a.get('fanout-store') === 'sqlite' ? 'sqlite' : 'memory',
    storeCheck: (a.get('fanout-store-check') ?? '1') !== '0',
    window: Number(a.get('fanout-window') || 0),
  };
}

const mib = (b: number): string => num(b / MiB);
const loadavg = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');
/** Relay CPU ms per delivered GB (10^9 B) over the throughput phases. */
const cpuPerGB = (m: Measurement): number => (m.throughput ? m.relayCpuMs / (m.throughput.bytes / 1e9) : NaN);
const pct = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(0)}%` : '-');
const loadText = (l: Load | undefined): string =>
  l ? `pub ${pct(l.pubCpuPct)}, readers ${l.readerCpuPct.map(pct).join(' / ')}, relay ${pct(l.relayCpuPct)}${l.hot.length ? `  ! HARNESS HOT: ${l.hot.join(', ')}` : ''}` : '';

/** --fanout-server-import; unset, what CAMWIRE_BENCH_IMPORT says for every bench (bench/lib.ts). */
function serverImport(v: string | undefined): 'package' | 'index' | 'module' {
  if (v === 'package' || v === 'index' || v === 'module') return v;
  if (v) throw new Error(`--fanout-server-import=${v}: use package, index or module`);
  return benchImport() === 'build' ? 'index' : 'package';
}

function progress(m: Measurement): void {
  const t = m.throughput;
  const l = m.latency;
  const p = m.paced;
  const head = `  ${m.label.padEnd(9)}${m.store === 'sqlite' ? ' (sqlite)' : ''} N=${String(m.n).padStart(3)} ${sizeName(m.size).padStart(6)}${m.slow ? ` (${m.slow} slow)` : ''}`;
  const parts: string[] = [];
  if (t) {
    parts.push(
      `W=${m.window}  ${num(t.MBps).padStart(7)} MB/s (rounds ${t.MBpsRounds.map((x) => num(x)).join(' / ')}; ${t.completed} frames)  ` +
        `relay ${num(cpuPerGB(m))} ms CPU/GB`,
    );
  }
  if (l) parts.push(`p50 ${num(l.p50)} ms  p99 ${num(l.p99)} ms`);
  if (t) parts.push(`loaded p99 ${num(t.loaded.p99)} ms`);
  if (p) parts.push(`paced ${p.fps} fps: p50 ${num(p.p50)} ms  p99 ${num(p.p99)} ms (rounds ${p.p99Rounds.map((x) => num(x)).join(' / ')}; ${p.samples} samples)`);
  parts.push(`peak RSS ${mib(m.relay.peakRss)} MiB  relay drops ${m.relayCounters.dropped ?? 0}  setup ${num(m.setupMs / 1000)} s`);
  parts.push(loadText(t?.load ?? p?.load));
  const offs = (t?.writeOffs ?? 0) + (l?.writeOffs ?? 0) + (p?.writeOffs ?? 0);
  const bad = (t?.bad ?? 0) + (l?.bad ?? 0) + (p?.bad ?? 0);
  console.log(`${head}  ${parts.join('  ')}  [${num(performance.now() / 1000, 0)} s]${offs ? `  WRITE-OFFS ${offs}` : ''}${bad ? `  BAD ${bad}` : ''}`);
  for (const x of m.problems.slice(0, 5)) console.log(`    ! ${x}`);
  if (m.problems.length > 5) console.log(`    ! ... ${m.problems.length - 5} more`);
}

/** Runs the fan-out benchmark, prints its tables and writes bench/fanout-results.json. */
export async function runFanoutBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const cfg = parseArgs(argv);
  const started = performance.now();
  const pool = await ReaderPool.start(cfg.readerProcs);
  try {
    await bench(cfg, pool, started);
  } finally {
    await pool.stop();
  }
}

async function bench(cfg: FanoutConfig, pool: ReaderPool, started: number): Promise<void> {
  const clockCheck = await pool.clockCheck();
  console.log(
    `\ncamwire fan-out bench (MediaServer vs the raw relay, 1 publisher -> N readers): node ${process.version}, ${os.cpus().length} CPU ` +
      `(${os.cpus()[0]?.model ?? '?'}); relays in child processes, readers in ${pool.size} child process(es), the publisher in this one; ` +
      `${cfg.rounds} interleaved rounds; camwire: ${cfg.pub === 'wire' ? 'bare-socket publisher' : 'library Sender'}, ` +
      `${cfg.readers === 'wire' ? 'bare-socket readers' : 'library Receiver readers'}, server imports ${cfg.serverImport === 'package' ? 'the package (dist, bundled)' : cfg.serverImport === 'index' ? "the entry's modules (build/src)" : 'only media-server.js'}, ` +
      `store ${cfg.store}; load average ${loadavg()}`,
  );
  console.log(
    `Shared clock (performance.timeOrigin + performance.now()), each reader child minus this process: ` +
      clockCheck.map((c) => `${(c.offsetMs * 1000).toFixed(1)} us (+-${(c.boundMs * 1000).toFixed(1)} us)`).join(', ') +
      `${clockCheck.some((c) => Math.abs(c.offsetMs) + c.boundMs > 0.1) ? '  ! MORE THAN 0.1 ms: latencies across processes are off by that much' : ''}\n`,
  );
  const results: Measurement[] = [];
  for (const n of cfg.ns) {
    for (const size of cfg.sizes) {
      for (const m of await trySet(pool, n, size, cfg.systems.map((system) => ({ system, slow: 0 })), cfg)) {
        progress(m);
        results.push(m);
      }
    }
  }
  const pacedResults: Measurement[] = [];
  if (cfg.paced) {
    const { n, size, fps } = cfg.paced;
    console.log(`\nPaced latency: N = ${n}, ${sizeName(size)}, ${fps} frames/s`);
    for (const m of await trySet(pool, n, size, cfg.systems.map((system) => ({ system, slow: 0 })), cfg, fps)) {
      progress(m);
      pacedResults.push(m);
    }
  }
  const throttled: Measurement[] = [];
  if (cfg.throttle) {
    console.log('\nSlow readers: N = 100, 64 KB, none vs 10 of the 100 readers behind a 10 KB/s relay');
    const entries = cfg.systems.flatMap((system) => [0, 10].map((slow) => ({ system, slow })));
    for (const m of await trySet(pool, 100, 64 * 1024, entries, cfg)) {
      progress(m);
      throttled.push(m);
    }
  }
  const storeChecked: Measurement[] = [];
  if (cfg.storeCheck && cfg.systems.includes('camwire')) {
    console.log('\nStore check: N = 100, 64 KB, the camwire relay on a MemoryStore vs on a SqliteStore (temp dir)');
    const entries: Entry[] = (['memory', 'sqlite'] as const).map((store) => ({ system: 'camwire', slow: 0, store }));
    for (const m of await trySet(pool, 100, 64 * 1024, entries, cfg)) {
      progress(m);
      storeChecked.push(m);
    }
  }
  const clockCheckEnd = await pool.clockCheck();
  const seconds = (performance.now() - started) / 1000;

  const find = (list: Measurement[], s: System, n: number, size: number, slow = 0): Measurement | undefined =>
    list.find((m) => m.system === s && m.n === n && m.size === size && m.slow === slow);
  const pairs = cfg.ns.flatMap((n) => cfg.sizes.map((size) => ({ n, size, c: find(results, 'camwire', n, size), r: find(results, 'raw', n, size) })));
  const v = (m: Measurement | undefined, f: (m: Measurement) => number | undefined): number => (m ? (f(m) ?? NaN) : NaN);
  const hotMark = (m: Measurement | undefined): string => (m?.throughput?.load.hot.length ? '!' : '');

  const main = table(
    ['N', 'size', 'W', 'MB/s', 'raw', 'x raw', 'CPU ms/GB', 'raw', 'x raw', 'p50 ms', 'raw', 'x raw', 'p99 ms', 'raw', 'x raw', 'RSS MiB', 'raw', 'x raw'],
    pairs.map(({ n, size, c, r }) => {
      const cell = (f: (m: Measurement) => number | undefined, fmt: (x: number) => string = (x) => num(x)): string[] => [
        fmt(v(c, f)),
        fmt(v(r, f)),
        ratio(v(c, f), v(r, f)),
      ];
      const [mc, mr, mx] = cell((m) => m.throughput?.MBps);
      return [
        String(n),
        sizeName(size),
        String(c?.window ?? r?.window ?? windowFor(n, size)),
        mc + hotMark(c),
        mr + hotMark(r),
        mx,
        ...cell(cpuPerGB, (x) => num(x, 0)),
        ...cell((m) => m.latency?.p50),
        ...cell((m) => m.latency?.p99),
        ...cell((m) => m.relay.peakRss, mib),
      ];
    }),
    ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const loads = table(
    ['system', 'N', 'size', 'pub CPU', 'reader children CPU', 'relay CPU', `all (of ${os.cpus().length * 100}%)`, 'deliv/exp', 'relay drops', 'frames', 'loaded p50', 'loaded p99', 'lat n', 'note'],
    pairs.flatMap(({ c, r }) =>
      [c, r]
        .filter((m): m is Measurement => m?.throughput !== undefined)
        .map((m) => {
          const t = m.throughput!;
          return [
            m.system,
            String(m.n),
            sizeName(m.size),
            pct(t.load.pubCpuPct),
            t.load.readerCpuPct.map(pct).join(' / '),
            pct(t.load.relayCpuPct),
            pct(t.load.allCpuPct),
            num(t.delivered / (t.sent * m.n), 3),
            String(m.relayCounters.dropped ?? 0),
            String(t.completed),
            num(t.loaded.p50),
            num(t.loaded.p99),
            String(m.latency?.samples ?? 0),
            t.load.hot.length ? `HARNESS HOT: ${t.load.hot.join(', ')}` : '',
          ];
        }),
    ),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  );

  console.log('\nFan-out through a relay, camwire MediaServer vs the raw relay (ratios camwire / raw):');
  console.log('MB/s = payload delivered to all readers per second (MB = 10^6 B; median of rounds) with W frames in flight;');
  console.log('CPU ms/GB = relay process CPU per delivered GB over the throughput phases; p50/p99 = send call -> frame parsed by the');
  console.log('reader (another process, shared clock) with 1 frame in flight, every reader a sample; RSS = relay peak (VmHWM);');
  console.log(`! = a harness process (publisher or a reader child) used >= ${HOT_PCT}% of a core in that throughput phase: the figure may be the harness's\n`);
  console.log(main);
  console.log('\nLoad in the throughput phases, % of one core (pub = this process; one figure per reader child); deliv/exp = deliveries /');
  console.log('(frames sent x N); relay drops = frames the relay skipped for a reader that could not keep up; loaded p50/p99 = latency');
  console.log('with W frames in flight, ms; lat n = latency samples of the window-1 phase\n');
  console.log(loads);

  let pacedSummary: object | undefined;
  const pcC = pacedResults.find((m) => m.system === 'camwire');
  const pcR = pacedResults.find((m) => m.system === 'raw');
  if (cfg.paced && pacedResults.length) {
    console.log(`\nPaced latency, N = ${cfg.paced.n}, ${sizeName(cfg.paced.size)} at ${cfg.paced.fps} frames/s (open loop; send call -> frame parsed by the reader, ms)\n`);
    console.log(
      table(
        ['system', 'frames', 'samples', 'p50', 'p99', 'x raw', 'p99 per round', 'max', 'late', 'load'],
        pacedResults.map((m) => [
          m.system,
          String(m.paced!.frames),
          String(m.paced!.samples),
          num(m.paced!.p50),
          num(m.paced!.p99),
          m.system === 'camwire' ? ratio(v(pcC, (x) => x.paced?.p99), v(pcR, (x) => x.paced?.p99)) : '',
          m.paced!.p99Rounds.map((x) => num(x)).join(' / '),
          num(m.paced!.max),
          String(m.paced!.late),
          loadText(m.paced!.load),
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
      ),
    );
    pacedSummary = pacedResults.map((m) => ({ system: m.system, ...m.paced }));
  }

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
          num(v(none, (m) => m.latency?.p99)),
          num(v(slow, (m) => m.latency?.p99)),
          ratio(v(slow, (m) => m.latency?.p99), v(none, (m) => m.latency?.p99)),
          num(v(none, (m) => m.throughput?.loaded.p99)),
          num(v(slow, (m) => m.throughput?.loaded.p99)),
          ratio(v(slow, (m) => m.throughput?.loaded.p99), v(none, (m) => m.throughput?.loaded.p99)),
          num(v(none, (m) => m.throughput?.MBps)),
          num(v(slow, (m) => m.throughput?.MBps)),
          ratio(v(slow, (m) => m.throughput?.MBps), v(none, (m) => m.throughput?.MBps)),
          String(v(slow, (m) => (m.throughput?.slowDelivered ?? 0) + (m.latency?.slowDelivered ?? 0))),
          String(v(slow, (m) => m.relayCounters.dropped ?? 0)),
          String(v(slow, (m) => m.relayCounters.cut ?? 0)),
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    throttleSummary = rows.map(({ s, none, slow }) => ({
      system: s,
      p99None: none?.latency?.p99,
      p99Slow: slow?.latency?.p99,
      loadedP99None: none?.throughput?.loaded.p99,
      loadedP99Slow: slow?.throughput?.loaded.p99,
    }));
  }

  let storeCheck: object | undefined;
  const sm = storeChecked.find((m) => m.store === 'memory');
  const sq = storeChecked.find((m) => m.store === 'sqlite');
  if (sm && sq) {
    const metrics: Array<[string, (m: Measurement) => number | undefined]> = [
      ['MB/s', (m) => m.throughput?.MBps],
      ['p50 ms', (m) => m.latency?.p50],
      ['p99 ms', (m) => m.latency?.p99],
      ['loaded p99 ms', (m) => m.throughput?.loaded.p99],
      ['relay CPU ms/GB', cpuPerGB],
      ['peak RSS MiB', (m) => m.relay.peakRss / MiB],
      ['set-up s', (m) => m.setupMs / 1000],
    ];
    console.log('\nStore check, N = 100, 64 KB: the camwire relay on a SqliteStore vs a MemoryStore (same rounds, interleaved; the media');
    console.log("path never touches the store, so sqlite / memory should be about 1 up to noise; set-up includes the relay child's");
    console.log('start and its store writes: one per client connection; contact lists are not stored, keepClientInfo being off)\n');
    console.log(table(['metric', 'memory', 'sqlite', 'sqlite/memory'], metrics.map(([k, f]) => [k, num(v(sm, f)), num(v(sq, f)), ratio(v(sq, f), v(sm, f))]), ['l', 'r', 'r', 'r']));
    storeCheck = Object.fromEntries(metrics.map(([k, f]) => [k, { memory: v(sm, f), sqlite: v(sq, f), ratio: v(sq, f) / v(sm, f) }]));
  }

  // Goals (ratios camwire / raw).
  const goals: Array<{ goal: string; value: number; limit: string; met: boolean; note: string }> = [];
  const pairOf = (n: number, size: number) => pairs.find((p) => p.n === n && p.size === size);
  const hotNote = (...ms: Array<Measurement | undefined>): string => {
    const hot = ms.flatMap((m) => (m?.throughput?.load.hot ?? m?.paced?.load.hot ?? []).map((h) => `${m!.system} ${h}`));
    return hot.length ? `harness hot (${hot.join(', ')}): the ratio may be the harness's` : '';
  };
  const tpGoal = (n: number, size: number, min: number): void => {
    const p = pairOf(n, size);
    if (!p?.c?.throughput || !p.r?.throughput) return;
    const x = p.c.throughput.MBps / p.r.throughput.MBps;
    goals.push({ goal: `throughput, N = ${n}, ${sizeName(size)}`, value: x, limit: `>= ${min.toFixed(2)}x`, met: x >= min, note: hotNote(p.c, p.r) });
  };
  tpGoal(100, 1024, 0.8);
  tpGoal(100, 64 * 1024, 0.9);
  tpGoal(500, 64 * 1024, 0.9);
  const rss = pairs.filter((p) => p.c && p.r).map((p) => ({ p, x: p.c!.relay.peakRss / p.r!.relay.peakRss }));
  if (rss.length) {
    const worst = rss.reduce((a, b) => (b.x > a.x ? b : a));
    const at64 = rss.find((q) => q.p.n === 100 && q.p.size === 64 * 1024);
    goals.push({
      goal: `peak RSS, every case (worst: N = ${worst.p.n}, ${sizeName(worst.p.size)})`,
      value: worst.x,
      limit: '<= 1.50x',
      met: worst.x <= 1.5,
      note: `${at64 ? `N = 100, 64 KB: ${at64.x.toFixed(2)}x; ` : ''}range ${Math.min(...rss.map((q) => q.x)).toFixed(2)}-${worst.x.toFixed(2)}x`,
    });
  }
  if (pcC?.paced && pcR?.paced) {
    const x = pcC.paced.p99 / pcR.paced.p99;
    goals.push({
      goal: `p99, N = ${cfg.paced!.n}, ${sizeName(cfg.paced!.size)} at ${cfg.paced!.fps} frames/s`,
      value: x,
      limit: '<= 1.20x',
      met: x <= 1.2,
      note:
        `${num(pcC.paced.p99)} vs ${num(pcR.paced.p99)} ms pooled; median of the rounds' p99 ` +
        `${(median(pcC.paced.p99Rounds) / median(pcR.paced.p99Rounds)).toFixed(2)}x${hotNote(pcC, pcR) ? `; ${hotNote(pcC, pcR)}` : ''}`,
    });
  }
  if (goals.length) {
    console.log('\nGoals (camwire / raw):\n');
    console.log(
      table(
        ['goal', 'camwire / raw', 'target', '', 'note'],
        goals.map((g) => [g.goal, `${g.value.toFixed(2)}x`, g.limit, g.met ? 'MET' : 'NOT MET', g.note]),
        ['l', 'r', 'l', 'l', 'l'],
      ),
    );
  }

  const problems = [...results, ...pacedResults, ...throttled, ...storeChecked].flatMap((m) =>
    m.problems.map((p) => `${m.system} N=${m.n} ${sizeName(m.size)}${m.slow ? ' slow' : ''}: ${p}`),
  );
  if (problems.length) console.log(`\nUnexpected events: ${problems.length}\n  ${problems.slice(0, 20).join('\n  ')}`);
  let mainPeak = process.memoryUsage.rss();
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) mainPeak = Number(hwm[1]) * 1024;
  } catch {
    // not Linux: the current RSS will do
  }
  console.log(
    `\nShared clock at the end, each reader child minus this process: ` +
      clockCheckEnd.map((c) => `${(c.offsetMs * 1000).toFixed(1)} us (+-${(c.boundMs * 1000).toFixed(1)} us)`).join(', '),
  );
  console.log(`Fan-out run time: ${seconds.toFixed(1)} s; this process (publishers) peaked at ${mib(mainPeak)} MiB RSS; load average at the end ${loadavg()} (other work on the host skews the figures)`);

  const out = path.resolve(here, '..', '..', 'bench', 'fanout-results.json');
  const strip = (m: Measurement): object => m;
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    config: { ...cfg, maxWindow: MAX_WINDOW, stallMs: STALL_MS, slowRate: SLOW_RATE, hotPct: HOT_PCT },
    clockCheck,
    clockCheckEnd,
    runSeconds: Number(seconds.toFixed(1)),
    mainPeakRss: mainPeak,
    loadAverageAtEnd: os.loadavg(),
    goals,
    paced: pacedSummary,
    throttle: throttleSummary,
    storeCheck,
    results: results.map(strip),
    pacedResults: pacedResults.map(strip),
    throttled: throttled.map(strip),
    storeChecked: storeChecked.map(strip),
  };
  writeFileSync(out, JSON.stringify(json, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2) + '\n');
  console.log(`Fan-out results written to ${path.relative(process.cwd(), out) || out}`);
}

