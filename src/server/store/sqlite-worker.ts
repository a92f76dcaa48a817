/**
 * The worker thread of a SqliteStore: owns the SqliteDb and runs its writes, one transaction
 * each, in the order they were posted, so the server's thread never waits on the disk.
 * Messages are those of sqlite-store.ts (ToWorker, FromWorker).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from '../../errors.js';
import { SqliteDb } from './sqlite-db.js';
import type { FromWorker, ToWorker } from './sqlite-store.js';

const port = parentPort!;
const db = new SqliteDb({ dir: (workerData as { dir: string }).dir });
const post = (m: FromWorker): void => port.postMessage(m);

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'open':
      db.open().then(
        (state) => post({ t: 'opened', state }),
        (err: StoreError) => post({ t: 'openFailed', code: err.code, message: err.message, path: err.path }),
      );
      return;
    case 'w':
      try {
        (db[m.op] as (...a: unknown[]) => void)(...m.args);
      } catch (err) {
        post({ t: 'writeFailed', op: m.op, code: (err as StoreError).code ?? 'CW_ERR_STORE_WRITE', message: (err as Error).message });
      }
      return;
    case 'flush':
      post({ t: 'flushed', id: m.id });
      return;
    case 'close':
      db.close();
      port.close();
      return;
  }
});
