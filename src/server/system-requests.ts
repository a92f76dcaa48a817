/**
 * SystemRequests: the server's answers to RVS_ requests (groups, contact lists, media access,
 * directory) and the RV_ notifications it sends (docs/protocol.md, section 9; docs/behaviour.md,
 * section 5). State changes go through the Directory and the GroupRegistry.
 */
import { CamwireError, ErrorCode } from '../errors.js';
import type { CommandMessage } from '../events.js';
import { Kind, MediaType } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import { encodeCommand, type Command, type ParamValue } from '../protocol/messages.js';
import { Notice, SystemCommand, listParams } from '../protocol/system-commands.js';
import type { Logger } from '../options.js';
import type { Client } from './client.js';
import type { Directory, ListName } from './directory.js';
import { GroupError, type GroupRegistry } from './groups.js';

export interface SystemRequestsOptions {
  directory: Directory;
  groups: GroupRegistry;
  /** The `from` of notifications. */
  serverId: string;
  logger: Logger;
  /** Resolves once the store has every change made so far. */
  durable: () => Promise<void>;
}

/** Where notifications for clients online on other nodes go (a cluster): a reader that sends to the client's node. */
export interface RemoteNotices {
  notice(to: string): { submit(init: FrameInit): Promise<unknown> } | undefined;
  /** Whether `id`'s receiver is online on another node. */
  isOnline(id: string): boolean;
  /** Ids online anywhere in the cluster. */
  onlineIds(): string[];
  /** Ids known anywhere in the cluster. */
  knownIds(): Iterable<string>;
  /** Resolves once every node applied this node's last change of `client`'s membership of `group` (bounded). */
  settled(group: string, client: string): Promise<void>;
}

export class SystemRequests {
  /** Set while the server is in a cluster. */
  remote: RemoteNotices | undefined;
  readonly #dir: Directory;
  readonly #groups: GroupRegistry;
  readonly #serverId: string;
  readonly #log: Logger;
  readonly #durable: () => Promise<void>;

  constructor(o: SystemRequestsOptions) {
    this.#durable = o.durable;
    this.#dir = o.directory;
    this.#groups = o.groups;
    this.#serverId = o.serverId;
    this.#log = o.logger;
  }

  /**
   * Handles an RVS_ request after the client's earlier ones. Resolves with the reply (also sent
   * as a notification where RVMedia does) once what it changed is in the store; rejects with a
   * CamwireError, after telling the client in an RV_ERROR notification.
   */
  handle(c: Client, cmd: CommandMessage): Promise<Command | undefined> {
    const done = c.requests.then(async () => {
      const reply = await this.#handle(c, cmd);
      await this.#durable();
      return reply;
    });
    c.requests = done.catch(() => {});
    return done.catch((err: CamwireError) => {
      const code = err.code ?? ErrorCode.SERVER_REFUSED;
      this.notify(c.id, Notice.ERROR, { code, message: err.message, request: cmd.name });
      // The NACK's reason is this error's message: it leads with the code, so the requesting
      // Sender rejects with the specific code (docs/protocol.md, "MediaServer requests").
      throw new CamwireError(code, `${code}: ${err.message}`, { cause: err });
    });
  }

  /** Sends a notification (an RV_ command) to a client's receiver. Returns false if it has no command channel. */
  notify(to: string, name: string, params: Record<string, ParamValue>): boolean {
    const ch = this.#dir.get(to)?.channels.get('command') ?? this.remote?.notice(to);
    if (!ch) return false;
    ch.submit(this.frame(encodeCommand({ name, params }), to)).catch((err: Error) => this.#log.debug({ to, name, err: err.message }, 'notification not delivered'));
    return true;
  }

  /** A command frame from the server. */
  frame(payload: Buffer, to: string, mediaIndex = 0): FrameInit {
    return { kind: Kind.DATA, mediaType: MediaType.command, mediaIndex, timestamp: Date.now(), from: this.#serverId, to, payload };
  }

  /** A client's receiver went offline: the server says the goodbyes it owes. */
  goodbye(c: Client): void {
    for (const which of ['default', 'allowed'] as const) {
      if (!this.#dir.saidHello(c.id, which)) continue;
      for (const id of this.#list(c.id, which)) this.notify(id, Notice.USER_EXIT, { user: c.id });
      this.#dir.setHello(c.id, which, false);
    }
  }

  /**
   * The client leaves every group it is a temporary member of; the members are told (in a cluster,
   * once every node applied the leave: docs/cluster.md, What is consistent).
   */
  leaveGroups(c: Client): void {
    for (const g of this.#groups.disconnect(c.id)) {
      const tell = (): void => {
        for (const m of g.members.keys()) this.notify(m, Notice.USER_LEAVES_GROUP, { group: g.id, user: c.id });
      };
      const remote = this.remote;
      if (remote) void remote.settled(g.id, c.id).then(tell);
      else tell();
    }
  }

  async #handle(c: Client, cmd: CommandMessage): Promise<Command | undefined> {
    const p = cmd.params;
    const str = (k: string): string => (typeof p[k] === 'string' ? (p[k] as string) : '');
    const id = str('id');
    const reply = (name: string, params: Record<string, ParamValue>): Command => {
      this.notify(c.id, name, params);
      return { name, params };
    };
    const group = (gid: string) => {
      const g = this.#groups.get(gid);
      if (!g) throw new GroupError(ErrorCode.GROUP_NOT_FOUND, `group ${JSON.stringify(gid)} does not exist`);
      return g;
    };
    switch (cmd.name) {
      case SystemCommand.JOIN_GROUP: {
        const gid = str('group');
        const { group: g, added } = await this.#groups.join(c.id, gid, { permanent: p.permanent === true, name: str('name'), password: str('password'), onlyExisting: p.onlyExisting === true });
        // In a cluster: answered (and the members told) once every node routes to the new member.
        if (added) await this.remote?.settled(gid, c.id);
        if (added) for (const m of g.members.keys()) if (m !== c.id) this.notify(m, Notice.USER_JOINS_GROUP, { group: gid, user: c.id });
        return reply(Notice.GROUP_INFO, { group: gid, owner: g.owner, groupName: g.name });
      }
      case SystemCommand.LEAVE_GROUP: {
        const gid = str('group');
        const g = this.#groups.leave(c.id, gid);
        await this.remote?.settled(gid, c.id);
        if (g) for (const m of g.members.keys()) this.notify(m, Notice.USER_LEAVES_GROUP, { group: gid, user: c.id });
        return undefined;
      }
      case SystemCommand.GET_GROUP_USERS: {
        const gid = str('group');
        const online = p.online === true;
        const users = [...group(gid).members.keys()].filter((m) => !online || this.#dir.get(m)?.online || this.remote?.isOnline(m));
        return reply(Notice.GROUP_USERS, { group: gid, online, ...listParams(users) });
      }
      case SystemCommand.GET_GROUP_INFO: {
        const g = group(str('group'));
        return reply(Notice.GROUP_INFO, { group: g.id, owner: g.owner, groupName: g.name });
      }
      case SystemCommand.GET_ALL_GROUPS:
        return reply(Notice.ALL_GROUPS, listParams(this.#groups.all().map((g) => g.id), 'GUIDGroup'));
      case SystemCommand.GET_USERS: {
        const online = p.online === true;
        const users = online ? this.#dir.onlineIds() : [...this.#dir.all()].map((x) => x.id);
        // In a cluster: with the clients online on other nodes, and (all users) those other nodes have seen.
        if (this.remote) {
          const have = new Set(users);
          for (const id of this.remote.onlineIds()) if (!have.has(id)) users.push(id), have.add(id);
          if (!online) for (const id of this.remote.knownIds()) if (!have.has(id)) users.push(id), have.add(id);
        }
        return reply(online ? Notice.ALL_ONLINE_USERS : Notice.ALL_USERS, listParams(users));
      }
      case SystemCommand.DEFAULT_RECEIVERS:
        this.#listOp(c, 'default', str('op'), id, p);
        return undefined;
      case SystemCommand.ALLOWED_SENDERS:
        this.#listOp(c, 'allowed', str('op'), id, p);
        return undefined;
      case SystemCommand.MEDIA_ACCESS:
        this.#mediaAccess(c, str('op'), id, str('group'), typeof p.dataType === 'number' ? p.dataType : 0);
        return undefined;
      default:
        throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `unknown system command ${cmd.name}`);
    }
  }

  #mediaAccess(c: Client, op: string, id: string, group: string, dataType: number): void {
    if (op === 'request' || op === 'cancelRequest') {
      const targets = id ? [id] : this.#groups.get(group)?.members.keys() ?? [];
      let n = 0;
      for (const t of targets) {
        if (t === c.id) continue;
        if (this.notify(t, op === 'request' ? Notice.MEDIA_ACCESS_REQUEST : Notice.MEDIA_ACCESS_CANCEL_REQUEST, { user: c.id, group, dataType })) n++;
      }
      if (n === 0) throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `no online client to ask (${id || group})`);
      return;
    }
    // The asked client's application agreed (or withdrew): the asker is one of its default receivers.
    if (op === 'allow') this.#dir.add(c.id, 'default', id);
    else if (op === 'cancel') this.#dir.remove(c.id, 'default', id);
    else throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `unknown media access operation ${op}`);
  }

  /** Contact-list operations on a client's default receivers or allowed senders. */
  #listOp(c: Client, which: ListName, op: string, id: string, p: Record<string, ParamValue>): void {
    switch (op) {
      case 'add':
        if (!id) throw new CamwireError(ErrorCode.DELIVERY_REFUSED, 'a client id is required');
        this.#dir.add(c.id, which, id);
        return;
      case 'remove':
        this.#dir.remove(c.id, which, id);
        return;
      case 'clear':
        this.#dir.clear(c.id, which, p.allowAll !== false);
        return;
      case 'hello':
      case 'goodbye':
        for (const to of this.#list(c.id, which)) this.notify(to, op === 'hello' ? Notice.USER_ENTER : Notice.USER_EXIT, { user: c.id });
        this.#dir.setHello(c.id, which, op === 'hello');
        return;
      default:
        throw new CamwireError(ErrorCode.DELIVERY_REFUSED, `unknown list operation ${op}`);
    }
  }

  #list(id: string, which: ListName): Iterable<string> {
    return which === 'default' ? this.#dir.defaultReceivers(id) : this.#dir.allowedSenders(id) ?? [];
  }
}
