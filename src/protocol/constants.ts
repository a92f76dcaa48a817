/**
 * Wire constants of camwire protocol version 1 (docs/protocol.md).
 * Pure data: no I/O, no state.
 */

/** The protocol version this build speaks. */
export const PROTOCOL_VERSION = 1;

/** First two bytes of every frame: ASCII "CW". */
export const FRAME_MAGIC = 0x4357;
/** First two bytes of every UDP datagram: ASCII "CU". */
export const DATAGRAM_MAGIC = 0x4355;

/** A MediaServer's usual ports (the CLI's defaults; docs/cli.md): what a bare host in a `tcp://`, `udp://` or `http://` address means. */
export const DEFAULT_PORTS = { tcp: 7700, udp: 7701, http: 7780, https: 7780 } as const;

/** Size of the fixed part of a frame header (docs/protocol.md, section 2). */
export const FIXED_HEADER_SIZE = 36;
/** Size of a UDP fragment header (docs/protocol.md, section 5). */
export const DATAGRAM_HEADER_SIZE = 20;

/** Longest client id, group id or addressee id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 64;
/** Largest control payload (HELLO, WELCOME, ACK, NACK, CLOSE). */
export const MAX_CONTROL_PAYLOAD = 8 * 1024;
/** Default hard limit of a frame payload (a video frame of 4 MiB plus its media header fits). */
export const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;
/** Absolute ceiling for `maxPayload`; the length field could carry more, we never allow it. */
export const MAX_PAYLOAD_CEILING = 256 * 1024 * 1024;

/** Message kinds (docs/protocol.md, section 3). */
export const Kind = {
  HELLO: 1,
  WELCOME: 2,
  DATA: 3,
  ACK: 4,
  NACK: 5,
  PING: 6,
  PONG: 7,
  CLOSE: 8,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];
export const MAX_KIND = 8;

/** The five media types; 0 on frames that carry none. */
export const MediaType = {
  video: 1,
  audio: 2,
  command: 3,
  file: 4,
  data: 5,
} as const;
/** A media type name. */
export type MediaTypeName = keyof typeof MediaType;
/** Media type names in wire order. */
export const MEDIA_TYPES: readonly MediaTypeName[] = ['video', 'audio', 'command', 'file', 'data'];
/** Media type name for a wire code, or undefined. */
export function mediaTypeName(code: number): MediaTypeName | undefined {
  return code >= 1 && code <= 5 ? MEDIA_TYPES[code - 1] : undefined;
}

/** Frame flags (docs/protocol.md, section 2). */
export const Flag = {
  /** A video frame that can be decoded on its own. */
  KEYFRAME: 0x01,
  /** The sender wants an ACK or NACK for this frame (reliable types). */
  ACK_REQUESTED: 0x02,
  /**
   * Video and audio: the image or sample bytes after the media header went through the sender's
   * encode hook (compressed, encrypted); the receiver's decode hook undoes it. The media header
   * itself is never transformed (docs/protocol.md, 2.1 and 4).
   */
  TRANSFORMED: 0x04,
} as const;
export const KNOWN_FLAGS = 0x07;

/** Video image types (docs/protocol.md, section 4.1). 0 = a named codec. */
export const ImageType = {
  named: 0,
  jpeg: 1,
  hwl: 2,
  bmp: 3,
  png: 4,
} as const;
export type ImageTypeName = keyof typeof ImageType;

/** Audio codecs (docs/protocol.md, section 4.2). 0 = a named codec. */
export const AudioCodec = {
  named: 0,
  pcm_s16le: 1,
  opus: 2,
} as const;
export type AudioCodecName = keyof typeof AudioCodec;

/** Command parameter types (docs/protocol.md, section 4.3). */
export const ParamType = {
  string: 1,
  int: 2,
  float: 3,
  bool: 4,
  bytes: 5,
} as const;
export type ParamTypeName = keyof typeof ParamType;

/** File message operations (docs/protocol.md, section 4.4). */
export const FileOp = {
  START: 1,
  CHUNK: 2,
  END: 3,
  ABORT: 4,
} as const;

/** Largest value of a 48-bit size or offset field. */
export const MAX_U48 = 2 ** 48 - 1;

/** The transports a link runs over. */
export type TransportName = 'tcp' | 'udp' | 'http' | 'ws';
