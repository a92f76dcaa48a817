/**
 * Peer addresses as one string: `tcp://host:port`, `udp://host:port`, `http://host:port`,
 * `https://host:port`, or plain `host:port` / `[v6]:port`. A host without a port takes that
 * protocol's default server port (DEFAULT_PORTS: tcp 7700, udp 7701, http(s) 7780).
 */
import { ConfigError, ErrorCode } from './errors.js';
import { DEFAULT_PORTS } from './protocol/constants.js';
import type { Protocol } from './options.js';

/** A parsed peer address. */
export interface PeerAddress {
  protocol: Protocol;
  host: string;
  port: number;
  /** `https://`: TLS on. */
  tls: boolean;
  /** The protocol came from the address's scheme (not from the default). */
  explicitProtocol: boolean;
}

const SCHEMES: Record<string, { protocol: Protocol; tls: boolean }> = {
  'tcp:': { protocol: 'tcp', tls: false },
  'udp:': { protocol: 'udp', tls: false },
  'http:': { protocol: 'http', tls: false },
  'https:': { protocol: 'http', tls: true },
};

function bad(option: string, v: string, why: string): ConfigError {
  return new ConfigError(ErrorCode.CONFIG_INVALID, `option ${option}: ${why}, got ${JSON.stringify(v)} (use tcp://host:port, udp://host:port, http(s)://host:port or host:port)`);
}

/**
 * Parses `v`; `defaultProtocol` applies when the address has no scheme. Throws a ConfigError
 * naming `option` when the address is malformed.
 */
export function parsePeerAddress(v: string, defaultProtocol: Protocol = 'tcp', option = 'server'): PeerAddress {
  if (typeof v !== 'string' || v === '') throw bad(option, String(v), 'must be a non-empty address');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(v);
  if (scheme) {
    const kind = SCHEMES[`${scheme[1].toLowerCase()}:`];
    if (!kind) throw bad(option, v, `unknown scheme ${scheme[1]}://`);
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw bad(option, v, 'not a valid address');
    }
    if (u.username || u.password) throw bad(option, v, 'credentials do not go in the address (use auth, or --user and --password)');
    if ((u.pathname && u.pathname !== '/') || u.search || u.hash) throw bad(option, v, 'an address has no path');
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) throw bad(option, v, 'no host');
    // URL drops a port equal to the scheme's own default (http 80, https 443): read it back from the text.
    const explicit = /:(\d+)\/?$/.exec(v.slice(scheme[0].length));
    const port = explicit ? Number(explicit[1]) : u.port ? Number(u.port) : DEFAULT_PORTS[kind.tls ? 'https' : kind.protocol];
    if (!(port >= 1 && port <= 65535)) throw bad(option, v, 'port must be 1-65535');
    return { ...kind, host, port, explicitProtocol: true };
  }
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  let host = v;
  let port: string | undefined;
  if (v6) [host, port] = [v6[1], v6[2]];
  else if (/^[^:]+:[^:]*$/.test(v)) [host, port] = v.split(':');
  if (!host || (port !== undefined && !/^\d+$/.test(port))) throw bad(option, v, 'expected host:port');
  const p = port === undefined ? DEFAULT_PORTS[defaultProtocol] : Number(port);
  if (!(p >= 1 && p <= 65535)) throw bad(option, v, 'port must be 1-65535');
  return { protocol: defaultProtocol, host, port: p, tls: false, explicitProtocol: false };
}
