/**
 * Cluster benchmark (issue 13; docs/cluster.md): one publisher on node A, N raw-protocol readers
 * spread over 3 nodes of a cluster over NATS, against the same N readers on one server. Paced
 * load (frames of --cluster-size bytes at --cluster-fps), so both deliver the same frames and the
 * CPU each process spends per delivered GB compares directly.
 *
 *   npm run build:test && node build/bench/run.js --cases=cluster
 *   node build/bench/run.js --cases=cluster --cluster-prof=/tmp/prof   (a .cpuprofile per server: bench/prof-top.ts)
 *   node build/bench/run.js --cases=cluster --cluster-n=300 --cluster-size=65536 --cluster-fps=30 --cluster-ms=5000
 *   node build/bench/run.js --cases=cluster --cluster-cli=build/base-dist/cli/main.js   (the servers of another build)
 *   node build/bench/run.js --cases=cluster --cluster-warmup-ms=10000   (the same load for 10 s first, not measured)
 *   node build/bench/run.js --cases=cluster --cluster-receive=1   (instead: a receiving node's cost per NATS message alone, cluster-receive.ts)
 *   node build/bench/run.js --cases=cluster --cluster-node-flags=--max-semi-space-size=1   (Node/V8 flags, comma-separated, for every server: the one server and the nodes alike)
 *
 * Processes, all on 127.0.0.1: a nats-server with JetStream (temporary store), the servers as
 * `camwire server` child processes (the CLI, as users run them; HTTP and UDP off, nothing on
 * disk), the readers in the fan-out bench's reader children (fanout-readers.ts: bare sockets
 * speaking the pull protocol), the publisher in this process (fanout-pub.ts: a bare socket
 * speaking the push protocol, every reader one of its default receivers: since they are on both
 * other nodes, one NATS message per frame on the shared subject, docs/cluster.md). CPU of each server: /proc/<pid>/stat (user + system) over the measured
 * time, and the system part of it (socket writes: the kernel's share) and the main thread's context
 * switches (/proc/<pid>/status) printed apart. Latency: the readers' clock at the frame's last byte minus the publisher's stamp.
 * Prints a table and the ratios of the issue's goals; asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runReceiveBench } from './cluster-receive.js';
import { camwireWirePublisher } from './fanout-pub.js';
import { clock, ReaderPool, type ReaderSpec } from './fanout-readers.js';
import { num, table } from './table.js';
import { freePort } from '../test/helpers/ports.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The CLI the servers run (--cluster-cli=PATH: another build, to compare two versions in one run). */
let CLI = path.join(ROOT, 'dist/cli/main.js');
const TICK_MS = 10; // /proc clock ticks (USER_HZ 100)

interface Proc {
  child: ChildProcess;
  port: number;
}


/** Spawns `cmd args` and resolves once `ready` matches its output (stdout or stderr), within 15 s. */
function start(cmd: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; m: RegExpMatchArray }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: not ready after 15 s:\n${out}`));
    }, 15000);
    const on = (d: Buffer): void => {
      if (out.length < 20000) out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, m });
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}):\n${out}`));
    });
  });
}

/** All readers come from 127.0.0.1: no per-address connection limits (docs/limits.md). */
let configFile = '';
/** --cluster-prof=DIR: each server runs with --cpu-prof into DIR (stopped with SIGINT so that it writes it). */
let profDir = '';
/** --cluster-node-flags=A,B: Node/V8 flags for every server, the one server and the nodes alike (docs/cluster.md, Benchmark). */
let nodeFlags: string[] = [];

async function camwireServer(extra: string[]): Promise<Proc> {
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${extra.find((a) => a.startsWith('bench')) ?? 'single'}.cpuprofile`] : [];
  const { child, m } = await start(process.execPath, [...nodeFlags, ...prof, CLI, 'server', '--config', configFile, '--host', '127.0.0.1', '--tcp-port', '0', '--udp-port', 'off', '--http-port', 'off', '--memory', '--log-level', 'warn', ...extra], /tcp (\d+), udp/);
  child.removeAllListeners('exit');
  return { child, port: Number(m[1]) };
}

function cpuMs(pid: number): number {
  const [user, sys] = cpuSplit(pid);
  return user + sys;
}

/** User and system CPU ms of a process (/proc/<pid>/stat). */
function cpuSplit(pid: number): [number, number] {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) * TICK_MS, Number(fields[12]) * TICK_MS];
}

/** Context switches of a process's main thread so far: voluntary (it waited) + involuntary (preempted). */
function switches(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  let n = 0;
  for (const m of s.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) n += Number(m[1]);
  return n;
}

/** Stops a server: SIGINT (it stops at once, and writes its CPU profile), SIGKILL after 5 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(profDir ? 'SIGINT' : 'SIGKILL');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Result {
  label: string;
  nodes: number;
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
  /** Each server's CPU % while idle (readers and publisher connected, no frames) for IDLE_MS. */
  idlePct: number[];
  p50: number;
  p99: number;
}

function pct(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

let rigs = 0;
const IDLE_MS = 3000;

async function measure(label: string, servers: Proc[], pool: ReaderPool, o: { n: number; size: number; fps: number; ms: number; warmupMs: number }, natsPid: number): Promise<Result> {
  const rig = rigs++;
  const specs: ReaderSpec[] = Array.from({ length: o.n }, (_, i) => ({ i, port: servers[i % servers.length].port, id: `r${i}`, fast: true }));
  await pool.open(rig, 'camwire', specs);
  // Presence of the readers on the other nodes (a few ms on one machine), then the publisher's default receivers.
  await delay(1000);
  const pub = await camwireWirePublisher(servers[0].port, specs.map((s) => s.id));
  const run = 1 + Math.floor(Math.random() * 1e9);
  await pool.phase(rig, run, o.size, () => {});
  const pids = [...servers.map((s) => s.child.pid!), natsPid];
  // What each server spends with nothing to deliver (heartbeats, timers, NATS pings): paid per node.
  const idle0 = pids.map(cpuMs);
  await delay(IDLE_MS);
  const idlePct = pids.slice(0, -1).map((pid, i) => ((cpuMs(pid) - idle0[i]) / IDLE_MS) * 100);
  // Frames at the measured rate for `ms`, stamped with run id `id` (the readers count only the phase's run).
  let seq = 0;
  const paced = (ms: number, id: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const start = clock();
      const iv = setInterval(() => {
        if (clock() - start >= ms) {
          clearInterval(iv);
          resolve();
          return;
        }
        const p = Buffer.alloc(o.size);
        p.writeDoubleLE(clock(), 0);
        p.writeUInt32LE(++seq, 8);
        p.writeUInt32LE(id, 12);
        pub.send(p);
      }, 1000 / o.fps);
    });
  if (o.warmupMs > 0) {
    // Warm-up (--cluster-warmup-ms): the same load, not counted (run id 0 is no phase's), so that
    // what is measured is the servers' steady state, not their JIT compiling the media path.
    await paced(o.warmupMs, 0);
    await delay(300);
    seq = 0;
  }
  const cpu0 = pids.map(cpuMs);
  const sys0 = pids.map((p) => cpuSplit(p)[1]);
  const sw0 = pids.map(switches);
  const t0 = clock();
  await paced(o.ms, run);
  await delay(500);
  const cpu1 = pids.map(cpuMs);
  const sysMs = pids.slice(0, -1).map((p, i) => cpuSplit(p)[1] - sys0[i]);
  const sw = pids.slice(0, -1).map((p, i) => switches(p) - sw0[i]);
  const seconds = (clock() - t0) / 1000;
  const tally = await pool.end(rig);
  await pub.close();
  await pool.close(rig);
  const samples = tally.samples.slice().sort();
  const used = cpu1.map((c, i) => c - cpu0[i]);
  return { label, nodes: servers.length, sent: seq, delivered: tally.delivered, bytes: tally.bytes, seconds, cpuMs: used.slice(0, -1), sysMs, switches: sw, natsMs: used[used.length - 1], idlePct, p50: pct(samples, 0.5), p99: pct(samples, 0.99) };
}

export async function runClusterBench(argv: string[]): Promise<void> {
  // Split at the first '=' only: a value may hold one (--cluster-node-flags=--max-semi-space-size=1).
  const args = new Map(argv.map((a) => (a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, '']) as [string, string]).map(([k, v]) => [k.replace(/^--/, ''), v]));
  const o = {
    n: Number(args.get('cluster-n') ?? 300),
    size: Number(args.get('cluster-size') ?? 65536),
    fps: Number(args.get('cluster-fps') ?? 30),
    ms: Number(args.get('cluster-ms') ?? 5000),
    warmupMs: Number(args.get('cluster-warmup-ms') ?? 0),
  };
  profDir = args.get('cluster-prof') ?? '';
  nodeFlags = (args.get('cluster-node-flags') ?? '').split(',').filter(Boolean);
  if (args.get('cluster-cli')) CLI = path.resolve(args.get('cluster-cli')!);
  if (profDir) fs.mkdirSync(profDir, { recursive: true });
  console.log(`\nCluster bench: 1 publisher, ${o.n} readers, ${o.size} B frames at ${o.fps} frames/s for ${o.ms} ms (after ${o.warmupMs} ms of warm-up)${nodeFlags.length ? `; servers run with ${nodeFlags.join(' ')}` : ''}; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-nats-'));
  configFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(configFile, 'limits:\n  maxConnectionsPerIp: 0\n  maxPendingPerIp: 0\n  maxPending: 0\n');
  const procs: ChildProcess[] = [];
  const pool = await ReaderPool.start(2);
  try {
    const natsPort = await freePort();
    procs.push((await start('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', dir], /Server is ready/)).child);
    if (args.get('cluster-receive')) return await runReceiveBench(`nats://127.0.0.1:${natsPort}`, Number(args.get('cluster-receive-ms') ?? 15000));
    const single = await camwireServer([]);
    procs.push(single.child);
    const natsPid = procs[0].pid!;
    const one = await measure('one server', [single], pool, o, natsPid);
    await stop(single.child);
    const url = `nats://127.0.0.1:${natsPort}`;
    const nodes: Proc[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await camwireServer(['--cluster', url, '--cluster-name', `bench${i}`, '--cluster-prefix', 'bench']);
      procs.push(p.child);
      nodes.push(p);
    }
    await delay(1500);
    const three = await measure('cluster of 3', nodes, pool, o, natsPid);
    const rows = [one, three].map((r) => {
      const gb = r.bytes / 1e9;
      return [
        r.label,
        String(r.nodes),
        String(r.sent),
        `${num((100 * r.delivered) / Math.max(1, r.sent * o.n), 1)}%`,
        num(r.bytes / 1e6 / r.seconds, 1),
        r.cpuMs.map((c) => num(c / r.seconds / 10, 0)).join(' / '),
        r.cpuMs.map((c) => num(c / 1000 / gb, 2)).join(' / '),
        num(r.cpuMs.reduce((a, b) => a + b, 0) / 1000 / gb, 2),
        num(r.natsMs / 1000 / gb, 2),
        num(r.p50, 2),
        num(r.p99, 2),
        r.idlePct.map((c) => num(c, 1)).join(' / '),
      ];
    });
    console.log(
      table(['case', 'nodes', 'frames', 'delivered', 'MB/s', 'CPU % per node (A/B/C)', 'CPU s per GB per node', 'CPU s per GB total', 'NATS s per GB', 'p50 ms', 'p99 ms', 'idle CPU % per node'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
    );
    for (const r of [one, three]) {
      const gb = r.bytes / 1e9;
      console.log(`${r.label}: system CPU s per GB per node ${r.sysMs.map((c) => num(c / 1000 / gb, 2)).join(' / ')}; context switches per frame sent per node ${r.switches.map((c) => num(c / Math.max(1, r.sent), 1)).join(' / ')}`);
    }
    const perGb = (r: Result, i: number): number => r.cpuMs[i] / 1000 / (r.bytes / 1e9);
    const total = (r: Result): number => r.cpuMs.reduce((a, b) => a + b, 0) / 1000 / (r.bytes / 1e9);
    console.log(`publisher's node CPU per GB / one server's: ${num(perGb(three, 0) / perGb(one, 0), 2)} (goal <= 0.5)`);
    console.log(`cluster total CPU per GB / one server's: ${num(total(three) / total(one), 2)} (goal <= 1.3); with NATS's own CPU: ${num((total(three) + three.natsMs / 1000 / (three.bytes / 1e9)) / total(one), 2)}`);
    console.log(`added latency: p50 ${num(three.p50 - one.p50, 2)} ms, p99 ${num(three.p99 - one.p99, 2)} ms (goal: p99 <= 2 ms at 64 KiB x 30 frames/s)`);
  } finally {
    for (const p of procs.slice(1)) await stop(p);
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await pool.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
