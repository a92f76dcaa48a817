/**
 * A Receiver's options, checked and resolved once (docs/api.md, class Receiver): the senders it
 * pulls from, the media types it takes, and its limits. Throws a ConfigError naming the option.
 */
import net from 'node:net';
import { CloseCode } from '../errors.js';
import { MEDIA_TYPES, type MediaTypeName } from '../protocol/constants.js';
import { checkId, invalid, type ResolvedCommon } from '../options.js';
import { DEFAULT_MAX_FILE_SIZE, DEFAULT_MIN_FREE_DISK, type ReceiverOptions, type SenderEntry } from './receiver-options.js';

export interface ReceiverConfig {
  /** Pull mode: the senders (or the server) to dial. */
  senders: SenderEntry[];
  types: MediaTypeName[];
  typeSet: ReadonlySet<MediaTypeName>;
  showSystem: boolean;
  fileDir: string | undefined;
  maxFileSize: number;
  minFreeDisk: number;
  maxLinks: number;
  reassembly: { reassemblyTimeoutMs?: number; reassemblyBytes?: number };
}

function int(name: string, v: number | undefined, def: number | undefined, min: number): number | undefined {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < min) throw invalid(name, `must be an integer >= ${min}`);
  return v;
}

export function resolveReceiverConfig(options: ReceiverOptions, o: ResolvedCommon): ReceiverConfig {
  const types = [...(options.receiveMediaTypes ?? MEDIA_TYPES)];
  if (types.length === 0) throw invalid('receiveMediaTypes', 'must name at least one media type');
  for (const t of types) if (!MEDIA_TYPES.includes(t)) throw invalid('receiveMediaTypes', `unknown media type ${String(t)}`);
  const dialled = options.server !== undefined && o.connection === 'receiver-to-sender' && !options.senders?.length;
  const senders = (dialled ? [{ host: o.host, port: o.port }] : (options.senders ?? [])).map((s, i) => {
    const e: SenderEntry = { ...s, clientId: checkId(`senders[${i}].clientId`, s.clientId) };
    if (o.connection === 'receiver-to-sender') {
      if (!e.host || !e.port) throw invalid(`senders[${i}]`, 'needs host and port in receiver-to-sender (pull) mode');
    }
    return e;
  });
  if (o.connection === 'receiver-to-sender' && senders.length === 0) {
    throw invalid('senders', 'pull mode (receiver-to-sender) needs at least one sender to connect to');
  }
  const maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  if (maxFileSize !== Infinity && (!Number.isInteger(maxFileSize) || maxFileSize < 1)) {
    throw invalid('maxFileSize', `must be a whole number of bytes >= 1, or Infinity for no limit; got ${String(maxFileSize)}`);
  }
  return {
    senders,
    types,
    typeSet: new Set(types),
    showSystem: options.showSystemCommands ?? false,
    fileDir: options.fileDir,
    maxFileSize,
    minFreeDisk: int('minFreeDiskBytes', options.minFreeDiskBytes, DEFAULT_MIN_FREE_DISK, 0)!,
    maxLinks: int('maxLinks', options.maxLinks, 1024, 1)!,
    reassembly: {
      reassemblyTimeoutMs: int('reassemblyTimeoutMs', options.reassemblyTimeoutMs, undefined, 1),
      reassemblyBytes: int('reassemblyBytes', options.reassemblyBytes, undefined, 64 * 1024),
    },
  };
}

/** A push HELLO as the push-mode Receiver judges it. */
export interface PushAttempt {
  from: string;
  to: string;
  type: MediaTypeName;
  role: 'push' | 'pull';
  address: string;
  port: number;
}

/**
 * Why a push-mode Receiver (`clientId`, started or not) refuses a sender's link, with the close
 * code, or undefined when it takes it: the role, the media types it takes, the addressee, and
 * the `senders` filter (an empty list accepts everyone).
 */
export function pushRefusal(c: ReceiverConfig, clientId: string, p: PushAttempt, started: boolean): { reason: string; code: number } | undefined {
  const no = (reason: string, code: number = CloseCode.NOT_ALLOWED): { reason: string; code: number } => ({ reason, code });
  if (p.role !== 'push') return no('this receiver takes pushes (sender-to-receiver); it serves no pull channels', CloseCode.REFUSED);
  if (!c.typeSet.has(p.type)) return no(`this receiver does not take ${p.type}`);
  if (clientId && p.to && p.to !== clientId) return no(`this receiver is ${JSON.stringify(clientId)}, not ${JSON.stringify(p.to)}`);
  if (!allowed(c, p)) return no(`sender ${JSON.stringify(p.from)} at ${p.address} is not in this receiver's senders list`);
  if (!started) return no('receiver is stopping', CloseCode.GOING_AWAY);
  return undefined;
}

function allowed(c: ReceiverConfig, p: PushAttempt): boolean {
  if (c.senders.length === 0) return true;
  return c.senders.some(
    (s) =>
      (!s.host || sameHost(s.host, p.address)) &&
      (!s.port || s.port === p.port) &&
      (!s.clientId || s.clientId === p.from) &&
      (!s.mediaTypes || s.mediaTypes.includes(p.type)),
  );
}

/** Compares addresses, treating IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4. */
function sameHost(a: string, b: string): boolean {
  const norm = (x: string): string => (x.startsWith('::ffff:') && net.isIPv4(x.slice(7)) ? x.slice(7) : x);
  return norm(a) === norm(b) || (a === 'localhost' && (norm(b) === '127.0.0.1' || b === '::1'));
}
