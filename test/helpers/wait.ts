/**
 * Waiting helpers for integration tests: wait for an event or a condition with a deadline.
 * Deadlines only matter when a test fails; they reject with a message that says what was
 * awaited, so a hung test reports its cause instead of the runner's generic timeout.
 */
import type { EventEmitter } from 'node:events';

/**
 * Resolves with the arguments of the next `event` of `emitter` for which `filter` holds;
 * rejects after `timeoutMs`, or at once when the emitter emits 'error' (if `rejectOnError`).
 */
export function once<T extends unknown[] = any[]>(
  emitter: EventEmitter<any> | NodeJS.EventEmitter,
  event: string,
  timeoutMs = 10000,
  filter: (...args: T) => boolean = () => true,
  what = '',
): Promise<T> {
  const e = emitter as NodeJS.EventEmitter;
  return new Promise<T>((resolve, reject) => {
    const on = (...args: unknown[]): void => {
      if (!filter(...(args as T))) return;
      clearTimeout(timer);
      e.off(event, on);
      resolve(args as T);
    };
    const timer = setTimeout(() => {
      e.off(event, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'${what ? ` (${what})` : ''}`));
    }, timeoutMs);
    e.on(event, on);
  });
}

/** A source of re-checks for {@link until}: an emitter and the event names that may change the condition. */
export type Trigger = [emitter: EventEmitter<any> | NodeJS.EventEmitter, ...events: string[]];

/** Options of {@link until}. */
export interface UntilOptions {
  /** Events after which the condition is checked again. */
  on?: Trigger[];
  /**
   * Extra checks at these delays (ms from the call), for conditions that change on an
   * internal timer of the code under test (e.g. a reassembly timeout) that raises no event.
   */
  checkAfterMs?: number[];
  /** Give up (reject) after this long. @default 10000 */
  timeoutMs?: number;
  /** Describes the condition in the rejection message; a function is evaluated at failure time. */
  what?: string | (() => string);
}

/**
 * Resolves once `cond()` holds. It is checked now, after every listed event, and at the
 * listed delays; never by polling. Rejects after `timeoutMs` with a description of the state.
 */
export function until(cond: () => boolean, o: UntilOptions = {}): Promise<void> {
  if (cond()) return Promise.resolve();
  const timeoutMs = o.timeoutMs ?? 10000;
  return new Promise<void>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    const detach: Array<() => void> = [];
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      for (const d of detach) d();
      if (err) reject(err);
      else resolve();
    };
    const check = (): void => {
      if (settled) return;
      let ok = false;
      try {
        ok = cond();
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (ok) finish();
    };
    for (const [emitter, ...events] of o.on ?? []) {
      const e = emitter as NodeJS.EventEmitter;
      for (const ev of events) {
        // Check after the other listeners of this event have run (they may update state).
        const h = (): void => void queueMicrotask(check);
        e.on(ev, h);
        detach.push(() => e.off(ev, h));
      }
    }
    for (const ms of o.checkAfterMs ?? []) timers.push(setTimeout(check, ms));
    timers.push(
      setTimeout(() => {
        check();
        const what = typeof o.what === 'function' ? o.what() : o.what;
        finish(new Error(`condition not met within ${timeoutMs} ms${what ? `: ${what}` : ''}`));
      }, timeoutMs),
    );
  });
}

/** Rejects with `message` if `p` has not settled within `timeoutMs`. */
export function within<T>(p: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${message}`)), timeoutMs);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
