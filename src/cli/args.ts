/**
 * Parsing of CLI values: addresses, ports, sizes, key=value parameters. Each failure is a
 * UsageError whose message names the flag.
 */
import net from 'node:net';
import { parsePeerAddress, type PeerAddress } from '../address.js';
import type { Protocol, TypedParam } from '../index.js';

/** The user gave a bad flag value or config; the CLI exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `host:port`, `[v6]:port` or just `port` (host then defaults). */
export function parseAddress(flag: string, v: string, defaultHost: string, allowAnyPort = false): { host: string; port: number } {
  let host = defaultHost;
  let port = v;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(v);
  if (v6) [host, port] = [v6[1], v6[2]];
  else if (v.includes(':') && !net.isIPv6(v)) {
    const i = v.lastIndexOf(':');
    host = v.slice(0, i);
    port = v.slice(i + 1);
  }
  const p = Number(port);
  if (!host || !/^\d+$/.test(port) || p < (allowAnyPort ? 0 : 1) || p > 65535) {
    throw new UsageError(`${flag}: expected host:port (e.g. 127.0.0.1:7700 or [::1]:7700), got ${JSON.stringify(v)}`);
  }
  return { host, port: p };
}

/**
 * An address to dial (`--server`, `--from`): `tcp://`, `udp://`, `http(s)://host[:port]`,
 * `host[:port]`, `[v6][:port]`, or just `PORT` (on 127.0.0.1). A host without a port takes the
 * protocol's default server port. `protocol` is `--protocol` if the user gave it.
 */
export function parseDialAddress(flag: string, v: string, protocol: Protocol | undefined): PeerAddress {
  if (/^\d+$/.test(v)) {
    const port = Number(v);
    if (port < 1 || port > 65535) throw new UsageError(`${flag}: port must be 1-65535, got ${JSON.stringify(v)}`);
    return { protocol: protocol ?? 'tcp', host: '127.0.0.1', port, tls: false, explicitProtocol: false };
  }
  let a: PeerAddress;
  try {
    a = parsePeerAddress(v, protocol ?? 'tcp', flag);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^option /, ''));
  }
  if (protocol && a.explicitProtocol && protocol !== a.protocol) throw new UsageError(`${flag} ${v} says ${a.protocol}, but --protocol is ${protocol}: give one of them`);
  return a;
}

/** A port number, 0 for any free port, or "off". */
export function parsePort(flag: string, v: string | number | boolean | undefined, def: number | false): number | false {
  if (v === undefined) return def;
  if (v === false || v === 'off' || v === 'false') return false;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag}: expected a port number 0-65535 or "off", got ${JSON.stringify(v)}`);
  return n;
}

/** `WIDTHxHEIGHT`. */
export function parseSize(flag: string, v: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 16 || Number(m[2]) < 16 || Number(m[1]) > 7680 || Number(m[2]) > 4320) {
    throw new UsageError(`${flag}: expected WIDTHxHEIGHT such as 640x360, got ${JSON.stringify(v)}`);
  }
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** A byte count: a whole number with an optional K, M, G or T suffix (powers of 1024), or `unlimited`. */
export function parseBytes(flag: string, v: string): number {
  if (/^(unlimited|none|inf(inity)?)$/i.test(v)) return Infinity;
  const m = /^(\d+)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m || Number(m[1]) === 0) throw new UsageError(`${flag}: expected a size such as 500M, 8G or 1073741824, or "unlimited", got ${JSON.stringify(v)}`);
  return Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
}

/** A duration in ms: a number with ms, s, m, h or d (`60s`, `10m`, `7d`); a bare number is seconds. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new UsageError(`${flag}: expected a duration such as 60s, 10m, 12h or 7d, got ${JSON.stringify(v)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's').toLowerCase() as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

/** A whole number within bounds. */
export function parseInteger(flag: string, v: string, min: number, max: number): number {
  const n = parseNumber(flag, v, min, max);
  if (!Number.isInteger(n)) throw new UsageError(`${flag}: expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

/** A positive number within bounds. */
export function parseNumber(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag}: expected a number ${min}-${max}, got ${JSON.stringify(v)}`);
  return n;
}

/** `key=value` pairs; values that look like integers, floats (with a dot) or booleans get those types. */
export function parseParams(pairs: string[]): Record<string, string | number | boolean | TypedParam> {
  const out: Record<string, string | number | boolean | TypedParam> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UsageError(`--param: expected key=value, got ${JSON.stringify(p)}`);
    const k = p.slice(0, i);
    const v = p.slice(i + 1);
    // 1.0 stays a float on the wire, though JavaScript would call it an integer.
    out[k] = v === 'true' ? true : v === 'false' ? false : /^-?\d+$/.test(v) ? Number(v) : /^-?\d+\.\d+$/.test(v) ? { type: 'float', value: Number(v) } : v;
  }
  return out;
}
