/**
 * Cluster benchmark (issue 13; docs/cluster.md, Benchmark): one publisher on node A, N
 * raw-protocol readers spread over 3 nodes of a cluster over NATS, against the same N readers on
 * one server. Paced load (frames of --cluster-size bytes at --cluster-fps), so both deliver the
 * same frames and the CPU each process spends per delivered GB compares directly.
 *
 *   npm run build:test && node build/bench/run.js --cases=cluster
 *   node build/bench/run.js --cases=cluster --cluster-rounds=20 --cluster-ms=1500 --cluster-warmup-ms=10000   (the defaults)
 *   node build/bench/run.js --cases=cluster --cluster-prof=/tmp/prof   (a .cpuprofile per server: bench/prof-top.ts)
 *   node build/bench/run.js --cases=cluster --cluster-n=300 --cluster-size=65536 --cluster-fps=30
 *   node build/bench/run.js --cases=cluster --cluster-cli=build/base-dist/cli/main.js   (the servers of another build)
 *   node build/bench/run.js --cases=cluster --cluster-receive=1   (instead: a receiving node's cost per NATS message alone, cluster-receive.ts)
 *   node build/bench/run.js --cases=cluster --cluster-node-flags=--max-semi-space-size=1   (Node/V8 flags, comma-separated, for every server: the one server and the nodes alike)
 *   node build/bench/run.js --cases=cluster --cluster-node-flags=--trace-deopt --cluster-log=/tmp/logs   (each server's output into DIR/<name>.log)
 *
 * Processes, all on 127.0.0.1: a nats-server with JetStream (temporary store), the servers as
 * `camwire server` child processes (the CLI, as users run them; HTTP and UDP off, nothing on
 * disk), the readers in the fan-out bench's reader children (fanout-readers.ts: bare sockets
 * speaking the pull protocol), the publishers in this process (fanout-pub.ts: a bare socket
 * speaking the push protocol, every reader one of its default receivers: since they are on both
 * other nodes, one NATS message per frame on the shared subject, docs/cluster.md).
 *
 * Both cases are set up once and stay up for the whole run (the one server, the three nodes, both
 * sets of readers and both publishers), so that each case runs beside the same processes. Each
 * gets the same warm-up (--cluster-warmup-ms of the same load, not counted), then the bench
 * measures them in --cluster-rounds rounds of --cluster-ms each, in the order one/cluster,
 * cluster/one, one/cluster...: drift in the machine's load (other work on a shared machine comes and
 * goes over seconds) falls on both alike; short rounds, many of them, interleave the two finely. Every round's
 * figures and ratios are printed, then the ratios' medians and range, and the ratios of the CPU
 * and bytes summed over all rounds; the latencies are pooled over the rounds (a p99 of one round
 * rests on its slowest frame or two: every frame gives N samples, one per reader, close together).
 *
 * CPU of each server and of NATS: /proc/<pid>/stat (user + system) over the measured time; the
 * system part (socket writes: the kernel's share) and the main thread's context switches
 * (/proc/<pid>/status) printed apart; the harness's own CPU (this process: publisher; the reader
 * children) too, since it shares the 2 cores. Latency: the readers' clock at the frame's last byte
 * minus the publisher's stamp. Prints tables and the ratios of the issue's goals; asserts nothing.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runReceiveBench } from './cluster-receive.js';
import { cpuMs, cpuSplit, delay, start, stop, switches } from './cluster-procs.js';
import { camwireWirePublisher, type Publisher } from './fanout-pub.js';
import { clock, ReaderPool, type ReaderSpec } from './fanout-readers.js';
import { median, num, table } from './table.js';
import { freePort } from '../test/helpers/ports.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The CLI the servers run (--cluster-cli=PATH: another build, to compare two versions in one run). */
let CLI = path.join(ROOT, 'dist/cli/main.js');

interface Proc {
  child: ChildProcess;
  port: number;
}

/** All readers come from 127.0.0.1: no per-address connection limits (docs/limits.md). */
let configFile = '';
/** --cluster-prof=DIR: each server runs with --cpu-prof into DIR (stopped with SIGINT so that it writes it). */
let profDir = '';
/** --cluster-node-flags=A,B: Node/V8 flags for every server, the one server and the nodes alike (docs/cluster.md, Benchmark). */
let nodeFlags: string[] = [];
/** --cluster-log=DIR: each server's output (stdout and stderr) into DIR/<name>.log, for flags such as --trace-deopt. */
let logDir = '';
const logs: fs.WriteStream[] = [];
/** A line in every server's log (--cluster-log), between the lines the servers write: where the bench was. */
function mark(what: string): void {
  for (const l of logs) l.write(`=== bench: ${what} at ${new Date().toISOString()}\n`);
}

async function camwireServer(extra: string[]): Promise<Proc> {
  const name = extra.find((a) => a.startsWith('bench')) ?? 'single';
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const { child, m } = await start(process.execPath, [...nodeFlags, ...prof, CLI, 'server', '--config', configFile, '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', 'off', '--http-port', 'off', '--memory', '--log-level', 'warn', ...extra], /tcp (\d+), udp/);
  child.removeAllListeners('exit');
  if (logDir) {
    const log = fs.createWriteStream(path.join(logDir, `${name}.log`));
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    logs.push(log);
  }
  return { child, port: Number(m[1]) };
}

interface Options {
  n: number;
  size: number;
  fps: number;
  ms: number;
  warmupMs: number;
  rounds: number;
}

/** One case, set up once: its servers, its readers (a rig of the pool per server) and its publisher. */
interface Case {
  label: string;
  servers: Proc[];
  /** Rig k: the readers on servers[k]. */
  rigs: number[];
  pub: Publisher;
}

/** What one case did in one round. */
interface Result {
  round: number;
  load: number;
  sent: number;
  delivered: number;
  bytes: number;
  seconds: number;
  cpuMs: number[];
  /** Each server's system CPU (ms; part of cpuMs) and context switches over the measured time. */
  sysMs: number[];
  switches: number[];
  /** nats-server's CPU over the same time. */
  natsMs: number;
  /** The harness's CPU: this process (publisher) and the reader children. */
  pubMs: number;
  readersMs: number;
  samples: Float64Array;
  /** The same samples by server (the readers on each; sorted). */
  byServer: Float64Array[];
}

function pct(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

const IDLE_MS = 3000;
/** After a round's last frame: the frames still in flight reach the readers (counted), then the round ends. */
const SETTLE_MS = 300;

async function setUp(label: string, firstRig: number, servers: Proc[], pool: ReaderPool, o: Options): Promise<Case> {
  const specs: ReaderSpec[] = Array.from({ length: o.n }, (_, i) => ({ i, port: servers[i % servers.length].port, id: `r${i}`, fast: true }));
  // A rig per server, so that each server's readers have their own latency samples.
  const rigs = servers.map((_, k) => firstRig + k);
  for (let k = 0; k < servers.length; k++) {
    const mine = specs.filter((s) => s.i % servers.length === k).map((s, j) => ({ ...s, i: j }));
    await pool.open(rigs[k], 'camwire', mine);
  }
  // Presence of the readers on the other nodes (a few ms on one machine), then the publisher's default receivers.
  await delay(1000);
  const pub = await camwireWirePublisher(servers[0].port, specs.map((s) => s.id));
  return { label, servers, rigs, pub };
}

/** Frames at the measured rate for `ms`, stamped with run id `run` (the readers count only their phase's run); resolves with the frames sent. */
function paced(c: Case, o: Options, ms: number, run: number): Promise<number> {
  let seq = 0;
  return new Promise<number>((resolve) => {
    const t0 = clock();
    const iv = setInterval(() => {
      if (clock() - t0 >= ms) {
        clearInterval(iv);
        resolve(seq);
        return;
      }
      const p = Buffer.alloc(o.size);
      p.writeDoubleLE(clock(), 0);
      p.writeUInt32LE(++seq, 8);
      p.writeUInt32LE(run, 12);
      c.pub.send(p);
    }, 1000 / o.fps);
  });
}

async function measure(c: Case, round: number, pool: ReaderPool, o: Options, natsPid: number): Promise<Result> {
  const run = 1 + Math.floor(Math.random() * 1e9);
  for (const rig of c.rigs) await pool.phase(rig, run, o.size, () => {});
  const pids = [...c.servers.map((s) => s.child.pid!), natsPid];
  const load = os.loadavg()[0];
  const cpu0 = pids.map(cpuMs);
  const sys0 = pids.map((p) => cpuSplit(p)[1]);
  const sw0 = pids.map(switches);
  const self0 = process.cpuUsage();
  const t0 = clock();
  mark(`round ${round + 1}, ${c.label}, starts`);
  const sent = await paced(c, o, o.ms, run);
  mark(`round ${round + 1}, ${c.label}, ends`);
  await delay(SETTLE_MS);
  const cpu1 = pids.map(cpuMs);
  const sysMs = pids.slice(0, -1).map((p, i) => cpuSplit(p)[1] - sys0[i]);
  const sw = pids.slice(0, -1).map((p, i) => switches(p) - sw0[i]);
  const seconds = (clock() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const tallies = [];
  for (const rig of c.rigs) tallies.push(await pool.end(rig));
  const byServer = tallies.map((t) => t.samples.slice().sort());
  const used = cpu1.map((x, i) => x - cpu0[i]);
  return {
    round,
    load,
    sent,
    delivered: tallies.reduce((a, t) => a + t.delivered, 0),
    bytes: tallies.reduce((a, t) => a + t.bytes, 0),
    seconds,
    cpuMs: used.slice(0, -1),
    sysMs,
    switches: sw,
    natsMs: used[used.length - 1],
    pubMs: (self.user + self.system) / 1000,
    // The reader children host every rig: their CPU over the phase is counted once.
    readersMs: tallies[0].children.reduce((a, ch) => a + ch.cpuMs, 0),
    samples: pooledSamples(byServer),
    byServer,
  };
}

const gbOf = (r: Result): number => r.bytes / 1e9;
const perGb = (r: Result, i: number): number => r.cpuMs[i] / 1000 / gbOf(r);
const total = (r: Result): number => r.cpuMs.reduce((a, b) => a + b, 0) / 1000 / gbOf(r);

/** Sorted concatenation of sets of latency samples. */
function pooledSamples(sets: Float64Array[]): Float64Array {
  const all = new Float64Array(sets.reduce((a, x) => a + x.length, 0));
  let k = 0;
  for (const x of sets) {
    all.set(x, k);
    k += x.length;
  }
  return all.sort();
}

const pooled = (rs: Result[]): Float64Array => pooledSamples(rs.map((r) => r.samples));

function report(o: Options, one: Result[], three: Result[]): void {
  const row = (label: string, r: Result): string[] => [
    String(r.round + 1),
    label,
    num(r.load, 1),
    String(r.sent),
    `${num((100 * r.delivered) / Math.max(1, r.sent * o.n), 1)}%`,
    num(r.bytes / 1e6 / r.seconds, 1),
    r.cpuMs.map((c) => num(c / r.seconds / 10, 0)).join(' / '),
    r.cpuMs.map((_, i) => num(perGb(r, i), 2)).join(' / '),
    num(total(r), 2),
    num(r.sysMs.reduce((a, b) => a + b, 0) / 1000 / gbOf(r), 2),
    num(r.natsMs / 1000 / gbOf(r), 2),
    `${num(r.pubMs / r.seconds / 10, 0)} + ${num(r.readersMs / r.seconds / 10, 0)}`,
    num(pct(r.samples, 0.5), 2),
    num(pct(r.samples, 0.99), 2),
  ];
  const rows: string[][] = [];
  for (let k = 0; k < one.length; k++) {
    const pair: Array<[string, Result]> = [['one server', one[k]], ['cluster of 3', three[k]]];
    if (k % 2) pair.reverse();
    for (const [label, r] of pair) rows.push(row(label, r));
  }
  console.log(
    table(
      ['round', 'case', 'load', 'frames', 'delivered', 'MB/s', 'CPU % per node (A/B/C)', 'CPU s per GB per node', 'CPU s per GB total', 'of it system', 'NATS s per GB', 'harness CPU % (pub + readers)', 'p50 ms', 'p99 ms'],
      rows,
      ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  for (const [label, rs] of [['one server', one], ['cluster of 3', three]] as const) {
    const sw = rs.map((r) => r.switches.map((c) => num(c / Math.max(1, r.sent), 1)).join(' / '));
    console.log(`${label}: main-thread context switches per frame sent per node, by round: ${sw.join('; ')}`);
  }
  // Per round: the cluster's figures against the one server's of the same round.
  const aRatio = one.map((r, k) => perGb(three[k], 0) / perGb(r, 0));
  const tRatio = one.map((r, k) => total(three[k]) / total(r));
  const tnRatio = one.map((r, k) => (total(three[k]) + three[k].natsMs / 1000 / gbOf(three[k])) / total(r));
  const p50 = one.map((r, k) => pct(three[k].samples, 0.5) - pct(r.samples, 0.5));
  const p99 = one.map((r, k) => pct(three[k].samples, 0.99) - pct(r.samples, 0.99));
  const list = (v: number[]): string => v.map((x) => num(x, 2)).join(', ');
  const summary = (name: string, v: number[], goal: number, unit = ''): void => {
    const met = v.filter((x) => x <= goal).length;
    console.log(`${name}: median ${num(median(v), 2)}${unit}, range ${num(Math.min(...v), 2)} to ${num(Math.max(...v), 2)}${unit}, goal <= ${goal}${unit} met in ${met} of ${v.length} rounds (${list(v)})`);
  };
  // Pooled: all rounds' CPU over all rounds' bytes (each round weighs by what it delivered).
  const sumCpu = (rs: Result[], i?: number): number => rs.reduce((x, r) => x + (i === undefined ? r.cpuMs.reduce((a, b) => a + b, 0) : r.cpuMs[i]), 0);
  const sumGb = (rs: Result[]): number => rs.reduce((x, r) => x + gbOf(r), 0);
  const pooledA = sumCpu(three, 0) / sumGb(three) / (sumCpu(one, 0) / sumGb(one));
  const pooledT = sumCpu(three) / sumGb(three) / (sumCpu(one) / sumGb(one));
  summary("publisher's node CPU per GB / one server's", aRatio, 0.5);
  console.log(`  pooled over the rounds: ${num(pooledA, 2)}`);
  summary("cluster total CPU per GB / one server's", tRatio, 1.3);
  console.log(`  pooled over the rounds: ${num(pooledT, 2)}`);
  console.log(`  with NATS's own CPU: median ${num(median(tnRatio), 2)} (${list(tnRatio)})`);
  summary('added p99 latency, round by round (at 64 KiB x 30 frames/s)', p99, 2, ' ms');
  console.log(`added p50 latency, round by round: median ${num(median(p50), 2)} ms (${list(p50)})`);
  const a = pooled(one);
  const b = pooled(three);
  const frames = (rs: Result[]): number => rs.reduce((x, r) => x + r.sent, 0);
  console.log(
    `latency pooled over the rounds: one server p50 ${num(pct(a, 0.5), 2)} p99 ${num(pct(a, 0.99), 2)} ms (${a.length} samples, ${frames(one)} frames); cluster p50 ${num(pct(b, 0.5), 2)} p99 ${num(pct(b, 0.99), 2)} ms (${b.length} samples, ${frames(three)} frames); added p50 ${num(pct(b, 0.5) - pct(a, 0.5), 2)} ms, p90 ${num(pct(b, 0.9) - pct(a, 0.9), 2)} ms, p99 ${num(pct(b, 0.99) - pct(a, 0.99), 2)} ms (goal <= 2 ms)`,
  );
  // Within the cluster's own rounds: its readers on B and C (the hop, then their node's fan-out)
  // against those on A (A's fan-out alone), the same frames at the same moments.
  const node = (k: number): Float64Array => pooledSamples(three.map((r) => r.byServer[k]));
  const [na, nb, nc] = [node(0), node(1), node(2)];
  const far = pooledSamples([nb, nc]);
  const q = (x: Float64Array): string => `p50 ${num(pct(x, 0.5), 2)} p90 ${num(pct(x, 0.9), 2)} p99 ${num(pct(x, 0.99), 2)}`;
  console.log(
    `cluster latency by node (pooled): readers on A ${q(na)}; on B ${q(nb)}; on C ${q(nc)} ms; B and C against A: p50 ${num(pct(far, 0.5) - pct(na, 0.5), 2)}, p90 ${num(pct(far, 0.9) - pct(na, 0.9), 2)}, p99 ${num(pct(far, 0.99) - pct(na, 0.99), 2)} ms`,
  );
}

export async function runClusterBench(argv: string[]): Promise<void> {
  // Split at the first '=' only: a value may hold one (--cluster-node-flags=--max-semi-space-size=1).
  const args = new Map(argv.map((a) => (a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, '']) as [string, string]).map(([k, v]) => [k.replace(/^--/, ''), v]));
  const o: Options = {
    n: Number(args.get('cluster-n') ?? 300),
    size: Number(args.get('cluster-size') ?? 65536),
    fps: Number(args.get('cluster-fps') ?? 30),
    ms: Number(args.get('cluster-ms') ?? 1500),
    warmupMs: Number(args.get('cluster-warmup-ms') ?? 10000),
    rounds: Math.max(1, Number(args.get('cluster-rounds') ?? 20)),
  };
  profDir = args.get('cluster-prof') ?? '';
  nodeFlags = (args.get('cluster-node-flags') ?? '').split(',').filter(Boolean);
  if (args.get('cluster-cli')) CLI = path.resolve(args.get('cluster-cli')!);
  if (profDir) fs.mkdirSync(profDir, { recursive: true });
  logDir = args.get('cluster-log') ?? '';
  if (logDir) fs.mkdirSync(logDir, { recursive: true });
  console.log(
    `\nCluster bench: 1 publisher, ${o.n} readers, ${o.size} B frames at ${o.fps} frames/s; ${o.warmupMs} ms of warm-up per case, then ${o.rounds} rounds of ${o.ms} ms per case, alternating${nodeFlags.length ? `; servers run with ${nodeFlags.join(' ')}` : ''}; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-nats-'));
  configFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(configFile, 'limits:\n  maxConnectionsPerIp: 0\n  maxPendingPerIp: 0\n  maxPending: 0\n');
  const procs: ChildProcess[] = [];
  const cases: Case[] = [];
  const pool = await ReaderPool.start(2);
  try {
    const natsPort = await freePort();
    procs.push((await start('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', dir], /Server is ready/)).child);
    if (args.get('cluster-receive')) return await runReceiveBench(`nats://127.0.0.1:${natsPort}`, Number(args.get('cluster-receive-ms') ?? 15000));
    const natsPid = procs[0].pid!;
    const single = await camwireServer([]);
    procs.push(single.child);
    const url = `nats://127.0.0.1:${natsPort}`;
    const nodes: Proc[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await camwireServer(['--cluster', url, '--cluster-name', `bench${i}`, '--cluster-prefix', 'bench']);
      procs.push(p.child);
      nodes.push(p);
    }
    await delay(1500);
    const one = await setUp('one server', 0, [single], pool, o);
    cases.push(one);
    const three = await setUp('cluster of 3', 1, nodes, pool, o);
    cases.push(three);
    // What each server spends with nothing to deliver (heartbeats, timers, NATS pings): paid per node.
    const servers = [single, ...nodes].map((s) => s.child.pid!);
    const idle0 = servers.map(cpuMs);
    await delay(IDLE_MS);
    const idle = servers.map((pid, i) => num(((cpuMs(pid) - idle0[i]) / IDLE_MS) * 100, 1));
    console.log(`idle CPU % (readers and publishers connected, no frames, ${IDLE_MS} ms): one server ${idle[0]}; nodes A / B / C ${idle.slice(1).join(' / ')}`);
    // The same warm-up for both (run id 0 is no phase's: not counted), so that what is measured
    // is the servers' steady state, not their JIT compiling the media path.
    if (o.warmupMs > 0) {
      for (const c of cases) {
        mark(`warm-up of ${c.label}`);
        await paced(c, o, o.warmupMs, 0);
        await delay(300);
      }
    }
    const res: [Result[], Result[]] = [[], []];
    for (let k = 0; k < o.rounds; k++) {
      for (const which of k % 2 ? [1, 0] : [0, 1]) res[which].push(await measure(cases[which], k, pool, o, natsPid));
    }
    report(o, res[0], res[1]);
  } finally {
    for (const c of cases) await c.pub.close().catch(() => {});
    for (const c of cases) for (const rig of c.rigs) await pool.close(rig).catch(() => {});
    for (const p of procs.slice(1)) await stop(p, profDir ? 'SIGINT' : 'SIGKILL');
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await pool.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
