/**
 * The option, result and event types of a Sender (docs/api.md): what its constructor and send
 * methods take, what they resolve with and which events it emits. Re-exported by sender.ts.
 */
import type { CamwireError } from '../errors.js';
import type { AudioHookInfo, ConnectionEvents, MediaHook, VideoHookInfo } from '../events.js';
import type { RelaySourceOptions } from './relay-source.js';
import type { MediaTypeName } from '../protocol/constants.js';
import type { Rect } from '../protocol/messages.js';
import type { CommonOptions } from '../options.js';
import type { PixelVideoStats, VideoEncodingOptions } from './change-video.js';

export type { PixelFrameOptions, PixelFrameResult, PixelVideoStats, VideoEncodingOptions } from './change-video.js';
export type { ChangeSettings } from '../media/change/settings.js';

/** Options of a Sender (docs/api.md). */
export interface SenderOptions extends CommonOptions {
  /** Default addressee client id of every message. @default '' */
  to?: string;
  /** Default group id of every message. @default '' */
  group?: string;
  /** Push mode: close a type's connection after this much idle time; 0 = after each item. @default 5000 */
  idleTimeoutMs?: number;
  /** Audio chunks queued per connection before the oldest is dropped. @default 50 */
  audioQueueChunks?: number;
  /** Audio bytes queued per connection before the oldest is dropped. @default 1638400 */
  audioQueueBytes?: number;
  /** Bytes of commands/files/data queued or unacknowledged per connection before sends are refused. @default { command: 819200, file: 10485760, data: 8192000 } */
  queueBytes?: Partial<Record<'command' | 'file' | 'data', number>>;
  /** Reliable items in flight (sent, not yet acknowledged) per connection. @default 16 (UDP: 64) */
  reliableWindow?: number;
  /** Bytes per file chunk. @default 65536 (UDP: one datagram, datagramSize - 300) */
  fileChunkSize?: number;
  /** Pull mode: most channels served at once. @default 256 */
  maxChannels?: number;
  /**
   * Transforms the image bytes of every video frame (once per frame, or per rectangle) before it
   * is sent, for example to compress or encrypt them; the frame is flagged TRANSFORMED. A throw or
   * rejection drops that frame (encodeError event). @default none
   */
  encodeVideo?: MediaHook<VideoHookInfo>;
  /** The same for the sample bytes of every audio chunk. @default none */
  encodeAudio?: MediaHook<AudioHookInfo>;
  /**
   * Sends on what a Receiver receives from one client (the original's VideoSource = a receiver):
   * its frames are forwarded as they came, not decoded and encoded again. @default none
   */
  source?: RelaySourceOptions;
  /** How sendVideoPixels encodes: whole frames, or change detection (rectangles). @default { encoding: 'frames' } */
  video?: VideoEncodingOptions;
}

/** Addressing of one message; overrides the sender's `to` and `group`. */
export interface SendOptions {
  to?: string;
  group?: string;
  /** 0 = main source; 1, 2, ... = extra sources. @default 0 */
  mediaIndex?: number;
}

/** Options of sendVideoFrame. */
export interface VideoSendOptions extends SendOptions {
  /** 'jpeg' | 'png' | 'bmp' | 'hwl' or a codec name. @default 'jpeg' */
  imageType?: string;
  width?: number;
  height?: number;
  /** Decodable on its own. @default true for jpeg/png/bmp/hwl, false for named codecs */
  keyframe?: boolean;
  /** Change-detection mode: where this image goes on the previous frame. */
  rect?: Rect;
  /** Change-detection mode: the frame's number in its source, 1, 2, ... (wrapping, skipping 0), so receivers see a lost one; 0 = none. @default 0 */
  seq?: number;
  /** ms since the epoch. @default Date.now() */
  timestamp?: number;
}

/** Options of sendAudio. */
export interface AudioSendOptions extends SendOptions {
  /** 'pcm_s16le' | 'opus' or a codec name. @default 'pcm_s16le' */
  codec?: string;
  /** @default 48000 */
  sampleRate?: number;
  /** @default 1 */
  channels?: number;
  /** ms since the epoch. @default Date.now() */
  timestamp?: number;
}

/** Options of sendFile. */
export interface FileSendOptions extends SendOptions {
  /** Start at this byte. @default 0 */
  offset?: number;
  /** Name the receiver sees. @default the file's base name */
  name?: string;
}

/** Result of a file transfer to one receiver. */
export interface FileSendResult {
  name: string;
  size: number;
  /** Where the transfer started: the requested offset, or the receiver's resume offset. */
  offset: number;
  bytesSent: number;
  /** SHA-256 (hex) of the bytes from `offset` to the end; the receiver verified it. */
  sha256: string;
}

/** Progress of a file transfer (acknowledged bytes). */
export interface FileProgress {
  fileId: number;
  name: string;
  size: number;
  offset: number;
  /** Bytes acknowledged by the receiver so far, from `offset`. */
  acked: number;
  /**
   * Bytes this transfer may keep unacknowledged now: `reliableWindow` x `fileChunkSize`, or, on a
   * reliable transport to a peer that announces its file window, a window sized to the path up
   * to that and to `queueBytes.file` (docs/protocol.md, 4.4).
   */
  window: number;
}

/** A group's owner and name, as the server reports them. */
export interface GroupInfo {
  group: string;
  owner: string;
  name: string;
}

/** Counters of a Sender. */
export interface SenderStats {
  sent: Record<MediaTypeName, { items: number; bytes: number }>;
  /** Video and audio dropped by the latest-wins and drop-oldest policies, or while disconnected. */
  dropped: Record<MediaTypeName, number>;
  /** Pull mode: channels being served. */
  channels: number;
  /** Frames dropped because an encode hook threw, rejected or returned no Buffer (also in `dropped`). */
  encodeErrors: { video: number; audio: number };
  /** sendVideoPixels: frames given, sent whole, sent as rectangles, unchanged (not sent), skipped (encoder behind). */
  pixels: PixelVideoStats;
}

/** Events of a Sender. */
export interface SenderEvents extends ConnectionEvents {
  fileProgress: [p: FileProgress];
  /** An encode hook failed (CW_ERR_MEDIA_ENCODE, the hook's error as `cause`); that frame was dropped. */
  encodeError: [err: CamwireError, mediaType: 'video' | 'audio', info: VideoHookInfo | AudioHookInfo];
  /** A receiver, or a MediaServer for one, asked for a full frame of source `mediaIndex` (change mode sends one with the next frame given). */
  fullFrameRequest: [ev: { mediaIndex: number }];
}
