/**
 * A Receiver's options, checked and resolved once (docs/api.md, class Receiver): the senders it
 * pulls from, the media types it takes, and its limits. Throws a ConfigError naming the option.
 */
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
