/**
 * The server's writes to its store: each is tried once; a failure is reported (logged and
 * counted by the caller) and the server goes on serving from memory (docs/behaviour.md, section 7).
 */
import type { ServerStore } from './store.js';

/** The write half of a ServerStore. */
export type StoreWrites = Omit<ServerStore, 'location' | 'open' | 'close' | 'flush'>;

const WRITES = ['putClient', 'deleteClient', 'putContacts', 'deleteContacts', 'putGroup', 'deleteGroup', 'putMember', 'deleteMember', 'putUser', 'deleteUser'] as const;

/** Wraps a store's writes so that none throws: `onError` hears of each failure. */
export function guardWrites(store: ServerStore, onError: (err: Error, op: string) => void): StoreWrites {
  const out = {} as Record<(typeof WRITES)[number], (...args: never[]) => void>;
  for (const op of WRITES) {
    const fn = (store[op] as (...args: unknown[]) => void).bind(store);
    out[op] = (...args: unknown[]) => {
      try {
        fn(...args);
      } catch (err) {
        onError(err as Error, op);
      }
    };
  }
  return out as unknown as StoreWrites;
}
