/**
 * A live Matroska stream of JPEG images and audio chunks, each with its own timestamp: what the
 * recorder feeds ffmpeg for MJPEG sources (see ffmpeg-writer.ts). Written front to back with
 * segment and clusters of unknown size, so nothing is ever revisited and nothing is kept.
 */

/** An element ID as its bytes (IDs carry their own length marker). */
function idBytes(id: number): Buffer {
  const n = id > 0xffffff ? 4 : id > 0xffff ? 3 : id > 0xff ? 2 : 1;
  const b = Buffer.alloc(n);
  b.writeUIntBE(id, 0, n);
  return b;
}

/** An element size as a variable-length integer. */
function sizeBytes(n: number): Buffer {
  for (let len = 1; len <= 8; len++) {
    if (n < 2 ** (7 * len) - 1) {
      const b = Buffer.alloc(len);
      let v = n;
      for (let i = len - 1; i >= 0; i--) {
        b[i] = v % 256;
        v = Math.floor(v / 256);
      }
      b[0] |= 0x80 >> (len - 1);
      return b;
    }
  }
  throw new RangeError(`EBML element of ${n} bytes`);
}

const UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function el(id: number, ...body: Buffer[]): Buffer {
  const b = Buffer.concat(body);
  return Buffer.concat([idBytes(id), sizeBytes(b.length), b]);
}
function uint(id: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  let i = 0;
  while (i < 7 && b[i] === 0) i++;
  return el(id, b.subarray(i));
}
function float(id: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return el(id, b);
}
function str(id: number, s: string): Buffer {
  return el(id, Buffer.from(s, 'utf8'));
}

/** A track of the stream. */
export type MkvTrack =
  | { kind: 'video'; codecId: 'V_MJPEG'; width: number; height: number }
  | { kind: 'audio'; codecId: 'A_PCM/INT/LIT' | 'A_OPUS'; sampleRate: number; channels: number; codecPrivate?: Buffer };

/** The EBML header, the segment (unknown size), its info (1 ms timestamps) and tracks, numbered from 1. */
export function mkvHeader(tracks: MkvTrack[]): Buffer {
  const ebml = el(0x1a45dfa3, uint(0x4286, 1), uint(0x42f7, 1), uint(0x42f2, 4), uint(0x42f3, 8), str(0x4282, 'matroska'), uint(0x4287, 4), uint(0x4285, 2));
  const info = el(0x1549a966, uint(0x2ad7b1, 1_000_000), str(0x4d80, 'camwire'), str(0x5741, 'camwire'));
  const entries = tracks.map((t, i) => {
    const common = [uint(0xd7, i + 1), uint(0x73c5, i + 1), uint(0x9c, 0), str(0x86, t.codecId)];
    if (t.kind === 'video') return el(0xae, ...common, uint(0x83, 1), el(0xe0, uint(0xb0, t.width), uint(0xba, t.height)));
    const priv = t.codecPrivate ? [el(0x63a2, t.codecPrivate)] : [];
    return el(0xae, ...common, uint(0x83, 2), ...priv, el(0xe1, float(0xb5, t.sampleRate), uint(0x9f, t.channels), uint(0x6264, 16)));
  });
  return Buffer.concat([ebml, idBytes(0x18538067), UNKNOWN_SIZE, info, el(0x1654ae6b, ...entries)]);
}

/** A cluster (unknown size) starting at `timeMs`; its blocks must lie within ±32 s of it. */
export function mkvCluster(timeMs: number): Buffer {
  return Buffer.concat([idBytes(0x1f43b675), UNKNOWN_SIZE, uint(0xe7, timeMs)]);
}

/** A SimpleBlock's header (the data follows it): track `track` (1..127), `relMs` from its cluster. */
export function mkvBlockHeader(track: number, relMs: number, keyframe: boolean, dataLength: number): Buffer {
  const body = Buffer.alloc(4);
  body[0] = 0x80 | track;
  body.writeInt16BE(relMs, 1);
  body[3] = keyframe ? 0x80 : 0;
  return Buffer.concat([idBytes(0xa3), sizeBytes(4 + dataLength), body]);
}
