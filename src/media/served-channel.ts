/**
 * ServedChannel: a pull channel served to a receiver (by a Sender, or by a MediaServer for one of
 * its clients): a link plus the bounded outbox its frames wait in.
 */
import { ReliableOutbox, type AckInfo, type AudioOutbox, type Outbox, type VideoOutbox } from './outbox.js';
import type { MediaTypeName } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import type { FrameBatch } from '../protocol/fan-encoding.js';
import type { FrameLink } from '../link/frame-link.js';
import { applyReply, pumpOutbox } from './pump.js';

/** Most bytes a reader's fast path gathers in one event-loop turn; beyond it frames take the queue. */
const TURN_LIMIT = 1024 * 1024;

/** A pull channel: frames flow from the outbox to the link as fast as the link takes them. */
export class ServedChannel {
  constructor(
    readonly link: FrameLink,
    readonly type: MediaTypeName,
    readonly outbox: Outbox,
    readonly sessionKey: bigint,
  ) {
    // A reader that keeps up drains after most turns: only a queue that holds something needs the
    // pump. The same function tells the pump that a reliable item is due again (an empty queue has
    // nothing to send): one closure less per idle channel.
    const ready = (): void => {
      if (this.outbox.busy) this.pump();
    };
    link.on('drain', ready);
    if (outbox instanceof ReliableOutbox) outbox.onReady = ready;
    link.on('frame', (f) => {
      if (applyReply(f, outbox, link)) this.pump();
    });
  }
  /** offerBatch() holds the pieces it writes until written (FrameBatch.hold): they may be in reused memory. On the prototype: no field per channel. */
  get holdsEncoded(): true {
    return true;
  }

  pump(): void {
    pumpOutbox(this.link, this.outbox, this.sessionKey);
  }
  /**
   * Video or audio for this reader. A reader that keeps up gets it written at once; one that is
   * behind gets it through its latest-wins (or drop-oldest) queue. Returns the frames dropped.
   */
  offer(init: FrameInit): number {
    const ob = this.outbox as VideoOutbox | AudioOutbox;
    if (ob.canSkipQueue(init) && this.#keepingUp()) {
      this.link.send(init, this.sessionKey);
      return 0;
    }
    const dropped = ob.offer(init);
    this.pump();
    return dropped;
  }

  /**
   * The frames of a batch, as offer() takes each. A reader that keeps up, with nothing queued,
   * on a link that writes encoded bytes, writes the batch's shared encoding as it is.
   */
  offerBatch(batch: FrameBatch): number {
    const link = this.link;
    const ob = this.outbox as VideoOutbox | AudioOutbox;
    // A video batch goes whole only if each of its frames could (no rectangle before its source's keyframe).
    if (ob.clear && link.writeEncoded && this.#keepingUp() && (!('canSkipBatch' in ob) || ob.canSkipBatch(batch))) {
      const pieces = batch.encoded(this.sessionKey);
      if (pieces) {
        link.writeEncoded(pieces, batch.wireBytes, batch);
        return 0;
      }
    }
    let dropped = 0;
    for (const f of batch.frames) dropped += this.offer(f);
    return dropped;
  }

  /**
   * Keeping up: what waits in the link from earlier turns is under the pump's limit (what this
   * turn already sent is being gathered into one write, and is bounded apart).
   */
  #keepingUp(): boolean {
    const link = this.link;
    return !link.closed && link.backlog - link.turnBytes < link.pumpBacklog && link.turnBytes < TURN_LIMIT;
  }

  submit(init: FrameInit): Promise<AckInfo> {
    const p = (this.outbox as ReliableOutbox).submit(init);
    this.pump();
    return p;
  }
}

