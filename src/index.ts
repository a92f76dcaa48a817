/**
 * camwire: send live video, audio, commands, files and data between applications.
 * This module is the public surface; internals are in ./internal.js for tests and benchmarks.
 */
export { Sender } from './sender.js';
export type {
  SenderOptions,
  SenderEvents,
  SenderStats,
  SendOptions,
  VideoSendOptions,
  AudioSendOptions,
  FileSendOptions,
  FileSendResult,
  FileProgress,
  GroupInfo,
  VideoEncodingOptions,
  ChangeSettings,
  PixelFrameOptions,
  PixelFrameResult,
  PixelVideoStats,
} from './sender.js';
export { Receiver } from './receiver.js';
export { Client } from './client.js';
export type { ClientOptions, ClientEvents } from './client.js';
export { MediaServer } from './server/media-server.js';
export type { MediaServerOptions, MediaServerEvents, BufferOptions, ClientInfo, ServerCommandMeta, ClusterEvent, ClusterStats, ClusterOptions } from './server/media-server.js';
export { hashPassword, verifyPassword } from './server/auth.js';
export { MemoryStore } from './server/store/memory-store.js';
export { SqliteStore } from './server/store/sqlite-store.js';
export type { ServerStore, StoreState, KnownClient, ContactLists, StoredGroup, StoredUser } from './server/store/store.js';
export { TestPattern, SharpMissingError } from './sources/test-pattern.js';
export type { TestPatternOptions, TestPatternFrameInfo } from './sources/test-pattern.js';
export { FfmpegVideo, FfmpegAudio, FfmpegMissingError, FfmpegEncoderMissingError, probeVideoCodec, VIDEO_CODECS } from './sources/ffmpeg.js';
export type { FfmpegVideoOptions, FfmpegAudioOptions, VideoInput, EncodedVideo, VideoCodec } from './sources/ffmpeg.js';
export { FfmpegIngest } from './sources/ingest.js';
export type { IngestOptions, IngestVideo, IngestEvents } from './sources/ingest.js';
export { Recorder, changesFormat } from './media/recorder/recorder.js';
export type { RecorderOptions, RecorderStats, RecorderEvents, RecordVideo, RecordAudio } from './media/recorder/recorder.js';
export type { TrackSet } from './media/recorder/writer.js';
export type { RecordOptions, SegmentInfo, RecordingStats, ServerRecording, ServerRecordingEvents } from './server/recording.js';
export { WebViewer } from './web/viewer.js';
export type { VideoTap, AudioTap } from './server/media-server.js';
export type { AuthOptions, AuthRequest, UserEntry } from './server/auth.js';
export type { ReceiverOptions, ReceiverEvents, ReceiverStats, SenderEntry, VideoComposeOptions, ComposeStats } from './receiver.js';
export type {
  ConnectionEvent,
  MessageMeta,
  VideoFrame,
  AudioChunk,
  CommandMessage,
  FileStartInfo,
  FileDataInfo,
  FileEndInfo,
  PeerInfo,
  VideoHookInfo,
  AudioHookInfo,
  MediaHook,
  ReceivedMedia,
} from './events.js';
export type { RelaySourceOptions, RelayUpstream } from './roles/relay-source.js';
export { parsePeerAddress, type PeerAddress } from './address.js';
export type { CommonOptions, Protocol, ConnectionMode, ReconnectOptions, Credentials, Logger } from './options.js';
export type { TlsOptions } from './transport/tcp.js';
export type { ProxyTunnel } from './transport/http-tunnel.js';
export type { HttpLimits } from './transport/http-server.js';
export { DEFAULT_HTTP_LIMITS } from './transport/http-limits.js';
export type { ConnectionLimits, RefusedReason } from './transport/connection-limits.js';
export { DEFAULT_CONNECTION_LIMITS } from './transport/connection-limits.js';
export type { Command, ParamValue, TypedParam, Rect } from './protocol/messages.js';
export type { MediaTypeName } from './protocol/constants.js';
export { MEDIA_TYPES, PROTOCOL_VERSION } from './protocol/constants.js';
export {
  CamwireError,
  ProtocolError,
  TransportError,
  AddressInUseError,
  RemoteCloseError,
  DeliveryError,
  ConfigError,
  StoreError,
  GroupError,
  RecordError,
  ErrorCode,
  CloseCode,
} from './errors.js';
