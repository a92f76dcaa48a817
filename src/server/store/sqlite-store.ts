/**
 * SqliteStore: a ServerStore kept in `<dir>/camwire.db` (SQLite), for servers whose state must
 * survive restarts and crashes (docs/behaviour.md, section 7). The database lives in a worker
 * thread (sqlite-worker.ts): a write is posted and returns at once, so the server's thread (and
 * its media path) never waits on the disk, checkpoints included; `flush()` resolves once every
 * earlier write is committed, and the server acknowledges a request only after it.
 *
 * Durability: WAL with `synchronous = NORMAL`: a committed change survives a crash or SIGKILL of
 * the process; a power loss may lose the last transactions (never corrupting the file).
 * Exclusive use: the database is locked while open (a second store on it is refused with
 * STORE_LOCKED); the OS drops the lock with the process.
 */
import { once } from 'node:events';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCode, StoreError } from '../../errors.js';
import { STORE_FILE } from './sqlite-db.js';
import type { ContactLists, KnownClient, ServerStore, StoreHooks, StoreState, StoredGroup, StoredUser } from './store.js';

export { STORE_FILE } from './sqlite-db.js';

type WriteOp = 'putClient' | 'deleteClient' | 'putContacts' | 'deleteContacts' | 'putGroup' | 'deleteGroup' | 'putMember' | 'deleteMember' | 'putUser' | 'deleteUser';

/** Messages to the worker. */
export type ToWorker = { t: 'open' } | { t: 'w'; op: WriteOp; args: unknown[] } | { t: 'flush'; id: number } | { t: 'close' };
/** Messages from the worker. */
export type FromWorker =
  | { t: 'opened'; state: StoreState }
  | { t: 'openFailed'; code: string; message: string; path: string | undefined }
  | { t: 'writeFailed'; op: string; code: string; message: string }
  | { t: 'flushed'; id: number };

export interface SqliteStoreOptions {
  /** The folder of the database (created on `open` if missing). */
  dir: string;
}

/** How long close() waits for the worker to finish its writes before it is stopped. */
const CLOSE_WAIT_MS = 5000;

export class SqliteStore implements ServerStore {
  /** The database file (absolute). */
  readonly location: string;
  readonly #dir: string;
  #worker: Worker | undefined;
  #detach: () => void = () => {};
  #hooks: StoreHooks = {};
  readonly #flushes = new Map<number, () => void>();
  #nextFlush = 0;
  /** Writes posted so far, and how many of them the last flush asked for covers. */
  #posted = 0;
  #flushedUpTo = 0;
  #lastFlush: Promise<void> = Promise.resolve();

  constructor(o: SqliteStoreOptions) {
    this.#dir = path.resolve(o.dir);
    this.location = path.join(this.#dir, STORE_FILE);
  }

  /**
   * Starts the worker, which creates or migrates the database, takes its lock and reads it.
   * Rejects with a StoreError (STORE_UNWRITABLE, STORE_LOCKED, STORE_CORRUPT, STORE_NEWER_SCHEMA).
   */
  async open(hooks: StoreHooks = {}): Promise<StoreState> {
    if (this.#worker) throw new StoreError(ErrorCode.STORE_LOCKED, `The store ${this.location} is already open.`, this.location);
    this.#hooks = hooks;
    const w = new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData: { dir: this.#dir } });
    // Named listeners, removed one by one: removeAllListeners() would also remove the Worker's own.
    let onMessage!: (m: FromWorker) => void;
    let onError!: (err: Error) => void;
    let onExit!: (code: number) => void;
    const first = new Promise<FromWorker>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new Error(`the store's worker exited (${code}) while opening`));
      w.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
    w.postMessage({ t: 'open' } satisfies ToWorker);
    let m: FromWorker;
    try {
      m = await first;
    } catch (err) {
      await w.terminate();
      throw new StoreError(ErrorCode.STORE_UNWRITABLE, `Cannot open the store ${this.location}: ${(err as Error).message}.`, this.location, { cause: err });
    } finally {
      w.off('message', onMessage).off('error', onError).off('exit', onExit);
    }
    if (m.t !== 'opened') {
      await w.terminate();
      if (m.t === 'openFailed') throw new StoreError(m.code, m.message, m.path);
      throw new StoreError(ErrorCode.STORE_UNWRITABLE, `Cannot open the store ${this.location}: unexpected answer ${m.t}.`, this.location);
    }
    const listeners = {
      message: (msg: FromWorker) => this.#onMessage(msg),
      error: (err: Error) => this.#lost(err),
      exit: () => this.#lost(new Error('the worker exited')),
    };
    w.on('message', listeners.message).on('error', listeners.error).on('exit', listeners.exit);
    this.#detach = () => w.off('message', listeners.message).off('error', listeners.error).off('exit', listeners.exit);
    // The server's sockets keep the process alive, not the store.
    w.unref();
    this.#worker = w;
    return m.state;
  }

  /**
   * Resolves once every write made before it is committed (or failed: see StoreHooks). Never
   * rejects. While a flush waits, the worker keeps the process alive.
   */
  flush(): Promise<void> {
    const w = this.#worker;
    if (!w) return Promise.resolve();
    // Nothing written since the last flush was asked: that one covers everything (or all is done).
    if (this.#posted === this.#flushedUpTo) return this.#lastFlush;
    this.#flushedUpTo = this.#posted;
    const id = ++this.#nextFlush;
    if (this.#flushes.size === 0) w.ref();
    this.#lastFlush = new Promise((resolve) => {
      this.#flushes.set(id, resolve);
      w.postMessage({ t: 'flush', id } satisfies ToWorker);
    });
    return this.#lastFlush;
  }

  /** Commits what was written, closes the database (releasing its lock) and stops the worker. */
  async close(): Promise<void> {
    const w = this.#worker;
    if (!w) return;
    await this.flush();
    this.#worker = undefined;
    this.#detach();
    const exited = once(w, 'exit');
    // Until the database is closed, the worker keeps the process alive.
    w.ref();
    w.postMessage({ t: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => void w.terminate(), CLOSE_WAIT_MS);
    await exited;
    clearTimeout(timer);
  }

  putClient(c: KnownClient): void {
    this.#post('putClient', [c]);
  }

  deleteClient(id: string): void {
    this.#post('deleteClient', [id]);
  }

  putContacts(id: string, l: ContactLists): void {
    this.#post('putContacts', [id, l]);
  }

  deleteContacts(id: string): void {
    this.#post('deleteContacts', [id]);
  }

  putGroup(g: StoredGroup): void {
    this.#post('putGroup', [g]);
  }

  deleteGroup(id: string): void {
    this.#post('deleteGroup', [id]);
  }

  putMember(group: string, client: string): void {
    this.#post('putMember', [group, client]);
  }

  deleteMember(group: string, client: string): void {
    this.#post('deleteMember', [group, client]);
  }

  putUser(u: StoredUser): void {
    this.#post('putUser', [u]);
  }

  deleteUser(user: string): void {
    this.#post('deleteUser', [user]);
  }

  /** Posts a write; after close, writes are ignored. */
  #post(op: WriteOp, args: unknown[]): void {
    if (!this.#worker) return;
    this.#posted++;
    this.#worker.postMessage({ t: 'w', op, args } satisfies ToWorker);
  }

  #onMessage(m: FromWorker): void {
    if (m.t === 'flushed') {
      this.#flushes.get(m.id)?.();
      this.#flushes.delete(m.id);
      if (this.#flushes.size === 0) this.#worker?.unref();
    } else if (m.t === 'writeFailed') {
      this.#hooks.onWriteError?.(new StoreError(m.code, m.message, this.location), m.op);
    }
  }

  /** The worker died: every later write fails, and waiting flushes are released. */
  #lost(err: Error): void {
    if (!this.#worker) return;
    this.#worker = undefined;
    this.#hooks.onWriteError?.(new StoreError(ErrorCode.STORE_WRITE, `The store ${this.location} stopped: ${err.message}; going on from memory.`, this.location, { cause: err }), 'worker');
    for (const resolve of this.#flushes.values()) resolve();
    this.#flushes.clear();
  }
}
