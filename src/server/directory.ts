/**
 * Directory: the one owner of a MediaServer's clients (docs/behaviour.md, sections 5 and 7).
 * It is the only place where a client is admitted or forgotten, where its user binding and
 * last-seen time change, and where its contact lists (default receivers, allowed senders) change.
 * Every change goes to the store after the in-memory change; routing reads memory only.
 *
 * The directory remembers every client id that connected, online or not, up to `maxClients`;
 * at the limit it forgets the least recently seen client that is offline and not a permanent
 * member of any group.
 */
import { Client } from './client.js';
import type { StoreWrites } from './store/guard.js';
import type { ContactLists, KnownClient, StoreState } from './store/store.js';

/** A client's contact lists, as the directory holds them. */
interface Lists {
  defaultReceivers: Set<string>;
  /** undefined = accept everyone; an empty set = accept no one. */
  allowedSenders: Set<string> | undefined;
  /** Hello was said to these lists, so the server says goodbye when the client goes offline. */
  helloDefault: boolean;
  helloAllowed: boolean;
}

/** Which contact list. */
export type ListName = 'default' | 'allowed';

export interface DirectoryOptions {
  maxClients: number;
  keepClientInfo: boolean;
  store: StoreWrites;
  /** Whether a client must not be forgotten (a permanent group member). */
  pinned: (id: string) => boolean;
  now?: () => number;
}

const NO_ONE: ReadonlySet<string> = new Set();

/** Hears of changes to clients' contact lists (a cluster shares them, server/cluster/); applyLists() is not reported. */
export interface ListsObserver {
  listsChanged(id: string, lists: ContactLists | undefined): void;
}

/** Hears of clients seen (connected, disconnected, bound to a user) and forgotten (a cluster shares them, server/cluster/known-sync.ts). */
export interface KnownObserver {
  seen(r: Readonly<KnownClient>): void;
  forgot(id: string): void;
}

export class Directory {
  /** Set while the server is in a cluster. */
  observer: ListsObserver | undefined;
  /** Set while the server is in a cluster. */
  known: KnownObserver | undefined;
  /** Least recently seen first. */
  readonly #clients = new Map<string, Client>();
  readonly #records = new Map<string, KnownClient>();
  readonly #lists = new Map<string, Lists>();
  readonly #o: DirectoryOptions;
  readonly #now: () => number;

  constructor(o: DirectoryOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** Takes in what the store kept: every client offline; lists only with keepClientInfo. */
  load(s: StoreState): void {
    for (const r of s.clients) this.#insert({ ...r });
    for (const c of s.contacts) {
      if (!this.#o.keepClientInfo || !this.#records.has(c.id)) {
        this.#o.store.deleteContacts(c.id);
        continue;
      }
      this.#lists.set(c.id, {
        defaultReceivers: new Set(c.defaultReceivers),
        allowedSenders: c.allowedSenders === 'all' ? undefined : new Set(c.allowedSenders),
        helloDefault: false,
        helloAllowed: false,
      });
    }
  }

  get size(): number {
    return this.#clients.size;
  }

  get(id: string): Client | undefined {
    return this.#clients.get(id);
  }

  all(): IterableIterator<Client> {
    return this.#clients.values();
  }

  /** Ids of clients whose receiver is online. */
  onlineIds(): string[] {
    const out: string[] = [];
    for (const c of this.#clients.values()) if (c.online) out.push(c.id);
    return out;
  }

  /**
   * A connection of `id` was accepted: returns its client (admitting a new id, forgetting one
   * at the limit), with its last-seen time updated; undefined when the directory is full.
   */
  admit(id: string): Client | undefined {
    let c = this.#clients.get(id);
    if (!c) {
      if (this.#clients.size >= this.#o.maxClients) this.#forgetOne();
      if (this.#clients.size >= this.#o.maxClients) return undefined;
      const now = this.#now();
      c = this.#insert({ id, firstSeen: now, lastSeen: now });
    }
    // Stored on its first connection, not on each of its channels.
    if (!c.connected) this.#touch(c);
    return c;
  }

  /** Binds a client id to the user it logged in as. */
  bindUser(c: Client, user: string): void {
    const r = this.#records.get(c.id)!;
    if (r.user === user) return;
    r.user = user;
    this.#o.store.putClient(r);
    this.known?.seen(r);
  }

  /** The client's last connection closed: it is seen now; its lists go unless they are kept. */
  disconnected(c: Client): void {
    this.#touch(c);
    const l = this.#lists.get(c.id);
    if (!l) return;
    l.helloDefault = l.helloAllowed = false;
    if (!this.#o.keepClientInfo) {
      this.#lists.delete(c.id);
      this.observer?.listsChanged(c.id, undefined);
    }
  }

  /**
   * Another node's copy of a client's lists (a cluster): taken while the client is not online
   * here (here, its own changes are the truth). Hello flags are not carried: they belong to a session.
   */
  applyLists(id: string, lists: ContactLists | undefined): void {
    if (this.#clients.get(id)?.online) return;
    if (!lists) {
      this.#lists.delete(id);
      return;
    }
    this.#lists.set(id, {
      defaultReceivers: new Set(lists.defaultReceivers),
      allowedSenders: lists.allowedSenders === 'all' ? undefined : new Set(lists.allowedSenders),
      helloDefault: false,
      helloAllowed: false,
    });
  }

  // ------------------------------------------------------------------ contact lists

  defaultReceivers(id: string): ReadonlySet<string> {
    return this.#lists.get(id)?.defaultReceivers ?? NO_ONE;
  }

  /** undefined = everyone. */
  allowedSenders(id: string): ReadonlySet<string> | undefined {
    return this.#lists.get(id)?.allowedSenders;
  }

  /** Whether `id`'s allowed-senders filter lets `from` in. */
  accepts(id: string, from: string): boolean {
    const a = this.#lists.get(id)?.allowedSenders;
    return a === undefined || a.has(from);
  }

  /** Whether `id` said hello to that list (and so is owed a goodbye). */
  saidHello(id: string, which: ListName): boolean {
    const l = this.#lists.get(id);
    return which === 'default' ? Boolean(l?.helloDefault) : Boolean(l?.helloAllowed);
  }

  setHello(id: string, which: ListName, on: boolean): void {
    const l = this.#listsOf(id);
    if (which === 'default') l.helloDefault = on;
    else l.helloAllowed = on;
  }

  add(id: string, which: ListName, member: string): void {
    const l = this.#listsOf(id);
    if (which === 'default') l.defaultReceivers.add(member);
    else (l.allowedSenders ??= new Set()).add(member);
    this.#saveLists(id, l);
  }

  remove(id: string, which: ListName, member: string): void {
    const l = this.#lists.get(id);
    if (!l) return;
    const changed = which === 'default' ? l.defaultReceivers.delete(member) : Boolean(l.allowedSenders?.delete(member));
    if (changed) this.#saveLists(id, l);
  }

  /** Empties a list; for allowed senders, `allowAll` chooses between everyone and no one. */
  clear(id: string, which: ListName, allowAll = true): void {
    const l = this.#listsOf(id);
    if (which === 'default') l.defaultReceivers.clear();
    else l.allowedSenders = allowAll ? undefined : new Set();
    this.#saveLists(id, l);
  }

  // ------------------------------------------------------------------ internals

  #insert(r: KnownClient): Client {
    this.#records.set(r.id, r);
    const c = new Client(r);
    this.#clients.set(r.id, c);
    return c;
  }

  #touch(c: Client): void {
    const r = this.#records.get(c.id)!;
    r.lastSeen = this.#now();
    // Re-insert: the map stays ordered least recently seen first.
    this.#clients.delete(c.id);
    this.#clients.set(c.id, c);
    this.#o.store.putClient(r);
    this.known?.seen(r);
  }

  #listsOf(id: string): Lists {
    let l = this.#lists.get(id);
    if (!l) this.#lists.set(id, (l = { defaultReceivers: new Set(), allowedSenders: undefined, helloDefault: false, helloAllowed: false }));
    return l;
  }

  #saveLists(id: string, l: Lists): void {
    if (!this.#o.keepClientInfo && !this.observer) return;
    const lists: ContactLists = { defaultReceivers: [...l.defaultReceivers], allowedSenders: l.allowedSenders ? [...l.allowedSenders] : 'all' };
    this.observer?.listsChanged(id, lists);
    if (this.#o.keepClientInfo) this.#o.store.putContacts(id, lists);
  }

  /** Makes room by forgetting the least recently seen client that is offline and not pinned. */
  #forgetOne(): void {
    for (const c of this.#clients.values()) {
      if (c.connected || this.#o.pinned(c.id)) continue;
      this.#clients.delete(c.id);
      this.#records.delete(c.id);
      this.#lists.delete(c.id);
      this.#o.store.deleteClient(c.id);
      this.known?.forgot(c.id);
      return;
    }
  }
}
