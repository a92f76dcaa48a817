/**
 * System commands between clients and a MediaServer (docs/protocol.md, section 9): requests are
 * commands named RVS_..., sent by the client's Sender; notifications are commands named RV_...,
 * delivered on the client's receiver command channel and turned into Receiver events.
 */
import type { ParamValue } from './messages.js';

/** Largest encoded server command (RVSU_...), headers included (docs/behaviour.md, section 1). */
export const MAX_SERVER_COMMAND = 8912;

/** Reserved command name prefixes: clients may not send these (docs/behaviour.md, section 1). */
export function isSystemCommand(name: string): boolean {
  return name.startsWith('RV_') || name.startsWith('RVS_');
}

/** Requests a client sends (RVS_ prefix: reserved, applications cannot send them). */
export const SystemCommand = {
  JOIN_GROUP: 'RVS_JOIN_GROUP',
  LEAVE_GROUP: 'RVS_LEAVE_GROUP',
  GET_GROUP_USERS: 'RVS_GET_GROUP_USERS',
  GET_GROUP_INFO: 'RVS_GET_GROUP_INFO',
  GET_ALL_GROUPS: 'RVS_GET_ALL_GROUPS',
  GET_USERS: 'RVS_GET_USERS',
  DEFAULT_RECEIVERS: 'RVS_DEFAULT_RECEIVERS',
  ALLOWED_SENDERS: 'RVS_ALLOWED_SENDERS',
  MEDIA_ACCESS: 'RVS_MEDIA_ACCESS',
} as const;

/** Notifications the server sends (RV_ prefix). */
export const Notice = {
  USER_JOINS_GROUP: 'RV_USER_JOINS_GROUP',
  USER_LEAVES_GROUP: 'RV_USER_LEAVES_GROUP',
  GROUP_USERS: 'RV_GROUP_USERS',
  GROUP_INFO: 'RV_GROUP_INFO',
  ALL_GROUPS: 'RV_ALL_GROUPS',
  ALL_USERS: 'RV_ALL_USERS',
  ALL_ONLINE_USERS: 'RV_ALL_ONLINE_USERS',
  USER_ENTER: 'RV_USER_ENTER',
  USER_EXIT: 'RV_USER_EXIT',
  MEDIA_ACCESS_REQUEST: 'RV_MEDIA_ACCESS_REQUEST',
  MEDIA_ACCESS_CANCEL_REQUEST: 'RV_MEDIA_ACCESS_CANCEL_REQUEST',
  ERROR: 'RV_ERROR',
} as const;

/** A list as RVMedia sends it: `GUIDCount` plus `GUIDUser1`..`GUIDUserN`. */
export function listParams(items: string[], prefix = 'GUIDUser'): Record<string, ParamValue> {
  const p: Record<string, ParamValue> = { GUIDCount: items.length };
  items.forEach((v, i) => (p[`${prefix}${i + 1}`] = v));
  return p;
}

/** Reads a list made by listParams. */
export function readList(params: Record<string, ParamValue>, prefix = 'GUIDUser'): string[] {
  const n = typeof params.GUIDCount === 'number' ? Math.min(params.GUIDCount, 1_000_000) : 0;
  const out: string[] = [];
  for (let i = 1; i <= n; i++) {
    const v = params[`${prefix}${i}`];
    if (typeof v === 'string') out.push(v);
  }
  return out;
}
