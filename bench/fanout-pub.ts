/**
 * Publishers of the fan-out bench (fanout.ts), in the bench's own process. Both lean ones write
 * the same way: everything sent in one event-loop turn goes to the socket as one write (corked
 * at the turn's first frame, uncorked in process.nextTick, as camwire's StreamLink does), each
 * frame as [its header, the payload] with the header built once per frame size.
 *  - raw: 'P', then [u32 BE length][payload] frames to the raw relay;
 *  - camwire (wire): a bare socket speaking the push protocol to the MediaServer: HELLO
 *    (role push, media type video, from 'pub'), WELCOME, then DATA video frames (protocol.md
 *    2.1 and 4.1: header + 7-byte video header, KEYFRAME, seq 0). Before that, a second push
 *    link of media type command sends one reliable RVS_DEFAULT_RECEIVERS {op: 'add', id} per
 *    reader and waits for every ACK (protocol.md section 9), so that frames with neither `to`
 *    nor `group` go to every reader. Both links answer the server's PINGs;
 *  - camwire (sender, --fanout-pub=sender): a library Sender (addDefaultReceiver for each
 *    reader, sendVideoFrame), for comparison.
 */
import { once } from 'node:events';
import net from 'node:net';
import { Flag, Kind, MediaType } from '../src/protocol/constants.js';
import { encodeFrameBuffer, encodeHeader } from '../src/protocol/frame.js';
import { decodeReason, encodeCommand, encodeJson, encodeVideoHeader } from '../src/protocol/messages.js';
import { FrameParser } from '../src/protocol/parser.js';
import type { Frame } from '../src/protocol/frame.js';
import { HOST, ROLE_PUBLISHER } from './fanout-raw.js';
import { dimsFor, sendVideo } from './pair.js';
import { loadCamwire } from './lib.js';

export interface Publisher {
  readonly label: string;
  /** Publishes one frame (the caller does not touch the buffer until every fast reader got it). */
  send(payload: Buffer): void;
  /** Frames the publisher dropped by policy so far (a library Sender's latest-wins), cumulative. */
  dropped(): number;
  /** Unexpected events (errors, disconnects). */
  readonly problems: string[];
  close(): Promise<void>;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port }, () => {
      s.off('error', reject);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Gathers the writes of one event-loop turn into one (cork now, uncork on the next tick). */
class TurnWriter {
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.sock.uncork();
  };
  constructor(readonly sock: net.Socket) {}

  write(header: Buffer, payload: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      this.sock.cork();
      process.nextTick(this.#uncork);
    }
    this.sock.write(header);
    this.sock.write(payload);
  }
}

function watch(s: net.Socket, who: string, problems: string[], closing: () => boolean): void {
  s.on('error', (e) => {
    if (!closing()) problems.push(`${who}: ${e.message}`);
  });
  s.on('close', () => {
    if (!closing()) problems.push(`${who} closed`);
  });
}

async function closeSockets(socks: net.Socket[]): Promise<void> {
  const closed = socks.filter((s) => !s.destroyed).map((s) => once(s, 'close'));
  for (const s of socks) s.destroy();
  await Promise.all(closed);
}

/** The raw relay's publisher. */
export async function rawPublisher(port: number): Promise<Publisher> {
  const problems: string[] = [];
  let closing = false;
  const sock = await connect(port);
  watch(sock, 'publisher', problems, () => closing);
  sock.write(Buffer.from([ROLE_PUBLISHER]));
  const out = new TurnWriter(sock);
  let prefix: Buffer = Buffer.alloc(4);
  let prefixFor = -1;
  return {
    label: 'raw',
    send(p: Buffer): void {
      if (p.length !== prefixFor) {
        prefix = Buffer.alloc(4);
        prefix.writeUInt32BE(p.length, 0);
        prefixFor = p.length;
      }
      out.write(prefix, p);
    },
    dropped: () => 0,
    problems,
    async close(): Promise<void> {
      closing = true;
      await closeSockets([sock]);
    },
  };
}

/** A push link on a bare socket: HELLO, WELCOME; answers PINGs; hands other frames to `onFrame`. */
async function pushLink(
  port: number,
  mediaType: number,
  key: bigint,
  problems: string[],
  closing: () => boolean,
  onFrame: (f: Frame) => void,
): Promise<net.Socket> {
  const sock = await connect(port);
  watch(sock, `publisher link (media type ${mediaType})`, problems, closing);
  await new Promise<void>((resolve, reject) => {
    let welcomed = false;
    const parser = new FrameParser({
      onFrame: (f) => {
        if (!welcomed) {
          if (f.kind === Kind.WELCOME) {
            welcomed = true;
            return resolve();
          }
          const why = f.kind === Kind.CLOSE ? decodeReason(f.payload) : { code: 0, reason: `kind ${f.kind}` };
          return reject(new Error(`publisher: no WELCOME (${why.code} ${why.reason})`));
        }
        if (f.kind === Kind.PING) sock.write(encodeFrameBuffer({ kind: Kind.PONG, mediaType, sessionKey: key, timestamp: f.timestamp }));
        else if (f.kind === Kind.CLOSE) {
          if (!closing()) problems.push(`publisher link (media type ${mediaType}): the server closed it (${decodeReason(f.payload).reason})`);
        } else onFrame(f);
      },
      onError: (e) => problems.push(`publisher: ${e.message}`),
    });
    sock.on('data', (c: Buffer) => parser.push(c));
    sock.once('close', () => reject(new Error('publisher: closed during the handshake')));
    sock.write(
      encodeFrameBuffer({
        kind: Kind.HELLO,
        mediaType,
        sessionKey: key,
        from: 'pub',
        timestamp: Date.now(),
        payload: encodeJson({ role: 'push', agent: 'camwire-fanout-bench' }),
      }),
    );
  });
  return sock;
}

/** The MediaServer's publisher on bare sockets ('pub'), with every reader id as a default receiver. */
export async function camwireWirePublisher(port: number, readerIds: string[]): Promise<Publisher> {
  const problems: string[] = [];
  let closing = false;
  const isClosing = (): boolean => closing;
  const key = BigInt(1 + Math.floor(Math.random() * 2 ** 48));
  // Default receivers over a command push link: reliable requests, all in flight at once.
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const cmd = await pushLink(port, MediaType.command, key, problems, isClosing, (f) => {
    const w = waiting.get(f.seq);
    if (!w) return;
    waiting.delete(f.seq);
    if (f.kind === Kind.ACK) w.resolve();
    else w.reject(new Error(`RVS_DEFAULT_RECEIVERS refused: ${decodeReason(f.payload).reason}`));
  });
  cmd.once('close', () => {
    for (const w of waiting.values()) w.reject(new Error('publisher: the command link closed before every RVS_DEFAULT_RECEIVERS was answered'));
    waiting.clear();
  });
  await Promise.all(
    readerIds.map(
      (id, k) =>
        new Promise<void>((resolve, reject) => {
          const seq = k + 1;
          waiting.set(seq, { resolve, reject });
          cmd.write(
            encodeFrameBuffer({
              kind: Kind.DATA,
              mediaType: MediaType.command,
              flags: Flag.ACK_REQUESTED,
              seq,
              sessionKey: key,
              timestamp: Date.now(),
              from: 'pub',
              payload: encodeCommand({ name: 'RVS_DEFAULT_RECEIVERS', params: { op: 'add', id } }),
            }),
          );
        }),
    ),
  );
  const video = await pushLink(port, MediaType.video, key, problems, isClosing, () => {});
  const out = new TurnWriter(video);
  let header: Buffer = Buffer.alloc(0);
  let headerFor = -1;
  return {
    label: 'camwire',
    send(p: Buffer): void {
      if (p.length !== headerFor) {
        const dims = dimsFor(p.length);
        const vh = encodeVideoHeader({ imageType: 'jpeg', width: dims.width, height: dims.height });
        header = encodeHeader(
          { kind: Kind.DATA, mediaType: MediaType.video, flags: Flag.KEYFRAME, seq: 0, sessionKey: key, timestamp: Date.now(), from: 'pub' },
          p.length,
          vh,
        );
        headerFor = p.length;
      }
      out.write(header, p);
    },
    dropped: () => 0,
    problems,
    async close(): Promise<void> {
      closing = true;
      await closeSockets([video, cmd]);
    },
  };
}

/** The MediaServer's publisher as a library Sender ('pub'). */
export async function camwireSenderPublisher(port: number, readerIds: string[]): Promise<Publisher> {
  const { Sender } = await loadCamwire();
  const problems: string[] = [];
  let closing = false;
  const pub = new Sender({ protocol: 'tcp', host: HOST, port, clientId: 'pub', idleTimeoutMs: 3_600_000, reconnect: false });
  pub.on('connectError', (ev) => !closing && problems.push(`publisher connectError: ${ev.error?.message}`));
  pub.on('disconnect', (ev) => ev.error && !closing && problems.push(`publisher disconnect: ${ev.error.message}`));
  await pub.start();
  for (let base = 0; base < readerIds.length; base += 16) {
    await Promise.all(readerIds.slice(base, base + 16).map((id) => pub.addDefaultReceiver(id)));
  }
  return {
    label: 'camwire (Sender)',
    send(p: Buffer): void {
      sendVideo(pub, p);
    },
    dropped: () => pub.stats.dropped.video,
    problems,
    async close(): Promise<void> {
      closing = true;
      await pub.stop();
    },
  };
}
