/**
 * Router: who gets a message (docs/behaviour.md, section 5). First rule that applies: `to`, else
 * every other member of `group` (only members speak in a group), else the sender's default
 * receivers. Only clients whose receiver has a channel of the type, and whose allowed-senders
 * filter lets the sender in, are targets. Reads memory only: the media path never waits.
 */
import type { MediaTypeName } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import type { FrameBatch } from '../protocol/fan-encoding.js';
import type { AckInfo } from '../media/outbox.js';
import type { Client } from './client.js';
import type { Directory } from './directory.js';
import type { GroupRegistry } from './groups.js';

/** What the router needs of a reader's channel; the server's ServedChannels implement it. */
export interface Reader {
  /** Video or audio: queued or written at once, never waits. Returns the frames dropped. */
  offer(init: FrameInit): number;
  /** The frames of a batch, as offer() would take each; written as one piece where it can. Returns the frames dropped. */
  offerBatch(batch: FrameBatch): number;
  /**
   * True when offerBatch() holds the batch's encoded pieces for as long as it keeps them
   * (FrameBatch.hold): they may then be joined into memory that is written again afterwards.
   */
  readonly holdsEncoded?: boolean;
  /** Commands, files, data: resolves when the reader acknowledged it. */
  submit(init: FrameInit): Promise<AckInfo>;
}

/** One delivery target. */
export interface Target {
  client: Client;
  reader: Reader;
}

/** Why a client is not a target. */
export type Miss = 'offline' | 'not_allowed';

/** Targets on other nodes of a cluster (server/cluster/): asked only for a client that is not online here. */
export interface RemoteTargets {
  target(id: string, type: MediaTypeName, from: Client): Target | undefined;
  /** One target standing for the members of group `id` on every other node (published once per node). */
  group(id: string, type: MediaTypeName, from: Client): Target | undefined;
  /** Clients `ids` (not online here): one target per node where some are online, and those online nowhere. */
  many(ids: string[], type: MediaTypeName, from: Client): { targets: Target[]; nowhere: string[] };
}

export class Router {
  readonly #dir: Directory;
  readonly #groups: GroupRegistry;
  /** Set while the server is in a cluster. */
  remote: RemoteTargets | undefined;

  constructor(dir: Directory, groups: GroupRegistry) {
    this.#dir = dir;
    this.#groups = groups;
  }

  /** The targets of a message from `from`; `miss` hears of each addressee left out. No closure per call: this runs for every frame. */
  targets(from: Client, f: { to: string; group: string }, type: MediaTypeName, miss: (c: Client, why: Miss, type: MediaTypeName) => void): Target[] {
    const out: Target[] = [];
    if (f.to) this.#consider(f.to, from, type, miss, out);
    else if (f.group) {
      const g = this.#groups.get(f.group);
      if (g?.members.has(from.id)) {
        // In a cluster the members on other nodes are reached through one group target.
        const remote = this.remote;
        for (const id of g.members.keys()) if (id !== from.id) this.#consider(id, from, type, miss, out, remote === undefined);
        // The other nodes first: their publish is one write, and their readers then wait for
        // none of this node's local writes (docs/cluster.md, Routing).
        const r = remote?.group(f.group, type, from);
        if (r) out.unshift(r);
      }
    } else if (this.remote) this.#defaults(from, type, miss, out, this.remote);
    else for (const id of this.#dir.defaultReceivers(from.id)) this.#consider(id, from, type, miss, out);
    return out;
  }

  #consider(id: string, from: Client, type: MediaTypeName, miss: (c: Client, why: Miss, type: MediaTypeName) => void, out: Target[], askRemote = true): void {
    const c = this.#dir.get(id);
    const reader = c?.channels.get(type);
    if (!reader) {
      // Not online here: online on another node of the cluster? (Its node checks its filters.)
      const r = askRemote ? this.remote?.target(id, type, from) : undefined;
      if (r) out.push(r);
      else if (c) miss(c, 'offline', type);
      return;
    }
    if (!this.#dir.accepts(id, from.id)) return miss(c!, 'not_allowed', type);
    out.push({ client: c!, reader });
  }

  /** Default receivers in a cluster: those not online here go to their nodes, one target per node. */
  #defaults(from: Client, type: MediaTypeName, miss: (c: Client, why: Miss, type: MediaTypeName) => void, out: Target[], remote: RemoteTargets): void {
    let far: string[] | undefined;
    for (const id of this.#dir.defaultReceivers(from.id)) {
      if (this.#dir.get(id)?.channels.has(type)) this.#consider(id, from, type, miss, out);
      else (far ??= []).push(id);
    }
    if (!far) return;
    const { targets, nowhere } = remote.many(far, type, from);
    // The other nodes first, as for a group (targets()).
    if (targets.length) out.unshift(...targets);
    for (const id of nowhere) this.#consider(id, from, type, miss, out, false);
  }

  /** One sentence on why a message found no target. */
  why(from: Client, f: { to: string; group: string }): string {
    if (f.to) return `client ${JSON.stringify(f.to)} is not online to take this, or does not accept it from ${from.id}`;
    if (f.group) {
      return this.#groups.get(f.group)?.members.has(from.id)
        ? `no other member of group ${JSON.stringify(f.group)} can take this`
        : `${from.id} is not a member of group ${JSON.stringify(f.group)}`;
    }
    return this.#dir.defaultReceivers(from.id).size ? 'none of your default receivers can take this' : 'no addressee, no group and no default receivers: nowhere to send this';
  }
}
