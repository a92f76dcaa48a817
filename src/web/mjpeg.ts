/**
 * MJPEG over HTTP (multipart/x-mixed-replace): what a browser <img>, VLC, ffplay or ffmpeg can
 * watch. One MjpegResponse per viewer; latest frame wins when the viewer is slower than the source.
 */
import type http from 'node:http';

/** The multipart boundary camwire uses. */
export const MJPEG_BOUNDARY = 'camwireframe';

/** Writes the response head of an MJPEG stream. */
export function startMjpeg(res: http.ServerResponse): void {
  res.writeHead(200, {
    'content-type': `multipart/x-mixed-replace; boundary=${MJPEG_BOUNDARY}`,
    'cache-control': 'no-store, no-cache, must-revalidate',
    pragma: 'no-cache',
    connection: 'close',
  });
}

/** One viewer of an MJPEG stream. */
export class MjpegResponse {
  readonly #res: http.ServerResponse;
  #pending: { jpeg: Buffer; timestamp: number } | undefined;
  /** Frames sent and frames skipped because the viewer was still busy. */
  sent = 0;
  skipped = 0;

  constructor(res: http.ServerResponse) {
    this.#res = res;
    startMjpeg(res);
    res.on('drain', () => this.#flush());
  }

  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  /** Offers a frame: written now if the viewer keeps up, otherwise it replaces the waiting one. */
  push(jpeg: Buffer, timestamp: number): void {
    if (this.closed) return;
    if (this.#pending) this.skipped++;
    this.#pending = { jpeg, timestamp };
    if (!this.#res.writableNeedDrain) this.#flush();
  }

  #flush(): void {
    const p = this.#pending;
    if (!p || this.closed) return;
    this.#pending = undefined;
    this.sent++;
    this.#res.write(
      `--${MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${p.jpeg.length}\r\nX-Timestamp: ${p.timestamp.toFixed(3)}\r\n\r\n`,
    );
    this.#res.write(p.jpeg);
    this.#res.write('\r\n');
  }

  end(): void {
    if (!this.closed) this.#res.end();
  }
}
