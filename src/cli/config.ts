/**
 * The server's configuration: flags, a YAML file and CAMWIRE_* environment variables, merged
 * in that order of precedence (flags win), validated with messages that name the setting.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError } from '../errors.js';
import { isPasswordHash } from '../server/auth.js';
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

/** pino's levels, the values of --log-level, logLevel and CAMWIRE_LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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
  // The YAML parser loads only for a config file (a server without one does not hold it).
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  let doc: unknown;
  try {
    doc = yaml.parse(text);
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
  if (env.CAMWIRE_LOG_LEVEL) {
    if (!LOG_LEVELS.includes(env.CAMWIRE_LOG_LEVEL)) throw new UsageError(`CAMWIRE_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env.CAMWIRE_LOG_LEVEL)}`);
    c.logLevel = env.CAMWIRE_LOG_LEVEL;
  }
  if (env.CAMWIRE_CLUSTER) c.cluster = { servers: env.CAMWIRE_CLUSTER.split(',') };
  return c;
}

/** Merges and validates. */
export function resolveServerConfig(...layers: Array<Partial<ServerConfig>>): ServerConfig {
  const c: ServerConfig = { ...SERVER_DEFAULTS };
  for (const l of layers) for (const [k, v] of Object.entries(l)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  for (const k of ['tcpPort', 'udpPort', 'httpPort'] as const) c[k] = parsePort(k, c[k] as number | false, false);
  // An IPv6 address as written in a URL or in --listen ([::1]) is the same address here.
  if (typeof c.host === 'string') c.host = c.host.replace(/^\[(.*:.*)\]$/, '$1');
  // The server's own rules, the same for the library and the CLI.
  try {
    validate({ host: c.host, tcpPort: c.tcpPort, udpPort: c.udpPort, httpPort: c.httpPort, keepClientInfo: c.keepClientInfo, maxGroups: c.maxGroups, maxClients: c.maxClients, buffers: c.buffers, http: c.http, limits: c.limits, spool: c.spool, metrics: c.metrics, cluster: c.cluster, record: c.record });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message.replace(/^option /, ''));
    throw err;
  }
  if (typeof c.dataDir !== 'string') throw new UsageError(`dataDir: expected a folder path, or '' to keep nothing on disk`);
  if (!LOG_LEVELS.includes(c.logLevel)) throw new UsageError(`logLevel: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(c.logLevel)}`);
  if (c.tls !== undefined) checkTls(c.tls);
  if (c.users !== undefined) checkUsers(c.users);
  return c;
}

/** `tls`: cert and key file paths, ca optional; nothing else. */
function checkTls(tls: unknown): void {
  if (!tls || typeof tls !== 'object' || Array.isArray(tls)) throw new UsageError('tls: expected { cert, key, ca? } (file paths)');
  const t = tls as Record<string, unknown>;
  for (const k of Object.keys(t)) if (!['cert', 'key', 'ca'].includes(k)) throw new UsageError(`tls: unknown key "${k}" (use cert, key, ca)`);
  for (const k of ['cert', 'key', 'ca']) {
    if (t[k] === undefined && k === 'ca') continue;
    if (typeof t[k] !== 'string' || !t[k]) throw new UsageError(`tls.${k}: expected a file path${t[k] === undefined ? ', missing' : `, got ${JSON.stringify(t[k])}`}`);
  }
}

const USER_KEYS = ['user', 'password', 'passwordHash', 'clientIds'];

/**
 * `users`: each entry's keys, types and hash checked here, so that a typo or a YAML number does
 * not become a user nobody can log in as (docs/cli.md, Configuration file).
 */
function checkUsers(users: unknown): void {
  if (!Array.isArray(users)) throw new UsageError('users: expected a list of { user, password | passwordHash, clientIds? }');
  if (users.length === 0) throw new UsageError('users: the list is empty, so nobody could log in: add a user, or remove users for a server without logins');
  const seen = new Set<string>();
  const owners = new Map<string, string>();
  users.forEach((u: unknown, i) => {
    const at = `users[${i}]`;
    if (!u || typeof u !== 'object' || Array.isArray(u)) throw new UsageError(`${at}: expected { user, password | passwordHash, clientIds? }`);
    const e = u as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!USER_KEYS.includes(k)) throw new UsageError(`${at}: unknown key "${k}" (use ${USER_KEYS.join(', ')})`);
    if (typeof e.user !== 'string' || !e.user) throw new UsageError(`${at}.user: expected a user name${e.user === undefined ? ', missing' : `, got ${JSON.stringify(e.user)}: quote it`}`);
    const name = `${at} (${e.user})`;
    // HTTP Basic (the viewer, /metrics, the control API) splits "user:password" at the first colon.
    if (e.user.includes(':')) throw new UsageError(`${name}.user: a user name cannot hold ":" (an HTTP login could never give it): rename the user`);
    if (seen.has(e.user)) throw new UsageError(`${name}: user "${e.user}" is listed twice`);
    seen.add(e.user);
    if (e.password === undefined && e.passwordHash === undefined) throw new UsageError(`${name}: give password or passwordHash`);
    if (e.password !== undefined && e.passwordHash !== undefined) throw new UsageError(`${name}: give password or passwordHash, not both`);
    if (e.password !== undefined && (typeof e.password !== 'string' || !e.password)) {
      throw new UsageError(`${name}.password: expected a string, got ${JSON.stringify(e.password)}: quote it in the YAML (password: "${String(e.password)}")`);
    }
    if (e.passwordHash !== undefined && (typeof e.passwordHash !== 'string' || !isPasswordHash(e.passwordHash))) {
      throw new UsageError(`${name}.passwordHash: not a hash from hashPassword() (scrypt$N$r$p$salt$hash): make one as docs/cli.md says, or give password`);
    }
    if (e.clientIds !== undefined && (!Array.isArray(e.clientIds) || !e.clientIds.every((id) => typeof id === 'string' && id))) {
      throw new UsageError(`${name}.clientIds: expected a list of client ids, e.g. [cam1, cam2], got ${JSON.stringify(e.clientIds)}`);
    }
    for (const id of (e.clientIds as string[] | undefined) ?? []) {
      const owner = owners.get(id);
      if (owner !== undefined && owner !== e.user) throw new UsageError(`${name}.clientIds: ${id} is already ${owner}'s: a client id belongs to one user`);
      owners.set(id, e.user);
    }
  });
}
