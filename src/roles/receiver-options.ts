/**
 * The option, stats and event types of a Receiver (docs/api.md), and its file-limit defaults.
 * Re-exported by receiver.ts.
 */
import type { CamwireError } from '../errors.js';
import type { AudioHookInfo, MediaHook, VideoHookInfo } from '../events.js';
import type {
  AudioChunk,
  ConnectionEvents,
  CommandMessage,
  ConnectionEvent,
  FileDataInfo,
  FileEndInfo,
  FileStartInfo,
  MessageMeta,
  VideoFrame,
} from '../events.js';
import type { MediaTypeName } from '../protocol/constants.js';
import type { CommonOptions } from '../options.js';
import type { VideoComposeOptions } from './receiver-compose.js';
import type { ComposeStats } from '../media/change/video-composer.js';

export type { VideoComposeOptions } from './receiver-compose.js';
export type { ComposeStats } from '../media/change/video-composer.js';

/**
 * One entry of a receiver's `senders` list. Pull mode: a sender to connect to (host and port
 * required). Push mode: an accept filter (any field left out matches everything).
 */
export interface SenderEntry {
  host?: string;
  port?: number;
  /** The sender's client id: pull mode sends it as the addressee; push mode accepts only it. */
  clientId?: string;
  /** Push mode: accept only these media types from this sender. @default all */
  mediaTypes?: MediaTypeName[];
}

/** Options of a Receiver (docs/api.md). */
export interface ReceiverOptions extends CommonOptions {
  /** Pull targets (pull mode) or accept filters (push mode; empty = accept everyone). @default [] */
  senders?: SenderEntry[];
  /** Media types to receive; pull mode opens one channel for each. @default all five */
  receiveMediaTypes?: MediaTypeName[];
  /** Deliver RV_/RVS_ system commands to the application. @default false */
  showSystemCommands?: boolean;
  /** Write received files into this folder (resuming from partial files). @default none: events only */
  fileDir?: string;
  /**
   * Largest file a sender may announce (START); a larger one is refused (NACK 1204, the sender
   * gets CW_ERR_FILE_TOO_LARGE). Infinity = no limit. @default 4294967296 (4 GiB)
   */
  maxFileSize?: number;
  /**
   * With fileDir: free disk that must remain after a new transfer's bytes (and those still to
   * come of transfers in progress) are written; otherwise the START is refused (NACK 1205,
   * CW_ERR_FILE_NO_SPACE). @default 67108864 (64 MiB)
   */
  minFreeDiskBytes?: number;
  /** Push mode: most connections accepted at once. @default 1024 */
  maxLinks?: number;
  /** UDP: an incomplete frame is dropped (and counted) after this long. @default 2000 */
  reassemblyTimeoutMs?: number;
  /** UDP: memory for incomplete frames across all senders. @default 33554432 (32 MiB) */
  reassemblyBytes?: number;
  /**
   * Undoes a sender's encodeVideo on the image bytes of every TRANSFORMED video frame before the
   * `video` event. A throw or rejection drops that frame (decodeError event). Without it, a
   * TRANSFORMED frame is dropped with a decodeError. @default none
   */
  decodeVideo?: MediaHook<VideoHookInfo>;
  /** The same for the sample bytes of TRANSFORMED audio chunks. @default none */
  decodeAudio?: MediaHook<AudioHookInfo>;
  /** Change-detection video: compose the picture per source (docs/api.md). @default none */
  video?: VideoComposeOptions;
}

/** Counters of a Receiver. */
export interface ReceiverStats {
  received: Record<MediaTypeName, { items: number; bytes: number }>;
  /** Messages dropped: addressed to another id, a type not received, refused, or not decodable. */
  dropped: Record<MediaTypeName, number>;
  /** TRANSFORMED frames that could not be decoded (no hook, or it failed); also in `dropped`. */
  decodeErrors: { video: number; audio: number };
  /** Open links (push: accepted connections; pull: open channels). */
  links: number;
  /** UDP only: frames dropped because a fragment never came, and malformed datagrams. */
  udp?: { incomplete: number; corrupt: number };
  /** With `video.compose`: pictures delivered, rectangles placed, refused and dropped while waiting, full-frame requests sent. */
  compose?: ComposeStats;
}

/** Events of a Receiver. */
export interface ReceiverEvents extends ConnectionEvents {
  openChannel: [ev: ConnectionEvent];
  closeChannel: [ev: ConnectionEvent];
  sessionConnected: [ev: ConnectionEvent];
  sessionDisconnected: [ev: ConnectionEvent];
  video: [frame: VideoFrame, meta: MessageMeta];
  /** A TRANSFORMED frame could not be decoded (CW_ERR_MEDIA_DECODE; the hook's error as `cause`); it was dropped. */
  decodeError: [err: CamwireError, mediaType: 'video' | 'audio', meta: MessageMeta];
  audio: [chunk: AudioChunk, meta: MessageMeta];
  command: [cmd: CommandMessage, meta: MessageMeta];
  data: [data: Buffer, meta: MessageMeta];
  fileStart: [info: FileStartInfo, meta: MessageMeta];
  fileData: [info: FileDataInfo, meta: MessageMeta];
  fileEnd: [info: FileEndInfo, meta: MessageMeta];
  // From a MediaServer (docs/behaviour.md, section 5):
  /** Someone joined a group this client is in. */
  userJoinsGroup: [group: string, user: string, meta: MessageMeta];
  /** Someone left (or, if temporary, lost its connection to) a group this client is in. */
  userLeavesGroup: [group: string, user: string, meta: MessageMeta];
  /** Answer to getGroupUsers. */
  groupUsers: [group: string, users: string[], meta: MessageMeta];
  /** Answer to getGroupInfo (and to joinGroup). */
  groupInfo: [info: { group: string; owner: string; name: string }, meta: MessageMeta];
  /** Answer to getAllGroups. */
  allGroups: [groups: string[], meta: MessageMeta];
  /** Answer to getAllUsers. */
  allUsers: [users: string[], meta: MessageMeta];
  /** Answer to getAllOnlineUsers. */
  allOnlineUsers: [users: string[], meta: MessageMeta];
  /** A client that has this one on a contact list said hello (or came back). */
  userEnter: [user: string, meta: MessageMeta];
  /** A client that has this one on a contact list said goodbye, or its connection broke. */
  userExit: [user: string, meta: MessageMeta];
  /** A client asks for access to this client's media; allow with sender.allowMediaAccess(user). */
  mediaAccessRequest: [req: { user: string; group: string; dataType: number }, meta: MessageMeta];
  mediaAccessCancelRequest: [req: { user: string; group: string; dataType: number }, meta: MessageMeta];
  /** The server refused a request of this client's sender (the sender's promise rejects too). */
  serverError: [err: CamwireError, meta: MessageMeta];
}


/** Largest file a Receiver takes by default (maxFileSize). */
export const DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024 * 1024;
/** Free disk a Receiver with fileDir keeps by default (minFreeDiskBytes). */
export const DEFAULT_MIN_FREE_DISK = 64 * 1024 * 1024;
