/**
 * A received video frame as a server tap sees it (MediaServer.onVideo). Only the media header is
 * decoded at once; a large frame that spanned reads (Frame.raw as views of the reads) has its image
 * bytes joined only when a tap reads `data`, so a tap that looks at the header and `size` alone
 * (the web viewer while nobody watches a source) costs no copy of the frame.
 */
import { Flag, FIXED_HEADER_SIZE } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { decodeVideo, type Rect } from '../protocol/messages.js';

/** A video frame as a server tap sees it. */
export interface VideoTap {
  from: string;
  mediaIndex: number;
  imageType: string;
  width: number;
  height: number;
  keyframe: boolean;
  /** The image bytes went through the sender's encode hook (docs/protocol.md, 2.1): not a picture the server can show. */
  transformed: boolean;
  /** Sender clock, ms since the epoch. */
  timestamp: number;
  /** The image bytes: a view of the received frame (joined on first read when the frame spanned reads). */
  data: Buffer;
  /** `data.length`, known without reading `data`. */
  size: number;
  /** Change detection: where this image goes on the source's picture (protocol.md 4.1). */
  rect?: Rect;
}

/** The longest video media header (protocol.md 4.1): code, width, height, rect flag, rect, name length, name. */
const MAX_VIDEO_HEADER = 1 + 2 + 2 + 1 + 8 + 1 + 255;

/** The tap of frame `f` pushed by `from`; throws the header's ProtocolError as decodeVideo does. */
export function videoTap(from: string, f: Frame): VideoTap {
  const raw = f.raw;
  let head: Buffer;
  let total: number;
  let lazy = false;
  if (raw !== undefined && !Buffer.isBuffer(raw)) {
    // Views of the reads: the header's bytes are copied out of them (at most 270), nothing else.
    const first = raw[0];
    const hl = FIXED_HEADER_SIZE + first[32] + first[33] + first[34];
    total = first.readUInt32BE(12);
    head = copyRange(raw, hl, Math.min(total, MAX_VIDEO_HEADER));
    lazy = true;
  } else {
    head = f.payload;
    total = head.length;
  }
  const { header, data: rest } = decodeVideo(head);
  const at = head.length - rest.length;
  let data: Buffer | undefined = lazy ? undefined : rest;
  const v: VideoTap = {
    from,
    mediaIndex: f.mediaIndex,
    imageType: header.imageType,
    width: header.width,
    height: header.height,
    keyframe: (f.flags & Flag.KEYFRAME) !== 0,
    transformed: (f.flags & Flag.TRANSFORMED) !== 0,
    timestamp: f.timestamp,
    get data(): Buffer {
      return (data ??= f.payload.subarray(at));
    },
    set data(b: Buffer) {
      data = b;
    },
    size: total - at,
  };
  if (header.rect) v.rect = header.rect;
  return v;
}

/** `n` bytes from offset `from` of the concatenation of `pieces`, copied. */
function copyRange(pieces: readonly Buffer[], from: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let skip = from;
  let got = 0;
  for (const p of pieces) {
    if (got === n) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    got += p.copy(out, got, skip, Math.min(p.length, skip + n - got));
    skip = 0;
  }
  return got === n ? out : out.subarray(0, got);
}
