/**
 * File transfer bench (issue 8, "Files"): one file sent over TCP, three ways, in alternating rounds:
 *
 *   raw      a file read stream piped into a socket; the other process pipes the socket into a
 *            file write stream and hashes it (SHA-256): the plain Node copy every ratio is to
 *   direct   Sender.sendFile (TCP push) to a Receiver with fileDir in another process
 *   relay    the same through a MediaServer (its own process) to a pulling Receiver (a third)
 *
 * Each transfer starts after a sync (no dirty pages of the previous one left to flush), and each
 * round starts with another way (the order rotates).
 *
 * A transfer counts as done when the receiving process has the whole file written and its
 * SHA-256 checked. Prints MB/s, the ratio to the raw copy of the same round (median and range),
 * and CPU per GB of each process (the receiver's with its system part in brackets).
 *
 *   node build/bench/run.js --cases=files [--file-mb=256] [--file-rounds=3] [--files-prof=DIR]
 *     [--file-window=N] [--file-chunk=BYTES] [--file-queue=BYTES] [--file-ways=direct,relay]
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCamwire } from './lib.js';
import { median, num, table } from './table.js';

type Way = 'raw' | 'direct' | 'relay';
const ALL_WAYS: Way[] = ['raw', 'direct', 'relay'];
/** --file-ways=raw,relay: only these (raw always runs: it is the baseline). */
let WAYS: Way[] = ALL_WAYS;
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'files-child.js');
const TIMEOUT_MS = 120_000;

interface Run {
  way: Way;
  MBps: number;
  /** CPU ms per GB: the sending process, the receiving one, the relay (relay only). */
  senderCpu: number;
  receiverCpu: number;
  /** The kernel's part of receiverCpu. */
  receiverSys: number;
  relayCpu?: number;
}

interface Child {
  cp: ChildProcess;
  next<T>(key: string): Promise<T>;
}

/** --files-prof=DIR: each child writes a V8 CPU profile there (node --cpu-prof). */
let profDir: string | undefined;
/** --file-window=N, --file-chunk=BYTES, --file-queue=BYTES: the Sender's reliableWindow, fileChunkSize and queueBytes.file (defaults: the Sender's). */
let senderTuning: { reliableWindow?: number; fileChunkSize?: number; queueBytes?: { file: number } } = {};

function child(args: string[]): Child {
  const execArgv = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${args[0]}-${process.pid}-${Date.now()}.cpuprofile`] : [];
  const cp = fork(CHILD, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  const inbox: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  cp.on('message', (m) => {
    inbox.push(m as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const next = async <T>(key: string): Promise<T> => {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const i = inbox.findIndex((m) => key in m || 'failed' in m);
      if (i >= 0) {
        const m = inbox.splice(i, 1)[0];
        if ('failed' in m) throw new Error(`file bench child (${args[0]}): ${String(m.failed)}`);
        return m[key] as T;
      }
      if (cp.exitCode !== null) throw new Error(`file bench child (${args[0]}) exited with ${cp.exitCode}`);
      if (Date.now() > deadline) throw new Error(`file bench child (${args[0]}): no ${key} within ${TIMEOUT_MS} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  return { cp, next };
}

/**
 * Writes all dirty pages to disk (sync) before a transfer. The file the previous transfer wrote
 * (and the source file, just made) would otherwise be flushed while the next transfer writes its
 * own: in one run the receiving side's system time rose from 1.7 to 3.0 s per GB when it came
 * right after another transfer, and the raw copy always came first in a round.
 */
function settle(): void {
  try {
    execFileSync('sync', { stdio: 'ignore', timeout: 60_000 });
  } catch {
    // No sync(1) here: the runs go on unsettled.
  }
}

function makeFile(file: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let done = 0; done < bytes; done += buf.length) {
    const part = buf.subarray(0, Math.min(buf.length, bytes - done));
    randomFillSync(part);
    hash.update(part);
    fs.writeSync(fd, part);
  }
  fs.closeSync(fd);
  return hash.digest('hex');
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

async function once(way: Way, file: string, bytes: number, sha256: string, tmp: string): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(tmp, `${way}-`));
  const kids: Child[] = [];
  try {
    let receiver: Child;
    let relay: Child | undefined;
    let port: number;
    if (way === 'relay') {
      relay = child(['server', dir]);
      kids.push(relay);
      port = await relay.next<number>('port');
      receiver = child(['reader', dir, String(port)]);
      kids.push(receiver);
      await receiver.next('ready');
    } else {
      receiver = child([way === 'raw' ? 'raw-rx' : 'cw-rx', dir]);
      kids.push(receiver);
      port = await receiver.next<number>('port');
    }
    for (const k of kids) k.cp.send({ start: true });
    const gb = bytes / 1e9;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    if (way === 'raw') {
      const sock = net.connect(port, '127.0.0.1');
      fs.createReadStream(file).pipe(sock);
    } else {
      const { Sender } = await loadCamwire();
      const tx = new Sender({ protocol: 'tcp', host: '127.0.0.1', port, ...senderTuning, ...(way === 'relay' ? { clientId: 'cam', to: 'reader' } : {}) });
      await tx.start();
      try {
        await tx.sendFile(file, { name: 'bench.bin' });
      } finally {
        await tx.stop();
      }
    }
    const done = await receiver.next<{ sha256: string; cpuMs: number; sysMs: number }>('done');
    const ms = performance.now() - t0;
    if (done.sha256 !== sha256) throw new Error(`${way}: SHA-256 mismatch`);
    const run: Run = { way, MBps: bytes / 1e6 / (ms / 1000), senderCpu: cpuMs(c0) / gb, receiverCpu: done.cpuMs / gb, receiverSys: done.sysMs / gb };
    if (relay) {
      relay.cp.send({ cpu: true });
      run.relayCpu = (await relay.next<number>('cpuMs')) / gb;
    }
    return run;
  } finally {
    // SIGINT lets a profiled child write its profile on the way out.
    for (const k of kids) k.cp.kill(profDir ? 'SIGINT' : 'SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function runFilesBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const arg = (k: string): string | undefined => argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1];
  const mb = Number(arg('file-mb') ?? 256);
  const rounds = Math.max(1, Number(arg('file-rounds') ?? 3));
  profDir = arg('files-prof');
  senderTuning = {};
  const ways = arg('file-ways')?.split(',');
  WAYS = ways ? ALL_WAYS.filter((w) => w === 'raw' || ways.includes(w)) : ALL_WAYS;
  if (arg('file-window')) senderTuning.reliableWindow = Number(arg('file-window'));
  if (arg('file-chunk')) senderTuning.fileChunkSize = Number(arg('file-chunk'));
  if (arg('file-queue')) senderTuning.queueBytes = { file: Number(arg('file-queue')) };
  const bytes = mb * 1024 * 1024;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-files-bench-'));
  try {
    const file = path.join(tmp, 'source.bin');
    const sha256 = makeFile(file, bytes);
    console.log(`\nFile bench: ${mb} MiB over TCP on 127.0.0.1, ${rounds} alternating rounds; sender, receiver and relay in separate processes`);
    const runs: Run[] = [];
    for (let r = 0; r < rounds; r++) {
      // Each round starts with another way (the order of the ways rotates): the transfer that
      // follows another one's writes pays for the kernel's flushing of them (see settle()).
      for (const way of [...WAYS.slice(r % WAYS.length), ...WAYS.slice(0, r % WAYS.length)]) {
        settle();
        const run = await once(way, file, bytes, sha256, tmp);
        runs.push(run);
        console.log(`  round ${r + 1} ${way.padEnd(6)} ${num(run.MBps).padStart(7)} MB/s`);
      }
    }
    const of = (w: Way): Run[] => runs.filter((x) => x.way === w);
    // Each round's ratio is to the raw copy of the same round (the load of a shared machine
    // changes from round to round more than between the ways of one round).
    const raws = of('raw');
    const ratios = (w: Way): number[] => of(w).map((x, i) => x.MBps / raws[i].MBps);
    const rows = WAYS.map((w) => {
      const rs = of(w);
      const r = ratios(w);
      const relay = rs[0].relayCpu === undefined ? '' : num(median(rs.map((x) => x.relayCpu!)), 0);
      return [
        w,
        num(median(rs.map((x) => x.MBps))),
        rs.map((x) => num(x.MBps)).join(' / '),
        median(r).toFixed(2),
        `${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)}`,
        num(median(rs.map((x) => x.senderCpu)), 0),
        `${num(median(rs.map((x) => x.receiverCpu)), 0)} (${num(median(rs.map((x) => x.receiverSys)), 0)})`,
        relay,
      ];
    });
    console.log(table(['way', 'MB/s', 'rounds', 'x raw', 'x raw per round', 'sender CPU ms/GB', 'receiver CPU (system) ms/GB', 'relay CPU ms/GB'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
    // The goals of the ways this run measured (--file-ways may leave one out).
    const goals: Array<[Way, string, number]> = [
      ['direct', 'direct', 0.9],
      ['relay', 'through the server', 0.8],
    ];
    const met = goals
      .filter(([w]) => WAYS.includes(w))
      .map(([w, what, goal]) => {
        const r = median(ratios(w));
        return `${what} ${r.toFixed(2)}x raw (>= ${goal.toFixed(2)}: ${r >= goal ? 'met' : 'NOT met'})`;
      });
    console.log(`Goals (median of the per-round ratios): ${met.join(', ')}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  runFilesBench().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
