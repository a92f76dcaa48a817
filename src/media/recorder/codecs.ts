/**
 * What a recording makes of camwire's image types and audio codecs (docs/protocol.md 4.1, 4.2):
 * the container codec of a WebCodecs codec string, and the length of an audio chunk.
 */

/** Video a recording writes as it came (remuxed): mediabunny's codec names. */
export type CompressedCodec = 'avc' | 'vp8' | 'vp9' | 'av1';

/** How a recording takes a video image type: 'jpeg' is transcoded, the rest remuxed; undefined: not recorded. */
export function videoKind(imageType: string): CompressedCodec | 'jpeg' | undefined {
  const s = imageType.toLowerCase();
  if (s === 'jpeg') return 'jpeg';
  if (s.startsWith('avc1') || s.startsWith('avc3') || s === 'h264') return 'avc';
  if (s === 'vp8') return 'vp8';
  if (s.startsWith('vp09') || s === 'vp9') return 'vp9';
  if (s.startsWith('av01') || s === 'av1') return 'av1';
  return undefined;
}

/** A full WebCodecs codec string for the decoder configuration (a bare `h264`, `vp9` or `av1` gets a common one). */
export function codecString(imageType: string, kind: CompressedCodec): string {
  if (imageType.includes('.') || kind === 'vp8') return kind === 'vp8' ? 'vp8' : imageType;
  return { avc: 'avc1.42E01F', vp9: 'vp09.00.31.08', av1: 'av01.0.08M.08' }[kind];
}

/** Audio a recording takes: 'pcm_s16le' and 'opus'. */
export function audioKind(codec: string): 'pcm_s16le' | 'opus' | undefined {
  return codec === 'pcm_s16le' || codec === 'opus' ? codec : undefined;
}

/** The length of an audio chunk in ms: PCM from its byte count, Opus from its TOC byte (RFC 6716, 3.1). */
export function audioDurationMs(codec: 'pcm_s16le' | 'opus', data: Buffer, sampleRate: number, channels: number): number {
  if (codec === 'pcm_s16le') return sampleRate > 0 && channels > 0 ? (data.length / (2 * channels) / sampleRate) * 1000 : 0;
  if (data.length === 0) return 0;
  const config = data[0] >> 3;
  const frameMs = config < 12 ? [10, 20, 40, 60][config % 4] : config < 16 ? [10, 20][config % 2] : [2.5, 5, 10, 20][config % 4];
  const code = data[0] & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : data.length > 1 ? data[1] & 0x3f : 0;
  return frameMs * frames;
}

/** The OpusHead of an Opus stream (RFC 7845, 5.1): what a container needs to decode it. */
export function opusHead(channels: number, sampleRate: number): Buffer {
  const h = Buffer.alloc(19);
  h.write('OpusHead', 0, 'latin1');
  h[8] = 1;
  h[9] = channels;
  h.writeUInt16LE(312, 10);
  h.writeUInt32LE(sampleRate, 12);
  return h;
}
