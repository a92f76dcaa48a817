/**
 * SqliteDb: the SQLite database of a SqliteStore, `<dir>/camwire.db`, with the same semantics as
 * MemoryStore. Its writes run synchronously on the calling thread: SqliteStore runs it in a
 * worker thread so that the server's thread never waits on the disk. better-sqlite3 is loaded on
 * `open`, so users who never open a store never load the native module.
 *
 * Durability: WAL journal with `synchronous = NORMAL`. Every write method is one transaction
 * that is in the WAL (in the OS's cache) when it returns, so an acknowledged change survives a
 * crash or SIGKILL of the process; a power loss or OS crash may lose the last transactions
 * (never corrupts the file).
 *
 * Exclusive use: the connection runs with `locking_mode = EXCLUSIVE` and takes the write lock
 * while opening, so a second store on the same file, in this process or another, is refused
 * with STORE_LOCKED. The OS drops the lock when the process dies: no lock file to clean up.
 */
import fs from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { ErrorCode, StoreError } from '../../errors.js';
import { silentLogger, type Logger } from '../../options.js';
import { MIGRATIONS, SCHEMA_VERSION } from './sqlite-schema.js';
import { emptyState, type ContactLists, type KnownClient, type ServerStore, type StoreState, type StoredGroup, type StoredUser } from './store.js';
import { makeDir } from '../../make-dir.js';

/** The database's file name inside the store folder. */
export const STORE_FILE = 'camwire.db';

export interface SqliteDbOptions {
  /** The folder of the database (created on `open` if missing). */
  dir: string;
  /** Hears of creation, migrations and close problems. Default: silent. */
  logger?: Logger;
}

type Db = BetterSqlite3.Database;
type Stmt = BetterSqlite3.Statement;

/** What an open store holds: the connection and its statements, prepared once. */
interface Open {
  db: Db;
  putClient: Stmt;
  deleteClient: (id: string) => void;
  putContacts: Stmt;
  deleteContacts: Stmt;
  putGroup: Stmt;
  deleteGroup: (id: string) => void;
  putMember: Stmt;
  deleteMember: Stmt;
  putUser: Stmt;
  deleteUser: Stmt;
  read: { clients: Stmt; contacts: Stmt; groups: Stmt; members: Stmt; users: Stmt };
}

interface ClientRow { id: string; user: string | null; first_seen: number; last_seen: number }
interface ContactsRow { client_id: string; default_receivers: string; allowed_mode: string; allowed_senders: string }
interface GroupRow { id: string; name: string; owner: string; password_hash: string; created: number }
interface MemberRow { group_id: string; client_id: string }
interface UserRow { user: string; password_hash: string; client_ids: string }

export class SqliteDb implements ServerStore {
  /** The database file (absolute). */
  readonly location: string;
  readonly #log: Logger;
  #open: Open | undefined;

  constructor(o: SqliteDbOptions) {
    this.location = path.resolve(o.dir, STORE_FILE);
    this.#log = o.logger ?? silentLogger;
  }

  /**
   * Creates the folder and the database if missing, migrates an older schema, takes the lock
   * and returns what the store holds. Called again while open, it only reads the state again.
   */
  async open(): Promise<StoreState> {
    if (this.#open) return this.#read(this.#open);
    const file = this.location;
    const dir = path.dirname(file);
    try {
      makeDir(dir);
      fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    } catch (err) {
      throw new StoreError(ErrorCode.STORE_UNWRITABLE, `Cannot create or write to the store folder ${dir}: ${cause(err)}.`, dir, { cause: err });
    }
    let Database: typeof BetterSqlite3;
    try {
      ({ default: Database } = await import('better-sqlite3'));
    } catch (err) {
      throw new StoreError(ErrorCode.STORE_UNWRITABLE, `Cannot open the store ${file}: the better-sqlite3 module did not load (${cause(err)}).`, file, { cause: err });
    }
    if (this.#open) return this.#read(this.#open); // another open() finished meanwhile
    let db: Db | undefined;
    try {
      db = new Database(file, { timeout: 0 });
      const open = this.#setUp(db);
      const state = this.#read(open);
      this.#open = open;
      return state;
    } catch (err) {
      try {
        db?.close();
      } catch {
        // the error that made open fail is the one to report
      }
      throw openError(err, file);
    }
  }

  /** Writes are done when their method returns. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Closes the database (and so releases the lock); later writes are ignored. */
  close(): void {
    const open = this.#open;
    this.#open = undefined;
    if (!open) return;
    try {
      open.db.close();
    } catch (err) {
      this.#log.warn({ err, store: this.location }, 'store close failed');
    }
  }

  putClient(c: KnownClient): void {
    this.#write('putClient', (s) => s.putClient.run(c.id, c.user ?? null, c.firstSeen, c.lastSeen));
  }

  deleteClient(id: string): void {
    this.#write('deleteClient', (s) => s.deleteClient(id));
  }

  putContacts(id: string, l: ContactLists): void {
    const mode = l.allowedSenders === 'all' ? 'all' : l.allowedSenders.length === 0 ? 'none' : 'list';
    const senders = mode === 'list' ? JSON.stringify(l.allowedSenders) : '[]';
    this.#write('putContacts', (s) => s.putContacts.run(id, JSON.stringify(l.defaultReceivers), mode, senders));
  }

  deleteContacts(id: string): void {
    this.#write('deleteContacts', (s) => s.deleteContacts.run(id));
  }

  putGroup(g: StoredGroup): void {
    this.#write('putGroup', (s) => s.putGroup.run(g.id, g.name, g.owner, g.passwordHash, g.created));
  }

  deleteGroup(id: string): void {
    this.#write('deleteGroup', (s) => s.deleteGroup(id));
  }

  putMember(group: string, client: string): void {
    this.#write('putMember', (s) => s.putMember.run(group, client));
  }

  deleteMember(group: string, client: string): void {
    this.#write('deleteMember', (s) => s.deleteMember.run(group, client));
  }

  putUser(u: StoredUser): void {
    this.#write('putUser', (s) => s.putUser.run(u.user, u.passwordHash, JSON.stringify(u.clientIds)));
  }

  deleteUser(user: string): void {
    this.#write('deleteUser', (s) => s.deleteUser.run(user));
  }

  /** Runs one write (one transaction) if open; a failure becomes STORE_WRITE. */
  #write(op: string, fn: (s: Open) => unknown): void {
    const open = this.#open;
    if (!open) return;
    try {
      fn(open);
    } catch (err) {
      throw new StoreError(ErrorCode.STORE_WRITE, `Could not write to the store ${this.location} (${op}): ${cause(err)}.`, this.location, { cause: err });
    }
  }

  /** Checks, locks and migrates the database, then prepares the statements. */
  #setUp(db: Db): Open {
    const file = this.location;
    // Hold every lock taken until close: the first read below takes a shared lock (and fails
    // with SQLITE_BUSY if another connection holds the file), the opening write an exclusive one.
    db.pragma('locking_mode = EXCLUSIVE');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StoreError(ErrorCode.STORE_NEWER_SCHEMA, `The store ${file} has schema version ${version} but this camwire knows only up to version ${SCHEMA_VERSION}; use a newer camwire (the file was left unchanged).`, file);
    }
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw corrupt(file, `quick_check: ${String(check)}`);
    if (version === 0 && (db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number) > 0) {
      throw corrupt(file, 'it is an SQLite database but not a camwire store');
    }
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new StoreError(ErrorCode.STORE_UNWRITABLE, `Cannot open the store ${file} for writing: it could not switch to WAL mode (journal_mode is ${String(mode)}).`, file);
    // NORMAL: commits are not fsynced; safe against a process crash, not against a power loss.
    db.pragma('synchronous = NORMAL');
    // One write transaction, even when there is nothing to migrate: it takes the exclusive lock
    // now and proves the file writable (a full disk fails here rather than at the first write).
    db.transaction(() => {
      for (let v = version; v < SCHEMA_VERSION; v++) MIGRATIONS[v](db);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).exclusive();
    if (version === 0) this.#log.info({ store: file, version: SCHEMA_VERSION }, 'store created');
    else if (version < SCHEMA_VERSION) this.#log.info({ store: file, from: version, to: SCHEMA_VERSION }, 'store migrated');
    return prepare(db);
  }

  /** Everything the store holds, in a deterministic order. */
  #read(s: Open): StoreState {
    const st = emptyState();
    st.clients = (s.read.clients.all() as ClientRow[]).map((r) => ({ id: r.id, ...(r.user === null ? {} : { user: r.user }), firstSeen: r.first_seen, lastSeen: r.last_seen }));
    st.contacts = (s.read.contacts.all() as ContactsRow[]).map((r) => ({
      id: r.client_id,
      defaultReceivers: this.#list(r.default_receivers),
      allowedSenders: r.allowed_mode === 'all' ? 'all' : r.allowed_mode === 'none' ? [] : this.#list(r.allowed_senders),
    }));
    st.groups = (s.read.groups.all() as GroupRow[]).map((r) => ({ id: r.id, name: r.name, owner: r.owner, passwordHash: r.password_hash, created: r.created }));
    st.members = (s.read.members.all() as MemberRow[]).map((r) => ({ group: r.group_id, client: r.client_id }));
    st.users = (s.read.users.all() as UserRow[]).map((r) => ({ user: r.user, passwordHash: r.password_hash, clientIds: this.#list(r.client_ids) }));
    return st;
  }

  /** A kept JSON list of strings. */
  #list(text: string): string[] {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw corrupt(this.location, `a list is not a JSON array of strings: ${text.slice(0, 80)}`);
    return v;
  }
}

/** Prepares every statement once. */
function prepare(db: Db): Open {
  const p = (sql: string): Stmt => db.prepare(sql);
  const delClient = p('DELETE FROM clients WHERE id = ?');
  const delContacts = p('DELETE FROM contacts WHERE client_id = ?');
  const delClientMembers = p('DELETE FROM members WHERE client_id = ?');
  const delGroup = p('DELETE FROM groups WHERE id = ?');
  const delGroupMembers = p('DELETE FROM members WHERE group_id = ?');
  return {
    db,
    putClient: p(`INSERT INTO clients (id, user, first_seen, last_seen) VALUES (?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET user = excluded.user, first_seen = excluded.first_seen, last_seen = excluded.last_seen`),
    deleteClient: db.transaction((id: string) => {
      delClient.run(id);
      delContacts.run(id);
      delClientMembers.run(id);
    }),
    putContacts: p(`INSERT INTO contacts (client_id, default_receivers, allowed_mode, allowed_senders) VALUES (?, ?, ?, ?)
      ON CONFLICT (client_id) DO UPDATE SET default_receivers = excluded.default_receivers,
        allowed_mode = excluded.allowed_mode, allowed_senders = excluded.allowed_senders`),
    deleteContacts: delContacts,
    putGroup: p(`INSERT INTO groups (id, name, owner, password_hash, created) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, owner = excluded.owner,
        password_hash = excluded.password_hash, created = excluded.created`),
    deleteGroup: db.transaction((id: string) => {
      delGroup.run(id);
      delGroupMembers.run(id);
    }),
    putMember: p('INSERT OR IGNORE INTO members (group_id, client_id) VALUES (?, ?)'),
    deleteMember: p('DELETE FROM members WHERE group_id = ? AND client_id = ?'),
    putUser: p(`INSERT INTO users (user, password_hash, client_ids) VALUES (?, ?, ?)
      ON CONFLICT (user) DO UPDATE SET password_hash = excluded.password_hash, client_ids = excluded.client_ids`),
    deleteUser: p('DELETE FROM users WHERE user = ?'),
    read: {
      clients: p('SELECT id, user, first_seen, last_seen FROM clients ORDER BY last_seen, id'),
      contacts: p('SELECT client_id, default_receivers, allowed_mode, allowed_senders FROM contacts ORDER BY client_id'),
      groups: p('SELECT id, name, owner, password_hash, created FROM groups ORDER BY id'),
      members: p('SELECT group_id, client_id FROM members ORDER BY group_id, client_id'),
      users: p('SELECT user, password_hash, client_ids FROM users ORDER BY user'),
    },
  };
}

/** The message of an error, for a StoreError's text. */
function cause(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

function corrupt(file: string, why: string, err?: unknown): StoreError {
  return new StoreError(ErrorCode.STORE_CORRUPT, `The store ${file} is not a usable camwire database (${why}); move it aside to start with an empty store.`, file, err === undefined ? undefined : { cause: err });
}

/** Turns what made `open` fail into a StoreError with one of the codes `open` documents. */
function openError(err: unknown, file: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreError(ErrorCode.STORE_LOCKED, `The store ${file} is locked: another camwire server is using it.`, file, { cause: err });
  }
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) return corrupt(file, cause(err), err);
  // SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_FULL, SQLITE_IOERR, SQLITE_PERM, E* from the OS, ...
  return new StoreError(ErrorCode.STORE_UNWRITABLE, `Cannot open the store ${file} for writing: ${cause(err)}.`, file, { cause: err });
}
