/**
 * ListSync: clients' contact lists shared between nodes (docs/cluster.md, Contact lists), so a
 * client that reconnects to another node (its node died, was drained, or a load balancer chose
 * another) finds its default receivers and allowed senders there. Bucket `<prefix>_lists`, key
 * token(id) = { node, defaultReceivers, allowedSenders }, written by the node the client is
 * connected to after each change, deleted when the client's last connection closes (unless the
 * server keeps client info, or the node is draining). Every node mirrors the lists of clients not
 * online on it.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '../../options.js';
import type { Directory, ListsObserver } from '../directory.js';
import type { ContactLists } from '../store/store.js';
import { encodeRecord, parseRecord, token, untoken } from './wire.js';

type ListsRecord = ContactLists & { node: string };

export interface ListSyncOptions {
  kv: KV;
  self: string;
  directory: Directory;
  logger: Logger;
  bad: () => void;
}

export class ListSync implements ListsObserver {
  readonly #o: ListSyncOptions;
  #stopWatch: (() => void) | undefined;
  #stopped = false;
  /** While draining, lists are kept for the clients' next node. */
  keep = false;

  constructor(o: ListSyncOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const it = await this.#o.kv.watch();
    this.#stopWatch = () => it.stop();
    void (async () => {
      for await (const e of it) this.#onEntry(e);
    })().catch((err: Error) => {
      if (!this.#stopped) this.#o.logger.error({ err: err.message }, 'cluster: lists watch ended');
    });
    this.#o.directory.observer = this;
  }

  stop(): void {
    this.#stopped = true;
    this.#o.directory.observer = undefined;
    this.#stopWatch?.();
  }

  listsChanged(id: string, lists: ContactLists | undefined): void {
    if (!lists) {
      if (!this.keep) this.#o.kv.delete(token(id)).catch(() => {});
      return;
    }
    const r: ListsRecord = { node: this.#o.self, ...lists };
    this.#o.kv.put(token(id), encodeRecord(r)).catch((err: Error) => this.#o.logger.warn({ client: id, err: err.message }, 'cluster: contact lists not stored'));
  }

  #onEntry(e: KvWatchEntry): void {
    const id = untoken(e.key);
    if (id === undefined) return this.#o.bad();
    if (e.operation !== 'PUT') return this.#o.directory.applyLists(id, undefined);
    const r = parseRecord<ListsRecord>(e.value);
    if (!r || !Array.isArray(r.defaultReceivers) || !(r.allowedSenders === 'all' || Array.isArray(r.allowedSenders))) return this.#o.bad();
    if (![...r.defaultReceivers, ...(r.allowedSenders === 'all' ? [] : r.allowedSenders)].every((x) => typeof x === 'string')) return this.#o.bad();
    if (r.node !== this.#o.self) this.#o.directory.applyLists(id, { defaultReceivers: r.defaultReceivers, allowedSenders: r.allowedSenders });
  }
}
