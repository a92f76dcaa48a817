/**
 * ServedChannel: a pull channel served to a receiver (by a Sender, or by a MediaServer for one of
 * its clients): a link plus the bounded outbox its frames wait in.
 */
import { ReliableOutbox, type AckInfo, type Outbox } from '../media/outbox.js';
import type { MediaTypeName } from '../protocol/constants.js';
import type { FrameInit } from '../protocol/frame.js';
import type { FrameLink } from './frame-link.js';
import { applyReply, pumpOutbox } from './pump.js';

/** A pull channel: frames flow from the outbox to the link as fast as the link takes them. */
export class ServedChannel {
  constructor(
    readonly link: FrameLink,
    readonly type: MediaTypeName,
    readonly outbox: Outbox,
    readonly sessionKey: bigint,
  ) {
    if (outbox instanceof ReliableOutbox) outbox.onReady = () => this.pump();
    link.on('drain', () => this.pump());
    link.on('frame', (f) => {
      if (applyReply(f, outbox, link)) this.pump();
    });
  }
  pump(): void {
    pumpOutbox(this.link, this.outbox, this.sessionKey);
  }
  submit(init: FrameInit): Promise<AckInfo> {
    const p = (this.outbox as ReliableOutbox).submit(init);
    this.pump();
    return p;
  }
}

