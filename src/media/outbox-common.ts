/**
 * The shared shape of the sender-side queues: the Outbox interface a link pumps frames from, the
 * receiver's answer to a reliable item (AckInfo), and how queued bytes are counted (frameBytes).
 */
import type { MediaTypeName } from '../protocol/constants.js';
import { partsLength, type FrameInit } from '../protocol/frame.js';
import type { ReceivedCommand } from '../protocol/messages.js';

/** What a link pumps frames from. */
export interface Outbox {
  readonly mediaType: MediaTypeName;
  /** Next frame to put on the wire, or undefined when there is nothing (or the window is full). */
  next(now: number): FrameInit | undefined;
  /** True when something is queued (sent or not) that keeps the link busy. */
  readonly busy: boolean;
  /** Frames and bytes dropped by policy. */
  readonly dropped: number;
}

/** Payload bytes of a queued frame (media header included). */
export function frameBytes(f: FrameInit): number {
  return payloadBytes(f) + (f.prefix?.length ?? 0);
}

/** Bytes of a queued frame's payload, given whole or in pieces (FrameInit.parts). */
export function payloadBytes(f: FrameInit): number {
  return f.payload?.length ?? (f.parts ? partsLength(f.parts) : 0);
}

/** The receiver's answer to a reliable item. */
export interface AckInfo {
  /** For a file START: where the receiver wants the transfer to continue. */
  resumeOffset?: number;
  /** For a command: the answer the receiver (a server) sent with its acknowledgement. */
  reply?: ReceivedCommand;
}
