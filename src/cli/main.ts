#!/usr/bin/env node
/**
 * The camwire command line: `server`, `send`, `receive` and `demo`. Thin: parse argv, build
 * options, call the library, map failures to exit codes (docs/cli.md).
 */
import { Command, Option } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError, ConfigError, ErrorCode, MEDIA_TYPES, StoreError } from '../index.js';
import { FfmpegEncoderMissingError, FfmpegMissingError } from '../sources/ffmpeg.js';
import { SharpMissingError } from '../sources/sharp.js';
import { UsageError } from './args.js';
import { EXIT, connectionFlags, logger } from './common.js';
import { LOG_FORMATS, type LogFormat } from './log.js';
import { LOG_LEVELS, SERVER_DEFAULTS } from './config.js';
// `send` and `receive` (their modules, and the progress bars only they draw) load when one of
// them runs: `camwire server` and `--help` do not load them.
import type { ReceiveFlags } from './receive-command.js';
import type { SendFlags } from './send-command.js';
import { EXAMPLES } from './examples.js';
import { demoAction, serverAction } from './server-command.js';

export { EXIT };

/** The package's version, from its package.json (two folders above dist/cli/). */
function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** `--log-level`: one of pino's levels (commander refuses others, exit 2); the server's has no default, so its config file and environment can set it. */
function logLevel(def?: string): Option {
  const o = new Option('--log-level <level>', `log level (logs go to stderr)${def === undefined ? `; default ${SERVER_DEFAULTS.logLevel}` : ''}`).choices(LOG_LEVELS);
  return def === undefined ? o : o.default(def);
}

function logFormat(): Option {
  return new Option('--log-format <format>', 'logs as readable lines (pretty) or JSON lines; auto = pretty on a terminal, JSON otherwise').choices(LOG_FORMATS).default('auto');
}

function program(): Command {
  const p = new Command('camwire')
    .description('Send live video, audio, commands, files and data between applications (docs/cli.md).')
    .version(`camwire ${version()}`, '-V, --version', 'print the version and exit')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', examples(EXAMPLES.root))
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
    .option('--metrics-per-client', 'add per-client series (a client label) to /metrics; mind the cardinality')
    .option('--cluster <urls>', 'join a cluster of servers over NATS (JetStream on): nats://host:4222[,nats://...] (docs/cluster.md)')
    .option('--cluster-name <name>', 'this node\'s name in the cluster (default <hostname>-<pid>-<random>)')
    .option('--cluster-prefix <prefix>', 'NATS subject and bucket prefix, so clusters can share one NATS (default camwire)')
    .option('--record <dir>', 'record every source (video and audio, true timing) into DIR/<client>/, in segments')
    .option('--record-segment <duration>', 'with --record: segment length, cut at a keyframe (default 60s)')
    .option('--record-max-age <duration>', 'with --record: delete segments older than this (e.g. 7d)')
    .option('--record-max-bytes <size>', 'with --record: delete the oldest segments beyond this many bytes in all (e.g. 50G)')
    .addOption(new Option('--record-format <format>', 'with --record: container').choices(['mkv', 'mp4']))
    .addOption(logLevel())
    .addOption(logFormat())
    .addHelpText('after', examples(EXAMPLES.server))
    .action(serverAction);
  connectionFlags(p.command('send'))
    .description('send video (test pattern, ffmpeg input, camera, screen), audio, a file, a command or stdin')
    .option('--server <address>', 'push to a receiver or MediaServer: host:port, or tcp://, udp://, http(s)://host[:port] (the scheme sets --protocol; no port = its default)')
    .option('--listen <[host:]port>', 'instead: listen and serve receivers that pull (receiver-to-sender)')
    .option('--to <clientId>', 'addressee (through a server)')
    .option('--group <groupId>', 'send to this group (through a server; joins it first)')
    .option('--group-password <password>', 'the group\'s password, if it has one')
    .option('--permanent', 'with --group: join as a permanent member (a member while offline, and after server restarts)')
    .option('--test-pattern', 'send the built-in test pattern (the default video source)')
    .option('--input <url|file>', 'video from any ffmpeg input: a file, rtsp://camera/...')
    .option('--listen-input', 'with --input rtmp://HOST:PORT/APP or srt://HOST:PORT: listen there for a publish (OBS Studio) and forward its H.264 as it came, its audio as Opus')
    .option('--loop', 'with --input FILE: loop the file')
    .option('--camera [device]', 'video from a V4L2 camera (default /dev/video0), via ffmpeg')
    .option('--screen [display]', 'video from the X11 screen, via ffmpeg')
    .option('--audio-input <url|file>', 'also send audio (PCM s16le 48 kHz mono) from an ffmpeg input')
    .option('--microphone [device]', 'also send audio from an ALSA microphone (default "default"), via ffmpeg')
    .addOption(new Option('--audio-codec <codec>', 'audio as raw PCM or as 20 ms Opus packets').choices(['pcm_s16le', 'opus']).default('pcm_s16le'))
    .option('--size <WxH>', 'video size', '640x360')
    .option('--fps <n>', 'frames per second', '15')
    .option('--quality <1-100>', 'JPEG quality', '70')
    .addOption(new Option('--codec <codec>', 'video codec: mjpeg (JPEG frames), or compressed through ffmpeg: h264, vp8, vp9, av1 (an --input already in H.264 is copied with --codec h264)').choices(['mjpeg', 'h264', 'vp8', 'vp9', 'av1']).default('mjpeg'))
    .option('--keyint <frames>', 'with a compressed --codec: frames between keyframes, at most (default 2 s worth of --fps)')
    .option('--bitrate <bits/s>', 'with a compressed --codec: target bitrate, e.g. 1M (default constant quality)')
    .addOption(new Option('--encoding <mode>', 'video: whole frames, or change detection (only the changed rectangles)').choices(['frames', 'change']).default('frames'))
    .option('--lossless', 'with --encoding change: rectangles as PNG, not JPEG')
    .option('--pixel-color-threshold <n>', 'with --encoding change: a pixel changed when (|dR|+|dG|+|dB|)/3 exceeds it; -1 = use --pixel-color-threshold-rgb (default 8)')
    .option('--pixel-color-threshold-rgb <r,g,b>', 'with --encoding change: per-channel thresholds (default 8,8,8)')
    .option('--min-change-area-size <n>', 'with --encoding change: areas with fewer changed pixels are not sent (default 10)')
    .option('--full-frame-interval <n>', 'with --encoding change: a whole frame every n frames; 0 = only when needed (default 0)')
    .option('--frame-difference-interval <n>', 'with --encoding change: chains of n frames, a whole frame then n-1 differences; 0 = no limit (default 0)')
    .option('--media-index <n>', 'media index (0 = main source)', '0')
    .option('--file <path>', 'send this file (chunked, acknowledged, SHA-256 checked), then exit')
    .option('--offset <bytes>', 'with --file: start at this byte')
    .option('--command <name>', 'send this command, then exit')
    .option('--param <key=value...>', 'with --command: parameters', [])
    .option('--stdin', 'send standard input as one data blob, then exit')
    .option('--timeout <ms>', 'give up on an unacknowledged command, file chunk or data after this long (default 15000 / 10000)')
    .option('--duration <seconds>', 'stop streaming after this long')
    .option('--encrypt-key <file>', 'encrypt every video frame and audio chunk with AES-256-GCM and this 256-bit key (32 bytes, 64 hex digits or base64); a server relays it without the key')
    .addOption(logLevel('warn'))
    .addOption(logFormat())
    .addHelpText('after', examples(EXAMPLES.send))
    .action(async (o: SendFlags & { logFormat: LogFormat }) => {
      const { runSend } = await import('./send-command.js');
      process.exitCode = await runSend(o, logger(o.logLevel, o.logFormat));
      endSoon();
    });
  connectionFlags(p.command('receive'))
    .description('receive: print commands, data and events; save, play or serve video; write files to a folder')
    .option('--listen <[host:]port>', 'take pushes on this port (sender-to-receiver)')
    .option('--from <address>', 'pull from a sender that listens (receiver-to-sender): host:port, tcp://... or http(s)://...')
    .option('--server <address>', 'pull from a MediaServer (give --id): host:port, tcp://host[:7700] or http(s)://host[:7780]')
    .option('--types <list>', 'media types to receive', MEDIA_TYPES.join(','))
    .option('--save <file>', 'save video: .mjpeg as is, .mp4/.mkv through ffmpeg')
    .option('--play', 'play video with ffplay')
    .option('--files <dir>', 'write received files into this folder (resumable)')
    .option('--max-file-size <size>', 'refuse files larger than this: 500M, 8G, or unlimited (default 4G)')
    .option('--mjpeg-port <port>', 'serve the video as MJPEG over HTTP on this port (0 = any)')
    .option('--count <n>', 'exit after this many video frames')
    .option('--decrypt-key <file>', 'decrypt video and audio sent with --encrypt-key (the same key file)')
    .option('--forward <address>', 'also send the video and audio received on (not decoded: encrypted stays encrypted) to a receiver or MediaServer, as --id: a hub')
    .option('--forward-to <clientId>', 'with --forward: the addressee on the next hop')
    .option('--forward-from <clientId>', 'with --forward: only the media of this sender (default: every sender)')
    .option('--quiet', 'print nothing per message')
    .addOption(logLevel('warn'))
    .addOption(logFormat())
    .addHelpText('after', examples(EXAMPLES.receive))
    .action(async (o: ReceiveFlags & { logFormat: LogFormat }) => {
      const { runReceive } = await import('./receive-command.js');
      process.exitCode = await runReceive(o, logger(o.logLevel, o.logFormat));
      endSoon();
    });
  p.command('demo')
    .description('what `npm start` runs: a MediaServer with its viewer and a test-pattern sender')
    .option('--http-port <port>', 'viewer port', String(SERVER_DEFAULTS.httpPort))
    .option('--tcp-port <port>', 'TCP port', String(SERVER_DEFAULTS.tcpPort))
    .addHelpText('after', examples(EXAMPLES.demo))
    .action(demoAction);
  return p;
}

/** What an operator does about a store the server cannot use (docs/cli.md, Restarts). */
const STORE_FIX: Record<string, string> = {
  [ErrorCode.STORE_LOCKED]: '; give each server its own --data-dir (dataDir in a config file), or --memory',
  [ErrorCode.STORE_UNWRITABLE]: '; give --data-dir a folder this user can write, or --memory',
};

/**
 * `send` and `receive` have finished their work and stopped everything they started: the process
 * ends within 2 s even if a handle still holds the event loop (a user asked for one transfer or
 * `--count` frames, and waits for the prompt).
 */
function endSoon(): void {
  setTimeout(() => process.exit(), 2000).unref();
}

/**
 * Standard output whose reader went away (`camwire --help | head -3`, `camwire receive ... | head`;
 * reported at a write, or when the system signals the closed pipe): a running command (send,
 * receive, server) stops as on Ctrl-C (a recording is finished, peers get a CLOSE); anything else
 * just ends, with the exit code it has. Unix tools end quietly there; Node's default is an
 * unhandled 'error' with a stack trace (docs/cli.md, "Exit codes").
 */
function quietOnBrokenPipe(): void {
  let broken = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    if (broken) return;
    broken = true;
    if (process.listenerCount('SIGINT') > 0) process.emit('SIGINT', 'SIGINT');
    else process.exit(process.exitCode ?? EXIT.OK);
  });
}

/** Runs the CLI; resolves with the exit code for errors that happen before long-running work. */
export async function main(argv: string[]): Promise<void> {
  quietOnBrokenPipe();
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
    if (e instanceof FfmpegMissingError || e instanceof FfmpegEncoderMissingError || e instanceof SharpMissingError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT.FFMPEG;
      return;
    }
    if (e instanceof StoreError) {
      // A server already on that folder, or a folder it cannot write: the environment (3); a file it cannot read as its database: the setup (2).
      process.stderr.write(`error: ${e.message.replace(/\.$/, '')}${STORE_FIX[e.code] ?? ''}\n`);
      process.exitCode = e.code === ErrorCode.STORE_LOCKED || e.code === ErrorCode.STORE_UNWRITABLE ? EXIT.NETWORK : EXIT.USAGE;
      return;
    }
    if (e instanceof CamwireError) {
      // A port in use names the port (CW_ERR_ADDRESS_IN_USE); a refused login or a peer not reached says so (cli/watch.ts).
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = e instanceof ConfigError || e.code.startsWith('CW_ERR_CONFIG') ? EXIT.USAGE : EXIT.NETWORK;
      return;
    }
    process.stderr.write(`error: ${e.stack ?? e.message}\n`);
    process.exitCode = EXIT.FAILED;
  } finally {
    // A command that failed must end even if something it started still holds the event loop.
    if (process.exitCode !== undefined && process.exitCode !== EXIT.OK) setTimeout(() => process.exit(), 2000).unref();
  }
}

const invoked = process.argv[1] && path.resolve(process.argv[1]).replace(/\.ts$/, '.js');
if (invoked && fs.realpathSync(invoked) === fs.realpathSync(new URL(import.meta.url).pathname)) void main(process.argv);
