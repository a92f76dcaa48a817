/**
 * The wire conventions both sides of an HTTP link share (docs/protocol.md, section 6): the
 * path prefix and headers, the batch limit, parsing a body of frames, and the queue of
 * encoded frames waiting for a body to carry them.
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import type { Frame } from '../protocol/frame.js';
import { FrameParser } from '../protocol/parser.js';

/** Path prefix of every camwire HTTP request. */
export const HTTP_PREFIX = '/camwire/v1/';
/** The path of a request URL: proxies may forward the absolute form (`http://host/path`), whose path is kept. Query kept. */
export function requestPath(url: string): string {
  return url.startsWith('http') ? url.replace(/^https?:\/\/[^/]+/, '') : url;
}
/** Path suffix (after links/<id>) of a streaming upload (docs/protocol.md, 6.5). */
export const STREAM_SUFFIX = '/stream';
/** True for the path (or absolute URL) of a streaming upload. */
export function isStreamUpload(url: string): boolean {
  return /^(?:https?:\/\/[^/]+)?\/camwire\/v1\/links\/[A-Za-z0-9_-]{16,64}\/stream(?:\?|$)/.test(url);
}
/** Answer header of a streaming upload: end the stream after this many ms without frames. */
export const STREAM_IDLE_HEADER = 'x-camwire-stream-idle';
/** Poll answer header: the newest streaming upload whose bytes reached the server (proof that streams get through). */
export const STREAM_SEEN_HEADER = 'x-camwire-stream-seen';
/** Response header naming the link. */
export const LINK_HEADER = 'x-camwire-link';
/** Request header: the number of an upload (its repeat is ignored). */
export const UP_HEADER = 'x-camwire-up';
/** Response header: the number of the batch of frames in the body. */
export const DOWN_HEADER = 'x-camwire-down';
/** Request header: the last batch the client received. */
export const DOWN_ACK_HEADER = 'x-camwire-down-ack';
/** Most bytes of frames put in one request or response body (at least one frame always fits). */
export const MAX_BATCH = 4 * 1024 * 1024;

/** Parses a body holding whole frames; throws a ProtocolError on garbage or a cut-off frame. */
export function parseBody(body: Buffer, maxPayload: number): Frame[] {
  const frames: Frame[] = [];
  let error: ProtocolError | undefined;
  const parser = new FrameParser({ onFrame: (f) => frames.push(f), onError: (e) => (error = e) }, { maxPayload });
  parser.push(body);
  if (error) throw error;
  if (parser.buffered > 0) throw new ProtocolError(ErrorCode.PROTOCOL_BAD_HEADER, 'request body ends inside a frame');
  return frames;
}

/** Encoded frames waiting for a request body or response body to carry them. */
export class FrameQueue {
  #items: Buffer[][] = [];
  bytes = 0;
  get length(): number {
    return this.#items.length;
  }
  push(h: Buffer, p: Buffer): void {
    this.#items.push(p.length ? [h, p] : [h]);
    this.bytes += h.length + p.length;
  }
  /** Takes whole frames, up to MAX_BATCH bytes but at least one frame. */
  take(): { body: Buffer[]; bytes: number } {
    const body: Buffer[] = [];
    let bytes = 0;
    let n = 0;
    while (n < this.#items.length) {
      const item = this.#items[n];
      const len = item.length === 1 ? item[0].length : item[0].length + item[1].length;
      if (n > 0 && bytes + len > MAX_BATCH) break;
      body.push(...item);
      bytes += len;
      n++;
    }
    this.#items.splice(0, n);
    this.bytes -= bytes;
    return { body, bytes };
  }
}
