/**
 * What the CLI commands share: exit codes, the logger, signal handling, TLS flags and the
 * connection flags of send and receive.
 */
import { Command, Option } from 'commander';
import fs from 'node:fs';
import { UsageError } from './args.js';

/** Exit codes; SIGINT and SIGTERM end a one-shot `send` before its items are acknowledged with 128 + the signal's number. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NETWORK: 3, FFMPEG: 4, SIGINT: 130, SIGTERM: 143 } as const;

export { logger, type LogFormat } from './log.js';

/** `--connect-timeout` in ms: seconds, 0 for never. */
export function connectTimeoutMs(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 86400) throw new UsageError(`--connect-timeout: expected seconds 0-86400 (0 = retry for ever), got ${JSON.stringify(v)}`);
  return n * 1000;
}

export function onSignal(stop: () => Promise<void>, onTerm: () => Promise<void> = stop): void {
  let stopping = false;
  const handler = (how: () => Promise<void>) => (): void => {
    if (stopping) process.exit(EXIT.FAILED);
    stopping = true;
    how().then(() => process.exit(EXIT.OK), () => process.exit(EXIT.FAILED));
  };
  process.once('SIGINT', handler(stop));
  // SIGTERM (an orchestrator's stop): `onTerm`, e.g. a server's drain.
  process.once('SIGTERM', handler(onTerm));
}

export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

export interface TlsFlags {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
}

export function readPem(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** TLS for a side that connects: --tls, --tls-ca, --insecure. */
export function tlsClient(f: TlsFlags): { ca?: Buffer; rejectUnauthorized?: boolean } | undefined {
  if (!f.tls && !f.tlsCa && !f.insecure) return undefined;
  return { ca: f.tlsCa ? readPem('--tls-ca', f.tlsCa) : undefined, rejectUnauthorized: !f.insecure };
}

/** The flags send and receive share: transport, proxy, TLS, identity and credentials. */
export function connectionFlags(c: Command): Command {
  return c
    .addOption(new Option('--protocol <protocol>', 'transport (default tcp, or the scheme of a tcp://, udp://, http(s):// address)').choices(['tcp', 'udp', 'http']))
    .option('--proxy <url>', 'HTTP proxy for --protocol http, http://[user:pass@]host:port')
    .addOption(new Option('--proxy-tunnel <mode>', 'with --proxy: CONNECT tunnel through it (auto: try one, else plain requests; default auto)').choices(['auto', 'always', 'never']))
    .addOption(new Option('--http-upgrade <mode>', 'dialling over HTTP: upgrade the connection to the byte stream when the path allows (auto, the default) or always use requests (never)').choices(['auto', 'never']))
    .option('--tls', 'connect with TLS (TCP, HTTP), checking the certificate against the system CAs')
    .option('--tls-ca <file>', 'connect with TLS, trusting this CA (PEM)')
    .option('--insecure', 'connect with TLS without checking the certificate (testing only)')
    .option('--tls-cert <file>', 'with --listen: serve TLS with this certificate (PEM)')
    .option('--tls-key <file>', "with --listen: the certificate's private key (PEM)")
    .option('--connect-timeout <seconds>', 'dialling (--server, --from): give up (exit 3) when the peer is not reached, or lost and not back, within this long; 0 = retry for ever', '10')
    .option('--id <clientId>', 'this client id', '')
    .option('--user <name>', 'user name, if the server asks for credentials')
    .option('--password <password>', 'password (or CAMWIRE_PASSWORD)', process.env.CAMWIRE_PASSWORD);
}
