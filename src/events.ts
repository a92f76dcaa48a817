/**
 * Public event payload types shared by Sender and Receiver (docs/api.md, "Events").
 */
import type { CamwireError } from './errors.js';
import type { MediaTypeName } from './protocol/constants.js';
import type { ParamTypeName, TransportName } from './protocol/constants.js';
import type { ParamValue, Rect } from './protocol/messages.js';

/**
 * Arguments of every connection event (connecting, connected, connectError, disconnect,
 * openChannel, closeChannel, sessionConnected, sessionDisconnected). docs/behaviour.md, section 2.
 */
export interface ConnectionEvent {
  /** The component's own session key, or 0n where docs/behaviour.md says the event carries 0n. */
  sessionKey: bigint;
  /** Empty, or exactly one type: the type of this connection or channel. */
  mediaTypes: MediaTypeName[];
  /** The peer's session key on the side that accepted the connection; 0n on the side that initiated it. */
  remoteSessionKey: bigint;
  transport: TransportName;
  /** The peer's address and port (for a receiver's pull session: the sender it pulls from). */
  remoteAddress: string;
  remotePort: number;
  /** The peer's client id, when known. */
  clientId: string;
  /** Why the connection failed or ended, on connectError and on an abnormal disconnect. */
  error?: CamwireError;
  /** A push Sender's connectError and abnormal disconnect: the next attempt comes after this many ms. */
  retryInMs?: number;
  /** disconnect: the server closed with 1001 and named another server to reconnect to (docs/protocol.md 3.5). */
  redirect?: { host: string; port: number };
}

/** Where a received message came from (second argument of every media event). */
export interface MessageMeta {
  /** Sender client id. */
  from: string;
  /** Addressee client id ('' if none). */
  to: string;
  /** Group id ('' if none). */
  group: string;
  /** 0 = the sender's main source; 1, 2, ... = extra sources. */
  mediaIndex: number;
  /** The sender's session key. */
  remoteSessionKey: bigint;
  /** The sender's sequence number of this message. */
  seq: number;
  /** The sender's clock when the message was created, ms since the epoch. */
  timestamp: number;
  transport: TransportName;
  remoteAddress: string;
  remotePort: number;
}

/** A received video frame. */
export interface VideoFrame {
  data: Buffer;
  /** 'jpeg' | 'png' | 'bmp' | 'hwl' or a codec name. */
  imageType: string;
  width: number;
  height: number;
  keyframe: boolean;
  /** Present in change-detection mode: where this image goes on the previous frame. */
  rect?: Rect;
  /** Sender clock, ms since the epoch. */
  timestamp: number;
}

/** A received audio chunk. */
export interface AudioChunk {
  data: Buffer;
  /** 'pcm_s16le' | 'opus' or a codec name. */
  codec: string;
  sampleRate: number;
  channels: number;
  /** Sender clock, ms since the epoch. */
  timestamp: number;
}

/** A received command. */
export interface CommandMessage {
  name: string;
  params: Record<string, ParamValue>;
  types: Record<string, ParamTypeName>;
}

/** The start of a file transfer. */
export interface FileStartInfo {
  fileId: number;
  name: string;
  /** Total file size in bytes. */
  size: number;
  /** Offset the sender starts from. */
  offset: number;
  /**
   * Asks the sender to continue from `offset` instead (the bytes before it are already here).
   * Only valid inside the fileStart listener. With `fileDir` set, the receiver does this itself.
   */
  resumeAt(offset: number): void;
}

/** A chunk of a file. */
export interface FileDataInfo {
  fileId: number;
  name: string;
  offset: number;
  size: number;
  data: Buffer;
}

/** The end of a file transfer. */
export interface FileEndInfo {
  fileId: number;
  name: string;
  size: number;
  /** Where the transfer started (after any resume). */
  offset: number;
  /** True when every byte arrived and the SHA-256 matched. */
  ok: boolean;
  /** SHA-256 (hex) of the bytes from `offset` to the end, as computed by the receiver. */
  sha256: string;
  /** With `fileDir`: the path of the completed file. */
  path?: string;
  error?: CamwireError;
}

/** What a video encode or decode hook is told: the frame's media header and frame fields (docs/api.md, Media hooks). */
export interface VideoHookInfo {
  mediaIndex: number;
  imageType: string;
  width: number;
  height: number;
  /** Change-detection mode: the rectangle this image is (the hook runs once per rectangle). */
  rect?: Rect;
  keyframe: boolean;
  /** Sender clock, ms since the epoch. */
  timestamp: number;
  /** Decode hooks: the sending client's id. */
  from?: string;
}

/** What an audio encode or decode hook is told: the chunk's media header and frame fields. */
export interface AudioHookInfo {
  mediaIndex: number;
  codec: string;
  sampleRate: number;
  channels: number;
  /** Sender clock, ms since the epoch. */
  timestamp: number;
  /** Decode hooks: the sending client's id. */
  from?: string;
}

/**
 * A media hook: transforms the image or sample bytes of one frame (never its media header), for
 * example to compress or encrypt them (encode) or to undo that (decode). It may return a Promise;
 * frames still leave (and are delivered) in order. A throw or rejection drops that one frame.
 */
export type MediaHook<I> = (payload: Buffer, info: I) => Buffer | Uint8Array | Promise<Buffer | Uint8Array>;

/**
 * A video frame or audio chunk as it arrived, before any decode hook (Receiver.onMedia): `data`
 * is the payload after the media header, still transformed when `transformed` is true.
 */
export type ReceivedMedia =
  | { mediaType: 'video'; frame: VideoFrame; transformed: boolean; meta: MessageMeta }
  | { mediaType: 'audio'; chunk: AudioChunk; transformed: boolean; meta: MessageMeta };

/** Where bad input came from. */
export interface PeerInfo {
  transport: TransportName;
  remoteAddress: string;
  remotePort: number;
}

/** Connection events every role raises (docs/behaviour.md, sections 3-4), plus bad input from peers. */
export interface ConnectionEvents {
  connecting: [ev: ConnectionEvent];
  connected: [ev: ConnectionEvent];
  /** The attempt failed (or, on the accepting side, the HELLO was refused). */
  connectError: [ev: ConnectionEvent];
  /** Raised exactly once per connected connection. */
  disconnect: [ev: ConnectionEvent];
  /** A peer sent bad input; its connection was closed with a typed error. */
  protocolError: [err: CamwireError, peer: PeerInfo];
}

/** A record with one value per media type. */
export function perMediaType<T>(f: (type: MediaTypeName) => T): Record<MediaTypeName, T> {
  return { video: f('video'), audio: f('audio'), command: f('command'), file: f('file'), data: f('data') };
}
