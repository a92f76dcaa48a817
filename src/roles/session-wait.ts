/**
 * What Receiver.whenConnected() waits for: every pull session up, a refusal that ends a session
 * for good, or the time limit (docs/api.md).
 */
import type { EventEmitter } from 'node:events';
import { CamwireError, CloseCode, ErrorCode, TransportError } from '../errors.js';
import type { ConnectionEvent } from '../events.js';

/** What the wait needs from its Receiver. */
export interface SessionWaitDeps {
  emitter: EventEmitter<any>;
  /** True when every session is up now. */
  allUp(): boolean;
  /** Sessions retry after a failure. */
  reconnect: boolean;
  /** For the timeout's message: the senders waited for. */
  targets: string;
}

/** Resolves when allUp(); rejects with the error that ends a session for good, or after `ms`. */
export function waitForSessions(d: SessionWaitDeps, ms: number): Promise<void> {
  if (d.allUp()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (err?: CamwireError): void => {
      clearTimeout(timer);
      d.emitter.off('sessionConnected', onUp);
      d.emitter.off('sessionDisconnected', onDown);
      if (err) reject(err);
      else resolve();
    };
    const onUp = (): void => {
      if (d.allUp()) done();
    };
    // Bad credentials and a duplicate id end a session without a retry (docs/behaviour.md), as does any failure without reconnect.
    const onDown = (ev: ConnectionEvent): void => {
      const code = (ev.error as { closeCode?: number } | undefined)?.closeCode;
      if (code === CloseCode.AUTH_FAILED || code === CloseCode.DUPLICATE_ID || !d.reconnect) {
        done(ev.error ?? new TransportError(ErrorCode.TRANSPORT_CLOSED, `session with ${ev.remoteAddress}:${ev.remotePort} ended`));
      }
    };
    const timer = setTimeout(() => done(new TransportError(ErrorCode.TRANSPORT_TIMEOUT, `no session with ${d.targets} within ${ms} ms`)), ms);
    d.emitter.on('sessionConnected', onUp);
    d.emitter.on('sessionDisconnected', onDown);
  });
}
