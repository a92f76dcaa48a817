/**
 * ClusterNode: a MediaServer's membership of a cluster over NATS (docs/cluster.md). It keeps the
 * presence (cluster/presence.ts), subscribes to the subject of each client whose receiver is
 * online here, and
 * - sends what a local sender addresses to a client online on another node: video and audio
 *   published (a turn's batch in one message, once per destination, never once per reader),
 *   commands, data and file chunks as requests whose reply is the real receiver's answer;
 * - delivers what other nodes send to its own clients (local-delivery.ts), so each reader keeps
 *   its per-reader policy (latest-wins video, bounded audio, acknowledged reliable items).
 * Groups are groups-sync.ts, several addressees on one node listed.ts, contact lists
 * lists-sync.ts. Only the files of server/cluster/ import the NATS client; they are loaded only
 * with a cluster.
 */
import { AuthorizationError, connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { CamwireError, ErrorCode } from '../../errors.js';
import type { MediaTypeName } from '../../protocol/constants.js';
import { Notice } from '../../protocol/system-commands.js';
import type { Client } from '../client.js';
import type { Reader, Target } from '../router.js';
import type { ClusterParts, ClusterPort, ClusterStats } from './cluster.js';
import { Greetings } from './greetings.js';
import { LocalDelivery } from './local-delivery.js';
import { Listed } from './listed.js';
import { GroupSync } from './groups-sync.js';
import { GroupRoutes } from './group-routes.js';
import { CatchUp } from './catch-up.js';
import { ClientSubjects } from './client-subjects.js';
import { StandIns } from './stand-ins.js';
import { ListSync } from './lists-sync.js';
import { KNOWN_BUCKET_BYTES, KnownSync } from './known-sync.js';
import { UserSync } from './users-sync.js';
import { Presence } from './presence.js';
import { Applied, bounded, SYNC_MS } from './applied.js';
import { Outbound } from './outbound.js';
import { Inbound } from './inbound.js';
import { Names, type NodeAddress } from './wire.js';
import { advertisedAddress, Moves } from './moves.js';

/** Longest a node takes to leave the cluster cleanly. */
const STOP_MS = 1000;

export class ClusterNode implements ClusterPort {
  readonly #p: ClusterParts;
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #presence: Presence;
  readonly #applied: Applied;
  /** Receivers coming online here: resolves once every live node sees them (arrive). */
  readonly #arriving = new Map<string, Promise<void>>();
  /** Receivers whose memberships arrive() adopted already. */
  readonly #adopted = new Set<string>();
  readonly #groups: GroupSync;
  readonly #groupRoutes: GroupRoutes;
  readonly #catchUp: CatchUp;
  readonly #lists: ListSync;
  readonly #known: KnownSync;
  readonly #users: UserSync;
  readonly #greetings = new Greetings();
  readonly #local: LocalDelivery;
  readonly #listed: Listed;
  /** Waiters of movedAway(), by client id. */
  readonly #moves = new Moves();
  /** The subject of each client online here, and what comes on it. */
  readonly #subs: ClientSubjects;
  /** Clients on other nodes, as the routing and the counters see them. */
  readonly #standIns: StandIns;
  readonly #out: Outbound;
  readonly #in: Inbound;
  #bad = 0;
  /** NATS messages received for this node's clients (every subject). */
  #received = 0;
  #leaving = false;

  private constructor(p: ClusterParts, nc: NatsConnection, kv: Record<'nodes' | 'clients' | 'groups' | 'lists' | 'known' | 'users', KV>) {
    this.#p = p;
    this.#nc = nc;
    this.#names = new Names(p.cluster.prefix);
    this.#in = new Inbound(p.cluster.pending, p.metrics);
    this.#out = new Outbound({ nc, metrics: p.metrics, sessionKey: p.sessionKey, timeouts: p.server.timeouts });
    this.#local = new LocalDelivery({ directory: p.directory, metrics: p.metrics, self: p.cluster.name, greetings: this.#greetings, gops: p.relay.gops });
    this.#standIns = new StandIns(this.#names, this.#out, p.relay.gops);
    const standIn = this.#standIns.get;
    const isRemote = this.#standIns.isRemote;
    const bad = (): void => void this.#bad++;
    const received = (): void => void this.#received++;
    this.#subs = new ClientSubjects({ nc, names: this.#names, local: this.#local, inbound: this.#in, maxPayload: p.server.maxPayload, standIn, bad, received });
    const log = p.server.logger;
    const others = (): string[] => this.#presence.nodes().filter((n) => n !== p.cluster.name);
    this.#applied = new Applied({ nc, names: this.#names, self: p.cluster.name, others, up: () => this.#out.up, logger: log });
    this.#presence = new Presence({
      applied: this.#applied,
      nodes: kv.nodes,
      clients: kv.clients,
      self: p.cluster.name,
      heartbeatMs: p.cluster.heartbeatMs,
      deadAfterMs: p.cluster.deadAfterMs,
      logger: log,
      localOnline: () => this.#subs.size,
      address: () => this.#address(),
      draining: () => this.#leaving,
      takenOver: (id, node) => {
        const c = p.directory.get(id);
        if (c) p.takeOver(c, node);
      },
      nodeUp: (node) => {
        log.info({ node }, 'cluster: node up');
        p.onEvent({ type: 'nodeUp', node });
      },
      nodeDown: (node, ids, cleaner, drained) => {
        for (const id of ids) {
          this.#standIns.offline(id);
          // Its node cannot say the goodbyes it owed: each node says those owed to its own clients.
          for (const to of this.#greetings.owed(id)) p.requests.notify(to, Notice.USER_EXIT, { user: id });
        }
        this.#groups.nodeDown(node, cleaner, drained);
        p.onEvent({ type: 'nodeDown', node });
      },
      remote: (id, node, online) => {
        if (online) this.#moves.arrived(id);
        else this.#standIns.offline(id);
        p.onEvent({ type: online ? 'clientOnline' : 'clientOffline', node, id });
      },
    });
    this.#catchUp = new CatchUp({ nc, names: this.#names, self: p.cluster.name, others, out: this.#out, maxPayload: p.server.maxPayload, sessionKey: p.sessionKey, gops: p.relay.gops, directory: p.directory, groups: p.groups, bad });
    this.#groupRoutes = new GroupRoutes({
      nc,
      names: this.#names,
      self: p.cluster.name,
      groups: p.groups,
      directory: p.directory,
      router: p.router,
      presence: this.#presence,
      out: this.#out,
      local: this.#local,
      maxPayload: p.server.maxPayload,
      standIn,
      peek: (id) => this.#standIns.peek(id),
      gops: p.relay.gops,
      catchUp: this.#catchUp,
      isRemote,
      bad,
      received,
      inbound: this.#in,
    });
    this.#groups = new GroupSync({
      kv: kv.groups,
      self: p.cluster.name,
      groups: p.groups,
      directory: p.directory,
      requests: p.requests,
      out: this.#out,
      routes: this.#groupRoutes,
      logger: log,
      bad,
      onEvent: p.onEvent,
      applied: this.#applied,
      arriving: (id) => this.#subs.has(id),
    });
    this.#listed = new Listed({
      nc,
      names: this.#names,
      self: p.cluster.name,
      presence: this.#presence,
      out: this.#out,
      local: this.#local,
      maxPayload: p.server.maxPayload,
      standIn,
      clientReader: (id) => this.#standIns.reader(id),
      gops: p.relay.gops,
      isRemote,
      bad,
      received,
      inbound: this.#in,
    });
    this.#lists = new ListSync({ kv: kv.lists, self: p.cluster.name, directory: p.directory, logger: log, bad: () => this.#bad++ });
    this.#known = new KnownSync({ kv: kv.known, self: p.cluster.name, directory: p.directory, logger: log, up: () => this.#out.up, bad: () => this.#bad++, onEvent: p.onEvent });
    this.#users = new UserSync({ kv: kv.users, self: p.cluster.name, users: p.users, logger: log, up: () => this.#out.up, bad: () => this.#bad++, onEvent: p.onEvent });
    void this.#watchStatus();
  }

  /** Connects to NATS, opens the presence buckets and starts the heartbeat. */
  static async start(p: ClusterParts): Promise<ClusterNode> {
    const c = p.cluster;
    let nc: NatsConnection;
    // nats.js's own timeout (5 s) does not always end its first connect: after a refusal of the
    // credentials it may neither resolve nor reject, with nothing left to keep the process up. So
    // the wait has a deadline of its own, and a connection that comes after it is closed.
    const pending = connect({ servers: c.servers, name: `camwire ${c.name}`, noEcho: true, noAsyncTraces: true, user: c.user, pass: c.pass, token: c.token, timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_DEADLINE_MS / 1000} s (are the address and the credentials right?)`)), CONNECT_DEADLINE_MS);
    });
    try {
      nc = await Promise.race([pending, deadline]);
    } catch (err) {
      pending.then((late) => late.close()).catch(() => undefined);
      throw new CamwireError(ErrorCode.CLUSTER_CONNECT, `cluster: cannot connect to NATS at ${c.servers.join(', ')}: ${(err as Error).message}${connectFix(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    try {
      const names = new Names(c.prefix);
      const kvm = new Kvm(nc);
      const nodes = await kvm.create(names.bucket('nodes'), { history: 1, ttl: c.deadAfterMs });
      const clients = await kvm.create(names.bucket('clients'), { history: 1 });
      const groups = await kvm.create(names.bucket('groups'), { history: 1 });
      const lists = await kvm.create(names.bucket('lists'), { history: 1 });
      const known = await kvm.create(names.bucket('known'), { history: 1, max_bytes: KNOWN_BUCKET_BYTES });
      const users = await kvm.create(names.bucket('users'), { history: 1 });
      const node = new ClusterNode(p, nc, { nodes, clients, groups, lists, known, users });
      // Users first: the credentials check reads them, and the listeners open after start().
      await node.#users.start();
      await node.#known.start();
      node.#applied.start();
      await node.#presence.start();
      node.#catchUp.start();
      node.#groupRoutes.start();
      await node.#groups.start();
      await node.#lists.start();
      node.#listed.start();
      p.server.logger.info({ node: c.name, nats: nc.getServer(), maxMessage: node.#out.max }, 'cluster: joined');
      return node;
    } catch (err) {
      await nc.close().catch(() => {});
      throw new CamwireError(ErrorCode.CLUSTER_CONNECT, `cluster: JetStream KV is not available on ${c.servers.join(', ')} (run nats-server with -js): ${(err as Error).message}`, { cause: err });
    }
  }

  // ------------------------------------------------------------------ ClusterPort

  target(id: string, type: MediaTypeName, from: Client): Target | undefined {
    // What came from another node is for this node's clients only: it never goes on.
    if (this.#standIns.isRemote(from)) return undefined;
    const node = this.#presence.where(id);
    if (node === undefined || node === this.#p.cluster.name) return undefined;
    return { client: this.#standIns.get(id), reader: this.#standIns.reader(id) };
  }

  group(id: string, _type: MediaTypeName, from: Client): Target | undefined {
    return this.#groupRoutes.target(id, from);
  }

  many(ids: string[], type: MediaTypeName, from: Client): { targets: Target[]; nowhere: string[] } {
    return this.#listed.many(ids, from, type === 'video' || type === 'audio');
  }

  isOnline(id: string): boolean {
    const node = this.#presence.where(id);
    return node !== undefined && node !== this.#p.cluster.name;
  }

  notice(id: string): Reader | undefined {
    const node = this.#presence.where(id);
    if (node === undefined || node === this.#p.cluster.name) return undefined;
    const subject = this.#names.client(id);
    return { offer: () => 1, offerBatch: () => 1, submit: (init) => this.#out.request(subject, `client ${JSON.stringify(id)}`, init, true) };
  }

  arrive(c: Client): Promise<void> {
    const id = c.id;
    let p = this.#arriving.get(id);
    if (p) return p;
    // Subscribed before the record is stored: whoever sees the record finds the subject served.
    this.#subs.subscribe(id);
    // NATS down: the record goes when it is back; nobody is waited for.
    if (!this.#out.up) {
      void this.#presence.online(id);
      return Promise.resolve();
    }
    // Its memberships held by another node (one it left, drained, or that died) become this
    // node's before its record says it is here: the node it left may go once it sees the record.
    this.#adopted.add(id);
    // Answered once every live node has both: its presence record, and its memberships as this node's.
    p = bounded(
      this.#groups.adopt(id).then(async (groupsRev) => {
        const rev = await this.#presence.online(id);
        await Promise.all([rev === undefined ? undefined : this.#applied.everywhere('clients', rev), groupsRev === undefined ? undefined : this.#applied.everywhere('groups', groupsRev)]);
      }),
      2 * SYNC_MS,
    ).then(() => {});
    const mine = p;
    this.#arriving.set(id, mine);
    void mine.finally(() => {
      if (this.#arriving.get(id) === mine) this.#arriving.delete(id);
    });
    return mine;
  }

  settled(group: string, client: string): Promise<void> {
    return this.#groups.settled(group, client);
  }

  online(c: Client): void {
    const id = c.id;
    this.#subs.subscribe(id);
    void this.#presence.online(id);
    if (!this.#adopted.delete(id)) void this.#groups.adopt(id);
    this.#groups.refreshClient(id);
  }

  offline(c: Client): void {
    this.#presence.offline(c.id);
    this.#subs.unsubscribe(c.id);
    this.#groups.refreshClient(c.id);
  }

  onlineIds(): string[] {
    return this.#presence.onlineIds();
  }

  knownIds(): Iterable<string> {
    return this.#known.ids();
  }

  stats(): ClusterStats {
    return {
      node: this.#p.cluster.name,
      nodes: this.#presence.nodes(),
      connected: this.#out.up,
      published: this.#out.published,
      received: this.#received,
      failed: this.#out.failed,
      dropped: this.#out.dropped + this.#in.dropped,
      pendingPeak: this.#in.peak,
      bad: this.#bad + this.#presence.badRecords,
      maxMessage: this.#out.max,
      synced: this.#applied.waited,
      syncLate: this.#applied.late,
      catchUpAsked: this.#catchUp.asked,
      catchUpAnswered: this.#catchUp.answered,
      catchUpFrames: this.#catchUp.frames,
    };
  }

  movedAway(id: string, timeoutMs: number): Promise<boolean> {
    if (this.isOnline(id)) return Promise.resolve(true);
    return this.#moves.wait(id, timeoutMs);
  }

  elsewhere(): NodeAddress | undefined {
    return this.#moves.elsewhere(this.#presence.others());
  }

  listening(): void {
    this.#presence.beat();
  }

  /** Where clients reach this node (none while it drains). */
  #address(): NodeAddress | undefined {
    return this.#leaving ? undefined : advertisedAddress(this.#p.cluster.advertise, this.#p.ports(), this.#p.server.host);
  }

  leaving(): void {
    this.#lists.keep = true;
    // A draining node is no place to send clients to: its record stops naming its address.
    this.#leaving = true;
    this.#presence.beat();
  }

  /** Leaves within STOP_MS: with NATS away, the others notice this node's death instead. */
  async stop(): Promise<void> {
    const within = async (p: Promise<unknown>): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([p.catch(() => {}), new Promise((r) => (timer = setTimeout(r, STOP_MS)))]);
      clearTimeout(timer);
    };
    this.#groups.stop();
    this.#groupRoutes.stop();
    this.#catchUp.stop();
    this.#lists.stop();
    this.#listed.stop();
    this.#applied.stop();
    this.#in.stop();
    this.#users.stop();
    await within(this.#known.stop());
    await within(this.#out.up ? this.#presence.stop() : (this.#presence.stop(), Promise.resolve()));
    this.#subs.stop();
    if (this.#out.up) await within(this.#nc.drain());
    if (!this.#nc.isClosed()) await this.#nc.close().catch(() => {});
  }

  async #watchStatus(): Promise<void> {
    const log = this.#p.server.logger;
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect') {
        this.#out.up = false;
        this.#presence.paused = true;
        log.warn({ nats: s.server }, 'cluster: NATS connection lost; cross-node delivery fails until it is back');
        this.#p.onEvent({ type: 'natsLost', node: this.#p.cluster.name });
      } else if (s.type === 'reconnect') {
        // Back once NATS has this node's subscriptions again (a flush answers after them).
        await this.#nc.flush().catch(() => {});
        this.#out.up = true;
        this.#presence.paused = false;
        this.#users.reconnected();
        log.info({ nats: s.server }, 'cluster: NATS connection back');
        this.#p.onEvent({ type: 'natsBack', node: this.#p.cluster.name });
      }
    }
  }
}

/** Longest wait for the first NATS connection at start. */
const CONNECT_DEADLINE_MS = 8000;

/** What to do about a NATS connection that failed at start (docs/cluster.md, Options). */
function connectFix(err: unknown): string {
  if (err instanceof AuthorizationError) return "; NATS refused the credentials: give the cluster's user and pass (or token) that nats-server expects";
  const cause = (err as { cause?: { code?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') return '; start nats-server with JetStream there (nats-server -js), or give the address of one that runs';
  return '';
}
