/**
 * The MediaServer requests of a Sender (docs/behaviour.md, section 5): groups, contact lists
 * (default receivers, allowed senders) and media access. Each public method builds one RVS_
 * request's parameters and reads the server's reply; Sender inherits them and supplies how a
 * request is sent (bindServerRequests).
 */
import { EventEmitter } from 'node:events';
import { DeliveryError, ErrorCode } from '../errors.js';
import type { ParamValue, ReceivedCommand } from '../protocol/messages.js';
import { readList, SystemCommand } from '../protocol/system-commands.js';
import { checkId } from '../options.js';
import type { GroupInfo, SenderEvents } from './sender-options.js';

/** Sends one system request to the server; resolves with the server's reply, if any. */
export type ServerRequester = (name: string, params: Record<string, ParamValue>) => Promise<ReceivedCommand | undefined>;

const requesters = new WeakMap<MediaServerRequests, ServerRequester>();

/** Tells `client`'s request methods how to send a request (called once, by its constructor). */
export function bindServerRequests(client: MediaServerRequests, request: ServerRequester): void {
  requesters.set(client, request);
}

/** A MediaServer's NACK reason that leads with an error code (`CW_ERR_GROUP_PASSWORD: wrong password ...`). */
const CODED_REASON = /refused by the receiver: \d+ (CW_ERR_[A-Z_]+): (.*)$/s;

/**
 * Sends one request. A refusal whose reason carries the server's error code rejects with that
 * code (e.g. CW_ERR_GROUP_PASSWORD), not the generic CW_ERR_DELIVERY_REFUSED.
 */
async function send(client: MediaServerRequests, name: string, params: Record<string, ParamValue>): Promise<ReceivedCommand | undefined> {
  const request = requesters.get(client);
  if (!request) throw new Error('server requests are not bound to a sender');
  try {
    return await request(name, params);
  } catch (err) {
    if (!(err instanceof DeliveryError) || err.code !== ErrorCode.DELIVERY_REFUSED) throw err;
    const m = CODED_REASON.exec(err.message);
    if (m) throw new DeliveryError(m[1], `${name} refused by the server: ${m[2]}`, err.seq, { cause: err });
    throw err;
  }
}

function groupInfo(r: ReceivedCommand | undefined): GroupInfo {
  const p = r?.params ?? {};
  return { group: String(p.group ?? ''), owner: String(p.owner ?? ''), name: String(p.groupName ?? '') };
}

/** The MediaServer request methods of a Sender; its base class. */
export abstract class MediaServerRequests extends EventEmitter<SenderEvents> {
  /**
   * Joins a group on the server, creating it unless `onlyExisting` (the creator fixes name and
   * password). Rejects with a DeliveryError when refused, with the server's code:
   * CW_ERR_GROUP_PASSWORD, CW_ERR_GROUP_LIMIT, CW_ERR_GROUP_NOT_FOUND, CW_ERR_GROUP_INVALID.
   * Resolves with the group's owner and name.
   */
  async joinGroup(group: string, o: { permanent?: boolean; name?: string; password?: string; onlyExisting?: boolean } = {}): Promise<GroupInfo> {
    const r = await send(this, SystemCommand.JOIN_GROUP, {
      group: checkId('group', group),
      permanent: o.permanent ?? false,
      name: o.name ?? '',
      password: o.password ?? '',
      onlyExisting: o.onlyExisting ?? false,
    });
    return groupInfo(r);
  }

  /** Leaves a group. */
  async leaveGroup(group: string): Promise<void> {
    await send(this, SystemCommand.LEAVE_GROUP, { group });
  }

  /** Lists a group's members (all, or online only); the receiver also raises groupUsers. */
  async getGroupUsers(group: string, o: { online?: boolean } = {}): Promise<string[]> {
    return readList((await send(this, SystemCommand.GET_GROUP_USERS, { group, online: o.online ?? false }))?.params ?? {});
  }

  /** A group's owner and name; the receiver also raises groupInfo. */
  async getGroupInfo(group: string): Promise<GroupInfo> {
    return groupInfo(await send(this, SystemCommand.GET_GROUP_INFO, { group }));
  }

  /** Every group on the server; the receiver also raises allGroups. */
  async getAllGroups(): Promise<string[]> {
    return readList((await send(this, SystemCommand.GET_ALL_GROUPS, {}))?.params ?? {}, 'GUIDGroup');
  }

  /** Every client the server knows; the receiver also raises allUsers. */
  async getAllUsers(): Promise<string[]> {
    return readList((await send(this, SystemCommand.GET_USERS, { online: false }))?.params ?? {});
  }

  /** Every client online now; the receiver also raises allOnlineUsers. */
  async getAllOnlineUsers(): Promise<string[]> {
    return readList((await send(this, SystemCommand.GET_USERS, { online: true }))?.params ?? {});
  }

  /** Adds a client to this client's default receivers (where data without `to` or `group` goes). */
  async addDefaultReceiver(id: string): Promise<void> {
    await send(this, SystemCommand.DEFAULT_RECEIVERS, { op: 'add', id: checkId('id', id) });
  }

  async removeDefaultReceiver(id: string): Promise<void> {
    await send(this, SystemCommand.DEFAULT_RECEIVERS, { op: 'remove', id });
  }

  async clearDefaultReceivers(): Promise<void> {
    await send(this, SystemCommand.DEFAULT_RECEIVERS, { op: 'clear' });
  }

  /** Tells the default receivers this client is here (their userEnter); the server says goodbye if the connection breaks. */
  async helloToDefaultReceivers(): Promise<void> {
    await send(this, SystemCommand.DEFAULT_RECEIVERS, { op: 'hello' });
  }

  async goodbyeToDefaultReceivers(): Promise<void> {
    await send(this, SystemCommand.DEFAULT_RECEIVERS, { op: 'goodbye' });
  }

  /** Accept data only from listed clients (once the list has an entry). */
  async addAllowedSender(id: string): Promise<void> {
    await send(this, SystemCommand.ALLOWED_SENDERS, { op: 'add', id: checkId('id', id) });
  }

  async removeAllowedSender(id: string): Promise<void> {
    await send(this, SystemCommand.ALLOWED_SENDERS, { op: 'remove', id });
  }

  /** Empties the allowed-senders list: `allowAll` true accepts everyone again, false accepts no one. */
  async clearAllowedSenders(allowAll: boolean): Promise<void> {
    await send(this, SystemCommand.ALLOWED_SENDERS, { op: 'clear', allowAll });
  }

  async helloToAllowedSenders(): Promise<void> {
    await send(this, SystemCommand.ALLOWED_SENDERS, { op: 'hello' });
  }

  async goodbyeToAllowedSenders(): Promise<void> {
    await send(this, SystemCommand.ALLOWED_SENDERS, { op: 'goodbye' });
  }

  /** Asks client `id` (or every member of `group`) for access to its media: their receiver raises mediaAccessRequest. */
  async sendMediaAccessRequest(id: string, o: { group?: string; dataType?: number } = {}): Promise<void> {
    await send(this, SystemCommand.MEDIA_ACCESS, { op: 'request', id, group: o.group ?? '', dataType: o.dataType ?? 0 });
  }

  async sendMediaAccessCancelRequest(id: string, o: { group?: string; dataType?: number } = {}): Promise<void> {
    await send(this, SystemCommand.MEDIA_ACCESS, { op: 'cancelRequest', id, group: o.group ?? '', dataType: o.dataType ?? 0 });
  }

  /** Grants a requester access: adds it to this client's default receivers. */
  async allowMediaAccess(id: string): Promise<void> {
    await send(this, SystemCommand.MEDIA_ACCESS, { op: 'allow', id: checkId('id', id) });
  }

  /** Withdraws access: removes the client from this client's default receivers. */
  async cancelMediaAccess(id: string): Promise<void> {
    await send(this, SystemCommand.MEDIA_ACCESS, { op: 'cancel', id });
  }
}
