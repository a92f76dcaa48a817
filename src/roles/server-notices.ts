/**
 * MediaServer notifications for a Receiver (docs/behaviour.md, section 5): maps each RV_ command
 * to the Receiver event that carries it.
 */
import type { EventEmitter } from 'node:events';
import { CamwireError, ErrorCode } from '../errors.js';
import type { CommandMessage, MessageMeta } from '../events.js';
import { Notice, readList } from '../protocol/system-commands.js';
import type { ReceiverEvents } from './receiver-options.js';

/** Turns a server notification (an RV_ command) into its event on `r`. */
export function emitNotice(r: EventEmitter<ReceiverEvents>, c: CommandMessage, m: MessageMeta): void {
  const p = c.params;
  const str = (k: string): string => (typeof p[k] === 'string' ? (p[k] as string) : '');
  switch (c.name) {
    case Notice.USER_JOINS_GROUP:
      r.emit('userJoinsGroup', str('group'), str('user'), m);
      return;
    case Notice.USER_LEAVES_GROUP:
      r.emit('userLeavesGroup', str('group'), str('user'), m);
      return;
    case Notice.GROUP_USERS:
      r.emit('groupUsers', str('group'), readList(p), m);
      return;
    case Notice.GROUP_INFO:
      r.emit('groupInfo', { group: str('group'), owner: str('owner'), name: str('groupName') }, m);
      return;
    case Notice.ALL_GROUPS:
      r.emit('allGroups', readList(p, 'GUIDGroup'), m);
      return;
    case Notice.ALL_USERS:
      r.emit('allUsers', readList(p), m);
      return;
    case Notice.ALL_ONLINE_USERS:
      r.emit('allOnlineUsers', readList(p), m);
      return;
    case Notice.USER_ENTER:
      r.emit('userEnter', str('user'), m);
      return;
    case Notice.USER_EXIT:
      r.emit('userExit', str('user'), m);
      return;
    case Notice.MEDIA_ACCESS_REQUEST:
    case Notice.MEDIA_ACCESS_CANCEL_REQUEST: {
      const req = { user: str('user'), group: str('group'), dataType: typeof p.dataType === 'number' ? p.dataType : 0 };
      r.emit(c.name === Notice.MEDIA_ACCESS_REQUEST ? 'mediaAccessRequest' : 'mediaAccessCancelRequest', req, m);
      return;
    }
    case Notice.ERROR:
      r.emit('serverError', new CamwireError(str('code') || ErrorCode.SERVER_REFUSED, `${str('request')}: ${str('message')}`), m);
      return;
  }
}
