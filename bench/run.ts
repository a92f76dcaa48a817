/**
 * camwire benchmark: video frames of 1 KB, 64 KB and 1 MB over TCP push, UDP push, HTTP push
 * and TCP pull, each beside a raw baseline measured in the same run (raw TCP for the TCP and
 * HTTP cases, raw UDP for UDP; through a proxy, raw TCP in its CONNECT tunnel or a raw chunked
 * POST to it). Both ends run in this process on 127.0.0.1.
 *
 *   npm run bench                      # everything (about 70 s on 2 cores)
 *   node build/bench/run.js --ms=1500 --rounds=5 --sizes=65536 --cases=tcp-push,udp-push   # --v8-gc=default: V8's own heap growth (see V8_GC)
 *   node build/bench/run.js --cases=http-push-proxy,http-push-proxy-plain   # through tinyproxy: tunnel (vs raw TCP in a tunnel), requests to the proxy (vs a raw chunked POST to it)
 *   node build/bench/run.js --cases=http-push,http-push-requests   # HTTP upgraded to a byte stream (the default) and request-based (httpUpgrade 'never'), both vs raw TCP
 *   node build/bench/run.js --cases=fanout   # only the MediaServer fan-out bench (fanout.ts; also `--cases fanout`)
 *   node build/bench/run.js --cases=store    # only the server store bench (store.ts; also `--cases store`)
 *   node build/bench/run.js --cases=files    # only the file transfer bench (files.ts: raw copy, direct, through a server)
 *   node build/bench/run.js --cases=idle     # only the idle-channels bench (idle.ts: 10 000 open channels on a MediaServer)
 *   node build/bench/run.js --cases=hooks    # only the media hooks bench (hooks.ts)
 *   node build/bench/run.js --cases=codec    # only the compressed video bench (codec.ts: bytes/s at equal SSIM, glass-to-glass latency)
 *   node build/bench/run.js --cases=change   # only the change-detection bench (change.ts; also `--cases change`)
 *   node build/bench/run.js --cases=cluster  # only the cluster bench (cluster.ts: nats-server and 3 servers)
 *
 * Prints tables and writes bench/results.json. See drive.ts for how load is offered and
 * how latency is measured.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver, constants as perfConstants, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { camwirePair, type CamwireCase } from './camwire.js';
import { runLatency, runThroughput, summarize, type LatencyResult, type LatencySummary, type ThroughputResult } from './drive.js';
import type { Pair } from './pair.js';
import { rawHttpProxyPair, rawTcpPair, rawUdpPair } from './raw.js';
import { startProxy } from '../test/helpers/proxy.js';
import { runFanoutBench } from './fanout.js';
import { runStoreBench } from './store.js';
import { runFilesBench } from './files.js';
import { runIdleBench } from './idle.js';
import { runHooksBench } from './hooks.js';
import { runCodecBench } from './codec.js';
import { runChangeBench } from './change.js';
import { runClusterBench } from './cluster.js';
import { median, num, ratio, sizeName, sum, table } from './table.js';
import { cpuTimes, stealLine } from './host.js';
import { describeCamwire } from './lib.js';

// ---------------------------------------------------------------- configuration

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v = ''] = a.replace(/^--/, '').split('=', 2);
    return [k, v] as const;
  }),
);
const MEASURE_MS = Number(args.get('ms') ?? 1500);
const WARMUP_MS = Number(args.get('warmup') ?? 300);
const ROUNDS = Math.max(1, Number(args.get('rounds') ?? 5));
const REWARM_MS = 50;
const SIZES = (args.get('sizes') ?? '1024,65536,1048576').split(',').map(Number);
/** Benches other than the point-to-point cases; each runs with the rest, or alone with --cases=<name>. */
const EXTRA_BENCHES = ['fanout', 'files', 'idle', 'store', 'hooks', 'codec', 'change', 'cluster'];
const ALL_CASES: CamwireCase[] = ['tcp-push', 'udp-push', 'http-push', 'http-push-requests', 'http-push-proxy', 'tcp-pull'];
const CASES = (args.get('cases')?.split(',').filter((c) => c && !EXTRA_BENCHES.includes(c)) as CamwireCase[] | undefined) ?? ALL_CASES;
/** Whether the extra bench `name` runs: with everything (no --cases), or when --cases names it. */
const runs = (name: string): boolean => !args.has('cases') || (args.get('cases') ?? '').split(',').includes(name) || (args.get('cases') === '' && args.has(name));
/** Bytes the throughput driver keeps in flight (at least 2, at most 64 frames). */
const WINDOW_BYTES = 256 * 1024;
const windowFor = (size: number): number => Math.max(2, Math.min(64, Math.floor(WINDOW_BYTES / size)));
/** Pace of the latency run: one frame per interval (or slower, when a frame takes longer). */
const intervalFor = (size: number): number => (size <= 4096 ? 1 : size <= 256 * 1024 ? 2 : 5);
/**
 * --v8-gc=steady (default) | default. Both ends of every pair share this process, which moves
 * hundreds of MB/s of 64 KB frames through an old generation of 8 to 13 MB. V8 then starts a
 * mark-compact after nearly every scavenge (it counts the ArrayBuffer bytes allocated since the last
 * one against the old generation's room): 50 to 100 in a 1.5 s run, for raw and camwire pairs
 * alike, which swings either side's figures by 2 to 3 times (bench/FANOUT.md, "HTTP push at 64 KB:
 * the mark-compact storm is V8's"). It is V8's reaction to any process that takes 0.5-1 GB/s in
 * 64 KB buffers (it hits applications with larger heaps too, once a mark-compact ran with a low
 * growth factor), not a cost of either transport; at 1 KB it does not occur. `steady` sets
 * --heap-growing-percent=500 while the point-to-point cases run (a heap limit that grows fivefold
 * after a mark-compact), so the figures measure the transports, not the storm; `default` keeps
 * V8's own setting. The mark-compacts of each size are printed either way.
 */
const V8_GC = args.get('v8-gc') ?? 'steady';
/** camwire's UDP receiver counts an incomplete frame when it expires (after 2 s). */
const UDP_EXPIRY_WAIT_MS = 2600;

/**
 * camwire's HTTP through a proxy's CONNECT tunnel is measured against raw TCP through the same
 * tunnel; its requests to the proxy (http-push-proxy-plain) against a raw chunked POST to the same
 * proxy, since the proxy relays the two ways differently.
 */
const baselineOf = (c: CamwireCase): 'tcp' | 'udp' | 'tcp-proxy' | 'http-proxy' =>
  c === 'udp-push' ? 'udp' : c === 'http-push-proxy-plain' ? 'http-proxy' : c === 'http-push-proxy' ? 'tcp-proxy' : 'tcp';

// ---------------------------------------------------------------- measuring

/** One pair's figures at one frame size, over all rounds. */
interface Measured {
  key: string;
  label: string;
  size: number;
  throughput: {
    window: number;
    /** Median over the rounds. */
    MBps: number;
    fps: number;
    /** Per round. */
    MBpsRounds: number[];
    sent: number;
    delivered: number;
    dropped: number;
    undelivered: number;
    writeOffs: number;
    /** CPU time of the process per delivered frame, microseconds (all rounds). */
    cpuUsPerFrame: number;
    bad: number;
    stray: number;
    timedOut: boolean;
    /** Latency during the throughput runs (includes queueing in the window). */
    loaded: LatencySummary;
  };
  /** Paced latency, samples of all rounds pooled. */
  latency: LatencySummary & {
    intervalMs: number;
    /** p99 of each round alone (shows how much one disturbed round moves the pooled p99). */
    p99Rounds: number[];
    sent: number;
    lost: number;
    late: number;
    bad: number;
    stray: number;
    timedOut: boolean;
  };
  /** Transport counters over the whole size (warm-ups included). */
  extra: Record<string, number>;
  /** Unexpected events (connect errors, protocol errors). */
  problems: string[];
}

interface Entry {
  key: string;
  make: (problems: string[]) => Promise<Pair>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const loadavg = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');

/**
 * Measures every entry at one frame size. The pairs stay open together and are measured in
 * ROUNDS interleaved slices (the order rotates each round), so drift in machine speed hits
 * camwire and its baseline alike; throughput is the median of the slices, latency percentiles
 * come from the pooled samples.
 */
async function measureSize(size: number, entries: Entry[]): Promise<Measured[]> {
  const window = windowFor(size);
  const intervalMs = intervalFor(size);
  const slice = MEASURE_MS / ROUNDS;
  const open: { e: Entry; pair: Pair; problems: string[]; tps: ThroughputResult[]; lats: LatencyResult[] }[] = [];
  try {
    for (const e of entries) {
      const problems: string[] = [];
      open.push({ e, pair: await e.make(problems), problems, tps: [], lats: [] });
    }
    for (const o of open) {
      await runThroughput(o.pair, { size, window, durationMs: WARMUP_MS });
      await runLatency(o.pair, { size, intervalMs, durationMs: Math.min(WARMUP_MS, 150) });
    }
    for (let r = 0; r < ROUNDS; r++) {
      const order = open.map((_, i) => open[(i + r) % open.length]);
      for (const o of order) {
        // A short re-warm: an idle camwire push lane may have closed (idleTimeoutMs) and reconnects here.
        await runThroughput(o.pair, { size, window, durationMs: REWARM_MS });
        o.tps.push(await runThroughput(o.pair, { size, window, durationMs: slice }));
        o.lats.push(await runLatency(o.pair, { size, intervalMs, durationMs: slice }));
      }
    }
    const lossy = open.some((o) => o.pair.lossy && (o.tps.some((t) => t.undelivered > 0) || o.lats.some((l) => l.lost > 0)));
    if (lossy) await sleep(UDP_EXPIRY_WAIT_MS);
    return open.map((o) => {
      const t = o.tps;
      const l = o.lats;
      const m: Measured = {
        key: o.e.key,
        label: o.pair.label,
        size,
        throughput: {
          window,
          MBps: median(t.map((x) => x.MBps)),
          fps: median(t.map((x) => x.fps)),
          MBpsRounds: t.map((x) => x.MBps),
          sent: sum(t.map((x) => x.sent)),
          delivered: sum(t.map((x) => x.delivered)),
          dropped: sum(t.map((x) => x.dropped)),
          undelivered: sum(t.map((x) => x.undelivered)),
          writeOffs: sum(t.map((x) => x.writeOffs)),
          cpuUsPerFrame: (sum(t.map((x) => x.cpuMs)) * 1000) / sum(t.map((x) => x.delivered)),
          bad: sum(t.map((x) => x.bad)),
          stray: sum(t.map((x) => x.stray)),
          timedOut: t.some((x) => x.timedOut),
          loaded: summarize(t.flatMap((x) => x.loadedValues)),
        },
        latency: {
          ...summarize(l.flatMap((x) => x.values)),
          intervalMs,
          p99Rounds: l.map((x) => x.p99),
          sent: sum(l.map((x) => x.sent)),
          lost: sum(l.map((x) => x.lost)),
          late: sum(l.map((x) => x.late)),
          bad: sum(l.map((x) => x.bad)),
          stray: sum(l.map((x) => x.stray)),
          timedOut: l.some((x) => x.timedOut),
        },
        extra: o.pair.extra(),
        problems: o.problems,
      };
      const tt = m.throughput;
      const ll = m.latency;
      console.log(
        `  ${m.label.padEnd(18)} ${sizeName(size).padStart(6)}  ` +
          `${num(tt.MBps).padStart(7)} MB/s (rounds ${tt.MBpsRounds.map((x) => num(x)).join(' / ')})  ${num(tt.fps, 0)} fps  ${num(tt.cpuUsPerFrame, 1)} us CPU/fr  ` +
          `drop ${tt.dropped}  undeliv ${tt.undelivered}  p50 ${num(ll.p50)} ms  p99 ${num(ll.p99)} ms ` +
          `(rounds ${ll.p99Rounds.map((x) => num(x)).join(' / ')}; n=${ll.samples}${ll.lost ? `, lost ${ll.lost}` : ''})` +
          (tt.timedOut || ll.timedOut ? '  TIMED OUT' : '') +
          (tt.bad || ll.bad ? `  BAD SIZE ${tt.bad + ll.bad}` : ''),
      );
      for (const p of m.problems) console.log(`    ! ${p}`);
      return m;
    });
  } finally {
    for (const o of open) await o.pair.close();
  }
}

// ---------------------------------------------------------------- main

interface Row {
  case: CamwireCase;
  size: number;
  camwire: Measured;
  baseline: Measured;
}

async function main(): Promise<void> {
  const started = performance.now();
  if (V8_GC !== 'steady' && V8_GC !== 'default') throw new Error(`--v8-gc must be steady or default, got ${V8_GC}`);
  console.log(
    `camwire bench: node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model ?? '?'}), ` +
      `${MEASURE_MS} ms per measurement (+${WARMUP_MS} ms warm-up), 127.0.0.1, load average ${loadavg()}\n` +
      (V8_GC === 'steady'
        ? 'V8 heap: --heap-growing-percent=500 while these cases run (--v8-gc=steady; --v8-gc=default for V8\'s own)\n'
        : 'V8 heap: V8\'s own growing factor (--v8-gc=default)\n'),
  );
  if (V8_GC === 'steady') v8.setFlagsFromString('--heap-growing-percent=500');
  // Mark-compacts of this process while the cases run (delivered a little after each one).
  let markCompacts = 0;
  const gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) markCompacts++;
  });
  gcs.observe({ entryTypes: ['gc'] });
  try {
    await measureAll(started, () => markCompacts);
  } finally {
    gcs.disconnect();
    // The benches that run after these in this process (npm run bench) get V8's own setting back.
    if (V8_GC === 'steady') v8.setFlagsFromString('--heap-growing-percent=0');
  }
}

async function measureAll(started: number, markCompacts: () => number): Promise<void> {
  const rows: Row[] = [];
  const baselines: Measured[] = [];
  // http-push-proxy(-plain): camwire's HTTP push through a real proxy (tinyproxy; in a CONNECT
  // tunnel, or plain requests to the proxy), beside raw TCP through the same proxy's CONNECT tunnel.
  const proxied = (b: string): boolean => CASES.some((c) => baselineOf(c) === b);
  const proxy = proxied('tcp-proxy') || proxied('http-proxy') ? await startProxy() : undefined;
  try {
    for (const size of SIZES) {
      console.log(
        `${sizeName(size)} frames: throughput window ${windowFor(size)} frames, latency pace ${intervalFor(size)} ms, ` +
          `${ROUNDS} interleaved rounds of ${Math.round(MEASURE_MS / ROUNDS)} ms each`,
      );
      const entries: Entry[] = [];
      if (CASES.some((c) => baselineOf(c) === 'tcp')) entries.push({ key: 'raw-tcp', make: () => rawTcpPair() });
      if (CASES.some((c) => baselineOf(c) === 'udp')) entries.push({ key: 'raw-udp', make: () => rawUdpPair() });
      if (proxy && proxied('tcp-proxy')) entries.push({ key: 'raw-tcp-proxy', make: () => rawTcpPair(proxy!.port) });
      if (proxy && proxied('http-proxy')) entries.push({ key: 'raw-http-proxy', make: () => rawHttpProxyPair(proxy!.port) });
      for (const c of CASES) entries.push({ key: c, make: (problems) => camwirePair(c, problems, proxy?.url) });
      const mc0 = markCompacts();
      const measured = await measureSize(size, entries);
      console.log(`  V8 mark-compacts of this process during the ${sizeName(size)} cases: ${markCompacts() - mc0}`);
      const by = new Map(measured.map((m) => [m.key, m]));
      for (const m of measured) if (m.key.startsWith('raw-')) baselines.push(m);
      for (const c of CASES) rows.push({ case: c, size, camwire: by.get(c)!, baseline: by.get(`raw-${baselineOf(c)}`)! });
      console.log('');
    }
  } finally {
    await proxy?.stop();
  }

  // Throughput and latency beside their baselines.
  const figures = table(
    ['case', 'size', 'MB/s', 'raw MB/s', 'x raw', 'frames/s', 'CPU us/fr', 'raw', 'x raw', 'p50 ms', 'raw p50', 'x raw', 'p99 ms', 'raw p99', 'x raw'],
    rows.map((r) => {
      const t = r.camwire.throughput;
      const bt = r.baseline.throughput;
      const l = r.camwire.latency;
      const bl = r.baseline.latency;
      return [
        r.case,
        sizeName(r.size),
        num(t.MBps),
        num(bt.MBps),
        ratio(t.MBps, bt.MBps),
        num(t.fps, 0),
        num(t.cpuUsPerFrame, 1),
        num(bt.cpuUsPerFrame, 1),
        ratio(t.cpuUsPerFrame, bt.cpuUsPerFrame),
        num(l.p50),
        num(bl.p50),
        ratio(l.p50, bl.p50),
        num(l.p99),
        num(bl.p99),
        ratio(l.p99, bl.p99),
      ];
    }),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );

  // Where frames went: drops (latest-wins), losses (UDP), sample counts.
  const all = [...baselines.map((b) => ({ name: b.key, m: b })), ...rows.map((r) => ({ name: r.case, m: r.camwire }))].sort(
    (a, b) => a.m.size - b.m.size,
  );
  const loss = table(
    ['case', 'size', 'window', 'sent', 'delivered', 'dropped', 'undeliv', 'incompl', 'lat n', 'lat lost', 'loaded p50', 'loaded p99'],
    all.map(({ name, m }) => [
      name,
      sizeName(m.size),
      String(m.throughput.window),
      String(m.throughput.sent),
      String(m.throughput.delivered),
      String(m.throughput.dropped),
      String(m.throughput.undelivered),
      m.extra.incomplete === undefined ? '' : String(m.extra.incomplete),
      String(m.latency.samples),
      String(m.latency.lost),
      num(m.throughput.loaded.p50),
      num(m.throughput.loaded.p99),
    ]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );

  const goalRow = rows.find((r) => r.case === 'tcp-push' && r.size === 64 * 1024);
  let goal: { throughputRatio: number; p99Ratio: number; throughputMet: boolean; p99Met: boolean } | undefined;
  if (goalRow) {
    const tr = goalRow.camwire.throughput.MBps / goalRow.baseline.throughput.MBps;
    const lr = goalRow.camwire.latency.p99 / goalRow.baseline.latency.p99;
    goal = { throughputRatio: tr, p99Ratio: lr, throughputMet: tr >= 0.8, p99Met: lr <= 1.5 };
  }

  const seconds = (performance.now() - started) / 1000;
  console.log('Throughput (delivered, median of rounds; MB = 10^6 bytes), CPU time of the process per delivered frame in the');
  console.log('throughput run, and latency (send call -> receive event, paced, pooled samples), camwire vs its raw baseline');
  console.log('(raw TCP for tcp-push, http-push, http-push-requests, tcp-pull; raw TCP through the proxy\'s CONNECT tunnel for http-push-proxy; a raw');
  console.log('chunked POST to the proxy for http-push-proxy-plain; raw UDP for udp-push). Ratios are camwire / raw.\n');
  console.log(figures);
  console.log('\nFrames: dropped = camwire latest-wins drops (sender.stats.dropped.video); undeliv = sent, not dropped, never');
  console.log('delivered (UDP loss); incompl = incomplete UDP frames over the whole case; lat n / lat lost = latency samples /');
  console.log('frames lost in the paced run; loaded p50/p99 = latency during the throughput run (includes queueing), ms\n');
  console.log(loss);
  if (goal) {
    console.log(
      `\nGoal at 64 KB, TCP push: throughput ${goal.throughputRatio.toFixed(2)}x raw (goal >= 0.80x: ${goal.throughputMet ? 'met' : 'NOT met'}), ` +
        `p99 latency ${goal.p99Ratio.toFixed(2)}x raw (goal <= 1.50x: ${goal.p99Met ? 'met' : 'NOT met'})`,
    );
  }
  const problems = [...baselines, ...rows.map((r) => r.camwire)].flatMap((m) => m.problems.map((p) => `${m.label} ${sizeName(m.size)}: ${p}`));
  if (problems.length) console.log(`\nUnexpected events during the run:\n  ${problems.join('\n  ')}`);
  console.log(`\nTotal run time: ${seconds.toFixed(1)} s; load average at the end ${loadavg()} (other work on the host skews the figures)`);

  const here = path.dirname(fileURLToPath(import.meta.url));
  // build/bench/run.js -> <repo>/bench/results.json
  const out = path.resolve(here, '..', '..', 'bench', 'results.json');
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    config: { v8Gc: V8_GC, measureMs: MEASURE_MS, rounds: ROUNDS, warmupMs: WARMUP_MS, rewarmMs: REWARM_MS, windowBytes: WINDOW_BYTES, sizes: SIZES, cases: CASES },
    runSeconds: Number(seconds.toFixed(1)),
    loadAverageAtEnd: os.loadavg(),
    goal,
    baselines: baselines.map(strip),
    cases: rows.map((r) => ({
      case: r.case,
      size: r.size,
      baseline: r.baseline.label,
      ratios: {
        throughput: r.camwire.throughput.MBps / r.baseline.throughput.MBps,
        p50: r.camwire.latency.p50 / r.baseline.latency.p50,
        p99: r.camwire.latency.p99 / r.baseline.latency.p99,
      },
      camwire: strip(r.camwire),
      raw: { MBps: r.baseline.throughput.MBps, fps: r.baseline.throughput.fps, p50: r.baseline.latency.p50, p99: r.baseline.latency.p99 },
    })),
  };
  writeFileSync(out, JSON.stringify(json, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  console.log(`Results written to ${path.relative(process.cwd(), out) || out}`);
}

function strip(m: Measured): object {
  return { key: m.key, label: m.label, size: m.size, throughput: m.throughput, latency: m.latency, extra: m.extra, problems: m.problems };
}

/** The extra benches, in the order they run after the point-to-point cases. */
const EXTRA: Record<string, (argv: string[]) => Promise<void>> = {
  fanout: runFanoutBench,
  files: runFilesBench,
  idle: runIdleBench,
  store: runStoreBench,
  hooks: runHooksBench,
  codec: runCodecBench,
  change: runChangeBench,
  cluster: runClusterBench,
};

async function all(): Promise<void> {
  console.log(`camwire under test: ${describeCamwire()}`);
  if (CASES.length) {
    const h0 = cpuTimes();
    await main();
    console.log(stealLine('the point-to-point cases', h0, cpuTimes()));
  }
  for (const [name, run] of Object.entries(EXTRA)) {
    if (!runs(name)) continue;
    const h0 = cpuTimes();
    await run(process.argv.slice(2));
    console.log(stealLine(`the ${name} bench`, h0, cpuTimes()));
  }
}

all().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
