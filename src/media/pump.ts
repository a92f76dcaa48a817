/**
 * Moving frames from an outbox onto a link, and replies (ACK/NACK) back into it.
 * Shared by push lanes and served pull channels.
 */
import { CloseCode } from '../errors.js';
import { Kind } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { decodeAck, decodeCommand, decodeReason } from '../protocol/messages.js';
import { MediaType } from '../protocol/constants.js';
import { ReliableOutbox, type Outbox } from './outbox.js';
import type { FrameLink } from '../link/frame-link.js';

/**
 * Most bytes a pump hands a stream link in one event-loop turn: they are gathered (corked) and
 * written together at the end of the turn.
 */
export const PUMP_TURN_LIMIT = 1024 * 1024;

/**
 * Sends from `outbox` while `link` can take more; stamps the session key. "Can take more": what
 * waits in the link from earlier turns is under its pumpBacklog. The bytes sent in this turn are
 * not counted there (a stream link is gathering them into one write at the end of the turn, so
 * a burst of frames in one turn goes whole instead of leaving all but the first to latest-wins),
 * but they are bounded apart (PUMP_TURN_LIMIT).
 */
export function pumpOutbox(link: FrameLink, outbox: Outbox, sessionKey: bigint): void {
  const now = Date.now();
  while (!link.closed && link.backlog - link.turnBytes < link.pumpBacklog && link.turnBytes < PUMP_TURN_LIMIT) {
    const f = outbox.next(now);
    if (!f) return;
    link.send(f, sessionKey);
  }
}

/** Applies an ACK or NACK to a reliable outbox. Returns true when the frame was a reply. */
export function applyReply(f: Frame, outbox: Outbox, link: FrameLink): boolean {
  if (!(outbox instanceof ReliableOutbox) || (f.kind !== Kind.ACK && f.kind !== Kind.NACK)) return false;
  try {
    // A command's ACK may carry a reply command (a server answering a query); a file START's
    // ACK carries the resume offset (docs/protocol.md, section 3.3).
    if (f.kind === Kind.ACK && f.mediaType === MediaType.command && f.payload.length > 0) outbox.ack(f.seq, { reply: decodeCommand(f.payload) });
    else if (f.kind === Kind.ACK) outbox.ack(f.seq, decodeAck(f.payload));
    else {
      const { code, reason } = decodeReason(f.payload);
      outbox.nack(f.seq, code, reason);
    }
  } catch (err) {
    link.close(CloseCode.BAD_PAYLOAD, (err as Error).message);
  }
  return true;
}
