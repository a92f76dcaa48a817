/**
 * What a MediaServer reports of its clients (`clients()`, /stats, the control API) and the events
 * it raises. One function builds a client's report from the parts that own its pieces.
 */
import type { CommandMessage, ConnectionEvents } from '../events.js';
import type { MediaTypeName } from '../protocol/constants.js';
import type { Client, DropReason } from './client.js';
import type { Directory } from './directory.js';
import type { GroupRegistry } from './groups.js';
import type { ServerCommandMeta } from './relay.js';
import type { ClusterEvent } from './cluster/cluster.js';

/** A client as the server reports it. */
export interface ClientInfo {
  id: string;
  user?: string;
  online: boolean;
  /** ms since the epoch: first connection, and last connect or disconnect. */
  firstSeen: number;
  lastSeen: number;
  /** Receiver channels open. */
  channels: MediaTypeName[];
  /** Sender connections open. */
  pushLinks: number;
  /** HTTP ingest uploads publishing as this client now (POST /ingest/<id>). */
  ingest: number;
  groups: string[];
  defaultReceivers: string[];
  allowedSenders: string[] | 'all';
  in: Record<MediaTypeName, { frames: number; bytes: number }>;
  out: Record<MediaTypeName, { frames: number; bytes: number }>;
  dropped: Record<MediaTypeName, number>;
  /** The same drops by reason (they add up to `dropped`): slow_reader, offline, not_allowed, failed. */
  droppedBy: Record<DropReason, Record<MediaTypeName, number>>;
}

/** Events of a MediaServer. Connection events carry sessionKey 0 and the client's key as remoteSessionKey (the server accepts). */
export interface MediaServerEvents extends ConnectionEvents {
  /** A client's receiver opened its first channel. */
  clientConnected: [info: ClientInfo];
  /** A client's receiver closed its last channel. */
  clientDisconnected: [info: ClientInfo];
  /** A command named RVSU_... addressed to the server itself. */
  serverCommand: [cmd: CommandMessage, meta: ServerCommandMeta];
  /** In a cluster: a node came or went, a client came online or went offline on another node. */
  cluster: [ev: ClusterEvent];
}

/** A client's report, from its live side, the directory, the groups and the ingest count. */
export function clientInfo(c: Client, dir: Directory, groups: GroupRegistry, ingest: (id: string) => number): ClientInfo {
  const allowed = dir.allowedSenders(c.id);
  const info: ClientInfo = {
    id: c.id,
    online: c.online,
    firstSeen: c.record.firstSeen,
    lastSeen: c.record.lastSeen,
    channels: [...c.channels.keys()],
    pushLinks: c.pushLinks.size,
    ingest: ingest(c.id),
    groups: groups.of(c.id).map((g) => g.id),
    defaultReceivers: [...dir.defaultReceivers(c.id)],
    allowedSenders: allowed ? [...allowed] : 'all',
    in: structuredClone(c.counters.in),
    out: structuredClone(c.counters.out),
    dropped: c.drops(),
    droppedBy: c.dropsByReason(),
  };
  if (c.user !== undefined) info.user = c.user;
  return info;
}
