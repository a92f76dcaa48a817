/**
 * What a receiving node pays per NATS message, alone (docs/cluster.md, Benchmark): a receiver
 * child process takes 64 KiB frames at 30 frames/s, with nothing else to do, in four ways:
 *
 * - `raw TCP`: one write of the frame per frame on a bare socket (the raw-Node baseline: Node's
 *   read path alone);
 * - `NATS 1 msg`: one NATS message per frame with the `Camwire-To` header of 200 ids, subscribed
 *   as a node subscribes (callback, noEcho, noAsyncTraces); the message spans two 64 KiB socket
 *   reads, so nats.js copies it (once, then once more into a buffer about twice as large);
 * - `NATS k msgs`: the frame in k messages (the header on the first), joined into one Buffer when
 *   the last comes, as a node would have to before its readers' writes: fewer bytes copied by
 *   nats.js, more messages.
 *
 * CPU of the receiver from /proc/self/stat over `--cluster-receive-ms` after 8 s of the same
 * load; full (mark-compact) collections counted with a PerformanceObserver. Asserts nothing.
 *
 *   node build/bench/run.js --cases=cluster --cluster-receive=1 [--cluster-receive-ms=15000]
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { num, table } from './table.js';

const FRAME = 65536 + 40;
const FPS = 30;
const WARMUP_MS = 8000;
const TICK_MS = 10;

interface Tally {
  cpuMs: number;
  frames: number;
  majors: number;
}

/** CPU ms of this process so far (user + system). */
function selfCpuMs(): number {
  const f = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** The receiver child: `raw PORT` or `nats URL K`; answers 'start' and 'end' with its tally since 'start'. */
async function receiver(args: string[]): Promise<void> {
  let frames = 0;
  let majors = 0;
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) if ((e as unknown as { detail: { kind: number } }).detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
  }).observe({ entryTypes: ['gc'] });
  let nc: NatsConnection | undefined;
  let sock: net.Socket | undefined;
  if (args[0] === 'raw') {
    sock = net.connect(Number(args[1]), '127.0.0.1');
    let have = 0;
    sock.on('data', (d: Buffer) => {
      have += d.length;
      while (have >= FRAME) {
        have -= FRAME;
        frames++;
      }
    });
    await new Promise((r) => sock!.once('connect', r));
  } else {
    const k = Number(args[2]);
    nc = await connect({ servers: args[1], noEcho: true, noAsyncTraces: true });
    let pieces: Uint8Array[] = [];
    nc.subscribe('bench.rx', {
      callback: (err, m) => {
        if (err) return;
        if (m.headers && !m.headers.get('Camwire-To')) throw new Error('no address list');
        if (k === 1) {
          frames++;
          return;
        }
        pieces.push(m.data);
        if (pieces.length === k) {
          if (Buffer.concat(pieces).length === FRAME) frames++;
          pieces = [];
        }
      },
    });
    await nc.flush();
  }
  let cpu0 = 0;
  process.on('message', (m) => {
    if (m === 'start') {
      cpu0 = selfCpuMs();
      frames = 0;
      majors = 0;
    } else if (m === 'end') {
      process.send!({ cpuMs: selfCpuMs() - cpu0, frames, majors } satisfies Tally);
      sock?.destroy();
      void nc?.close().finally(() => process.exit(0));
      if (!nc) process.exit(0);
    }
  });
  process.send!('ready');
}

function once<T>(child: ChildProcess, what: string, ms = 15000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`receiver: no '${what}' within ${ms} ms`)), ms);
    child.once('message', (m) => {
      clearTimeout(t);
      resolve(m as T);
    });
  });
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One case: `send` is called FPS times a second; the receiver's tally over `ms` after the warm-up. */
async function runCase(args: string[], send: () => void, ms: number, ready?: () => Promise<void>): Promise<Tally> {
  const child = fork(fileURLToPath(import.meta.url), ['cluster-receive-child', ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await ready?.();
    await once(child, 'ready');
    const iv = setInterval(send, 1000 / FPS);
    await delay(WARMUP_MS);
    child.send('start');
    await delay(ms);
    const end = once<Tally>(child, 'end');
    child.send('end');
    const t = await end;
    clearInterval(iv);
    return t;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Runs the four cases against the nats-server at `url`; prints a table with the ratio to raw TCP. */
export async function runReceiveBench(url: string, ms: number): Promise<void> {
  console.log(`\nCluster receive path: ${FRAME} B frames at ${FPS} frames/s, one receiver process with nothing else to do, ${ms} ms after ${WARMUP_MS} ms of warm-up; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const frame = Buffer.alloc(FRAME, 7);
  const rows: string[][] = [];
  let rawUs = NaN;
  // raw TCP: this process listens, the child connects; one write per frame.
  {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    let peer: net.Socket | undefined;
    srv.on('connection', (s) => (peer = s));
    const t = await runCase(['raw', String((srv.address() as net.AddressInfo).port)], () => peer?.write(frame), ms);
    peer?.destroy();
    srv.close();
    rawUs = (t.cpuMs * 1000) / Math.max(1, t.frames);
    rows.push(['raw TCP', String(t.frames), num((t.cpuMs / ms) * 100, 2), num(rawUs, 0), '1.00', String(t.majors)]);
  }
  const nc = await connect({ servers: url, noEcho: true });
  const h = headers();
  h.set('Camwire-To', JSON.stringify(Array.from({ length: 200 }, (_, i) => `r${3 * i + 1}`)));
  for (const k of [1, 2, 3]) {
    const size = Math.ceil(FRAME / k);
    const send = (): void => {
      for (let i = 0; i < k; i++) nc.publish('bench.rx', frame.subarray(i * size, Math.min(FRAME, (i + 1) * size)), i === 0 ? { headers: h } : undefined);
    };
    const t = await runCase(['nats', url, String(k)], send, ms);
    const us = (t.cpuMs * 1000) / Math.max(1, t.frames);
    rows.push([k === 1 ? 'NATS 1 msg' : `NATS ${k} msgs`, String(t.frames), num((t.cpuMs / ms) * 100, 2), num(us, 0), num(us / rawUs, 2), String(t.majors)]);
  }
  await nc.close();
  console.log(table(['case', 'frames', 'receiver CPU %', 'CPU us per frame', 'vs raw TCP', 'full GCs'], rows, ['l', 'r', 'r', 'r', 'r', 'r']));
}

if (process.argv[2] === 'cluster-receive-child') void receiver(process.argv.slice(3));
