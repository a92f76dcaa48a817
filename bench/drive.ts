/**
 * Load drivers shared by camwire and the raw baselines.
 *
 * Every payload carries, in its first 16 bytes: the send time (performance.now(), float64 LE),
 * a sequence number (uint32 LE) and a run id (uint32 LE). Both ends live in this process, so
 * the receive time minus the stamp is the one-way latency from the send call to the receive
 * callback on one clock. Frames from an earlier run (late UDP datagrams) are ignored.
 *
 * Throughput: a window of at most `window` frames ahead of the newest frame received. The
 * driver sends while the window is open, at most `window` frames per turn of the event loop,
 * and yields with setImmediate. A frame dropped by camwire's latest-wins policy frees its
 * window slot only when a later frame arrives, so camwire and the raw baselines see the same
 * offered load. On a lossy transport, a window that makes no progress for `stallMs` is
 * written off (its frames count as undelivered) and sending resumes.
 *
 * Latency: one frame at a time, paced: the next frame goes `intervalMs` after the previous
 * send, or as soon as the previous frame arrived if that took longer. No queueing.
 */
import { performance } from 'node:perf_hooks';
import type { Pair } from './pair.js';

const STAMP = 16;
let runIds = 0x5eed;

function pool(size: number, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(Buffer.alloc(size, 0x5a + i));
  return out;
}

function stamp(b: Buffer, seq: number, run: number): void {
  b.writeDoubleLE(performance.now(), 0);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(run, 12);
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

export function summarize(lat: ArrayLike<number>): LatencySummary {
  const s = Float64Array.from(lat).sort();
  const arr = Array.from(s);
  const mean = arr.length ? arr.reduce((a, b) => a + b, 0) / arr.length : NaN;
  return { samples: arr.length, p50: percentile(arr, 0.5), p99: percentile(arr, 0.99), mean, max: arr.length ? arr[arr.length - 1] : NaN };
}

export interface ThroughputResult {
  size: number;
  window: number;
  sent: number;
  delivered: number;
  /** Dropped by the sender's policy (camwire latest-wins). */
  dropped: number;
  /** Sent, not dropped, never delivered (lost on a lossy transport). */
  undelivered: number;
  /** First send to last delivery. */
  elapsedMs: number;
  MBps: number;
  fps: number;
  /** CPU time (user + system) of this process during the run, ms. */
  cpuMs: number;
  /** Latency under this load (includes queueing in the window): informational. */
  loaded: LatencySummary;
  /** The loaded latency samples, ms. */
  loadedValues: number[];
  /** Frames of the wrong size, or from another run. */
  bad: number;
  stray: number;
  /** Windows written off after stallMs without progress (lossy transports). */
  writeOffs: number;
  /** The run ended on the safety timeout with frames missing (reliable transports). */
  timedOut: boolean;
}

export interface ThroughputOptions {
  size: number;
  durationMs: number;
  window: number;
  /** Lossy transports: write off a window after this long without progress. */
  stallMs?: number;
  /** Reliable transports: give up this long after the end with frames missing. */
  drainTimeoutMs?: number;
}

export function runThroughput(pair: Pair, o: ThroughputOptions): Promise<ThroughputResult> {
  const stallMs = o.stallMs ?? 100;
  const drainTimeoutMs = o.drainTimeoutMs ?? 5000;
  const run = runIds++ >>> 0;
  const bufs = pool(o.size, 2 * o.window + 2);
  const lat: number[] = [];
  const drop0 = pair.dropped();
  let sent = 0;
  let delivered = 0;
  let newest = 0;
  let writtenOff = 0;
  let bad = 0;
  let stray = 0;
  let writeOffs = 0;
  let scheduled = false;
  let finished = false;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const tEnd = t0 + o.durationMs;
  let tLast = t0;
  let lastProgress = t0;

  return new Promise((resolve) => {
    const schedule = (): void => {
      if (!scheduled && !finished) {
        scheduled = true;
        setImmediate(fill);
      }
    };
    const acked = (): number => Math.max(newest, writtenOff);
    pair.handler = (d: Buffer): void => {
      if (d.length < STAMP || d.readUInt32LE(12) !== run) {
        stray++;
        return;
      }
      const now = performance.now();
      if (d.length !== o.size) bad++;
      const seq = d.readUInt32LE(8);
      delivered++;
      lat.push(now - d.readDoubleLE(0));
      if (seq > newest) newest = seq;
      tLast = now;
      lastProgress = now;
      schedule();
    };
    function fill(): void {
      scheduled = false;
      if (finished) return;
      for (let n = 0; n < o.window; n++) {
        if (performance.now() >= tEnd || sent - acked() >= o.window) return;
        const seq = ++sent;
        const b = bufs[seq % bufs.length];
        stamp(b, seq, run);
        pair.send(b);
      }
      // The window may still be open (frames dropped or delivered meanwhile): yield, then go on.
      schedule();
    }
    const finish = (timedOut: boolean): void => {
      finished = true;
      clearInterval(check);
      pair.handler = () => {};
      const cpu = process.cpuUsage(cpu0);
      const dropped = pair.dropped() - drop0;
      const elapsedMs = tLast - t0;
      resolve({
        size: o.size,
        window: o.window,
        sent,
        delivered,
        dropped,
        undelivered: Math.max(0, sent - delivered - dropped),
        elapsedMs,
        MBps: elapsedMs > 0 ? (delivered * o.size) / elapsedMs / 1000 : 0,
        fps: elapsedMs > 0 ? (delivered * 1000) / elapsedMs : 0,
        cpuMs: (cpu.user + cpu.system) / 1000,
        loaded: summarize(lat),
        loadedValues: lat,
        bad,
        stray,
        writeOffs,
        timedOut,
      });
    };
    const check = setInterval(() => {
      const now = performance.now();
      const idle = acked() >= sent;
      if (now >= tEnd && idle) return finish(false);
      if (!idle && now - lastProgress > stallMs) {
        if (pair.lossy) {
          writtenOff = sent;
          writeOffs++;
          lastProgress = now;
          schedule();
        } else if (now > tEnd + drainTimeoutMs) {
          finish(true);
        }
      }
    }, 5);
    fill();
  });
}

export interface LatencyResult extends LatencySummary {
  size: number;
  intervalMs: number;
  sent: number;
  /** Frames that never came (lossy transports: after lossMs). */
  lost: number;
  /** Frames that came after they were written off. */
  late: number;
  bad: number;
  stray: number;
  timedOut: boolean;
  /** The samples, ms. */
  values: number[];
}

export interface LatencyOptions {
  size: number;
  durationMs: number;
  intervalMs: number;
  /** Lossy transports: a frame not here after this long is lost. @default 100 */
  lossMs?: number;
  /** Reliable transports: give up after this long without the frame. @default 5000 */
  timeoutMs?: number;
}

export function runLatency(pair: Pair, o: LatencyOptions): Promise<LatencyResult> {
  const lossMs = o.lossMs ?? 100;
  const timeoutMs = o.timeoutMs ?? 5000;
  const run = runIds++ >>> 0;
  const bufs = pool(o.size, 4);
  const lat: number[] = [];
  let sent = 0;
  let lost = 0;
  let late = 0;
  let bad = 0;
  let stray = 0;
  let waiting = 0;
  let lastSend = 0;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const tEnd = performance.now() + o.durationMs;

  return new Promise((resolve) => {
    const finish = (timedOut: boolean): void => {
      finished = true;
      clearInterval(check);
      clearTimeout(timer);
      pair.handler = () => {};
      resolve({ size: o.size, intervalMs: o.intervalMs, sent, lost, late, bad, stray, timedOut, values: lat, ...summarize(lat) });
    };
    const sendOne = (): void => {
      timer = undefined;
      if (finished) return;
      if (performance.now() >= tEnd) return finish(false);
      const seq = ++sent;
      const b = bufs[seq % bufs.length];
      stamp(b, seq, run);
      waiting = seq;
      lastSend = performance.now();
      pair.send(b);
    };
    const next = (): void => {
      const delay = lastSend + o.intervalMs - performance.now();
      if (delay < 0.5) setImmediate(sendOne);
      else timer = setTimeout(sendOne, delay);
    };
    pair.handler = (d: Buffer): void => {
      const now = performance.now();
      if (d.length < STAMP || d.readUInt32LE(12) !== run) {
        stray++;
        return;
      }
      if (d.readUInt32LE(8) !== waiting) {
        late++;
        return;
      }
      if (d.length !== o.size) bad++;
      lat.push(now - d.readDoubleLE(0));
      waiting = 0;
      next();
    };
    const check = setInterval(() => {
      if (!waiting) return;
      const age = performance.now() - lastSend;
      if (pair.lossy && age > lossMs) {
        lost++;
        waiting = 0;
        next();
      } else if (!pair.lossy && age > timeoutMs) {
        finish(true);
      }
    }, 5);
    sendOne();
  });
}
