/**
 * MemoryStore: a ServerStore that keeps nothing beyond the process (the library's default).
 * It still holds what it was given, so a server stopped and started again on the same
 * MemoryStore object finds its state: useful for tests and for embedding.
 */
import { emptyState, type ContactLists, type KnownClient, type ServerStore, type StoreState, type StoredGroup, type StoredUser } from './store.js';

export class MemoryStore implements ServerStore {
  readonly location = 'memory';
  readonly #clients = new Map<string, KnownClient>();
  readonly #contacts = new Map<string, ContactLists>();
  readonly #groups = new Map<string, StoredGroup>();
  /** group → permanent members */
  readonly #members = new Map<string, Set<string>>();
  readonly #users = new Map<string, StoredUser>();

  async open(): Promise<StoreState> {
    const s = emptyState();
    s.clients = [...this.#clients.values()].map((c) => ({ ...c })).sort((a, b) => a.lastSeen - b.lastSeen);
    s.contacts = [...this.#contacts].map(([id, l]) => ({ id, defaultReceivers: [...l.defaultReceivers], allowedSenders: l.allowedSenders === 'all' ? 'all' : [...l.allowedSenders] }));
    s.groups = [...this.#groups.values()].map((g) => ({ ...g }));
    s.members = [...this.#members].flatMap(([group, ids]) => [...ids].map((client) => ({ group, client })));
    s.users = [...this.#users.values()].map((u) => ({ ...u, clientIds: [...u.clientIds] }));
    return s;
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}

  putClient(c: KnownClient): void {
    this.#clients.set(c.id, { ...c });
  }

  deleteClient(id: string): void {
    this.#clients.delete(id);
    this.#contacts.delete(id);
    for (const m of this.#members.values()) m.delete(id);
  }

  putContacts(id: string, l: ContactLists): void {
    this.#contacts.set(id, { defaultReceivers: [...l.defaultReceivers], allowedSenders: l.allowedSenders === 'all' ? 'all' : [...l.allowedSenders] });
  }

  deleteContacts(id: string): void {
    this.#contacts.delete(id);
  }

  putGroup(g: StoredGroup): void {
    this.#groups.set(g.id, { ...g });
  }

  deleteGroup(id: string): void {
    this.#groups.delete(id);
    this.#members.delete(id);
  }

  putMember(group: string, client: string): void {
    let m = this.#members.get(group);
    if (!m) this.#members.set(group, (m = new Set()));
    m.add(client);
  }

  deleteMember(group: string, client: string): void {
    this.#members.get(group)?.delete(client);
  }

  putUser(u: StoredUser): void {
    this.#users.set(u.user, { ...u, clientIds: [...u.clientIds] });
  }

  deleteUser(user: string): void {
    this.#users.delete(user);
  }
}
