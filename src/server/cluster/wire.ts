/**
 * What nodes of a cluster say to each other over NATS (docs/cluster.md): subject names, the KV
 * bucket names, client ids as subject tokens and KV keys, the presence records, and the answer
 * to a reliable item. Pure functions; the frames themselves are camwire frames (docs/protocol.md),
 * one or more end to end in a NATS message.
 */
import { CamwireError, ErrorCode } from '../../errors.js';
import { FIXED_HEADER_SIZE } from '../../protocol/constants.js';
import { checkFixedHeader, readFrame, type Frame } from '../../protocol/frame.js';

/** A subject token or KV key for any client id or group id: base64url of its UTF-8 bytes ('_' for ''). */
export function token(id: string): string {
  return id ? Buffer.from(id, 'utf8').toString('base64url') : '_';
}

/** The id a token() stands for; undefined for a token that is not one. */
export function untoken(t: string): string | undefined {
  if (t === '_') return '';
  if (!/^[A-Za-z0-9_-]+$/.test(t)) return undefined;
  return Buffer.from(t, 'base64url').toString('utf8');
}

/** The subjects and buckets of one cluster, under its prefix. */
export class Names {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Frames for the client `id`: subscribed by the node where its receiver is online. */
  client(id: string): string {
    return `${this.prefix}.c.${token(id)}`;
  }

  /** Video and audio for the members of group `id`: subscribed by each node with an online member. */
  group(id: string): string {
    return `${this.prefix}.g.${token(id)}`;
  }

  /** Reliable items for the members of a group on node `node` (requests; one per node). */
  node(node: string): string {
    return `${this.prefix}.n.${node}`;
  }

  /** A node's answers to catch-up requests: the cached groups of pictures of its senders to a group (catch-up.ts). */
  catchUp(node: string): string {
    return `${this.prefix}.n.${node}.k`;
  }

  /** Video and audio for addressees on most nodes, listed in the header (every node subscribes). */
  shared(): string {
    return `${this.prefix}.l.m`;
  }

  /** Bucket names allow [A-Za-z0-9_-]: the prefix with anything else as '_'. */
  bucket(which: 'nodes' | 'clients' | 'groups' | 'lists' | 'known' | 'users'): string {
    return `${this.prefix.replace(/[^A-Za-z0-9_-]/g, '_')}_${which}`;
  }
}

/** A node's heartbeat record (bucket `<prefix>_nodes`, key = node name). */
export interface NodeRecord {
  node: string;
  /** ms since the epoch. */
  started: number;
  /** How many of its clients are online. */
  online: number;
  /** Where clients reach it (ports 0: not served); absent until its listeners are bound. */
  address?: NodeAddress;
  /** It drains: its clients are moving to other nodes, with their memberships. */
  draining?: boolean;
}

/** A node's address for clients, by transport (0: that transport is off). */
export interface NodeAddress {
  host: string;
  tcp: number;
  http: number;
  udp: number;
}

/** A node address from a record, or undefined when it is not one. */
export function nodeAddress(v: unknown): NodeAddress | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const a = v as NodeAddress;
  const port = (p: unknown): boolean => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 65535;
  if (typeof a.host !== 'string' || !/^[A-Za-z0-9_.:-]{1,253}$/.test(a.host) || !port(a.tcp) || !port(a.http) || !port(a.udp)) return undefined;
  return { host: a.host, tcp: a.tcp, http: a.http, udp: a.udp };
}

/** A member of a group (bucket `<prefix>_groups`, key m.token(group).token(client)), written by the node it joined through. */
export interface MemberRecord {
  node: string;
  permanent: boolean;
}

/** Where a client's receiver is online (bucket `<prefix>_clients`, key = token(id)). */
export interface PresenceRecord {
  node: string;
  /** ms since the epoch. */
  since: number;
}

/** Largest record accepted from the buckets. */
const MAX_RECORD = 4096;

/** Parses a presence or node record; undefined for one that is not (counted by the caller). */
export function parseRecord<T extends { node: string }>(b: Uint8Array): T | undefined {
  if (b.length === 0 || b.length > MAX_RECORD) return undefined;
  try {
    const v = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || typeof (v as T).node !== 'string' || !(v as T).node) return undefined;
    return v as T;
  } catch {
    return undefined;
  }
}

export function encodeRecord(r: object): Uint8Array {
  return Buffer.from(JSON.stringify(r), 'utf8');
}

/** The answer a receiving node sends to a reliable item: acknowledged (with a file START's resume offset) or refused. */
export type Answer = { ok: true; resume?: number } | { ok: false; close: number; code: string; message: string };

const MAX_ANSWER = 4096;

export function encodeAnswer(a: Answer): Uint8Array {
  return Buffer.from(JSON.stringify(a), 'utf8');
}

/** Decodes an answer; a malformed one is a refusal naming the fault. */
export function decodeAnswer(b: Uint8Array): Answer {
  const bad = (why: string): Answer => ({ ok: false, close: 1200, code: ErrorCode.DELIVERY_REFUSED, message: `cluster: bad answer from the receiving node (${why})` });
  if (b.length === 0 || b.length > MAX_ANSWER) return bad(`${b.length} bytes`);
  try {
    const v = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8')) as Answer;
    if (v.ok === true) return typeof v.resume === 'number' ? { ok: true, resume: v.resume } : { ok: true };
    if (v.ok === false && typeof v.close === 'number' && typeof v.code === 'string' && typeof v.message === 'string') return v;
    return bad('unknown shape');
  } catch {
    return bad('not JSON');
  }
}

/**
 * Splits a NATS message into the camwire frames it carries, end to end. Throws a ProtocolError
 * for bytes that are not whole frames within `maxPayload` (the caller drops the message and counts it).
 * Each frame's `raw` is its bytes (a view of the message).
 */
export function splitFrames(msg: Uint8Array, maxPayload: number): Frame[] {
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.length);
  const out: Frame[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < FIXED_HEADER_SIZE) throw new CamwireError(ErrorCode.PROTOCOL_BAD_HEADER, `truncated frame in a cluster message: ${buf.length - off} bytes`);
    const { idsLength, payloadLength } = checkFixedHeader(buf, off, maxPayload);
    const end = off + FIXED_HEADER_SIZE + idsLength + payloadLength;
    if (end > buf.length) throw new CamwireError(ErrorCode.PROTOCOL_BAD_HEADER, 'truncated frame in a cluster message');
    const f = readFrame(buf, off, buf.subarray(off + FIXED_HEADER_SIZE + idsLength, end));
    f.raw = buf.subarray(off, end);
    out.push(f);
    off = end;
  }
  return out;
}
