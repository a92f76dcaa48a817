/**
 * ServerStore: where a MediaServer keeps what must survive a restart (docs/behaviour.md,
 * section 7): known clients, groups with their password hashes, permanent members, kept
 * contact lists and users added at run time. Never temporary memberships, online state or media.
 *
 * The server loads everything once at start (`open`) and then reads only its own memory; the
 * media path never touches the store. Each write is one transaction, made after the in-memory
 * change; the server acknowledges the request once `flush()` says it is durable, so an
 * acknowledged change survives a crash of the process. A write that fails (thrown, or reported
 * to `onWriteError`) is logged and counted, and the server goes on serving from memory.
 */

/** A client id the server has seen. */
export interface KnownClient {
  id: string;
  /** The user it logged in as, when the server checks credentials. */
  user?: string;
  /** ms since the epoch. */
  firstSeen: number;
  /** ms since the epoch: its last connect or disconnect. */
  lastSeen: number;
}

/** A client's contact lists. `allowedSenders`: 'all' = everyone, [] = no one, else only those. */
export interface ContactLists {
  defaultReceivers: string[];
  allowedSenders: string[] | 'all';
}

/** A group as kept: the password only as an scrypt hash ('' = no password). */
export interface StoredGroup {
  id: string;
  name: string;
  owner: string;
  passwordHash: string;
  /** ms since the epoch. */
  created: number;
}

/** A user added at run time (users from the configuration are not stored). */
export interface StoredUser {
  user: string;
  /** scrypt hash from hashPassword(). */
  passwordHash: string;
  /** Client ids this user may use; [] = any id not bound to another user. */
  clientIds: string[];
}

/** Everything a store holds, as `open` returns it. */
export interface StoreState {
  /** Oldest `lastSeen` first. */
  clients: KnownClient[];
  contacts: Array<{ id: string } & ContactLists>;
  groups: StoredGroup[];
  /** Permanent memberships; temporary ones are never stored. */
  members: Array<{ group: string; client: string }>;
  users: StoredUser[];
}

/** What the server tells a store when it opens it. */
export interface StoreHooks {
  /** A write that was taken (the method returned) failed later, in the background. */
  onWriteError?: (err: Error, op: string) => void;
}

/** A MediaServer's persistence. MemoryStore and SqliteStore implement it. */
export interface ServerStore {
  /** For logs and errors: 'memory', or the database file. */
  readonly location: string;
  /**
   * Opens the store (creating or migrating it) and returns what it holds. Rejects with a
   * StoreError: STORE_UNWRITABLE, STORE_LOCKED (another server uses it), STORE_CORRUPT or
   * STORE_NEWER_SCHEMA.
   */
  open(hooks?: StoreHooks): Promise<StoreState>;
  /**
   * Resolves once every write made before it is durable (or failed: a write method may throw, or
   * report later through `hooks.onWriteError`). The server acknowledges a request after it.
   */
  flush(): Promise<void>;
  /** Makes every write durable and closes the store; later writes are ignored. */
  close(): void | Promise<void>;
  /** Adds or updates a known client. */
  putClient(c: KnownClient): void;
  /** Forgets a client: its record, its contact lists and its permanent memberships. */
  deleteClient(id: string): void;
  /** Replaces a client's kept contact lists. */
  putContacts(id: string, lists: ContactLists): void;
  deleteContacts(id: string): void;
  /** Adds or updates a group (not its members). */
  putGroup(g: StoredGroup): void;
  /** Deletes a group and its members. */
  deleteGroup(id: string): void;
  /** Records a permanent membership. */
  putMember(group: string, client: string): void;
  deleteMember(group: string, client: string): void;
  putUser(u: StoredUser): void;
  deleteUser(user: string): void;
}

/** An empty StoreState. */
export function emptyState(): StoreState {
  return { clients: [], contacts: [], groups: [], members: [], users: [] };
}
