/**
 * The MediaServer's Prometheus metrics: one registry per server (no global state).
 *
 * The counts are plain numbers; prom-client (about 12 MB of memory once loaded) is loaded, and
 * the registry built, the first time the registry is asked for (GET /metrics, `server.metrics`).
 * Its counters read the numbers when they are scraped.
 */
import { createRequire } from 'node:module';
import type { Counter, Gauge, Registry } from 'prom-client';
import type { MediaTypeName } from '../protocol/constants.js';

/** What the gauges read when they are scraped. */
export interface MetricSources {
  online(): number;
  links(): number;
  groups(): number;
  knownClients(): number;
}

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
  #registry: Registry | undefined;
  readonly #frames = new Counts('direction', 'type');
  readonly #bytes = new Counts('direction', 'type');
  readonly #drops = new Counts('type', 'reason');
  readonly #badInput = new Counts('code');
  readonly #refused = new Counts('reason');
  #storeErrors = 0;

  constructor(src: MetricSources) {
    this.#src = src;
  }

  /** The Prometheus registry; loads prom-client on first use. */
  get registry(): Registry {
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

  drop(type: MediaTypeName, reason: 'not_allowed' | 'refused' | 'unrouted' | 'slow_reader', n = 1): void {
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

  storeError(): void {
    this.#storeErrors++;
  }

  #build(): Registry {
    const prom = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
    const registry = new prom.Registry();
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: string[], c: Counts): Counter =>
      new prom.Counter({ name, help, labelNames, registers, collect: c.collector() });
    counter('camwire_frames_total', 'Messages by direction and media type', ['direction', 'type'], this.#frames);
    counter('camwire_bytes_total', 'Payload bytes by direction and media type', ['direction', 'type'], this.#bytes);
    counter('camwire_dropped_total', 'Messages dropped or refused, by media type and reason', ['type', 'reason'], this.#drops);
    counter('camwire_bad_input_total', 'Connections closed (or datagrams dropped) for bad input or an exceeded time limit, by error code', ['code'], this.#badInput);
    counter('camwire_connections_refused_total', 'Connections refused or cut at a connection limit (total, per_ip, pending_per_ip, pending); on UDP, datagrams of refused peers', ['reason'], this.#refused);
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
    gauge('camwire_clients_known', 'Clients the server remembers, online or not', () => src.knownClients());
    gauge('camwire_links', 'Open connections', () => src.links());
    gauge('camwire_groups', 'Groups', () => src.groups());
    return registry;
  }
}
