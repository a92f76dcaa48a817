/**
 * The one catalogue of camwire errors. Every error has a stable string `code`
 * (documented in docs/errors.md); protocol errors also carry the close code
 * that is sent to the peer (docs/protocol.md, section 7).
 */

/** Close codes sent in a CLOSE frame (docs/protocol.md, section 7). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  IDLE: 1002,
  PROTOCOL_ERROR: 1100,
  UNSUPPORTED_VERSION: 1101,
  FRAME_TOO_LARGE: 1102,
  BAD_PAYLOAD: 1103,
  UNEXPECTED_MESSAGE: 1104,
  HANDSHAKE_TIMEOUT: 1105,
  REFUSED: 1200,
  NOT_ALLOWED: 1201,
  AUTH_FAILED: 1202,
  DUPLICATE_ID: 1203,
  /** NACK only: a file larger than the receiver takes (its `maxFileSize`). */
  TOO_LARGE: 1204,
  /** NACK only: no room for the file's bytes now (the receiver's free disk, a MediaServer's spool). */
  NO_SPACE: 1205,
  TIMEOUT: 1300,
  INTERNAL: 1500,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Base class of every error camwire raises. */
export class CamwireError extends Error {
  /** Stable machine-readable code, e.g. `CW_ERR_PROTOCOL_BAD_MAGIC`. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The peer sent bytes that break docs/protocol.md. Closes that one connection. */
export class ProtocolError extends CamwireError {
  /** The close code to send to the peer. */
  readonly closeCode: CloseCode;
  constructor(code: string, message: string, closeCode: CloseCode = CloseCode.PROTOCOL_ERROR, options?: ErrorOptions) {
    super(code, message, options);
    this.closeCode = closeCode;
  }
}

/** A socket-level failure: refused, reset, timed out, proxy failure. */
export class TransportError extends CamwireError {}

/** A port to listen on is taken (CW_ERR_ADDRESS_IN_USE): the message and `port`/`host` name it. */
export class AddressInUseError extends TransportError {
  readonly port: number;
  readonly host: string;
  /** A MediaServer's port: which of its listeners it was. */
  readonly transport: 'tcp' | 'udp' | 'http' | undefined;
  constructor(host: string, port: number, what = 'port', options?: ErrorOptions & { transport?: 'tcp' | 'udp' | 'http' }) {
    super(ErrorCode.ADDRESS_IN_USE, `${what} ${port} is already in use (${host}:${port}); pick another one or stop what uses it`, options);
    this.port = port;
    this.host = host;
    this.transport = options?.transport;
  }
}

/** The peer closed the connection with a close code, or refused the handshake. */
export class RemoteCloseError extends CamwireError {
  readonly closeCode: number;
  constructor(closeCode: number, reason: string) {
    super('CW_ERR_REMOTE_CLOSE', `peer closed the connection: ${closeCode} ${reason}`);
    this.closeCode = closeCode;
  }
}

/** A reliable item (command, file, data) was not acknowledged in time or was refused. */
export class DeliveryError extends CamwireError {
  /** Sequence number of the item that was not delivered. */
  readonly seq: number;
  constructor(code: string, message: string, seq: number, options?: ErrorOptions) {
    super(code, message, options);
    this.seq = seq;
  }
}

/** API misuse: a bad option or argument. Thrown synchronously. */
export class ConfigError extends CamwireError {}

/** The server's store could not be opened, or a write to it failed (docs/errors.md). */
export class StoreError extends CamwireError {
  /** The file or folder concerned, when there is one. */
  readonly path: string | undefined;
  constructor(code: string, message: string, path?: string, options?: ErrorOptions) {
    super(code, message, options);
    this.path = path;
  }
}

/** A MediaServer refused a group request: CW_ERR_GROUP_INVALID, _NOT_FOUND, _LIMIT or _PASSWORD. */
export class GroupError extends CamwireError {}

/** ffmpeg (or ffplay) is not on PATH (CW_ERR_FFMPEG_MISSING); the message says how to install it. */
export class FfmpegMissingError extends CamwireError {
  constructor(bin: string) {
    super(ErrorCode.FFMPEG_MISSING, `${bin} was not found. Install it: apt-get install ffmpeg (Debian/Ubuntu), dnf install ffmpeg (Fedora), brew install ffmpeg (macOS).`);
  }
}

/** A recording could not be written (CW_ERR_RECORD_FAILED) or cannot hold this media (CW_ERR_RECORD_UNSUPPORTED). */
export class RecordError extends CamwireError {
  /** The file concerned. */
  readonly path: string;
  constructor(code: string, message: string, path: string, options?: ErrorOptions) {
    super(code, message, options);
    this.path = path;
  }
}

/** The test pattern needs the optional package sharp, and it is not installed or cannot load (CW_ERR_SHARP_MISSING). */
export class SharpMissingError extends CamwireError {
  /** @param needs what needs sharp, for the message. */
  constructor(cause: unknown, needs = 'the test pattern') {
    const e = cause as { code?: string; message?: string } | undefined;
    const missing = e?.code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module) 'sharp'/.test(String(e?.message));
    super(
      ErrorCode.SHARP_MISSING,
      `${needs} needs the optional package sharp, which ${missing ? 'is not installed' : `cannot load (${String(e?.message).split('\n')[0]})`}: run npm install sharp`,
      { cause },
    );
  }
}

/** Error codes, grouped by area. */
export const ErrorCode = {
  PROTOCOL_BAD_MAGIC: 'CW_ERR_PROTOCOL_BAD_MAGIC',
  PROTOCOL_BAD_VERSION: 'CW_ERR_PROTOCOL_BAD_VERSION',
  PROTOCOL_BAD_KIND: 'CW_ERR_PROTOCOL_BAD_KIND',
  PROTOCOL_BAD_MEDIA_TYPE: 'CW_ERR_PROTOCOL_BAD_MEDIA_TYPE',
  PROTOCOL_FRAME_TOO_LARGE: 'CW_ERR_PROTOCOL_FRAME_TOO_LARGE',
  PROTOCOL_BAD_HEADER: 'CW_ERR_PROTOCOL_BAD_HEADER',
  PROTOCOL_BAD_PAYLOAD: 'CW_ERR_PROTOCOL_BAD_PAYLOAD',
  PROTOCOL_UNEXPECTED: 'CW_ERR_PROTOCOL_UNEXPECTED',
  PROTOCOL_BAD_FRAGMENT: 'CW_ERR_PROTOCOL_BAD_FRAGMENT',
  PROTOCOL_HANDSHAKE_TIMEOUT: 'CW_ERR_PROTOCOL_HANDSHAKE_TIMEOUT',
  PROTOCOL_HTTP: 'CW_ERR_PROTOCOL_HTTP',
  TRANSPORT_CONNECT: 'CW_ERR_TRANSPORT_CONNECT',
  TRANSPORT_CLOSED: 'CW_ERR_TRANSPORT_CLOSED',
  TRANSPORT_PROXY: 'CW_ERR_TRANSPORT_PROXY',
  TRANSPORT_TIMEOUT: 'CW_ERR_TRANSPORT_TIMEOUT',
  TRANSPORT_IDLE: 'CW_ERR_TRANSPORT_IDLE',
  TRANSPORT_BODY_TOO_LARGE: 'CW_ERR_TRANSPORT_BODY_TOO_LARGE',
  /** A port to listen on is taken by another process; the message names the port. */
  ADDRESS_IN_USE: 'CW_ERR_ADDRESS_IN_USE',
  /** The peer speaks another protocol: HTTP to a camwire TCP port, camwire framing to an HTTP port. */
  WRONG_PROTOCOL: 'CW_ERR_WRONG_PROTOCOL',
  DELIVERY_TIMEOUT: 'CW_ERR_DELIVERY_TIMEOUT',
  DELIVERY_REFUSED: 'CW_ERR_DELIVERY_REFUSED',
  DELIVERY_QUEUE_FULL: 'CW_ERR_DELIVERY_QUEUE_FULL',
  DELIVERY_CLOSED: 'CW_ERR_DELIVERY_CLOSED',
  DELIVERY_CHECKSUM: 'CW_ERR_DELIVERY_CHECKSUM',
  FILE_IO: 'CW_ERR_FILE_IO',
  FILE_TOO_LARGE: 'CW_ERR_FILE_TOO_LARGE',
  FILE_NO_SPACE: 'CW_ERR_FILE_NO_SPACE',
  /** A Sender's encodeVideo/encodeAudio hook threw, rejected or returned no bytes: that frame was dropped. */
  MEDIA_ENCODE: 'CW_ERR_MEDIA_ENCODE',
  /** A Receiver could not decode a TRANSFORMED frame (its decode hook failed, or it has none): that frame was dropped. */
  MEDIA_DECODE: 'CW_ERR_MEDIA_DECODE',
  FFMPEG_MISSING: 'CW_ERR_FFMPEG_MISSING',
  /** ffmpeg is installed but lacks the encoder a video codec needs; the message names it. */
  FFMPEG_ENCODER_MISSING: 'CW_ERR_FFMPEG_ENCODER_MISSING',
  /** A recording could not be written: the disk, the muxer, or ffmpeg failed. */
  RECORD_FAILED: 'CW_ERR_RECORD_FAILED',
  /** A recording cannot hold this media (an image type or codec it does not record, a codec the container lacks). */
  RECORD_UNSUPPORTED: 'CW_ERR_RECORD_UNSUPPORTED',
  /** The optional package sharp (the test pattern's JPEG encoder) is not installed or cannot load. */
  SHARP_MISSING: 'CW_ERR_SHARP_MISSING',
  AUTH_FAILED: 'CW_ERR_AUTH_FAILED',
  GROUP_INVALID: 'CW_ERR_GROUP_INVALID',
  GROUP_NOT_FOUND: 'CW_ERR_GROUP_NOT_FOUND',
  GROUP_LIMIT: 'CW_ERR_GROUP_LIMIT',
  GROUP_PASSWORD: 'CW_ERR_GROUP_PASSWORD',
  SERVER_REFUSED: 'CW_ERR_SERVER_REFUSED',
  STORE_UNWRITABLE: 'CW_ERR_STORE_UNWRITABLE',
  STORE_LOCKED: 'CW_ERR_STORE_LOCKED',
  STORE_CORRUPT: 'CW_ERR_STORE_CORRUPT',
  STORE_NEWER_SCHEMA: 'CW_ERR_STORE_NEWER_SCHEMA',
  STORE_WRITE: 'CW_ERR_STORE_WRITE',
  CONFIG_INVALID: 'CW_ERR_CONFIG_INVALID',
  COMMAND_RESERVED_NAME: 'CW_ERR_COMMAND_RESERVED_NAME',
  NOT_STARTED: 'CW_ERR_NOT_STARTED',
  /** start() called a second time (a stopped Sender, Receiver or MediaServer cannot restart). */
  ALREADY_STARTED: 'CW_ERR_ALREADY_STARTED',
  REMOTE_CLOSE: 'CW_ERR_REMOTE_CLOSE',
  /** A MediaServer with the `cluster` option cannot reach NATS, or NATS has no JetStream (docs/cluster.md). */
  CLUSTER_CONNECT: 'CW_ERR_CLUSTER_CONNECT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Misuse caught at a call: the TypeError or RangeError JavaScript code expects, carrying a
 * camwire `code` too (CW_ERR_CONFIG_INVALID unless said), so every misuse has a code.
 */
export function misuse<E extends Error>(err: E, code: ErrorCode = ErrorCode.CONFIG_INVALID): E & { code: ErrorCode } {
  return Object.assign(err, { code });
}

/**
 * The error code a sender gives a NACK's close code (docs/protocol.md, section 3.3): the codes
 * a peer sends for a refusal the user acts on differently; every other NACK is
 * CW_ERR_DELIVERY_REFUSED.
 */
export function nackErrorCode(closeCode: number): ErrorCode {
  if (closeCode === CloseCode.TOO_LARGE) return ErrorCode.FILE_TOO_LARGE;
  if (closeCode === CloseCode.NO_SPACE) return ErrorCode.FILE_NO_SPACE;
  return ErrorCode.DELIVERY_REFUSED;
}

/** The NACK close code that carries `err` on to the next sender (a MediaServer relaying a refusal). */
export function nackCloseCode(err: { code?: string }, fallback: CloseCode = CloseCode.REFUSED): CloseCode {
  if (err.code === ErrorCode.FILE_TOO_LARGE) return CloseCode.TOO_LARGE;
  if (err.code === ErrorCode.FILE_NO_SPACE) return CloseCode.NO_SPACE;
  return fallback;
}
