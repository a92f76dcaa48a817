/**
 * The server's configuration: flags, a YAML file and CAMWIRE_* environment variables, merged
 * in that order of precedence (flags win), validated with messages that name the setting.
 */
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { validate, type MediaServerOptions } from '../server/config.js';
import { parsePort, UsageError } from './args.js';

/** What `camwire server` runs with. */
export interface ServerConfig {
  host: string;
  tcpPort: number | false;
  udpPort: number | false;
  httpPort: number | false;
  tls?: { cert: string; key: string; ca?: string };
  keepClientInfo: boolean;
  /** Folder of the server's database (SQLite); '' = keep nothing beyond the process. */
  dataDir: string;
  maxGroups: number;
  maxClients: number;
  /** Users allowed in; when present, credentials are required. Passwords as scrypt hashes or plain. */
  users?: Array<{ user: string; password?: string; passwordHash?: string; clientIds?: string[] }>;
  buffers?: MediaServerOptions['buffers'];
  /** Time limits of HTTP requests (docs/limits.md, HTTP and WebSocket). */
  http?: MediaServerOptions['http'];
  /** Connection limits of every port (docs/limits.md, Connections). */
  limits?: MediaServerOptions['limits'];
  /** Disk for file data queued toward slow readers (docs/limits.md, Files). */
  spool?: MediaServerOptions['spool'];
  /** Optional /metrics series; the CLI measures video latency by default (its viewer decodes every frame anyway). */
  metrics?: MediaServerOptions['metrics'];
  /** Join a cluster of servers over NATS (docs/cluster.md): servers, prefix, name, user/pass or token. */
  cluster?: MediaServerOptions['cluster'];
  /** Record every source (docs/cli.md, Recording). */
  record?: MediaServerOptions['record'];
  logLevel: string;
}

/** Defaults of `camwire server`. */
export const SERVER_DEFAULTS: ServerConfig = {
  host: '0.0.0.0',
  tcpPort: 7700,
  udpPort: 7701,
  httpPort: 7780,
  keepClientInfo: false,
  dataDir: './camwire-data',
  maxGroups: 1000,
  maxClients: 10000,
  logLevel: 'info',
};

const KEYS = new Set(['host', 'tcpPort', 'udpPort', 'httpPort', 'tls', 'keepClientInfo', 'dataDir', 'maxGroups', 'maxClients', 'users', 'buffers', 'http', 'limits', 'spool', 'metrics', 'cluster', 'record', 'logLevel']);

/** Reads and checks a YAML config file. */
export function loadConfigFile(file: string): Partial<ServerConfig> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--config: cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`${file}: expected a mapping of settings at the top level`);
  for (const k of Object.keys(doc)) if (!KEYS.has(k)) throw new UsageError(`${file}: unknown setting "${k}" (known: ${[...KEYS].join(', ')})`);
  return doc as Partial<ServerConfig>;
}

/** CAMWIRE_HOST, CAMWIRE_TCP_PORT, CAMWIRE_UDP_PORT, CAMWIRE_HTTP_PORT, CAMWIRE_DATA_DIR, CAMWIRE_LOG_LEVEL, CAMWIRE_CLUSTER (NATS URLs, comma-separated). */
export function envConfig(env: NodeJS.ProcessEnv): Partial<ServerConfig> {
  const c: Partial<ServerConfig> = {};
  if (env.CAMWIRE_HOST) c.host = env.CAMWIRE_HOST;
  if (env.CAMWIRE_TCP_PORT) c.tcpPort = parsePort('CAMWIRE_TCP_PORT', env.CAMWIRE_TCP_PORT, false);
  if (env.CAMWIRE_UDP_PORT) c.udpPort = parsePort('CAMWIRE_UDP_PORT', env.CAMWIRE_UDP_PORT, false);
  if (env.CAMWIRE_HTTP_PORT) c.httpPort = parsePort('CAMWIRE_HTTP_PORT', env.CAMWIRE_HTTP_PORT, false);
  if (env.CAMWIRE_DATA_DIR !== undefined) c.dataDir = env.CAMWIRE_DATA_DIR;
  if (env.CAMWIRE_LOG_LEVEL) c.logLevel = env.CAMWIRE_LOG_LEVEL;
  if (env.CAMWIRE_CLUSTER) c.cluster = { servers: env.CAMWIRE_CLUSTER.split(',') };
  return c;
}

/** Merges and validates. */
export function resolveServerConfig(...layers: Array<Partial<ServerConfig>>): ServerConfig {
  const c: ServerConfig = { ...SERVER_DEFAULTS };
  for (const l of layers) for (const [k, v] of Object.entries(l)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  for (const k of ['tcpPort', 'udpPort', 'httpPort'] as const) c[k] = parsePort(k, c[k] as number | false, false);
  // The server's own rules, the same for the library and the CLI.
  try {
    validate({ host: c.host, tcpPort: c.tcpPort, udpPort: c.udpPort, httpPort: c.httpPort, keepClientInfo: c.keepClientInfo, maxGroups: c.maxGroups, maxClients: c.maxClients, buffers: c.buffers, http: c.http, limits: c.limits, spool: c.spool, metrics: c.metrics, cluster: c.cluster, record: c.record });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message.replace(/^option /, ''));
    throw err;
  }
  if (typeof c.dataDir !== 'string') throw new UsageError(`dataDir: expected a folder path, or '' to keep nothing on disk`);
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(c.logLevel)) throw new UsageError(`logLevel: expected one of fatal, error, warn, info, debug, trace, silent`);
  if (c.tls && (typeof c.tls.cert !== 'string' || typeof c.tls.key !== 'string')) throw new UsageError('tls: expected cert and key (file paths)');
  if (c.users !== undefined) {
    if (!Array.isArray(c.users)) throw new UsageError('users: expected a list of { user, password | passwordHash, clientIds? }');
    c.users.forEach((u, i) => {
      if (!u || typeof u.user !== 'string' || (typeof u.password !== 'string' && typeof u.passwordHash !== 'string')) {
        throw new UsageError(`users[${i}]: expected { user, password or passwordHash }`);
      }
    });
  }
  return c;
}
