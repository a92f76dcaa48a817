/**
 * The parts of the fan-out benchmark (fanout.ts) that need nothing from camwire, so the raw
 * baseline's child process loads no camwire code:
 *  - the control protocol of the bench's child processes (relays and reader hosts): requests
 *    with replies over IPC, events without; a relay child measures its own CPU time and peak RSS;
 *  - the raw relay, the reference every ratio is taken against: the best plain Node relay we
 *    know. Everything one socket read from the publisher delivered is forwarded as ONE write of
 *    that same chunk to every reader that keeps up, whatever frames it holds (rawRelayChild
 *    below says exactly what a reader that cannot keep up gets);
 *  - 4-byte length-prefixed framing (also used by the point-to-point raw TCP baseline, raw.ts);
 *  - a throttling TCP relay that forwards to a slow reader at a fixed byte rate.
 *
 * Run as a child (fork of this file with CAMWIRE_FANOUT_CHILD=raw) it is the raw relay.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import net, { type AddressInfo } from 'node:net';
import v8 from 'node:v8';
import { u32, view } from '../src/protocol/bytes.js';

export const HOST = '127.0.0.1';
/** First byte a client sends the raw relay: publisher or reader. */
export const ROLE_PUBLISHER = 0x50; // 'P'
export const ROLE_READER = 0x52; // 'R'

// ---------------------------------------------------------------- child control protocol

/** What a relay child reports. */
export interface ChildReport {
  /** process.cpuUsage() of the child since the last 'mark', ms. */
  cpuUserMs: number;
  cpuSysMs: number;
  cpuMs: number;
  /** Highest RSS seen by sampling process.memoryUsage.rss() every 50 ms over the child's life, bytes. */
  peakRssSampled: number;
  /** VmHWM from /proc/self/status (peak RSS over the child's life); 0 where unavailable. */
  vmHwm: number;
  /** The larger of the two (VmHWM misses no spike; sampling is the fallback off Linux). */
  peakRss: number;
  rss: number;
  /** Relay counters (cumulative): frames in, frames written, frames dropped for slow readers. */
  counters: Record<string, number>;
}

/** A request to a child; the reply carries the same id. Events from a child carry id -1 and get no reply. */
interface Request {
  id: number;
  op: string;
  [k: string]: unknown;
}

interface ChildHooks {
  /** Relay-specific state (port, connected readers...). */
  info(): Record<string, number>;
  counters(): Record<string, number>;
  stop(): Promise<void>;
}

function readHwm(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CAMWIRE_FANOUT_HEAP_SAMPLE=DIR: samples allocations from now on with the inspector's heap
 * profiler, leaving out what a young-generation GC freed (so what survived scavenges; with
 * CAMWIRE_FANOUT_HEAP_SAMPLE_ALL=1 everything allocated); returns
 * the function that writes the profile to DIR/<relay>-<pid>.heapsample.json.
 */
function heapSample(): (() => Promise<void>) | undefined {
  const dir = process.env.CAMWIRE_FANOUT_HEAP_SAMPLE;
  if (!dir) return undefined;
  const session = new inspector.Session();
  session.connect();
  const post = (m: string, params: object = {}): Promise<unknown> => new Promise((res, rej) => session.post(m, params, (e, r) => (e ? rej(e) : res(r))));
  const started = post('HeapProfiler.enable').then(() => post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.CAMWIRE_FANOUT_HEAP_SAMPLE_ALL === '1' }));
  return async () => {
    await started;
    const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: object };
    writeFileSync(`${dir}/${process.env.CAMWIRE_FANOUT_CHILD ?? 'raw'}-${process.pid}.heapsample.json`, JSON.stringify(profile));
    session.disconnect();
  };
}

/** Child side: answers mark / report / info / stop over IPC. Call once the relay listens. */
export function serveControl(hooks: ChildHooks): void {
  let cpu0 = process.cpuUsage();
  let peak = process.memoryUsage.rss();
  // CAMWIRE_FANOUT_MEM=1: print where the memory was at the sampled peak (stderr, on stop).
  const mem = process.env.CAMWIRE_FANOUT_MEM === '1' || process.env.CAMWIRE_FANOUT_MEM === 'trace';
  let atPeak: NodeJS.MemoryUsage | undefined;
  /** The V8 heap's spaces at the sampled peak: committed MiB per space. */
  let spacesAtPeak = '';
  // CAMWIRE_FANOUT_MEM=trace: also a timeline (every 50 ms: RSS, heap used, new and old space
  // committed, external, ArrayBuffers, MiB), printed on stop.
  const trace = process.env.CAMWIRE_FANOUT_MEM === 'trace';
  const timeline: string[] = [];
  const t0 = performance.now();
  if (trace) process.stderr.write(`[${process.env.CAMWIRE_FANOUT_CHILD ?? 'raw'} relay ${process.pid}] ready at ${t0.toFixed(0)} ms\n`);
  const sampler = setInterval(() => {
    const r = process.memoryUsage.rss();
    if (trace) {
      const m = process.memoryUsage();
      const sp = Object.fromEntries(v8.getHeapSpaceStatistics().map((x) => [x.space_name, x.physical_space_size]));
      const f = (n: number): string => (n / 1048576).toFixed(1);
      timeline.push(`${((performance.now() - t0) / 1000).toFixed(2)} rss ${f(r)} used ${f(m.heapUsed)} new ${f(sp.new_space ?? 0)} old ${f(sp.old_space ?? 0)} ext ${f(m.external)} ab ${f(m.arrayBuffers)}`);
    }
    if (r > peak) {
      peak = r;
      if (mem) {
        atPeak = process.memoryUsage();
        spacesAtPeak = v8
          .getHeapSpaceStatistics()
          .filter((sp) => sp.physical_space_size >= 512 * 1024)
          .map((sp) => `${sp.space_name.replace(/_space$/, '')} ${(sp.physical_space_size / 1048576).toFixed(1)}`)
          .join(', ');
      }
    }
  }, 50);
  const report = (withCounters: boolean): ChildReport => {
    const c = process.cpuUsage(cpu0);
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
    const vmHwm = readHwm();
    return {
      cpuUserMs: c.user / 1000,
      cpuSysMs: c.system / 1000,
      cpuMs: (c.user + c.system) / 1000,
      peakRssSampled: peak,
      vmHwm,
      peakRss: Math.max(vmHwm, peak),
      rss,
      counters: withCounters ? hooks.counters() : {},
    };
  };
  const heapStop = heapSample();
  const stop = async (): Promise<void> => {
    clearInterval(sampler);
    await heapStop?.();
    if (trace) process.stderr.write(`[${process.env.CAMWIRE_FANOUT_CHILD ?? 'raw'} relay ${process.pid} timeline]\n${timeline.join('\n')}\n`);
    if (atPeak) {
      const mib = (n: number): string => (n / 1048576).toFixed(1);
      const { rss, heapTotal, heapUsed, external, arrayBuffers } = atPeak;
      process.stderr.write(`[${process.env.CAMWIRE_FANOUT_CHILD ?? 'raw'} relay] at peak RSS ${mib(rss)} MiB: heap ${mib(heapUsed)} of ${mib(heapTotal)}, external ${mib(external)} (ArrayBuffers ${mib(arrayBuffers)}); heap spaces committed, MiB: ${spacesAtPeak}\n`);
    }
    await hooks.stop();
  };
  process.on('message', (m: Request) => {
    const reply = (body: object): void => {
      process.send?.({ id: m.id, ...body });
    };
    switch (m.op) {
      case 'mark': {
        // Counters first: collecting them (camwire: server.stats()) is not part of what is measured.
        const counters = m.counters === false ? {} : hooks.counters();
        cpu0 = process.cpuUsage();
        reply({ counters });
        return;
      }
      case 'report':
        reply(report(m.counters !== false));
        return;
      case 'info':
        reply(hooks.info());
        return;
      case 'stop':
        void stop().then(() => process.send?.({ id: m.id }, undefined, undefined, () => process.exit(0)));
        return;
    }
  });
  // The parent went away without asking: do not linger.
  process.on('disconnect', () => void stop().then(() => process.exit(0)));
  process.send?.({ id: 0, ...hooks.info() });
}

/** Parent side of a child process of the bench (a relay, or a host of readers). */
export class RelayChild {
  readonly #cp: ChildProcess;
  readonly #waiting = new Map<number, (v: unknown) => void>();
  #ids = 1;
  #exited: Promise<void>;
  /** What the child sent once ready (its port). */
  info: Record<string, number> = {};
  /** Called for each event (a message with id -1) the child sends. */
  onEvent: (m: Record<string, unknown>) => void = () => {};

  private constructor(cp: ChildProcess) {
    this.#cp = cp;
    this.#exited = once(cp, 'exit').then(() => undefined);
    cp.on('message', (m: { id: number }) => {
      if (m.id < 0) return this.onEvent(m as unknown as Record<string, unknown>);
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      w?.(m);
    });
    cp.on('exit', (code, signal) => {
      for (const w of this.#waiting.values()) w({ error: `relay child exited (${code ?? signal})` });
      this.#waiting.clear();
    });
  }

  get pid(): number {
    return this.#cp.pid ?? 0;
  }

  /**
   * Forks `script` with CAMWIRE_FANOUT_CHILD=`kind`; resolves when it is ready (a relay: when it
   * listens). `advanced` IPC serialization carries typed arrays (latency samples).
   */
  static async start(
    script: string,
    kind: string,
    execArgv: string[] = [],
    env: Record<string, string> = {},
    serialization: 'json' | 'advanced' = 'json',
  ): Promise<RelayChild> {
    const cp = fork(script, [], {
      env: { ...process.env, ...env, CAMWIRE_FANOUT_CHILD: kind },
      execArgv,
      serialization,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const c = new RelayChild(cp);
    c.info = await new Promise<Record<string, number>>((resolve, reject) => {
      c.#waiting.set(0, (v) => {
        const e = (v as { error?: string }).error;
        if (e) reject(new Error(`${kind} ${e} before it was ready (${script})`));
        else resolve(v as Record<string, number>);
      });
      cp.once('error', reject);
    });
    return c;
  }

  request<T>(op: string, body: Record<string, unknown> = {}): Promise<T> {
    const id = this.#ids++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (v) => {
        const e = (v as { error?: string }).error;
        if (e) reject(new Error(e));
        else resolve(v as T);
      });
      this.#cp.send({ ...body, id, op } satisfies Request);
    });
  }

  /**
   * `counters`: false leaves the relay counters out (camwire's come from `server.stats()`, an object
   * per client: at 500 readers about a MiB of short-lived objects per call, which the bench must not
   * add to the relay's memory in every round; bench/FANOUT.md, "Peak RSS and 1 KiB").
   */
  mark(counters = true): Promise<{ counters: Record<string, number> }> {
    return this.request('mark', { counters });
  }

  report(counters = true): Promise<ChildReport> {
    return this.request('report', { counters });
  }

  /** Asks the child to stop and waits for it to exit (killing it after 5 s). */
  async stop(): Promise<void> {
    if (this.#cp.exitCode !== null || this.#cp.signalCode !== null) return;
    const t = setTimeout(() => this.#cp.kill('SIGKILL'), 5000);
    try {
      await Promise.race([this.request('stop').catch(() => undefined), this.#exited]);
      await this.#exited;
    } finally {
      clearTimeout(t);
    }
  }
}

// ---------------------------------------------------------------- framing

/**
 * Splits a byte stream into 4-byte big-endian length-prefixed frames. Hands over each frame
 * with its prefix (`whole`) as one Buffer: a view of the chunk when the frame sits in one,
 * else one copy. Lengths are read and views made with src/protocol/bytes.ts, as camwire's parser
 * does (a method loaded from a Buffer is not inlined).
 */
export class LengthFramer {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = -1;
  constructor(private readonly onFrame: (whole: Buffer) => void) {}

  push(c: Buffer): void {
    this.#chunks.push(c);
    this.#buffered += c.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        this.#need = 4 + this.#peekLength();
      }
      if (this.#buffered < this.#need) return;
      const f = this.#take(this.#need);
      this.#need = -1;
      this.onFrame(f);
    }
  }

  #peekLength(): number {
    const first = this.#chunks[0];
    if (first.length >= 4) return u32(first, 0);
    const h = Buffer.alloc(4);
    let o = 0;
    for (const c of this.#chunks) {
      o += c.copy(h, o, 0, Math.min(c.length, 4 - o));
      if (o === 4) break;
    }
    return u32(h, 0);
  }

  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = view(first, n);
      return view(first, 0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = view(c, k);
    }
    return out;
  }
}

// ---------------------------------------------------------------- raw relay (child process)

/** A reader of the raw relay. */
interface RawReader {
  sock: net.Socket;
  /** LIVE, FINISHING or BLOCKED (below). */
  state: number;
  /** FINISHING: 'drain' came before the frame it finishes did. */
  drained: boolean;
  /** Id of the newest whole frame this reader has been given (frames are numbered 1, 2, ... as they arrive). */
  got: number;
}

/** Gets every chunk as it was read. */
const LIVE = 0;
/** A write returned false in the middle of a frame: gets the rest of that frame only, then BLOCKED. */
const FINISHING = 1;
/** Gets nothing until its socket's 'drain'. */
const BLOCKED = 2;

/**
 * The raw relay. The publisher sends 4-byte big-endian length-prefixed frames. The relay does
 * not copy or re-frame anything; it only follows the frame boundaries in the stream, so that a
 * reader that cannot keep up skips whole frames:
 *  - each chunk one read from the publisher's socket delivered is written, as it is (the same
 *    Buffer), with one write() to every LIVE reader;
 *  - a reader whose write() returned false (Node's socket buffer holds 16 KiB or more, i.e. the
 *    kernel did not take it all) stops being LIVE. If the chunk ended inside a frame, it is
 *    FINISHING: it still gets the rest of that frame (the part of the next chunk(s) up to the
 *    frame's end), so it never holds a partial frame; then it is BLOCKED;
 *  - a BLOCKED reader gets nothing; the frames that arrive meanwhile are skipped for it;
 *  - on its socket's 'drain' it gets, in one corked write each: the newest whole frame it
 *    missed (latest wins: the older ones it missed are dropped; `dropped` counts every frame
 *    skipped for a reader, minus the one delivered on 'drain'), then the frame in
 *    progress from its start, if the stream is inside a frame; then it is LIVE again. Views of
 *    those two frames are kept (no copy) for this.
 * So a reader that keeps up costs one write per read, whatever the frame size; a reader that
 * falls behind gets the newest frame once it drains, and at most the frame it was in plus two
 * frames are written to it while its socket buffer is not empty.
 */
async function rawRelayChild(): Promise<void> {
  const readers = new Set<RawReader>();
  const sockets = new Set<net.Socket>();
  const counters = { framesIn: 0, chunks: 0, writes: 0, dropped: 0, cut: 0 };
  // The publisher's stream: where its frames start and end.
  let inFrame = false;
  const prefix = Buffer.alloc(4);
  let prefixHave = 0;
  let rem = 0;
  /** Whole frames received (the id of the newest). */
  let done = 0;
  /** Views of the newest whole frame, prefix included. */
  let newest: Buffer[] = [];
  /** Views of the frame in progress, from its prefix. */
  let cur: Buffer[] = [];

  const write = (r: RawReader, b: Buffer): boolean => {
    counters.writes++;
    return r.sock.write(b);
  };
  /** Writes views in one corked write; false when the socket now waits for 'drain'. */
  const writeViews = (r: RawReader, views: Buffer[]): boolean => {
    if (views.length === 1) return write(r, views[0]);
    counters.writes++;
    r.sock.cork();
    for (const v of views) r.sock.write(v);
    r.sock.uncork();
    return !r.sock.writableNeedDrain;
  };

  /**
   * CAMWIRE_FANOUT_RAW_SF=1 (a diagnostic, bench/FANOUT.md "Peak RSS"): store and forward. A
   * frame goes to the readers that keep up only once its last byte came, as views of the reads it
   * spanned, as camwire's server forwards it; a reader that cannot keep up gets the newest whole
   * frame on 'drain'. Shows what holding a frame's reads until it is whole costs in memory.
   */
  const storeForward = process.env.CAMWIRE_FANOUT_RAW_SF === '1';
  /** Store and forward: views of what came and was not forwarded yet (it starts at a frame's start). */
  let held: Buffer[] = [];

  const relay = (c: Buffer): void => {
    counters.chunks++;
    const before = done;
    const len = c.length;
    let off = 0;
    /** Start of the last frame begun in this chunk (-1: none began here). */
    let frameStart = -1;
    /** End of the first frame that ends in this chunk, and the start/end of the last one (start -1: began before). */
    let firstEnd = -1;
    let lastStart = -1;
    let lastEnd = -1;
    while (off < len) {
      if (!inFrame) {
        inFrame = true;
        frameStart = off;
        prefixHave = 0;
        if (len - off >= 4) {
          rem = u32(c, off);
          off += 4;
          prefixHave = 4;
        }
      }
      if (prefixHave < 4) {
        const k = Math.min(4 - prefixHave, len - off);
        c.copy(prefix, prefixHave, off, off + k);
        prefixHave += k;
        off += k;
        if (prefixHave < 4) break;
        rem = u32(prefix, 0);
      }
      const k = Math.min(rem, len - off);
      rem -= k;
      off += k;
      if (rem === 0) {
        inFrame = false;
        done++;
        if (firstEnd < 0) firstEnd = off;
        lastStart = frameStart;
        lastEnd = off;
        frameStart = -1;
      }
    }
    counters.framesIn += done - before;
    if (lastEnd >= 0) {
      if (lastStart >= 0) newest = [c.subarray(lastStart, lastEnd)];
      else {
        cur.push(c.subarray(0, lastEnd));
        newest = cur;
      }
    }
    if (!inFrame) cur = [];
    else if (frameStart >= 0) cur = [c.subarray(frameStart)];
    else cur.push(c);

    if (storeForward) {
      let out: Buffer[] | undefined;
      if (lastEnd >= 0) {
        out = held;
        out.push(c.subarray(0, lastEnd));
        held = lastEnd < len ? [c.subarray(lastEnd)] : [];
      } else held.push(c);
      for (const r of readers) {
        if (r.state !== LIVE) counters.dropped += done - before;
        else if (out) {
          r.got = done;
          if (!writeViews(r, out)) r.state = BLOCKED;
        }
      }
      return;
    }
    for (const r of readers) {
      if (r.state === LIVE) {
        r.got = done;
        if (!write(r, c)) r.state = inFrame ? FINISHING : BLOCKED;
      } else if (r.state === FINISHING) {
        if (r.drained) {
          // Its socket drained while it finished a frame: it takes the whole chunk and is LIVE again.
          r.drained = false;
          r.got = done;
          if (write(r, c)) r.state = LIVE;
          else r.state = inFrame ? FINISHING : BLOCKED;
        } else if (firstEnd < 0) {
          write(r, c);
        } else {
          write(r, c.subarray(0, firstEnd));
          r.got = before + 1;
          r.state = BLOCKED;
          counters.dropped += done - before - 1;
        }
      } else counters.dropped += done - before;
    }
  };

  const resume = (r: RawReader): void => {
    if (r.state === FINISHING) {
      r.drained = true;
      return;
    }
    if (r.state !== BLOCKED) return;
    let ok = true;
    const missed = done - r.got;
    if (missed > 0) {
      // Counted as dropped while it was skipped; the newest is delivered after all.
      counters.dropped--;
      r.got = done;
      ok = writeViews(r, newest);
    }
    if (storeForward) {
      r.state = ok ? LIVE : BLOCKED;
      return;
    }
    if (inFrame && cur.length) ok = writeViews(r, cur) && ok;
    r.state = ok ? LIVE : inFrame ? FINISHING : BLOCKED;
  };

  /**
   * CAMWIRE_FANOUT_RAW_ITER=1 (a diagnostic, bench/FANOUT.md "One write per reader per
   * iteration"): the publisher's reads of one event-loop iteration are joined and forwarded as
   * one chunk at its end (setImmediate), as camwire's server batches them; the default forwards
   * each read as it comes, the reference the goals are ratios to.
   */
  const perIteration = process.env.CAMWIRE_FANOUT_RAW_ITER === '1';
  let gathered: Buffer[] = [];
  const relayGathered = (): void => {
    const g = gathered;
    gathered = [];
    relay(g.length === 1 ? g[0] : Buffer.concat(g));
  };

  const server = net.createServer({ noDelay: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let role = 0;
    sock.on('data', (c: Buffer) => {
      if (role === 0) {
        role = c[0];
        c = c.subarray(1);
        if (role === ROLE_READER) {
          // A new reader joins as if it had just drained: it gets the frame in progress, if any, from its start.
          const r: RawReader = { sock, state: BLOCKED, drained: false, got: done };
          readers.add(r);
          sock.on('close', () => readers.delete(r));
          sock.on('drain', () => resume(r));
          resume(r);
        } else if (role !== ROLE_PUBLISHER) sock.destroy();
      }
      if (role === ROLE_PUBLISHER && c.length) {
        if (!perIteration) relay(c);
        else if (gathered.push(c) === 1) setImmediate(relayGathered);
      }
    });
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  serveControl({
    info: () => ({ port, readers: readers.size }),
    counters: () => ({ ...counters }),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}

// ---------------------------------------------------------------- slow readers

export interface Throttle {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP relay to `targetPort` that forwards what comes from the target at `rate` bytes/s per
 * connection (as test/helpers/tcp-relay.ts with downRate): the reader behind it reads slowly,
 * its kernel buffers fill, and the relay under test sees a stalled reader socket.
 */
export async function startThrottle(targetPort: number, rate: number): Promise<Throttle> {
  const socks = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = net.createServer((client) => {
    const up = net.connect(targetPort, HOST);
    for (const s of [client, up]) {
      socks.add(s);
      s.on('close', () => socks.delete(s));
    }
    client.setNoDelay(true);
    up.setNoDelay(true);
    client.pipe(up);
    up.on('data', (chunk: Buffer) => {
      up.pause();
      client.write(chunk);
      const t = setTimeout(() => {
        timers.delete(t);
        up.resume();
      }, (chunk.length / rate) * 1000);
      timers.add(t);
    });
    const kill = (): void => {
      client.destroy();
      up.destroy();
    };
    client.on('error', kill).on('close', kill);
    up.on('error', kill).on('close', kill);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close(): Promise<void> {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

if (process.env.CAMWIRE_FANOUT_CHILD === 'raw' && process.send) {
  rawRelayChild().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
