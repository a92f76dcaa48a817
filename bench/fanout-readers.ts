/**
 * The readers of the fan-out bench (fanout.ts), in child processes of their own, so that what
 * the bench measures is the relay and not readers sharing the publisher's event loop.
 *
 * A child hosts readers of any number of rigs (one rig = one relay's N readers; the readers of
 * both relays of a case live in the same children, idle while the other relay is measured).
 * Reader i of a rig goes to child i % children. Kinds of reader:
 *  - 'raw': a bare socket to the raw relay: says 'R', then parses 4-byte length-prefixed frames;
 *  - 'camwire': a bare socket to the MediaServer speaking the pull protocol: HELLO (kind 1,
 *    media type video, its client id in `from`, {"role":"pull"}), waits for WELCOME, then
 *    parses frames: DATA video (protocol.md 2.1 and 4.1), PING (answered with PONG: the server
 *    pings a silent reader every 5 s and drops it after 15 s), CLOSE (a problem);
 *  - 'receiver' (optional end-to-end case): a library Receiver pulling ['video'].
 * The two wire readers are written the same way: every socket reads into ONE read buffer shared
 * by all sockets of the child (net's `onread` option: no Buffer per read), and the parser is a
 * state machine per reader that reads the bytes it looks at (a frame's header, a camwire video
 * header, the payload's 16-byte stamp) where they lie when one read holds them all, byte by
 * byte (Buffer's methods are not inlined: bench/FANOUT.md), and otherwise copies them into a
 * small buffer of its own as they come; it skips the rest: no object per frame. Both kinds read
 * the same way, so neither system's figure carries more of the readers' cost than its wire
 * format asks (bench/FANOUT.md, "Lean readers").
 *
 * Clock: every payload starts with the send time on `clock()`, performance.timeOrigin +
 * performance.now(): ms since the Unix epoch with sub-microsecond resolution, taken from the
 * monotonic clock and anchored to the wall clock once, when the process starts. The latency is
 * the reader's clock() when the frame's last byte was parsed minus that stamp, across processes.
 * ReaderPool.clockCheck() measures the offset between the parent's and each child's clock (the
 * reply of the least round trip among 200 over IPC, offset = child - midpoint, bound = half the
 * round trip); fanout.ts prints it.
 *
 * Flow control: a child tells the parent (an IPC event, at most one per event-loop turn) the
 * newest seq that every fast reader of the rig in this child has reached (got it or a later
 * one); the publisher's window advances on the least of the children's.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { u32 } from '../src/protocol/bytes.js';
import { HOST, RelayChild, ROLE_READER } from './fanout-raw.js';
import { loadCamwire } from './lib.js';

/** Bytes 0..7 send time (clock(), float64 LE), 8..11 seq (u32 LE), 12..15 run id (u32 LE). */
export const STAMP = 16;
/** Seqs tracked at once (the window must stay well below). */
export const RING = 1024;
const READ_BUFFER = 256 * 1024;
const ORIGIN = performance.timeOrigin;

/** The bench's clock, comparable across processes on one host (see above). */
export const clock = (): number => ORIGIN + performance.now();

export type ReaderKind = 'raw' | 'camwire' | 'receiver';

export interface ReaderSpec {
  /** Index of the reader in its rig. */
  i: number;
  port: number;
  /** camwire client id. */
  id: string;
  /** The publisher's window waits for fast readers only. */
  fast: boolean;
}

/** What a child counted for one rig over one phase. */
export interface ChildTally {
  delivered: number;
  bytes: number;
  slowDelivered: number;
  bad: number;
  stray: number;
  /** clock() of the last delivery to a fast reader. */
  lastT: number;
  /** Latency of every delivery to a fast reader, ms. */
  samples: Float64Array;
  cpuUserMs: number;
  cpuSysMs: number;
  wallMs: number;
  problems: string[];
}

// ---------------------------------------------------------------- child side

/** Per-reader flow-control state shared by every kind of reader. */
export interface Tracked {
  readonly fast: boolean;
  /** Newest seq this reader got in the current phase. */
  newest: number;
}

/** The readers of one rig in this child, and what they counted in the current phase. */
class Group {
  readonly readers: Tracked[] = [];
  readonly sockets: net.Socket[] = [];
  readonly stoppers: Array<() => Promise<void>> = [];
  nFast = 0;
  run = -1;
  size = 0;
  completed = 0;
  readonly ring = new Uint32Array(RING);
  lat = new Float64Array(8192);
  n = 0;
  delivered = 0;
  bytes = 0;
  slow = 0;
  bad = 0;
  stray = 0;
  lastT = 0;
  problems: string[] = [];
  closing = false;
  #scheduled = false;
  cpu0 = process.cpuUsage();
  wall0 = clock();

  constructor(readonly rig: number) {}

  problem(p: string): void {
    if (!this.closing && this.problems.length < 50) this.problems.push(p);
  }

  start(run: number, size: number): void {
    this.run = run;
    this.size = size;
    this.completed = 0;
    this.ring.fill(0);
    for (const r of this.readers) r.newest = 0;
    this.n = this.delivered = this.bytes = this.slow = this.bad = this.stray = 0;
    this.lastT = 0;
    this.cpu0 = process.cpuUsage();
    this.wall0 = clock();
  }

  end(): ChildTally {
    const c = process.cpuUsage(this.cpu0);
    const out: ChildTally = {
      delivered: this.delivered,
      bytes: this.bytes,
      slowDelivered: this.slow,
      bad: this.bad,
      stray: this.stray,
      lastT: this.lastT,
      samples: this.lat.slice(0, this.n),
      cpuUserMs: c.user / 1000,
      cpuSysMs: c.system / 1000,
      wallMs: clock() - this.wall0,
      problems: this.problems,
    };
    this.problems = [];
    this.run = -1;
    return out;
  }

  skip(seq: number): void {
    for (let s = this.completed + 1; s <= seq; s++) this.ring[s % RING] = 0;
    if (seq > this.completed) this.completed = seq;
  }

  /** A whole frame reached reader `r` at `now`. */
  frame(r: Tracked, now: number, stamp: number, seq: number, run: number, len: number): void {
    if (run !== this.run) {
      this.stray++;
      return;
    }
    if (len !== this.size) this.bad++;
    if (!r.fast) {
      this.slow++;
      return;
    }
    if (this.n === this.lat.length) {
      const bigger = new Float64Array(this.lat.length * 2);
      bigger.set(this.lat);
      this.lat = bigger;
    }
    this.lat[this.n++] = now - stamp;
    this.delivered++;
    this.bytes += len;
    this.lastT = now;
    const prev = r.newest;
    if (seq <= prev) return;
    r.newest = seq;
    const ring = this.ring;
    for (let s = Math.max(prev, this.completed) + 1; s <= seq; s++) ring[s % RING]++;
    let moved = false;
    while (ring[(this.completed + 1) % RING] >= this.nFast) {
      this.completed++;
      ring[this.completed % RING] = 0;
      moved = true;
    }
    if (moved && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#report);
    }
  }

  readonly #report = (): void => {
    this.#scheduled = false;
    if (this.run >= 0) process.send?.({ id: -1, ev: 'c', rig: this.rig, run: this.run, s: this.completed });
  };
}

/**
 * The stamp's little-endian fields by byte arithmetic (the readers' per-frame path: Buffer's
 * methods are not inlined). The wire's big-endian fields use src/protocol/bytes.ts, as the relay does.
 */
function u32le(b: Uint8Array, o: number): number {
  return b[o + 3] * 0x1000000 + ((b[o + 2] << 16) | (b[o + 1] << 8) | b[o]);
}
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const hostLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function f64le(b: Uint8Array, o: number): number {
  if (hostLE) for (let i = 0; i < 8; i++) f64Bytes[i] = b[o + i];
  else for (let i = 0; i < 8; i++) f64Bytes[7 - i] = b[o + i];
  return f64[0];
}

const P_HEAD = 0;
const P_VIDEO1 = 1;
const P_VIDEO2 = 2;
const P_STAMP = 3;
const P_CONTROL = 4;
const CW_HEADER = 36;
const KIND_WELCOME = 2;
const KIND_DATA = 3;
const KIND_PING = 6;
const KIND_PONG = 7;
const KIND_CLOSE = 8;
const MT_VIDEO = 1;

/** The shared read buffer of every wire reader in this child. */
let readBuffer: Buffer | undefined;

/** Where a WireReader reports (a Group; a test's recorder). */
export interface FrameSink {
  frame(r: Tracked, now: number, stamp: number, seq: number, run: number, len: number): void;
  problem(p: string): void;
}

/**
 * A reader on a bare socket: raw (length-prefixed) or camwire (pull channel). Reads a frame's
 * header, video header and stamp where they lie when one read holds them (#inPlace); otherwise
 * keeps the bytes as they come in `head`. Exported for its unit test.
 */
export class WireReader implements Tracked {
  newest = 0;
  sock!: net.Socket;
  readonly head: Buffer;
  have = 0;
  need: number;
  phase = P_HEAD;
  /** Bytes of the current frame still to skip. */
  rest = 0;
  /** The current frame's whole length (header included) and where its image data starts. */
  total = 0;
  dataStart = 0;
  len = 0;
  stamp = 0;
  seq = 0;
  run = -1;
  welcomed: (() => void) | undefined;
  failed = false;

  constructor(
    readonly g: FrameSink,
    readonly spec: ReaderSpec,
    readonly cw: boolean,
    readonly key: bigint,
  ) {
    this.head = Buffer.alloc(cw ? 640 : 32);
    this.need = cw ? CW_HEADER : 4;
  }

  get fast(): boolean {
    return this.spec.fast;
  }

  push(b: Buffer, off: number, end: number): void {
    while (off < end && !this.failed) {
      if (this.rest > 0) {
        const k = Math.min(this.rest, end - off);
        this.rest -= k;
        off += k;
        if (this.rest === 0) this.#done();
        continue;
      }
      if (this.have === 0 && this.phase === P_HEAD) {
        const next = this.#inPlace(b, off, end);
        if (next >= 0) {
          off = next;
          continue;
        }
      }
      const k = Math.min(this.need - this.have, end - off);
      b.copy(this.head, this.have, off, off + k);
      this.have += k;
      off += k;
      while (this.have === this.need && this.rest === 0 && !this.failed) this.#step();
    }
  }

  /**
   * A data frame whose header, (camwire) video header and stamp are all in b[off, end), read
   * where it lies: no copy, no Buffer method (V8 does not inline them). Returns the offset after
   * the stamp, with the rest of the frame to skip; or -1 (anything else, or a frame cut by the
   * read's end) for the stepwise path below, which reads the same fields. Changes nothing then.
   */
  #inPlace(b: Buffer, off: number, end: number): number {
    let dataStart: number;
    let total: number;
    if (!this.cw) {
      if (end - off < 4 + STAMP) return -1;
      total = 4 + u32(b, off);
      dataStart = 4;
    } else {
      if (end - off < CW_HEADER || b[off] !== 0x43 || b[off + 1] !== 0x57 || b[off + 3] !== KIND_DATA || b[off + 4] !== MT_VIDEO) return -1;
      const ids = b[off + 32] + b[off + 33] + b[off + 34];
      total = CW_HEADER + ids + u32(b, off + 12);
      // The video header (protocol.md 4.1): 5 bytes, hasRect, 8 bytes of rectangle if set, the name's length, the name.
      let q = CW_HEADER + ids + 6;
      if (end - off < q + 9) return -1;
      if (b[off + q - 1]) q += 8;
      dataStart = q + 1 + b[off + q];
    }
    if (total - dataStart < STAMP || end - off < dataStart + STAMP) return -1;
    // Only what #done reports and the skip need: `total` and `dataStart` are the stepwise path's.
    const at = off + dataStart;
    this.len = total - dataStart;
    this.stamp = f64le(b, at);
    this.seq = u32le(b, at + 8);
    this.run = u32le(b, at + 12);
    this.rest = total - dataStart - STAMP;
    if (this.rest === 0) this.#done();
    return at + STAMP;
  }

  #step(): void {
    const h = this.head;
    switch (this.phase) {
      case P_HEAD: {
        if (!this.cw) {
          this.total = 4 + h.readUInt32BE(0);
          this.dataStart = 4;
          this.len = this.total - 4;
          this.need = Math.min(this.total, 4 + STAMP);
          this.phase = P_STAMP;
          return;
        }
        if (h[0] !== 0x43 || h[1] !== 0x57) return this.#fail('not a camwire frame (bad magic)');
        const kind = h[3];
        const ids = h[32] + h[33] + h[34];
        this.total = CW_HEADER + ids + h.readUInt32BE(12);
        if (kind === KIND_DATA && h[4] === MT_VIDEO) {
          this.need = CW_HEADER + ids + 6;
          this.phase = P_VIDEO1;
        } else if (this.total <= h.length) {
          this.need = this.total;
          this.phase = P_CONTROL;
        } else {
          this.g.problem(`${this.spec.id}: unexpected frame of kind ${kind}, media type ${h[4]}, ${this.total} bytes`);
          this.rest = this.total - this.have;
          this.run = -2;
        }
        return;
      }
      case P_VIDEO1:
        // hasRect (protocol.md 4.1): 8 more bytes of rectangle, then the name length.
        this.need += (h[this.need - 1] ? 8 : 0) + 1;
        this.phase = P_VIDEO2;
        return;
      case P_VIDEO2:
        this.dataStart = this.need + h[this.need - 1];
        this.len = this.total - this.dataStart;
        this.need = Math.min(this.total, this.dataStart + STAMP);
        this.phase = P_STAMP;
        return;
      case P_STAMP:
        if (this.need - this.dataStart === STAMP) {
          this.stamp = h.readDoubleLE(this.need - 16);
          this.seq = h.readUInt32LE(this.need - 8);
          this.run = h.readUInt32LE(this.need - 4);
        } else this.run = -1;
        this.rest = this.total - this.need;
        if (this.rest === 0) this.#done();
        return;
      case P_CONTROL:
        this.#control();
        this.#reset();
        return;
    }
  }

  #done(): void {
    if (this.run !== -2) this.g.frame(this, clock(), this.stamp, this.seq, this.run, this.len);
    this.#reset();
  }

  #reset(): void {
    this.have = 0;
    this.need = this.cw ? CW_HEADER : 4;
    this.phase = P_HEAD;
    this.run = -1;
  }

  #control(): void {
    const h = this.head;
    const kind = h[3];
    if (kind === KIND_WELCOME) {
      this.welcomed?.();
      this.welcomed = undefined;
    } else if (kind === KIND_PING) {
      // PONG with the PING's timestamp, tagged with our key and the channel's type (protocol.md 3.4).
      const p = Buffer.alloc(CW_HEADER);
      cwFixedHeader(p, KIND_PONG, MT_VIDEO, 0, this.key, h.readDoubleBE(24), 0);
      this.sock.write(p);
    } else if (kind === KIND_CLOSE) {
      const at = CW_HEADER + h[32] + h[33] + h[34];
      const code = this.total - at >= 2 ? h.readUInt16BE(at) : 0;
      this.g.problem(`${this.spec.id}: the server closed the channel (${code} ${h.toString('utf8', at + 2, this.total)})`);
    }
  }

  #fail(why: string): void {
    this.failed = true;
    this.g.problem(`${this.spec.id}: ${why}`);
    this.sock.destroy();
  }
}

/** Writes a camwire fixed header (protocol.md 2.1) with no ids into `b`. */
function cwFixedHeader(b: Buffer, kind: number, mediaType: number, payloadLength: number, key: bigint, timestamp: number, fromLength: number): void {
  b.writeUInt16BE(0x4357, 0);
  b[2] = 1;
  b[3] = kind;
  b[4] = mediaType;
  b[5] = 0;
  b.writeUInt16BE(0, 6);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(payloadLength, 12);
  b.writeBigUInt64BE(key, 16);
  b.writeDoubleBE(timestamp, 24);
  b[32] = fromLength;
  b[33] = 0;
  b[34] = 0;
  b[35] = 0;
}

/** A pull HELLO for the video channel from client `id`. */
function hello(id: string, key: bigint): Buffer {
  const from = Buffer.from(id, 'utf8');
  const payload = Buffer.from(JSON.stringify({ role: 'pull', agent: 'camwire-fanout-bench' }), 'utf8');
  const b = Buffer.alloc(CW_HEADER + from.length + payload.length);
  cwFixedHeader(b, 1, MT_VIDEO, payload.length, key, Date.now(), from.length);
  from.copy(b, CW_HEADER);
  payload.copy(b, CW_HEADER + from.length);
  return b;
}

function openWire(g: Group, spec: ReaderSpec, cw: boolean): Promise<void> {
  const key = BigInt(1 + Math.floor(Math.random() * 2 ** 48));
  const r = new WireReader(g, spec, cw, key);
  readBuffer ??= Buffer.allocUnsafe(READ_BUFFER);
  return new Promise((resolve, reject) => {
    const sock = net.connect({
      host: HOST,
      port: spec.port,
      noDelay: true,
      onread: {
        buffer: readBuffer!,
        callback: (n: number, buf: Uint8Array): boolean => {
          r.push(buf as Buffer, 0, n);
          return true;
        },
      },
    });
    r.sock = sock;
    g.readers.push(r);
    g.sockets.push(sock);
    if (spec.fast) g.nFast++;
    let ready = false;
    sock.once('connect', () => {
      if (cw) {
        r.welcomed = () => {
          ready = true;
          resolve();
        };
        sock.write(hello(spec.id, key));
      } else {
        sock.write(Buffer.from([ROLE_READER]));
        ready = true;
        resolve();
      }
    });
    sock.on('error', (e) => {
      if (!ready) reject(new Error(`reader ${spec.id}: ${e.message}`));
      else g.problem(`${spec.id}: ${e.message}`);
    });
    sock.on('close', () => {
      if (!ready) reject(new Error(`reader ${spec.id}: closed before it was ready`));
      else g.problem(`${spec.id}: connection closed`);
    });
  });
}

async function openReceiver(g: Group, spec: ReaderSpec): Promise<void> {
  const { Receiver } = await loadCamwire();
  const t: Tracked = { fast: spec.fast, newest: 0 };
  g.readers.push(t);
  if (spec.fast) g.nFast++;
  const rx = new Receiver({
    protocol: 'tcp',
    connection: 'receiver-to-sender',
    senders: [{ host: HOST, port: spec.port }],
    clientId: spec.id,
    receiveMediaTypes: ['video'],
    reconnect: false,
  });
  g.stoppers.push(() => rx.stop());
  rx.on('video', (f) => {
    const d = f.data;
    if (d.length < STAMP) g.stray++;
    else g.frame(t, clock(), d.readDoubleLE(0), d.readUInt32LE(8), d.readUInt32LE(12), d.length);
  });
  rx.on('disconnect', (ev) => ev.error && g.problem(`${spec.id} disconnect: ${ev.error.message}`));
  rx.on('protocolError', (err) => g.problem(`${spec.id} protocolError: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    rx.once('sessionConnected', () => resolve());
    rx.once('connectError', (ev) => reject(new Error(`reader ${spec.id} could not connect: ${ev.error?.message}`)));
    rx.start().catch(reject);
  });
}

function readersChild(): void {
  const groups = new Map<number, Group>();
  process.on('message', (m: { id: number; op: string; rig: number; [k: string]: unknown }) => {
    const reply = (body: object): void => void process.send?.({ ...body, id: m.id });
    const g = groups.get(m.rig);
    switch (m.op) {
      case 'clock':
        return reply({ t: clock() });
      case 'open': {
        const ng = new Group(m.rig);
        groups.set(m.rig, ng);
        const specs = m.specs as ReaderSpec[];
        const kind = m.kind as ReaderKind;
        void (async () => {
          for (let base = 0; base < specs.length; base += 50) {
            await Promise.all(
              specs.slice(base, base + 50).map((s) => (kind === 'receiver' ? openReceiver(ng, s) : openWire(ng, s, kind === 'camwire'))),
            );
          }
        })().then(
          () => reply({}),
          (err: Error) => reply({ error: err.message }),
        );
        return;
      }
      case 'phase':
        g!.start(m.run as number, m.size as number);
        return reply({});
      case 'end': {
        const t = g!.end();
        return reply(t);
      }
      case 'skip':
        g!.skip(m.seq as number);
        return reply({});
      case 'close': {
        if (!g) return reply({});
        g.closing = true;
        groups.delete(m.rig);
        for (const s of g.sockets) s.destroy();
        void Promise.all(g.stoppers.map((f) => f())).then(() => reply({}));
        return;
      }
      case 'stop':
        process.send?.({ id: m.id }, undefined, undefined, () => process.exit(0));
        return;
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ id: 0 });
}

// ---------------------------------------------------------------- parent side

interface GroupState {
  /** Children that host readers of the rig, and whether each has fast readers. */
  children: number[];
  hasFast: boolean[];
  completed: number[];
  run: number;
  listener: ((completed: number) => void) | undefined;
}

/** Merged tallies of one phase over the children, and each child's CPU. */
export interface PoolTally {
  delivered: number;
  bytes: number;
  slowDelivered: number;
  bad: number;
  stray: number;
  lastT: number;
  samples: Float64Array;
  /** Per child hosting the rig: CPU ms (user + system) and the phase's wall ms in that child. */
  children: Array<{ cpuMs: number; wallMs: number }>;
  problems: string[];
}

/** The reader child processes, forked once for the whole bench. */
export class ReaderPool {
  readonly #procs: RelayChild[];
  readonly #groups = new Map<number, GroupState>();

  private constructor(procs: RelayChild[]) {
    this.#procs = procs;
    procs.forEach((p, ci) => {
      p.onEvent = (m) => {
        if (m.ev !== 'c') return;
        const g = this.#groups.get(m.rig as number);
        if (!g || g.run !== m.run) return;
        const k = g.children.indexOf(ci);
        if (k < 0 || (m.s as number) <= g.completed[k]) return;
        g.completed[k] = m.s as number;
        g.listener?.(this.#min(g));
      };
    });
  }

  static async start(n: number, execArgv: string[] = []): Promise<ReaderPool> {
    const script = fileURLToPath(import.meta.url);
    const procs: RelayChild[] = [];
    for (let i = 0; i < n; i++) procs.push(await RelayChild.start(script, 'readers', execArgv, {}, 'advanced'));
    return new ReaderPool(procs);
  }

  get size(): number {
    return this.#procs.length;
  }

  pids(): number[] {
    return this.#procs.map((p) => p.pid);
  }

  /** Offset of each child's clock() from this process's (ms) and its bound (half the least round trip). */
  async clockCheck(pings = 200): Promise<Array<{ offsetMs: number; boundMs: number }>> {
    const out: Array<{ offsetMs: number; boundMs: number }> = [];
    for (const p of this.#procs) {
      let best = { offsetMs: NaN, boundMs: Infinity };
      for (let i = 0; i < pings; i++) {
        const t0 = clock();
        const { t } = await p.request<{ t: number }>('clock');
        const t1 = clock();
        if ((t1 - t0) / 2 < best.boundMs) best = { offsetMs: t - (t0 + t1) / 2, boundMs: (t1 - t0) / 2 };
      }
      out.push(best);
    }
    return out;
  }

  #min(g: GroupState): number {
    let m = Infinity;
    for (let k = 0; k < g.children.length; k++) if (g.hasFast[k] && g.completed[k] < m) m = g.completed[k];
    return m;
  }

  /** Connects the readers of `rig` (reader i in child i % children); resolves when all are ready. */
  async open(rig: number, kind: ReaderKind, specs: ReaderSpec[]): Promise<void> {
    const used = Math.min(this.#procs.length, specs.length);
    const per: ReaderSpec[][] = Array.from({ length: used }, () => []);
    for (const s of specs) per[s.i % used].push(s);
    const children = per.map((_, k) => k);
    this.#groups.set(rig, {
      children,
      hasFast: per.map((l) => l.some((s) => s.fast)),
      completed: per.map(() => 0),
      run: -1,
      listener: undefined,
    });
    const res = await Promise.all(children.map((k) => this.#procs[k].request<{ error?: string }>('open', { rig, kind, specs: per[k] })));
    const err = res.find((r) => r.error);
    if (err) throw new Error(err.error);
  }

  /** Starts a phase: from now on `listener` gets the newest seq every fast reader reached. */
  async phase(rig: number, run: number, size: number, listener: (completed: number) => void): Promise<void> {
    const g = this.#groups.get(rig)!;
    g.run = run;
    g.completed.fill(0);
    g.listener = listener;
    await Promise.all(g.children.map((k) => this.#procs[k].request('phase', { rig, run, size })));
  }

  /** The window was written off up to `seq`. */
  skip(rig: number, seq: number): void {
    const g = this.#groups.get(rig)!;
    for (let k = 0; k < g.children.length; k++) g.completed[k] = Math.max(g.completed[k], seq);
    for (const k of g.children) void this.#procs[k].request('skip', { rig, seq });
  }

  async end(rig: number): Promise<PoolTally> {
    const g = this.#groups.get(rig)!;
    g.listener = undefined;
    g.run = -1;
    const parts = await Promise.all(g.children.map((k) => this.#procs[k].request<ChildTally>('end', { rig })));
    const n = parts.reduce((a, p) => a + p.samples.length, 0);
    const samples = new Float64Array(n);
    let o = 0;
    for (const p of parts) {
      samples.set(p.samples, o);
      o += p.samples.length;
    }
    return {
      delivered: parts.reduce((a, p) => a + p.delivered, 0),
      bytes: parts.reduce((a, p) => a + p.bytes, 0),
      slowDelivered: parts.reduce((a, p) => a + p.slowDelivered, 0),
      bad: parts.reduce((a, p) => a + p.bad, 0),
      stray: parts.reduce((a, p) => a + p.stray, 0),
      lastT: Math.max(...parts.map((p) => p.lastT)),
      samples,
      children: parts.map((p) => ({ cpuMs: p.cpuUserMs + p.cpuSysMs, wallMs: p.wallMs })),
      problems: parts.flatMap((p) => p.problems),
    };
  }

  async close(rig: number): Promise<void> {
    const g = this.#groups.get(rig);
    if (!g) return;
    this.#groups.delete(rig);
    await Promise.all(g.children.map((k) => this.#procs[k].request('close', { rig })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.stop()));
  }
}

if (process.env.CAMWIRE_FANOUT_CHILD === 'readers' && process.send) readersChild();
