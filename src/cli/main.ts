#!/usr/bin/env node
/**
 * The camwire command line: `server`, `send`, `receive` and `demo`. Thin: parse argv, build
 * options, call the library, map failures to exit codes (docs/cli.md).
 */
import { Command, Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger as Pino } from 'pino';
import { CamwireError, ConfigError, ErrorCode, MEDIA_TYPES, MediaServer, Receiver, Sender, SqliteStore, StoreError, type ConnectionEvent, type MediaTypeName } from '../index.js';
import { FfmpegAudio, FfmpegMissingError, FfmpegVideo, type VideoInput } from '../sources/ffmpeg.js';
import { TestPattern } from '../sources/test-pattern.js';
import { WebViewer } from '../web/viewer.js';
import { parseAddress, parseBytes, parseInteger, parseNumber, parseParams, parsePort, parseSize, UsageError } from './args.js';
import { envConfig, loadConfigFile, resolveServerConfig, SERVER_DEFAULTS, type ServerConfig } from './config.js';
import { FrameSink, StatusLine } from './sinks.js';

/** Exit codes. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NETWORK: 3, FFMPEG: 4 } as const;

function logger(level: string): Pino {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

function onSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) process.exit(EXIT.FAILED);
    stopping = true;
    stop().then(() => process.exit(EXIT.OK), () => process.exit(EXIT.FAILED));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

// ------------------------------------------------------------------------------------ server

async function runServer(cfg: ServerConfig, log: Pino): Promise<{ server: MediaServer; url: string | undefined; stop: () => Promise<void> }> {
  const read = (f: string): Buffer => {
    try {
      return fs.readFileSync(f);
    } catch (err) {
      throw new UsageError(`tls: cannot read ${f}: ${(err as Error).message}`);
    }
  };
  let viewer: WebViewer | undefined;
  const server = new MediaServer({
    host: cfg.host,
    tcpPort: cfg.tcpPort,
    udpPort: cfg.udpPort,
    httpPort: cfg.httpPort,
    tls: cfg.tls ? { cert: read(cfg.tls.cert), key: read(cfg.tls.key), ca: cfg.tls.ca ? read(cfg.tls.ca) : undefined } : undefined,
    keepClientInfo: cfg.keepClientInfo,
    store: cfg.dataDir ? new SqliteStore({ dir: cfg.dataDir }) : undefined,
    maxGroups: cfg.maxGroups,
    maxClients: cfg.maxClients,
    buffers: cfg.buffers,
    auth: cfg.users ? { users: cfg.users } : undefined,
    logger: log,
    httpHandler: (req, res) => viewer?.handle(req, res) ?? false,
  });
  viewer = new WebViewer(server);
  server.on('clientConnected', (c) => log.info({ client: c.id, user: c.user }, 'client online'));
  server.on('clientDisconnected', (c) => log.info({ client: c.id }, 'client offline'));
  server.on('connectError', (ev) => log.warn({ client: ev.clientId, from: ev.remoteAddress, err: ev.error?.message }, 'connection refused'));
  server.on('serverCommand', (cmd, meta) => log.info({ command: cmd.name, params: cmd.params, from: meta.from }, 'server command'));
  await server.start();
  const p = server.ports;
  const url = cfg.httpPort === false ? undefined : `${cfg.tls ? 'https' : 'http'}://${urlHost(cfg.host)}:${p.http}/`;
  const on = (name: string, port: number, off: boolean): string => (off ? `${name} off` : `${name} ${port}`);
  process.stdout.write(
    `camwire server on ${cfg.host}: ${on('tcp', p.tcp, cfg.tcpPort === false)}, ${on('udp', p.udp, cfg.udpPort === false)}, ${on('http', p.http, cfg.httpPort === false)}\n` +
      `state: ${cfg.dataDir ? path.join(cfg.dataDir, 'camwire.db') : 'in memory only (nothing kept after the process ends)'}\n` +
      (url ? `viewer: ${url}\nstats: ${url}stats  metrics: ${url}metrics\n` : ''),
  );
  return {
    server,
    url,
    stop: async () => {
      viewer?.close();
      await server.stop();
    },
  };
}

// ------------------------------------------------------------------------------------ send

interface TlsFlags {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** TLS for a side that connects: --tls, --tls-ca, --insecure. */
function tlsClient(f: TlsFlags): { ca?: Buffer; rejectUnauthorized?: boolean } | undefined {
  if (!f.tls && !f.tlsCa && !f.insecure) return undefined;
  return { ca: f.tlsCa ? readPem('--tls-ca', f.tlsCa) : undefined, rejectUnauthorized: !f.insecure };
}

/** TLS for a side that listens: --tls-cert and --tls-key. */
function tlsServer(f: TlsFlags): { cert: Buffer; key: Buffer } | undefined {
  if (!f.tlsCert && !f.tlsKey) return undefined;
  if (!f.tlsCert || !f.tlsKey) throw new UsageError('--tls-cert and --tls-key go together');
  return { cert: readPem('--tls-cert', f.tlsCert), key: readPem('--tls-key', f.tlsKey) };
}

interface SendFlags extends TlsFlags {
  server?: string;
  listen?: string;
  protocol: 'tcp' | 'udp' | 'http';
  proxy?: string;
  id: string;
  to?: string;
  group?: string;
  groupPassword?: string;
  permanent?: boolean;
  user?: string;
  password?: string;
  testPattern?: boolean;
  input?: string;
  loop?: boolean;
  camera?: string | boolean;
  screen?: string | boolean;
  audioInput?: string;
  microphone?: string | boolean;
  audioCodec: string;
  size: string;
  fps: string;
  quality: string;
  file?: string;
  offset?: string;
  command?: string;
  param: string[];
  stdin?: boolean;
  timeout?: string;
  duration?: string;
  mediaIndex: string;
  logLevel: string;
}

async function runSend(f: SendFlags, log: Pino): Promise<number> {
  if (!f.server === !f.listen) throw new UsageError('give either --server HOST:PORT (push to a receiver or server) or --listen [HOST:]PORT (serve pulling receivers)');
  const pull = Boolean(f.listen);
  const timeout = f.timeout ? parseInteger('--timeout', f.timeout, 1, 3_600_000) : undefined;
  const addr = pull ? parseAddress('--listen', f.listen!.includes(':') ? f.listen! : `0.0.0.0:${f.listen}`, '0.0.0.0', true) : parseAddress('--server', f.server!, '127.0.0.1');
  const sender = new Sender({
    protocol: f.protocol,
    connection: pull ? 'receiver-to-sender' : 'sender-to-receiver',
    host: addr.host,
    port: addr.port,
    clientId: f.id,
    to: f.to,
    group: f.group,
    proxy: f.proxy,
    tls: pull ? tlsServer(f) : tlsClient(f),
    auth: f.user ? { user: f.user, password: f.password } : undefined,
    timeouts: timeout === undefined ? undefined : { command: timeout, data: timeout, file: timeout },
    logger: log,
  });
  sender.on('connectError', (ev) => log.warn({ type: ev.mediaTypes[0], to: `${ev.remoteAddress}:${ev.remotePort}`, err: ev.error?.message }, 'cannot connect'));
  sender.on('disconnect', (ev) => ev.error && log.warn({ type: ev.mediaTypes[0], err: ev.error.message }, 'disconnected'));
  sender.on('connected', (ev: ConnectionEvent) => log.debug({ type: ev.mediaTypes[0], peer: ev.clientId }, 'connected'));
  await sender.start();
  if (pull) process.stdout.write(`serving pull receivers on ${addr.host}:${sender.port} (${f.protocol})\n`);
  // Through a server, only members speak in a group: join it first.
  if (f.group && !pull) {
    try {
      await sender.joinGroup(f.group, { password: f.groupPassword, permanent: f.permanent === true });
    } catch (err) {
      await sender.stop();
      throw new CamwireError((err as CamwireError).code ?? 'CW_ERR_SERVER_REFUSED', `cannot join group ${f.group}: ${(err as Error).message}`);
    }
  }
  const mediaIndex = parseNumber('--media-index', f.mediaIndex, 0, 65535);

  // One-shot items: a file, a command, stdin as data. The process exits when they are acknowledged.
  const oneShot = f.file || f.command || f.stdin;
  if (oneShot) {
    try {
      if (f.command) {
        await sender.sendCommand({ name: f.command, params: parseParams(f.param) }, { mediaIndex });
        process.stdout.write(`command ${f.command} acknowledged\n`);
      }
      if (f.stdin) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        await sender.sendData(Buffer.concat(chunks), { mediaIndex });
        process.stdout.write(`data (${chunks.reduce((n, c) => n + c.length, 0)} bytes) acknowledged\n`);
      }
      if (f.file) {
        const bar = new StatusLine();
        sender.on('fileProgress', (p) => bar.progress(p.name, p.offset + p.acked, p.size));
        const results = await sender.sendFile(f.file, { offset: f.offset ? parseInteger('--offset', f.offset, 0, Number.MAX_SAFE_INTEGER) : 0, mediaIndex });
        bar.done();
        for (const r of results) process.stdout.write(`file ${r.name}: ${r.bytesSent} bytes from offset ${r.offset}, sha256 ${r.sha256} verified by the receiver\n`);
      }
    } finally {
      await sender.stop();
    }
    return EXIT.OK;
  }

  // Streaming: video (test pattern, ffmpeg input, camera, screen) and optional audio.
  const { width, height } = parseSize('--size', f.size);
  const fps = parseNumber('--fps', f.fps, 1, 120);
  const quality = parseNumber('--quality', f.quality, 1, 100);
  const stops: Array<() => void> = [];
  const status = new StatusLine();
  let frames = 0;
  let bytes = 0;
  const send = (jpeg: Buffer, timestamp = Date.now()): void => {
    frames++;
    bytes += jpeg.length;
    sender.sendVideoFrame(jpeg, { imageType: 'jpeg', width, height, mediaIndex, timestamp });
  };
  let input: VideoInput | undefined;
  if (f.input) input = { kind: 'url', url: f.input, loop: f.loop };
  else if (f.camera) input = { kind: 'camera', device: typeof f.camera === 'string' ? f.camera : undefined };
  else if (f.screen) input = { kind: 'screen', display: typeof f.screen === 'string' ? f.screen : undefined };
  const failed = new Promise<number>((resolve) => {
    if (input) {
      const src = new FfmpegVideo({ input, width, height, fps, quality: Math.max(2, Math.round(31 - (quality / 100) * 29)) });
      src.on('frame', (jpeg) => send(jpeg));
      src.on('error', (err) => {
        process.stderr.write(`error: ${err.message}\n`);
        resolve(err instanceof FfmpegMissingError ? EXIT.FFMPEG : EXIT.FAILED);
      });
      src.on('exit', (code, stderr) => {
        if (code !== 0 && code !== null) {
          process.stderr.write(`error: ffmpeg exited with ${code}${stderr ? `: ${stderr}` : ''}\n`);
          resolve(EXIT.FAILED);
        } else resolve(EXIT.OK);
      });
      src.start();
      stops.push(() => src.stop());
    } else {
      const pattern = new TestPattern({ width, height, fps, quality, label: f.id || 'camwire' });
      pattern.start((jpeg, info) => send(jpeg, info.timestamp));
      stops.push(() => pattern.stop());
    }
    if (f.audioInput || f.microphone) {
      const codec = f.audioCodec === 'opus' ? 'opus' : 'pcm_s16le';
      const audio = new FfmpegAudio({ input: f.audioInput ? { url: f.audioInput } : { device: typeof f.microphone === 'string' ? f.microphone : 'default' }, codec });
      audio.on('audio', (chunk) => sender.sendAudio(chunk, { codec, sampleRate: 48000, channels: 1, mediaIndex }));
      audio.on('error', (err) => {
        process.stderr.write(`error: ${err.message}\n`);
        resolve(err instanceof FfmpegMissingError ? EXIT.FFMPEG : EXIT.FAILED);
      });
      audio.start();
      stops.push(() => audio.stop());
    }
  });
  const tick = setInterval(() => {
    const s = sender.stats;
    status.line(`sending ${frames} fps, ${((bytes * 8) / 1e6).toFixed(2)} Mbit/s, dropped ${s.dropped.video}${pull ? `, ${s.channels} channel(s)` : ''}`);
    frames = 0;
    bytes = 0;
  }, 1000);
  const stop = async (): Promise<void> => {
    clearInterval(tick);
    for (const s of stops) s();
    status.done();
    await sender.stop();
  };
  onSignal(stop);
  const duration = f.duration ? parseNumber('--duration', f.duration, 0.1, 1e9) * 1000 : 0;
  const code = await (duration ? Promise.race([failed, new Promise<number>((r) => setTimeout(() => r(EXIT.OK), duration))]) : failed);
  await stop();
  return code;
}

// ------------------------------------------------------------------------------------ receive

/** JSON for one output line: bigints as strings, byte parameters as `<N bytes>`. */
function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  // Buffer.toJSON has already run by the time a replacer sees the value.
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return `<${(v as { data: unknown[] }).data.length} bytes>`;
  }
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  return v;
}

interface ReceiveFlags extends TlsFlags {
  listen?: string;
  from?: string;
  server?: string;
  protocol: 'tcp' | 'udp' | 'http';
  proxy?: string;
  id: string;
  user?: string;
  password?: string;
  types: string;
  save?: string;
  play?: boolean;
  files?: string;
  maxFileSize?: string;
  mjpegPort?: string;
  quiet?: boolean;
  count?: string;
  logLevel: string;
}

async function runReceive(f: ReceiveFlags, log: Pino): Promise<number> {
  const modes = [f.listen, f.from, f.server].filter(Boolean).length;
  if (modes !== 1) throw new UsageError('give one of --listen [HOST:]PORT (take pushes), --from HOST:PORT (pull from a sender) or --server HOST:PORT (pull from a MediaServer)');
  if (f.server && !f.id) throw new UsageError('--server needs --id: a MediaServer knows its clients by id');
  const types = f.types.split(',').map((t) => t.trim()) as MediaTypeName[];
  for (const t of types) if (!MEDIA_TYPES.includes(t)) throw new UsageError(`--types: unknown media type ${JSON.stringify(t)} (use ${MEDIA_TYPES.join(',')})`);
  const pull = !f.listen;
  if (pull && f.protocol === 'udp') throw new UsageError('--protocol udp works only with --listen: pulling needs tcp or http');
  const addr = pull
    ? parseAddress(f.from ? '--from' : '--server', (f.from ?? f.server)!, '127.0.0.1')
    : parseAddress('--listen', f.listen!.includes(':') ? f.listen! : `0.0.0.0:${f.listen}`, '0.0.0.0', true);
  const rx = new Receiver({
    protocol: f.protocol,
    connection: pull ? 'receiver-to-sender' : 'sender-to-receiver',
    host: pull ? undefined : addr.host,
    port: pull ? undefined : addr.port,
    senders: pull ? [{ host: addr.host, port: addr.port }] : [],
    clientId: f.id,
    receiveMediaTypes: types,
    fileDir: f.files,
    maxFileSize: f.maxFileSize === undefined ? undefined : parseBytes('--max-file-size', f.maxFileSize),
    proxy: f.proxy,
    tls: pull ? tlsClient(f) : tlsServer(f),
    auth: f.user ? { user: f.user, password: f.password } : undefined,
    logger: log,
  });
  const out = (o: object): void => {
    if (!f.quiet) process.stdout.write(JSON.stringify(o, jsonValue) + '\n');
  };
  for (const name of ['connected', 'connectError', 'disconnect', 'sessionConnected', 'sessionDisconnected'] as const) {
    rx.on(name, (ev) => out({ event: name, type: ev.mediaTypes[0], peer: ev.clientId || undefined, remote: `${ev.remoteAddress}:${ev.remotePort}`, error: ev.error?.message }));
  }
  let reached: (code: number) => void = () => {};
  const enough = new Promise<number>((r) => (reached = r));
  const sink = new FrameSink({
    save: f.save,
    play: f.play,
    mjpegPort: f.mjpegPort ? (parsePort('--mjpeg-port', f.mjpegPort, false) as number) : undefined,
    onError: (err) => {
      process.stderr.write(`error: ${err.message}\n`);
      reached(err instanceof FfmpegMissingError ? EXIT.FFMPEG : EXIT.FAILED);
    },
  });
  await sink.start();
  if (sink.mjpegUrl) process.stdout.write(`mjpeg: ${sink.mjpegUrl}\n`);
  let videos = 0;
  const limit = f.count ? parseNumber('--count', f.count, 1, 1e12) : Infinity;
  let latency = 0;
  rx.on('video', (v) => {
    videos++;
    latency = Date.now() - v.timestamp;
    sink.frame(v.data, v.imageType);
    if (videos >= limit) reached(EXIT.OK);
  });
  rx.on('command', (c, m) => out({ command: c.name, params: c.params, from: m.from, mediaIndex: m.mediaIndex }));
  rx.on('data', (d, m) => out({ data: d.length, from: m.from, text: d.length <= 200 ? d.toString('utf8') : undefined }));
  rx.on('fileStart', (i, m) => out({ fileStart: i.name, size: i.size, offset: i.offset, from: m.from }));
  rx.on('fileEnd', (i, m) => out({ fileEnd: i.name, size: i.size, ok: i.ok, sha256: i.sha256, path: i.path, from: m.from, error: i.error?.message }));
  rx.on('protocolError', (err, peer) => log.warn({ err: err.message, code: err.code, peer }, 'bad input'));
  await rx.start();
  if (!pull) process.stdout.write(`listening on ${addr.host}:${rx.port} (${f.protocol})\n`);
  const status = new StatusLine();
  let last = 0;
  let lastBytes = 0;
  const tick = setInterval(() => {
    const s = rx.stats;
    status.line(
      `received ${videos - last} fps, ${((s.received.video.bytes - lastBytes) * 8 / 1e6).toFixed(2)} Mbit/s, latency ${latency} ms, ${s.received.video.items} video frames, ${s.received.command.items} commands${s.udp ? `, incomplete ${s.udp.incomplete}` : ''}`,
    );
    lastBytes = s.received.video.bytes;
    last = videos;
  }, 1000);
  const stop = async (): Promise<void> => {
    clearInterval(tick);
    status.done();
    await rx.stop();
    await sink.stop();
  };
  onSignal(stop);
  const code = await enough;
  await stop();
  return code;
}

// ------------------------------------------------------------------------------------ program

/** The flags send and receive share: transport, proxy, TLS, identity and credentials. */
function connectionFlags(c: Command): Command {
  return c
    .addOption(new Option('--protocol <protocol>', 'transport').choices(['tcp', 'udp', 'http']).default('tcp'))
    .option('--proxy <url>', 'HTTP proxy for --protocol http, http://[user:pass@]host:port')
    .option('--tls', 'connect with TLS (TCP, HTTP), checking the certificate against the system CAs')
    .option('--tls-ca <file>', 'connect with TLS, trusting this CA (PEM)')
    .option('--insecure', 'connect with TLS without checking the certificate (testing only)')
    .option('--tls-cert <file>', 'with --listen: serve TLS with this certificate (PEM)')
    .option('--tls-key <file>', "with --listen: the certificate's private key (PEM)")
    .option('--id <clientId>', 'this client id', '')
    .option('--user <name>', 'user name, if the server asks for credentials')
    .option('--password <password>', 'password (or CAMWIRE_PASSWORD)', process.env.CAMWIRE_PASSWORD);
}

function program(): Command {
  const p = new Command('camwire')
    .description('Send live video, audio, commands, files and data between applications (docs/cli.md).')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  p.command('server')
    .description('run a MediaServer (relay, groups, contact lists) with the web viewer on its HTTP port')
    .option('-c, --config <file>', 'YAML config file (flags override it; CAMWIRE_* environment variables override defaults)')
    .option('--host <address>', `address to bind (default ${SERVER_DEFAULTS.host})`)
    .option('--tcp-port <port>', `TCP port, or "off" (default ${SERVER_DEFAULTS.tcpPort})`)
    .option('--udp-port <port>', `UDP port, or "off" (default ${SERVER_DEFAULTS.udpPort})`)
    .option('--http-port <port>', `HTTP port (links, viewer, /stats, /metrics), or "off" (default ${SERVER_DEFAULTS.httpPort})`)
    .option('--tls-cert <file>', 'TLS certificate (PEM) for TCP and HTTP')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--keep-client-info', 'keep contact lists after a client disconnects (and across restarts)')
    .option('--data-dir <dir>', `folder of the server's database: groups, known clients, kept contact lists survive restarts; '' for none (default ${SERVER_DEFAULTS.dataDir})`)
    .option('--memory', 'keep nothing on disk (the same as --data-dir \'\')')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      if (o.memory && typeof o.dataDir === 'string' && o.dataDir) throw new UsageError('--memory and --data-dir contradict each other: give one');
      const flags: Partial<ServerConfig> = {
        host: o.host as string | undefined,
        tcpPort: o.tcpPort === undefined ? undefined : parsePort('--tcp-port', o.tcpPort as string, false),
        udpPort: o.udpPort === undefined ? undefined : parsePort('--udp-port', o.udpPort as string, false),
        httpPort: o.httpPort === undefined ? undefined : parsePort('--http-port', o.httpPort as string, false),
        keepClientInfo: o.keepClientInfo ? true : undefined,
        dataDir: o.memory ? '' : (o.dataDir as string | undefined),
        logLevel: o.logLevel as string | undefined,
      };
      if (o.tlsCert || o.tlsKey) {
        if (!o.tlsCert || !o.tlsKey) throw new UsageError('--tls-cert and --tls-key go together');
        flags.tls = { cert: o.tlsCert as string, key: o.tlsKey as string };
      }
      const cfg = resolveServerConfig(envConfig(process.env), o.config ? loadConfigFile(o.config as string) : {}, flags);
      const { stop } = await runServer(cfg, logger(cfg.logLevel));
      onSignal(stop);
    });
  connectionFlags(p.command('send'))
    .description('send video (test pattern, ffmpeg input, camera, screen), audio, a file, a command or stdin')
    .option('--server <host:port>', 'push to a receiver or MediaServer at this address')
    .option('--listen <[host:]port>', 'instead: listen and serve receivers that pull (receiver-to-sender)')
    .option('--to <clientId>', 'addressee (through a server)')
    .option('--group <groupId>', 'send to this group (through a server; joins it first)')
    .option('--group-password <password>', 'the group\'s password, if it has one')
    .option('--permanent', 'with --group: join as a permanent member (a member while offline, and after server restarts)')
    .option('--test-pattern', 'send the built-in test pattern (the default video source)')
    .option('--input <url|file>', 'video from any ffmpeg input: a file, rtsp://camera/...')
    .option('--loop', 'with --input FILE: loop the file')
    .option('--camera [device]', 'video from a V4L2 camera (default /dev/video0), via ffmpeg')
    .option('--screen [display]', 'video from the X11 screen, via ffmpeg')
    .option('--audio-input <url|file>', 'also send audio (PCM s16le 48 kHz mono) from an ffmpeg input')
    .option('--microphone [device]', 'also send audio from an ALSA microphone (default "default"), via ffmpeg')
    .addOption(new Option('--audio-codec <codec>', 'audio as raw PCM or as 20 ms Opus packets').choices(['pcm_s16le', 'opus']).default('pcm_s16le'))
    .option('--size <WxH>', 'video size', '640x360')
    .option('--fps <n>', 'frames per second', '15')
    .option('--quality <1-100>', 'JPEG quality', '70')
    .option('--media-index <n>', 'media index (0 = main source)', '0')
    .option('--file <path>', 'send this file (chunked, acknowledged, SHA-256 checked), then exit')
    .option('--offset <bytes>', 'with --file: start at this byte')
    .option('--command <name>', 'send this command, then exit')
    .option('--param <key=value...>', 'with --command: parameters', [])
    .option('--stdin', 'send standard input as one data blob, then exit')
    .option('--timeout <ms>', 'give up on an unacknowledged command, file chunk or data after this long (default 15000 / 10000)')
    .option('--duration <seconds>', 'stop streaming after this long')
    .option('--log-level <level>', 'log level (logs go to stderr)', 'warn')
    .action(async (o: SendFlags) => {
      process.exitCode = await runSend(o, logger(o.logLevel));
    });
  connectionFlags(p.command('receive'))
    .description('receive: print commands, data and events; save, play or serve video; write files to a folder')
    .option('--listen <[host:]port>', 'take pushes on this port (sender-to-receiver)')
    .option('--from <host:port>', 'pull from a sender that listens (receiver-to-sender)')
    .option('--server <host:port>', 'pull from a MediaServer (give --id)')
    .option('--types <list>', 'media types to receive', MEDIA_TYPES.join(','))
    .option('--save <file>', 'save video: .mjpeg as is, .mp4/.mkv through ffmpeg')
    .option('--play', 'play video with ffplay')
    .option('--files <dir>', 'write received files into this folder (resumable)')
    .option('--max-file-size <size>', 'refuse files larger than this: 500M, 8G, or unlimited (default 4G)')
    .option('--mjpeg-port <port>', 'serve the video as MJPEG over HTTP on this port (0 = any)')
    .option('--count <n>', 'exit after this many video frames')
    .option('--quiet', 'print nothing per message')
    .option('--log-level <level>', 'log level (logs go to stderr)', 'warn')
    .action(async (o: ReceiveFlags) => {
      process.exitCode = await runReceive(o, logger(o.logLevel));
    });
  p.command('demo')
    .description('what `npm start` runs: a MediaServer with its viewer and a test-pattern sender')
    .option('--http-port <port>', 'viewer port', String(SERVER_DEFAULTS.httpPort))
    .option('--tcp-port <port>', 'TCP port', String(SERVER_DEFAULTS.tcpPort))
    .action(async (o: { httpPort: string; tcpPort: string }) => {
      const cfg = resolveServerConfig({ host: '127.0.0.1', httpPort: parsePort('--http-port', o.httpPort, false), tcpPort: parsePort('--tcp-port', o.tcpPort, false), udpPort: 0, dataDir: '', logLevel: 'warn' });
      let srv: Awaited<ReturnType<typeof runServer>>;
      try {
        srv = await runServer(cfg, logger('warn'));
      } catch (err) {
        if (!/EADDRINUSE/.test((err as Error).message)) throw err;
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
    });
  return p;
}

/** Runs the CLI; resolves with the exit code for errors that happen before long-running work. */
export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) {
      process.exitCode = e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version' ? EXIT.OK : EXIT.USAGE;
      return;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT.USAGE;
      return;
    }
    if (e instanceof FfmpegMissingError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT.FFMPEG;
      return;
    }
    if (e instanceof StoreError) {
      // A server already on that folder, or a folder it cannot write: the environment (3); a file it cannot read as its database: the setup (2).
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = e.code === ErrorCode.STORE_LOCKED || e.code === ErrorCode.STORE_UNWRITABLE ? EXIT.NETWORK : EXIT.USAGE;
      return;
    }
    if (e instanceof CamwireError) {
      const inUse = /EADDRINUSE/.test(e.message);
      process.stderr.write(`error: ${inUse ? `${e.message.replace(/:.*EADDRINUSE.*$/, '')}: the port is already in use; pick another one` : e.message}\n`);
      process.exitCode = e instanceof ConfigError || e.code.startsWith('CW_ERR_CONFIG') ? EXIT.USAGE : EXIT.NETWORK;
      return;
    }
    process.stderr.write(`error: ${e.stack ?? e.message}\n`);
    process.exitCode = EXIT.FAILED;
  }
}

const invoked = process.argv[1] && path.resolve(process.argv[1]).replace(/\.ts$/, '.js');
if (invoked && fs.realpathSync(invoked) === fs.realpathSync(new URL(import.meta.url).pathname)) void main(process.argv);
