/**
 * Media hooks (docs/api.md, Media hooks): a user function that transforms the image or sample
 * bytes of each video frame or audio chunk (compression, encryption) on the sender, and undoes it
 * on the receiver. The media header stays outside the hook's bytes, so a MediaServer reads what it
 * needs without the hook; the frame's TRANSFORMED flag (docs/protocol.md, 2.1) says the bytes went
 * through one.
 *
 * A hook may be asynchronous. `HookQueue` keeps results in the order their frames came, holds a
 * bounded number of them (the oldest waiting one is dropped beyond it, like every video and audio
 * queue), and never lets a failed hook end anything but its own frame.
 */
import { CamwireError, ErrorCode } from '../errors.js';
import type { AudioHookInfo, MediaHook, VideoHookInfo } from '../events.js';
import { Flag } from '../protocol/constants.js';
import { copyInit, type FrameInit } from '../protocol/frame.js';

/** Frames of one stream waiting for an asynchronous hook, at most (then the oldest is dropped). */
export const HOOK_QUEUE_ITEMS = 32;
/** Bytes of one stream's frames waiting for an asynchronous hook, at most (then the oldest is dropped; one always stays). */
export const HOOK_QUEUE_BYTES = 32 * 1024 * 1024;

/** A hook's result: the new bytes, or undefined when the hook failed (already reported). */
type Outcome = Buffer | undefined;

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * Calls `hook` once; checks what it gives (a Buffer or Uint8Array of at most `maxBytes`).
 * A throw, a rejection or a bad result is given to `fail` and yields undefined.
 */
export function runHook<I>(
  hook: MediaHook<I>,
  payload: Buffer,
  info: I,
  maxBytes: number,
  fail: (err: unknown) => void,
): Outcome | Promise<Outcome> {
  const check = (v: unknown): Outcome => {
    let out: Buffer;
    if (Buffer.isBuffer(v)) out = v;
    else if (v instanceof Uint8Array) out = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    else {
      fail(new TypeError(`the hook returned ${v === null ? 'null' : typeof v}, not a Buffer`));
      return undefined;
    }
    if (out.length > maxBytes) {
      fail(new RangeError(`the hook returned ${out.length} bytes, more than the ${maxBytes} that fit in maxPayload`));
      return undefined;
    }
    return out;
  };
  let r: unknown;
  try {
    r = hook(payload, info);
  } catch (err) {
    fail(err);
    return undefined;
  }
  if (isPromiseLike(r)) {
    return Promise.resolve(r).then(check, (err: unknown) => {
      fail(err);
      return undefined;
    });
  }
  return check(r);
}

interface Entry<T> {
  done: boolean;
  value: T | undefined;
  size: number;
}

/**
 * Delivers values in the order they were pushed, some of which are still being computed
 * (Promises). A value that is ready while nothing waits before it is delivered at once (no
 * allocation). Beyond `maxItems` or `maxBytes` waiting, the oldest is dropped (`onDrop`), its
 * result ignored when it comes. Undefined results (failed hooks) are skipped.
 */
export class HookQueue<T> {
  readonly #deliver: (v: T) => void;
  readonly #onDrop: () => void;
  readonly #maxItems: number;
  readonly #maxBytes: number;
  #queue: Entry<T>[] = [];
  #head = 0;
  #bytes = 0;

  constructor(deliver: (v: T) => void, onDrop: () => void, maxItems = HOOK_QUEUE_ITEMS, maxBytes = HOOK_QUEUE_BYTES) {
    this.#deliver = deliver;
    this.#onDrop = onDrop;
    this.#maxItems = maxItems;
    this.#maxBytes = maxBytes;
  }

  /** Entries waiting (computed or not). */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Adds a value (or the promise of one) of `size` bytes. */
  push(v: T | undefined | Promise<T | undefined>, size: number): void {
    if (!isPromiseLike(v) && this.waiting === 0) {
      if (v !== undefined) this.#deliver(v);
      return;
    }
    const e: Entry<T> = { done: !isPromiseLike(v), value: isPromiseLike(v) ? undefined : v, size };
    this.#queue.push(e);
    this.#bytes += size;
    while (this.waiting > 1 && (this.waiting > this.#maxItems || this.#bytes > this.#maxBytes)) {
      const old = this.#shift();
      // Its promise still settles; the result is not delivered.
      old.done = true;
      old.value = undefined;
      this.#onDrop();
    }
    if (isPromiseLike(v)) {
      void (v as Promise<T | undefined>).then((r) => {
        if (e.done) return; // dropped meanwhile
        e.done = true;
        e.value = r;
        this.#flush();
      });
    }
    this.#flush();
  }

  #shift(): Entry<T> {
    const e = this.#queue[this.#head++];
    this.#bytes -= e.size;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 64 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return e;
  }

  #flush(): void {
    while (this.waiting > 0 && this.#queue[this.#head].done) {
      const e = this.#shift();
      if (e.value !== undefined) this.#deliver(e.value);
    }
  }
}

/** A Sender's encode hooks and their queues (one per media type: one order per link of the type). */
export interface EncodeHooksOptions {
  encodeVideo?: MediaHook<VideoHookInfo>;
  encodeAudio?: MediaHook<AudioHookInfo>;
  maxPayload: number;
  /** Sends a frame whose payload was transformed (TRANSFORMED set), in order. */
  send: (type: 'video' | 'audio', init: FrameInit) => void;
  /** A hook failed: the frame is dropped. */
  error: (type: 'video' | 'audio', err: CamwireError, info: VideoHookInfo | AudioHookInfo) => void;
  /** A frame waiting for a hook was dropped to keep the queue bounded. */
  dropped: (type: 'video' | 'audio') => void;
}

/** EncodeHooks runs a Sender's encodeVideo/encodeAudio on each frame before it is queued for sending. */
export class EncodeHooks {
  readonly #o: EncodeHooksOptions;
  readonly #queues: { video: HookQueue<FrameInit>; audio: HookQueue<FrameInit> };

  constructor(o: EncodeHooksOptions) {
    this.#o = o;
    this.#queues = {
      video: new HookQueue((init) => o.send('video', init), () => o.dropped('video')),
      audio: new HookQueue((init) => o.send('audio', init), () => o.dropped('audio')),
    };
  }

  /** Whether frames of `type` go through a hook. */
  has(type: 'video' | 'audio'): boolean {
    return type === 'video' ? this.#o.encodeVideo !== undefined : this.#o.encodeAudio !== undefined;
  }

  /** Transforms the payload of `init` (its media header, `prefix`, stays) and sends it, in order. */
  submit(type: 'video' | 'audio', init: FrameInit, info: VideoHookInfo | AudioHookInfo): void {
    const hook = (type === 'video' ? this.#o.encodeVideo : this.#o.encodeAudio) as MediaHook<VideoHookInfo | AudioHookInfo>;
    const payload = init.payload ?? Buffer.alloc(0);
    const room = this.#o.maxPayload - (init.prefix?.length ?? 0);
    const fail = (err: unknown): void => this.#o.error(type, hookError(ErrorCode.MEDIA_ENCODE, `encode${type === 'video' ? 'Video' : 'Audio'}`, err), info);
    const done = (out: Outcome): FrameInit | undefined => {
      if (out === undefined) return undefined;
      // Field by field, not a spread (frame.ts, copyInit).
      const f = copyInit(init, init.seq, (init.flags ?? 0) | Flag.TRANSFORMED);
      f.payload = out;
      return f;
    };
    const r = runHook(hook, payload, info, room, fail);
    this.#queues[type].push(isPromiseLike(r) ? r.then(done) : done(r), payload.length);
  }
}

/** The typed error of a failed hook, the hook's own error as its cause. */
export function hookError(code: ErrorCode, hook: string, cause: unknown): CamwireError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new CamwireError(code, `${hook} hook failed: ${why}; the frame was dropped`, { cause });
}
