/**
 * Store benchmark: how fast a MediaServer handles the requests that change its durable state,
 * with the library's MemoryStore and with a SqliteStore (one SQLite transaction per change).
 * Results and notes: bench/STORE.md.
 *
 *   npm run bench                                    # everything; this bench runs last
 *   npm run build:test && node build/bench/run.js --cases=store       # only this (or: --cases store)
 *   node build/bench/run.js --cases=store --store-rounds=1 --store-ms=1000 --store-prof=/tmp/prof
 *
 * Options (all optional):
 *   --store-rounds=3   --store-ms=2000 (measured, per operation)   --store-warmup=300
 *   --store-clients=8  --store-depth=4 (requests in flight per client)
 *   --store-ops=perm,temp,contacts
 *   --store-prof=DIR   the server children run with --cpu-prof, profiles in DIR
 * Prints tables and merges its results into bench/results.json under the key "store".
 *
 * Set-up, per store and round (everything on 127.0.0.1, port 0):
 *  - a fresh server child (this file, forked with CAMWIRE_STORE_CHILD=server): a MediaServer with
 *    only its TCP port, keepClientInfo on (else contact lists are never stored) and no practical
 *    group limit, on a MemoryStore or on a SqliteStore in a fresh temp dir (removed after). Its
 *    store is wrapped to count writes and the time spent in them. It measures its own CPU time
 *    (process.cpuUsage) and event-loop utilization between a 'mark' and a 'report';
 *  - a fresh load-generator child (store-load.ts): N clients (Sender + Receiver each) keeping
 *    `depth` requests in flight each; it measures each request (call -> acknowledged) and its
 *    own CPU time;
 *  - the stores alternate (memory first in even rounds, SQLite first in odd ones), and the order
 *    of the operations rotates with the round, so drift in machine speed hits both stores alike;
 *  - per operation: a warm-up, then a measured run of --store-ms: every slot issues requests
 *    until the time is up, and the run ends when the last one settled.
 * req/s is the median of the rounds; latency percentiles pool the rounds' samples; CPU per 1,000
 * requests sums CPU and requests over the rounds.
 */
import { mergeResults } from './results-file.js';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ServerStore, StoreHooks } from '../src/server/store/store.js';
import { summarize, type LatencySummary } from './drive.js';
import { HOST, serveIpc, type LoadRun, type StoreOp } from './store-load.js';
import { median, num, ratio, sum, table } from './table.js';
import { loadCamwire } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const OPS: StoreOp[] = ['perm', 'temp', 'contacts'];
const OP_LABEL: Record<StoreOp, string> = {
  perm: 'permanent join (new group)',
  temp: 'temporary join/leave (existing group)',
  contacts: 'contact-list add/remove',
};
type StoreKind = 'memory' | 'sqlite';
/** Load-generator CPU above this share of one core: the harness may be what limits req/s. */
const LOAD_SATURATED_PCT = 90;

export interface StoreConfig {
  rounds: number;
  ms: number;
  warmupMs: number;
  clients: number;
  depth: number;
  ops: StoreOp[];
  profDir: string | undefined;
}

// ---------------------------------------------------------------- the server child

/** What the server child reports for the time since its last 'mark'. */
interface ServerReport {
  cpuMs: number;
  cpuUserMs: number;
  wallMs: number;
  /** Event-loop utilization (0..1): how busy the server's one thread was. */
  elu: number;
  /** Store writes (calls of put*, delete*), the time spent in them, and the ones that threw. */
  writes: number;
  writeMs: number;
  writeErrors: number;
  /** The slowest single write, ms, and the writes that took over 1 ms (SQLite: mostly WAL checkpoints, which fsync). */
  writeMaxMs: number;
  slowWrites: number;
  byWrite: Record<string, number>;
  rss: number;
}

const WRITES = ['putClient', 'deleteClient', 'putContacts', 'deleteContacts', 'putGroup', 'deleteGroup', 'putMember', 'deleteMember', 'putUser', 'deleteUser'] as const;

async function serverChild(): Promise<void> {
  // Nothing of camwire is loaded before this line.
  const { MediaServer, MemoryStore, SqliteStore } = await loadCamwire();
  const kind = process.env.CAMWIRE_STORE_KIND as StoreKind;
  const inner: ServerStore = kind === 'sqlite' ? new SqliteStore({ dir: process.env.CAMWIRE_STORE_DIR! }) : new MemoryStore();
  let writes = 0;
  let writeMs = 0;
  let writeErrors = 0;
  let writeMaxMs = 0;
  let slowWrites = 0;
  let byWrite: Record<string, number> = {};
  const counted: Record<string, unknown> = { location: inner.location, open: (h?: StoreHooks) => inner.open(h), flush: () => inner.flush(), close: () => inner.close() };
  for (const op of WRITES) {
    const fn = (inner[op] as (...a: unknown[]) => void).bind(inner);
    counted[op] = (...a: unknown[]): void => {
      writes++;
      byWrite[op] = (byWrite[op] ?? 0) + 1;
      const t = performance.now();
      try {
        fn(...a);
      } catch (err) {
        writeErrors++;
        throw err;
      } finally {
        const dt = performance.now() - t;
        writeMs += dt;
        if (dt > writeMaxMs) writeMaxMs = dt;
        if (dt > 1) slowWrites++;
      }
    };
  }
  const server = new MediaServer({
    host: HOST,
    httpPort: false,
    udpPort: false,
    store: counted as unknown as ServerStore,
    keepClientInfo: true,
    maxGroups: 1_000_000_000,
  });
  await server.start();
  let cpu0 = process.cpuUsage();
  let elu0 = performance.eventLoopUtilization();
  let t0 = performance.now();
  const mark = (): object => {
    writes = writeMs = writeErrors = writeMaxMs = slowWrites = 0;
    byWrite = {};
    cpu0 = process.cpuUsage();
    elu0 = performance.eventLoopUtilization();
    t0 = performance.now();
    return {};
  };
  const report = (): ServerReport => {
    const c = process.cpuUsage(cpu0);
    return {
      cpuMs: (c.user + c.system) / 1000,
      cpuUserMs: c.user / 1000,
      wallMs: performance.now() - t0,
      elu: performance.eventLoopUtilization(elu0).utilization,
      writes,
      writeMs,
      writeErrors,
      writeMaxMs,
      slowWrites,
      byWrite,
      rss: process.memoryUsage.rss(),
    };
  };
  // The store's folder is the parent's, but removed here too: when the parent dies, it cannot.
  const dir = process.env.CAMWIRE_STORE_DIR;
  serveIpc({ mark, report }, { port: server.ports.tcp, pid: process.pid }, async () => {
    await server.stop();
    if (dir) (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
  });
}

// ---------------------------------------------------------------- child processes (parent side)

const live = new Set<ChildProcess>();
let exitHook = false;

/** A child of this bench: requests over IPC, each with a timeout; killed when this process exits. */
class Child {
  readonly #cp: ChildProcess;
  readonly #waiting = new Map<number, (v: Record<string, unknown>) => void>();
  readonly #exited: Promise<void>;
  #ids = 1;
  ready: Record<string, unknown> = {};

  private constructor(cp: ChildProcess, readonly name: string) {
    this.#cp = cp;
    live.add(cp);
    this.#exited = new Promise((resolve) =>
      cp.once('exit', (code, signal) => {
        live.delete(cp);
        for (const w of this.#waiting.values()) w({ error: `${name} exited (${code ?? signal})` });
        this.#waiting.clear();
        resolve();
      }),
    );
    cp.on('message', (m: { id: number }) => {
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      w?.(m as Record<string, unknown>);
    });
    cp.on('error', (err) => {
      for (const w of this.#waiting.values()) w({ error: `${name}: ${err.message}` });
      this.#waiting.clear();
    });
  }

  /** Forks `script`; resolves once the child says it is ready (killing it if that takes over `timeoutMs`). */
  static async start(name: string, script: string, env: Record<string, string>, execArgv: string[], timeoutMs: number): Promise<Child> {
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const cp of live) cp.kill('SIGKILL');
      });
    }
    const cp = fork(script, [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const c = new Child(cp, name);
    try {
      c.ready = await c.#wait(0, timeoutMs, 'start');
    } catch (err) {
      await c.kill();
      throw err;
    }
    return c;
  }

  #wait(id: number, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`${this.name}: no answer to '${what}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (v) => {
        clearTimeout(t);
        if (typeof v.error === 'string') reject(new Error(`${this.name} (${what}): ${v.error}`));
        else resolve(v);
      });
    });
  }

  request<T>(msg: { op: string; [k: string]: unknown }, timeoutMs: number): Promise<T> {
    const id = this.#ids++;
    const p = this.#wait(id, timeoutMs, msg.op) as Promise<T>;
    if (this.#cp.connected) this.#cp.send({ ...msg, id });
    return p;
  }

  /** Asks the child to stop; SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 8000): Promise<void> {
    if (this.#cp.exitCode !== null || this.#cp.signalCode !== null) return;
    await this.request({ op: 'stop' }, timeoutMs).catch(() => undefined);
    await this.kill(2000);
  }

  /** Waits up to `graceMs` for the child to exit, then kills it and waits for its exit. */
  async kill(graceMs = 0): Promise<void> {
    if (this.#cp.exitCode !== null || this.#cp.signalCode !== null) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.#exited, new Promise((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
    if (this.#cp.exitCode === null && this.#cp.signalCode === null) {
      this.#cp.kill('SIGKILL');
      await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 5000))]);
    }
  }
}

// ---------------------------------------------------------------- one session: a server on one store, all operations

interface RunResult {
  store: StoreKind;
  round: number;
  op: StoreOp;
  ok: number;
  errors: number;
  errorSamples: string[];
  elapsedMs: number;
  rps: number;
  lat: LatencySummary;
  samples: number[];
  loadCpuMs: number;
  loadCpuPct: number;
  server: ServerReport;
  serverCpuPct: number;
  timedOut: boolean;
}

interface Session {
  store: StoreKind;
  round: number;
  runs: RunResult[];
  /** SQLite: the size of the store folder at the end, still open (database + WAL), bytes. */
  storeBytes?: number;
  problems: string[];
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(path.join(dir, f)).size;
  return n;
}

async function runSession(store: StoreKind, round: number, ops: StoreOp[], cfg: StoreConfig): Promise<Session> {
  const dir = store === 'sqlite' ? mkdtempSync(path.join(os.tmpdir(), 'camwire-store-bench-')) : undefined;
  const session: Session = { store, round, runs: [], problems: [] };
  let server: Child | undefined;
  let load: Child | undefined;
  try {
    const prof = cfg.profDir ? ['--cpu-prof', `--cpu-prof-dir=${cfg.profDir}`, `--cpu-prof-name=store-${store}-r${round}-${Date.now()}.cpuprofile`] : [];
    server = await Child.start(`server child (${store})`, fileURLToPath(import.meta.url), { CAMWIRE_STORE_CHILD: 'server', CAMWIRE_STORE_KIND: store, CAMWIRE_STORE_DIR: dir ?? '' }, prof, 20_000);
    load = await Child.start('load generator', path.join(here, 'store-load.js'), { CAMWIRE_STORE_CHILD: 'load' }, [], 20_000);
    await load.request({ op: 'setup', port: server.ready.port, clients: cfg.clients, depth: cfg.depth }, 30_000);
    for (const op of ops) {
      const runTimeout = (ms: number): number => ms + 30_000;
      const warm = await load.request<LoadRun>({ op: 'run', kind: op, ms: cfg.warmupMs }, runTimeout(cfg.warmupMs));
      if (warm.errors) session.problems.push(`${op} warm-up: ${warm.errors} errors (${warm.errorSamples.join('; ')})`);
      await server.request({ op: 'mark' }, 5000);
      const r = await load.request<LoadRun>({ op: 'run', kind: op, ms: cfg.ms }, runTimeout(cfg.ms));
      const rep = await server.request<ServerReport>({ op: 'report' }, 5000);
      const res: RunResult = {
        store,
        round,
        op,
        ok: r.ok,
        errors: r.errors,
        errorSamples: r.errorSamples,
        elapsedMs: r.elapsedMs,
        rps: r.elapsedMs > 0 ? (r.ok * 1000) / r.elapsedMs : 0,
        lat: summarize(r.latencies),
        samples: r.latencies,
        loadCpuMs: r.cpuMs,
        loadCpuPct: r.elapsedMs > 0 ? (100 * r.cpuMs) / r.elapsedMs : NaN,
        server: rep,
        serverCpuPct: rep.wallMs > 0 ? (100 * rep.cpuMs) / rep.wallMs : NaN,
        timedOut: r.timedOut,
      };
      session.runs.push(res);
      progress(res);
    }
    await load.stop();
    if (dir) session.storeBytes = dirBytes(dir);
    await server.stop();
  } finally {
    await load?.kill();
    await server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  return session;
}

function progress(r: RunResult): void {
  const s = r.server;
  console.log(
    `  round ${r.round + 1} ${r.store.padEnd(6)} ${r.op.padEnd(8)}  ${num(r.rps, 0).padStart(6)} req/s (${r.ok} in ${num(r.elapsedMs / 1000)} s)  ` +
      `p50 ${num(r.lat.p50)} ms  p99 ${num(r.lat.p99)} ms  server CPU ${num((s.cpuMs * 1000) / r.ok)} ms/1k (${num(r.serverCpuPct, 0)}%, ` +
      `loop busy ${num(100 * s.elu, 0)}%)  store writes ${num(s.writes / r.ok, 2)}/req, ${num((s.writeMs * 1000) / r.ok)} ms/1k  ` +
      `load gen CPU ${num(r.loadCpuPct, 0)}%` +
      (r.errors ? `  ERRORS ${r.errors}: ${r.errorSamples.join('; ')}` : '') +
      (s.writeErrors ? `  STORE WRITE ERRORS ${s.writeErrors}` : '') +
      (r.timedOut ? '  TIMED OUT' : ''),
  );
}

// ---------------------------------------------------------------- the benchmark

function parseArgs(argv: string[]): StoreConfig {
  const a = new Map(
    argv.map((x) => {
      const [k, v = ''] = x.replace(/^--/, '').split('=', 2);
      return [k, v] as const;
    }),
  );
  const n = (k: string, def: number, min: number): number => {
    const v = Number(a.get(k) || def);
    return Number.isFinite(v) ? Math.max(min, v) : def;
  };
  const ops = (a.get('store-ops') || OPS.join(',')).split(',').filter((o): o is StoreOp => (OPS as string[]).includes(o));
  return {
    rounds: Math.round(n('store-rounds', 3, 1)),
    ms: n('store-ms', 2000, 100),
    warmupMs: n('store-warmup', 300, 50),
    clients: Math.round(n('store-clients', 8, 1)),
    depth: Math.round(n('store-depth', 4, 1)),
    ops: ops.length ? ops : OPS,
    profDir: a.get('store-prof') || undefined,
  };
}

const loadavg = (): string => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const range = (v: number[], digits?: number): string => (v.length ? `${num(Math.min(...v), digits)}–${num(Math.max(...v), digits)}` : '-');

interface Summary {
  op: StoreOp;
  store: StoreKind;
  rps: number;
  rpsRounds: number[];
  lat: LatencySummary;
  serverCpuMsPer1k: number;
  storeMsPer1k: number;
  writesPerReq: number;
  writeMaxMs: number;
  slowWrites: number;
  serverCpuPct: number[];
  elu: number[];
  loadCpuPct: number[];
  requests: number;
  errors: number;
}

function summarizeRuns(runs: RunResult[], op: StoreOp, store: StoreKind): Summary {
  const rs = runs.filter((r) => r.op === op && r.store === store);
  const ok = sum(rs.map((r) => r.ok));
  return {
    op,
    store,
    rps: median(rs.map((r) => r.rps)),
    rpsRounds: rs.map((r) => r.rps),
    lat: summarize(rs.flatMap((r) => r.samples)),
    serverCpuMsPer1k: (sum(rs.map((r) => r.server.cpuMs)) * 1000) / ok,
    storeMsPer1k: (sum(rs.map((r) => r.server.writeMs)) * 1000) / ok,
    writesPerReq: sum(rs.map((r) => r.server.writes)) / ok,
    writeMaxMs: Math.max(0, ...rs.map((r) => r.server.writeMaxMs)),
    slowWrites: sum(rs.map((r) => r.server.slowWrites)),
    serverCpuPct: rs.map((r) => r.serverCpuPct),
    elu: rs.map((r) => 100 * r.server.elu),
    loadCpuPct: rs.map((r) => r.loadCpuPct),
    requests: ok,
    errors: sum(rs.map((r) => r.errors)),
  };
}

/** Runs the store benchmark, prints its tables and merges its results into bench/results.json. */
export async function runStoreBench(argv: string[] = process.argv.slice(2)): Promise<void> {
  const cfg = parseArgs(argv);
  const started = performance.now();
  console.log(
    `\ncamwire store bench (MediaServer request handling, MemoryStore vs SqliteStore): node ${process.version}, ${os.cpus().length} CPU ` +
      `(${os.cpus()[0]?.model ?? '?'}); server and load generator in child processes of their own; ${cfg.clients} clients x ${cfg.depth} ` +
      `requests in flight; ${cfg.rounds} rounds of ${cfg.ms} ms per operation (+${cfg.warmupMs} ms warm-up); load average ${loadavg()}\n`,
  );
  const sessions: Session[] = [];
  for (let r = 0; r < cfg.rounds; r++) {
    const stores: StoreKind[] = r % 2 === 0 ? ['memory', 'sqlite'] : ['sqlite', 'memory'];
    const ops = cfg.ops.map((_, i) => cfg.ops[(i + r) % cfg.ops.length]);
    for (const store of stores) sessions.push(await runSession(store, r, ops, cfg));
  }
  const seconds = (performance.now() - started) / 1000;
  const runs = sessions.flatMap((s) => s.runs);
  const rows = cfg.ops.map((op) => ({ op, m: summarizeRuns(runs, op, 'memory'), s: summarizeRuns(runs, op, 'sqlite') }));

  const main = table(
    ['operation', 'memory req/s', 'sqlite req/s', 'sqlite/memory', 'server CPU ms/1k mem', 'sqlite', 'p99 ms mem', 'sqlite', 'load gen CPU % mem', 'sqlite'],
    rows.map(({ op, m, s }) => [
      OP_LABEL[op],
      num(m.rps, 0),
      num(s.rps, 0),
      ratio(s.rps, m.rps),
      num(m.serverCpuMsPer1k),
      num(s.serverCpuMsPer1k),
      num(m.lat.p99),
      num(s.lat.p99),
      num(median(m.loadCpuPct), 0),
      num(median(s.loadCpuPct), 0),
    ]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const details = table(
    ['operation', 'store', 'req/s rounds', 'p50 ms', 'p99 ms', 'writes/req', 'store ms/1k', 'writes >1 ms', 'max write ms', 'server CPU %', 'loop busy %', 'load gen CPU %', 'requests', 'errors'],
    rows.flatMap(({ op, m, s }) =>
      [m, s].map((x) => [
        op,
        x.store,
        x.rpsRounds.map((v) => num(v, 0)).join(' / '),
        num(x.lat.p50),
        num(x.lat.p99),
        num(x.writesPerReq, 2),
        num(x.storeMsPer1k),
        String(x.slowWrites),
        num(x.writeMaxMs),
        range(x.serverCpuPct, 0),
        range(x.elu, 0),
        range(x.loadCpuPct, 0),
        String(x.requests),
        String(x.errors),
      ]),
    ),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );

  console.log(`\nServer request handling, MemoryStore vs SqliteStore (${cfg.clients} clients x ${cfg.depth} requests in flight; ratios sqlite / memory):`);
  console.log('req/s = acknowledged requests per second (median of rounds); server CPU = the server process per 1,000 requests (rounds');
  console.log('summed); p99 = request call -> acknowledged, as the client sees it (rounds pooled; includes waiting behind the other');
  console.log(`requests in flight); load gen CPU = the load-generator process, % of one core (median of rounds)\n`);
  console.log(main);
  console.log('\nDetails: writes/req = store writes per request (each is one SQLite transaction with SqliteStore); store ms/1k = time');
  console.log('spent inside the store\'s write calls per 1,000 requests; writes >1 ms and max write ms: the slow ones (with SQLite');
  console.log('mostly WAL checkpoints, which fsync); server CPU % and loop busy % (event-loop utilization: also counts time the thread');
  console.log('waits in a blocking call or for a core) show how close the server was to saturating its one thread; ranges over the rounds\n');
  console.log(details);

  const loadMax = Math.max(...runs.map((r) => r.loadCpuPct));
  const serverMax = Math.max(...runs.map((r) => 100 * r.server.elu));
  if (loadMax >= LOAD_SATURATED_PCT) {
    console.log(
      `\nNote: the load generator reached ${num(loadMax, 0)}% of a core (server loop busy at most ${num(serverMax, 0)}%): in those runs the ` +
        `harness, not the server, may limit req/s, so req/s ratios understate the server's own differences; server CPU per 1k ` +
        `requests stays a fair comparison. More clients or a deeper pipeline (--store-clients, --store-depth) can push harder.`,
    );
  }
  const problems = sessions.flatMap((s) => s.problems.map((p) => `round ${s.round + 1} ${s.store}: ${p}`));
  for (const r of runs) if (r.errors || r.server.writeErrors || r.timedOut) problems.push(`round ${r.round + 1} ${r.store} ${r.op}: ${r.errors} errors, ${r.server.writeErrors} store write errors${r.timedOut ? ', timed out' : ''}`);
  if (problems.length) console.log(`\nUnexpected events:\n  ${problems.join('\n  ')}`);
  const dbSizes = sessions.filter((s) => s.storeBytes !== undefined).map((s) => s.storeBytes! / 1024 / 1024);
  console.log(
    `\nStore run time: ${seconds.toFixed(1)} s; SQLite store folder (database + WAL) at the end of a session ${range(dbSizes)} MiB; ` +
      `load average at the end ${loadavg()} (other work on the host skews the figures)`,
  );

  // Merged into bench/results.json (written by run.ts for the point-to-point cases) under "store".
  mergeResults('store', {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    config: cfg,
    runSeconds: Number(seconds.toFixed(1)),
    loadAverageAtEnd: os.loadavg(),
    operations: rows.map(({ op, m, s }) => ({
      op,
      label: OP_LABEL[op],
      ratios: { rps: s.rps / m.rps, serverCpuPer1k: s.serverCpuMsPer1k / m.serverCpuMsPer1k, p99: s.lat.p99 / m.lat.p99 },
      memory: m,
      sqlite: s,
    })),
    runs: runs.map(({ samples: _samples, ...r }) => r),
    storeBytes: sessions.filter((s) => s.storeBytes !== undefined).map((s) => s.storeBytes),
    problems,
  });
}

if (process.env.CAMWIRE_STORE_CHILD === 'server' && process.send) {
  serverChild().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
