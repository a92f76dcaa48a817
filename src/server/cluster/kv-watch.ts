/**
 * Watching a KV bucket so that a node starts with the bucket's state in memory: `watchBucket`
 * resolves once the watch has delivered every value stored when it began (or at once for an empty
 * bucket), so what reads that memory (credentials, the users directory) never waits for NATS;
 * and `isConflict`, which tells a refused revision check from other failures.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '../../options.js';

/** A write refused because the key changed since the revision given (JetStream's wrong-last-sequence errors). */
export function isConflict(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 10071 || code === 10164 || /wrong last sequence/i.test((err as Error).message ?? '');
}

/** Longest a node waits for a bucket's current values at start. */
const REPLAY_MS = 5000;

/**
 * Calls `fn` for every value of `kv`, then for every change, in revision order. Resolves with the
 * function that stops the watch, once the values stored at the start were delivered; rejects
 * after REPLAY_MS without them.
 */
export async function watchBucket(kv: KV, fn: (e: KvWatchEntry) => void, what: string, logger: Logger, stopped: () => boolean): Promise<() => void> {
  // Every message counts (delete markers too): none means nothing to replay.
  const stored = (await kv.status()).values;
  const it = await kv.watch();
  let ready: (() => void) | undefined;
  const replayed = new Promise<void>((resolve) => (ready = resolve));
  if (stored === 0) ready!();
  void (async () => {
    for await (const e of it) {
      fn(e);
      // The library marks the last replayed value, and every later one, as an update.
      if (e.isUpdate) ready!();
    }
  })().catch((err: Error) => {
    if (!stopped()) logger.error({ err: err.message }, `cluster: ${what} watch ended`);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      replayed,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`the ${what} bucket's values did not arrive within ${REPLAY_MS} ms`)), REPLAY_MS))),
    ]);
  } catch (err) {
    it.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return () => it.stop();
}
