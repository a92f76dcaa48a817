/**
 * Incremental frame parser: an explicit state machine that accepts the byte stream
 * split at any boundary and hands each complete frame to a sink (docs/protocol.md, section 2).
 * It never allocates more than one frame's header plus `maxPayload` bytes.
 */
import { ProtocolError } from '../errors.js';
import { DEFAULT_MAX_PAYLOAD, FIXED_HEADER_SIZE } from './constants.js';
import { checkFixedHeader, readFrame, type Frame } from './frame.js';

const EMPTY = Buffer.alloc(0);
const GET_HEADER = 0;
const GET_REST = 1;
const FAILED = 2;

/** Receives what the parser produces. */
export interface FrameSink {
  onFrame(frame: Frame): void;
  onError(err: ProtocolError): void;
}

/** Options of a FrameParser. */
export interface FrameParserOptions {
  /** Largest payload accepted; a larger length field is a protocol error. @default 8 MiB */
  maxPayload?: number;
}

/** FrameParser turns a byte stream into frames. After an error it ignores further input. */
export class FrameParser {
  readonly #sink: FrameSink;
  readonly #maxPayload: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #state = GET_HEADER;
  #need = FIXED_HEADER_SIZE;
  #idsLength = 0;

  constructor(sink: FrameSink, options: FrameParserOptions = {}) {
    this.#sink = sink;
    this.#maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** True once a protocol error was reported. */
  get failed(): boolean {
    return this.#state === FAILED;
  }

  /** Feeds bytes; calls the sink for each complete frame. */
  push(chunk: Buffer): void {
    if (this.#state === FAILED || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= this.#need && this.#state !== FAILED) {
      if (this.#state === GET_HEADER) {
        const head = this.#peek(FIXED_HEADER_SIZE);
        let info;
        try {
          info = checkFixedHeader(head, 0, this.#maxPayload);
        } catch (err) {
          this.#fail(err as ProtocolError);
          return;
        }
        this.#idsLength = info.idsLength;
        this.#need = FIXED_HEADER_SIZE + info.idsLength + info.payloadLength;
        this.#state = GET_REST;
      } else {
        const headerLength = FIXED_HEADER_SIZE + this.#idsLength;
        const header = this.#consume(headerLength);
        const payload = this.#consume(this.#need - headerLength);
        this.#state = GET_HEADER;
        this.#need = FIXED_HEADER_SIZE;
        this.#sink.onFrame(readFrame(header, 0, payload));
      }
    }
  }

  #fail(err: ProtocolError): void {
    this.#state = FAILED;
    this.#chunks = [];
    this.#buffered = 0;
    this.#sink.onError(err);
  }

  /** Returns the first n buffered bytes without consuming them (a view when possible). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first.length >= n) return first;
    const merged = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [merged];
    return merged;
  }

  /** Removes and returns the first n buffered bytes; a view when they sit in one chunk. */
  #consume(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (n === first.length) {
      this.#chunks.shift();
      return first;
    }
    if (n < first.length) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0];
      const take = Math.min(c.length, n - o);
      c.copy(out, o, 0, take);
      o += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    return out;
  }
}
