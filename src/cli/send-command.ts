/** `camwire send`: video, audio, a file, a command or stdin to a receiver or server (docs/cli.md). */
import fs from 'node:fs';
import type { Logger as Pino } from 'pino';
import { AddressInUseError, CamwireError, Sender, type ConnectionEvent } from '../index.js';
import { DEFAULT_PORTS } from '../protocol/constants.js';
import { assertFfmpeg, FfmpegAudio, FfmpegEncoderMissingError, FfmpegMissingError, FfmpegVideo, probeVideoCodec, type EncodedVideo, type VideoCodec, type VideoInput } from '../sources/ffmpeg.js';
import { encoderFor } from '../sources/ffmpeg-codec.js';
import { FfmpegIngest, isIngestUrl } from '../sources/ingest.js';
import { loadSharp } from '../sources/sharp.js';
import { TestPattern } from '../sources/test-pattern.js';
import { parseAddress, parseDialAddress, parseInteger, parseNumber, parseSize, UsageError } from './args.js';
import { connectTimeoutMs, EXIT, onSignal, tlsClient, type TlsFlags } from './common.js';
import { tlsServer } from './tls-files.js';
import { encryptHook, readKey } from './crypt.js';
import { StatusLine } from './sinks.js';
import { sendItems } from './send-items.js';
import { pixelSender, videoEncoding, type ChangeFlags } from './change-flags.js';
import { loadSharpFor } from '../media/change/image-codec.js';
import { ConnectionWatch, fatalReason, GiveUpError } from './watch.js';

export interface SendFlags extends TlsFlags, ChangeFlags {
  server?: string;
  listen?: string;
  protocol?: 'tcp' | 'udp' | 'http';
  proxy?: string;
  proxyTunnel?: 'auto' | 'always' | 'never';
  httpUpgrade?: 'auto' | 'never';
  id: string;
  to?: string;
  group?: string;
  groupPassword?: string;
  permanent?: boolean;
  user?: string;
  password?: string;
  testPattern?: boolean;
  input?: string;
  listenInput?: boolean;
  loop?: boolean;
  camera?: string | boolean;
  screen?: string | boolean;
  audioInput?: string;
  microphone?: string | boolean;
  audioCodec: string;
  size: string;
  fps: string;
  quality: string;
  codec: VideoCodec;
  keyint?: string;
  bitrate?: string;
  file?: string;
  offset?: string;
  command?: string;
  param: string[];
  stdin?: boolean;
  timeout?: string;
  duration?: string;
  connectTimeout: string;
  mediaIndex: string;
  encryptKey?: string;
  logLevel: string;
}

export async function runSend(f: SendFlags, log: Pino): Promise<number> {
  if (!f.server === !f.listen) throw new UsageError('give either --server HOST:PORT (push to a receiver or server) or --listen [HOST:]PORT (serve pulling receivers)');
  const pull = Boolean(f.listen);
  const timeout = f.timeout ? parseInteger('--timeout', f.timeout, 1, 3_600_000) : undefined;
  const dialled = pull ? undefined : parseDialAddress('--server', f.server!, f.protocol);
  const addr = dialled ?? parseAddress('--listen', f.listen!.includes(':') ? f.listen! : `0.0.0.0:${f.listen}`, '0.0.0.0', true);
  const protocol = dialled?.protocol ?? f.protocol ?? 'tcp';
  const connectMs = connectTimeoutMs(f.connectTimeout);
  if (f.listenInput && !(f.input && isIngestUrl(f.input))) throw new UsageError('--listen-input needs --input rtmp://HOST:PORT/APP or srt://HOST:PORT: the address to take a publish on');
  if (f.listenInput && (f.audioInput || f.microphone)) throw new UsageError('--listen-input carries the publisher\'s own audio: leave out --audio-input and --microphone');
  // What cannot work is said before anything connects: an unreadable file, a missing ffmpeg.
  if (f.file) readableFile('--file', f.file);
  const encrypt = f.encryptKey ? encryptHook(readKey('--encrypt-key', f.encryptKey)) : undefined;
  const oneShot = f.file || f.command || f.stdin;
  const compressed = !oneShot && f.codec !== 'mjpeg';
  const video = videoEncoding(f);
  if (video && compressed) throw new UsageError(`--encoding change sends JPEG or PNG rectangles; it cannot be combined with --codec ${f.codec}: give one of them`);
  if (video && !oneShot) await loadSharpFor('--encoding change');
  if (!oneShot && (f.input || f.camera || f.screen || f.audioInput || f.microphone || compressed)) assertFfmpeg();
  // Then a local --input or --audio-input that is not there (ffmpeg itself is checked first: exit 4 names what to install).
  if (!oneShot && f.input) localInput('--input', f.input);
  if (!oneShot && f.audioInput) localInput('--audio-input', f.audioInput);
  // The encoder is checked before anything connects (an ffmpeg without libx264 is told so, by name).
  if (compressed) encoderFor(f.codec as Exclude<VideoCodec, 'mjpeg'>);
  // The test pattern needs sharp for JPEG; compressed, it goes to the encoder as raw pixels.
  if (!oneShot && !f.input && !f.camera && !f.screen && !compressed) await loadSharp();
  const sender = new Sender({
    video,
    protocol,
    connection: pull ? 'receiver-to-sender' : 'sender-to-receiver',
    host: addr.host,
    port: addr.port,
    clientId: f.id,
    to: f.to,
    group: f.group,
    proxy: f.proxy,
    proxyTunnel: f.proxyTunnel,
    httpUpgrade: f.httpUpgrade,
    tls: pull ? tlsServer(f) : (tlsClient(f) ?? (dialled?.tls ? {} : undefined)),
    auth: f.user ? { user: f.user, password: f.password } : undefined,
    timeouts: timeout === undefined ? undefined : { command: timeout, data: timeout, file: timeout },
    encodeVideo: encrypt,
    encodeAudio: encrypt,
    logger: log,
  });
  sender.on('encodeError', (err) => log.warn({ err: err.message }, 'frame dropped'));
  logRetries(sender, log, f.server ?? '', f.proxy);
  // A pushing sender dials: a refusal no retry fixes, or a peer not reached in time, ends it.
  const hint = protocol === 'udp' ? `no answer over UDP: check that it listens on UDP port ${addr.port} (a MediaServer's default is ${DEFAULT_PORTS.udp})` : undefined;
  const watch = pull ? undefined : new ConnectionWatch({ target: f.server!, connectTimeoutMs: connectMs, mode: 'links', hint, proxy: f.proxy, tls: Boolean(f.tls || f.tlsCa || f.insecure || dialled?.tls) });
  watch?.attach(sender);
  const guarded = <T>(p: Promise<T>): Promise<T> => (watch ? watch.race(p) : p);
  try {
    return await sendWith(sender, f, { pull, addr, protocol, watch, guarded, log });
  } finally {
    watch?.stop();
  }
}

/**
 * Connection trouble in the log: a refusal that ends the command is said once, as its error
 * line; a retry is one warning with the next delay, and a failure already warned about (any media
 * type) only a debug line until a connection succeeds.
 */
function logRetries(sender: Sender, log: Pino, target: string, proxy?: string): void {
  // Every reason warned about since the last success: a peer that fails two ways in turn (closed, reset) is not warned about at each retry.
  const warned = new Set<string>();
  const retry = (ev: ConnectionEvent, msg: string): void => {
    const err = ev.error?.message ?? 'failed';
    const line = { type: ev.mediaTypes[0], to: `${ev.remoteAddress}:${ev.remotePort}`, err, retryInMs: ev.retryInMs };
    const text = `${msg} in ${((ev.retryInMs ?? 0) / 1000).toFixed(1)} s`;
    if (warned.has(err)) log.debug(line, text);
    else log.warn(line, text);
    // Bounded: reasons that change at every attempt are warned about again after 32 of them.
    if (warned.size >= 32) warned.clear();
    warned.add(err);
  };
  // Without retryInMs the lane is closing (the sender stops): nothing to report.
  sender.on('connectError', (ev) => ev.retryInMs !== undefined && !fatalReason(ev.error, target, proxy) && retry(ev, 'cannot connect; retrying'));
  sender.on('disconnect', (ev) => {
    if (!ev.error) return;
    if (ev.retryInMs !== undefined) retry(ev, 'disconnected; reconnecting');
    // A pull channel (send --listen): the reader comes back on its own, or not.
    else log.warn({ type: ev.mediaTypes[0], peer: ev.clientId || undefined, err: ev.error.message }, 'reader disconnected');
  });
  sender.on('connected', (ev: ConnectionEvent) => {
    warned.clear();
    log.debug({ type: ev.mediaTypes[0], peer: ev.clientId }, 'connected');
  });
}

/** A bitrate: bits per second, with an optional k or M (1000, 1000000). */
function parseBitrate(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1e3 : 1e6) : 1) : NaN;
  if (!(n >= 10000 && n <= 1e9)) throw new UsageError(`--bitrate: expected bits per second from 10k to 1000M, e.g. 1M or 800k, got ${JSON.stringify(v)}`);
  return Math.round(n);
}

/** The file behind `flag` must be a readable file: otherwise a usage error (exit 2), before anything starts. */
function readableFile(flag: string, file: string): void {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    if (!fs.statSync(file).isFile()) throw new UsageError(`${flag}: ${file} is not a file`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
}

/**
 * An ffmpeg input without a scheme (`rtsp:`, `pipe:`, ...) is a local path: one that cannot be
 * read is a usage error before anything connects, as for --file. A pattern (`img%03d.jpg`) is
 * ffmpeg's to expand.
 */
function localInput(flag: string, input: string): void {
  if (/^[a-z][a-z0-9+.-]*:/i.test(input) || input.includes('%')) return;
  try {
    fs.accessSync(input, fs.constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${flag}: cannot read ${input}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
}

interface SendContext {
  pull: boolean;
  addr: { host: string; port: number };
  protocol: string;
  watch: ConnectionWatch | undefined;
  guarded: <T>(p: Promise<T>) => Promise<T>;
  log: Pino;
}

async function sendWith(sender: Sender, f: SendFlags, { pull, addr, protocol, watch, guarded }: SendContext): Promise<number> {
  await sender.start();
  if (pull) process.stdout.write(`serving pull receivers on ${addr.host}:${sender.port} (${protocol})\n`);
  // Through a server, only members speak in a group: join it first.
  if (f.group && !pull) {
    try {
      await guarded(sender.joinGroup(f.group, { password: f.groupPassword, permanent: f.permanent === true }));
    } catch (err) {
      await sender.stop();
      if (err instanceof GiveUpError) throw err;
      throw new CamwireError((err as CamwireError).code ?? "CW_ERR_SERVER_REFUSED", `cannot join group ${f.group}: ${(err as Error).message.replace(/^RVS_\w+ refused by the server: /, "")}`);
    }
  }
  const mediaIndex = parseNumber('--media-index', f.mediaIndex, 0, 65535);

  // One-shot items: a file, a command, stdin as data. The process exits when they are acknowledged.
  if (f.file || f.command || f.stdin) return sendItems(sender, f, guarded, mediaIndex);

  // Streaming: video (test pattern, ffmpeg input, camera, screen) and optional audio.
  const { width, height } = parseSize('--size', f.size);
  const fps = parseNumber('--fps', f.fps, 1, 120);
  const quality = parseNumber('--quality', f.quality, 1, 100);
  const stops: Array<() => void> = [];
  const status = new StatusLine();
  let frames = 0;
  let bytes = 0;
  let changeError: ((err: Error) => void) | undefined;
  // Change mode: each frame as pixels, only what changed sent; else each JPEG as it is.
  const send = f.encoding === 'change'
    ? pixelSender(sender, mediaIndex, (n) => ((frames += n > 0 ? 1 : 0), (bytes += n)), (err) => changeError?.(err))
    : (jpeg: Buffer, timestamp = Date.now()): void => {
        frames++;
        bytes += jpeg.length;
        sender.sendVideoFrame(jpeg, { imageType: 'jpeg', width, height, mediaIndex, timestamp });
      };
  // Compressed: the codec string names the codec; the keyframe flag marks IDR / key frames (docs/protocol.md, 4.1).
  const sendEncoded = (v: EncodedVideo): void => {
    frames++;
    bytes += v.data.length;
    sender.sendVideoFrame(v.data, { imageType: v.codec, keyframe: v.keyframe, width: v.width, height: v.height, mediaIndex, timestamp: v.timestamp });
  };
  const codec = f.codec;
  const keyint = f.keyint ? parseInteger('--keyint', f.keyint, 1, 10000) : undefined;
  const bitrate = f.bitrate ? parseBitrate(f.bitrate) : undefined;
  let input: VideoInput | undefined;
  if (f.listenInput) input = undefined;
  else if (f.input) input = { kind: 'url', url: f.input, loop: f.loop };
  else if (f.camera) input = { kind: 'camera', device: typeof f.camera === 'string' ? f.camera : undefined };
  else if (f.screen) input = { kind: 'screen', display: typeof f.screen === 'string' ? f.screen : undefined };
  // An input already in H.264 is copied, not encoded again.
  const copy = !f.listenInput && codec === 'h264' && input?.kind === 'url' && (await probeVideoCodec(input.url)) === 'h264';
  if (copy) process.stdout.write(`copying the input's H.264 as it is (no re-encoding; --size and --fps do not apply)\n`);
  // Set once the command stops its sources: what they exit with then is the stop, not a failure.
  let stopping = false;
  const failed = new Promise<number>((resolve) => {
    changeError = (err) => {
      process.stderr.write(`error: ${err.message}\n`);
      resolve(EXIT.FAILED);
    };
    const onError = (err: Error): void => {
      process.stderr.write(`error: ${err.message}\n`);
      resolve(err instanceof FfmpegMissingError || err instanceof FfmpegEncoderMissingError ? EXIT.FFMPEG : EXIT.FAILED);
    };
    // The test pattern, compressed: its raw pixels go through ffmpeg's encoder, each frame with its capture time.
    const encoder = !input && !f.listenInput && codec !== 'mjpeg' ? new FfmpegVideo({ input: { kind: 'rgba-pipe', width, height, fps }, codec, keyint: keyint ?? fps * 2, bitrate, fps }) : undefined;
    if (encoder) {
      encoder.on('video', sendEncoded);
      encoder.on('error', onError);
      encoder.on('exit', (code, stderr) => {
        if (code !== 0 && code !== null) process.stderr.write(`error: ffmpeg exited with ${code}${stderr ? `: ${stderr}` : ''}\n`);
        resolve(code === 0 || code === null ? EXIT.OK : EXIT.FAILED);
      });
      encoder.start();
      stops.push(() => encoder.stop());
    }
    if (f.listenInput) {
      // A publish from OBS or any RTMP/SRT publisher: its H.264 as it came, its audio as Opus.
      const ingest = new FfmpegIngest({ url: f.input! });
      // The group of pictures that starts a publish waits in the Sender's video queue, behind its
      // keyframe, while the Sender connects (docs/behaviour.md, section 1).
      ingest.on('video', (v) => {
        frames++;
        bytes += v.data.length;
        sender.sendVideoFrame(v.data, { imageType: v.imageType, keyframe: v.keyframe, width: v.width, height: v.height, mediaIndex, timestamp: v.timestamp });
      });
      ingest.on('audio', (p, timestamp) => sender.sendAudio(p, { codec: 'opus', sampleRate: 48000, channels: 2, mediaIndex, timestamp }));
      ingest.on('publish', () => process.stdout.write('publisher connected\n'));
      ingest.on('unpublish', () => process.stdout.write(`publisher left; waiting for a publish on ${f.input}\n`));
      ingest.on('error', (err) => {
        process.stderr.write(`error: ${err.message}\n`);
        resolve(err instanceof FfmpegMissingError ? EXIT.FFMPEG : err instanceof AddressInUseError ? EXIT.NETWORK : EXIT.FAILED);
      });
      ingest.on('listening', () => process.stdout.write(`waiting for a publish on ${f.input}\n`));
      ingest.start();
      stops.push(() => ingest.stop());
    } else if (input) {
      const src = new FfmpegVideo({ input, width, height, fps, quality: Math.max(2, Math.round(31 - (quality / 100) * 29)), codec, keyint, bitrate, copy });
      src.on('frame', (jpeg) => send(jpeg));
      src.on('video', sendEncoded);
      src.on('error', onError);
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
      pattern.start(
        (image, info) => (encoder ? encoder.write(image, info.timestamp) : send(image, info.timestamp)),
        (err) => {
          process.stderr.write(`error: ${err.message}\n`);
          resolve(EXIT.FFMPEG);
        },
        encoder ? 'rgba' : 'jpeg',
      );
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
      // An audio source that fails (no such ALSA device, a file ffmpeg cannot read) ends the command:
      // streaming on without the audio asked for would hide it. One that ends normally leaves the video going.
      audio.on('exit', (code, stderr) => {
        if (stopping || code === 0 || code === null) return;
        process.stderr.write(`error: ${f.audioInput ? '--audio-input' : '--microphone'}: ffmpeg exited with ${code}${stderr ? `: ${stderr}` : ''}\n`);
        resolve(EXIT.FAILED);
      });
      audio.start();
      stops.push(() => audio.stop());
    }
  });
  const tick = setInterval(() => {
    const s = sender.stats;
    // Frames that go nowhere are not "sent": say what the sender waits for instead.
    if (pull && s.channels === 0) status.line(`waiting for a reader on ${addr.host}:${sender.port}`);
    else if (watch && !watch.connected) status.line(`not connected to ${f.server}${watch.lastError ? ` (${watch.lastError})` : ''}; retrying`);
    else status.line(`sending ${frames} fps, ${((bytes * 8) / 1e6).toFixed(2)} Mbit/s, dropped ${s.dropped.video}${pull ? `, ${s.channels} channel(s)` : ''}`);
    frames = 0;
    bytes = 0;
  }, 1000);
  const stop = async (): Promise<void> => {
    stopping = true;
    clearInterval(tick);
    for (const s of stops) s();
    status.done();
    await sender.stop();
  };
  onSignal(stop);
  const duration = f.duration ? parseNumber('--duration', f.duration, 0.1, 1e9) * 1000 : 0;
  const gaveUp = watch?.gaveUp.then((e) => {
    status.done();
    process.stderr.write(`error: ${e.message}\n`);
    return EXIT.NETWORK;
  });
  let timer: NodeJS.Timeout | undefined;
  const ends = [failed, ...(gaveUp ? [gaveUp] : []), ...(duration ? [new Promise<number>((r) => (timer = setTimeout(() => r(EXIT.OK), duration)))] : [])];
  let code = await Promise.race(ends);
  clearTimeout(timer);
  // Streaming to a peer that was never reached is no success, even when --duration ran out.
  const never = code === EXIT.OK ? watch?.neverReached() : undefined;
  if (never) {
    status.done();
    process.stderr.write(`error: ${never.message}\n`);
    code = EXIT.NETWORK;
  }
  await stop();
  return code;
}
