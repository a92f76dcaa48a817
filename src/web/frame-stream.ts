/**
 * FrameStreamResponse: one browser's stream of a video source as camwire frames over HTTP
 * (GET /stream/<client>/<index>: DATA frames of docs/protocol.md section 2, back to back, in a
 * response that does not end). The viewer page decodes compressed sources from it with WebCodecs.
 * Starts at a keyframe; a browser that falls behind skips to the next keyframe.
 */
import type http from 'node:http';
import { Flag, Kind, MediaType } from '../protocol/constants.js';
import { encodeFrameBuffer } from '../protocol/frame.js';
import { encodeVideoHeader } from '../protocol/media-headers.js';
import type { VideoTap } from '../server/media-server.js';

/** Bytes waiting in the response before frames are skipped to the next keyframe. */
const MAX_BACKLOG = 2 * 1024 * 1024;

export class FrameStreamResponse {
  readonly #res: http.ServerResponse;
  #needKey = true;
  #seq = 0;
  /** Frames written and skipped. */
  sent = 0;
  skipped = 0;

  constructor(res: http.ServerResponse) {
    this.#res = res;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.flushHeaders();
  }

  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  /** One frame; written at once (encoded, so a copy) or skipped. */
  push(v: VideoTap): void {
    if (this.closed) return;
    if ((this.#needKey && !v.keyframe) || this.#res.writableLength > MAX_BACKLOG) {
      if (!v.keyframe || this.#res.writableLength > MAX_BACKLOG) this.#needKey = true;
      this.skipped++;
      return;
    }
    this.#needKey = false;
    this.sent++;
    const header = encodeVideoHeader({ imageType: v.imageType, width: v.width, height: v.height });
    this.#res.write(
      encodeFrameBuffer({
        kind: Kind.DATA,
        mediaType: MediaType.video,
        flags: v.keyframe ? Flag.KEYFRAME : 0,
        mediaIndex: v.mediaIndex,
        seq: this.#seq++,
        timestamp: v.timestamp,
        from: v.from,
        prefix: header,
        payload: v.data,
      }),
    );
  }

  end(): void {
    if (!this.closed) this.#res.end();
  }
}
