/**
 * The MediaServer's options: their types, their defaults, and the one validate() that the
 * server and the CLI both use (docs/api.md, MediaServer options).
 */
import type http from 'node:http';
import { MEDIA_TYPES, type MediaTypeName } from '../protocol/constants.js';
import type { HttpLimits } from '../transport/http-server.js';
import type { TlsOptions } from '../transport/tcp.js';
import type { ConnectionLimits } from '../transport/connection-limits.js';
import { connectionLimits, DEFAULT_TIMEOUTS, invalid, resolveHttpLimits, silentLogger, type Logger } from '../options.js';
import { SpoolBudget } from '../media/spool.js';
import type { AuthOptions } from './auth.js';
import type { RecordOptions } from './recording.js';
import type { ServerStore } from './store/store.js';
import { clusterConfig, type ClusterConfig, type ClusterOptions } from './cluster/options.js';

/** Per-client, per-type buffer sizes in bytes (docs/behaviour.md, section 5). */
export interface BufferOptions {
  /** @default 819200 */
  video?: number;
  /** @default 1638400 */
  audio?: number;
  /** @default 819200 */
  command?: number;
  /** @default 8192000 */
  data?: number;
  /** @default 10485760 */
  file?: number;
}

/** Disk for file data queued toward slow readers (docs/limits.md, Files). */
export interface SpoolLimits {
  /** Most bytes of queued file data one reader's spool file holds; beyond it file data for that reader is refused (NACK 1205). 0 = nothing spooled. @default 16777216 (16 MiB) */
  maxBytesPerReader?: number;
  /** Most bytes all spool files of the server hold together; beyond it file data is refused (NACK 1205). 0 = nothing spooled. @default 1073741824 (1 GiB) */
  maxBytes?: number;
}

/** Options of a MediaServer (docs/api.md). */
export interface MediaServerOptions {
  /** Address to bind. @default '::' */
  host?: string;
  /** TCP port; false switches it off. @default 0 (any free port) */
  tcpPort?: number | false;
  /** HTTP port (camwire links, /stats, /metrics); false switches it off. @default 0 */
  httpPort?: number | false;
  /** UDP port for pushing senders; false switches it off. @default 0 */
  udpPort?: number | false;
  /** TLS for the TCP and HTTP ports. */
  tls?: TlsOptions;
  /**
   * Time limits of every request on the HTTP port (docs/limits.md); ingest uploads are exempt from
   * `requestTimeoutMs` only. @default { headersTimeoutMs: 10000, bodyIdleTimeoutMs: 10000, requestTimeoutMs: 30000, keepAliveTimeoutMs: 5000 }
   */
  http?: Partial<HttpLimits>;
  /**
   * Connections per remote address and in their handshake, on each of the TCP and HTTP ports
   * (docs/limits.md, Connections); a connection beyond them is refused at once and counted in
   * `camwire_connections_refused_total`. 0 = no limit. @default { maxConnectionsPerIp: 256, maxPendingPerIp: 32, maxPending: 1024 }
   */
  limits?: Partial<ConnectionLimits>;
  /** Most groups at once. @default 1000 */
  maxGroups?: number;
  /** Most clients known at once (online or remembered). @default 10000 */
  maxClients?: number;
  /** Keep a client's contact lists after it disconnects (and across restarts, with a durable store). @default false */
  keepClientInfo?: boolean;
  /**
   * Where the server keeps what survives a restart: known clients, groups, permanent members,
   * kept contact lists, users added at run time. @default a new MemoryStore (nothing survives the process)
   */
  store?: ServerStore;
  /** Per-client, per-type buffers. */
  buffers?: BufferOptions;
  /**
   * Per compressed video source, the frames since its last keyframe, so a reader that joins
   * decodes a picture at once (docs/behaviour.md, section 5); false: none (a reader waits for the
   * next keyframe). @default { maxFrames: 300, maxBytes: buffers.video }
   */
  gopCache?: { maxFrames?: number; maxBytes?: number } | false;
  /** Per-type timeouts in ms (acknowledgements, stalled readers). @default as docs/behaviour.md, section 1 */
  timeouts?: Partial<Record<MediaTypeName, number>>;
  /** Require credentials: users, and/or a verify hook. @default none: anyone may connect */
  auth?: AuthOptions;
  /** Largest frame payload. @default 8 MiB */
  maxPayload?: number;
  /** @default 5000 */
  keepaliveMs?: number;
  /** @default 15000 */
  deadMs?: number;
  /** A connection must send its HELLO within this. @default 10000 */
  handshakeTimeoutMs?: number;
  /** The `from` id of notifications the server sends. @default 'server' */
  serverId?: string;
  /** Folder for spooled file data (queued file chunks beyond 256 KiB per reader go to disk). @default os.tmpdir() */
  spoolDir?: string;
  /** Bounds of the spool files in `spoolDir`. @default { maxBytesPerReader: 16 MiB, maxBytes: 1 GiB } */
  spool?: SpoolLimits;
  /**
   * Extra HTTP routes on the HTTP port (a web viewer, say): return true when the request was
   * handled. Runs before /stats and /metrics.
   */
  httpHandler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** What /metrics adds to its aggregate series (docs/api.md, Metrics). */
  metrics?: MetricsOptions;
  /** Join a cluster of MediaServers over NATS (docs/cluster.md). @default none: a single server */
  cluster?: ClusterOptions;
  /** Record every source to a folder, in segments, with retention limits (docs/api.md, Recording). @default off */
  record?: RecordOptions;
  logger?: Logger;
}

/** Optional series of /metrics. */
export interface MetricsOptions {
  /** Series per client (`client` label: one series per client and type; mind the cardinality). @default false */
  perClient?: boolean;
  /** `camwire_video_latency_seconds`: sender clock to arrival, per pushed video frame (decodes each frame's header). @default false */
  latency?: boolean;
  /** prom-client's process metrics (CPU, memory, event loop lag, handles, GC). @default true */
  process?: boolean;
}

/** The options after validate(): every default filled in. */
export interface ServerConfig {
  host: string;
  ports: Record<'tcp' | 'http' | 'udp', number | false>;
  tls: TlsOptions | undefined;
  http: HttpLimits;
  limits: ConnectionLimits;
  keepClientInfo: boolean;
  maxClients: number;
  maxGroups: number;
  buffers: Required<BufferOptions>;
  timeouts: Record<MediaTypeName, number>;
  maxPayload: number;
  keepaliveMs: number;
  deadMs: number;
  handshakeMs: number;
  serverId: string;
  spoolDir: string | undefined;
  /** The spool bounds, and the budget all readers' spools of this server share. */
  spool: { maxBytesPerReader: number; maxBytes: number; budget: SpoolBudget };
  httpHandler: MediaServerOptions['httpHandler'];
  metrics: Required<MetricsOptions>;
  cluster: ClusterConfig | undefined;
  gopCache: { maxFrames: number; maxBytes: number } | false;
  record: RecordOptions | undefined;
  logger: Logger;
}

export const DEFAULT_SPOOL: Readonly<Required<SpoolLimits>> = { maxBytesPerReader: 16 * 1024 * 1024, maxBytes: 1024 * 1024 * 1024 };

export const DEFAULT_BUFFERS: Readonly<Required<BufferOptions>> = { video: 819_200, audio: 1_638_400, command: 819_200, data: 8_192_000, file: 10_485_760 };

/** Checks MediaServer options and fills in defaults. Throws a ConfigError naming the first bad option. */
export function validate(o: MediaServerOptions): ServerConfig {
  const port = (name: string, v: number | false | undefined): number | false => {
    if (v === false) return false;
    if (v === undefined) return 0;
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw invalid(name, 'must be a port number (0 to 65535) or false');
    return v;
  };
  const int = (name: string, v: number | undefined, def: number, min: number): number => {
    if (v === undefined) return def;
    if (!Number.isInteger(v) || v < min) throw invalid(name, `must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const perType = <T>(name: string, given: object | undefined, defaults: Record<MediaTypeName, T>, ok: (v: unknown) => boolean, rule: string): Record<MediaTypeName, T> => {
    const out = { ...defaults };
    for (const [k, v] of Object.entries(given ?? {})) {
      if (!MEDIA_TYPES.includes(k as MediaTypeName)) throw invalid(name, `unknown media type ${JSON.stringify(k)} (use ${MEDIA_TYPES.join(', ')})`);
      if (!ok(v)) throw invalid(`${name}.${k}`, rule);
      out[k as MediaTypeName] = v as T;
    }
    return out;
  };
  if (o.host !== undefined && (typeof o.host !== 'string' || !o.host)) throw invalid('host', 'must be an address such as 0.0.0.0 or ::');
  if (o.keepClientInfo !== undefined && typeof o.keepClientInfo !== 'boolean') throw invalid('keepClientInfo', 'must be true or false');
  const c: ServerConfig = {
    host: o.host ?? '::',
    ports: { tcp: port('tcpPort', o.tcpPort), http: port('httpPort', o.httpPort), udp: port('udpPort', o.udpPort) },
    tls: o.tls,
    http: resolveHttpLimits(o.http),
    limits: connectionLimits(o.limits),
    keepClientInfo: o.keepClientInfo ?? false,
    maxClients: int('maxClients', o.maxClients, 10000, 1),
    maxGroups: int('maxGroups', o.maxGroups, 1000, 0),
    buffers: perType('buffers', o.buffers, DEFAULT_BUFFERS, (v) => typeof v === 'number' && v >= 1024, 'must be at least 1024 bytes'),
    timeouts: perType('timeouts', o.timeouts, DEFAULT_TIMEOUTS, (v) => typeof v === 'number' && v > 0, 'must be a positive number of ms'),
    maxPayload: int('maxPayload', o.maxPayload, 8 * 1024 * 1024, 1024),
    keepaliveMs: int('keepaliveMs', o.keepaliveMs, 5000, 0),
    deadMs: int('deadMs', o.deadMs, 15000, 0),
    handshakeMs: int('handshakeTimeoutMs', o.handshakeTimeoutMs, 10000, 1),
    serverId: o.serverId ?? 'server',
    spoolDir: o.spoolDir,
    spool: spoolBounds(o.spool, int),
    httpHandler: o.httpHandler,
    metrics: metricsOptions(o.metrics),
    cluster: clusterConfig(o.cluster),
    gopCache: gopCacheOptions(o.gopCache, o.buffers?.video ?? DEFAULT_BUFFERS.video, int),
    record: recordOptions(o.record, int),
    logger: o.logger ?? silentLogger,
  };
  if (Object.values(c.ports).every((p) => p === false)) throw invalid('tcpPort', 'at least one of tcpPort, httpPort, udpPort must be on');
  // TCP and HTTP both listen on TCP: one number for both would fail at start as "in use" by the server itself.
  if (c.ports.tcp !== false && c.ports.tcp !== 0 && c.ports.tcp === c.ports.http) throw invalid('httpPort', `is tcpPort's port too (${c.ports.tcp}): give each its own port (the UDP port may share the TCP port's number)`);
  return c;
}

/** The spool bounds: whole numbers of bytes >= 0, and the one budget the server's spools share. */
function spoolBounds(o: SpoolLimits | undefined, int: (name: string, v: number | undefined, def: number, min: number) => number): ServerConfig['spool'] {
  if (o !== undefined && (typeof o !== 'object' || o === null)) throw invalid('spool', 'must be an object { maxBytesPerReader?, maxBytes? }');
  for (const k of Object.keys(o ?? {})) if (!(k in DEFAULT_SPOOL)) throw invalid('spool', `unknown field ${JSON.stringify(k)} (use maxBytesPerReader, maxBytes)`);
  const maxBytesPerReader = int('spool.maxBytesPerReader', o?.maxBytesPerReader, DEFAULT_SPOOL.maxBytesPerReader, 0);
  const maxBytes = int('spool.maxBytes', o?.maxBytes, DEFAULT_SPOOL.maxBytes, 0);
  return { maxBytesPerReader, maxBytes, budget: new SpoolBudget(maxBytes) };
}

/** The GOP cache's bounds, defaults filled in (its bytes default to the video buffer). */
function gopCacheOptions(o: MediaServerOptions['gopCache'], videoBuffer: number, int: (name: string, v: number | undefined, def: number, min: number) => number): ServerConfig['gopCache'] {
  if (o === false) return false;
  if (o !== undefined && (typeof o !== 'object' || o === null)) throw invalid('gopCache', 'must be false or an object { maxFrames?, maxBytes? }');
  for (const k of Object.keys(o ?? {})) if (k !== 'maxFrames' && k !== 'maxBytes') throw invalid('gopCache', `unknown field ${JSON.stringify(k)} (use maxFrames, maxBytes)`);
  return { maxFrames: int('gopCache.maxFrames', o?.maxFrames, 300, 1), maxBytes: int('gopCache.maxBytes', o?.maxBytes, videoBuffer, 1024) };
}

/** The metrics options, defaults filled in; unknown keys and non-booleans are refused. */
function metricsOptions(m: MetricsOptions | undefined): Required<MetricsOptions> {
  const out: Required<MetricsOptions> = { perClient: false, latency: false, process: true };
  if (m === undefined) return out;
  if (typeof m !== 'object' || m === null) throw invalid('metrics', 'must be an object { perClient?, latency?, process? }');
  for (const [k, v] of Object.entries(m)) {
    if (!Object.hasOwn(out, k)) throw invalid('metrics', `unknown key ${JSON.stringify(k)} (use perClient, latency, process)`);
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw invalid(`metrics.${k}`, 'must be true or false');
    out[k as keyof MetricsOptions] = v;
  }
  return out;
}

/** The recording options: a folder, whole numbers of ms and bytes, a known format. */
function recordOptions(o: RecordOptions | undefined, int: (name: string, v: number | undefined, def: number, min: number) => number): RecordOptions | undefined {
  if (o === undefined) return undefined;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalid('record', 'must be an object { dir, segmentMs?, maxAgeMs?, maxBytes?, format?, idleMs?, maxQueueBytes? }');
  const known = ['dir', 'segmentMs', 'maxAgeMs', 'maxBytes', 'format', 'idleMs', 'maxQueueBytes'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw invalid('record', `unknown field ${JSON.stringify(k)} (use ${known.join(', ')})`);
  if (typeof o.dir !== 'string' || !o.dir) throw invalid('record.dir', 'must be the folder to record into');
  if (o.format !== undefined && o.format !== 'mkv' && o.format !== 'mp4') throw invalid('record.format', "must be 'mkv' or 'mp4'");
  return {
    dir: o.dir,
    segmentMs: int('record.segmentMs', o.segmentMs, 60_000, 1000),
    maxAgeMs: int('record.maxAgeMs', o.maxAgeMs, 0, 0),
    maxBytes: int('record.maxBytes', o.maxBytes, 0, 0),
    format: o.format ?? 'mkv',
    idleMs: int('record.idleMs', o.idleMs, 5000, 100),
    maxQueueBytes: int('record.maxQueueBytes', o.maxQueueBytes, 8 * 1024 * 1024, 1024 * 1024),
  };
}
