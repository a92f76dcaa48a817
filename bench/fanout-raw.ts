/**
 * The parts of the fan-out benchmark (fanout.ts) that need nothing from camwire, so the raw
 * baseline's child process loads no camwire code:
 *  - the control protocol of a relay child process (CPU time and peak RSS measured inside it,
 *    reported over IPC);
 *  - the raw relay: a net server that copies 4-byte length-prefixed frames from one publisher
 *    socket to N reader sockets, writing the same Buffer to every reader; a reader whose write
 *    returned false gets nothing more until its 'drain' except the newest frame, kept in a
 *    one-frame slot and written on 'drain' (latest wins, as camwire's per-reader video slot);
 *  - the raw clients (one publisher, N readers) living in the benchmark process;
 *  - a throttling TCP relay that forwards to a slow reader at a fixed byte rate.
 *
 * Run as a child (fork of this file with CAMWIRE_FANOUT_CHILD=raw) it is the raw relay.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';

export const HOST = '127.0.0.1';
const ROLE_PUBLISHER = 0x50; // 'P'
const ROLE_READER = 0x52; // 'R'

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

interface Request {
  id: number;
  op: 'mark' | 'report' | 'info' | 'stop';
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

/** Child side: answers mark / report / info / stop over IPC. Call once the relay listens. */
export function serveControl(hooks: ChildHooks): void {
  let cpu0 = process.cpuUsage();
  let peak = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
  }, 50);
  const report = (): ChildReport => {
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
      counters: hooks.counters(),
    };
  };
  const stop = async (): Promise<void> => {
    clearInterval(sampler);
    await hooks.stop();
  };
  process.on('message', (m: Request) => {
    const reply = (body: object): void => {
      process.send?.({ id: m.id, ...body });
    };
    switch (m.op) {
      case 'mark': {
        // Counters first: collecting them (camwire: server.stats()) is not part of what is measured.
        const counters = hooks.counters();
        cpu0 = process.cpuUsage();
        reply({ counters });
        return;
      }
      case 'report':
        reply(report());
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

/** Parent side of a relay child. */
export class RelayChild {
  readonly #cp: ChildProcess;
  readonly #waiting = new Map<number, (v: unknown) => void>();
  #ids = 1;
  #exited: Promise<void>;
  /** What the child sent once ready (its port). */
  info: Record<string, number> = {};

  private constructor(cp: ChildProcess) {
    this.#cp = cp;
    this.#exited = once(cp, 'exit').then(() => undefined);
    cp.on('message', (m: { id: number }) => {
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

  /** Forks `script` with CAMWIRE_FANOUT_CHILD=`kind`; resolves when it listens. */
  static async start(script: string, kind: string, execArgv: string[] = [], env: Record<string, string> = {}): Promise<RelayChild> {
    const cp = fork(script, [], { env: { ...process.env, ...env, CAMWIRE_FANOUT_CHILD: kind }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

  request<T>(op: Request['op']): Promise<T> {
    const id = this.#ids++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (v) => {
        const e = (v as { error?: string }).error;
        if (e) reject(new Error(e));
        else resolve(v as T);
      });
      this.#cp.send({ id, op } satisfies Request);
    });
  }

  mark(): Promise<{ counters: Record<string, number> }> {
    return this.request('mark');
  }

  report(): Promise<ChildReport> {
    return this.request('report');
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

/** Writes one 4-byte big-endian length-prefixed frame, header and payload in one corked write. */
export function writeLengthPrefixed(sock: net.Socket, p: Buffer): void {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(p.length, 0);
  sock.cork();
  sock.write(h);
  sock.write(p);
  sock.uncork();
}

/**
 * Splits a byte stream into 4-byte big-endian length-prefixed frames. Hands over each frame
 * with its prefix (`whole`) as one Buffer: a view of the chunk when the frame sits in one,
 * else one copy.
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
    if (first.length >= 4) return first.readUInt32BE(0);
    const h = Buffer.alloc(4);
    let o = 0;
    for (const c of this.#chunks) {
      o += c.copy(h, o, 0, Math.min(c.length, 4 - o));
      if (o === 4) break;
    }
    return h.readUInt32BE(0);
  }

  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }
}

// ---------------------------------------------------------------- raw relay (child process)

interface RawReader {
  sock: net.Socket;
  /** write() returned false: nothing more until 'drain' but the newest frame, kept here. */
  blocked: boolean;
  pending: Buffer | undefined;
}

async function rawRelayChild(): Promise<void> {
  const readers = new Set<RawReader>();
  const sockets = new Set<net.Socket>();
  const counters = { framesIn: 0, writes: 0, dropped: 0, cut: 0 };
  const write = (r: RawReader, frame: Buffer): void => {
    counters.writes++;
    if (!r.sock.write(frame)) r.blocked = true;
  };
  const relay = (frame: Buffer): void => {
    counters.framesIn++;
    for (const r of readers) {
      if (!r.blocked) write(r, frame);
      else {
        if (r.pending) counters.dropped++;
        r.pending = frame;
      }
    }
  };
  const server = net.createServer({ noDelay: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let role = 0;
    let framer: LengthFramer | undefined;
    sock.on('data', (c: Buffer) => {
      if (role === 0) {
        role = c[0];
        c = c.subarray(1);
        if (role === ROLE_READER) {
          const r: RawReader = { sock, blocked: false, pending: undefined };
          readers.add(r);
          sock.on('close', () => readers.delete(r));
          sock.on('drain', () => {
            r.blocked = false;
            const p = r.pending;
            r.pending = undefined;
            if (p) write(r, p);
          });
        } else if (role === ROLE_PUBLISHER) framer = new LengthFramer(relay);
        else sock.destroy();
      }
      if (framer && c.length) framer.push(c);
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

// ---------------------------------------------------------------- the clients under test

/** One publisher and N readers of a relay, living in the benchmark process. */
export interface Rig {
  readonly label: string;
  readonly n: number;
  /** Set by the driver: called for each frame reader `i` gets (the payload as published). */
  onFrame: (reader: number, data: Buffer) => void;
  /** Publishes one frame (the driver does not touch the buffer until it reached every fast reader). */
  send(payload: Buffer): void;
  /** Frames the publisher dropped by policy so far (camwire's latest-wins), cumulative. */
  pubDropped(): number;
  /** Unexpected events (errors, disconnects). */
  readonly problems: string[];
  close(): Promise<void>;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port }, () => {
      s.off('error', reject);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Raw clients of the raw relay: reader i connects to `portOf(i)` (the relay, or a throttling
 * relay in front of it), says 'R' and parses frames; the publisher says 'P' and writes
 * [length][payload] with cork/uncork. Resolves when the relay counts all N readers.
 */
export async function rawRig(child: RelayChild, n: number, portOf: (i: number) => number): Promise<Rig> {
  const problems: string[] = [];
  const socks: net.Socket[] = [];
  let closing = false;
  const rig: Rig = {
    label: 'raw relay',
    n,
    onFrame: () => {},
    send(p: Buffer): void {
      writeLengthPrefixed(pub, p);
    },
    pubDropped: () => 0,
    problems,
    async close(): Promise<void> {
      closing = true;
      const closed = socks.filter((s) => !s.destroyed).map((s) => once(s, 'close'));
      for (const s of socks) s.destroy();
      await Promise.all(closed);
    },
  };
  const watch = (s: net.Socket, who: string): void => {
    s.on('error', (e) => {
      if (!closing) problems.push(`${who}: ${e.message}`);
    });
    s.on('close', () => {
      if (!closing) problems.push(`${who} closed`);
    });
  };
  for (let base = 0; base < n; base += 50) {
    const batch: Promise<void>[] = [];
    for (let i = base; i < Math.min(n, base + 50); i++) {
      batch.push(
        connect(portOf(i)).then((s) => {
          socks.push(s);
          watch(s, `reader ${i}`);
          const framer = new LengthFramer((whole) => rig.onFrame(i, whole.subarray(4)));
          s.on('data', (c: Buffer) => framer.push(c));
          s.write(Buffer.from([ROLE_READER]));
        }),
      );
    }
    await Promise.all(batch);
  }
  for (let t = 0; ; t++) {
    const { readers } = await child.request<{ readers: number }>('info');
    if (readers >= n) break;
    if (t > 1000) throw new Error(`raw relay counts ${readers} of ${n} readers`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const pub = await connect(child.info.port);
  socks.push(pub);
  watch(pub, 'publisher');
  pub.write(Buffer.from([ROLE_PUBLISHER]));
  return rig;
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
