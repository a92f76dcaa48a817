/**
 * FileWindow: how many bytes of one file transfer a Sender keeps unacknowledged (docs/protocol.md,
 * 4.4; docs/architecture.md, A file). The window is sized to the path: once a window's worth of
 * chunks has been acknowledged, it becomes what the path delivered in `horizonMs` at the rate
 * those acknowledgements came, kept within `floor..cap`. A fast path (loopback, a LAN) goes to
 * the cap within a round trip or two; a slow one stays at the floor, so a chunk never waits in
 * flight much longer than `horizonMs` behind the others (far below the item timeout).
 */

/** The time a window's bytes take at the measured rate. */
export const WINDOW_HORIZON_MS = 250;

export class FileWindow {
  #limit: number;
  /** When the current measurement started (the first ACK after the last resize), -1 before any. */
  #since = -1;
  /** Bytes acknowledged since `#since`. */
  #bytes = 0;

  /**
   * @param floor bytes always allowed (the sender's own reliableWindow x fileChunkSize, or less when the peer takes less)
   * @param cap bytes never exceeded (what the peer announced, and what the sender's queue holds)
   */
  constructor(
    readonly floor: number,
    readonly cap: number,
    readonly horizonMs = WINDOW_HORIZON_MS,
  ) {
    this.floor = Math.max(1, Math.min(floor, cap));
    this.#limit = this.floor;
  }

  /** Bytes that may be in flight now. */
  get limit(): number {
    return this.#limit;
  }

  /** `bytes` were acknowledged at `now` (ms, a monotonic clock). */
  acked(bytes: number, now: number): void {
    if (this.#since < 0) {
      // The first answer starts the clock: the time before it is the first chunk's trip, not the rate.
      this.#since = now;
      return;
    }
    this.#bytes += bytes;
    if (this.#bytes < this.#limit) return;
    const rate = this.#bytes / Math.max(1, now - this.#since);
    this.#limit = Math.max(this.floor, Math.min(this.cap, Math.round(rate * this.horizonMs)));
    this.#since = now;
    this.#bytes = 0;
  }
}
