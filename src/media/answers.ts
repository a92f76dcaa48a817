/**
 * The answers to reliable items on one link: sends each ACK or NACK and remembers it by seq, so
 * that a retransmission (or a copy resent on a new link) is answered again, not delivered twice.
 */
import type { FrameLink } from '../link/frame-link.js';
import { Flag, Kind } from '../protocol/constants.js';
import type { Frame } from '../protocol/frame.js';
import { encodeReason } from '../protocol/messages.js';

/** The answer (ACK or NACK with its payload) sent for a reliable seq, by seq, oldest first. */
export type AnswerMemory = Map<number, { kind: typeof Kind.ACK | typeof Kind.NACK; payload: Buffer | undefined }>;

const DEDUP_WINDOW = 1024;

/** Acknowledges reliable items end to end and answers repeats from memory. */
export class Answerer {
  readonly #link: FrameLink;
  /** Recently handled reliable seqs with the answer sent for each (a lane's, or this link's over UDP). */
  readonly #seen: AnswerMemory | undefined;

  /** @param answers a lane's shared memory; without it, answers are remembered per link, over UDP only. */
  constructor(link: FrameLink, answers: AnswerMemory | undefined) {
    this.#link = link;
    this.#seen = answers ?? (link.reliable ? undefined : new Map());
  }

  /** When the answer to `f` (which asks for one) is known: sends it again and returns true. */
  repeat(f: Frame): boolean {
    const known = this.#seen?.get(f.seq);
    if (!known) return false;
    // A retransmission (or a copy resent on a new link): the same answer, no second delivery.
    this.#link.send({ kind: known.kind, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload: known.payload });
    return true;
  }

  #remember(seq: number, kind: typeof Kind.ACK | typeof Kind.NACK, payload: Buffer | undefined): void {
    const seen = this.#seen;
    if (!seen) return;
    seen.delete(seq);
    seen.set(seq, { kind, payload });
    if (seen.size > DEDUP_WINDOW) seen.delete(seen.keys().next().value as number);
  }

  ack(f: Frame, payload?: Buffer): void {
    if ((f.flags & Flag.ACK_REQUESTED) === 0) return;
    this.#remember(f.seq, Kind.ACK, payload);
    this.#link.send({ kind: Kind.ACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload });
  }

  nack(f: Frame, code: number, reason: string): void {
    if ((f.flags & Flag.ACK_REQUESTED) === 0) return;
    const payload = encodeReason(code, reason);
    this.#remember(f.seq, Kind.NACK, payload);
    this.#link.send({ kind: Kind.NACK, mediaType: f.mediaType, mediaIndex: f.mediaIndex, seq: f.seq, payload });
  }
}
