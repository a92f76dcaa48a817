/** `camwire receive`: print commands, data and events; save, play or serve video; write files (docs/cli.md). */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger as Pino } from 'pino';
import { ErrorCode, MEDIA_TYPES, Receiver, Sender, type MediaTypeName } from '../index.js';
import { assertFfmpeg, FfmpegMissingError } from '../sources/ffmpeg.js';
import { parseAddress, parseBytes, parseDialAddress, parseNumber, parsePort, UsageError } from './args.js';
import { connectTimeoutMs, EXIT, onSignal, tlsClient, type TlsFlags } from './common.js';
import { tlsServer } from './tls-files.js';
import { decryptHook, readKey } from './crypt.js';
import { FrameSink, StatusLine } from './sinks.js';
import { ConnectionWatch } from './watch.js';

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

export interface ReceiveFlags extends TlsFlags {
  listen?: string;
  from?: string;
  server?: string;
  protocol?: 'tcp' | 'udp' | 'http';
  proxy?: string;
  proxyTunnel?: 'auto' | 'always' | 'never';
  httpUpgrade?: 'auto' | 'never';
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
  decryptKey?: string;
  forward?: string;
  forwardTo?: string;
  forwardFrom?: string;
  connectTimeout: string;
  logLevel: string;
}

export async function runReceive(f: ReceiveFlags, log: Pino): Promise<number> {
  const modes = [f.listen, f.from, f.server].filter(Boolean).length;
  if (modes !== 1) throw new UsageError('give one of --listen [HOST:]PORT (take pushes), --from HOST:PORT (pull from a sender) or --server HOST:PORT (pull from a MediaServer)');
  if (f.server && !f.id) throw new UsageError('--server needs --id: a MediaServer knows its clients by id');
  const types = f.types.split(',').map((t) => t.trim()) as MediaTypeName[];
  for (const t of types) if (!MEDIA_TYPES.includes(t)) throw new UsageError(`--types: unknown media type ${JSON.stringify(t)} (use ${MEDIA_TYPES.join(',')})`);
  const pull = !f.listen;
  const dialled = pull ? parseDialAddress(f.from ? '--from' : '--server', (f.from ?? f.server)!, f.protocol) : undefined;
  const addr = dialled ?? parseAddress('--listen', f.listen!.includes(':') ? f.listen! : `0.0.0.0:${f.listen}`, '0.0.0.0', true);
  const protocol = dialled?.protocol ?? f.protocol ?? 'tcp';
  if (pull && protocol === 'udp') throw new UsageError('--protocol udp works only with --listen: pulling needs tcp or http');
  const connectMs = connectTimeoutMs(f.connectTimeout);
  const decrypt = f.decryptKey ? decryptHook(readKey('--decrypt-key', f.decryptKey)) : undefined;
  if (!f.forward && (f.forwardTo || f.forwardFrom)) throw new UsageError('--forward-to and --forward-from go with --forward ADDRESS');
  const next = f.forward ? parseDialAddress('--forward', f.forward, undefined) : undefined;
  // ffmpeg and ffplay are checked before anything connects (a recording of compressed video needs no ffmpeg: only JPEG is transcoded).
  if (f.save && !/\.(mjpe?g|mp4|mkv|webm)$/i.test(f.save)) throw new UsageError(`--save ${f.save}: use .mjpeg (as received), .mp4, .mkv or .webm`);
  if (f.save) writableFolder('--save', f.save);
  if (f.play) assertFfmpeg('ffplay');
  const mjpegPort = f.mjpegPort ? (parsePort('--mjpeg-port', f.mjpegPort, false) as number) : undefined;
  if (mjpegPort && !pull && mjpegPort === addr.port) throw new UsageError(`--mjpeg-port ${mjpegPort} is also the --listen port: give them different ports`);
  const rx = new Receiver({
    protocol,
    connection: pull ? 'receiver-to-sender' : 'sender-to-receiver',
    host: pull ? undefined : addr.host,
    port: pull ? undefined : addr.port,
    senders: pull ? [{ host: addr.host, port: addr.port }] : [],
    clientId: f.id,
    receiveMediaTypes: types,
    fileDir: f.files,
    maxFileSize: f.maxFileSize === undefined ? undefined : parseBytes('--max-file-size', f.maxFileSize),
    proxy: f.proxy,
    proxyTunnel: f.proxyTunnel,
    httpUpgrade: f.httpUpgrade,
    tls: pull ? (tlsClient(f) ?? (dialled?.tls ? {} : undefined)) : tlsServer(f),
    auth: f.user ? { user: f.user, password: f.password } : undefined,
    decodeVideo: decrypt,
    decodeAudio: decrypt,
    logger: log,
    // Change-detection sources are composed: the sinks get whole pictures (plain JPEG passes as is).
    video: { compose: 'jpeg', quality: 85 },
  });
  // A hub: a Sender whose source is this Receiver sends what arrives on, as it came.
  const hub = next
    ? new Sender({
        protocol: next.protocol,
        host: next.host,
        port: next.port,
        tls: next.tls ? {} : undefined,
        clientId: f.id,
        to: f.forwardTo,
        auth: f.user ? { user: f.user, password: f.password } : undefined,
        source: { receiver: rx, from: f.forwardFrom },
        logger: log,
      })
    : undefined;
  hub?.on('connectError', (ev) => ev.retryInMs !== undefined && log.warn({ err: ev.error?.message, retryInMs: ev.retryInMs }, `cannot forward to ${f.forward}; retrying`));
  const out = (o: object): void => {
    if (!f.quiet) process.stdout.write(JSON.stringify(o, jsonValue) + '\n');
  };
  // Failures already printed for a remote since it last connected: the same one again, on every
  // retry of an outage, is not printed (docs/cli.md, Output); the status line says it goes on.
  const printed = new Map<string, Set<string>>();
  for (const name of ['connected', 'connectError', 'disconnect', 'sessionConnected', 'sessionDisconnected'] as const) {
    rx.on(name, (ev) => {
      // A pull attempt whose one channel failed aborts the others: one line for the cause, not one per channel.
      if (name === 'connectError' && ev.error?.code === ErrorCode.TRANSPORT_CLOSED) return;
      const remote = `${ev.remoteAddress}:${ev.remotePort}`;
      if (name === 'connected' || name === 'sessionConnected') printed.delete(remote);
      if ((name === 'connectError' || name === 'sessionDisconnected') && ev.error) {
        const seen = printed.get(remote) ?? new Set<string>();
        const key = `${name} ${ev.mediaTypes[0] ?? ''} ${ev.error.message}`;
        if (seen.has(key)) return;
        // Bounded: failures that differ at every attempt are printed again after 32 of them.
        if (seen.size >= 32) seen.clear();
        printed.set(remote, seen.add(key));
      }
      out({ event: name, type: ev.mediaTypes[0], peer: ev.clientId || undefined, remote, error: ev.error?.message });
    });
  }
  let reached: (code: number) => void = () => {};
  // A recording that fails, even while it is being finished after --count, is no success (docs/cli.md, Recording).
  let recordingFailed = false;
  const enough = new Promise<number>((r) => (reached = r));
  const sink = new FrameSink({
    save: f.save,
    play: f.play,
    mjpegPort,
    expect: { video: types.includes('video'), audio: types.includes('audio') },
    onWarning: (message) => log.warn(message),
    onError: (err) => {
      recordingFailed = true;
      process.stderr.write(`error: ${err.message}\n`);
      reached(err instanceof FfmpegMissingError ? EXIT.FFMPEG : EXIT.FAILED);
    },
  });
  await sink.start();
  if (sink.mjpegUrl) process.stdout.write(`mjpeg: ${sink.mjpegUrl}\n`);
  let videos = 0;
  const limit = f.count ? parseNumber('--count', f.count, 1, 1e12) : Infinity;
  let latency = 0;
  const counted = (timestamp: number): void => {
    videos++;
    // Whole milliseconds: an ffmpeg source stamps frames with fractions of one (docs/cli.md, status line).
    latency = Math.round(Date.now() - timestamp);
    if (videos >= limit) reached(EXIT.OK);
  };
  // A hub without the key that shows nothing counts what arrives: it decodes nothing (docs/api.md, Media hooks).
  if (f.forward && !decrypt && !f.save && !f.play && mjpegPort === undefined) rx.onMedia((m) => m.mediaType === 'video' && counted(m.frame.timestamp));
  else {
    rx.on('video', (v) => {
      sink.frame(v);
      counted(v.timestamp);
    });
  }
  // Frames that cannot be decoded: one line per sender and type, all counted in the status line.
  let undecodable = 0;
  const told = new Set<string>();
  rx.on('decodeError', (err, type, m) => {
    undecodable++;
    const key = `${m.from}|${type}`;
    if (told.has(key)) return;
    told.add(key);
    out({ event: 'decodeError', type, from: m.from, error: err.message });
    log.warn({ type, from: m.from, err: err.message }, decrypt ? 'cannot decrypt: is it the same key?' : 'encrypted media: give --decrypt-key');
  });
  rx.on('audio', (a) => sink.audio(a));
  rx.on('command', (c, m) => out({ command: c.name, params: c.params, from: m.from, mediaIndex: m.mediaIndex }));
  rx.on('data', (d, m) => out({ data: d.length, from: m.from, text: d.length <= 200 ? d.toString('utf8') : undefined }));
  rx.on('fileStart', (i, m) => out({ fileStart: i.name, size: i.size, offset: i.offset, from: m.from }));
  rx.on('fileEnd', (i, m) => out({ fileEnd: i.name, size: i.size, ok: i.ok, sha256: i.sha256, path: i.path, from: m.from, error: i.error?.message }));
  rx.on('protocolError', (err, peer) => log.warn({ err: err.message, code: err.code, peer }, 'bad input'));
  // Pulling dials: a refusal no retry fixes, or a sender not reached in time, ends the command.
  const target = (f.from ?? f.server)!;
  const watch = pull ? new ConnectionWatch({ target, connectTimeoutMs: connectMs, mode: 'session', proxy: f.proxy, tls: Boolean(f.tls || f.tlsCa || f.insecure || dialled?.tls) }) : undefined;
  watch?.attach(rx);
  let senders = 0;
  rx.on('connected', () => senders++);
  rx.on('disconnect', () => senders--);
  try {
    await rx.start();
  } catch (err) {
    // Whatever started before (the MJPEG port) must not keep the process alive.
    watch?.stop();
    await sink.stop();
    throw err;
  }
  if (!pull) process.stdout.write(`listening on ${addr.host}:${rx.port} (${protocol})\n`);
  if (hub) {
    await hub.start();
    process.stdout.write(`forwarding video and audio to ${f.forward}${f.forwardTo ? ` for ${f.forwardTo}` : ''}\n`);
  }
  const status = new StatusLine();
  let last = 0;
  let lastBytes = 0;
  const tick = setInterval(() => {
    const s = rx.stats;
    if (watch && !watch.connected) status.line(`not connected to ${target}${watch.lastError ? ` (${watch.lastError})` : ''}; retrying`);
    else if (!pull && senders <= 0 && videos === 0) status.line(`waiting for a sender on ${addr.host}:${rx.port}`);
    else status.line(
      `received ${videos - last} fps, ${((s.received.video.bytes - lastBytes) * 8 / 1e6).toFixed(2)} Mbit/s, latency ${latency} ms, ${s.received.video.items} video frames, ${s.received.command.items} commands${s.udp ? `, incomplete ${s.udp.incomplete}` : ''}${undecodable ? `, ${undecodable} not decodable` : ''}${sink.skipped ? `, ${sink.skipped} skipped by a busy output` : ''}${hub ? `, forwarded ${hub.stats.sent.video.items}` : ''}`,
    );
    lastBytes = s.received.video.bytes;
    last = videos;
  }, 1000);
  const stop = async (): Promise<void> => {
    clearInterval(tick);
    status.done();
    await hub?.stop();
    await rx.stop();
    await sink.stop();
  };
  // A recording that could not be finished makes the stop a failure (exit 1; its error line is out already).
  onSignal(async () => {
    await stop();
    if (recordingFailed) throw new Error('the recording failed');
  });
  const gaveUp = watch?.gaveUp.then((e) => {
    status.done();
    process.stderr.write(`error: ${e.message}\n`);
    return EXIT.NETWORK;
  });
  const code = await Promise.race([enough, ...(gaveUp ? [gaveUp] : [])]);
  watch?.stop();
  await stop();
  return code === EXIT.OK && recordingFailed ? EXIT.FAILED : code;
}

/** The folder `file` goes into must exist and be writable: otherwise a usage error (exit 2) before anything connects. */
function writableFolder(flag: string, file: string): void {
  const dir = path.dirname(path.resolve(file));
  try {
    if (!fs.statSync(dir).isDirectory()) throw new UsageError(`${flag} ${file}: ${dir} is not a folder`);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag} ${file}: cannot write into ${dir}: ${code === 'ENOENT' ? 'no such folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
}
