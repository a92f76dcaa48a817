/** `camwire server` and `camwire demo`: a MediaServer with its web viewer (docs/cli.md). */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger as Pino } from 'pino';
import { AddressInUseError, ErrorCode, MediaServer, Sender, SqliteStore, TransportError } from '../index.js';
import { loadSharp } from '../sources/sharp.js';
import { TestPattern } from '../sources/test-pattern.js';
import { WebViewer } from '../web/viewer.js';
import { parseBytes, parseDuration, parsePort, UsageError } from './args.js';
import { envConfig, loadConfigFile, resolveServerConfig, type ServerConfig } from './config.js';
import { logger, onSignal, urlHost, type LogFormat } from './common.js';
import { serverTlsFiles, type TlsFileNames } from './tls-files.js';
import { makeDir } from '../make-dir.js';

/**
 * SIGTERM's drain ends within about 10 s however many clients are connected: at most 5 s asking
 * them to leave, at most 5 s waiting for the last links (a systemd unit's TimeoutStopSec=15 then
 * never kills a draining server before its store is closed).
 */
const DRAIN_PACING_MS = 5000;
const DRAIN_TIMEOUT_MS = 5000;

export async function runServer(cfg: ServerConfig, log: Pino, tlsNames: TlsFileNames = { cert: 'tls.cert', key: 'tls.key', ca: 'tls.ca' }): Promise<{ server: MediaServer; url: string | undefined; stop: () => Promise<void>; drain: () => Promise<void> }> {
  if (cfg.record) writableFolder(cfg.record.dir);
  let viewer: WebViewer | undefined;
  const server = new MediaServer({
    host: cfg.host,
    tcpPort: cfg.tcpPort,
    udpPort: cfg.udpPort,
    httpPort: cfg.httpPort,
    tls: cfg.tls ? serverTlsFiles(tlsNames, cfg.tls) : undefined,
    keepClientInfo: cfg.keepClientInfo,
    store: cfg.dataDir ? new SqliteStore({ dir: cfg.dataDir }) : undefined,
    maxGroups: cfg.maxGroups,
    maxClients: cfg.maxClients,
    buffers: cfg.buffers,
    http: cfg.http,
    limits: cfg.limits,
    spool: cfg.spool,
    auth: cfg.users ? { users: cfg.users } : undefined,
    metrics: { latency: true, ...cfg.metrics },
    cluster: cfg.cluster,
    record: cfg.record,
    logger: log,
    httpHandler: (req, res) => viewer?.handle(req, res) ?? false,
  });
  viewer = new WebViewer(server);
  server.on('clientConnected', (c) => log.info({ client: c.id, user: c.user }, 'client online'));
  server.on('clientDisconnected', (c) => log.info({ client: c.id }, 'client offline'));
  server.on('connectError', (ev) => log.warn({ client: ev.clientId, from: ev.remoteAddress, err: ev.error?.message }, 'connection refused'));
  server.on('serverCommand', (cmd, meta) => log.info({ command: cmd.name, params: cmd.params, from: meta.from }, 'server command'));
  // Nodes coming and going are logged by the cluster itself ('cluster: node up', 'cluster: node gone').
  await server.start().catch((err: unknown) => {
    throw err instanceof AddressInUseError && err.transport ? portInUse(err, err.transport) : err;
  });
  const p = server.ports;
  const url = cfg.httpPort === false ? undefined : `${cfg.tls ? 'https' : 'http'}://${urlHost(cfg.host)}:${p.http}/`;
  const on = (name: string, port: number, off: boolean): string => (off ? `${name} off` : `${name} ${port}`);
  process.stdout.write(
    `camwire server on ${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}: ${on('tcp', p.tcp, cfg.tcpPort === false)}, ${on('udp', p.udp, cfg.udpPort === false)}, ${on('http', p.http, cfg.httpPort === false)}\n` +
      `state: ${cfg.dataDir ? path.join(cfg.dataDir, 'camwire.db') : 'in memory only (nothing kept after the process ends)'}\n` +
      (cfg.cluster ? `cluster: node ${server.stats().cluster?.node} on ${[cfg.cluster.servers].flat().join(', ')}\n` : '') +
      (url ? `viewer: ${url}\nstats: ${url}stats  metrics: ${url}metrics\n` : '') +
      (cfg.record ? `recording: ${cfg.record.dir} (segments of ${(cfg.record.segmentMs ?? 60_000) / 1000} s, ${cfg.record.format ?? 'mkv'})\n` : ''),
  );
  return {
    server,
    url,
    stop: async () => {
      log.info({ links: server.stats().links }, 'stopping: closing every connection');
      viewer?.close();
      await server.stop();
      log.info('stopped');
    },
    drain: async () => {
      // Paced to fit the stop budget (docs/cli.md, Signals): 20 ms between clients, shorter when there are many.
      const connected = server.stats().clients.filter((c) => c.online || c.pushLinks > 0 || c.ingest > 0).length;
      await server.drain({ intervalMs: Math.min(20, DRAIN_PACING_MS / Math.max(1, connected)), timeoutMs: DRAIN_TIMEOUT_MS });
      viewer?.close();
      log.info('stopped');
    },
  };
}

/**
 * The recording folder, created now and checked for writing: a server that could never record
 * ends at start (exit 2), as `receive --save` does, instead of logging a failure per source later.
 */
function writableFolder(dir: string): void {
  try {
    makeDir(dir);
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new UsageError(`--record (record.dir): cannot create or write to the folder ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give a folder this user can write`);
  }
}

/** A port of the server in use, with the setting that moves it (docs/cli.md, Exit codes). */
function portInUse(err: AddressInUseError, transport: 'tcp' | 'udp' | 'http'): TransportError {
  const T = transport.toUpperCase();
  return new TransportError(
    ErrorCode.ADDRESS_IN_USE,
    `${T} port ${err.port} is already in use (${err.host}:${err.port}): stop what listens there (another camwire server?), or give another port with --${transport}-port (${transport}Port in a config file, CAMWIRE_${T}_PORT), or off`,
    { cause: err },
  );
}

/** The `server` action: config file, CAMWIRE_* environment and flags, then run until a signal. */
export async function serverAction(o: Record<string, string | boolean | undefined>): Promise<void> {
  if (o.memory && typeof o.dataDir === 'string' && o.dataDir) throw new UsageError('--memory and --data-dir contradict each other: give one');
  const flags: Partial<ServerConfig> = {
    host: o.host as string | undefined,
    tcpPort: o.tcpPort === undefined ? undefined : parsePort('--tcp-port', o.tcpPort as string, false),
    udpPort: o.udpPort === undefined ? undefined : parsePort('--udp-port', o.udpPort as string, false),
    httpPort: o.httpPort === undefined ? undefined : parsePort('--http-port', o.httpPort as string, false),
    keepClientInfo: o.keepClientInfo ? true : undefined,
    dataDir: o.memory ? '' : (o.dataDir as string | undefined),
    logLevel: o.logLevel as string | undefined,
    metrics: o.metricsPerClient ? { perClient: true } : undefined,
    record: recordFlags(o),
  };
  if (o.clusterName || o.clusterPrefix) {
    if (!o.cluster) throw new UsageError('--cluster-name and --cluster-prefix go with --cluster');
  }
  if (o.tlsCert || o.tlsKey) {
    if (!o.tlsCert || !o.tlsKey) throw new UsageError('--tls-cert and --tls-key go together');
    flags.tls = { cert: o.tlsCert as string, key: o.tlsKey as string };
  }
  const file = o.config ? loadConfigFile(o.config as string) : {};
  if (o.cluster) {
    // The flags name the NATS servers, the node and the prefix; credentials stay in the file's cluster section.
    const base = file.cluster ?? envConfig(process.env).cluster;
    flags.cluster = { ...base, servers: (o.cluster as string).split(','), name: (o.clusterName as string | undefined) ?? base?.name, prefix: (o.clusterPrefix as string | undefined) ?? base?.prefix };
  }
  const cfg = resolveServerConfig(envConfig(process.env), file, flags);
  const tlsNames = flags.tls ? { cert: '--tls-cert', key: '--tls-key', ca: 'tls.ca' } : undefined;
  const { stop, drain } = await runServer(cfg, logger(cfg.logLevel, (o.logFormat as LogFormat | undefined) ?? 'auto'), tlsNames);
  // SIGTERM drains (rolling upgrades), SIGINT stops at once.
  onSignal(stop, drain);
}

/** --record DIR and the flags that go with it. */
function recordFlags(o: Record<string, string | boolean | undefined>): ServerConfig['record'] {
  const dir = o.record as string | undefined;
  if (!dir) {
    for (const f of ['recordSegment', 'recordMaxAge', 'recordMaxBytes', 'recordFormat']) if (o[f] !== undefined) throw new UsageError(`--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --record DIR`);
    return undefined;
  }
  const bytes = o.recordMaxBytes === undefined ? undefined : parseBytes('--record-max-bytes', o.recordMaxBytes as string);
  return {
    dir,
    segmentMs: o.recordSegment === undefined ? undefined : parseDuration('--record-segment', o.recordSegment as string),
    maxAgeMs: o.recordMaxAge === undefined ? undefined : parseDuration('--record-max-age', o.recordMaxAge as string),
    maxBytes: bytes === Infinity ? 0 : bytes,
    format: o.recordFormat as 'mkv' | 'mp4' | undefined,
  };
}

/** The `demo` action: a MediaServer on loopback and a test-pattern sender feeding it. */
export async function demoAction(o: { httpPort: string; tcpPort: string }): Promise<void> {
  await loadSharp();
  const cfg = resolveServerConfig({ host: '127.0.0.1', httpPort: parsePort('--http-port', o.httpPort, false), tcpPort: parsePort('--tcp-port', o.tcpPort, false), udpPort: 0, dataDir: '', logLevel: 'warn' });
  let srv: Awaited<ReturnType<typeof runServer>>;
  try {
    srv = await runServer(cfg, logger('warn'));
  } catch (err) {
    if ((err as { code?: string }).code !== ErrorCode.ADDRESS_IN_USE) throw err;
    // The demo must start anywhere: when its usual ports are taken, any free ones will do.
    process.stdout.write(`ports ${cfg.tcpPort}/${cfg.httpPort} are in use; using free ones\n`);
    srv = await runServer({ ...cfg, tcpPort: 0, httpPort: 0 }, logger('warn'));
  }
  const sender = new Sender({ protocol: 'tcp', host: '127.0.0.1', port: srv.server.ports.tcp, clientId: 'test-pattern', logger: logger('warn') });
  await sender.start();
  const pattern = new TestPattern({ width: 640, height: 360, fps: 15, label: 'camwire demo' });
  pattern.start((jpeg, info) => sender.sendVideoFrame(jpeg, { imageType: 'jpeg', width: info.width, height: info.height, timestamp: info.timestamp }));
  process.stdout.write(`sending a test pattern as client "test-pattern". Open ${srv.url} to watch. Ctrl-C to stop.\n`);
  onSignal(async () => {
    pattern.stop();
    await sender.stop();
    await srv.stop();
  });
}
