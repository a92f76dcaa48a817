/**
 * What the host did to a run: the machine's CPU time from /proc/stat (Linux), in particular
 * "steal", the time a virtual machine's CPUs were ready to run and the hypervisor ran something
 * else. On a shared host it is the objective sign of a slow phase: figures taken with a high
 * steal share are slower for camwire and raw alike, and camwire (more code and data per frame)
 * loses more of its speed to it (bench/FANOUT.md).
 */
import { readFileSync } from 'node:fs';

/** Cumulative CPU time of all CPUs, in clock ticks. */
export interface CpuTimes {
  /** user + nice + system + irq + softirq. */
  busy: number;
  steal: number;
}

/** The machine's CPU times now, or undefined where /proc/stat is not there (not Linux). */
export function cpuTimes(): CpuTimes | undefined {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
  } catch {
    return undefined;
  }
  // cpu  user nice system idle iowait irq softirq steal ...
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], steal: f[7] };
}

/**
 * One line for a bench's output: the share of the CPU time the machine's processes were due
 * (busy + steal) that the hypervisor withheld between `a` and `b`.
 */
export function stealLine(what: string, a: CpuTimes | undefined, b: CpuTimes | undefined): string {
  if (!a || !b) return `host steal during ${what}: not known (no /proc/stat)`;
  const busy = b.busy - a.busy;
  const steal = b.steal - a.steal;
  const share = busy + steal > 0 ? (100 * steal) / (busy + steal) : 0;
  return `host steal during ${what}: ${share.toFixed(1)} % of the CPU time due (the hypervisor ran other work on this machine's CPUs; figures with a high share are a slow phase)`;
}
