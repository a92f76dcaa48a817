/**
 * The cluster bench's processes (cluster.ts): starting a child and waiting for its ready line,
 * stopping it, and what /proc says of its CPU and context switches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const TICK_MS = 10; // /proc clock ticks (USER_HZ 100)

/** Spawns `cmd args` and resolves once `ready` matches its output (stdout or stderr), within 15 s. */
export function start(cmd: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; m: RegExpMatchArray }> {
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

/** Stops a child: `signal` (SIGINT makes a server with --cpu-prof write its profile), SIGKILL after 5 s. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** User and system CPU ms of a process (/proc/<pid>/stat). */
export function cpuSplit(pid: number): [number, number] {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) * TICK_MS, Number(fields[12]) * TICK_MS];
}

export function cpuMs(pid: number): number {
  const [user, sys] = cpuSplit(pid);
  return user + sys;
}

/** Context switches of a process's main thread so far: voluntary (it waited) + involuntary (preempted). */
export function switches(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  let n = 0;
  for (const m of s.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) n += Number(m[1]);
  return n;
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
