/**
 * Media headers of video frames and audio chunks (docs/protocol.md, sections 4.1 and 4.2).
 */
import { AudioCodec, ImageType, type AudioCodecName, type ImageTypeName } from './constants.js';
import { bad, codecName, codeOf, Reader } from './payload-codec.js';
import { u16, view } from './bytes.js';

// ---------------------------------------------------------------- 4.1 video

/** Rectangle of a changed area (change-detection mode). */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Media header of a video frame; the image bytes follow it. */
export interface VideoHeader {
  imageType: ImageTypeName | string;
  width: number;
  height: number;
  rect?: Rect;
}

/** Image type names by code (an array: read for every received video frame). */
const IMAGE_NAMES: (ImageTypeName | undefined)[] = [];
for (const [k, v] of Object.entries(ImageType)) IMAGE_NAMES[v] = k as ImageTypeName;

/** The name of a known image type code (1..), undefined for 0 (a named codec) or an unknown one. */
export function imageTypeName(code: number): ImageTypeName | undefined {
  return code === 0 || code >= IMAGE_NAMES.length ? undefined : IMAGE_NAMES[code];
}

/** Encodes the video media header (docs/protocol.md, section 4.1). */
export function encodeVideoHeader(v: VideoHeader): Buffer {
  const code = codeOf(ImageType, v.imageType);
  const named = code === undefined || code === 0 ? codecName(v.imageType, 'video codec name') : undefined;
  const h = Buffer.allocUnsafe(6 + (v.rect ? 8 : 0) + 1 + (named?.length ?? 0));
  h[0] = named ? 0 : code!;
  h.writeUInt16BE(v.width, 1);
  h.writeUInt16BE(v.height, 3);
  h[5] = v.rect ? 1 : 0;
  let o = 6;
  if (v.rect) {
    h.writeUInt16BE(v.rect.x, o);
    h.writeUInt16BE(v.rect.y, o + 2);
    h.writeUInt16BE(v.rect.w, o + 4);
    h.writeUInt16BE(v.rect.h, o + 6);
    o += 8;
  }
  h[o++] = named?.length ?? 0;
  if (named) named.copy(h, o);
  return h;
}

/** Decodes a video payload into its header and image bytes (a view, not a copy). */
export function decodeVideo(p: Buffer): { header: VideoHeader; data: Buffer } {
  // The common header (a known image type, no rectangle, no name): read straight.
  if (p.length >= 7 && p[5] === 0 && p[6] === 0 && p[0] !== 0) {
    const known = imageTypeName(p[0]);
    if (known) return { header: { imageType: known, width: u16(p, 1), height: u16(p, 3) }, data: view(p, 7) };
  }
  const r = new Reader(p, 'video');
  const code = r.u8();
  const width = r.u16();
  const height = r.u16();
  const hasRect = r.u8();
  if (hasRect > 1) throw bad('video: bad rect flag');
  const rect = hasRect ? { x: r.u16(), y: r.u16(), w: r.u16(), h: r.u16() } : undefined;
  const nameLen = r.u8();
  const name = r.str(nameLen);
  let imageType: string;
  if (code === 0) {
    if (nameLen === 0) throw bad('video: named codec without a name');
    imageType = name;
  } else {
    const known = imageTypeName(code);
    if (!known || nameLen !== 0) throw bad(`video: unknown image type ${code}`);
    imageType = known;
  }
  const header: VideoHeader = { imageType, width, height };
  if (rect) header.rect = rect;
  return { header, data: r.rest() };
}

// ---------------------------------------------------------------- 4.2 audio

/** Media header of an audio chunk; the sample bytes follow it. */
export interface AudioHeader {
  codec: AudioCodecName | string;
  sampleRate: number;
  channels: number;
}

const AUDIO_NAMES = new Map<number, AudioCodecName>(
  Object.entries(AudioCodec).map(([k, v]) => [v, k as AudioCodecName]),
);

/** Encodes the audio media header (docs/protocol.md, section 4.2). */
export function encodeAudioHeader(a: AudioHeader): Buffer {
  const code = codeOf(AudioCodec, a.codec);
  const named = code === undefined || code === 0 ? codecName(a.codec, 'audio codec name') : undefined;
  if (!Number.isInteger(a.channels) || a.channels < 0 || a.channels > 255) throw new RangeError(`audio channels ${a.channels} outside 0..255`);
  const h = Buffer.allocUnsafe(7 + (named?.length ?? 0));
  h[0] = named ? 0 : code!;
  h.writeUInt32BE(a.sampleRate, 1);
  h[5] = a.channels;
  h[6] = named?.length ?? 0;
  if (named) named.copy(h, 7);
  return h;
}

/** Decodes an audio payload into its header and sample bytes (a view). */
export function decodeAudio(p: Buffer): { header: AudioHeader; data: Buffer } {
  const r = new Reader(p, 'audio');
  const code = r.u8();
  const sampleRate = r.u32();
  const channels = r.u8();
  const nameLen = r.u8();
  const name = r.str(nameLen);
  let codec: string;
  if (code === 0) {
    if (nameLen === 0) throw bad('audio: named codec without a name');
    codec = name;
  } else {
    const known = AUDIO_NAMES.get(code);
    if (!known || nameLen !== 0) throw bad(`audio: unknown codec ${code}`);
    codec = known;
  }
  return { header: { codec, sampleRate, channels }, data: r.rest() };
}
