/**
 * The `cluster` option of a MediaServer (docs/api.md, docs/cluster.md): which NATS to use, under
 * which subject prefix, as which node. Checked here without loading the NATS client, so a server
 * without a cluster never loads it.
 */
import os from 'node:os';
import { invalid } from '../../options.js';

/** A MediaServer's place in a cluster of MediaServers over NATS. */
export interface ClusterOptions {
  /** NATS server URLs, e.g. 'nats://127.0.0.1:4222' (one, or several of the same NATS cluster). */
  servers: string | string[];
  /** Subject prefix and bucket-name prefix, so that several clusters share one NATS. @default 'camwire' */
  prefix?: string;
  /** This node's name, unique in the cluster. @default `<hostname>-<pid>-<random>` */
  name?: string;
  /** NATS user and password. */
  user?: string;
  pass?: string;
  /** NATS token. */
  token?: string;
  /** How often this node says it is alive. @default 1000 */
  heartbeatMs?: number;
  /** A node not heard of for this long is dead: its clients are offline. @default 4000 */
  deadAfterMs?: number;
  /**
   * The address clients reach this node at, which a draining node tells its clients (docs/cluster.md,
   * Drain). @default the bind host (the host name when it binds every address) and the bound ports
   */
  advertise?: { host?: string; tcp?: number; http?: number; udp?: number };
  /**
   * Pending limits for the video and audio other nodes send this one: beyond this many messages
   * or bytes waiting at once (a node that fell behind), the oldest are dropped and counted.
   * @default { messages: 64, bytes: 1048576 }
   */
  pending?: { messages?: number; bytes?: number };
}

/** The cluster options after checking, defaults filled in. */
export interface ClusterConfig {
  servers: string[];
  prefix: string;
  name: string;
  user: string | undefined;
  pass: string | undefined;
  token: string | undefined;
  heartbeatMs: number;
  deadAfterMs: number;
  advertise: { host?: string; tcp?: number; http?: number; udp?: number };
  pending: { messages: number; bytes: number };
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Checks the `cluster` option. Throws a ConfigError naming the bad field. */
export function clusterConfig(o: ClusterOptions | undefined): ClusterConfig | undefined {
  if (o === undefined) return undefined;
  if (typeof o !== 'object' || o === null) throw invalid('cluster', 'must be an object { servers, prefix?, name?, user?, pass?, token? }');
  const known = ['servers', 'prefix', 'name', 'user', 'pass', 'token', 'heartbeatMs', 'deadAfterMs', 'advertise', 'pending'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw invalid('cluster', `unknown field ${JSON.stringify(k)} (use ${known.join(', ')})`);
  const servers = typeof o.servers === 'string' ? [o.servers] : o.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string' && /^(nats|tls|wss?):\/\/\S+$/.test(s))) {
    throw invalid('cluster.servers', 'must be one or more NATS URLs such as nats://127.0.0.1:4222');
  }
  const prefix = o.prefix ?? 'camwire';
  if (typeof prefix !== 'string' || !prefix.split('.').every((t) => TOKEN.test(t))) throw invalid('cluster.prefix', 'must be subject tokens of A-Z a-z 0-9 _ - separated by dots');
  const name = o.name ?? `${os.hostname().replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  if (typeof name !== 'string' || !TOKEN.test(name) || name.length > 64) throw invalid('cluster.name', 'must be 1 to 64 of A-Z a-z 0-9 _ -');
  const str = (k: 'user' | 'pass' | 'token'): string | undefined => {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'string' || !v)) throw invalid(`cluster.${k}`, 'must be a non-empty string');
    return v;
  };
  if ((o.user === undefined) !== (o.pass === undefined)) throw invalid('cluster.user', 'user and pass go together');
  const ms = (k: 'heartbeatMs' | 'deadAfterMs', def: number, min: number): number => {
    const v = o[k];
    if (v === undefined) return def;
    if (!Number.isInteger(v) || v < min) throw invalid(`cluster.${k}`, `must be a whole number of ms >= ${min}`);
    return v;
  };
  const heartbeatMs = ms('heartbeatMs', 1000, 100);
  const deadAfterMs = ms('deadAfterMs', 4000, 300);
  if (deadAfterMs < 2 * heartbeatMs) throw invalid('cluster.deadAfterMs', `must be at least twice heartbeatMs (${heartbeatMs})`);
  return { servers, prefix, name, user: str('user'), pass: str('pass'), token: str('token'), heartbeatMs, deadAfterMs, advertise: advertised(o.advertise), pending: pendingLimits(o.pending) };
}

function advertised(a: ClusterOptions['advertise']): ClusterConfig['advertise'] {
  if (a === undefined) return {};
  if (typeof a !== 'object' || a === null) throw invalid('cluster.advertise', 'must be an object { host?, tcp?, http?, udp? }');
  for (const k of Object.keys(a)) if (!['host', 'tcp', 'http', 'udp'].includes(k)) throw invalid('cluster.advertise', `unknown field ${JSON.stringify(k)} (use host, tcp, http, udp)`);
  if (a.host !== undefined && (typeof a.host !== 'string' || !/^[A-Za-z0-9_.:-]{1,253}$/.test(a.host))) throw invalid('cluster.advertise.host', 'must be a host name or an IP address');
  for (const k of ['tcp', 'http', 'udp'] as const) {
    const v = a[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535)) throw invalid(`cluster.advertise.${k}`, 'must be a port number 1..65535');
  }
  return { ...a };
}

function pendingLimits(p: ClusterOptions['pending']): ClusterConfig['pending'] {
  if (p === undefined) return { messages: 64, bytes: 1024 * 1024 };
  if (typeof p !== 'object' || p === null) throw invalid('cluster.pending', 'must be an object { messages?, bytes? }');
  for (const k of Object.keys(p)) if (k !== 'messages' && k !== 'bytes') throw invalid('cluster.pending', `unknown field ${JSON.stringify(k)} (use messages, bytes)`);
  const messages = p.messages ?? 64;
  const bytes = p.bytes ?? 1024 * 1024;
  if (!Number.isInteger(messages) || messages < 1) throw invalid('cluster.pending.messages', 'must be a whole number >= 1');
  if (!Number.isInteger(bytes) || bytes < 1) throw invalid('cluster.pending.bytes', 'must be a whole number of bytes >= 1');
  return { messages, bytes };
}
