/**
 * The seam between a MediaServer and its cluster (docs/cluster.md). The server knows the cluster
 * only through `ClusterPort`; `startCluster` loads the NATS implementation (cluster/node.ts and
 * the @nats-io packages) on demand, so a server without the `cluster` option never loads it and
 * its paths pay one `undefined` check where a client is not online locally.
 */
import type { MediaTypeName } from '../../protocol/constants.js';
import type { Client } from '../client.js';
import type { ServerConfig } from '../config.js';
import type { Directory } from '../directory.js';
import type { GroupRegistry } from '../groups.js';
import type { ServerMetrics } from '../metrics.js';
import type { Relay } from '../relay.js';
import type { SystemRequests } from '../system-requests.js';
import type { UserRegistry } from '../users.js';
import type { Reader, Router, Target } from '../router.js';
import type { ClusterConfig } from './options.js';
import type { NodeAddress } from './wire.js';
export type { NodeAddress } from './wire.js';

/** What a cluster reports (MediaServer.stats().cluster). */
export interface ClusterStats {
  /** This node's name. */
  node: string;
  /** Live nodes, this one included. */
  nodes: string[];
  /** Whether the NATS connection is up. */
  connected: boolean;
  /** NATS messages this node published (frames to other nodes, batched per node). */
  published: number;
  /** NATS messages it received for its clients. */
  received: number;
  /** Reliable items sent to another node that were refused, timed out or found no node. */
  failed: number;
  /** Video and audio frames not sent to another node (larger than the message limit, or NATS down), or dropped on arrival at this node's pending limits. */
  dropped: number;
  /** Most messages of video and audio from other nodes that waited here at once (pending limits: `cluster.pending`). */
  pendingPeak: number;
  /** Messages from other nodes that were not whole camwire frames, and bad KV records. */
  bad: number;
  /** Largest NATS message (the NATS server's max_payload): frames beyond it do not cross nodes. */
  maxMessage: number;
  /** Joins, leaves and receivers' arrivals whose answer waited until every other live node applied them (read-your-writes). */
  synced: number;
  /** Of those, the ones some live node did not confirm within 1 s (answered anyway). */
  syncLate: number;
  /** Catch-up requests this node sent (to each other live node, when it started receiving a group: docs/cluster.md, Groups). */
  catchUpAsked: number;
  /** Catch-up requests of other nodes this node answered. */
  catchUpAnswered: number;
  /** Frames of other nodes' catch-up answers this node offered to its members. */
  catchUpFrames: number;
}

/** A change of the cluster as this node sees it (MediaServer event `cluster`). */
export type ClusterEvent =
  | { type: 'nodeUp' | 'nodeDown'; node: string }
  /** A client's receiver came online on another node, or went offline there (or with its node). */
  | { type: 'clientOnline' | 'clientOffline'; node: string; id: string }
  /** A client that joined through another node became a member of a group, or stopped being one. */
  | { type: 'memberJoined' | 'memberLeft'; node: string; group: string; id: string }
  /** Another node saw client `id`, which this node had not known: it is in getAllUsers here from now on. */
  | { type: 'clientKnown'; node: string; id: string }
  /** A user added at run time was applied here from the cluster (`node`: the node that stored it), or removed (`node`: this node). */
  | { type: 'userAdded' | 'userRemoved'; node: string; user: string }
  /** This node's connection to NATS was lost, or is back (`node`: this node). */
  | { type: 'natsLost' | 'natsBack'; node: string };

/** What the server needs of a cluster. */
export interface ClusterPort {
  /** Where a client that is not online here is online in the cluster: a target that publishes to its node. */
  target(id: string, type: MediaTypeName, from: Client): Target | undefined;
  /** The members of group `id` online on other nodes, as one target (published once per message). */
  group(id: string, type: MediaTypeName, from: Client): Target | undefined;
  /** Clients `ids` not online here: one target per node where some are online (one message per node), and those online nowhere. */
  many(ids: string[], type: MediaTypeName, from: Client): { targets: Target[]; nowhere: string[] };
  /** Whether `id`'s receiver is online on another node. */
  isOnline(id: string): boolean;
  /** A reader that takes the server's notifications to `id` on another node (no allowed-senders check there, as here). */
  notice(id: string): Reader | undefined;
  /**
   * A client's receiver is about to come online here (before its WELCOME): subscribes to its
   * subject and stores its presence record; resolves once every other live node applied it (at
   * most about 2 s; at once without NATS).
   */
  arrive(c: Client): Promise<void>;
  /** Resolves once every live node applied this node's last change of `client`'s membership of `group` (bounded). */
  settled(group: string, client: string): Promise<void>;
  /** A client's receiver came online here, or went offline. */
  online(c: Client): void;
  offline(c: Client): void;
  /** Ids online anywhere in the cluster. */
  onlineIds(): string[];
  /** Ids known anywhere in the cluster (seen by some node, online or not). */
  knownIds(): Iterable<string>;
  stats(): ClusterStats;
  /** Resolves when client `id`'s receiver is online on another node (true), or after `timeoutMs` (false). */
  movedAway(id: string, timeoutMs: number): Promise<boolean>;
  /** Another live node for a client to reconnect to (drain): the one with the fewest clients, counting those sent to it. */
  elsewhere(): NodeAddress | undefined;
  /** The server's listeners are bound: the node says where clients reach it. */
  listening(): void;
  /** The server is about to close its clients' links (stop, drain): their contact lists stay for their next node. */
  leaving(): void;
  /** Leaves the cluster: removes this node's presence, drains the NATS connection. */
  stop(): Promise<void>;
}

/** The parts of the server a cluster node works with. */
export interface ClusterParts {
  cluster: ClusterConfig;
  server: ServerConfig;
  directory: Directory;
  groups: GroupRegistry;
  router: Router;
  relay: Relay;
  requests: SystemRequests;
  metrics: ServerMetrics;
  users: UserRegistry;
  sessionKey: () => bigint;
  /** The server's bound ports (0: off or not bound yet). */
  ports: () => { tcp: number; http: number; udp: number };
  /** A local client's id came online on another node later: disconnect it here (DUPLICATE_ID). */
  takeOver: (c: Client, node: string) => void;
  /** Raises the server's `cluster` event. */
  onEvent: (ev: ClusterEvent) => void;
}

/** Connects to NATS and joins the cluster. Rejects with a CamwireError CW_ERR_CLUSTER_CONNECT. */
export async function startCluster(parts: ClusterParts): Promise<ClusterPort> {
  const { ClusterNode } = await import('./node.js');
  return ClusterNode.start(parts);
}
