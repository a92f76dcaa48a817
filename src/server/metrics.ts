/**
 * The MediaServer's Prometheus metrics: one registry per server (no global state).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { MediaTypeName } from '../protocol/constants.js';

/** What the gauges read when they are scraped. */
export interface MetricSources {
  online(): number;
  links(): number;
  groups(): number;
  knownClients(): number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #frames: Counter;
  readonly #bytes: Counter;
  readonly #drops: Counter;
  readonly #storeErrors: Counter;
  readonly #badInput: Counter;
  readonly #refused: Counter;

  constructor(src: MetricSources) {
    const registers = [this.registry];
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

  /** Counts `messages` messages of `bytes` bytes together (a fan-out of a batch). */
  countTotal(direction: 'in' | 'out', type: MediaTypeName, messages: number, bytes: number): void {
    this.#frames.inc({ direction, type }, messages);
    this.#bytes.inc({ direction, type }, bytes);
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
}
