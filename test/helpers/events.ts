/**
 * Test helpers for events: record connection events in order, and wait for an event
 * with a deadline (the deadline only matters when a test fails).
 */
import type { EventEmitter } from 'node:events';
import type { ConnectionEvent } from '../../src/index.js';
import { once } from './wait.js';

/** A recorded connection event, reduced to what the contract fixes. */
export interface Rec {
  name: string;
  sessionKey: bigint;
  mediaTypes: string[];
  remoteSessionKey: bigint;
  error?: string;
}

export const CONNECTION_EVENTS = [
  'openChannel',
  'connecting',
  'connected',
  'connectError',
  'disconnect',
  'closeChannel',
  'sessionConnected',
  'sessionDisconnected',
] as const;

/** Records every connection event of `emitter`, in order. */
export function record(emitter: EventEmitter<any>): Rec[] {
  const out: Rec[] = [];
  for (const name of CONNECTION_EVENTS) {
    (emitter as EventEmitter).on(name, (ev: ConnectionEvent) => {
      const r: Rec = { name, sessionKey: ev.sessionKey, mediaTypes: [...ev.mediaTypes], remoteSessionKey: ev.remoteSessionKey };
      if (ev.error) r.error = ev.error.code;
      out.push(r);
    });
  }
  return out;
}

/** Resolves with the arguments of the next `event` (matching `filter`), or rejects after `ms`. */
export function next<T extends unknown[] = any[]>(
  emitter: EventEmitter<any>,
  event: string,
  filter: (...args: T) => boolean = () => true,
  ms = 10000,
): Promise<T> {
  return once<T>(emitter, event, ms, filter);
}

/** Resolves once `n` events named `event` have been seen since the call. */
export function count(emitter: EventEmitter<any>, event: string, n: number, ms = 10000): Promise<void> {
  let seen = 0;
  return next(emitter, event, () => ++seen >= n, ms).then(() => undefined);
}

/** Resolves when `cond()` holds, re-checking on each `event` of `emitter`. */
export function until(emitter: EventEmitter<any>, event: string, cond: () => boolean, ms = 10000): Promise<void> {
  if (cond()) return Promise.resolve();
  return next(emitter, event, () => cond(), ms).then(() => undefined);
}

/** Names only, for compact assertions. */
export function names(recs: Rec[]): string[] {
  return recs.map((r) => (r.mediaTypes.length ? `${r.name}:${r.mediaTypes[0]}` : r.name));
}
