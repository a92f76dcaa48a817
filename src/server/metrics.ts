/**
 * The MediaServer's Prometheus metrics: one registry per server (no global state).
 *
 * The counts are plain numbers; prom-client (about 12 MB of memory once loaded) is loaded, and
 * the registry built, the first time the registry is asked for (GET /metrics, `server.metrics`),
 * or at once when the latency histogram is on. Its counters read the numbers when scraped. The
 * process series start at the first scrape in any case: their event-loop lag runs a timer every
 * 10 ms, which would wake a server that nobody scrapes 100 times a second (docs/api.md, metrics).
 */
import { createRequire } from 'node:module';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CloseCode } from '../errors.js';
import { MEDIA_TYPES, type MediaTypeName } from '../protocol/constants.js';

type Prom = typeof import('prom-client');

type PerType<T> = Record<MediaTypeName, T>;

/** A client's counters, as the per-client series read them. */
export interface ClientCounters {
  id: string;
  in: PerType<{ frames: number; bytes: number }>;
  out: PerType<{ frames: number; bytes: number }>;
  /** Drops by reason (slow_reader, offline, not_allowed, failed), per type. */
  droppedBy: Record<string, PerType<number>>;
}

/** What the gauges read when they are scraped. */
export interface MetricSources {
  online(): number;
  /** Clients receiving, or sending through a push connection or an HTTP ingest. */
  connected(): number;
  links(): number;
  groups(): number;
  knownClients(): number;
  /** For the per-client series. */
  clients(): ClientCounters[];
}

/** Optional series (MediaServerOptions.metrics). */
export interface MetricsSwitches {
  perClient: boolean;
  latency: boolean;
  process: boolean;
}

/** The `reason` label of a refused HELLO, by close code. */
const HELLO_REFUSALS: Record<number, string> = {
  [CloseCode.AUTH_FAILED]: 'auth_failed',
  [CloseCode.NOT_ALLOWED]: 'not_allowed',
  [CloseCode.DUPLICATE_ID]: 'duplicate_id',
  [CloseCode.REFUSED]: 'refused',
};

type Labels = Record<string, string>;

/** One counter's values per label set (one or two labels), as prom-client would hold them. */
class Counts {
  readonly #names: readonly string[];
  /** By first label, then second ('' for a one-label counter): no key built per count. */
  readonly #values = new Map<string, Map<string, { labels: Labels; value: number }>>();

  constructor(...names: string[]) {
    this.#names = names;
  }

  inc(n: number, a: string, b = ''): void {
    let byB = this.#values.get(a);
    if (!byB) this.#values.set(a, (byB = new Map()));
    const v = byB.get(b);
    if (v) {
      v.value += n;
      return;
    }
    const labels: Labels = { [this.#names[0]]: a };
    if (this.#names.length > 1) labels[this.#names[1]] = b;
    byB.set(b, { labels, value: n });
  }

  /** A prom-client collect() that copies these values into its counter. */
  collector(): (this: Counter) => void {
    const values = this.#values;
    return function (this: Counter) {
      this.reset();
      for (const byB of values.values()) for (const { labels, value } of byB.values()) this.inc(labels, value);
    };
  }
}

export class ServerMetrics {
  readonly #src: MetricSources;
  readonly #on: MetricsSwitches;
  #registry: Registry | undefined;
  #prom: Prom | undefined;
  /** Whether the process series run (from the first scrape). */
  #processOn = false;
  #latency: Histogram | undefined;
  readonly #frames = new Counts('direction', 'type');
  readonly #bytes = new Counts('direction', 'type');
  readonly #drops = new Counts('type', 'reason');
  readonly #badInput = new Counts('code');
  readonly #refused = new Counts('reason');
  readonly #helloRefused = new Counts('reason');
  #storeErrors = 0;
  readonly #recording = new Counts('event');

  constructor(src: MetricSources, on: MetricsSwitches = { perClient: false, latency: false, process: true }) {
    this.#src = src;
    this.#on = on;
    // Observations cannot wait for the first scrape: the histogram needs its registry now (the
    // process series still wait for it).
    if (on.latency) this.#built();
  }

  /** The Prometheus registry, to scrape: loads prom-client on first use, and starts the process series. */
  get registry(): Registry {
    const registry = this.#built();
    if (this.#on.process && !this.#processOn) {
      // CPU and memory are the process's own totals; event-loop lag is measured from now on.
      this.#processOn = true;
      this.#prom!.collectDefaultMetrics({ register: registry });
    }
    return registry;
  }

  /** Whether the process series (and their event-loop timer) run: from the first read of `registry`. */
  get processSeries(): boolean {
    return this.#processOn;
  }

  #built(): Registry {
    return (this.#registry ??= this.#build());
  }

  /** Counts `n` messages of `bytes` each (for a fan-out: once, not per reader). */
  count(direction: 'in' | 'out', type: MediaTypeName, bytes: number, n = 1): void {
    this.countTotal(direction, type, n, n * bytes);
  }

  /** Counts `messages` messages of `bytes` bytes together (a fan-out of a batch). */
  countTotal(direction: 'in' | 'out', type: MediaTypeName, messages: number, bytes: number): void {
    this.#frames.inc(messages, direction, type);
    this.#bytes.inc(bytes, direction, type);
  }

  drop(type: MediaTypeName, reason: 'not_allowed' | 'refused' | 'unrouted' | 'slow_reader' | 'cluster_too_large' | 'cluster_unreachable' | 'cluster_pending', n = 1): void {
    this.#drops.inc(n, type, reason);
  }

  /** A connection closed for bad input or a time limit (docs/limits.md), by error code. */
  badInput(code: string): void {
    this.#badInput.inc(1, code);
  }

  /** A connection refused at a connection limit (docs/limits.md, Connections), by the limit. */
  refused(reason: string): void {
    this.#refused.inc(1, reason);
  }

  /** A recording segment finished, failed or was deleted by the retention limits. */
  recording(event: 'segment' | 'error' | 'deleted'): void {
    this.#recording.inc(1, event);
  }

  storeError(): void {
    this.#storeErrors++;
  }

  /** A HELLO refused with `closeCode`. */
  helloRefused(closeCode: number): void {
    this.#helloRefused.inc(1, HELLO_REFUSALS[closeCode] ?? 'refused');
  }

  /** Whether video latency is measured (then the server taps video for observeLatency). */
  get measuresLatency(): boolean {
    return this.#on.latency;
  }

  observeLatency(ms: number): void {
    this.#latency?.observe(Math.max(0, ms) / 1000);
  }

  #build(): Registry {
    const prom = (this.#prom = createRequire(import.meta.url)('prom-client') as Prom);
    const registry = new prom.Registry();
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: string[], c: Counts): Counter =>
      new prom.Counter({ name, help, labelNames, registers, collect: c.collector() });
    counter('camwire_frames_total', 'Messages by direction and media type', ['direction', 'type'], this.#frames);
    counter('camwire_bytes_total', 'Payload bytes by direction and media type', ['direction', 'type'], this.#bytes);
    counter('camwire_dropped_total', 'Messages dropped or refused, by media type and reason', ['type', 'reason'], this.#drops);
    counter('camwire_bad_input_total', 'Connections closed (or datagrams dropped) for bad input or an exceeded time limit, by error code', ['code'], this.#badInput);
    counter('camwire_connections_refused_total', 'Connections refused or cut at a connection limit (total, per_ip, pending_per_ip, pending); on UDP, datagrams of refused peers', ['reason'], this.#refused);
    counter('camwire_hello_refused_total', 'HELLOs refused, by reason (auth_failed, not_allowed, duplicate_id, refused)', ['reason'], this.#helloRefused);
    counter('camwire_recording_total', 'Server recordings: segments finished, recorders failed (relaying went on), segments deleted by retention', ['event'], this.#recording);
    const storeErrors = (): number => this.#storeErrors;
    new prom.Counter({
      name: 'camwire_store_errors_total',
      help: 'Writes to the server store that failed (the server went on from memory)',
      registers,
      collect(this: Counter) {
        this.reset();
        if (storeErrors()) this.inc(storeErrors());
      },
    });
    const src = this.#src;
    const gauge = (name: string, help: string, read: () => number): Gauge =>
      new prom.Gauge({ name, help, registers, collect(this: Gauge) { this.set(read()); } });
    gauge('camwire_clients_online', 'Clients whose receiver is connected', () => src.online());
    gauge('camwire_clients_connected', 'Clients connected in any way: receiving, or sending (a push connection or an HTTP ingest); a camera that only sends is here, not in camwire_clients_online', () => src.connected());
    gauge('camwire_clients_known', 'Clients the server remembers, online or not', () => src.knownClients());
    gauge('camwire_links', 'Open connections', () => src.links());
    gauge('camwire_groups', 'Groups', () => src.groups());
    if (this.#on.latency) {
      this.#latency = new prom.Histogram({
        name: 'camwire_video_latency_seconds',
        help: 'Pushed video frames: arrival at the server minus the sender timestamp (both clocks count)',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers,
      });
    }
    if (this.#on.perClient) perClientSeries(prom, registers, src);
    return registry;
  }
}

/**
 * Per-client counters, read from the clients' own counters at scrape time (so they cost nothing
 * between scrapes, and a forgotten client's series go away).
 */
function perClientSeries(prom: Prom, registers: Registry[], src: MetricSources): void {
  type Each = (c: ClientCounters, set: (labels: Labels, v: number) => void) => void;
  const series = (name: string, help: string, labelNames: string[], each: Each): void =>
    void new prom.Counter({
      name,
      help,
      labelNames: ['client', ...labelNames],
      registers,
      collect(this: Counter) {
        this.reset();
        for (const c of src.clients()) each(c, (labels, v) => v > 0 && this.inc({ client: c.id, ...labels }, v));
      },
    });
  const byDirection = (field: 'frames' | 'bytes'): Each => (c, set) => {
    for (const t of MEDIA_TYPES) for (const d of ['in', 'out'] as const) set({ direction: d, type: t }, c[d][t][field]);
  };
  series('camwire_client_frames_total', 'Messages per client, direction and media type', ['direction', 'type'], byDirection('frames'));
  series('camwire_client_bytes_total', 'Payload bytes per client, direction and media type', ['direction', 'type'], byDirection('bytes'));
  series('camwire_client_dropped_total', 'Messages dropped on their way to a client as reader, per media type and reason (slow_reader, offline, not_allowed, failed)', ['type', 'reason'], (c, set) => {
    for (const [reason, perType] of Object.entries(c.droppedBy)) for (const t of MEDIA_TYPES) set({ type: t, reason }, perType[t]);
  });
}
