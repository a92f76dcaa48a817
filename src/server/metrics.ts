/**
 * The MediaServer's Prometheus metrics: one registry per server (no global state).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CloseCode } from '../errors.js';
import { MEDIA_TYPES, type MediaTypeName } from '../protocol/constants.js';

type PerType<T> = Record<MediaTypeName, T>;

/** A client's counters, as the per-client series read them. */
export interface ClientCounters {
  id: string;
  in: PerType<{ frames: number; bytes: number }>;
  out: PerType<{ frames: number; bytes: number }>;
  dropped: PerType<number>;
}

/** What the gauges read when they are scraped. */
export interface MetricSources {
  online(): number;
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

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #frames: Counter;
  readonly #bytes: Counter;
  readonly #drops: Counter;
  readonly #storeErrors: Counter;
  readonly #badInput: Counter;
  readonly #refused: Counter;

  readonly #helloRefused: Counter;
  readonly #latency: Histogram | undefined;

  constructor(src: MetricSources, on: MetricsSwitches = { perClient: false, latency: false, process: true }) {
    const registers = [this.registry];
    this.#helloRefused = new Counter({ name: 'camwire_hello_refused_total', help: 'HELLOs refused, by reason (auth_failed, not_allowed, duplicate_id, refused)', labelNames: ['reason'], registers });
    this.#latency = on.latency
      ? new Histogram({
          name: 'camwire_video_latency_seconds',
          help: 'Pushed video frames: arrival at the server minus the sender timestamp (both clocks count)',
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        })
      : undefined;
    if (on.process) collectDefaultMetrics({ register: this.registry });
    if (on.perClient) perClientSeries(registers, src);
    this.#frames = new Counter({ name: 'camwire_frames_total', help: 'Messages by direction and media type', labelNames: ['direction', 'type'], registers });
    this.#bytes = new Counter({ name: 'camwire_bytes_total', help: 'Payload bytes by direction and media type', labelNames: ['direction', 'type'], registers });
    this.#drops = new Counter({ name: 'camwire_dropped_total', help: 'Messages dropped or refused, by media type and reason', labelNames: ['type', 'reason'], registers });
    this.#badInput = new Counter({ name: 'camwire_bad_input_total', help: 'Connections closed (or datagrams dropped) for bad input or an exceeded time limit, by error code', labelNames: ['code'], registers });
    this.#refused = new Counter({ name: 'camwire_connections_refused_total', help: 'Connections refused at a connection limit (per_ip, pending_per_ip, pending)', labelNames: ['reason'], registers });
    this.#storeErrors = new Counter({ name: 'camwire_store_errors_total', help: 'Writes to the server store that failed (the server went on from memory)', registers });
    const gauge = (name: string, help: string, read: () => number): Gauge =>
      new Gauge({ name, help, registers, collect(this: Gauge) { this.set(read()); } });
    gauge('camwire_clients_online', 'Clients whose receiver is connected', () => src.online());
    gauge('camwire_clients_known', 'Clients the server remembers, online or not', () => src.knownClients());
    gauge('camwire_links', 'Open connections', () => src.links());
    gauge('camwire_groups', 'Groups', () => src.groups());
  }

  /** Counts `n` messages of `bytes` each (for a fan-out: once, not per reader). */
  count(direction: 'in' | 'out', type: MediaTypeName, bytes: number, n = 1): void {
    this.#frames.inc({ direction, type }, n);
    this.#bytes.inc({ direction, type }, n * bytes);
  }

  drop(type: MediaTypeName, reason: 'not_allowed' | 'refused' | 'unrouted' | 'slow_reader', n = 1): void {
    this.#drops.inc({ type, reason }, n);
  }

  /** A connection closed for bad input or a time limit (docs/limits.md), by error code. */
  badInput(code: string): void {
    this.#badInput.inc({ code });
  }

  /** A connection refused at a connection limit (docs/limits.md, Connections), by the limit. */
  refused(reason: string): void {
    this.#refused.inc({ reason });
  }

  storeError(): void {
    this.#storeErrors.inc();
  }

  /** A HELLO refused with `closeCode`. */
  helloRefused(closeCode: number): void {
    this.#helloRefused.inc({ reason: HELLO_REFUSALS[closeCode] ?? 'refused' });
  }

  /** Whether video latency is measured (then the server taps video for observeLatency). */
  get measuresLatency(): boolean {
    return this.#latency !== undefined;
  }

  observeLatency(ms: number): void {
    this.#latency?.observe(Math.max(0, ms) / 1000);
  }
}

/**
 * Per-client counters, read from the clients' own counters at scrape time (so they cost nothing
 * between scrapes, and a forgotten client's series go away).
 */
function perClientSeries(registers: Registry[], src: MetricSources): void {
  const fill = (m: Counter, each: (c: ClientCounters, set: (labels: Record<string, string>, v: number) => void) => void): void => {
    m.reset();
    for (const c of src.clients()) each(c, (labels, v) => v > 0 && m.inc({ client: c.id, ...labels }, v));
  };
  new Counter({
    name: 'camwire_client_frames_total',
    help: 'Messages per client, direction and media type',
    labelNames: ['client', 'direction', 'type'],
    registers,
    collect(this: Counter) {
      fill(this, (c, set) => {
        for (const t of MEDIA_TYPES) for (const d of ['in', 'out'] as const) set({ direction: d, type: t }, c[d][t].frames);
      });
    },
  });
  new Counter({
    name: 'camwire_client_bytes_total',
    help: 'Payload bytes per client, direction and media type',
    labelNames: ['client', 'direction', 'type'],
    registers,
    collect(this: Counter) {
      fill(this, (c, set) => {
        for (const t of MEDIA_TYPES) for (const d of ['in', 'out'] as const) set({ direction: d, type: t }, c[d][t].bytes);
      });
    },
  });
  new Counter({
    name: 'camwire_client_dropped_total',
    help: 'Messages dropped for a client as reader (slow reader, queue full), per media type',
    labelNames: ['client', 'type'],
    registers,
    collect(this: Counter) {
      fill(this, (c, set) => {
        for (const t of MEDIA_TYPES) set({ type: t }, c.dropped[t]);
      });
    },
  });
}
