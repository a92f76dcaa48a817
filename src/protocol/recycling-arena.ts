/**
 * RecyclingArena: a FrameArena whose full buffers are written again once no write holds a view of
 * them (docs/architecture.md, Fan-out: small frames). A buffer of 64 KiB taken fresh from the
 * allocator for every 64 KiB of small frames is new memory to fault in and external memory for the
 * GC to account for; copying 1 KiB frames into fresh buffers cost three to five times as much as
 * copying them into a buffer used before (bench/FANOUT.md, 2026-12-01 afternoon).
 *
 * The rule that makes reuse safe: whoever places bytes with take() holds the buffer (hold(), right
 * after take()) until the last write of those bytes has completed, then calls the function hold()
 * returned, once. A buffer goes back to the free list when it is full and no hold is left; a hold
 * never released (a socket destroyed before its write completed) only keeps that buffer from being
 * reused, and the GC takes it. Pure bookkeeping over Buffers: no timers, no sockets.
 */
import { FrameArena } from './fan-encoding.js';

interface Slot {
  readonly buf: Buffer;
  holds: number;
  /** Full: no more bytes will be placed in it. */
  retired: boolean;
  /** Releases one hold: one function per buffer, so a hold costs no allocation. */
  readonly release: () => void;
  /** Takes one more hold on this buffer (whichever is current by then); returns `release`. */
  readonly hold: () => () => void;
}

export class RecyclingArena extends FrameArena {
  #cur: Slot | undefined;
  readonly #free: Buffer[] = [];

  /** `keep`: free buffers kept for reuse, at most (memory held while idle: keep × size). */
  constructor(
    size = 64 * 1024,
    readonly keep = 4,
  ) {
    super(size, size);
  }

  /** Free buffers waiting for reuse. */
  get freeCount(): number {
    return this.#free.length;
  }

  /**
   * Holds the buffer of the last take() until the returned function is called. Call it once, when
   * the last write of the bytes placed in that buffer since this hold has completed (or failed).
   */
  hold(): () => void {
    return this.#cur!.hold();
  }

  /**
   * The hold() of the last take()'s buffer, to call later for more holds on that same buffer
   * (each to be released once, as hold()'s), even after take() moved on to another buffer.
   */
  holder(): () => () => void {
    return this.#cur!.hold;
  }

  protected override fresh(): Buffer {
    const old = this.#cur;
    if (old) {
      old.retired = true;
      if (old.holds === 0) this.#recycle(old.buf);
    }
    const buf = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    const slot: Slot = {
      buf,
      holds: 0,
      retired: false,
      release: () => {
        if (--slot.holds === 0 && slot.retired) this.#recycle(slot.buf);
      },
      hold: () => {
        slot.holds++;
        return slot.release;
      },
    };
    this.#cur = slot;
    return buf;
  }

  #recycle(buf: Buffer): void {
    if (this.#free.length < this.keep) this.#free.push(buf);
  }
}
