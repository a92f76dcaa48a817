/**
 * One point-to-point pair alone in this process: MB/s and CPU per frame at 1 KB (or --size).
 * bench/run.ts keeps all its pairs open in one process; this measures one, so that two builds can
 * be compared pair by pair, alternating (bench/FANOUT.md, "Buffer methods are not inlined").
 *
 *   node build/bench/pair-cpu.js tcp-push|udp-push|tcp-pull|raw-tcp|raw-udp [--ms=2000] [--size=1024] [--window=64]
 *
 * Prints one line: case, MB/s, CPU µs per delivered frame (user + system) and user µs. Run the
 * same line from another build's directory for an A/B.
 */
import { camwirePair, type CamwireCase } from './camwire.js';
import { runThroughput } from './drive.js';
import type { Pair } from './pair.js';
import { rawTcpPair, rawUdpPair } from './raw.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? d);
const kind = args.find((a) => !a.startsWith('--')) ?? 'tcp-push';
const ms = opt('ms', 2000);
const size = opt('size', 1024);
const window = opt('window', 64);

const CASES = ['tcp-push', 'udp-push', 'tcp-pull', 'raw-tcp', 'raw-udp'];
if (!CASES.includes(kind)) {
  console.error(`pair-cpu: unknown case ${kind}; use one of ${CASES.join(', ')}`);
  process.exit(2);
}

const problems: string[] = [];
const pair: Pair = kind === 'raw-tcp' ? await rawTcpPair() : kind === 'raw-udp' ? await rawUdpPair() : await camwirePair(kind as CamwireCase, problems);
// Warm-up: the optimizing compiler has run on the per-frame code before the measured part.
await runThroughput(pair, { size, window, durationMs: 1000 });
const cpu0 = process.cpuUsage();
const r = await runThroughput(pair, { size, window, durationMs: ms });
const cpu = process.cpuUsage(cpu0);
await pair.close();
const per = (us: number): string => (us / Math.max(1, r.delivered)).toFixed(2);
console.log(`${kind} ${size} B: ${r.MBps.toFixed(0)} MB/s, ${per(cpu.user + cpu.system)} µs CPU per frame (user ${per(cpu.user)}), ${r.delivered} frames${r.undelivered ? `, ${r.undelivered} undelivered` : ''}${problems.length ? `; problems: ${problems.join('; ')}` : ''}`);
